"""HiGHS driven directly: the model handed over in one call, options, starts and status.

Everything here talks to ``highspy`` (imported lazily: importing netplan does not load the
solver). :func:`_solve_highs` runs one solve; its time limit is a wall-clock deadline that
counts passing the model and keeps a reserve for the phases HiGHS cannot interrupt
(:func:`uninterruptible_s`). A :class:`_SearchSwitch` may stop HiGHS early so that the
neighbourhood search (:mod:`netplan.optimize.search`) can improve HiGHS's plan in the time
left. Every run goes through :func:`_run`, which Ctrl-C stops within moments.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from netplan._errors import SolverError
from netplan._types import FloatArray, IntArray
from netplan.optimize._base import _FEAS_TOL, _SEED, _TOL, Progress, _empty_i
from netplan.optimize.build import FAMILIES, _Model
from netplan.optimize.problem import FacilityProblem, _entry_zones

logger = logging.getLogger(__name__)

_THREADS: int | None = None
_BANNER_LOCK = threading.Lock()
_BANNER_DONE = False


def _new_highs() -> Any:
    """A fresh ``highspy.Highs``; the once-per-process banner is kept off stdout."""
    global _BANNER_DONE
    import highspy

    highs_cls: Any = highspy.Highs
    with _BANNER_LOCK:
        if _BANNER_DONE:
            return highs_cls()
        _BANNER_DONE = True
        try:
            sys.stdout.flush()
            saved = os.dup(1)
        except (OSError, ValueError):  # pragma: no cover - no real stdout
            return highs_cls()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highs_cls()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        return h


START_DROPPED: Final = "MIP start dropped"
"""How the progress note of a MIP start that cannot be completed to a feasible plan begins."""

_INTERRUPT_EVENTS: Final = ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt")
"""HiGHS's callbacks that may stop a run: simplex, interior point, branch and bound."""
_STOP_WAIT_S: Final = 1.0
"""After Ctrl-C, how long to wait for HiGHS to stop before leaving it to stop on its own."""
_STOPPING: list[threading.Event] = []
"""Runs that Ctrl-C asked to stop and that had not stopped when :func:`_run` returned."""


def _run(h: Any) -> None:
    """``h.run()``, which Ctrl-C ends within moments with a KeyboardInterrupt.

    HiGHS runs in a thread of its own while this (main) thread waits, so that Ctrl-C
    raises KeyboardInterrupt here at once (run on the main thread, HiGHS would see it only
    in a callback, as a solve error). Ctrl-C raises a flag that HiGHS's interrupt callbacks
    read; HiGHS stops at its next check. The root node of a large model checks rarely, so
    after :data:`_STOP_WAIT_S` the KeyboardInterrupt goes on and HiGHS stops on its own
    (:func:`solver_stopping`). Without Ctrl-C the run is the same as ``h.run()``. Off the
    main thread (a Dask task), where no KeyboardInterrupt arrives, a plain ``h.run()``.
    """
    if threading.current_thread() is not threading.main_thread():
        h.run()
        return
    stop, done = threading.Event(), threading.Event()

    def interrupt(e: Any) -> None:
        if stop.is_set():
            e.data_in.user_interrupt = True

    events = [getattr(h, name) for name in _INTERRUPT_EVENTS]
    for ev in events:
        ev.subscribe(interrupt)
    failed: list[BaseException] = []
    # waited for with an Event: Thread.join interrupted by Ctrl-C marks a running thread
    # as stopped (Python 3.11)
    threading.Thread(target=_run_in_thread, args=(h, done, failed),
                     name="netplan-highs").start()
    try:
        done.wait()
    except BaseException:  # Ctrl-C (or any other asynchronous exception) while HiGHS runs
        stop.set()
        try:
            done.wait(_STOP_WAIT_S)
        finally:
            if not done.is_set():
                _STOPPING.append(done)
        raise
    for ev in events:
        ev.unsubscribe(interrupt)
    if failed:
        raise failed[0]


