"""Every district planned in parallel on Dask, merged into one coordinated city plan.

:func:`plan_all` plans each district (with its buffer, see :mod:`netplan.planning.problem`)
as its own task on ``dask.distributed`` — an embedded ``LocalCluster`` (one
single-threaded worker process per core, dashboard off, loopback only) or the cluster of
a scheduler address — and merges the results (:func:`netplan.planning.city.merge_districts`)
into one :class:`~netplan.planning.city.CityPlan`. The city limits are split across the
districts first (:mod:`netplan.planning.limits`).

Every district is submitted at once with a priority, largest first (:func:`_size_key`),
and the scheduler hands a worker its next district the moment it is free; this process
only gathers results. The library never prints: ``progress`` receives
:class:`ProgressEvent` objects.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from netplan._errors import NetplanError
from netplan.model.scenario import Scenario
from netplan.optimize.decompose import MapBlocks
from netplan.planning import problem as planner
from netplan.planning.city import CityPlan, merge_districts, plan_value
from netplan.planning.city_bound import DaskBlocks, bound_seconds
from netplan.planning.contract import RunInfo
from netplan.planning.deadline import (
    MIN_TASK_S,
    WRITE_S,
    epoch_of,
    run_district_by,
    tasks_end,
    too_late,
    weights,
)
from netplan.planning.diagnose import zone_points
from netplan.planning.district import DistrictRun, check_mode, jsonable, run_district
from netplan.planning.limits import DistrictLimits, check_adcode, district_scenario, split_limits
from netplan.planning.plan import Plan, make_plan
from netplan.study.layers import Study

__all__ = ["Progress", "ProgressEvent", "RunningTask", "check_scheduler", "compare_city",
           "plan_all"]

log = logging.getLogger(__name__)

_HEARTBEAT_S = 1.0
_POLL_S = 0.05


class RunningTask(NamedTuple):
    """A district task still running: adcode, district name, seconds since it started."""

    adcode: str
    name: str
    elapsed_s: float


@dataclass(frozen=True)
class ProgressEvent:
    """What :func:`plan_all` reports to its ``progress`` callback.

    Attributes
    ----------
    stage
        ``"diagnosis"``, ``"cluster"``, ``"districts"``, ``"merge"`` or ``"done"``.
    done, total, failed
        District tasks finished (failed included) / all / failed so far.
    elapsed_s
        Seconds since :func:`plan_all` started.
    running
        Tasks still running, slowest first (at most 5).
    finished
        Adcode of the district that just finished (``None`` on a heartbeat / stage event).
    message
        One short line (what just happened).
    """

    stage: str
    done: int
    total: int
    failed: int
    elapsed_s: float
    running: tuple[RunningTask, ...] = ()
    finished: str | None = None
    message: str = ""


Progress = Callable[[ProgressEvent], None]


class _Reporter:
    """Sends :class:`ProgressEvent` objects to ``progress`` (if any)."""

    def __init__(self, progress: Progress | None, total: int, t0: float) -> None:
        self.progress, self.total, self.t0 = progress, total, t0

    def __call__(self, stage: str, done: int, failed: int,
                 running: tuple[RunningTask, ...] = (), finished: str | None = None,
                 message: str = "") -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(stage=stage, done=done, total=self.total,
                                        failed=failed, elapsed_s=time.perf_counter() - self.t0,
                                        running=running, finished=finished, message=message))


def _size_key(study: Study, *, sites_only: bool = False,
              buffer_m: float = 0.0) -> dict[str, float]:
    """Rough cost of each district's run, for largest-first submission.

    Zones of the model × √(sites + 1): the model grows with its zones (k pairs each) and
    the search with the sites, less than linearly. The model's zones are those within
    ``buffer_m`` of the district (its buffer, as
    :func:`netplan.planning.problem.build_model` takes them): counting only the district's
    own zones puts districts with large buffers too late in the queue.
    ``sites_only``: the number of outlets and candidates of each district.
    """
    ads = study.districts["adcode"].astype(str)
    ns = (study.branches["adcode"].astype(str).value_counts()
          .add(study.candidates["adcode"].astype(str).value_counts(), fill_value=0))
    if sites_only:
        return {str(a): float(ns.get(a, 0)) for a in ads}
    zad = study.zones["adcode"].astype(str).to_numpy(dtype=object)
    if buffer_m > 0:
        import shapely

        xy = zone_points(study.zones)
        nz = {}
        for a, geom in zip(ads, study.districts.geometry, strict=True):
            inside = shapely.contains_xy(shapely.buffer(geom, buffer_m), xy[:, 0], xy[:, 1])
            nz[str(a)] = float(np.count_nonzero(inside | (zad == a)))
    else:
        counts = study.zones["adcode"].astype(str).value_counts()
        nz = {str(a): float(counts.get(a, 0)) for a in ads}
    return {str(a): nz[str(a)] * math.sqrt(float(ns.get(a, 0)) + 1.0) for a in ads}


@dataclass(frozen=True)
class _Task:
    """One district run as submitted: its scenario share and its own locked/forbidden ids."""

    adcode: str
    scenario: Scenario
    locked: frozenset[str]
    forbidden: frozenset[str]


def _district_names(study: Study) -> dict[str, str]:
    return {check_adcode(a): str(n) for a, n in zip(
        study.districts["adcode"].astype(str), study.districts["name_zh"].astype(str),
        strict=True)}


def _districts_to_run(study: Study, names: dict[str, str], adcodes: Sequence[str] | None
                      ) -> tuple[list[str], dict[str, str]]:
    """The districts to plan and those skipped on purpose (adcode -> why)."""
    todo = sorted(names) if adcodes is None else sorted({check_adcode(a) for a in adcodes})
    unknown = [a for a in todo if a not in names]
    if unknown:
        raise NetplanError(f"districts {unknown} are not in the districts layer; valid adcodes: "
                           f"{', '.join(sorted(names))}")
    n_sites = _size_key(study, sites_only=True)
    skipped = {a: "no outlet and no candidate site: nothing to decide (its zones are served "
                  "as in the diagnosis)" for a in todo if n_sites.get(a, 0.0) == 0}
    return [a for a in todo if a not in skipped], skipped


def _site_districts(study: Study, ids: frozenset[str]) -> dict[str, str]:
    """Site id -> adcode of every outlet and candidate; NetplanError if ``ids`` are not sites."""
    site_ad = dict(zip(study.branches["branch_id"].astype(str),
                       study.branches["adcode"].astype(str), strict=True))
    site_ad.update(zip(study.candidates["candidate_id"].astype(str),
                       study.candidates["adcode"].astype(str), strict=True))
    bad = sorted(ids - set(site_ad))
    if bad:
        raise NetplanError(f"locked/forbidden site ids {bad[:10]} are not outlets or candidates "
                           "of the study; check the ids (branch_id / candidate_id)")
    return site_ad


_SCHEDULER_ADDRESS = re.compile(
    r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r":(?P<port>[0-9]{1,5})$|^inproc://\S+$")
"""A Dask address: scheme://host:port (scheme optional: tcp), or an in-process one."""


