"""The radius formulation of the dense p-median, reduced by a Lagrangian bound.

For each customer i let D_i^1 < ... < D_i^K be the distinct weighted costs w_i c_ij of its
candidate sites. z_i^k = 1 when no open site costs i at most D_i^k. Then (Elloumi 2010, in
its sparse incremental form; García, Labbé & Marín 2011)::

    min  sum_i [ D_i^1 + sum_k (D_i^{k+1} - D_i^k) z_i^k ]
    s.t. z_i^1 + sum_{j: w_i c_ij = D_i^1} y_j >= 1
         z_i^k - z_i^{k-1} + sum_{j: w_i c_ij = D_i^k} y_j >= 0     (k = 2 .. K_i)
         sum_j y_j = p,  y binary,  z >= 0,  z_i^{K_i} = 0

Every site appears once per customer, so the model has one nonzero per (customer, site)
pair but far fewer columns than the classic one; its LP bound is the classic LP bound.

It only has to hold the plans *cheaper than the best plan known* (cost ``ub``): the model
proves that none exists, or finds the best one. With Lagrangian multipliers of the
assignment rows (reduced site values rho_j = sum_i min(0, w_i c_ij - lambda_i)) every plan
that keeps a set S of sites closed costs at least sum_i lambda_i + the p smallest rho_j
outside S. Hence, before the model is built:

* sites whose opening (or closing) lifts that bound to ``ub`` are fixed closed (open);
* for each customer, the smallest radius whose ball, closed, lifts the bound to ``ub``: some
  site in that ball is open in every cheaper plan, so z_i^k = 0 there and every larger
  radius of that customer is left out (likewise once the ball holds m - p + 1 sites);
* the customers' radii above that cap, and their rows, are dropped.

The model may then exclude the best known plan itself; HiGHS is told to look for plans
cheaper than ``ub`` only (``objective_bound``), and "infeasible" proves ``ub`` optimal.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import _frozen
from netplan.optimize.highs import (
    _arm_deadline,
    _new_highs,
    _run,
    _set_common,
    _status_name,
    pass_arrays,
)

__all__ = ["RadiusResult", "radius_pmedian", "reduce_by_bound"]

logger = logging.getLogger(__name__)
_NO_HEURISTICS = ("mip_heuristic_run_rins", "mip_heuristic_run_rens",
                  "mip_heuristic_run_root_reduced_cost", "mip_heuristic_run_feasibility_jump")
"""HiGHS's primal heuristics, off: the best plan is known, only the proof is wanted."""


@dataclass(frozen=True, eq=False)
class RadiusResult:
    """What the radius model proved.

    Attributes
    ----------
    open
        Sorted open sites of the best plan: the model's when it found a cheaper one, else
        the ``start`` it was given.
    objective
        That plan's cost.
    bound
        A lower bound on the optimum of the full problem (<= ``objective``).
    status
        ``"optimal"`` (bound = objective), ``"time_limit"`` or HiGHS's other statuses.
    seconds
        Reductions, building and solving.
    n_rows, n_cols, n_nonzeros
        Size of the model handed to HiGHS.
    fixed_closed, fixed_open
        Sites the bound fixed before the model was built.
    rounds
        Models solved (each round extends the rows of the customers the last one
        underpriced).
    """

    open: IntArray
    objective: float
    bound: float
    status: str
    seconds: float
    n_rows: int
    n_cols: int
    n_nonzeros: int
    fixed_closed: int
    fixed_open: int
    rounds: int


def _threshold(ub: float, integral: bool) -> float:
    """Plans costing at least this are no better than the best known one (cost ``ub``):
    with whole costs a cheaper plan costs at most ub - 1."""
    if integral:
        return ub - 1.0 + 1e-6
    return ub - 1e-9 * max(1.0, abs(ub))