def _run_in_thread(h: Any, done: threading.Event, failed: list[BaseException]) -> None:
    import highspy

    try:
        h.run()
    except BaseException as exc:  # handed to the waiting thread
        failed.append(exc)
    finally:
        # this thread's scheduler: its workers must not outlive it
        highspy.Highs.resetThreadScheduler(True)
        done.set()


def solver_stopping() -> bool:
    """Whether a HiGHS run that Ctrl-C interrupted is still stopping in its thread.

    Python waits for that thread when it exits; a command line that must end at once
    leaves with ``os._exit`` instead (no output of the run is pending by then).

    Returns
    -------
    bool
        True while such a run is still going.
    """
    _STOPPING[:] = [done for done in _STOPPING if not done.is_set()]
    return bool(_STOPPING)


def _pass_model(h: Any, mdl: _Model, *, cost: FloatArray | None = None,
                integer: bool = True) -> None:
    pass_arrays(h, mdl.a, mdl.c if cost is None else cost,
                offset=mdl.offset if cost is None else 0.0, col_lo=mdl.col_lo,
                col_hi=mdl.col_hi, row_lo=mdl.row_lo, row_hi=mdl.row_hi,
                integer=mdl.integer if integer else None)


def pass_arrays(h: Any, a: Any, c: FloatArray, *, offset: float, col_lo: FloatArray,  # noqa: PLR0913
                col_hi: FloatArray, row_lo: FloatArray, row_hi: FloatArray,
                integer: Any = None) -> None:
    """Pass ``min c x + offset, row_lo <= a x <= row_hi, col_lo <= x <= col_hi`` (``a`` a
    CSC matrix; ``integer``: which columns are integer, None = none) to HiGHS ``h``.

    Raises SolverError when HiGHS rejects it (a bug of the model's builder).
    """
    import highspy

    n_rows, n_cols = int(a.shape[0]), int(a.shape[1])
    integrality = None
    if integer is not None and np.asarray(integer).any():
        integrality = np.asarray(integer).astype(np.int32)
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = c
    lp.offset_ = offset
    lp.col_lower_ = col_lo
    lp.col_upper_ = col_hi
    lp.row_lower_ = row_lo
    lp.row_upper_ = row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    status = h.passModel(lp)
    if integrality is not None and status != highspy.HighsStatus.kError:
        # by index, not one Python object per column (seconds on 10^6 columns)
        idx = np.flatnonzero(integrality).astype(np.int32)
        status = h.changeColsIntegrality(idx.size, idx, integrality[idx])
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (passModel returned an error); this is a "
                          "bug in netplan's model builder, please report it with --debug.")


