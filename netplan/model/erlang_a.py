"""Queues whose customers give up: Erlang A (M/M/c+M), the textbook model of reneging.

A queue has ``c`` servers, Poisson arrivals at rate ``lam``, exponential service at rate
``mu`` per server and exponential patience at rate ``theta`` (mean patience ``1/theta``):
a customer still waiting when its patience runs out leaves without service (Garnett,
Mandelbaum & Reiman 2002, "Designing a call center with impatient customers"). Unlike
Erlang C, the queue is stable at any load, so an overloaded outlet has a finite, plausible
wait and a share of customers who give up, as real branch queues do.

The number in system is a birth-death chain with birth rate ``lam`` and death rate
``min(n, c) mu + max(n - c, 0) theta``; it is solved exactly in log space on states
``0..N`` with ``N`` chosen so that the truncated mass is below 1e-12. With ``Lq`` the mean
queue length (Little's law, PASTA):

* mean time waiting of all ticketed customers (served or not): ``Lq / lam``;
* share who give up: ``theta Lq / lam``;
* ``P(W > t)``, the share who wait longer than ``t`` (served later, or giving up after
  ``t``): an arrival that finds ``j = n - c >= 0`` customers ahead needs ``j + 1`` moves
  to reach a server, at rates ``c mu + k theta`` for ``k = j, ..., 0``; its wait is the
  smaller of that time ``V_j`` and its own patience, so
  ``P(W > t) = exp(-theta t) sum_n pi_n P(V_{n-c} > t)``. ``P(V_j > t)`` is computed for
  every ``j`` at once by uniformisation of the pure-death chain.

As ``theta -> 0`` (infinite patience) and ``lam < c mu`` these tend to Erlang C's
``C / (c mu - lam)`` and ``C exp(-(c mu - lam) t)``; the tests check both limits and a
simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from netplan._errors import QueueingError
from netplan._types import FloatArray, IntArray

__all__ = ["MAX_PATIENCE_MIN", "ErlangA", "erlang_a", "erlang_a_curve", "tail_capacity_per_h"]

_TAIL_EPS = 1e-12
#: Longest finite mean patience accepted (a week); beyond it use ``inf`` (Erlang C).
MAX_PATIENCE_MIN = 10_080.0


@dataclass(frozen=True)
class ErlangA:
    """Steady state of an M/M/c+M queue (times in minutes).

    Attributes
    ----------
    mean_wait_min : float
        Mean time spent waiting by every customer who joins (served or giving up).
    share_abandon : float
        Share of customers who give up before service.
    share_wait_over : float
        Share of customers who wait longer than the ``t_min`` asked for.
    utilisation : float
        Mean share of servers busy (at most 1).
    """

    mean_wait_min: float
    share_abandon: float
    share_wait_over: float
    utilisation: float


def _check(servers: int, lam: float, mu: float, theta: float, t_min: float) -> None:
    if isinstance(servers, bool) or int(servers) != servers or servers < 1:
        raise QueueingError(f"servers must be a whole number >= 1, got {servers!r}")
    for name, value in (("arrivals", lam), ("patience rate", theta), ("t_min", t_min)):
        if not (math.isfinite(value) and value >= 0):
            raise QueueingError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (math.isfinite(mu) and mu > 0):
        raise QueueingError(f"service rate must be a finite number > 0, got {mu!r}")
    if theta == 0 and lam >= servers * mu:
        raise QueueingError(
            "with infinite patience (patience rate 0) the queue needs arrivals below "
            f"servers x service rate ({lam:g} >= {servers * mu:g}); give a finite patience"
        )


def _states(c: int, lam: float, mu: float, theta: float) -> FloatArray:
    """Stationary distribution of the number in system on ``0..N`` (log-space recursion)."""
    # With patience, beyond n* = c + (lam - c mu)/theta the chain drifts down and 12
    # standard deviations of the queue there (sqrt(lam/theta)) hold all but ~1e-12. Below
    # saturation the M/M/c geometric tail (ratio rho) bounds it too, as deaths only add.
    top = math.inf
    if theta > 0:
        spread = math.sqrt(lam / theta) if lam > 0 else 1.0
        top = c + max(0.0, (lam - c * mu) / theta) + 12.0 * spread + 20.0
    rho = lam / (c * mu)
    if rho < 1:
        top = min(top, c + 20.0 + (math.log(_TAIL_EPS) / math.log(rho) if rho > 0 else 0.0))
    n_max = int(min(max(top, c + 20.0), c + 2_000_000))
    n = np.arange(1, n_max + 1, dtype=np.float64)
    death = np.minimum(n, c) * mu + np.maximum(n - c, 0.0) * theta
    with np.errstate(divide="ignore"):
        log_step = math.log(lam) - np.log(death) if lam > 0 else np.full(n_max, -np.inf)
    log_pi = np.concatenate(([0.0], np.cumsum(log_step)))
    log_pi -= np.logaddexp.reduce(log_pi)
    return np.exp(log_pi)


def _poisson_last(q: float, mean: float) -> int:
    """The smallest ``k`` with ``P(X <= k) >= q`` for ``X ~ Poisson(mean)``, ``0 < q < 1``.

    The steps of :meth:`scipy.stats.poisson.ppf`, on :mod:`scipy.special` alone: importing
    :mod:`scipy.stats` costs about a second at every start of the command line.
    """
    k = float(np.ceil(special.pdtrik(q, mean)))
    below = max(k - 1.0, 0.0)
    return int(below if special.pdtr(below, mean) >= q else k)


def _poisson_pmf(k: IntArray, mean: float) -> FloatArray:
    """``P(X = k)`` for ``X ~ Poisson(mean)``: :meth:`scipy.stats.poisson.pmf`'s formula."""
    log_p = special.xlogy(k, mean) - special.gammaln(k + 1) - mean
    return np.asarray(np.clip(np.exp(log_p), 0.0, 1.0), dtype=np.float64)