def check_scheduler(address: str) -> None:
    """Refuse a Dask scheduler address that cannot be one, before anything is loaded.

    Parameters
    ----------
    address
        ``tcp://host:port`` (the scheme may be left out), ``tls://``, ``ws://``,
        ``wss://`` or ``ucx://`` with a host and a port, or an ``inproc://`` address.

    Raises
    ------
    NetplanError
        Naming the address and the expected form.
    """
    m = _SCHEDULER_ADDRESS.match(address.strip())
    port = m.group("port") if m else None
    if m is None or (port is not None and not 0 < int(port) < 65536):
        raise NetplanError(
            f"{address!r} is not a Dask scheduler address; give tcp://host:port (e.g. "
            "tcp://10.0.0.5:8786, the address `dask scheduler` prints), tls://host:port or "
            "another Dask scheme (ws, wss, ucx) with a host and a port from 1 to 65535")


_CONNECT_S = 10.0
"""How long a scheduler given by address may take to answer Dask's handshake."""
_CLOSE_S = 2.0
"""How long closing the client, and then the cluster, may take after Ctrl-C."""


@contextmanager
def dask_client(scheduler: str | None, workers: int | None, n_tasks: int) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler``, or of a new local cluster; closed after.

    When the block ends with an exception (Ctrl-C above all), the work is dropped and the
    client and cluster are closed within moments and quietly (:func:`_close_quietly`).
    """
    import distributed

    dd: Any = distributed  # untyped third-party API
    cluster: Any = None
    client: Any = None
    try:
        if scheduler:
            client = _connect(scheduler)
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise NetplanError(f"the Dask scheduler at {scheduler} has no workers after "
                                   "60 s; start workers (`dask worker {scheduler}`) or run "
                                   "without --scheduler") from None
        else:
            n = workers if workers is not None else (os.cpu_count() or 1)
            n = max(1, min(int(n), max(n_tasks, 1)))
            import dask

            # the scheduler hands a worker its next district when it is free, largest
            # first (saturation 1.0: no task waits on a busy worker while another idles)
            with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}), \
                    _sigint_deferred():
                cluster = dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                          dashboard_address=None, host="127.0.0.1",
                                          silence_logs=logging.ERROR)
            client = dd.Client(cluster)
        yield client
    except BaseException:
        _close_quietly(client, cluster)
        raise
    client.close()
    if cluster is not None:
        cluster.close()


def _connect(scheduler: str) -> Any:
    """A client of the Dask scheduler at ``scheduler``; NetplanError if it does not answer.

    A closed port, a host that does not answer and a server that is not a Dask scheduler
    all fail within :data:`_CONNECT_S` seconds, with the address in the message.
    """
    import distributed

    dd: Any = distributed  # untyped third-party API
    how = ("check the address (tcp://host:8786) and that `dask scheduler` runs there, or "
           "drop --scheduler to use a local cluster")
    _check_answers(scheduler, how)
    try:
        with _quiet_dask():  # the failed handshake's own log lines say nothing more
            return dd.Client(scheduler, timeout=f"{_CONNECT_S:g}s")
    except (OSError, TimeoutError) as exc:
        raise NetplanError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); "
                           f"{how}") from None
    except Exception:  # e.g. not a Dask server: its answer cannot be read
        raise NetplanError(f"the server at {scheduler!r} did not answer as a Dask scheduler "
                           f"(its answer is not Dask's handshake); {how}") from None


def _check_answers(scheduler: str, how: str) -> None:
    """Fail fast when nothing listens at a network address, or (tcp) nothing answers.

    Dask's own connect retries a closed port until its timeout and may wait without end
    for a server that accepts and says nothing. A scheduler speaks first on a plain TCP
    connection (its handshake), so one byte within :data:`_CONNECT_S` seconds is asked
    for there; TLS and websockets are only connected to, UCX and in-process addresses
    left to Dask.
    """
    m = _SCHEDULER_ADDRESS.match(scheduler.strip())
    scheme, _, rest = scheduler.strip().rpartition("://")
    if m is None or m.group("port") is None or scheme == "ucx":  # not plain TCP/IP
        return
    host = rest.rsplit(":", 1)[0].strip("[]")
    deadline = time.monotonic() + _CONNECT_S
    try:
        sock = socket.create_connection((host, int(m.group("port"))), timeout=_CONNECT_S)
    except OSError as exc:
        raise NetplanError(f"cannot reach the Dask scheduler at {scheduler!r} "
                           f"({exc.strerror or exc}); {how}") from None
    with sock:
        if scheme not in ("", "tcp"):
            return
        try:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            answered = bool(sock.recv(1))
        except OSError:  # TimeoutError included
            answered = False
    if not answered:
        raise NetplanError(f"the server at {scheduler!r} accepted the connection but did not "
                           f"answer Dask's handshake within {_CONNECT_S:g} s; it is not a "
                           f"Dask scheduler or is stuck; {how}")


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Ctrl-C held back during the block (a local cluster's start), raised after it.

    SIGINT is blocked in this thread for the block, and the cluster's threads started
    meanwhile, and the worker processes they start, inherit the block for their life: a
    Ctrl-C in the terminal, which every process of the foreground group receives, reaches
    only this process, which shuts the workers down (instead of each worker dying with its
    own traceback). Main thread only; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from multiprocessing import resource_tracker

    # started later from a cluster thread, the tracker would unblock SIGINT in that thread
    resource_tracker.ensure_running()
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: noted.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if noted:
        raise KeyboardInterrupt


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """The loggers of Dask and its network layer silent for the block."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _close_quietly(client: Any, cluster: Any) -> None:
    """Close ``client`` and ``cluster`` within moments, whatever they are doing.

    A local cluster's workers are ended first (a worker busy with a district would
    delay the cluster's close, and Python's exit after it); their shutdown messages are
    not shown.
    """
    with _quiet_dask():
        if cluster is not None:
            _end_workers(cluster)
        for part in (client, cluster):
            if part is None:
                continue
            try:
                part.close(timeout=_CLOSE_S)
            except Exception:  # a timeout or a closed loop: the process is ending anyway
                log.debug("closing %s failed", type(part).__name__, exc_info=True)


