"""The classic location problems, each solved exactly by the one core model.

p-median, capacitated and uncapacitated facility location and maximal covering are special
cases of :class:`~netplan.optimize.problem.FacilityProblem` solved by
:func:`~netplan.optimize.solving.solve`: :func:`p_median`,
:func:`capacitated_facility_location`, :func:`uncapacitated_facility_location`,
:func:`maximal_covering`. Dense p-median and uncapacitated costs are solved with a sparse
k-nearest model that grows where needed, and still exactly. A dense p-median first goes
through a Lagrangian stage; when that does not prove its plan and p is small, the radius
model of :mod:`~netplan.optimize.radius` proves it instead of the k-nearest model.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from netplan._errors import InfeasibleError, NetplanError
from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import _TOL, Progress, _as_csr, _float_vec, _frozen, _rel_gap
from netplan.optimize.lagrange import lagrangian, site_fixing
from netplan.optimize.problem import FacilityProblem, Solution
from netplan.optimize.radius import RadiusResult, radius_pmedian
from netplan.optimize.solving import solve

__all__ = [
    "ClassicResult",
    "capacitated_facility_location",
    "maximal_covering",
    "p_median",
    "uncapacitated_facility_location",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ClassicResult:
    """Result of a classic location problem.

    Attributes
    ----------
    open
        Sorted 0-based indices of the open sites.
    objective
        Objective value (covered weight for :func:`maximal_covering`, a cost otherwise).
    status, gap, best_bound, seconds, build_seconds, solver, backend
        As in :class:`Solution` (``seconds`` summed over rounds).
    assignment
        (n_zones,) the site serving most of each zone (-1 = none / uncovered).
    rounds
        Solves needed (the k-nearest scheme may add columns and re-solve).
    solution
        The last core :class:`Solution`. Its ``bound_source`` says what proved
        ``best_bound``: ``"highs"`` (the k-nearest model), ``"lagrangian"`` (the Lagrangian
        stage), ``"lagrangian-bnb"`` (its branch and bound over the sites, capacitated
        problems) or ``"radius"`` (HiGHS on the radius model, dense p-median with small p).
    """

    open: IntArray
    objective: float
    status: str
    gap: float
    best_bound: float
    seconds: float
    build_seconds: float
    solver: str
    backend: str
    assignment: IntArray
    rounds: int
    solution: Solution


def _main_assignment(sol: Solution, n: int) -> IntArray:
    out = np.full(n, -1, dtype=np.int64)
    if sol.assign_zone.size:
        order = np.lexsort((sol.assign_share, sol.assign_zone))
        out[sol.assign_zone[order]] = sol.assign_site[order]  # largest share last -> wins
    return out


def _dense(name: str, cost: Any) -> FloatArray:
    a = np.asarray(cost, dtype=np.float64)
    if a.ndim != 2:
        raise NetplanError(f"{name}: expected a 2-D (zones x sites) matrix, got {a.ndim}-D.")
    if not np.isfinite(a).all():
        raise NetplanError(f"{name}: entries must be finite (use a sparse matrix to forbid "
                           "pairs).")
    return a


def _pmedian_heuristic(wcost: FloatArray, p: int, *, max_swaps: int = 1000,
                       start: IntArray | None = None) -> IntArray:
    """Greedy (or ``start``) + best-improvement interchange (Teitz-Bart) for the p-median,
    vectorised.

    ``wcost`` is the weighted (n x m) cost. Each interchange pass evaluates every (close j,
    open j') swap at once from the best and second-best open cost of each zone, O(n m + m^2)
    per pass. Used only as a MIP start: optimality comes from the solver.
    """
    n, m = wcost.shape
    best = np.full(n, np.inf)
    opened: list[int] = [] if start is None else [int(j) for j in start]
    if opened:
        best = wcost[:, opened].min(axis=1)
    for _ in range(p - len(opened)):
        gain = np.minimum(best[:, None], wcost).sum(axis=0)
        gain[opened] = np.inf
        j = int(np.argmin(gain))
        opened.append(j)
        best = np.minimum(best, wcost[:, j])
    if p >= m:
        return np.sort(np.asarray(opened, dtype=np.int64))
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[opened] = True
    rows = np.arange(n)
    for _ in range(max_swaps):
        op = np.flatnonzero(is_open)
        sub = wcost[:, op]
        if op.size >= 2:
            two = np.argpartition(sub, 1, axis=1)[:, :2]
            c2 = sub[rows[:, None], two]
            first = np.where(c2[:, 0] <= c2[:, 1], two[:, 0], two[:, 1])
            d1 = sub[rows, first]
            d2 = np.where(c2[:, 0] <= c2[:, 1], c2[:, 1], c2[:, 0])
        else:
            first = np.zeros(n, dtype=np.int64)
            d1 = sub[:, 0]
            d2 = np.full(n, np.inf)
        cur = float(d1.sum())
        a = np.minimum(d1[:, None], wcost)  # (n, m): add j' and keep everything
        bdiff = np.minimum(d2[:, None], wcost) - a  # extra if the zone's best site closes
        onehot = sp.csr_array((np.ones(n), (first, rows)), shape=(op.size, n))
        swap = a.sum(axis=0)[None, :] + onehot @ bdiff  # (p, m): close op[r], open j'
        swap[:, is_open] = np.inf
        r, jn = np.unravel_index(int(np.argmin(swap)), swap.shape)
        if swap[r, jn] >= cur - 1e-12 * max(1.0, abs(cur)):
            break
        is_open[op[r]] = False
        is_open[jn] = True
    return np.flatnonzero(is_open).astype(np.int64)


@dataclass
class _KNearest:
    """The growing k-nearest model of a dense cost: each zone's sites sorted by cost."""

    cost: FloatArray
    weights: FloatArray
    fixed: FloatArray
    p: int | None
    order: IntArray
    sorted_cost: FloatArray
    k_i: IntArray
    warm: IntArray | None = None

    forbidden: BoolArray | None = None

    def problem(self) -> FacilityProblem:
        """The restricted model: zone i may use its k_i cheapest sites; serving it anywhere
        else is priced as unserved at its (k_i+1)-th smallest cost."""
        n, m = self.cost.shape
        w, k_i = self.weights, self.k_i
        mask = np.arange(m)[None, :] < k_i[:, None]
        cols = self.order[mask]
        rows = np.repeat(np.arange(n), k_i)
        vals = (w[:, None] * self.sorted_cost)[mask]
        nxt = np.where(k_i < m, w * self.sorted_cost[np.arange(n), np.minimum(k_i, m - 1)],
                       np.inf)
        return FacilityProblem(
            demand=w, cost=_csr_from_rows(rows, cols, vals, n, m),
            opt_site=np.arange(m), opt_cost=self.fixed, unserved_cost=nxt,
            n_sites_exact=self.p, warm_start=self.warm,
            site_forbidden=np.zeros(m, np.bool_) if self.forbidden is None else self.forbidden,
        )

    def true_cost(self, opened: IntArray) -> tuple[IntArray, float]:
        """Each zone's nearest open site (index into ``opened``) and the plan's full cost."""
        n = self.cost.shape[0]
        if not opened.size:
            return np.zeros(n, dtype=np.int64), math.inf
        sub = self.cost[:, opened]
        near = np.argmin(sub, axis=1)
        return near, float((self.weights * sub[np.arange(n), near]).sum()
                           + self.fixed[opened].sum())


def _knearest_exact(
    cost: FloatArray, *, weights: FloatArray, fixed_cost: FloatArray | None, p: int | None,
    k: int | None, solve_kw: dict[str, Any],
) -> ClassicResult:
    """Uncapacitated location (p-median / UFLP) on a dense cost, solved exactly with only
    the k nearest sites of each zone in the model.

    Each zone i keeps its k_i cheapest sites; serving it anywhere else is replaced by the
    "unserved" share u_i at cost w_i * c_i^(k_i+1), its (k_i+1)-th smallest cost. Any plan
    serves i outside its list at a cost >= that, so the restricted model is a relaxation and
    its bound is a valid lower bound for the full problem. Its optimal open set is then
    evaluated exactly (every zone to its nearest open site). If that true cost equals the
    restricted objective (in particular when no u_i > 0), the plan is optimal for the full
    problem within the same gap. Otherwise the zones with u_i > 0 get twice as many sites
    and the model is re-solved; k_i = n_sites is the full model, so this terminates.
    """
    n, m = cost.shape
    if k is None:
        k = max(8, math.ceil(3 * m / p)) if p else 10
    order = np.argsort(cost, axis=1, kind="stable")
    km = _KNearest(cost=cost, weights=weights,
                   fixed=np.zeros(m) if fixed_cost is None else fixed_cost, p=p, order=order,
                   sorted_cost=np.take_along_axis(cost, order, axis=1),
                   k_i=np.full(n, min(int(k), m), dtype=np.int64))
    limit = solve_kw.get("time_limit_s")
    deadline = None if limit is None else time.perf_counter() + float(limit)
    time_left = limit
    seconds = build = 0.0
    rounds = 0
    lag: _PMedianBound | None = None
    if p is not None and fixed_cost is None:
        t_h = time.perf_counter()
        wcost = weights[:, None] * cost
        start = _pmedian_heuristic(wcost, p)
        if solve_kw.get("lagrange") is not False and solve_kw.get("backend") == "direct":
            radius = _radius_applies(p, m)
            lag = _pmedian_bound(wcost, p, start, deadline=deadline,
                                 mip_gap=float(solve_kw.get("mip_gap", 1e-4)),
                                 share=_RADIUS_LAGRANGE_SHARE if radius else 0.5)
            start = lag.open
            if lag.proven:
                return _lagrange_result(km, lag, seconds=time.perf_counter() - t_h)
            if radius:
                rad = radius_pmedian(wcost, p, start=lag.open, lam=lag.lam,
                                     deadline=None if deadline is None else deadline - 0.3,
                                     mip_gap=float(solve_kw.get("mip_gap", 1e-4)),
                                     threads=solve_kw.get("threads"))
                return _radius_result(km, lag, rad, seconds=time.perf_counter() - t_h,
                                      mip_gap=float(solve_kw.get("mip_gap", 1e-4)))
            km.forbidden = lag.closed
            solve_kw = {**solve_kw, "lagrange": False}
        km.warm = np.full(m, -1, dtype=np.int64)
        km.warm[start] = start
        build += time.perf_counter() - t_h
        if deadline is not None:
            time_left = max(deadline - time.perf_counter(), 0.01)
    while True:
        rounds += 1
        sol = solve(km.problem(), **{**solve_kw, "time_limit_s": time_left})
        seconds += sol.seconds
        build += sol.build_seconds
        opened = sol.open_sites
        near, true_cost = km.true_cost(opened)
        spill = sol.unserved_share > _TOL
        if true_cost <= sol.objective + 1e-9 * max(1.0, abs(sol.objective)) or not spill.any():
            break
        if deadline is not None:
            time_left = deadline - time.perf_counter()
            if time_left <= 0.5:
                break
        grow = spill & (km.k_i < m)
        if not grow.any():
            break
        logger.debug("k-nearest round %d: %d zones spill, doubling their k", rounds,
                     int(grow.sum()))
        km.k_i = np.where(grow, np.minimum(2 * km.k_i, m), km.k_i)
    assignment = opened[near] if opened.size else np.full(n, -1, dtype=np.int64)
    res = _knearest_result(sol, true_cost, assignment, rounds=rounds, seconds=seconds,
                           build=build)
    return res if lag is None else _with_bound(res, lag, mip_gap=float(solve_kw["mip_gap"]))


@dataclass(frozen=True, eq=False)
class _PMedianBound:
    """The Lagrangian stage of a dense p-median: bound, best plan, sites it fixes closed."""

    bound: float
    open: IntArray
    objective: float
    closed: BoolArray
    proven: bool
    seconds: float
    lam: FloatArray


def _pmedian_bound(wcost: FloatArray, p: int, start: IntArray, *, deadline: float | None,
                   mip_gap: float, share: float = 0.5) -> _PMedianBound:
    """Lagrangian bound of the full dense p-median; the interchange heuristic from its best
    plan; the sites no plan cheaper than the best can open.

    Uses at most ``share`` of the time left (all of it proves nothing a solver could
    not)."""
    t0 = time.perf_counter()
    n, m = wcost.shape
    prob = FacilityProblem(demand=np.ones(n), cost=wcost, opt_site=np.arange(m),
                           n_sites_exact=p)
    stop = math.inf if deadline is None else t0 + share * (deadline - t0)
    res = lagrangian(prob, None, deadline=stop, mip_gap=mip_gap)
    best, best_obj = start, float(wcost[:, start].min(axis=1).sum())
    if res.plan is not None:
        again = _pmedian_heuristic(wcost, p, start=np.flatnonzero(res.plan.site_option >= 0))
        obj = float(wcost[:, again].min(axis=1).sum())
        if obj < best_obj:
            best, best_obj = again, obj
    in_plan = np.zeros(m, dtype=np.bool_)
    in_plan[best] = True
    proven = _rel_gap(best_obj, res.bound) <= mip_gap
    closed = np.zeros(m, dtype=np.bool_)
    if not proven:
        closed, _ = site_fixing(prob, res, ub=best_obj, in_plan=in_plan)
    return _PMedianBound(res.bound, np.sort(best), best_obj, closed, proven,
                         time.perf_counter() - t0, res.lam)


def _radius_applies(p: int, m: int) -> bool:
    """Small p (at most one site in :data:`_RADIUS_SITES_PER_MEDIAN`): the LP relaxation
    is often fractional there, and the radius model proves faster than the k-nearest one."""
    return p * _RADIUS_SITES_PER_MEDIAN <= m


_RADIUS_SITES_PER_MEDIAN = 20
_RADIUS_LAGRANGE_SHARE = 0.15
"""Share of the time the Lagrangian stage may use before the radius model: its
multipliers only seed the radius model's reductions, which re-optimise them."""


def _lagrange_result(km: _KNearest, lag: _PMedianBound, *, seconds: float) -> ClassicResult:
    """The plan the Lagrangian bound proved, as a result (no solver ran)."""
    return _plan_result(km, lag.open, lag.bound, seconds=seconds, source="lagrangian",
                        lag=lag)


def _radius_result(km: _KNearest, lag: _PMedianBound, rad: RadiusResult, *, seconds: float,
                   mip_gap: float) -> ClassicResult:
    """The radius model's plan with the better of its bound and the Lagrangian one."""
    res = _plan_result(km, rad.open, max(rad.bound, lag.bound), seconds=seconds, lag=lag,
                       mip_gap=mip_gap, stopped=rad.status,
                       source="radius" if rad.bound >= lag.bound else "lagrangian")
    sol = replace(res.solution, n_rows=rad.n_rows, n_cols=rad.n_cols,
                  n_nonzeros=rad.n_nonzeros, fixed_sites=rad.fixed_closed + rad.fixed_open)
    return replace(res, solution=sol)


def _plan_result(km: _KNearest, opened: IntArray, lower: float, *, seconds: float,
                 source: str, lag: _PMedianBound, mip_gap: float = 0.0,
                 stopped: str | None = None) -> ClassicResult:
    """A plan (open sites) and a lower bound proved for it, as a result.

    ``stopped``: how HiGHS stopped (None: no solver ran, the Lagrangian stage proved the
    plan). Status: ``optimal`` at a zero gap, ``gap_limit`` within ``mip_gap`` (or when
    the Lagrangian stage proved it), else ``stopped``."""
    n, m = km.cost.shape
    near, obj = km.true_cost(opened)
    assignment = opened[near]
    site_option = np.full(m, -1, dtype=np.int64)
    site_option[opened] = opened
    bound = min(lower, obj)
    gap = _rel_gap(obj, bound)
    solver = "lagrangian" if stopped is None else "highs"
    if gap == 0.0:
        status = "optimal"
    elif stopped is None or stopped == "optimal" or gap <= mip_gap:
        status = "gap_limit"
    else:
        status = stopped
    sol = Solution(
        status=status, objective=obj, best_bound=bound, gap=gap, seconds=seconds,
        build_seconds=0.0, solver=solver, backend="direct",
        site_option=_frozen(site_option), relocated=_frozen(np.zeros(0, dtype=np.bool_)),
        assign_zone=_frozen(np.arange(n, dtype=np.int64)),
        assign_site=_frozen(assignment.astype(np.int64)), assign_share=_frozen(np.ones(n)),
        unserved_share=_frozen(np.zeros(n)), bound_source=source,
        lagrangian_bound=lag.bound, lagrangian_seconds=lag.seconds)
    return ClassicResult(
        open=_frozen(np.sort(opened).astype(np.int64)), objective=obj, status=status,
        gap=gap, best_bound=bound, seconds=seconds, build_seconds=0.0, solver=solver,
        backend="direct", assignment=_frozen(assignment.astype(np.int64)),
        rounds=0 if solver == "lagrangian" else 1, solution=sol)


def _with_bound(res: ClassicResult, lag: _PMedianBound, *, mip_gap: float) -> ClassicResult:
    """The solver's result with the Lagrangian bound (and its fixing) taken into account.

    With sites fixed closed the solver's bound holds for the plans that keep them closed;
    the others cost at least the Lagrangian stage's best plan."""
    bound = min(res.best_bound, lag.objective) if lag.closed.any() else res.best_bound
    source = res.solution.bound_source
    if not math.isfinite(bound) or lag.bound > bound:
        bound, source = lag.bound, "lagrangian"
    bound = min(bound, res.objective)
    gap = _rel_gap(res.objective, bound)
    status = res.status
    if gap <= mip_gap:
        status = "optimal" if gap == 0.0 else "gap_limit"
    sol = replace(res.solution, best_bound=bound, gap=gap, status=status,
                  bound_source=source, lagrangian_bound=lag.bound,
                  lagrangian_seconds=lag.seconds, fixed_sites=int(lag.closed.sum()))
    return replace(res, best_bound=bound, gap=gap, status=status, solution=sol)


def _knearest_result(sol: Solution, true_cost: float, assignment: IntArray, *, rounds: int,
                     seconds: float, build: float) -> ClassicResult:
    """The last restricted solve restated for the full problem: its true cost, a bound no
    higher than that cost, and every zone assigned whole to its nearest open site."""
    n = assignment.size
    bound = min(sol.best_bound, true_cost) if math.isfinite(sol.best_bound) else sol.best_bound
    gap = _rel_gap(true_cost, bound)
    status = sol.status if sol.status not in ("optimal", "gap_limit") else (
        "optimal" if gap == 0.0 else "gap_limit")
    sol_full = replace(
        sol, objective=true_cost, best_bound=bound, gap=gap, status=status,
        assign_zone=_frozen(np.arange(n, dtype=np.int64)),
        assign_site=_frozen(assignment.astype(np.int64)),
        assign_share=_frozen(np.ones(n)), unserved_share=_frozen(np.zeros(n)),
    )
    return ClassicResult(
        open=sol.open_sites, objective=true_cost, status=status, gap=gap, best_bound=bound,
        seconds=seconds, build_seconds=build, solver=sol.solver, backend=sol.backend,
        assignment=_frozen(assignment.astype(np.int64)), rounds=rounds, solution=sol_full,
    )


def _csr_from_rows(rows: IntArray, cols: IntArray, vals: FloatArray, n: int, m: int) -> Any:
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_array((vals[order], cols[order], indptr), shape=(n, m))


def _classic(sol: Solution, n: int, *, objective: float | None = None,
             bound: float | None = None) -> ClassicResult:
    return ClassicResult(
        open=sol.open_sites, objective=sol.objective if objective is None else objective,
        status=sol.status, gap=sol.gap, best_bound=sol.best_bound if bound is None else bound,
        seconds=sol.seconds, build_seconds=sol.build_seconds, solver=sol.solver,
        backend=sol.backend, assignment=_frozen(_main_assignment(sol, n)), rounds=1,
        solution=sol,
    )


def p_median(  # noqa: PLR0913 - public API: the problem's data, then solve()'s options
    cost: Any,
    p: int,
    *,
    weights: ArrayLike | None = None,
    k: int | None = None,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
    lagrange: bool | None = None,
) -> ClassicResult:
    """p-median: open exactly ``p`` sites minimising the weighted cost of serving every zone.

    Formulation: min sum_ij w_i c_ij x_ij subject to sum_j x_ij = 1, x_ij <= y_j,
    sum_j y_j = p, y binary (the core model with one uncapacitated option per site).

    Dense costs with the direct backend: a Lagrangian stage (bound, plans, site fixing)
    first; if it does not prove its plan and p <= n_sites / 20, the radius model proves
    it (:func:`~netplan.optimize.radius.radius_pmedian`), else the k-nearest model does.

    Parameters
    ----------
    cost
        (n_zones x n_sites) cost per unit weight. Dense: solved exactly with a k-nearest
        sparse model that grows where needed (see ``k``). Sparse: only stored pairs are
        allowed.
    p
        Number of sites to open.
    weights
        (n_zones,) zone weights (default 1) multiplying the rows of ``cost``.
    k
        Dense input only: initial number of nearest sites per zone in the model (default
        max(8, 3 * n_sites / p)); the result is exact whatever k is.
    solver, backend, time_limit_s, mip_gap, threads, progress, lagrange
        As in :func:`solve`.

    Returns
    -------
    ClassicResult
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress,
                              lagrange=lagrange)
    n = int(cost.shape[0])
    w = np.ones(n) if weights is None else _float_vec("weights", weights, n, nonneg=True)
    if isinstance(p, bool) or int(p) != p or p < 1:
        raise NetplanError(f"p_median: p must be a positive integer, got {p!r}.")
    if sp.issparse(cost):
        csr = _as_csr("cost", cost)
        m = csr.shape[1]
        csr = sp.csr_array((csr.data * np.repeat(w, np.diff(csr.indptr)), csr.indices,
                            csr.indptr), shape=csr.shape)
        prob = FacilityProblem(demand=w, cost=csr, opt_site=np.arange(m), n_sites_exact=int(p))
        return _classic(solve(prob, **kw), n)
    dense = _dense("p_median cost", cost)
    if p > dense.shape[1]:
        raise InfeasibleError(f"p = {p} sites must open but there are only {dense.shape[1]} "
                              "sites; lower p.", "n_sites_exact")
    return _knearest_exact(dense, weights=w, fixed_cost=None, p=int(p), k=k, solve_kw=kw)


def uncapacitated_facility_location(  # noqa: PLR0913 - public API: the problem's data, then solve()'s options
    cost: Any,
    fixed_cost: ArrayLike,
    *,
    k: int | None = None,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
    lagrange: bool | None = None,
) -> ClassicResult:
    """Uncapacitated facility location: min sum_j f_j y_j + sum_ij c_ij x_ij, every zone
    served (sum_j x_ij = 1, x_ij <= y_j).

    ``cost[i, j]`` is the cost of serving all of zone i from site j. Dense costs are solved
    exactly with the growing k-nearest model (see :func:`p_median`); sparse costs allow the
    stored pairs only.
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress,
                              lagrange=lagrange)
    n, m = int(cost.shape[0]), int(cost.shape[1])
    f = _float_vec("fixed_cost", fixed_cost, m)
    if sp.issparse(cost):
        prob = FacilityProblem(demand=np.ones(n), cost=cost, opt_site=np.arange(m), opt_cost=f)
        return _classic(solve(prob, **kw), n)
    dense = _dense("uncapacitated_facility_location cost", cost)
    return _knearest_exact(dense, weights=np.ones(n), fixed_cost=f, p=None, k=k, solve_kw=kw)


