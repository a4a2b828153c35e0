"""Lagrangian relaxation of the assignment rows: a lower bound, multipliers, plans from them.

For the models whose side constraints are per-site (locked and forbidden sites, closing
costs at existing sites, several options per site) plus at most an exact number of open
sites, relaxing every zone's assignment row ``sum_j x[i,j] + u[i] = 1`` with a multiplier
``lam[i]`` splits the model into

- one continuous knapsack per option o at site j: take the zones whose reduced cost
  ``cost[i,j] - lam[i]`` is negative, most negative per demand unit first, until the
  option's capacity is used; its value is ``opt_cost[o]`` plus the reduced costs taken;
- the unserved shares: ``min(0, unserved_cost[i] - lam[i])`` per zone;
- a small problem over the sites: open the sites whose best option is worth opening,
  subject to locked / forbidden sites, ``n_sites_exact`` (the p cheapest), and, when every
  zone must be served, the aggregate capacity cut ``sum_j cap_j z_j >= total demand``
  (Beasley's strengthening; a covering knapsack, solved exactly for equal capacities and
  by its LP relaxation otherwise, which keeps the bound valid).

``L(lam)`` is a lower bound on the optimum for every ``lam``; the subgradient method
(:func:`lagrangian`) maximises it with Polyak steps towards the best known plan. Plans
come from the open sets of the subproblems (:func:`plan_from_sites`): the sites opened,
repaired to enough capacity, and an exact assignment (nearest open site when capacity
cannot bind, else a transportation LP). The multipliers also fix sites: a site whose
forced opening (or closing) lifts the bound above the best plan is in no better plan
(:func:`site_fixing`).

Models with zone blocks (the robust model of ``FacilityProblem.zone_block``: capacity per
(site, block), an expected or worst objective over blocks) are outside this relaxation:
:func:`lagrangian_applies` says so, and :func:`~netplan.optimize.solve` skips it for them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Final

import numpy as np
import scipy.sparse as sp

from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import _TOL
from netplan.optimize.build import _build, _Model
from netplan.optimize.lagrange_side import SideProblem, options_of
from netplan.optimize.problem import FacilityProblem, _entry_zones

__all__ = ["lagrangian", "lagrangian_applies", "side_constraint"]

_MAX_ITER: Final = 3000
"""Most subgradient iterations of one run."""
_STALL: Final = 25
"""Iterations without a better bound after which the step factor halves."""
_MIN_THETA: Final = 1e-4
"""The step factor at which the subgradient method stops."""
_PLAN_EVERY: Final = 10
"""A plan is built from the subproblem's open set every this many iterations."""


@dataclass(frozen=True, eq=False)
class _Structure:
    """The arrays of one problem that every subgradient iteration reads."""

    zi: IntArray  # (nnz,) zone of each cost entry
    cost: FloatArray  # (nnz,) cost of each entry
    demand: FloatArray  # (n,)
    pair_entry: IntArray  # (P,) entry of each (option, entry-at-its-site) pair
    pair_opt: IntArray  # (P,) option of each pair
    opt_site: IntArray
    opt_cap: FloatArray  # (q,) capacity (inf = cannot bind)
    opt_cost: FloatArray
    site_ok: BoolArray  # (m,) may open
    locked: BoolArray
    close: FloatArray  # (m,) cost of closing (existing sites), 0 elsewhere
    unserved: FloatArray  # (n,) unserved cost (inf = must be served)
    p: int | None
    cut: float  # total demand the open capacity must cover (0 = no cut)
    site_cap: FloatArray  # (m,) largest option capacity per site
    largest: IntArray  # (m,) the option of largest capacity per site (-1 = none)
    integral: bool  # every optimal plan has an integer objective

    @property
    def n_sites(self) -> int:
        return int(self.site_ok.size)


def lagrangian_applies(p: FacilityProblem) -> str | None:
    """Why the Lagrangian of this module does not apply to ``p`` (None when it does).

    Parameters
    ----------
    p
        The problem.

    Returns
    -------
    str or None
        What it cannot handle, or None.
    """
    if p.n_zones == 0 or p.n_opts == 0:
        return "an empty model"
    if p.n_blocks > 1 or p.block_objective != "expected":
        return ("zone blocks (a robust model): its site problem prices one capacity per "
                "site and one plain objective")
    return None


