"""Scenario sweeps: one plan per point of a grid over scalar scenario keys, run on Dask.

A sweep varies one or more scalar keys of a scenario (any key of
:data:`netplan.model.scenario_keys.SPECS`, e.g. ``planning.budget_cny``) over a grid
(``start:stop:count``) or a list of values; the points are the Cartesian product of the
axes, in the order given. Every point is checked (the key names against the table, with a
suggestion for a misspelt one; the values by :class:`~netplan.model.scenario.Scenario`
itself) before anything is solved, and then planned by
:func:`netplan.planning.plan.make_plan` as its own task: on Dask (a local cluster or a
running scheduler, set up as :mod:`netplan.planning.dask_runner` does it; a task lost with
its worker is retried) or one by one in this process.

The results do not depend on where or in which order the points ran: they are returned in
point order, and :func:`summary_frame` reads every figure from each plan's ``kpis.json``
content. The service figures are the ``behaviour`` block's (the scenario's behaviour rule,
named in the ``rule`` column); the cost of a point is the bank's yearly cost after the
plan, ``opex_after + one-off spend / amortisation_years``. A point is *efficient* when no
other point is at most as costly and at least as good on a service figure, and better on
one of them.

Warm starts (``warm=True``, ``netplan sweep --warm``; off by default): each point starts its
solver from a neighbour's plan (``start`` of :func:`~netplan.planning.plan.make_plan`), the
point before it on the first axis (the other keys equal). They are off by default because
they were measured to save no solver time, on a district (1.03x CPU to the 1% gap) or on the
whole city (``bench/bench_warm.py``), while their chains make the points depend on each
other (a failed point costs its neighbour the start, and the chains fix the order). The
points of the first axis form chains of :data:`CHAIN_LENGTH`, each chain's first point
starting from the current network, so that the chains run in parallel while the points of
one chain wait for each other; the chains are fixed by the points alone, so the
plans do not depend on the workers or the executor. On Dask the neighbour's task is an
argument of the point's task (a neighbour that fails, or whose start the model cannot
complete, leaves the point to start from the current network). By default every point is
solved from the current network, independently. The summary's ``started_from`` names the
point each point started from.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from netplan._errors import NetplanError, ScenarioError
from netplan.model.scenario import Scenario
from netplan.model.scenario_keys import NONE_WORDS, SPECS, Spec
from netplan.optimize.highs import START_DROPPED
from netplan.planning.dask_runner import Progress, ProgressEvent, check_scheduler, dask_client
from netplan.planning.plan import Plan, make_plan
from netplan.planning.problem import TASK_THREADS
from netplan.study.layers import Study, resolve_district

__all__ = ["SUMMARY_KPIS", "Axis", "PointRun", "SweepPoint", "SweepResult", "parse_vary",
           "run_point", "run_sweep", "start_points", "summary_frame", "sweep_points"]

log = logging.getLogger(__name__)

MAX_POINTS = 1_000
"""The most points one sweep may have."""
CHAIN_LENGTH = 4
"""Points of the first axis per warm-start chain (the first one starts cold)."""
RETRIES = 2
"""How many times Dask runs a point again when its worker is lost."""
_POLL_S = 0.05
_HEARTBEAT_S = 1.0

#: The service figures of a sweep's summary (the behaviour block's ``after`` keys), each
#: with the direction that is better.
SUMMARY_KPIS: tuple[tuple[str, str], ...] = (
    ("counter_mean_wait_min", "lower"),
    ("share_customers_wait_over_target", "lower"),
    ("unserved_arrivals_per_h", "lower"),
)


@dataclass(frozen=True)
class Axis:
    """One varied scenario key and its values, in the order they are swept.

    Attributes
    ----------
    key
        The key's path, ``<table>.<key>`` (``planning.budget_cny``).
    values
        The values as given (numbers or text; the Scenario checks and coerces them).
    """

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its label, the values it sets and the scenario they give."""

    label: str
    values: tuple[tuple[str, Any], ...]
    scenario: Scenario