def _end_workers(cluster: Any) -> None:
    """Terminate the worker processes of a local cluster (killed if they linger)."""
    import psutil

    procs = []
    for nanny in list(cluster.workers.values()):
        pid = getattr(getattr(getattr(nanny, "process", None), "process", None), "pid", None)
        if pid is not None:
            with suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(pid))
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=_CLOSE_S / 2)
    for proc in alive:
        with suppress(psutil.NoSuchProcess):
            proc.kill()


def _executing_keys(dask_worker: Any) -> list[str]:
    """Keys of the tasks executing on a worker (run there by ``Client.run``)."""
    return [str(ts.key) for ts in dask_worker.state.executing]


class _Pool:
    """District tasks in flight on a Dask client, gathered as they finish."""

    def __init__(self, client: Any, names: dict[str, str], report: _Reporter) -> None:
        import distributed

        dd: Any = distributed  # untyped third-party API
        self.client, self.names, self.report = client, names, report
        self.ac: Any = dd.as_completed()
        self.inflight: dict[Any, str] = {}
        self.started: dict[str, float] = {}  # adcode -> when first seen executing
        self.runs: dict[str, DistrictRun] = {}
        self.failed = 0

    def submit(self, fn: Callable[..., DistrictRun], *args: Any, adcode: str, priority: int,
               **kwargs: Any) -> None:
        fut = self.client.submit(fn, *args, pure=False, priority=priority,
                                 key=f"netplan-district-{adcode}-{os.getpid()}-"
                                     f"{time.time_ns()}", **kwargs)
        self.inflight[fut] = adcode
        self.ac.add(fut)

    def cancel(self) -> None:
        """Cancel the tasks still in flight (on Ctrl-C); never raises."""
        try:
            self.client.cancel(list(self.inflight), force=True)
        except Exception:  # a dying cluster may refuse; closing it ends the tasks anyway
            log.debug("cancelling the district tasks failed", exc_info=True)

    def running(self) -> tuple[RunningTask, ...]:
        """Tasks executing on a worker, slowest first (every task is submitted at once)."""
        now = time.perf_counter()
        try:
            keys = {k for ks in self.client.run(_executing_keys).values() for k in ks}
        except Exception:  # a display detail must not fail the run
            keys = set()
        for f, ad in self.inflight.items():
            if f.key in keys:
                self.started.setdefault(ad, now)
        rows = sorted(((now - self.started[ad], ad) for f, ad in self.inflight.items()
                       if f.key in keys), reverse=True)[:5]
        return tuple(RunningTask(ad, self.names.get(ad, ""), round(el, 1)) for el, ad in rows)

    def gather(self) -> dict[str, DistrictRun]:
        """Wait for every task, reporting each one that finishes and a heartbeat."""
        last_beat = time.perf_counter()
        while self.inflight:
            if not self.ac.has_ready():
                time.sleep(_POLL_S)
                if time.perf_counter() - last_beat >= _HEARTBEAT_S:
                    last_beat = time.perf_counter()
                    self.report("districts", len(self.runs), self.failed, self.running())
                continue
            for fut in self.ac.next_batch(block=False):
                self._finished(fut)
        return self.runs

    def _finished(self, fut: Any) -> None:
        ad = self.inflight.pop(fut)
        run = _collect(fut, ad)
        self.runs[ad] = run
        self.failed += not run.ok
        fut.release()
        name = self.names.get(ad, "")
        msg = (f"{ad} {name}: {run.solver.get('status')} gap "
               f"{run.solver.get('gap', float('nan')):.2%} in {run.wall_s:.1f} s"
               if run.ok else f"{ad} {name}: FAILED ({run.error})")
        self.report("districts", len(self.runs), self.failed, self.running(), finished=ad,
                    message=msg)