def side_constraint(p: FacilityProblem) -> str | None:
    """The first constraint of ``p`` beyond per-site ones and an exact count (None: the
    site problem is the combinatorial one of :func:`_choose`; otherwise
    :mod:`.lagrange_side` solves it).

    Parameters
    ----------
    p
        The problem.

    Returns
    -------
    str or None
        Its name, or None.
    """
    groups = any(bool((getattr(p, k) >= 0).any()) for k in (
        "group_min_sites", "group_max_sites", "group_max_new", "group_max_closed"))
    checks = (
        (p.reloc_from.size > 0, "relocations"),
        (p.balance_weight > 0, "the load-balance term"),
        (p.budget is not None, "the budget"),
        (p.max_new is not None or p.max_closed is not None, "max_new / max_closed"),
        (p.min_share_outside is not None, "min_share_outside"),
        (bool((p.tag_max >= 0).any()), "option limits (tag_max)"),
        (groups, "group limits"),
    )
    return next((what for hit, what in checks if hit), None)


def _structure(p: FacilityProblem) -> _Structure:
    cost = p.cost
    m = p.n_sites
    zi = _entry_zones(p)
    sj = cost.indices.astype(np.int64)
    by_site = np.argsort(sj, kind="stable")
    site_start = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(sj, minlength=m), out=site_start[1:])
    n_at = np.diff(site_start)[p.opt_site]
    pair_opt = np.repeat(np.arange(p.n_opts, dtype=np.int64), n_at)
    offs = np.arange(pair_opt.size) - np.repeat(np.cumsum(n_at) - n_at, n_at)
    pair_entry = by_site[site_start[p.opt_site][pair_opt] + offs]
    reach = np.bincount(sj, weights=p.demand[zi], minlength=m)
    cap = np.where(p.opt_capacity >= reach[p.opt_site] * (1 + 1e-12), np.inf,
                   p.opt_capacity)
    has_opt = np.bincount(p.opt_site, minlength=m) > 0
    site_cap = np.zeros(m)
    np.maximum.at(site_cap, p.opt_site, p.opt_capacity)
    by_cap = np.lexsort((-p.opt_capacity, p.opt_site))
    largest = np.full(m, -1, dtype=np.int64)
    head = np.r_[True, p.opt_site[by_cap][1:] != p.opt_site[by_cap][:-1]]
    largest[p.opt_site[by_cap[head]]] = by_cap[head]
    must = bool(np.isinf(p.unserved_cost).all())
    total = float(p.demand.sum())
    cut = total if must and np.isfinite(site_cap[has_opt]).all() and total > 0 else 0.0
    close = np.where(p.site_existing, p.site_close_cost, 0.0)
    data = np.asarray(cost.data, dtype=np.float64)
    fin_u = p.unserved_cost[np.isfinite(p.unserved_cost)]
    integral = bool(np.isinf(cap).all() and _whole(data) and _whole(fin_u)
                    and _whole(p.opt_cost) and _whole(close))
    return _Structure(
        zi=zi, cost=data, demand=np.asarray(p.demand), pair_entry=pair_entry,
        pair_opt=pair_opt, opt_site=np.asarray(p.opt_site), opt_cap=cap,
        opt_cost=np.asarray(p.opt_cost), site_ok=has_opt & ~p.site_forbidden,
        locked=np.asarray(p.site_locked), close=close, unserved=np.asarray(p.unserved_cost),
        p=p.n_sites_exact, cut=cut, site_cap=site_cap, largest=largest,
        integral=integral)


def _whole(a: FloatArray) -> bool:
    return bool(np.all(a == np.round(a)))


@dataclass(frozen=True, eq=False)
class _Sub:
    """One evaluation of the Lagrangian function at ``lam``."""

    value: float
    site_value: FloatArray  # (m,) best option's value minus the closing cost saved
    site_opt: IntArray  # (m,) that option (-1 = none)
    y: FloatArray  # (m,) open share of each site in the site problem
    grad: FloatArray  # (n,) subgradient 1 - sum_j x[i,j] - u[i]