@dataclass(frozen=True, eq=False)
class PointRun:
    """What one point's task sends back (``plan`` is ``None`` when the point failed)."""

    label: str
    ok: bool
    plan: Plan | None = None
    error: str = ""
    reason: str = ""
    wall_s: float = 0.0
    peak_rss_mb: float = float("nan")
    worker: str = ""
    started_from: str = ""
    start_dropped: bool = False


@dataclass(frozen=True, eq=False)
class SweepResult:
    """A finished sweep: its axes, its points and their runs, in point order."""

    axes: tuple[Axis, ...]
    points: tuple[SweepPoint, ...]
    runs: tuple[PointRun, ...]
    district: str | None
    run: dict[str, Any]


# --- the grid ----------------------------------------------------------------------------

_BY_PATH: dict[str, Spec] = {s.path: s for s in SPECS}


def _spec(key: str) -> Spec:
    spec = _BY_PATH.get(key)
    if spec is None:
        close = difflib.get_close_matches(key, list(_BY_PATH), n=1)
        hint = (f"did you mean {close[0]!r}?" if close else
                "give <table>.<key> as in the scenario file, e.g. planning.budget_cny")
        raise NetplanError(f"--vary: unknown scenario key {key!r}; {hint}")
    if spec.kind == "strs":
        raise NetplanError(f"--vary: {key} holds a list, not one value; sweep a scalar key")
    return spec


def _value(text: str) -> Any:
    t = text.strip()
    if t.lower() in NONE_WORDS:
        return None
    try:
        return float(t)
    except ValueError:
        return t


def parse_vary(text: str) -> Axis:
    """Read one ``--vary`` option: ``key=start:stop:count`` or ``key=v1,v2,...``.

    Parameters
    ----------
    text
        ``planning.budget_cny=200e6:800e6:7`` (7 values evenly spaced from start to stop)
        or ``demand.smart_share=0.6,0.7,0.8`` (the values listed; ``none`` for no limit).

    Returns
    -------
    Axis

    Raises
    ------
    NetplanError
        An unknown key (with the nearest known one), a list-valued key, a malformed grid
        or an empty value.
    """
    key, eq, rest = text.partition("=")
    key = key.strip()
    if not eq or not key or not rest.strip():
        raise NetplanError(f"--vary {text!r}: write key=start:stop:count or key=v1,v2,... "
                           "(e.g. planning.budget_cny=200e6:800e6:7)")
    _spec(key)
    if ":" in rest:
        parts = rest.split(":")
        try:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            ok = len(parts) == 3 and math.isfinite(start) and math.isfinite(stop) and count >= 2
        except (ValueError, IndexError):
            ok = False
        if not ok:
            raise NetplanError(f"--vary {text!r}: a grid is start:stop:count with finite "
                               "numbers and a count of at least 2 (e.g. 200e6:800e6:7)")
        values: tuple[Any, ...] = tuple(float(v) for v in np.linspace(start, stop, count))
    else:
        items = rest.split(",")
        if any(not i.strip() for i in items):
            raise NetplanError(f"--vary {text!r}: an empty value in the list; write "
                               "key=v1,v2,... without empty items")
        values = tuple(_value(i) for i in items)
    return Axis(key=key, values=values)