def reduce_by_bound(
    wcost: FloatArray, p: int, lam: FloatArray, ub: float, *, integral: bool,
    allowed: BoolArray | None = None,
) -> tuple[BoolArray, BoolArray, IntArray]:
    """Sites fixed closed / open and each customer's radius cap, from multipliers ``lam``.

    Parameters
    ----------
    wcost
        (n x m) weighted cost.
    p
        Sites to open.
    lam
        (n,) multipliers of the assignment rows (any values give valid reductions).
    ub
        Cost of the best plan known.
    integral
        Every plan's cost is a whole number.
    allowed
        (m,) the sites still open to plans cheaper than ``ub`` (default: all); the others
        count as closed.

    Returns
    -------
    closed, opened
        (m,) sites closed / open in every plan cheaper than ``ub``.
    cap
        (n,) per customer, the number of candidate sites (non-closed, in cost order) whose
        ball holds an open site in every plan cheaper than ``ub`` (m' when no cap).
    """
    n, m = wcost.shape
    sites = np.arange(m) if allowed is None else np.flatnonzero(allowed)
    thresh = _threshold(ub, integral)
    rho = np.minimum(wcost[:, sites] - lam[:, None], 0.0).sum(axis=0)
    base = float(lam.sum())
    rank = np.argsort(rho, kind="stable")
    shut = np.zeros(sites.size, dtype=np.bool_)
    held = np.zeros(sites.size, dtype=np.bool_)
    if sites.size > p:
        lb0 = base + float(rho[rank[:p]].sum())
        pth, nxt = float(rho[rank[p - 1]]), float(rho[rank[p]])
        shut[rank[p:]] = lb0 - pth + rho[rank[p:]] >= thresh
        held[rank[:p]] = lb0 - rho[rank[:p]] + nxt >= thresh
    closed = np.ones(m, dtype=np.bool_)
    closed[sites[~shut]] = False
    opened = np.zeros(m, dtype=np.bool_)
    opened[sites[held]] = True
    keep = np.flatnonzero(~shut)
    rho = rho[keep]
    mc = keep.size
    sub = wcost[:, sites[keep]]
    srt = np.sort(sub, axis=1)
    # cap: the smallest prefix of the cost order whose closing lifts the bound to thresh
    by_rank = sub[:, np.argsort(rho, kind="stable")]
    rho_r = np.sort(rho, kind="stable")

    def lifts(t: IntArray) -> BoolArray:
        """Closing each customer's t cheapest sites (ties included) lifts the bound."""
        radius = srt[np.arange(n), np.maximum(t - 1, 0)]
        ok = (by_rank > radius[:, None]) | (t == 0)[:, None]
        cs = np.cumsum(ok, axis=1)
        take = ok & (cs <= p)
        val = base + (take * rho_r[None, :]).sum(axis=1)
        return np.asarray((cs[:, -1] < p) | (val >= thresh), dtype=np.bool_)

    lo, hi = np.ones(n, dtype=np.int64), np.full(n, mc, dtype=np.int64)
    while (lo < hi).any():
        mid = (lo + hi) // 2
        ok = lifts(mid)
        hi = np.where(ok & (lo < hi), mid, hi)
        lo = np.where(~ok & (lo < hi), mid + 1, lo)
    cap = np.minimum(lo, max(mc - p + 1, 1))
    return closed, opened, cap.astype(np.int64)


def _ascent(sub: FloatArray, p: int, lam: FloatArray, target: float,
            iters: int) -> tuple[FloatArray, float]:
    """Subgradient steps on the Lagrangian bound of the p-median on the columns of
    ``sub`` (Polyak steps towards ``target``); the best multipliers and their bound."""
    m = sub.shape[1]
    best_lam, best = lam, -math.inf
    mu, stall = 1.0, 0
    for _ in range(iters):
        red = np.minimum(sub - lam[:, None], 0.0)
        rho = red.sum(axis=0)
        chosen = np.argpartition(rho, p - 1)[:p] if m > p else np.arange(m)
        val = float(lam.sum() + rho[chosen].sum())
        if val > best + 1e-9 * max(1.0, abs(val)):
            best_lam, best, stall = lam, val, 0
        else:
            stall += 1
            if stall >= _STALL:
                mu, stall = mu / 2, 0
        grad = 1.0 - (red[:, chosen] < 0).sum(axis=1)
        norm = float(grad @ grad)
        if best >= target or norm == 0.0 or mu < 1e-3:
            break
        lam = lam + mu * (target - val) / norm * grad
    return best_lam, best