def _tail_of_moves(c: int, mu: float, theta: float, j_max: int, t: float) -> FloatArray:
    """``P(V_j > t)`` for ``j = 0..j_max``: time to make ``j + 1`` moves at rates
    ``c mu + k theta`` (``k = j, ..., 0``), by uniformisation of the pure-death chain."""
    rates = c * mu + np.arange(j_max + 1, dtype=np.float64) * theta
    big_r = float(rates[-1])
    if t == 0:
        return np.ones(j_max + 1)
    rt = big_r * t
    m_max = _poisson_last(1 - _TAIL_EPS, rt) + 1
    weights = _poisson_pmf(np.arange(m_max + 1), rt)
    move = rates / big_r
    stay = 1.0 - move
    alive = np.ones(j_max + 1)  # P(not yet at a server after m uniformised steps)
    shifted = np.zeros(j_max + 1)  # alive one place down (none ahead of j = 0)
    out = weights[0] * alive
    for m in range(1, m_max + 1):
        shifted[1:] = alive[:-1]
        alive = stay * alive + move * shifted
        out += weights[m] * alive
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)


def erlang_a(servers: int, arrivals_per_h: float, service_min: float, patience_min: float,
             *, t_min: float) -> ErlangA:
    """Steady state of an Erlang A queue.

    Parameters
    ----------
    servers : int
        Counters (or terminals) open, ``>= 1``.
    arrivals_per_h : float
        Poisson arrivals per hour, ``>= 0``.
    service_min : float
        Mean service time per customer, minutes, ``> 0``.
    patience_min : float
        Mean patience, minutes; ``inf`` for customers who never give up (Erlang C; then the
        arrivals must be below the servers' capacity).
    t_min : float
        Wait limit for :attr:`ErlangA.share_wait_over`, minutes.

    Returns
    -------
    ErlangA
        Mean wait, share giving up, share waiting over ``t_min``, utilisation.

    Raises
    ------
    QueueingError
        On invalid numbers, or an unstable queue with infinite patience.
    """
    if not (service_min > 0 and math.isfinite(service_min)):
        raise QueueingError(f"service_min must be a finite number > 0, got {service_min!r}")
    if not (patience_min > 0 and (math.isinf(patience_min) or patience_min <= MAX_PATIENCE_MIN)):
        raise QueueingError(
            f"patience_min must be > 0 and at most {MAX_PATIENCE_MIN:g} minutes, or inf for "
            f"customers who never give up; got {patience_min!r}"
        )
    lam, mu = arrivals_per_h / 60.0, 1.0 / service_min
    theta = 0.0 if math.isinf(patience_min) else 1.0 / patience_min
    _check(servers, lam, mu, theta, t_min)
    c = int(servers)
    if lam == 0:
        return ErlangA(0.0, 0.0, 0.0, 0.0)
    pi = _states(c, lam, mu, theta)
    queue = np.maximum(np.arange(pi.size) - c, 0)
    lq = float(np.dot(pi, queue))
    busy = float(np.dot(pi, np.minimum(np.arange(pi.size), c))) / c
    ahead = pi[c:]
    if ahead.size:
        tail = _tail_of_moves(c, mu, theta, ahead.size - 1, t_min)
        over = math.exp(-theta * t_min) * float(np.dot(ahead, tail))
    else:
        over = 0.0
    return ErlangA(lq / lam, theta * lq / lam, min(max(over, 0.0), 1.0), min(busy, 1.0))