def sweep_points(scenario: Scenario, axes: Sequence[Axis]) -> list[SweepPoint]:
    """Every point of the grid, each with its scenario, checked before anything is solved.

    Parameters
    ----------
    scenario
        The base scenario.
    axes
        The varied keys (each key once); the points are their Cartesian product, the last
        axis varying fastest.

    Returns
    -------
    list of SweepPoint
        Labelled ``p1``, ``p2``, ... (zero-padded to the same width).

    Raises
    ------
    NetplanError
        No axis, a key given twice, more than :data:`MAX_POINTS` points, or values the
        scenario refuses (every problem named with its point, at most 10 and a count).
    """
    if not axes:
        raise NetplanError("a sweep needs at least one --vary key=values")
    keys = [a.key for a in axes]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise NetplanError(f"--vary names {', '.join(twice)} more than once; give each key once")
    n = math.prod(len(a.values) for a in axes)
    if n > MAX_POINTS:
        raise NetplanError(f"the sweep has {n:,} points, more than {MAX_POINTS:,}; use fewer "
                           "values or fewer keys")
    width = len(str(n))
    points: list[SweepPoint] = []
    problems: list[str] = []
    for k, combo in enumerate(itertools.product(*(a.values for a in axes))):
        label = f"p{k + 1:0{width}d}"
        values = tuple(zip(keys, combo, strict=True))
        try:
            sc = scenario.replace(**{_spec(key).field: v for key, v in values})
        except ScenarioError as exc:
            what = ", ".join(f"{key}={v}" for key, v in values)
            problems.append(f"point {label} ({what}): {str(exc).split(': ', 1)[-1]}")
            continue
        points.append(SweepPoint(label=label, values=values, scenario=sc))
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:10])
        more = f"\n  - and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise NetplanError(f"{len(problems)} of {n} sweep point(s) are not valid scenarios:\n"
                           f"{shown}{more}\nChange the --vary values; nothing was solved")
    return points


# --- running the points -------------------------------------------------------------------


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return float("nan")
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0