_STALL = 10
"""Subgradient steps without a better bound before the step is halved."""
_REDUCE_ROUNDS = 4
"""Rounds of (fix sites, re-optimise the multipliers on the sites left) at most."""
_ASCENT_STEPS = 200
"""Subgradient steps per round."""
_REACH_MARGIN = 1
"""Groups of costs each customer's first rows reach past its multiplier and its cost in the
best plan: on pmed36 the reach alone underprices the first model's plan, and a second
model, as costly, follows; one group more (8591 rows instead of 7791) proves it in one."""


@dataclass(frozen=True, eq=False)
class _Groups:
    """Each customer's candidate sites in cost order, grouped by distinct cost."""

    order: IntArray  # (n, m) sites by cost
    grp: IntArray  # (n, m) distinct-cost group of each sorted site
    cost: FloatArray  # (n, m + 1) each group's cost (nan past the last group)
    n_groups: IntArray  # (n,)

    @classmethod
    def of(cls, wcost: FloatArray) -> _Groups:
        n, m = wcost.shape
        order = np.argsort(wcost, axis=1, kind="stable")
        srt = np.take_along_axis(wcost, order, axis=1)
        new = np.ones((n, m), dtype=np.bool_)
        new[:, 1:] = np.diff(srt, axis=1) > 0
        grp = np.cumsum(new, axis=1) - 1
        cost = np.full((n, m + 1), np.nan)
        ii, tt = np.nonzero(new)
        cost[ii, grp[ii, tt]] = srt[ii, tt]
        return cls(order, grp, cost, grp[:, -1] + 1)

    def group_of(self, value: FloatArray) -> IntArray:
        """(n,) per customer, the first group whose cost is >= ``value[i]`` (the last
        group when none is)."""
        with np.errstate(invalid="ignore"):
            below = (self.cost[:, :-1] < value[:, None]).sum(axis=1)
        out: IntArray = np.minimum(below, self.n_groups - 1).astype(np.int64)
        return out


@dataclass(frozen=True, eq=False)
class _Model:
    a: Any  # csc (rows x cols)
    c: FloatArray
    row_lo: FloatArray
    row_hi: FloatArray
    offset: float
    n_y: int


def _build(g: _Groups, p: int, last: IntArray, hard: BoolArray) -> _Model:
    """The incremental radius model, customer i's rows for its groups 0 .. ``last[i]``.

    Where ``hard[i]`` (or ``last[i]`` is the customer's last group) some site up to that
    group is open: no z there. Elsewhere z_i^last prices the cost beyond at the next
    group's cost only, which makes the model a relaxation (its bound is valid, and exact
    for the plans that serve i within that next group)."""
    n, m = g.order.shape
    hard = hard | (last >= g.n_groups - 1)
    n_rows_i = last + 1
    row0 = np.concatenate(([0], np.cumsum(n_rows_i)[:-1]))
    n_z_i = np.where(hard, last, last + 1)
    z0 = np.concatenate(([0], np.cumsum(n_z_i)[:-1]))
    ii, tt = np.nonzero(g.grp <= last[:, None])
    y_rows = row0[ii] + g.grp[ii, tt]
    y_cols = g.order[ii, tt]
    zi = np.repeat(np.arange(n), n_z_i)
    zk = np.arange(int(n_z_i.sum())) - np.repeat(z0, n_z_i)
    z_cols = m + np.arange(zk.size)
    # z_i^k: +1 in row k, -1 in row k + 1 (when the customer has that row)
    nxt = zk < last[zi]
    rows = np.concatenate((y_rows, row0[zi] + zk, (row0[zi] + zk + 1)[nxt]))
    cols = np.concatenate((y_cols, z_cols, z_cols[nxt]))
    vals = np.concatenate((np.ones(y_rows.size), np.ones(zk.size), -np.ones(int(nxt.sum()))))
    n_rows = int(n_rows_i.sum())
    a = sp.csc_array((np.concatenate((vals, np.ones(m))),
                      (np.concatenate((rows, np.full(m, n_rows))),
                       np.concatenate((cols, np.arange(m))))),
                     shape=(n_rows + 1, m + zk.size))
    zc = g.cost[zi, zk + 1] - g.cost[zi, zk]
    row_lo = np.zeros(n_rows + 1)
    row_lo[row0] = 1.0
    row_lo[n_rows] = p
    row_hi = np.full(n_rows + 1, np.inf)
    row_hi[n_rows] = p
    return _Model(a=a, c=np.concatenate((np.zeros(m), zc)), row_lo=row_lo, row_hi=row_hi,
                  offset=float(g.cost[:, 0].sum()), n_y=m)


