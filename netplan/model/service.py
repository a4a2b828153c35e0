"""Outlet service model: an outlet is two M/M/c queues, its counters and its smart terminals.

Arrivals ``lam`` (per hour, both streams) split by ``scenario.smart_share`` ``s``: ``(1-s) lam``
queue at the ``counters`` (mean service ``counter_service_min``), ``s lam`` at the
``terminals`` (``terminal_service_min``). The two queues are independent (see
:mod:`netplan.model.queueing` for the Erlang C formulas).

* Capacity at the target: the largest total ``lam`` at which *each* stream's mean wait is at
  most ``target_wait_min``::

      capacity = min(cap_counter / (1 - s), cap_terminal / s)

  where ``cap_counter`` = :func:`netplan.model.queueing.capacity_per_h_at_target` of the counters
  (and likewise for the terminals); ``cap_terminal / s`` is ``inf`` when ``s = 0``.
  Requiring both streams (not just the average) keeps a format with few counters from
  looking big because its terminals are idle.
* With ``[service] max_share_over_target`` set (a service level, Marianov–Serra style),
  a stream's capacity is instead the largest arrival rate at which the share of its
  customers who wait longer than the target stays at or under that share; the outlet's
  capacity combines the streams as above. Customers who give up after a finite mean
  patience (``[behaviour] patience_min``, as the behaviour model measures every plan)
  make the tail the Erlang A one (:func:`netplan.model.erlang_a.tail_capacity_per_h`);
  with infinite patience it is the Erlang C tail ``P(W > T) = C(c, a) exp(-(c - a) T /
  S)`` (:func:`tail_capacity_per_h`).
* Wait: the arrival-weighted mean of the two streams' mean waits,
  ``(1 - s) W_counter + s W_terminal`` (``inf`` as soon as a stream with arrivals saturates).
* Utilisation: the larger of the two streams' utilisations (not capped; >= 1 = saturated).

All functions are vectorised (arguments broadcast). Capacities are computed once per unique
``(counters, terminals)`` pair and cached, so a city of 562 outlets costs a handful of
root-findings.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from netplan._types import FloatArray
from netplan.model import erlang_a, queueing
from netplan.model.scenario import Scenario

__all__ = [
    "capacity_per_h",
    "format_capacity_per_h",
    "stream_capacity_per_h",
    "stream_wait_min",
    "tail_capacity_per_h",
    "utilisation",
    "wait_min",
]



@functools.lru_cache(maxsize=4096)
def _stream_cap(servers: int, service_min: float, target_wait_min: float,
                max_share: float | None, patience_min: float) -> float:
    if max_share is None:
        return queueing.capacity_per_h_at_target(servers, service_min, target_wait_min)
    if math.isfinite(patience_min):
        return erlang_a.tail_capacity_per_h(servers, service_min, patience_min,
                                            t_min=target_wait_min, max_share=max_share)
    return tail_capacity_per_h(servers, service_min, target_wait_min, max_share)


def tail_capacity_per_h(servers: int, service_min: float, target_wait_min: float,
                        max_share: float) -> float:
    """Largest arrival rate (per hour) at which at most ``max_share`` wait over the target.

    Solves ``C(c, a) exp(-(c - a) T / S) = max_share`` for the offered load ``a`` (the
    left side rises from 0 at ``a = 0`` to 1 at ``a = c``) with Brent's method.

    Parameters
    ----------
    servers : int
        Number of servers (>= 1).
    service_min : float
        Mean service time in minutes (> 0).
    target_wait_min : float
        The waiting target ``T`` in minutes (>= 0).
    max_share : float
        The largest share of customers allowed to wait longer than ``T``, in (0, 1).

    Returns
    -------
    float
        Arrivals per hour.
    """
    from scipy.optimize import brentq

    c = int(servers)

    def excess(a: float) -> float:
        tail = queueing.erlang_c(c, a) * np.exp(-(c - a) * target_wait_min / service_min)
        return float(tail) - max_share

    a = float(brentq(excess, 0.0, c * (1 - 1e-12), xtol=1e-12, rtol=1e-12, maxiter=500))
    return a * 60.0 / service_min


def _pairs(counters: Any, terminals: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    c = queueing._as_servers_array(counters, "counters")
    t = queueing._as_servers_array(terminals, "terminals")
    cb, tb = np.broadcast_arrays(c, t)
    return cb, tb


def stream_capacity_per_h(
    counters: Any, terminals: Any, *, scenario: Scenario
) -> tuple[FloatArray, FloatArray]:
    """Per-stream capacity ``(cap_counter, cap_terminal)`` in arrivals/h of *that* stream.

    Each is the largest arrival rate of the stream whose mean wait is within
    ``scenario.target_wait_min`` (or, with ``max_share_over_target``, whose share waiting
    longer stays within it); computed once per unique pair and cached.
    """
    c, t = _pairs(counters, terminals)
    target = scenario.target_wait_min
    uc, ic = np.unique(c, return_inverse=True)
    ut, it = np.unique(t, return_inverse=True)
    share = scenario.max_share_over_target
    patience = float(scenario.patience_min)
    cap_c = np.array([_stream_cap(int(k), scenario.counter_service_min, target, share,
                                  patience) for k in uc])
    cap_t = np.array([_stream_cap(int(k), scenario.terminal_service_min, target, share,
                                  patience) for k in ut])
    return (
        np.asarray(cap_c[ic].reshape(c.shape), dtype=np.float64),
        np.asarray(cap_t[it].reshape(t.shape), dtype=np.float64),
    )


def capacity_per_h(counters: Any, terminals: Any, *, scenario: Scenario) -> FloatArray:
    """Largest total arrival rate (per hour) at which each stream's mean wait meets the target.

    ``min(cap_counter / (1 - s), cap_terminal / s)`` with ``s = scenario.smart_share``.

    Parameters
    ----------
    counters, terminals
        Integers >= 1 (scalars or arrays; broadcast together).
    scenario
        Gives the smart share, both service times and the wait target.

    Returns
    -------
    numpy.ndarray
        Arrivals per hour, the broadcast shape of the inputs.

    Raises
    ------
    QueueingError
        A count is not an integer >= 1.
    """
    cap_c, cap_t = stream_capacity_per_h(counters, terminals, scenario=scenario)
    s = scenario.smart_share
    by_counter = cap_c / (1.0 - s)
    by_terminal = cap_t / s if s > 0 else np.full_like(cap_t, np.inf)
    return np.asarray(np.minimum(by_counter, by_terminal), dtype=np.float64)


def stream_wait_min(
    arrivals_per_h: Any, counters: Any, terminals: Any, *, scenario: Scenario
) -> tuple[FloatArray, FloatArray]:
    """Mean waits ``(counter, terminal)`` in minutes of the two streams (inf = saturated)."""
    c, t = _pairs(counters, terminals)
    lam = np.asarray(arrivals_per_h, dtype=np.float64)
    s = scenario.smart_share
    w_c = queueing.mean_wait_min_array(c, lam * (1.0 - s), scenario.counter_service_min)
    w_t = queueing.mean_wait_min_array(t, lam * s, scenario.terminal_service_min)
    return w_c, w_t


def wait_min(
    arrivals_per_h: Any, counters: Any, terminals: Any, *, scenario: Scenario
) -> FloatArray:
    """Arrival-weighted mean wait in minutes, ``(1 - s) W_counter + s W_terminal``.

    ``inf`` where a stream that has arrivals is saturated; 0 with no arrivals.

    Raises
    ------
    QueueingError
        Negative or non-finite arrivals, or counts that are not integers >= 1.
    """
    s = scenario.smart_share
    w_c, w_t = stream_wait_min(arrivals_per_h, counters, terminals, scenario=scenario)
    part_c = np.where(s < 1.0, (1.0 - s) * w_c, 0.0)
    part_t = np.where(s > 0.0, s * w_t, 0.0)
    return np.asarray(part_c + part_t, dtype=np.float64)


def utilisation(
    arrivals_per_h: Any, counters: Any, terminals: Any, *, scenario: Scenario
) -> FloatArray:
    """The larger of the two streams' utilisations (not capped: >= 1 means saturated)."""
    c, t = _pairs(counters, terminals)
    lam = np.asarray(arrivals_per_h, dtype=np.float64)
    s = scenario.smart_share
    u_c = queueing.utilisation_array(c, lam * (1.0 - s), scenario.counter_service_min)
    u_t = queueing.utilisation_array(t, lam * s, scenario.terminal_service_min)
    return np.asarray(np.maximum(u_c, u_t), dtype=np.float64)


def format_capacity_per_h(scenario: Scenario) -> dict[str, float]:
    """Capacity (arrivals/h at the wait target) of every format of the scenario, in file order."""
    return {
        name: float(capacity_per_h(f.counters, f.terminals, scenario=scenario))
        for name, f in scenario.formats.items()
    }