def _knapsacks(s: _Structure, lam: FloatArray) -> tuple[FloatArray, IntArray, FloatArray]:
    """Every option's knapsack value, and the pairs taken with their shares."""
    red = s.cost[s.pair_entry] - lam[s.zi[s.pair_entry]]
    neg = np.flatnonzero(red < 0)
    opt = s.pair_opt[neg]
    rr = red[neg]
    dd = s.demand[s.zi[s.pair_entry[neg]]]
    share = np.ones(neg.size)
    capped = np.isfinite(s.opt_cap[opt])
    if capped.any():
        k = np.flatnonzero(capped)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(dd[k] > 0, rr[k] / dd[k], -np.inf)
        k = k[np.lexsort((ratio, opt[k]))]
        ok, want = opt[k], dd[k]
        cs = np.cumsum(want)
        first = np.r_[True, ok[1:] != ok[:-1]]
        base = np.maximum.accumulate(np.where(first, cs - want, 0.0))
        before = cs - want - base
        room = s.opt_cap[ok]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((room - before) / want, 0.0, 1.0)
        share[k] = np.where(want > 0, frac, 1.0)
    value = s.opt_cost + np.bincount(opt, weights=share * rr, minlength=s.opt_cost.size)
    return value, neg, share


def _evaluate(s: _Structure, lam: FloatArray) -> _Sub:
    value, neg, share = _knapsacks(s, lam)
    site_value, site_opt = _best_options(s, value)
    site_total, y = _choose(s, site_value)
    u_red = s.unserved - lam
    u = u_red < 0
    val = (float(lam.sum()) + float(u_red[u].sum()) + site_total + float(s.close.sum()))
    # subgradient: pairs of each site's chosen option, weighted by the site's open share
    pe = s.pair_entry[neg]
    po = s.pair_opt[neg]
    w = share * y[s.opt_site[po]] * (site_opt[s.opt_site[po]] == po)
    served = np.bincount(s.zi[pe], weights=w, minlength=lam.size)
    grad = np.asarray(1.0 - served - u, dtype=np.float64)
    return _Sub(val, site_value, site_opt, y, grad)


def _choose(s: _Structure, w: FloatArray, force_open: int = -1,
            force_closed: int = -1) -> tuple[float, FloatArray]:
    """The site problem: min sum_j w_j y_j over the allowed open sets (see the module).

    Returns its value and the (possibly fractional, under the capacity cut) open shares;
    ``inf`` when no allowed set exists.
    """
    m = w.size
    ok = s.site_ok.copy()
    must = s.locked & ok
    if force_closed >= 0:
        if must[force_closed]:
            return math.inf, np.zeros(m)
        ok[force_closed] = False
    if force_open >= 0:
        if not ok[force_open]:
            return math.inf, np.zeros(m)
        must[force_open] = True
    y = must.astype(np.float64)
    free = np.flatnonzero(ok & ~must)
    if s.p is not None:
        k = s.p - int(must.sum())
        if k < 0 or k > free.size:
            return math.inf, y
        pick = free[np.argsort(w[free], kind="stable")[:k]]
        y[pick] = 1.0
        return float(w[y > 0].sum()), y
    y[free[w[free] < 0]] = 1.0
    short = s.cut - float(s.site_cap[y > 0].sum())
    if short > _TOL * max(1.0, s.cut):
        rest = free[y[free] == 0]
        cap = s.site_cap[rest]
        if float(cap.sum()) < short * (1 - 1e-12):
            return math.inf, y
        if np.all(cap == cap[0]) and cap[0] > 0:
            need = math.ceil(short / cap[0] - 1e-9)
            y[rest[np.argsort(w[rest], kind="stable")[:need]]] = 1.0
        else:
            order = rest[np.argsort(w[rest] / np.maximum(cap, 1e-300), kind="stable")]
            cs = np.cumsum(s.site_cap[order])
            full = cs <= short
            y[order[full]] = 1.0
            nxt = int(np.count_nonzero(full))
            if nxt < order.size and not np.isclose(cs[nxt - 1] if nxt else 0.0, short):
                before = cs[nxt - 1] if nxt else 0.0
                y[order[nxt]] = (short - before) / s.site_cap[order[nxt]]
    on = y > 0
    return float(w[on] @ y[on]), y