def _solve(mdl: _Model, y_lo: FloatArray, *, cutoff: float, deadline: float | None,
           mip_gap: float, threads: int | None) -> tuple[str, float, FloatArray | None]:
    """HiGHS on the model, for plans below ``cutoff`` only: its status, its lower bound
    (inf when no plan is below the cutoff) and its y (None without a plan)."""
    h = _new_highs()
    limit = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
    watchdog = _set_common(h, msg=False, time_limit_s=limit, mip_gap=mip_gap, threads=threads)
    h.setOptionValue("objective_bound", cutoff)
    # the best plan is known: HiGHS only has to prove there is no cheaper one
    h.setOptionValue("mip_heuristic_effort", 0.0)
    for name in _NO_HEURISTICS:
        h.setOptionValue(name, False)
    # measured on pmed36/38 (bench/README.md): the LPs by interior point, no presolve
    h.setOptionValue("mip_lp_solver", "ipm")
    h.setOptionValue("presolve", "off")
    # no strong branching, no cuts below the root: their LPs cost more than the nodes they
    # save (pmed36: 263 nodes in 38 s with cuts at the nodes, 279 in 31-34 s without)
    h.setOptionValue("mip_pscost_minreliable", 0)
    h.setOptionValue("mip_allow_cut_separation_at_nodes", False)
    n_cols = int(mdl.a.shape[1])
    pass_arrays(h, mdl.a, mdl.c, offset=mdl.offset,
                col_lo=np.concatenate((y_lo, np.zeros(n_cols - mdl.n_y))),
                col_hi=np.ones(n_cols), row_lo=mdl.row_lo, row_hi=mdl.row_hi,
                integer=np.arange(n_cols) < mdl.n_y)
    if deadline is not None:  # the time left once the model is passed
        _arm_deadline(h, int(mdl.a.nnz), deadline, watchdog)
    _run(h)
    st = _status_name(h.getModelStatus())
    if watchdog is not None and watchdog.fired and st != "infeasible":
        st = "time_limit"
    info = h.getInfo()
    y = None
    if int(info.primal_solution_status) == 2:
        y = np.asarray(h.getSolution().col_value, dtype=np.float64)[:mdl.n_y]
    if st == "infeasible":
        return st, math.inf, None
    lower = float(info.mip_dual_bound)
    return st, lower if math.isfinite(lower) else -math.inf, y


def _reduce(wcost: FloatArray, p: int, lam: FloatArray, obj: float, *, integral: bool,
            deadline: float | None) -> tuple[BoolArray, BoolArray, IntArray, FloatArray]:
    """Sites fixed closed / open and each customer's row cap (:func:`reduce_by_bound`),
    repeated with multipliers re-optimised on the sites left; and those multipliers."""
    closed, opened, cap = reduce_by_bound(wcost, p, lam, obj, integral=integral)
    for _ in range(_REDUCE_ROUNDS):
        # the bound over the sites left is higher: new multipliers fix more
        before = int(closed.sum())
        lam, _lb = _ascent(wcost[:, ~closed], p, lam, _threshold(obj, integral),
                           _ASCENT_STEPS)
        closed, opened, cap = reduce_by_bound(wcost, p, lam, obj, integral=integral,
                                              allowed=~closed)
        if int(closed.sum()) == before or (deadline is not None
                                           and time.perf_counter() > deadline):
            break
    return closed, opened, cap, lam