def start_points(axes: Sequence[Axis]) -> list[int | None]:
    """The point each point of the grid starts from (None: the current network).

    Point ``k`` starts from the point before it on the first axis (the other keys equal),
    except at the start of each chain of :data:`CHAIN_LENGTH` points of that axis.

    Parameters
    ----------
    axes
        The sweep's axes (the points are their product, the last varying fastest).

    Returns
    -------
    list of int or None
        Per point (in point order), the index of the point it starts from.
    """
    stride = math.prod(len(a.values) for a in axes[1:])
    n = stride * len(axes[0].values) if axes else 0
    return [None if (k // stride) % CHAIN_LENGTH == 0 else k - stride for k in range(n)]


def run_point(  # noqa: PLR0913 - one task: one keyword per planning option
    study: Study, point: SweepPoint, *, district: str | None, year: int | None, solver: str,
    time_limit_s: float | None, mip_gap: float | None, start: PointRun | None = None,
    threads: int | None = None,
) -> PointRun:
    """Plan one point (what each task runs); a NetplanError becomes a failed run.

    Parameters
    ----------
    study, point
        The layers and the point.
    district, year, solver, time_limit_s, mip_gap
        As in :func:`netplan.planning.plan.make_plan`.
    start
        The neighbour's run whose plan the solver starts from (None, or a failed run: the
        current network).
    threads
        Solver threads (as in :func:`~netplan.planning.plan.make_plan`); a task on Dask
        gets its worker's share of the cores (:func:`_task_threads`).

    Returns
    -------
    PointRun
    """
    import socket

    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    plan_start = start.plan if start is not None and start.ok else None
    started_from = start.label if start is not None and plan_start is not None else ""
    notes: list[str] = []
    try:
        plan = make_plan(study, point.scenario, district=district, year=year, solver=solver,
                         time_limit_s=time_limit_s, mip_gap=mip_gap, start=plan_start,
                         threads=threads,
                         progress=notes.append if plan_start is not None else None)
    except NetplanError as exc:
        log.warning("sweep point %s failed: %s", point.label, exc)
        return PointRun(label=point.label, ok=False, error=type(exc).__name__,
                        reason=str(exc), wall_s=time.perf_counter() - t0,
                        peak_rss_mb=_peak_rss_mb(), worker=worker, started_from=started_from)
    dropped = any(n.startswith(START_DROPPED) for n in notes)
    return PointRun(label=point.label, ok=True, plan=plan, wall_s=time.perf_counter() - t0,
                    peak_rss_mb=_peak_rss_mb(), worker=worker, started_from=started_from,
                    start_dropped=dropped)


class _Tracker:
    """Counts finished points, keeps the best objective and reports progress events."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.t0 = progress, total, time.perf_counter()
        self.runs: dict[str, PointRun] = {}
        self.failed = 0
        self.best: tuple[float, str] | None = None

    def event(self, stage: str, *, finished: str | None = None, message: str = "") -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(stage=stage, done=len(self.runs), total=self.total,
                                        failed=self.failed,
                                        elapsed_s=time.perf_counter() - self.t0,
                                        finished=finished, message=message))

    def done(self, run: PointRun) -> None:
        self.runs[run.label] = run
        self.failed += not run.ok
        if run.ok and run.plan is not None:
            obj = run.plan.kpis["solver"]["objective"]
            if obj is not None and (self.best is None or obj < self.best[0]):
                self.best = (float(obj), run.label)
            msg = (f"{run.label}: {run.plan.kpis['solver']['status']}, objective "
                   f"{obj:,.0f} in {run.wall_s:.1f} s")
        else:
            msg = f"{run.label}: FAILED ({run.error}) {run.reason.splitlines()[0][:200]}"
        if self.best is not None:
            msg += f"; best so far {self.best[1]} ({self.best[0]:,.0f})"
        self.event("points", finished=run.label, message=msg)


def _crashed(label: str, exc: BaseException) -> PointRun:
    log.error("sweep point %s: task crashed: %s: %s", label, type(exc).__name__, exc)
    return PointRun(label=label, ok=False, error=type(exc).__name__,
                    reason=f"the task crashed after {RETRIES} retries ({type(exc).__name__}: "
                           f"{exc}); rerun with --debug and report it if it repeats")


def _task_threads(n_workers: int, scheduler: str | None, district: str | None) -> int:
    """Solver threads of one point on Dask: for the city on a local cluster, this machine's
    cores per worker (one with the default of a worker per core; every core for a lone
    worker); else :data:`~netplan.planning.problem.TASK_THREADS` (a district solves on one
    thread wherever it runs; ``dask worker`` starts a thread per core)."""
    if scheduler or district is not None:
        return TASK_THREADS
    return max(TASK_THREADS, (os.cpu_count() or 1) // max(n_workers, 1))


def _run_dask(study: Study, points: Sequence[SweepPoint], starts: Sequence[int | None],
              kw: dict[str, Any], *, scheduler: str | None, workers: int | None,
              tracker: _Tracker) -> dict[str, Any]:
    """Run every point as a Dask task, each with its start's task as an argument; returns
    the workers' threads."""
    import distributed

    dd: Any = distributed  # untyped third-party API
    tracker.event("cluster", message=("connecting to " + scheduler) if scheduler else
                  "starting the local Dask cluster")
    with dask_client(scheduler, workers, len(points)) as client:
        study_f = client.scatter(study, broadcast=True)
        tag = f"{os.getpid()}-{time.time_ns()}"
        threads = _task_threads(len(client.nthreads()), scheduler, kw["district"])

        def submit(k: int, start: Any, again: str = "") -> Any:
            p = points[k]
            return client.submit(run_point, study_f, p, start=start, pure=False,
                                 retries=RETRIES, priority=len(points) - k,
                                 key=f"netplan-sweep-{p.label}{again}-{tag}",
                                 threads=threads, **kw)

        by_point: list[Any] = []
        for k, j in enumerate(starts):
            by_point.append(submit(k, None if j is None else by_point[j]))
        futures = {f: k for k, f in enumerate(by_point)}
        erred: set[int] = set()
        reruns: dict[int, Any] = {}

        def rerun(k: int) -> Any:
            """Point k again, after its start's task failed: from the rerun of its start
            when that one failed only for its own start, else from the network."""
            if k not in reruns:
                j = starts[k]
                start = rerun(j) if j is not None and upstream_failed(j) else None
                reruns[k] = submit(k, start, "-again")
                futures[reruns[k]] = k
                ac.add(reruns[k])
            return reruns[k]

        def upstream_failed(k: int) -> bool:
            j = starts[k]
            return j is not None and (j in erred or by_point[j].status == "error")
        tracker.event("points", message=f"{len(points)} points on "
                                        f"{sum(client.nthreads().values())} worker thread(s)")
        ac = dd.as_completed(list(futures))
        try:
            last = time.perf_counter()
            while len(tracker.runs) < len(points):
                if not ac.has_ready():
                    time.sleep(_POLL_S)
                    if time.perf_counter() - last >= _HEARTBEAT_S:
                        last = time.perf_counter()
                        tracker.event("points")
                    continue
                for fut in ac.next_batch(block=False):
                    k = futures.pop(fut)
                    try:
                        run = fut.result()
                    except Exception as exc:  # a lost worker after its retries, or a bug
                        erred.add(k)
                        if fut is by_point[k] and upstream_failed(k):
                            rerun(k)  # its start's task failed, not its own
                            fut.release()
                            continue
                        run = _crashed(points[k].label, exc)
                    fut.release()
                    tracker.done(run)
        except BaseException:
            client.cancel(list(futures), force=True)
            raise
        return {str(k): int(v) for k, v in client.nthreads().items()}


# long: the public entry point; its signature and docstring list every option
def run_sweep(  # noqa: PLR0913 - the public entry point: one keyword per sweep option
    study: Study,
    scenario: Scenario,
    axes: Sequence[Axis],
    *,
    district: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    in_process: bool = False,
    progress: Progress | None = None,
    warm: bool = False,
) -> SweepResult:
    """Plan every point of a sweep and return the plans in point order.

    Parameters
    ----------
    study, scenario
        The layers and the base scenario.
    axes
        The varied keys (:func:`parse_vary`).
    district
        Plan one district at every point (adcode or name); default the whole city.
    year, solver, time_limit_s, mip_gap
        As in :func:`netplan.planning.plan.make_plan`, for every point.
    workers
        Worker processes of the local Dask cluster (default: the CPUs, at most the
        points). Ignored with ``scheduler``.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``).
    in_process
        Run the points one by one in this process, without Dask.
    progress
        Called with a :class:`~netplan.planning.dask_runner.ProgressEvent` (stage
        ``"points"``) when a point finishes, and about once a second meanwhile.
    warm
        Start each point from its neighbour's plan (:func:`start_points`); default: every
        point from the current network.

    Returns
    -------
    SweepResult
        A point that fails (infeasible, no plan in time, its worker lost more than
        :data:`RETRIES` times) has ``ok = False`` and its reason; the others are unaffected.

    Raises
    ------
    NetplanError
        A bad axis, district (``all`` included) or scheduler address, before anything is
        solved.
    """
    t0 = time.perf_counter()
    if scheduler:
        check_scheduler(scheduler)
    if district is not None and district.strip().lower() == "all":
        raise NetplanError("--district all is not a sweep scope (each point would be a Dask "
                           "run of its own); sweep the whole city (no --district) or one "
                           "district")
    adcode = resolve_district(district, study.districts) if district is not None else None
    points = sweep_points(scenario, axes)
    tracker = _Tracker(progress, len(points))
    kw: dict[str, Any] = {"district": adcode, "year": year, "solver": solver,
                          "time_limit_s": time_limit_s, "mip_gap": mip_gap}
    starts = start_points(axes) if warm else [None] * len(points)
    info: dict[str, Any] = {"points": len(points),
                            "warm_chain_length": CHAIN_LENGTH if warm else None}
    if in_process:
        for p, j in zip(points, starts, strict=True):
            start = None if j is None else tracker.runs[points[j].label]
            tracker.done(run_point(study, p, start=start, **kw))
        info["executor"] = "in-process"
    else:
        info["workers"] = _run_dask(study, points, starts, kw, scheduler=scheduler,
                                    workers=workers, tracker=tracker)
        info["executor"] = scheduler or "LocalCluster"
    runs = tuple(tracker.runs[p.label] for p in points)
    info.update(wall_seconds=round(time.perf_counter() - t0, 3),
                sum_point_seconds=round(sum(r.wall_s for r in runs), 3),
                max_worker_peak_rss_mb=round(max((r.peak_rss_mb for r in runs),
                                                 default=float("nan")), 1),
                point_seconds={r.label: round(r.wall_s, 3) for r in runs})
    tracker.event("done", message=f"{len(points)} points in {info['wall_seconds']:.1f} s, "
                                  f"{tracker.failed} failed")
    return SweepResult(axes=tuple(axes), points=tuple(points), runs=runs, district=adcode,
                       run=info)


# --- the summary --------------------------------------------------------------------------


def _efficient(cost: NDArray[np.float64], kpis: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Points no other point dominates (at most as costly, no worse on every KPI, better
    on one); NaN rows (failed points) are never efficient."""
    ok = np.isfinite(cost) & np.all(np.isfinite(kpis), axis=1)
    x = np.column_stack([cost, kpis])
    out = np.zeros(len(cost), bool)
    for i in np.flatnonzero(ok):
        others = x[ok]
        dominated = np.any(np.all(others <= x[i], axis=1) & np.any(others < x[i], axis=1))
        out[i] = not dominated
    return out


def _row(point: SweepPoint, run: PointRun) -> dict[str, Any]:
    row: dict[str, Any] = {"point": point.label, **dict(point.values),
                           "ok": run.ok, "error": run.error, "started_from": run.started_from,
                           "start_dropped": run.start_dropped}
    plan = run.plan
    if plan is None:
        return row
    k = plan.kpis
    beh, costs, sc = k["behaviour"], k["costs"], point.scenario
    row.update(
        solver_status=k["solver"]["status"], objective=k["solver"]["objective"],
        gap=k["solver"].get("gap"),
        cost_cny_per_year=costs["opex_after_cny_per_year"]
        + costs["oneoff_spend_cny"] / sc.amortisation_years,
        opex_after_cny_per_year=costs["opex_after_cny_per_year"],
        oneoff_spend_cny=costs["oneoff_spend_cny"],
        travel_after_cny_per_year=costs["travel_after_cny_per_year"],
        rule=beh["rule"], patience_min=beh["parameters"].get("patience_min"),
        **{key: beh["after"][key] for key, _ in SUMMARY_KPIS},  # type: ignore[literal-required]
        overloaded_outlets=beh["after"]["overloaded_outlets"],
        outlets=beh["after"]["outlets"], holds=beh["holds"],
        **{a: int(n) for a, n in k["actions"].items()},
    )
    return row


def summary_frame(result: SweepResult) -> pd.DataFrame:
    """One row per point, in point order: the varied values, the solve, cost and service.

    Parameters
    ----------
    result
        A finished sweep.

    Returns
    -------
    pandas.DataFrame
        ``point``, one column per varied key, ``ok``, ``error``, ``started_from`` (the
        point whose plan the solver started from, empty: the current network) and
        ``start_dropped`` (a solve could not complete that plan and started without it),
        the solver's status,
        objective and gap, ``cost_cny_per_year`` (operating cost after the plan plus the
        one-off spend spread over ``amortisation_years``), the one-off spend, the service
        figures of :data:`SUMMARY_KPIS` under ``rule``, the action counts, and
        ``efficient`` (on cost and every service figure) and ``efficient_<kpi>`` (on cost
        and that figure alone). A failed point has empty figures.
    """
    df = pd.DataFrame([_row(p, r) for p, r in zip(result.points, result.runs, strict=True)])
    for col in ("cost_cny_per_year", *(key for key, _ in SUMMARY_KPIS)):
        if col not in df:
            df[col] = np.nan
    cost = df["cost_cny_per_year"].to_numpy(np.float64)
    kpis = df[[key for key, _ in SUMMARY_KPIS]].to_numpy(np.float64)
    df["efficient"] = _efficient(cost, kpis)
    for j, (key, _) in enumerate(SUMMARY_KPIS):
        df[f"efficient_{key}"] = _efficient(cost, kpis[:, [j]])
    return df