@dataclass(frozen=True, eq=False)
class Plan:
    """A feasible plan of the relaxation's model: options per site, shares and its cost.

    Attributes
    ----------
    site_option
        (n_sites,) option per site (-1 = closed).
    x
        (nnz,) share of each cost entry served.
    u
        (n_zones,) unserved share of each zone.
    objective
        Its total cost (constants included).
    reloc
        (n_reloc,) relocations used (None = none).
    """

    site_option: IntArray
    x: FloatArray
    u: FloatArray
    objective: float
    reloc: FloatArray | None = None


@dataclass(frozen=True, eq=False)
class LagrangeResult:
    """What :func:`lagrangian` returns.

    Attributes
    ----------
    bound
        The best Lagrangian lower bound found (rounded up when every plan's cost is whole).
    lam
        The multipliers that gave it.
    site_value
        (n_sites,) the sites' subproblem values at ``lam``.
    plan
        The best plan found (None when none was).
    iterations, seconds
        Subgradient iterations and time used.
    combinatorial
        The site problem was the combinatorial one (False: the side-constraint problem of
        :mod:`.lagrange_side`, which :func:`site_fixing` does not use).
    """

    bound: float
    lam: FloatArray
    site_value: FloatArray
    plan: Plan | None
    iterations: int
    seconds: float
    combinatorial: bool = True


def plan_from_sites(p: FacilityProblem, s: _Structure, site_opt: IntArray,
                    open_: BoolArray, rank: FloatArray) -> Plan | None:
    """A feasible plan that opens ``open_`` (repaired): each site runs ``site_opt``.

    Locked sites are added, and under an exact count or short capacity the sites are
    completed (or trimmed) in the order of ``rank`` (cheapest first). The assignment is
    exact for the open set: each zone's cheapest open site when capacity cannot bind,
    a transportation LP otherwise. Returns None when no feasible assignment exists.
    """
    ok = s.site_ok & (site_opt >= 0)
    op = (open_ & ok) | (s.locked & ok)
    order = np.flatnonzero(ok)[np.argsort(rank[ok], kind="stable")]
    if s.p is not None:
        extra = [j for j in order if not op[j]]
        while int(op.sum()) < s.p and extra:
            op[extra.pop(0)] = True
        for j in order[::-1]:
            if int(op.sum()) <= s.p:
                break
            if op[j] and not s.locked[j]:
                op[j] = False
        if int(op.sum()) != s.p:
            return None
    elif s.cut > 0:
        have = float(p.opt_capacity[site_opt[op]].sum())
        for j in order:
            if have >= s.cut:
                break
            if not op[j]:
                op[j] = True
                have += float(p.opt_capacity[site_opt[j]])
    plan = _assign(p, s, np.where(op, site_opt, -1))
    if plan is None:  # the options chosen are too small: the largest option at each site
        plan = _assign(p, s, np.where(op, s.largest, -1))
    return plan


def _assign(p: FacilityProblem, s: _Structure, so: IntArray) -> Plan | None:
    """The cheapest assignment to the sites of ``so`` (the plan's options)."""
    cost = p.cost
    sj = cost.indices.astype(np.int64)
    n = p.n_zones
    e_ok = np.flatnonzero(so[sj] >= 0)
    fixed = float(s.opt_cost[so[so >= 0]].sum()) + float(s.close[so < 0].sum())
    caps = np.where(so >= 0, s.opt_cap[np.maximum(so, 0)], 0.0)
    if not np.isfinite(caps[so >= 0]).any():
        return _nearest(s, n, e_ok, so, fixed)
    return _transport(p, s, e_ok, so, caps, fixed)


