"""solve(): the one entry point from a FacilityProblem to a Solution.

Checks the obvious infeasibilities first (:mod:`~netplan.optimize.precheck`), builds the
model (:mod:`~netplan.optimize.build`), solves it with HiGHS directly
(:mod:`~netplan.optimize.highs`, followed by the neighbourhood search of
:mod:`~netplan.optimize.search` on long time-limited solves) or through PuLP
(:mod:`~netplan.optimize.pulp_backend`), diagnoses an infeasible model
(:mod:`~netplan.optimize.infeasible`) and reads the plan off the solver's column values.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Final

import numpy as np

from netplan._errors import SettingError, SolverError
from netplan._types import FloatArray
from netplan.optimize._base import _TOL, Progress, _frozen, _rel_gap
from netplan.optimize.build import _build, _Model
from netplan.optimize.highs import _check_point, _Raw, _RunOptions, _solve_highs, _warm_vector
from netplan.optimize.infeasible import _diagnose
from netplan.optimize.lagrange import (
    LagrangeResult,
    Plan,
    lagrangian,
    lagrangian_applies,
    plan_vector,
    side_constraint,
    site_fixing,
)
from netplan.optimize.lagrange_bnb import bnb_applies, lagrangian_bnb
from netplan.optimize.precheck import _precheck
from netplan.optimize.problem import FacilityProblem, Solution, _entry_zones
from netplan.optimize.pulp_backend import _solve_pulp
from netplan.optimize.rens import lp_rounding, rens_applies
from netplan.optimize.search import _search, _snap

__all__ = ["solve"]


_LAGRANGE_SHARE: Final = 0.4
"""Share of a time limit the Lagrangian bound and its plans may use before HiGHS runs."""
_BNB_ROOT_SHARE: Final = 0.1
"""The Lagrangian stage's share instead, when its branch and bound follows
(:func:`~netplan.optimize.lagrange_bnb.bnb_applies`): the stage's plans (a transportation
LP every few steps) make its late steps slow, the search's nodes re-optimise without them
(capc5000 at ``mip_gap=1e-3``, 60 s limit: 16 s with 0.4, 4-8 s with 0.05-0.1)."""
_BNB_SHARE: Final = 0.6
"""Share of the time left after an unproven Lagrangian stage that its branch and bound
over the sites may use (:mod:`~netplan.optimize.lagrange_bnb`) before HiGHS runs."""
_HIGHS_BELOW_INTEGER: Final = 2000
"""Integer columns below which HiGHS resumes from the search's plan once the search has
had its time (:func:`_rounds_by`): HiGHS's root cuts prove such a model where the LP's
bound cannot (Beijing's district models have 34-1,255; the city model 4,703, where the
root loop alone outlasts the search)."""
_ROUNDS_PER_LP_S: Final = 2.0
"""The search's time on such a model, in seconds of its LP stage (the relaxation and the
rounded MIP), at least :data:`_ROUNDS_MIN_S`. On the 61 models of Beijing's district
behaviour loops (1 % gap, one thread; ``bench/README.md``, "The search hands small models
back to HiGHS"): 65.2 s of solving in all, longest 10.6 s, without; 51.6 s, longest
3.8 s, with 2x (1x: 50.2 s, 3.4 s; 4x: 55.4 s, 4.7 s). The longest had an LP bound 1 %
below HiGHS's root bound; the search had improved its plan for 10 s without proving it."""
_ROUNDS_MIN_S: Final = 1.0
"""Least time of the search before HiGHS resumes on a small model."""
_BNB_UNTIMED: Final = 10.0
"""Without a time limit, the branch and bound's time in Lagrangian stage times
(then ``_BNB_SHARE`` of it)."""


def _plan_vector(mdl: _Model, plan: Plan) -> FloatArray | None:
    """The model's column vector of a Lagrangian plan (None if it breaks a row)."""
    v = plan_vector(mdl, plan)
    return v if _check_point(mdl, v) else None


def _warm_plan(mdl: _Model, p: FacilityProblem) -> Plan | None:
    """``p.warm_start`` completed to a feasible plan, as a Lagrangian :class:`Plan`."""
    v = _warm_vector(p, mdl)
    if v is None or p.warm_start is None:
        return None
    return Plan(p.warm_start, v[mdl.x0:mdl.u0], v[mdl.u0:mdl.r0], float(mdl.c @ v + mdl.offset))


def _lagrange_stage(mdl: _Model, p: FacilityProblem, *, deadline: float | None,
                    mip_gap: float, progress: Progress | None,
                    always: bool) -> LagrangeResult | None:
    """The Lagrangian bound and plan, or None when it does not apply
    (:func:`~netplan.optimize.lagrange.lagrangian_applies`) or, unless ``always``, when
    the model has side constraints (:func:`~netplan.optimize.lagrange.side_constraint`)."""
    why = lagrangian_applies(p)
    side = side_constraint(p)
    if why is None and side is not None and not always:
        why = f"{side} (pass lagrange=True to use it anyway)"
    if why is not None:
        if progress is not None:
            progress(f"Lagrangian bound skipped: {why}")
        return None
    now = time.perf_counter()
    share = _BNB_ROOT_SHARE if bnb_applies(p) else _LAGRANGE_SHARE
    stop = math.inf if deadline is None else now + share * (deadline - now)
    res = lagrangian(p, mdl, deadline=stop, mip_gap=mip_gap, start=_warm_plan(mdl, p))
    if progress is not None:
        ub = res.plan.objective if res.plan is not None else math.inf
        progress(f"Lagrangian bound {res.bound:.10g}, best plan {ub:.10g} "
                 f"({res.iterations} iterations, {res.seconds:.2f} s)")
    return res


def _bnb_stage(mdl: _Model, p: FacilityProblem, res: LagrangeResult, start: FloatArray, *,
               deadline: float | None, mip_gap: float,
               progress: Progress | None) -> tuple[LagrangeResult, FloatArray, str]:
    """The Lagrangian branch and bound over the sites after an unproven Lagrangian stage:
    the stage's result with the better bound and plan, the plan's vector and the name of
    the bound's source."""
    now = time.perf_counter()
    span = _BNB_UNTIMED * res.seconds if deadline is None else deadline - now
    bb = lagrangian_bnb(p, res, deadline=now + _BNB_SHARE * max(span, 0.0), mip_gap=mip_gap)
    plan = res.plan
    if bb.plan is not None and bb.plan is not res.plan:
        v = _plan_vector(mdl, bb.plan)
        if v is not None:
            plan, start = bb.plan, v
    if progress is not None:
        progress(f"Lagrangian branch and bound: bound {bb.bound:.10g} ({bb.nodes} nodes, "
                 f"{bb.open_nodes} open, {bb.seconds:.2f} s)")
    if bb.bound > res.bound:
        return replace(res, bound=bb.bound, plan=plan), start, "lagrangian-bnb"
    return replace(res, plan=plan), start, "lagrangian"


def _fixed_model(mdl: _Model, p: FacilityProblem, res: LagrangeResult) -> tuple[_Model, int]:
    """``mdl`` with the sites the multipliers fix (:func:`site_fixing`) fixed."""
    assert res.plan is not None
    closed, opened = site_fixing(p, res, ub=res.plan.objective,
                                 in_plan=res.plan.site_option >= 0)
    n_fixed = int(closed.sum() + opened.sum())
    if not n_fixed:
        return mdl, 0
    lo, hi = mdl.col_lo.copy(), mdl.col_hi.copy()
    zc = mdl.z0 + np.flatnonzero(closed)
    hi[zc] = 0.0
    hi[mdl.y0 + np.flatnonzero(closed[p.opt_site])] = 0.0
    lo[mdl.z0 + np.flatnonzero(opened)] = 1.0
    return replace(mdl, col_lo=lo, col_hi=hi), n_fixed


def _with_lagrange(raw: _Raw, mdl: _Model, res: LagrangeResult, start: FloatArray | None,
                   *, n_fixed: int, mip_gap: float, source: str = "lagrangian") -> _Raw:
    """HiGHS's result on the (fixed) model combined with the Lagrangian bound and plan.

    With sites fixed, HiGHS's bound holds for the plans that keep the fixing; every other
    plan costs at least the Lagrangian plan's cost, so the whole model's bound is the
    smaller of the two (and at least the Lagrangian bound, named ``source`` when it is
    the better one).
    """
    bound = raw.best_bound
    plan_obj = res.plan.objective if res.plan is not None else math.inf
    if n_fixed and math.isfinite(bound):
        bound = min(bound, plan_obj)
    v = raw.v
    if start is not None and (v is None or float(mdl.c @ v + mdl.offset) > plan_obj):
        v = start
    if not math.isfinite(bound) or res.bound > bound:
        bound = res.bound
    else:
        source = raw.bound_source
    status = raw.status
    if v is not None and _rel_gap(float(mdl.c @ v + mdl.offset), bound) <= mip_gap:
        status = "optimal"
    return replace(raw, v=v, best_bound=bound, bound_source=source, status=status)


def _solve_direct(mdl: _Model, p: FacilityProblem, run: _RunOptions, *,
                  deadline: float | None, lagrange: bool | None,
                  first_plan_by: float | None = None,
                  ) -> tuple[_Raw, LagrangeResult | None, int]:
    """The Lagrangian stage (when it applies), then HiGHS and its neighbourhood search on
    the model with the fixed sites, from the best plan, until ``deadline`` (without any
    plan by then, HiGHS looks for a first one until ``first_plan_by``)."""
    mip_gap, progress, threads = run.mip_gap, run.progress, run.threads
    res = None
    if lagrange is not False:
        res = _lagrange_stage(mdl, p, deadline=deadline, mip_gap=mip_gap, progress=progress,
                              always=lagrange is True)
    start, source = None, "lagrangian"
    if res is not None and res.plan is not None:
        start = _plan_vector(mdl, res.plan)
        if (start is not None and _rel_gap(res.plan.objective, res.bound) > mip_gap
                and bnb_applies(p)):
            res, start, source = _bnb_stage(mdl, p, res, start, deadline=deadline,
                                            mip_gap=mip_gap, progress=progress)
        plan_obj = math.inf if res.plan is None else res.plan.objective
        if start is not None and _rel_gap(plan_obj, res.bound) <= mip_gap:
            raw = _Raw("optimal", start, res.bound, 0.0, f"proven by the {source} bound",
                       bound_source=source)
            return raw, res, 0
    if start is None and rens_applies(mdl, search=run.search, deadline=deadline):
        assert deadline is not None
        rounded = _rens_stage(mdl, p, run, deadline=deadline)
        if rounded is not None:
            return rounded, res, 0
    work, n_fixed = mdl, 0
    if res is not None and start is not None:
        work, n_fixed = _fixed_model(mdl, p, res)
        if progress is not None and n_fixed:
            progress(f"the Lagrangian multipliers fix {n_fixed} sites")
    now = time.perf_counter()
    left = None if deadline is None else max(deadline - now, 0.0)  # 0: no time left
    first_s = None if first_plan_by is None else first_plan_by - now
    raw = _solve_highs(work, p, run=run, time_limit_s=left, start=start,
                       first_plan_s=first_s)
    if raw.search_deadline is not None and deadline is not None:
        raw = _search(work, p, raw, deadline=deadline, mip_gap=mip_gap, threads=threads,
                      progress=progress)
    if res is not None:
        raw = _with_lagrange(raw, mdl, res, start, n_fixed=n_fixed, mip_gap=mip_gap,
                             source=source)
    return raw, res, n_fixed


def _rens_stage(mdl: _Model, p: FacilityProblem, run: _RunOptions, *,
                deadline: float) -> _Raw | None:
    """The LP relaxation's rounded plan (:mod:`~netplan.optimize.rens`), or the start plan
    when that is cheaper or the rounded MIP found no plan in its time, improved by the
    neighbourhood search until ``deadline`` (the sites where the plan and the LP solution
    disagree first), with the LP's bound (a small model goes back to HiGHS, from the
    search's plan, after :func:`_rounds_by`); None when the LP was not solved in time or
    there is neither a rounded nor a start plan (HiGHS then solves as before, in the time
    left)."""
    t0 = time.perf_counter()
    if run.progress is not None:
        run.progress("solving the LP relaxation, then the MIP of its fractional columns")
    got = lp_rounding(mdl, deadline=deadline, mip_gap=run.mip_gap, threads=run.threads)
    # without the LP HiGHS takes over and completes the start itself
    warm = None if got.lp is None else _warm_vector(p, mdl)
    if got.v is not None:
        v, origin = got.v, "the LP relaxation's rounded plan came"
        if warm is not None and float(mdl.c @ warm) < float(mdl.c @ v):
            v, origin = warm, "the start plan, better than the LP's rounded plan, went on"
    elif got.lp is not None and warm is not None:
        # HiGHS would need the same LP again before any plan of its own: the search
        # walks from the start plan towards the LP solution instead
        v, origin = warm, "the rounded MIP found no plan in time; the start plan went on"
    else:
        if run.progress is not None:
            run.progress("no plan from the LP relaxation; HiGHS solves the model")
        return None
    raw = _Raw("time_limit", v, got.bound, time.perf_counter() - t0,
               f"LP relaxation ({got.lp_seconds:.1f} s) and its rounded MIP "
               f"({got.free} of {got.free + got.fixed} integer columns free, "
               f"{got.rens_seconds:.1f} s)", bound_source="lp")
    return _search(mdl, p, raw, deadline=deadline, mip_gap=run.mip_gap, threads=run.threads,
                   progress=run.progress, origin=origin, guide=got.lp,
                   rounds_by=_rounds_by(mdl, raw.seconds))


def _rounds_by(mdl: _Model, lp_stage_s: float) -> float | None:
    """When the search from the LP's rounded plan hands a small model back to HiGHS
    (:data:`_HIGHS_BELOW_INTEGER`, :data:`_ROUNDS_PER_LP_S`); None: never, before the
    deadline."""
    if int(mdl.integer.sum()) >= _HIGHS_BELOW_INTEGER:
        return None
    return time.perf_counter() + max(_ROUNDS_MIN_S, _ROUNDS_PER_LP_S * lp_stage_s)


def _extract(raw: _Raw, mdl: _Model, p: FacilityProblem, *, solver: str, backend: str,
             build_seconds: float) -> Solution:
    assert raw.v is not None
    v, obj = _snap(mdl, raw.v)
    q = p.n_opts
    ysel = np.flatnonzero(v[mdl.y0:mdl.y0 + q] > 0.5)
    site_option = np.full(p.n_sites, -1, dtype=np.int64)
    site_option[p.opt_site[ysel]] = ysel
    relocated = v[mdl.r0:mdl.v0] > 0.5
    x = v[mdl.x0:mdl.u0]
    keep = np.flatnonzero(x > _TOL)
    cost = p.cost
    zi = _entry_zones(p)
    u = v[mdl.u0:mdl.r0].copy()
    u[u < _TOL] = 0.0
    integer_model = bool(mdl.integer.any())
    bound = raw.best_bound if integer_model else obj
    if raw.status == "optimal":
        gap = _rel_gap(obj, bound) if math.isfinite(bound) else 0.0
        if not math.isfinite(bound):
            bound = obj
        status = "optimal" if gap == 0.0 else "gap_limit"
        if gap == 0.0:
            bound = min(bound, obj)
    else:
        gap = _rel_gap(obj, bound)
        status = raw.status
    return Solution(
        status=status, objective=obj, best_bound=float(bound), gap=float(gap),
        seconds=raw.seconds, build_seconds=build_seconds, solver=solver, backend=backend,
        site_option=_frozen(site_option), relocated=_frozen(relocated),
        assign_zone=_frozen(zi[keep]), assign_site=_frozen(cost.indices[keep].astype(np.int64)),
        assign_share=_frozen(x[keep].copy()), unserved_share=_frozen(u),
        n_rows=mdl.n_rows, n_cols=mdl.n_cols, n_nonzeros=int(mdl.a.nnz),
        search_seconds=raw.search_seconds, search_gain=raw.search_gain,
        bound_source=raw.bound_source,
    )


# long: the one entry point; its numpy docstring documents every option (the body is short)
def solve(  # noqa: PLR0913 - the public entry point: one keyword option per solver setting
    problem: FacilityProblem,
    *,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
    msg: bool = False,
    search: bool = True,
    lagrange: bool | None = None,
    deadline: float | None = None,
) -> Solution:
    """Solve a :class:`FacilityProblem` to optimality (within ``mip_gap``) or a time limit.

    Parameters
    ----------
    problem
        The model (see :mod:`netplan.optimize.build` for the formulation).
    solver
        ``"highs"`` (default) or, with ``backend="pulp"``, ``"cbc"`` or any PuLP solver name
        (``pulp.listSolvers(onlyAvailable=True)``).
    backend
        ``"direct"``: the matrix is built with numpy/scipy and passed to HiGHS in one call
        (fast, O(nnz) memory). ``"pulp"``: the same model through PuLP's modelling layer.
    time_limit_s
        Wall-clock limit for the whole solve (checks, model building, bound, heuristics and
        solver); when reached, the best plan found is returned with status
        ``"time_limit"`` and its gap. HiGHS gets what is left less the time it may run on
        past its limit in the phases it cannot interrupt (presolve, the root LP; more the
        larger the model); when nothing is left, the start plan is returned unproven.
    mip_gap
        Relative optimality gap at which the solver stops.
    threads
        Solver threads (None = solver default). Results are deterministic for a given value.
    progress
        Called with short status lines (model size, improving solutions, the end).
    msg
        Show the solver's own log.
    search
        HiGHS direct only, with a time limit: when HiGHS has used a quarter of the time and
        holds a plan of its own within 3x ``mip_gap`` (or two thirds of the time and any
        plan of its own), stop it and improve its plan by a
        large-neighbourhood search: one compact group of at most 40 sites (and 800 zones)
        at a time is re-optimised exactly with everything else fixed, until the gap to
        HiGHS's bound reaches ``mip_gap`` or time runs out (then HiGHS resumes if the
        neighbourhoods are exhausted). On large models HiGHS spends most of the time in
        root cut rounds while its best plan stalls; the search finds better plans sooner.
        The bound is always a proven one (HiGHS's or the Lagrangian's).
    lagrange
        HiGHS direct only: first maximise the Lagrangian bound of the assignment rows
        (:mod:`~netplan.optimize.lagrange`), build plans from its multipliers, fix the
        sites no cheaper plan can change, and start HiGHS from the best plan. On plain
        capacitated models (multiple sourcing, every zone served, no exact site count)
        whose plan the bound does not prove, a Lagrangian branch and bound over the sites
        (:mod:`~netplan.optimize.lagrange_bnb`) runs first, on 60 % of the time left
        (the bound itself then gets 10 % of the time instead of 40 %). When the plan is
        proven within ``mip_gap`` HiGHS does not run. The reported bound is the
        better of the two (``Solution.bound_source``). None (default): only for models
        whose constraints beyond the assignment are per-site and an exact site count
        (the classic problems); with budgets, limits or relocations its site problem is
        a MIP of its own and the bound is too slow to pay (measured on the Beijing plan
        model, ``bench/README.md``). True: always; False: never.
    deadline
        ``time.perf_counter()`` time by which to return, when it comes before the end of
        ``time_limit_s`` (a caller's own deadline, e.g. a whole command's). With no plan
        at hand then (no start, no Lagrangian plan), HiGHS runs on until its first plan
        or the end of ``time_limit_s``.

    Returns
    -------
    Solution

    Raises
    ------
    InfeasibleError
        The model has no solution; ``family`` names the constraint family whose relaxation
        restores feasibility (checked before solving for the obvious cases).
    SolverError
        No feasible plan was found within the time limit, the model is unbounded, or the
        solver failed.
    """
    check_settings(solver=solver, backend=backend, mip_gap=mip_gap, time_limit_s=time_limit_s)
    t0 = time.perf_counter()
    limit_end = None if time_limit_s is None else t0 + time_limit_s
    if limit_end is not None:
        deadline = limit_end if deadline is None else min(deadline, limit_end)
    _precheck(problem)
    mdl = _build(problem)
    build = time.perf_counter() - t0
    if progress is not None:
        progress(f"model: {mdl.n_rows:,} rows, {mdl.n_cols:,} columns "
                 f"({int(mdl.integer.sum()):,} integer), {int(mdl.a.nnz):,} nonzeros; "
                 f"built in {build:.2f} s")
    res: LagrangeResult | None = None
    n_fixed = 0
    if backend == "direct":
        run = _RunOptions(mip_gap=mip_gap, threads=threads, msg=msg, progress=progress,
                          search=search)
        raw, res, n_fixed = _solve_direct(mdl, problem, run, deadline=deadline,
                                          lagrange=lagrange, first_plan_by=limit_end)
        raw.seconds = time.perf_counter() - t0 - build
        solver_name = "highs"
    else:
        pulp_s = None if deadline is None else max(deadline - time.perf_counter(), 0.01)
        raw, extra = _solve_pulp(mdl, problem, solver=solver, time_limit_s=pulp_s,
                                 mip_gap=mip_gap, threads=threads, msg=msg, progress=progress)
        build += extra
        solver_name = solver.lower()
    _raise_without_plan(raw, mdl, problem, time_limit_s=time_limit_s)
    sol = _extract(raw, mdl, problem, solver=solver_name, backend=backend, build_seconds=build)
    if res is not None:
        sol = replace(sol, lagrangian_bound=res.bound, lagrangian_seconds=res.seconds,
                      fixed_sites=n_fixed)
    if progress is not None:
        progress(f"{sol.status}: objective {sol.objective:.10g}, bound {sol.best_bound:.10g}, "
                 f"gap {sol.gap:.3%}, {sol.seconds:.2f} s")
    return sol


def check_settings(*, solver: str = "highs", backend: str = "direct", mip_gap: float = 1e-4,
                   time_limit_s: float | None = None) -> None:
    """Refuse solver settings :func:`solve` cannot honour, saying what would work.

    The CLI calls this too, before it loads any data, so an option is checked in one place.

    Parameters
    ----------
    solver, backend, mip_gap, time_limit_s
        As in :func:`solve`.

    Raises
    ------
    SettingError
        Naming the setting (``backend``, ``solver``, ``mip_gap`` or ``time_limit_s``).
    """
    if backend not in ("direct", "pulp"):
        raise SettingError("backend",
                           f"unknown backend {backend!r}; use 'direct' (HiGHS) or 'pulp'")
    if backend == "direct" and solver.lower() != "highs":
        raise SettingError(
            "solver", f"backend 'direct' drives HiGHS only, got solver={solver!r}; use "
            "backend='pulp' for CBC or another PuLP solver")
    if not (math.isfinite(mip_gap) and 0 <= mip_gap < 1):
        raise SettingError("mip_gap",
                           f"{mip_gap:g}: give a relative gap in [0, 1), e.g. 0.01 for 1%")
    if time_limit_s is not None and not time_limit_s > 0:
        raise SettingError("time_limit_s",
                           f"{time_limit_s:g} s: give a positive number of seconds or None")


def _raise_without_plan(raw: _Raw, mdl: _Model, p: FacilityProblem, *,
                        time_limit_s: float | None) -> None:
    """Raise the error that says why the solver returned no plan (when it did not)."""
    if raw.status == "infeasible":
        raise _diagnose(mdl, p, time_limit_s=time_limit_s or 60.0)
    if raw.status == "unbounded":
        raise SolverError("the model is unbounded (a cost column can decrease without limit);"
                          " check for negative costs on unbounded variables.")
    if raw.v is None:
        if raw.status == "time_limit":
            raise SolverError(
                f"no feasible plan was found within the time limit of {time_limit_s} s; give "
                "the solver a longer time_limit_s (or a warm_start, e.g. the current network).")
        raise SolverError(f"the solver stopped without a usable solution ({raw.message}); "
                          "rerun with msg=True to see its log.")