def radius_pmedian(
    wcost: FloatArray, p: int, *, start: IntArray, lam: FloatArray, deadline: float | None,
    mip_gap: float = 0.0, threads: int | None = None,
) -> RadiusResult:
    """Prove ``start`` optimal or find the optimum of the dense p-median ``wcost``.

    The customers' rows first reach :data:`_REACH_MARGIN` groups past the larger of their
    multiplier and their cost in ``start`` (the reach of the LP optimum and of the best
    plan); the model is then a relaxation. When its optimal plan costs more than the model
    says, the customers it underprices get rows up to their cost in that plan, and the
    model is solved again.

    Parameters
    ----------
    wcost
        (n x m) weighted cost (every zone served by its nearest open site).
    p
        Sites to open.
    start
        The best plan known (p open sites); its cost is the upper bound.
    lam
        (n,) Lagrangian multipliers of the assignment rows, for the reductions.
    deadline
        ``time.perf_counter()`` time by which HiGHS must stop (None = none).
    mip_gap, threads
        HiGHS's relative gap and threads.

    Returns
    -------
    RadiusResult
    """
    t0 = time.perf_counter()
    n = wcost.shape[0]
    best = np.sort(np.asarray(start, dtype=np.int64))
    obj = float(wcost[:, best].min(axis=1).sum())
    integral = bool(np.all(wcost == np.round(wcost)))
    closed, opened, cap, lam = _reduce(wcost, p, lam, obj, integral=integral,
                                       deadline=deadline)
    cand = np.flatnonzero(~closed)
    logger.debug("radius reductions: %d of %d sites closed, %d open, %.2f s",
                 int(closed.sum()), closed.size, int(opened.sum()), time.perf_counter() - t0)
    sub = wcost[:, cand]
    g = _Groups.of(sub)
    hard_last = g.grp[np.arange(n), np.clip(cap, 1, cand.size) - 1]
    reach = np.maximum(lam, wcost[:, best].min(axis=1))
    last = np.minimum(g.group_of(reach) + _REACH_MARGIN, hard_last)
    y_lo = opened[cand].astype(np.float64)
    proved, st, rounds, size = -math.inf, "time_limit", 0, (0, 0, 0)
    while deadline is None or time.perf_counter() < deadline - 0.05:
        rounds += 1
        mdl = _build(g, p, last, last >= hard_last)
        size = (int(mdl.a.shape[0]), int(mdl.a.shape[1]), int(mdl.a.nnz))
        t_solve = time.perf_counter()
        st, lower, y = _solve(mdl, y_lo, cutoff=_threshold(obj, integral),
                              deadline=deadline, mip_gap=mip_gap, threads=threads)
        logger.debug("radius round %d: %d rows, %d columns, HiGHS %s, bound %.10g, %.2f s",
                     rounds, size[0], size[1], st, lower, time.perf_counter() - t_solve)
        if integral and math.isfinite(lower):
            lower = float(math.ceil(lower - 1e-6))
        # every plan cheaper than obj is in the model: the optimum is >= min(lower, obj)
        proved = max(proved, min(lower, obj))
        if st != "optimal" or y is None:
            break
        mine = np.sort(np.argsort(-y, kind="stable")[:p])
        near = sub[:, mine].min(axis=1)
        if float(near.sum()) < obj:
            best, obj = np.sort(cand[mine]), float(near.sum())
        grow = (g.group_of(near) > last + 1) & (last < hard_last)
        if not grow.any():  # the model priced its plan right: nothing cheaper
            break
        last = np.where(grow, np.minimum(np.maximum(g.group_of(near), 2 * last + 1),
                                         hard_last), last)
        logger.debug("radius round %d: %d customers underpriced", rounds, int(grow.sum()))
    bound = min(proved, obj)
    return RadiusResult(
        open=_frozen(best), objective=obj, bound=bound,
        status="optimal" if bound >= obj else st, seconds=time.perf_counter() - t0,
        n_rows=size[0], n_cols=size[1], n_nonzeros=size[2], fixed_closed=int(closed.sum()),
        fixed_open=int(opened.sum()), rounds=rounds)