def _nearest(s: _Structure, n: int, e_ok: IntArray, so: IntArray, fixed: float) -> Plan | None:
    best = np.full(n, np.inf)
    np.minimum.at(best, s.zi[e_ok], s.cost[e_ok])
    x = np.zeros(s.cost.size)
    u = np.zeros(n)
    use_u = s.unserved < best
    if np.isinf(np.minimum(best, s.unserved)).any():
        return None
    e = e_ok[(s.cost[e_ok] == best[s.zi[e_ok]]) & ~use_u[s.zi[e_ok]]]
    _, first = np.unique(s.zi[e], return_index=True)
    x[e[first]] = 1.0
    u[use_u] = 1.0
    obj = fixed + float(best[~use_u].sum()) + float(s.unserved[use_u].sum())
    return Plan(so, x, u, obj)


def _transport(p: FacilityProblem, s: _Structure, e_ok: IntArray, so: IntArray,
               caps: FloatArray, fixed: float) -> Plan | None:
    from scipy.optimize import linprog

    n = p.n_zones
    zu = np.flatnonzero(np.isfinite(s.unserved))
    ne = e_ok.size
    sj = p.cost.indices.astype(np.int64)[e_ok]
    cols = np.arange(ne + zu.size)
    a_eq = sp.csr_array((np.ones(cols.size), (np.r_[s.zi[e_ok], zu], cols)),
                        shape=(n, cols.size))
    capped = np.flatnonzero(np.isfinite(caps))
    row_of = np.full(caps.size, -1, dtype=np.int64)
    row_of[capped] = np.arange(capped.size)
    k = np.flatnonzero(row_of[sj] >= 0)
    a_ub = sp.csr_array((s.demand[s.zi[e_ok[k]]], (row_of[sj[k]], k)),
                        shape=(capped.size, cols.size))
    res = linprog(np.r_[s.cost[e_ok], s.unserved[zu]], A_ub=a_ub, b_ub=caps[capped],
                  A_eq=a_eq, b_eq=np.ones(n), bounds=(0.0, 1.0), method="highs")
    if res.status != 0:
        return None
    v = np.clip(np.asarray(res.x, dtype=np.float64), 0.0, 1.0)
    x = np.zeros(s.cost.size)
    x[e_ok] = v[:ne]
    u = np.zeros(n)
    u[zu] = v[ne:]
    return Plan(so, x, u, fixed + float(res.fun))


class _SideStep:
    """The Lagrangian with side constraints: the site problem is :class:`SideProblem`."""

    def __init__(self, p: FacilityProblem, s: _Structure, mdl: _Model) -> None:
        self.p, self.s, self.mdl = p, s, mdl
        self.side = SideProblem(mdl)

    def evaluate(self, lam: FloatArray) -> tuple[_Sub, FloatArray]:
        s = self.s
        value, neg, share = _knapsacks(s, lam)
        sol = self.side.solve_lp(value)
        y = np.zeros(value.size) if sol.y is None else sol.y
        u_red = s.unserved - lam
        u = u_red < 0
        val = float(lam.sum()) + float(u_red[u].sum()) + sol.bound
        pe, po = s.pair_entry[neg], s.pair_opt[neg]
        served = np.bincount(s.zi[pe], weights=share * y[po], minlength=lam.size)
        grad = np.asarray(1.0 - served - u, dtype=np.float64)
        site_value, site_opt = _best_options(s, value)
        site_y = np.asarray(np.bincount(s.opt_site, weights=y, minlength=s.n_sites),
                            dtype=np.float64)
        return _Sub(val, site_value, site_opt, site_y, grad), value

    def plan(self, value: FloatArray, seconds: float) -> Plan | None:
        sol = self.side.solve_mip(value, seconds)
        if sol.y is None:
            return None
        so = options_of(sol.y, self.s.opt_site, self.s.n_sites)
        plan = _assign(self.p, self.s, so)
        if plan is None:
            return None
        plan = Plan(so, plan.x, plan.u, plan.objective, sol.r)
        return Plan(so, plan.x, plan.u, objective_of(self.mdl, plan), sol.r)

    def final_bound(self, lam: FloatArray, seconds: float) -> float:
        s = self.s
        value, _, _ = _knapsacks(s, lam)
        sol = self.side.solve_mip(value, seconds)
        u_red = s.unserved - lam
        return float(lam.sum()) + float(u_red[u_red < 0].sum()) + sol.bound