def _collect(fut: Any, adcode: str) -> DistrictRun:
    """The future's DistrictRun; a crash of the task becomes a failed run."""
    try:
        run = fut.result()
    except Exception as exc:  # a bug or a lost worker must not lose the other districts
        log.error("district %s: task crashed: %s: %s", adcode, type(exc).__name__, exc,
                  exc_info=exc)
        return DistrictRun(adcode=adcode, ok=False, error=type(exc).__name__,
                           reason=f"the task crashed ({type(exc).__name__}: {exc}); this is "
                                  "a bug or a lost worker — rerun with --debug and report it")
    if not isinstance(run, DistrictRun):  # pragma: no cover - defensive
        return DistrictRun(adcode=adcode, ok=False, error="TypeError",
                           reason=f"the task returned {type(run).__name__}")
    return run


@dataclass(frozen=True)
class _Options:
    """The solver options every district task gets."""

    year: int
    solver: str
    time_limit_s: float | None
    mip_gap: float | None
    mode: str
    threads: int | None
    end: float | None = None  # epoch time by which every task ends (None: no deadline)
    weight: Mapping[str, float] | None = None  # adcode -> share of the work


def _task(opts: _Options, adcode: str, slots: int) -> tuple[Callable[..., DistrictRun],
                                                             dict[str, Any]]:
    """What a district task runs and its extra keywords: with a deadline, the shared end
    and the district's share of the work (its limit is set when it starts)."""
    if opts.end is None:
        return run_district, {}
    return run_district_by, {"end": opts.end, "slots": slots,
                             "weight": (opts.weight or {}).get(adcode, 1.0)}


