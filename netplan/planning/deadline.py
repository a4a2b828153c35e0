"""One wall-clock deadline for a whole run: what each part of it may take.

A command's ``--time-limit T`` bounds the whole process (reading, building, solving,
evaluating, writing). A single plan keeps time back for its evaluation and files inside
its holds loop (:mod:`netplan.planning.holds`); this module does the same for the runs
made of several parts:

- a robust plan (:func:`netplan.planning.robust.robust_plan`) solves once and then
  measures its plan under every demand case: its solve ends by
  :func:`~netplan.planning.holds.solve_deadline`;
- a district-by-district plan (:func:`netplan.planning.dask_runner.plan_all`) runs its
  districts on Dask workers (other processes, maybe other machines), then merges them,
  bounds the city and writes the folder. The districts share one end, an epoch time
  (``time.time()``: ``time.perf_counter()`` differs between processes) that leaves
  :data:`CITY_AFTER_S` for the merge and the files and a share of the run for the city
  bound (:func:`tasks_end`). Each task computes its own time limit when a worker starts
  it (:func:`run_district_by`): the time left until that end, at most its share of the
  workers' time left (:func:`task_share`); a district started with less than
  :data:`MIN_TASK_S` left is not planned (it keeps its network and is listed as failed,
  saying why). The city bound gets what is left after the merge (:func:`bound_time`);
  with less than :data:`MIN_BOUND_S` it is skipped (:data:`~netplan.planning.city_bound.NO_TIME`
  in its ``stop``), never replaced by a weaker figure. With a remote scheduler the
  machines' clocks must agree (NTP) for the shared end to mean the same everywhere.

Apart from :func:`run_district_by` (a task) and the clocks :func:`epoch_of` reads, the
functions are pure arithmetic on times and seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from netplan.model.scenario import Scenario
from netplan.planning.city_bound import bound_seconds
from netplan.planning.district import DistrictRun, run_district
from netplan.study.layers import Study

__all__ = ["BOUND_OVERRUN_S", "BOUND_SHARE", "CITY_AFTER_S", "MIN_BOUND_S", "MIN_TASK_S",
           "SHARE_HEADROOM", "WRITE_S",
           "bound_time", "district_limit", "epoch_of", "reserved_bound", "run_district_by",
           "task_share", "tasks_end", "too_late", "weights"]

WRITE_S: float = 9.0
"""Seconds kept after the city bound for closing the cluster and writing the city folder
(every district's folder, the map and the report): 7.6 s twice and 9.4 s once on the
embedded Beijing study on a loaded two-core machine (load 3 to 5)."""

CITY_AFTER_S: float = WRITE_S + 4.0
"""Seconds kept after the district tasks for the merge (the whole-city model, the merged
assignment and its repair, the KPIs; 2-3 s on the Beijing study, as above) and then
:data:`WRITE_S`."""

BOUND_SHARE: float = 0.15
"""Share of the time limit kept for the city bound (at most its own time box,
:func:`~netplan.planning.city_bound.bound_seconds`); it also gets what the districts
leave."""

MIN_BOUND_S: float = 3.0
"""The city bound runs only with at least this many seconds (a few subgradient rounds)."""

BOUND_OVERRUN_S: float = 3.5
"""Seconds the city bound may run past its box on a cluster, kept back from what is left
for it: 2.7, 3.0 and 3.2 s past boxes of 16, 15 and 10 s on the embedded Beijing study
(two workers, loaded two-core machine; not traced further); in one process it kept its
box (7.8 s of 8, 14.7 s of 16)."""

MIN_TASK_S: float = 1.0
"""A district task starts planning only with at least this many seconds left."""

SHARE_HEADROOM: float = 3.0
"""A district may take this many times its share of the workers' time (its share is by
model size, which predicts its solve time poorly: on the embedded Beijing study 海淀
needed 7.7 s where its share gave it 6.8 s, and stopped at a 14 % gap, while the tasks
as a whole used 38 s of an 85 s window). Later districts get what is left, so an early
one that takes more only shortens theirs."""


def epoch_of(deadline: float, *, now_perf: float | None = None,
             now_epoch: float | None = None) -> float:
    """The epoch time (``time.time()``) of a ``time.perf_counter()`` deadline of this process.

    Parameters
    ----------
    deadline
        ``time.perf_counter()`` time.
    now_perf, now_epoch
        The two clocks read at the same moment (default: now).

    Returns
    -------
    float
    """
    perf = time.perf_counter() if now_perf is None else now_perf
    epoch = time.time() if now_epoch is None else now_epoch
    return epoch + (deadline - perf)


def reserved_bound(time_limit_s: float, *, bound: bool) -> float:
    """Seconds kept for the city bound: :data:`BOUND_SHARE` of the limit, at most its box,
    and :data:`BOUND_OVERRUN_S` for its overrun.

    Parameters
    ----------
    time_limit_s
        The run's time limit.
    bound
        Whether the city bound is computed at all (0 otherwise).

    Returns
    -------
    float
    """
    if not bound:
        return 0.0
    return min(bound_seconds(time_limit_s), BOUND_SHARE * time_limit_s) + BOUND_OVERRUN_S


def tasks_end(deadline_epoch: float, *, time_limit_s: float, bound: bool,
              after_s: float = CITY_AFTER_S) -> float:
    """The epoch time by which every district task must have ended.

    Parameters
    ----------
    deadline_epoch
        The run's deadline, epoch seconds.
    time_limit_s
        The run's time limit (sets the bound's share, :func:`reserved_bound`).
    bound
        Whether the city bound is computed.
    after_s
        Seconds kept for the merge, the files and the cluster's close.

    Returns
    -------
    float
        ``deadline_epoch - after_s - reserved_bound(...)`` (may lie in the past).
    """
    return deadline_epoch - after_s - reserved_bound(time_limit_s, bound=bound)


def task_share(window_s: float, slots: int, weight: float) -> float:
    """A district's share of the workers' time: ``window_s * slots * weight``.

    Parameters
    ----------
    window_s
        Seconds from the submission of the tasks to their end (:func:`tasks_end`).
    slots
        Tasks running at once (worker threads).
    weight
        The district's share of the work (its size over the sizes of all districts).

    Returns
    -------
    float
        At least 0.
    """
    return max(window_s, 0.0) * max(slots, 1) * max(weight, 0.0)


def district_limit(left_s: float, share_s: float, time_limit_s: float | None) -> float | None:
    """A district task's time limit, computed when a worker starts it.

    Parameters
    ----------
    left_s
        Seconds until the tasks' end (:func:`tasks_end`) at the task's start.
    share_s
        The district's share (:func:`task_share`); it gets :data:`SHARE_HEADROOM` times
        that, at least :data:`MIN_TASK_S`.
    time_limit_s
        The run's own time limit (None: none).

    Returns
    -------
    float or None
        The smallest of the three; None when under :data:`MIN_TASK_S` is left (the
        district is not planned).
    """
    if left_s < MIN_TASK_S:
        return None
    limit = min(left_s, max(SHARE_HEADROOM * share_s, MIN_TASK_S))
    return limit if time_limit_s is None else min(limit, time_limit_s)


def bound_time(bound_s: float, left_s: float) -> float:
    """Seconds for the city bound: its box, at most what is left less
    :data:`BOUND_OVERRUN_S`; 0 under :data:`MIN_BOUND_S`.

    Parameters
    ----------
    bound_s
        The bound's time box.
    left_s
        Seconds left for it before the files must be written.

    Returns
    -------
    float
    """
    out = min(bound_s, left_s - BOUND_OVERRUN_S)
    return out if out >= MIN_BOUND_S else 0.0


def run_district_by(study: Study, scenario: Scenario, adcode: str, *, end: float,
                    slots: int, weight: float, time_limit_s: float | None,
                    **options: Any) -> DistrictRun:
    """Plan one district within the tasks' end (what each task of a run with a deadline runs).

    Its time limit is set when a worker starts it (:func:`district_limit`): its share
    (:func:`task_share`) of the workers' time left until ``end``, in proportion to its
    ``weight`` among the districts not started yet (the tasks start largest first), so
    the time that districts done early leave goes to those after them.

    Parameters
    ----------
    study, scenario, adcode
        As in :func:`netplan.planning.district.run_district`.
    end
        Epoch time (``time.time()``) by which every district task must have ended.
    slots
        Tasks running at once (worker threads).
    weight
        The district's share of the work of the districts from it on (its size over the
        sum of its own and those of the districts queued after it): 1 for the last one.
    time_limit_s
        The run's time limit (default: the scenario's).
    **options
        The other keywords of :func:`~netplan.planning.district.run_district`.

    Returns
    -------
    DistrictRun
        Failed, with the reason, when the task starts with too little time left.
    """
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
    left = end - time.time()
    limit = district_limit(left, task_share(left, slots, weight), tl)
    if limit is None:
        return too_late(adcode, left)
    return run_district(study, scenario, adcode, time_limit_s=limit, **options)


def too_late(adcode: str, left_s: float) -> DistrictRun:
    """The failed run of a district not planned: ``left_s`` seconds were left at its start."""
    return DistrictRun(adcode=adcode, ok=False, error="TimeLimit",
                       reason=f"not planned: {max(left_s, 0.0):.1f} s left within the time "
                              "limit when a worker was free; it keeps its network (give a "
                              "longer --time-limit or more --workers)")


def weights(size: Mapping[str, float], order: Sequence[str]) -> dict[str, float]:
    """Each district's share of the work from it on, in the order the tasks start.

    Parameters
    ----------
    size
        adcode -> the district's size (any unit; missing: 0).
    order
        The districts, in the order their tasks start.

    Returns
    -------
    dict
        adcode -> its size over the sum of its own and those after it (equal shares of
        the rest when those are all 0); the last one gets 1.
    """
    sizes = [max(float(size.get(a, 0.0)), 0.0) for a in order]
    out: dict[str, float] = {}
    rest = sum(sizes)
    for k, (a, s) in enumerate(zip(order, sizes, strict=True)):
        out[a] = s / rest if rest > 0 else 1.0 / (len(order) - k)
        rest -= s
    return out