def _best_options(s: _Structure, value: FloatArray) -> tuple[FloatArray, IntArray]:
    """Each site's cheapest option by ``value`` and that value minus the closing cost."""
    m = s.n_sites
    order = np.lexsort((value, s.opt_site))
    first = order[np.r_[True, s.opt_site[order][1:] != s.opt_site[order][:-1]]]
    site_opt = np.full(m, -1, dtype=np.int64)
    site_opt[s.opt_site[first]] = first
    site_value = np.full(m, np.inf)
    site_value[s.opt_site[first]] = value[first] - s.close[s.opt_site[first]]
    return site_value, site_opt


def plan_vector(mdl: _Model, plan: Plan) -> FloatArray:
    """The model's column vector of ``plan`` (overload columns at the loads' excess)."""
    v = np.zeros(mdl.n_cols)
    so = plan.site_option
    on = np.flatnonzero(so >= 0)
    v[mdl.y0 + so[on]] = 1.0
    v[mdl.z0 + on] = 1.0
    v[mdl.x0:mdl.u0] = plan.x
    v[mdl.u0:mdl.r0] = plan.u
    if plan.reloc is not None:
        v[mdl.r0:mdl.v0] = plan.reloc
    if mdl.v0 < mdl.n_cols:
        act = mdl.a @ v
        ov = np.arange(mdl.v0, mdl.n_cols)
        rows = mdl.a[:, ov].indices
        v[ov] = np.clip(act[rows] - mdl.row_hi[rows], 0.0, None)
    return v


def objective_of(mdl: _Model, plan: Plan) -> float:
    """The model's objective at ``plan``."""
    return float(mdl.c @ plan_vector(mdl, plan) + mdl.offset)


_SIDE_PLAN_EVERY: Final = 25
"""With side constraints, a plan (a short site MIP and a transportation LP) every this
many iterations."""
_SIDE_MIP_SECONDS: Final = 1.0
"""Time limit of one site MIP."""


# long: the subgradient loop keeps its step rule, plans and stopping tests in one place
def lagrangian(p: FacilityProblem, mdl: _Model | None, *, deadline: float, mip_gap: float,
               start: Plan | None = None) -> LagrangeResult:
    """Maximise the Lagrangian bound by subgradient steps; build plans on the way.

    Parameters
    ----------
    p
        The problem (:func:`lagrangian_applies` must return None).
    mdl
        Its model (for the site problem with side constraints and the plans' costs; may
        be None when the problem has none, see :func:`side_constraint`).
    deadline
        ``time.perf_counter()`` time by which to stop.
    mip_gap
        Stop once the best plan is proven within this relative gap.
    start
        A feasible plan known beforehand (the warm start), the first target of the steps.

    Returns
    -------
    LagrangeResult
    """
    t0 = time.perf_counter()
    s = _structure(p)
    side = None
    if side_constraint(p) is not None:
        side = _SideStep(p, s, mdl if mdl is not None else _build(p))
    lam = np.full(p.n_zones, np.inf)
    np.minimum.at(lam, s.zi, s.cost)
    lam = np.where(np.isfinite(lam), lam, np.where(np.isfinite(s.unserved), s.unserved, 0.0))
    lam = np.minimum(lam, s.unserved)
    best_plan = start
    best_lb, best_lam, best_vals = -math.inf, lam.copy(), np.zeros(p.n_sites)
    theta, stall, it = 2.0, 0, 0
    seen: set[bytes] = set()
    while it < _MAX_ITER and theta > _MIN_THETA and time.perf_counter() < deadline:
        it += 1
        if side is None:
            sub, value = _evaluate(s, lam), None
        else:
            sub, value = side.evaluate(lam)
        if sub.value > best_lb + 1e-9 * max(1.0, abs(sub.value)):
            best_lb, best_lam, best_vals, stall = sub.value, lam.copy(), sub.site_value, 0
        else:
            stall += 1
            if stall >= _STALL:
                theta, stall = theta / 2, 0
        plan: Plan | None = None
        if side is None and it % _PLAN_EVERY == 1:
            key = np.packbits(sub.y > 0).tobytes()
            if key not in seen:
                seen.add(key)
                plan = plan_from_sites(p, s, sub.site_opt, sub.y > 0, sub.site_value)
        elif value is not None and it % _SIDE_PLAN_EVERY == 1:
            left = deadline - time.perf_counter()
            plan = side.plan(value, min(_SIDE_MIP_SECONDS, max(left, 0.0))) if side else None
        if plan is not None and (best_plan is None or plan.objective < best_plan.objective):
            best_plan = plan
        ub = best_plan.objective if best_plan is not None else math.inf
        if _closed(_round(s, best_lb), ub, mip_gap):
            break
        target = ub if math.isfinite(ub) else sub.value + 0.05 * max(1.0, abs(sub.value))
        norm = float(sub.grad @ sub.grad)
        if norm <= _TOL:
            break  # the subproblem's solution is feasible: the bound is optimal
        lam = lam + theta * max(target - sub.value, 0.0) / norm * sub.grad
    if side is not None and math.isfinite(best_lb):
        left = deadline - time.perf_counter()
        best_lb = max(best_lb, side.final_bound(best_lam, min(2 * _SIDE_MIP_SECONDS,
                                                              max(left, 0.1))))
    return LagrangeResult(bound=_round(s, best_lb), lam=best_lam, site_value=best_vals,
                          plan=best_plan, iterations=it, seconds=time.perf_counter() - t0,
                          combinatorial=side is None)