def _run_on_dask(study: Study, tasks: list[_Task], opts: _Options, *, scheduler: str | None,
                 workers: int | None, names: dict[str, str], report: _Reporter,
                 then: Callable[[dict[str, DistrictRun], MapBlocks | None], Plan]
                 ) -> tuple[dict[str, DistrictRun], dict[str, int], float, float, float, Plan]:
    """Run ``tasks`` (largest first) on Dask, then ``then(runs, block_mapper)`` (the merge)
    while the cluster is up: runs, worker threads, cluster and task time, the end of the
    tasks and the merged plan."""
    t0 = time.perf_counter()
    with dask_client(scheduler, workers, len(tasks)) as client:
        n_threads = max(1, sum(client.nthreads().values()))
        study_f = client.scatter(study, broadcast=True)
        t_cluster = time.perf_counter()
        pool = _Pool(client, names, report)
        for rank, t in enumerate(tasks):  # largest first: the scheduler runs by priority
            fn, extra = _task(opts, t.adcode, n_threads)
            pool.submit(fn, study_f, t.scenario, t.adcode, adcode=t.adcode,
                        priority=len(tasks) - rank, year=opts.year, solver=opts.solver,
                        time_limit_s=opts.time_limit_s, mip_gap=opts.mip_gap,
                        locked=t.locked, forbidden=t.forbidden, mode=opts.mode,
                        threads=opts.threads, **extra)
        report("districts", 0, 0, pool.running(),
               message=f"{len(tasks)} districts on {n_threads} worker thread(s)")
        try:
            runs = pool.gather()
        except BaseException:
            pool.cancel()
            raise
        t_tasks = time.perf_counter()
        workers_info = {str(k): int(v) for k, v in client.nthreads().items()}
        blocks = DaskBlocks(client)
        try:
            merged = then(runs, blocks)
        finally:
            blocks.close()
    return runs, workers_info, t_cluster - t0, t_tasks - t_cluster, t_tasks, merged


