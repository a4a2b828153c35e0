"""M/M/c queues (Erlang C): probability of waiting, mean wait, capacity at a wait target.

Numbers only: floats and numpy arrays in, floats and numpy arrays out; no geo imports.

Model and units
---------------
Customers arrive as a Poisson stream of ``arrivals_per_h`` per hour at ``servers`` identical
servers (counters or terminals) with exponential service times of mean ``service_min``
minutes, first come first served, nobody leaves the queue. The offered load is

    a = arrivals_per_h * service_min / 60        [Erlang]

and the utilisation ``rho = a / servers``. For ``rho < 1``:

* Erlang B by the stable forward recursion (no factorials, no overflow for any c):
  ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``;
* Erlang C, the probability that an arriving customer has to wait:
  ``C = B(c) / (1 - rho (1 - B(c)))``;
* mean wait in the queue (before service starts), in minutes:
  ``Wq = C * service_min / (c - a)``.

Saturation (``rho >= 1``): the queue grows without bound, so ``erlang_c`` returns 1 and
``mean_wait_min`` returns ``inf``. These are results, not errors. Zero arrivals give
``C = 0`` and a wait of 0.

Invalid inputs raise :class:`~netplan._errors.QueueingError` naming the argument:
``servers`` not an integer in [1, MAX_SERVERS] (the formulas cost O(servers)), negative or
non-finite rates, loads or times, a non-positive service time, a negative or NaN target.

The capacity at a wait target solves ``C(c, a) * S - T * (c - a) = 0`` for ``a`` with
:func:`scipy.optimize.brentq`. That function is continuous and strictly increasing on
``[0, c]`` (it is ``-T c`` at 0 and ``S`` at saturation), so the root is unique and found to
full double precision without ever touching the singularity of ``Wq`` at ``a = c``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from netplan._errors import QueueingError
from netplan._types import FloatArray

__all__ = [
    "capacity_per_h_at_target",
    "erlang_b",
    "erlang_c",
    "erlang_c_array",
    "mean_wait_min",
    "mean_wait_min_array",
    "offered_load_erl",
    "prob_wait",
    "servers_for_target",
    "utilisation",
    "utilisation_array",
]


#: Largest number of servers accepted (and tried by :func:`servers_for_target`); the
#: formulas cost O(servers).
MAX_SERVERS = 100_000


# --- argument checks ---------------------------------------------------------------------


def _check_servers(servers: Any, name: str = "servers") -> int:
    if isinstance(servers, bool | np.bool_):
        raise QueueingError(f"{name} must be an integer >= 1, got {servers!r} (a boolean)")
    if isinstance(servers, int | np.integer):
        value = int(servers)
    elif isinstance(servers, float | np.floating) and math.isfinite(servers) and servers == int(
        servers
    ):
        value = int(servers)
    else:
        raise QueueingError(f"{name} must be an integer >= 1 (a count of servers), got {servers!r}")
    if value < 1 or value > MAX_SERVERS:
        raise QueueingError(
            f"{name} must be an integer in [1, {MAX_SERVERS}] (a count of servers), got {value}"
        )
    return value


def _check_nonneg(value: Any, name: str, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool | np.bool_):
        raise QueueingError(f"{name} must be a number >= 0, got {value!r} (a boolean)")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise QueueingError(f"{name} must be a number >= 0, got {value!r}") from None
    if math.isnan(x) or x < 0 or (math.isinf(x) and not allow_inf):
        raise QueueingError(f"{name} must be a finite number >= 0, got {value!r}")
    return x


def _check_positive(value: Any, name: str) -> float:
    x = _check_nonneg(value, name)
    if x <= 0:
        raise QueueingError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def _as_float_array(values: Any, name: str, *, positive: bool = False) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise QueueingError(f"{name} must be numbers, got {values!r}") from None
    bad = ~np.isfinite(arr) | (arr <= 0 if positive else arr < 0)
    if np.any(bad):
        first = arr[bad].flat[0]
        cond = "> 0" if positive else ">= 0"
        raise QueueingError(
            f"{name} must be finite numbers {cond}; {int(bad.sum())} value(s) are not, "
            f"e.g. {first!r}"
        )
    return arr


def _as_servers_array(values: Any, name: str = "servers") -> npt.NDArray[np.int64]:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # pragma: no cover - np.asarray accepts almost anything
        raise QueueingError(f"{name} must be integers >= 1, got {values!r}") from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise QueueingError(f"{name} must be integers >= 1, got dtype {arr.dtype}")
    farr = arr.astype(np.float64)
    bad = ~np.isfinite(farr) | (farr < 1) | (farr > MAX_SERVERS) | (farr != np.floor(farr))
    if np.any(bad):
        raise QueueingError(
            f"{name} must be integers in [1, {MAX_SERVERS}] (counts of servers); "
            f"{int(bad.sum())} value(s) "
            f"are not, e.g. {farr[bad].flat[0]!r}"
        )
    return farr.astype(np.int64)


# --- scalar formulas ---------------------------------------------------------------------


def _load(lam: float, s: float) -> float:
    a = lam * s / 60.0
    if not math.isfinite(a):
        raise QueueingError(
            f"arrivals_per_h={lam!r} times service_min={s!r} overflows; check the units "
            "(arrivals per hour, service time in minutes)"
        )
    return a


def offered_load_erl(arrivals_per_h: float, service_min: float) -> float:
    """Offered load in Erlang: ``arrivals_per_h * service_min / 60``."""
    lam = _check_nonneg(arrivals_per_h, "arrivals_per_h")
    s = _check_positive(service_min, "service_min")
    return _load(lam, s)


def _erlang_b_unchecked(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def _erlang_c_unchecked(c: int, a: float) -> float:
    if a <= 0.0:
        return 0.0
    rho = a / c
    if rho >= 1.0:
        return 1.0
    b = _erlang_b_unchecked(c, a)
    return min(1.0, b / (1.0 - rho * (1.0 - b)))


def erlang_b(servers: int, offered_load_erl: float) -> float:
    """Erlang B blocking probability of ``servers`` servers offered ``offered_load_erl`` Erlang.

    Computed by the forward recursion ``B(k) = a B(k-1) / (k + a B(k-1))`` (stable, no
    factorials). Defined for every load >= 0 (no saturation in a loss system).
    """
    c = _check_servers(servers)
    a = _check_nonneg(offered_load_erl, "offered_load_erl")
    return _erlang_b_unchecked(c, a)


def erlang_c(servers: int, offered_load_erl: float) -> float:
    """Probability that an arriving customer has to wait (Erlang C) in an M/M/c queue.

    Parameters
    ----------
    servers
        Number of servers ``c`` (integer >= 1).
    offered_load_erl
        Offered load ``a = lambda * S`` in Erlang (>= 0, finite).

    Returns
    -------
    float
        ``C(c, a)`` in [0, 1]; 0 for ``a = 0``; 1 when saturated (``a >= c``).

    Raises
    ------
    QueueingError
        ``servers`` is not an integer >= 1, or the load is negative, infinite or NaN.
    """
    c = _check_servers(servers)
    a = _check_nonneg(offered_load_erl, "offered_load_erl")
    return _erlang_c_unchecked(c, a)


def prob_wait(servers: int, arrivals_per_h: float, service_min: float) -> float:
    """Erlang C from an hourly arrival rate and a service time in minutes (see :func:`erlang_c`)."""
    c = _check_servers(servers)
    return _erlang_c_unchecked(c, offered_load_erl(arrivals_per_h, service_min))


def utilisation(servers: int, arrivals_per_h: float, service_min: float) -> float:
    """Server utilisation ``rho = arrivals_per_h * service_min / (60 * servers)``.

    Not capped: a value >= 1 means the queue is saturated (grows without bound).
    """
    c = _check_servers(servers)
    return offered_load_erl(arrivals_per_h, service_min) / c


def _mean_wait_unchecked(c: int, a: float, s: float) -> float:
    if a <= 0.0:
        return 0.0
    if a >= c:
        return math.inf
    return _erlang_c_unchecked(c, a) * s / (c - a)


def mean_wait_min(servers: int, arrivals_per_h: float, service_min: float) -> float:
    """Mean time in the queue (before service starts), in minutes, of an M/M/c queue.

    ``Wq = C(c, a) * service_min / (c - a)`` with ``a = arrivals_per_h * service_min / 60``.

    Returns
    -------
    float
        The mean wait in minutes; 0 with no arrivals; ``math.inf`` when saturated
        (utilisation >= 1).

    Raises
    ------
    QueueingError
        ``servers`` < 1 or not an integer; negative/NaN/infinite arrivals; a service time
        that is not a finite number > 0.

    Examples
    --------
    Ten Erlang offered to 11 agents with a 180 s handling time wait 122.8 s on average:

    >>> round(mean_wait_min(11, 200.0, 3.0) * 60, 1)
    122.8
    """
    c = _check_servers(servers)
    lam = _check_nonneg(arrivals_per_h, "arrivals_per_h")
    s = _check_positive(service_min, "service_min")
    return _mean_wait_unchecked(c, _load(lam, s), s)


def capacity_per_h_at_target(servers: int, service_min: float, target_wait_min: float) -> float:
    """Largest arrival rate (per hour) whose mean wait stays at or under ``target_wait_min``.

    Solves ``Wq(lambda) = target`` on the monotone function
    ``h(a) = C(c, a) * S - T * (c - a)`` (strictly increasing on ``[0, c]``, ``h(0) = -T c``,
    ``h(c) = S``) with Brent's method to full double precision (``rtol`` = 4 eps), then
    steps down ulp by ulp until :func:`mean_wait_min` of the result is within the target.

    Parameters
    ----------
    servers
        Number of servers (integer >= 1).
    service_min
        Mean service time in minutes (> 0).
    target_wait_min
        Wait target in minutes (>= 0). 0 gives 0 (any arrival makes someone wait);
        ``inf`` gives the saturation rate ``60 c / S`` (the supremum, not attained).

    Returns
    -------
    float
        Arrivals per hour; below the saturation rate ``60 * servers / service_min`` (equal
        to it only for an infinite target).
    """
    c = _check_servers(servers)
    s = _check_positive(service_min, "service_min")
    t = _check_nonneg(target_wait_min, "target_wait_min", allow_inf=True)
    if t == 0.0:
        return 0.0
    if math.isinf(t):
        return _finite_rate(60.0 * c / s, s)

    def h(a: float) -> float:
        return _erlang_c_unchecked(c, a) * s - t * (c - a)

    a_star = float(brentq(h, 0.0, float(c), xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))
    # Brent stops within a few ulps of the root; step down to the largest arrival rate whose
    # wait, computed exactly as mean_wait_min computes it, is still within the target.
    lam = a_star * 60.0 / s
    for _ in range(10_000):
        if lam <= 0.0 or _mean_wait_unchecked(c, lam * s / 60.0, s) <= t:
            break
        lam = math.nextafter(lam, 0.0)
    return _finite_rate(lam, s)


def _finite_rate(lam: float, s: float) -> float:
    if not math.isfinite(lam):
        raise QueueingError(
            f"service_min={s!r} is so short that the capacity overflows; give the service "
            "time in minutes"
        )
    return lam


def servers_for_target(arrivals_per_h: float, service_min: float, target_wait_min: float) -> int:
    """Fewest servers whose mean wait at ``arrivals_per_h`` is at or under ``target_wait_min``.

    Walks ``c = floor(a) + 1, floor(a) + 2, ...`` carrying the Erlang B recursion along,
    so the cost is O(c). With no arrivals the answer is 1 (an outlet has at least one
    server).

    Raises
    ------
    QueueingError
        Invalid arguments, or more than :data:`MAX_SERVERS` servers would be needed.
    """
    lam = _check_nonneg(arrivals_per_h, "arrivals_per_h")
    s = _check_positive(service_min, "service_min")
    t = _check_nonneg(target_wait_min, "target_wait_min", allow_inf=True)
    a = _load(lam, s)
    if a == 0.0:
        return 1
    c_min = math.floor(a) + 1
    if c_min > MAX_SERVERS:
        raise QueueingError(
            f"arrivals_per_h={lam} with service_min={s} is an offered load of {a:.4g} Erlang, "
            f"which needs more than MAX_SERVERS={MAX_SERVERS} servers; check the units "
            "(arrivals per hour, service time in minutes)"
        )
    b = 1.0
    for k in range(1, MAX_SERVERS + 1):
        b = a * b / (k + a * b)
        if k < c_min:
            continue
        rho = a / k
        cw = min(1.0, b / (1.0 - rho * (1.0 - b)))
        if cw * s / (k - a) <= t:
            return k
    raise QueueingError(  # pragma: no cover - only for absurd targets close to 0
        f"no number of servers up to MAX_SERVERS={MAX_SERVERS} gets the mean wait at "
        f"arrivals_per_h={lam}, service_min={s} down to target_wait_min={t}"
    )


# --- vectorised formulas -------------------------------------------------------------------


def erlang_c_array(servers: Any, offered_load_erl: Any) -> FloatArray:
    """Vectorised :func:`erlang_c`: ``servers`` and ``offered_load_erl`` broadcast together.

    The Erlang B recursion runs ``max(servers)`` steps over the whole array (each element
    stops updating after its own ``c``), so the cost is ``O(max(servers) * size)``.
    """
    c = _as_servers_array(servers)
    a = _as_float_array(offered_load_erl, "offered_load_erl")
    c_b, a_b = np.broadcast_arrays(c, a)
    b = np.ones(a_b.shape, dtype=np.float64)
    cmax = int(c_b.max()) if c_b.size else 0
    for k in range(1, cmax + 1):
        upd = a_b * b / (k + a_b * b)
        b = np.where(k <= c_b, upd, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = a_b / c_b
        cw = b / (1.0 - rho * (1.0 - b))
    cw = np.minimum(cw, 1.0)
    cw = np.where(rho >= 1.0, 1.0, cw)
    cw = np.where(a_b <= 0.0, 0.0, cw)
    return np.asarray(cw, dtype=np.float64)


def utilisation_array(servers: Any, arrivals_per_h: Any, service_min: Any) -> FloatArray:
    """Vectorised :func:`utilisation` (arguments broadcast; not capped at 1)."""
    c = _as_servers_array(servers)
    lam = _as_float_array(arrivals_per_h, "arrivals_per_h")
    s = _as_float_array(service_min, "service_min", positive=True)
    return np.asarray(lam * s / 60.0 / c, dtype=np.float64)


def mean_wait_min_array(servers: Any, arrivals_per_h: Any, service_min: Any) -> FloatArray:
    """Vectorised :func:`mean_wait_min` (arguments broadcast; ``inf`` where saturated)."""
    c = _as_servers_array(servers)
    lam = _as_float_array(arrivals_per_h, "arrivals_per_h")
    s = _as_float_array(service_min, "service_min", positive=True)
    a = lam * s / 60.0
    cw = erlang_c_array(c, a)
    c_b, a_b, s_b = np.broadcast_arrays(c, a, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = cw * s_b / (c_b - a_b)
    w = np.where(a_b >= c_b, np.inf, w)
    w = np.where(a_b <= 0.0, 0.0, w)
    return np.asarray(w, dtype=np.float64)