def _round(s: _Structure, lb: float) -> float:
    """A bound rounded up to the next whole number when every plan's cost is whole."""
    if s.integral and math.isfinite(lb):
        return float(math.ceil(lb - 1e-6 * max(1.0, abs(lb))))
    return lb


def _closed(lb: float, ub: float, mip_gap: float) -> bool:
    if not math.isfinite(ub):
        return False
    return ub - lb <= max(mip_gap * abs(ub), 1e-9 * max(1.0, abs(ub)))


def flipped_bound(s: _Structure, sub: _Sub, j: int, *, now_open: bool,
                  base: float | None = None) -> float:
    """The bound at the evaluation ``sub`` with site ``j`` forced the other way (closed if
    ``now_open``, else open): what fixes a site, or bounds a branch on it. ``base``:
    ``sub``'s value without its site problem, if already known."""
    if base is None:
        base = sub.value - _choose(s, sub.site_value)[0]
    w = sub.site_value
    return base + (_choose(s, w, force_closed=j) if now_open else _choose(s, w, force_open=j))[0]


def site_fixing(p: FacilityProblem, res: LagrangeResult, *, ub: float,
                in_plan: BoolArray) -> tuple[BoolArray, BoolArray]:
    """Sites that are closed (first array) or open (second) in every plan cheaper than
    ``ub``, by the bound at ``res.lam`` with the site forced the other way.

    Parameters
    ----------
    p
        The problem.
    res
        A :func:`lagrangian` result.
    ub, in_plan
        The cost of the best plan known and its open sites.

    Returns
    -------
    tuple of two (n_sites,) bool arrays
        Fixed closed, fixed open. The plan's own sites are never fixed against it.
    """
    m = p.n_sites
    closed, opened = np.zeros(m, dtype=np.bool_), np.zeros(m, dtype=np.bool_)
    if not (res.combinatorial and math.isfinite(ub)):
        return closed, opened
    s = _structure(p)
    sub = _evaluate(s, res.lam)
    base = sub.value - (_choose(s, sub.site_value)[0])
    for j in np.flatnonzero(s.site_ok).tolist():
        val = flipped_bound(s, sub, j, now_open=bool(in_plan[j]), base=base)
        (opened if in_plan[j] else closed)[j] = _round(s, val) > ub + 1e-9 * max(1.0, abs(ub))
    return closed, opened