# long: the public entry point; its signature and docstring list every option
def plan_all(  # noqa: PLR0913 - the public entry point: one keyword per planning option
    study: Study,
    scenario: Scenario,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    coordinate: bool = True,
    adcodes: Sequence[str] | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    mode: str = "buffer",
    progress: Progress | None = None,
    task_threads: int | None = planner.TASK_THREADS,
    bound: bool = True,
    deadline: float | None = None,
) -> CityPlan:
    """Plan every district in parallel on Dask and merge them into one city plan.

    Parameters
    ----------
    study, scenario
        The layers and the city scenario.
    workers
        Worker processes of the embedded ``LocalCluster`` (one thread each; default:
        the number of CPUs, at most the number of districts). Ignored with ``scheduler``.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); the study is sent to
        its workers once (scattered, broadcast).
    year, solver, time_limit_s, mip_gap
        As in :func:`netplan.planning.plan.make_plan`; the time limit applies to each
        district.
    coordinate
        Split the city limits across districts
        (:func:`netplan.planning.limits.split_limits`); ``False`` gives every district the
        full city limits.
    adcodes
        Plan only these districts (the others keep their network); default all.
    locked, forbidden
        Site ids that must stay open / must not open; each district run gets its own.
    mode
        ``"buffer"`` (default): each district with its buffer
        (:mod:`netplan.planning.problem`); ``"partition"``: each district alone, so plans
        never conflict (see :func:`netplan.planning.district.run_district` and
        ``bench/README.md``).
    progress
        Called with a :class:`ProgressEvent` on every finished district and about once a
        second while districts run.
    task_threads
        Solver threads per district task: one by default, matching the one-thread workers
        (None lets HiGHS use every core in each task, which oversubscribes the machine when
        several tasks run at once; kept for measurements).
    bound
        Compute the city-level lower bound of the merged plan
        (:mod:`netplan.planning.city_bound`, after the merge, within
        :func:`~netplan.planning.city_bound.bound_seconds` of the time limit; its block
        solves run on the cluster, which stays up until the merge is done).
    deadline
        ``time.perf_counter()`` time by which the city plan must be made and written
        (e.g. a command's start plus its time limit; default: none, each district gets
        the time limit). The districts then share one end that leaves time for the merge,
        the bound and the files; each gets, when a worker starts it, the time left until
        that end, at most its share of the workers' time, and one started too late is
        not planned (it fails, saying why); the bound gets what the merge leaves
        (:mod:`netplan.planning.deadline`).

    Returns
    -------
    CityPlan
        A district that fails (infeasible, no plan in time) is listed in
        ``kpis["failed_districts"]`` and keeps its network; the others are unaffected.

    Notes
    -----
    The local cluster starts worker processes with ``spawn``: a script that calls this
    function must do so under ``if __name__ == "__main__":`` (the ``netplan`` command
    does).
    """
    t0 = time.perf_counter()
    if scheduler:
        check_scheduler(scheduler)
    year = scenario.horizon_year if year is None else year
    names = _district_names(study)
    todo, skipped = _districts_to_run(study, names, adcodes)
    check_mode(mode)
    site_ad = _site_districts(study, frozenset(locked) | frozenset(forbidden))
    report = _Reporter(progress, len(todo), t0)
    limits: dict[str, DistrictLimits] = {}
    if coordinate:
        report("diagnosis", 0, 0, message="splitting the city limits across districts")
        limits = split_limits(study, scenario, year=year)
    t_split = time.perf_counter()
    size = _size_key(study, buffer_m=scenario.max_dist_km * 1000.0 if mode == "buffer" else 0.0)
    tasks = [_Task(ad, district_scenario(scenario, limits.get(ad)),
                   frozenset(i for i in locked if site_ad[i] == ad),
                   frozenset(i for i in forbidden if site_ad[i] == ad))
             for ad in sorted(todo, key=lambda a: (-size.get(a, 0.0), a))]
    report("cluster", 0, 0, message=("connecting to " + scheduler) if scheduler else
           "starting the local Dask cluster")
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
    bound_s = bound_seconds(tl) if bound else None
    end = None if deadline is None else tasks_end(
        epoch_of(deadline), time_limit_s=deadline - t0 if tl is None else tl, bound=bound)

    def merge(runs: dict[str, DistrictRun], blocks: MapBlocks | None) -> Plan:
        n_failed = sum(not r.ok for r in runs.values())
        report("merge", len(runs), n_failed, message="merging the district plans" + (
            f" and bounding the city (up to {bound_s:.0f} s)" if bound_s else ""))
        return merge_districts(study, scenario, runs, year=year, limits=limits or None,
                               solver=solver, wall_s=time.perf_counter() - t0,
                               locked=frozenset(locked), forbidden=frozenset(forbidden),
                               skipped=skipped, mode=mode, bound_s=bound_s, map_blocks=blocks,
                               bound_by=None if deadline is None else deadline - WRITE_S)

    if end is not None and end - time.time() < MIN_TASK_S:  # no time for any district
        runs = {t.adcode: too_late(t.adcode, end - time.time()) for t in tasks}
        workers_info: dict[str, int] = {}
        cluster_s, tasks_s, t_end = 0.0, 0.0, time.perf_counter()
        merged = merge(runs, None)
    else:
        runs, workers_info, cluster_s, tasks_s, t_end, merged = _run_on_dask(
            study, tasks, _Options(year, solver, time_limit_s, mip_gap, mode, task_threads,
                                   end, weights(size, [t.adcode for t in tasks])),
            scheduler=scheduler, workers=workers, names=names, report=report, then=merge)
    t_runs = t_end - t0
    n_failed = sum(not r.ok for r in runs.values())
    wall = time.perf_counter() - t0
    run_info: RunInfo = {
        **merged.run, "mode": "districts", "scheduler": scheduler or "LocalCluster",
        "workers": workers_info, "split_seconds": round(t_split - t0, 3),
        "cluster_seconds": round(cluster_s, 3), "tasks_seconds": round(tasks_s, 3),
        "districts_seconds": round(t_runs, 3), "merge_seconds": round(wall - t_runs, 3),
        "wall_seconds": round(wall, 3), **_district_totals(runs),
    }
    merged = dataclasses.replace(merged, run=run_info)
    report("done", len(runs), n_failed,
           message=f"{len(runs)} districts planned and merged in {wall:.1f} s")
    return CityPlan(
        plan=merged,
        districts={ad: r.plan for ad, r in sorted(runs.items()) if r.ok and r.plan is not None},
        failed={ad: r.reason for ad, r in sorted(runs.items()) if not r.ok},
        limits=limits,
        run=run_info,
    )