def capacitated_facility_location(  # noqa: PLR0913 - public API: the problem's data, then solve()'s options
    cost: Any,
    demand: ArrayLike,
    capacity: ArrayLike,
    fixed_cost: ArrayLike,
    *,
    single_source: bool = False,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
    lagrange: bool | None = None,
) -> ClassicResult:
    """Capacitated facility location (Beasley's CFLP; single or multiple sourcing).

    min sum_j f_j y_j + sum_ij c_ij x_ij  s.t.  sum_j x_ij = 1,  x_ij <= y_j,
    sum_i d_i x_ij <= s_j y_j,  y binary, x in [0,1] (binary when ``single_source``).

    Parameters
    ----------
    cost
        (n_zones x n_sites): cost of serving ALL of zone i's demand from site j (as in the
        OR-Library cap files). Sparse: only stored pairs allowed.
    demand, capacity, fixed_cost
        (n_zones,), (n_sites,) (inf = uncapacitated), (n_sites,).
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress,
                              lagrange=lagrange)
    m = int(cost.shape[1])
    prob = FacilityProblem(
        demand=np.asarray(demand, dtype=np.float64), cost=cost, opt_site=np.arange(m),
        opt_capacity=np.asarray(capacity, dtype=np.float64),
        opt_cost=np.asarray(fixed_cost, dtype=np.float64), single_source=single_source,
    )
    return _classic(solve(prob, **kw), prob.n_zones)


def maximal_covering(  # noqa: PLR0913 - public API: the problem's data, then solve()'s options
    cover: Any,
    weights: ArrayLike,
    p: int,
    *,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
    lagrange: bool | None = None,
) -> ClassicResult:
    """Maximal covering (Church & ReVelle): open ``p`` sites to cover the most weight.

    max sum_i w_i c_i  s.t.  c_i <= sum_{j covers i} y_j,  c_i <= 1,  sum_j y_j = p. Solved
    as the core model with cost -w_i on every covering pair, unserved cost 0: the covered
    share of i is sum_j x_ij <= min(1, sum_{j covers i} y_j).

    Parameters
    ----------
    cover
        Sparse boolean (n_zones x n_sites): site j covers zone i (stored True entries).
    weights
        (n_zones,) >= 0.
    p
        Number of sites to open.

    Returns
    -------
    ClassicResult
        ``objective`` and ``best_bound`` are covered weight (positive; the bound is an upper
        bound); ``assignment`` is a covering open site per zone (-1 = not covered).
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress,
                              lagrange=lagrange)
    coo = sp.coo_array(cover) if sp.issparse(cover) else sp.coo_array(np.asarray(cover, bool))
    n, m = coo.shape
    w = _float_vec("weights", weights, n, nonneg=True)
    keep = np.asarray(coo.data, dtype=np.bool_)
    rows, cols = np.asarray(coo.row)[keep].astype(np.int64), np.asarray(coo.col)[keep]
    cost = _csr_from_rows(rows, cols.astype(np.int64), -w[rows], n, m)
    prob = FacilityProblem(demand=w, cost=cost, opt_site=np.arange(m),
                           unserved_cost=np.zeros(n), n_sites_exact=int(p))
    sol = solve(prob, **kw)
    opened = sol.open_sites
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[opened] = True
    covered = np.zeros(n, dtype=np.bool_)
    covered[rows[is_open[cols]]] = True
    weight = float(w[covered].sum())
    res = _classic(sol, n, objective=weight, bound=-sol.best_bound)
    return replace(res, gap=_rel_gap(-weight, sol.best_bound))