def erlang_a_curve(servers: int, service_min: float, patience_min: float, *, t_min: float,
                   arrivals_per_h: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean wait, share giving up and share over ``t_min`` along a grid of arrival rates.

    The behaviour model interpolates in these curves, so each distinct number of servers is
    solved once per grid point rather than once per outlet and iteration.

    Parameters
    ----------
    servers, service_min, patience_min, t_min
        As in :func:`erlang_a`.
    arrivals_per_h : ndarray
        Increasing arrival rates per hour (``>= 0``).

    Returns
    -------
    tuple of ndarray
        ``(mean_wait_min, share_abandon, share_wait_over)``, each shaped like the grid.
    """
    res = [erlang_a(servers, float(x), service_min, patience_min, t_min=t_min)
           for x in arrivals_per_h]
    return (np.array([r.mean_wait_min for r in res]),
            np.array([r.share_abandon for r in res]),
            np.array([r.share_wait_over for r in res]))


def tail_capacity_per_h(servers: int, service_min: float, patience_min: float, *,
                        t_min: float, max_share: float) -> float:
    """Largest arrival rate (per hour) at which at most ``max_share`` wait longer than
    ``t_min``, customers giving up after a mean ``patience_min`` (the service level of an
    Erlang A queue).

    ``P(W > t)`` rises with the arrivals towards ``exp(-t / patience)`` (under heavy
    overload every customer waits until their patience runs out), so a level at or above
    that is met at any load and is refused. The rate is found by Brent's method between 0
    and a rate where the share is exceeded (doubling from the servers' capacity).

    Parameters
    ----------
    servers, service_min, patience_min
        As in :func:`erlang_a` (a finite patience).
    t_min : float
        The waiting target, minutes.
    max_share : float
        The largest share allowed to wait longer than ``t_min``, in (0, 1).

    Returns
    -------
    float
        Arrivals per hour.

    Raises
    ------
    QueueingError
        When ``max_share`` is met at any load, or on invalid numbers.
    """
    from scipy.optimize import brentq

    if not 0 < max_share < 1:
        raise QueueingError(f"max_share must be in (0, 1), got {max_share!r}")
    ceiling = math.exp(-t_min / patience_min) if math.isfinite(patience_min) else 1.0
    if max_share >= ceiling * (1 - 1e-9):
        raise QueueingError(
            f"a share of {max_share:g} waiting longer than {t_min:g} min is met at any load "
            f"when customers give up after {patience_min:g} min on average (at most "
            f"exp(-{t_min:g}/{patience_min:g}) = {ceiling:.3f} can wait that long); give a "
            "smaller share")

    def excess(lam: float) -> float:
        return erlang_a(servers, lam, service_min, patience_min,
                        t_min=t_min).share_wait_over - max_share

    hi = servers * 60.0 / service_min
    while excess(hi) <= 0:
        hi *= 2.0
    return float(brentq(excess, 0.0, hi, xtol=1e-9, rtol=1e-10, maxiter=500))