def _district_totals(runs: dict[str, DistrictRun]) -> RunInfo:
    """Time and memory summed over the district runs, and each run's own (for run.json)."""
    return {
        "sum_district_seconds": round(sum(r.wall_s for r in runs.values()), 3),
        "sum_district_cpu_seconds": round(sum(r.cpu_s for r in runs.values()), 3),
        "max_worker_peak_rss_mb": jsonable(round(max(
            (r.peak_rss_mb for r in runs.values()), default=float("nan")), 1)),
        "districts": {ad: r.timing() for ad, r in sorted(runs.items())},
    }


# --- whole city vs districts -------------------------------------------------------------


def compare_city(  # noqa: PLR0913 - public API: plan_all's options, or its results
    study: Study,
    scenario: Scenario,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    city: CityPlan | None = None,
    whole: Plan | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole-city single solve next to the coordinated district plans.

    Runs :func:`plan_all` (unless ``city`` is given) and a whole-city
    :func:`~netplan.planning.plan.make_plan` (unless ``whole`` is given). Both objectives
    are values on the whole-city model as built (:func:`~netplan.planning.city.plan_value`;
    the whole plan's own solver figures, on its tightened model, are in
    ``whole_city.solved``), so ``difference.objective_pct`` is the price of decomposing by
    district (positive = the district plans cost more).

    Returns
    -------
    dict
        ``{"whole_city": {...}, "by_district": {...}, "difference": {...}}``; each side has
        objective, best bound, gap, status, seconds, costs, action counts and the
        overall KPIs after.
    """
    year = scenario.horizon_year if year is None else year
    if city is None:
        city = plan_all(study, scenario, workers=workers, scheduler=scheduler, year=year,
                        solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap,
                        progress=progress)
    if whole is None:
        t0 = time.perf_counter()
        whole = make_plan(study, scenario, year=year, solver=solver,
                          time_limit_s=time_limit_s, mip_gap=mip_gap)
        whole_s = time.perf_counter() - t0
    else:
        whole_s = float(whole.run.get("solve_seconds", 0.0)) + float(
            whole.run.get("build_seconds", 0.0))

    def side(p: Plan, seconds: float) -> dict[str, Any]:
        k = p.kpis
        return {
            "status": k["solver"]["status"], "objective": k["solver"]["objective"],
            "best_bound": k["solver"].get("best_bound"), "gap": k["solver"].get("gap"),
            "seconds": round(seconds, 3), "costs": k["costs"], "actions": k["actions"],
            "after": k["after"]["overall"],
        }

    a = side(whole, whole_s)  # its solve was on its kept round's tightened model:
    a["solved"] = {key: a.pop(key) for key in ("objective", "best_bound", "gap")}
    a["objective"] = plan_value(study, scenario, whole, year=year)  # the merged plan's way
    b = side(city.plan, float(city.run.get("wall_seconds", 0.0)))
    b["max_district_gap"] = city.kpis["solver"].get("max_district_gap")
    b["failed_districts"] = [f["adcode"] for f in city.kpis.get("failed_districts", [])]
    b["violations"] = city.kpis["coordination"]["violations"]
    oa, ob = a["objective"], b["objective"]
    diff: dict[str, Any] = {
        "objective_cny": None if oa is None or ob is None else round(ob - oa, 2),
        "objective_pct": None if not oa or ob is None else round((ob - oa) / abs(oa) * 100, 4),
        "speedup": (round(a["seconds"] / b["seconds"], 3) if b["seconds"] > 0 else None),
    }
    return {"whole_city": a, "by_district": b, "difference": diff}