class _Watchdog:
    """HiGHS interrupt callback: stop the run at a wall-clock deadline.

    HiGHS checks its own ``time_limit`` only between phases, and a long root LP or cut
    round can overrun it by seconds; the interrupt callbacks fire inside simplex, interior
    point and branch and bound, so the run stops within moments of ``deadline``
    (``time.perf_counter()`` time). ``fired`` says it stopped the run.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def __call__(self, e: Any) -> None:
        if time.perf_counter() >= self.deadline:
            self.fired = True
            e.data_in.user_interrupt = True


_RESERVE_S_PER_NNZ: Final = 2e-6
"""Seconds per nonzero of the model kept back from HiGHS's time limit: presolve and the
root LP of a large model check the time only between long steps, so HiGHS overshoots its
limit by a time that grows with the model (seconds on the 300,000-row model of
``tests/test_lagrangian.py`` on a loaded machine)."""
_JUMP_S_PER_NNZ: Final = 2e-5
"""HiGHS's feasibility jump heuristic, run before the root LP, never checks the time; on a
model with a reserve (:func:`uninterruptible_s` > 0) it runs only when HiGHS has at least
this many seconds per nonzero of the model."""
_OVERSHOOT_S: Final = 1.0
"""Of the 2 s by which a run may pass its time limit, what HiGHS's uninterruptible phases
may use: only the predicted overshoot beyond it is kept back, so a model whose overshoot
fits (the Beijing plan model, 320,000 nonzeros: 0.64 s) runs with its full limit and the
same options as without a deadline, and its plans do not move."""


def uninterruptible_s(nnz: int) -> float:
    """Seconds to keep back from HiGHS's time limit on a model with ``nnz`` nonzeros: its
    predicted overshoot beyond :data:`_OVERSHOOT_S` (what :func:`_arm_deadline` keeps
    back).

    Parameters
    ----------
    nnz
        Nonzeros of the constraint matrix.

    Returns
    -------
    float
    """
    return max(_RESERVE_S_PER_NNZ * float(nnz) - _OVERSHOOT_S, 0.0)


def _arm_deadline(h: Any, nnz: int, deadline: float, watchdog: _Watchdog | None) -> float:
    """Give HiGHS, just before it runs, the time left until ``deadline`` less what it may
    overshoot on a model of ``nnz`` nonzeros (:func:`uninterruptible_s`); returns that time
    (<= 0: none left).

    Called after the model and the start are passed, so that their time is counted. Too
    short a time for the feasibility jump heuristic switches it off.
    """
    reserve = uninterruptible_s(nnz)
    left = deadline - time.perf_counter() - reserve
    h.setOptionValue("time_limit", max(left, 1e-3))
    if reserve > 0 and left < _JUMP_S_PER_NNZ * nnz:
        h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    if watchdog is not None:
        watchdog.deadline = time.perf_counter() + max(left, 0.0)
    return left


def _set_common(h: Any, *, msg: bool, time_limit_s: float | None, mip_gap: float,
                threads: int | None) -> _Watchdog | None:
    """Options every run shares; with a time limit, a :class:`_Watchdog` that enforces it
    as a wall-clock bound from now (returned, so that a caller can tell it fired)."""
    h.setOptionValue("output_flag", bool(msg))
    h.setOptionValue("random_seed", _SEED)
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    watchdog: _Watchdog | None = None
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
        watchdog = _Watchdog(time.perf_counter() + float(time_limit_s))
        for name in _INTERRUPT_EVENTS:
            getattr(h, name).subscribe(watchdog)
    use_threads(h, threads)
    return watchdog


def use_threads(h: Any, threads: int | None) -> None:
    """Run ``h`` on ``threads`` solver threads (None: HiGHS's default), resizing HiGHS's
    process-wide scheduler when an earlier run sized it otherwise (HiGHS refuses to run an
    instance whose ``threads`` differs from the scheduler's)."""
    global _THREADS
    if threads is None and _THREADS not in (None, 0):
        threads = 0  # an earlier solve pinned the scheduler: back to HiGHS' default (auto)
    if threads is not None:
        import highspy

        h.setOptionValue("threads", int(threads))
        if _THREADS != int(threads):
            # HiGHS sizes one process-wide scheduler at its first run; resize it on request
            highspy.Highs.resetGlobalScheduler(True)
            _THREADS = int(threads)


def _proven_bound(obj: float, reported: float, gap: float,
                  mip_gap: float = math.inf) -> float:
    """The bound HiGHS proved when it stopped as optimal within its gap.

    When presolve empties a model HiGHS has reported ``mip_dual_bound`` without the
    objective offset (its own gap and log said 0 % on tiny districts of the nation
    benchmark), and a holds-loop round started from the last plan was seen to stop at once
    as optimal with a reported ``mip_gap`` of 88 %, far above the target it ran with. An
    optimal stop proves objective - gap * |objective| with ``gap`` at most the
    ``mip_rel_gap`` HiGHS ran with (``mip_gap``: it stops as optimal only within it; the
    offset of a holds-loop round, the price of closures, can be most of the objective);
    keep the larger of that and the reported bound.
    """
    if not (math.isfinite(obj) and math.isfinite(gap)) or gap < 0:
        return reported
    implied = obj - min(gap, mip_gap) * max(1.0, abs(obj))
    return implied if not math.isfinite(reported) or implied > reported else reported


def _check_point(mdl: _Model, v: FloatArray, tol: float = _FEAS_TOL) -> bool:
    if v.shape != (mdl.n_cols,) or not np.isfinite(v).all():
        return False
    if (v < mdl.col_lo - tol).any() or (v > mdl.col_hi + tol).any():
        return False
    if mdl.integer.any():
        vi = v[mdl.integer]
        if (np.abs(vi - np.round(vi)) > tol).any():
            return False
    act = mdl.a @ v
    # tolerance relative to each row's largest coefficient (capacity rows carry demands)
    scale = 1.0 + np.asarray(abs(mdl.a).max(axis=1).toarray(), dtype=np.float64).ravel()
    return bool(((act >= mdl.row_lo - tol * scale) & (act <= mdl.row_hi + tol * scale)).all())


def _warm_vector(p: FacilityProblem, mdl: _Model,
                 progress: Progress | None = None) -> FloatArray | None:
    """Complete ``p.warm_start`` (options per site) to a full feasible column vector.

    Greedy in rounds (:func:`_greedy_assign`); what is left is unserved; every relocation
    the start allows is used (:func:`_warm_moves`), as the plan it came from did. Returns
    None when the result violates a constraint, saying which to ``progress`` (or the log).
    """
    ws = p.warm_start
    if ws is None:
        return None
    m = p.n_sites
    v = np.zeros(mdl.n_cols)
    chosen = np.flatnonzero(ws >= 0)
    v[mdl.y0 + ws[chosen]] = 1.0
    z = np.zeros(m)
    z[chosen] = 1.0
    v[mdl.z0:mdl.x0] = z
    cap_left = np.zeros(m)
    cap_left[chosen] = p.opt_capacity[ws[chosen]]
    x, left = _greedy_assign(p, z, cap_left)
    v[mdl.x0:mdl.u0] = x
    v[mdl.u0:mdl.r0] = np.clip(left, 0.0, 1.0)
    v[mdl.r0:mdl.v0] = _warm_moves(p, ws)
    if mdl.v0 < mdl.n_cols:
        # overload columns: each appears in one balance row; set them to the row's excess
        act = mdl.a @ v
        ov_cols = np.arange(mdl.v0, mdl.n_cols)
        rows_b = mdl.a[:, ov_cols].indices
        v[ov_cols] = np.clip(act[rows_b] - mdl.row_hi[rows_b], 0.0, None)
    if not _check_point(mdl, v):
        note = f"{START_DROPPED}: it cannot be completed to a feasible plan ({_broken(mdl, v)})"
        if progress is not None:
            progress(note)
        logger.info(note)
        return None
    return v


def _warm_moves(p: FacilityProblem, ws: IntArray) -> FloatArray:
    """The relocations of a start: ``p.warm_moves`` where given (those the start's sites
    allow), else every move they allow (outlet closed, target open in the move's option),
    each outlet and target in one move at most, largest saving first.

    A move lowers the counts of openings and closures and, by its savings, the cost and the
    one-off spend: a plan that relocated needs its moves back to meet its budget and limits.
    """
    r = np.zeros(p.reloc_from.size)
    if not r.size:
        return r
    ok = (ws[p.reloc_from] < 0) & (ws[p.reloc_to] >= 0)
    if p.reloc_to_option is not None:
        ok &= ws[p.reloc_to] == p.reloc_to_option
    if p.warm_moves is not None:
        return (ok & p.warm_moves).astype(np.float64)
    used_from: set[int] = set()
    used_to: set[int] = set()
    for k in np.flatnonzero(ok)[np.argsort(-p.reloc_saving[ok], kind="stable")]:
        a, b = int(p.reloc_from[k]), int(p.reloc_to[k])
        if a not in used_from and b not in used_to:
            r[k] = 1.0
            used_from.add(a)
            used_to.add(b)
    return r


def _broken(mdl: _Model, v: FloatArray, tol: float = _FEAS_TOL) -> str:
    """Which constraint family a column vector breaks, in :data:`FAMILIES` words."""
    out = np.flatnonzero((v < mdl.col_lo - tol) | (v > mdl.col_hi + tol))
    if out.size:
        return FAMILIES["unserved" if (out >= mdl.u0).all() else "site_status"]
    act = mdl.a @ v
    scale = 1.0 + np.asarray(abs(mdl.a).max(axis=1).toarray(), dtype=np.float64).ravel()
    bad = (act < mdl.row_lo - tol * scale) | (act > mdl.row_hi + tol * scale)
    families = sorted({s.family for s in mdl.side if bad[s.row]})
    if families:
        return "; ".join(FAMILIES.get(f, f) for f in families)
    return "the capacity or assignment rows"


def _greedy_assign(
    p: FacilityProblem, z: FloatArray, cap_left: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Shares x of every cost entry and the share left of every zone, given open sites z.

    In round r every zone with demand left turns to its r-th cheapest open site, and each
    site takes the zones that reach it in that round cheapest first until its capacity
    (``cap_left``, used up in place) is used (whole zones only with single sourcing).
    """
    n, m = p.n_zones, p.n_sites
    cost = p.cost
    zi = _entry_zones(p)
    sj = cost.indices.astype(np.int64)
    d = p.demand
    # rank of every entry among its zone's open sites, cheapest first
    ok = np.flatnonzero(z[sj] > 0)
    order = ok[np.lexsort((cost.data[ok], zi[ok]))]
    zo = zi[order]
    start = np.r_[0, np.flatnonzero(zo[1:] != zo[:-1]) + 1] if order.size else _empty_i()
    rank = np.arange(order.size) - np.repeat(start, np.diff(np.r_[start, order.size]))
    x = np.zeros(cost.nnz)
    left = np.ones(n)
    for r in range(int(rank.max()) + 1 if rank.size else 0):
        e = order[rank == r]
        e = e[left[zi[e]] > _TOL]
        if not e.size:
            continue
        e = e[np.lexsort((cost.data[e], sj[e]))]  # by site, cheapest first
        site, zone = sj[e], zi[e]
        want = left[zone] * d[zone]
        cs = np.cumsum(want)
        first = np.r_[True, site[1:] != site[:-1]]
        base = np.maximum.accumulate(np.where(first, cs - want, 0.0))
        before = cs - want - base
        room = cap_left[site]
        if p.single_source:
            take = np.where((before + want <= room * (1 + 1e-12)) | (want == 0), 1.0, 0.0)
            # a skipped zone still counted in `before`: conservative, stays feasible
            share = take * left[zone]
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.clip((room - before) / want, 0.0, 1.0)
            frac = np.where(want > 0, frac, 1.0)
            share = frac * left[zone]
        x[e] += share
        left[zone] -= share
        cap_left -= np.bincount(site, weights=share * d[zone], minlength=m)
    return x, left


@dataclass
class _Raw:
    """What a backend returns: a status, the column values and the solver's bound.

    ``search_deadline`` is set when HiGHS stopped early to hand its plan over to the
    neighbourhood search, which may run until then (``time.perf_counter()`` time).
    ``bound_source`` names what proved ``best_bound`` (as :attr:`Solution.bound_source`).
    """

    status: str
    v: FloatArray | None
    best_bound: float
    seconds: float
    message: str = ""
    search_seconds: float = 0.0
    search_gain: float = 0.0
    search_deadline: float | None = None
    bound_source: str = "highs"


_SEARCH_LATE: Final = 2 / 3
"""Share of the time limit after which HiGHS hands over any plan of its own."""


class _SearchSwitch:
    """HiGHS interrupt callback: hand over to the neighbourhood search when HiGHS is slow.

    On large models HiGHS spends long in root cut rounds that barely move the bound while
    its incumbent stays put. It is stopped once it has a plan of its own (better than the
    warm start) and either a quarter of the time is gone with that plan within 3x the target
    gap, or two thirds of the time are gone. The late point is a compromise: a model whose
    first plan of HiGHS's own is poor gains from an earlier hand-over, while a model whose
    good plan comes late (Beijing's) needs HiGHS to run long enough to find it (the runs
    behind the choice are in ``bench/README.md``). Small models finish long before either
    point.
    """

    def __init__(self, time_limit_s: float, mip_gap: float, warm_obj: float) -> None:
        self.limit = float(time_limit_s)
        self.gap = float(mip_gap)
        self.warm = float(warm_obj)
        self.seen = math.inf  # HiGHS's first incumbent: the start, as HiGHS values it
        self.fired = False

    def __call__(self, e: Any) -> None:
        out = e.data_out
        inc = float(out.mip_primal_bound)
        if not math.isfinite(inc):
            return
        if math.isfinite(self.warm) and not math.isfinite(self.seen):
            # HiGHS values the start in its presolved space, where it can be cheaper
            # than the same plan in ours (4.48e9 against 4.69e9 on a tightened Beijing
            # model): only a plan below that value is one of HiGHS's own
            self.seen = inc
        ref = min(self.warm, self.seen)
        if inc >= ref - _TOL * max(1.0, abs(ref)):
            return
        t = float(out.running_time)
        gap = float(out.mip_gap)
        if (t >= 0.25 * self.limit and gap <= 3 * self.gap) or t >= _SEARCH_LATE * self.limit:
            self.fired = True
            e.data_in.user_interrupt = True


def _status_name(ms: Any) -> str:
    """netplan's name for a HiGHS model status."""
    import highspy

    S = highspy.HighsModelStatus
    if ms == S.kOptimal:
        return "optimal"
    if ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return "infeasible"
    if ms == S.kUnbounded:
        return "unbounded"
    if ms == S.kTimeLimit:
        return "time_limit"
    if ms in (S.kInterrupt, S.kIterationLimit, S.kSolutionLimit, S.kObjectiveBound,
              S.kObjectiveTarget):
        return "feasible"
    return "error"


def _subscribe_progress(h: Any, progress: Progress) -> None:
    def _cb(e: Any) -> None:
        out = e.data_out
        progress(
            f"incumbent {out.objective_function_value:.8g}, bound {out.mip_dual_bound:.8g},"
            f" gap {out.mip_gap:.3%} after {out.running_time:.1f} s")

    h.cbMipImprovingSolution.subscribe(_cb)


@dataclass(frozen=True)
class _RunOptions:
    """The settings of a solve that every stage passes on (as in :func:`solve`)."""

    mip_gap: float
    threads: int | None
    msg: bool = False
    progress: Progress | None = None
    search: bool = True


def _set_start(h: Any, mdl: _Model, warm: FloatArray | None) -> float:
    """Hand HiGHS a complete feasible column vector as its MIP start; its objective
    (``inf`` without a start or when HiGHS refused it)."""
    if warm is None:
        return math.inf
    import highspy

    sol = highspy.HighsSolution()
    sol.col_value = warm.tolist()
    sol.value_valid = True
    if h.setSolution(sol) == highspy.HighsStatus.kError:  # pragma: no cover - HiGHS's own
        logger.warning("HiGHS refused the MIP start; solving without it")
        return math.inf
    obj = float(mdl.c @ warm + mdl.offset)
    logger.debug("MIP start passed to HiGHS (objective %.6g)", obj)
    return obj


def _solve_highs(mdl: _Model, p: FacilityProblem, *, run: _RunOptions,
                 time_limit_s: float | None, start: FloatArray | None = None,
                 first_plan_s: float | None = None) -> _Raw:
    """Solve ``mdl`` with HiGHS, from ``start`` (a feasible column vector) if given, else
    from ``p.warm_start`` when it completes to a feasible plan.

    HiGHS gets ``time_limit_s`` less what it may overshoot (:func:`_arm_deadline`); when
    that leaves nothing, the start plan is returned, or without one HiGHS looks for a
    first plan for at most ``first_plan_s`` (none: no plan).

    With ``search`` and a time limit, HiGHS may stop early (:class:`_SearchSwitch`); the
    result then carries the ``search_deadline`` the neighbourhood search has to meet.
    """
    import highspy

    mip_gap, progress = run.mip_gap, run.progress
    t_in = time.perf_counter()
    deadline = None if time_limit_s is None else t_in + time_limit_s
    h = _new_highs()
    watchdog = _set_common(h, msg=run.msg, time_limit_s=time_limit_s, mip_gap=mip_gap,
                           threads=run.threads)
    _pass_model(h, mdl)
    warm = _warm_vector(p, mdl, progress) if start is None else start
    warm_obj = _set_start(h, mdl, warm)
    if progress is not None:
        _subscribe_progress(h, progress)
    highs_s = time_limit_s
    if deadline is not None:
        highs_s = _arm_deadline(h, int(mdl.a.nnz), deadline, watchdog)
        if highs_s <= 0 and (warm is not None or not first_plan_s or first_plan_s <= 0):
            return _no_time_left(mdl, warm, t_in, progress)
        if highs_s <= 0:
            highs_s = _first_plan_only(h, first_plan_s or 0.0, watchdog, progress)
    switch: _SearchSwitch | None = None
    if run.search and highs_s is not None and mdl.integer.any():
        switch = _SearchSwitch(highs_s, mip_gap, warm_obj)
        h.cbMipInterrupt.subscribe(switch)
    t0 = time.perf_counter()
    _run(h)
    secs = time.perf_counter() - t0
    ms = h.getModelStatus()
    info = h.getInfo()
    has_sol = int(info.primal_solution_status) == 2
    v = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
    bound = float(info.mip_dual_bound) if mdl.integer.any() else math.nan
    st = _status_name(ms)
    if st == "feasible" and ((watchdog is not None and watchdog.fired)
                             or ms == highspy.HighsModelStatus.kSolutionLimit):
        st = "time_limit"  # stopped by the clock (or at the first plan, out of time)
    if st == "optimal" and v is not None:
        bound = _proven_bound(float(info.objective_function_value), bound,
                              float(info.mip_gap), mip_gap)
    raw = _Raw(st, v, bound, secs, h.modelStatusToString(ms))
    if switch is not None and switch.fired and v is not None and deadline is not None:
        raw.search_deadline = deadline
    return raw


def _first_plan_only(h: Any, seconds: float, watchdog: _Watchdog | None,
                    progress: Progress | None) -> float:
    """Out of time without a plan: let HiGHS run to its first plan, for ``seconds`` at
    most; returns them."""
    note = f"no time left and no plan: HiGHS looks for a first one (at most {seconds:.1f} s)"
    if progress is not None:
        progress(note)
    logger.info(note)
    h.setOptionValue("mip_max_improving_sols", 1)
    h.setOptionValue("mip_heuristic_run_feasibility_jump", True)  # a quick first plan
    h.setOptionValue("time_limit", float(seconds))
    if watchdog is not None:
        watchdog.deadline = time.perf_counter() + seconds
    return seconds


def _no_time_left(mdl: _Model, warm: FloatArray | None, t_in: float,
                  progress: Progress | None) -> _Raw:
    """What a solve returns when the time left would not take HiGHS past the phases it
    cannot interrupt: the start plan, if any, unproven (no bound)."""
    note = "no time left for HiGHS before the deadline: " + (
        "the start plan is kept" if warm is not None else "no plan")
    if progress is not None:
        progress(note)
    logger.info(note)
    bound = -math.inf if mdl.integer.any() else math.nan
    return _Raw("time_limit", warm, bound, time.perf_counter() - t_in, note)
