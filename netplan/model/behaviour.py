"""How customers choose an outlet, and what they then experience: one model for every figure.

Two rules, for a network of open outlets and zones of peak-hour demand:

``nearest``
    Each zone goes to its nearest open outlet within reach; an outlet takes customers
    until its busier queue is ``spill_utilisation`` busy, the rest spill to the next
    nearest with room (the rule of the diagnosis).
``choice``
    Customers choose among the outlets within reach by a logit (Huff) share of their
    generalised cost, travel time plus ``wait_weight`` times the expected wait that a
    "which outlet now" app shows them::

        P(i -> j) = exp(-scale (t_ij + w W_j)) / sum_k exp(-scale (t_ik + w W_k))

    ``W_j`` depends on the load the choices put on ``j``: a congestion equilibrium
    (Marianov, Ríos & Icaza 2008), found by the method of successive averages. Counter
    and terminal customers choose separately, each by the wait of the queue they join.
    A zone's demand is spread over the outlets within reach, not snapped to one.

Either way every outlet is two Erlang A queues (:mod:`netplan.model.erlang_a`): customers
give up after a mean ``patience_min``, so waits stay finite and plausible under overload.

Defaults (documented guesses from the literature, to be calibrated with queue logs):
travel at 15 km/h door to door in a Chinese city centre; a minute waiting weighs 1.5
minutes travelling (waiting is valued 1.5-2x in-vehicle time in transport appraisal,
Wardman 2004); a logit scale of 0.2 per generalised minute (a 5-minute advantage doubles
the odds e-fold); a mean patience of 140 minutes at the counters (customers with
business that must be done in person rarely give up: it puts the 2020 network's counter
wait at the pre-reform 14-15 minutes). The scenario's ``[behaviour]`` table sets them
(:func:`behaviour_of`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan._errors import NetplanError
from netplan._types import FloatArray, IntArray
from netplan.model.erlang_a import erlang_a_curve
from netplan.model.kpi import assign_nearest_with_spill
from netplan.model.scenario import BEHAVIOUR_RULES, Scenario

__all__ = [
    "PARAMETERS",
    "RULES",
    "Behaviour",
    "Evaluation",
    "Streams",
    "behaviour_of",
    "evaluate",
    "logit_shares",
    "service_kpis",
]

RULES: tuple[str, ...] = BEHAVIOUR_RULES

#: The parameters a scenario's ``[behaviour]`` table sets (the rule apart).
PARAMETERS: tuple[str, ...] = ("patience_min", "speed_kmh", "wait_weight", "scale_per_min",
                               "spill_utilisation")


@dataclass(frozen=True)
class Behaviour:
    """Customer behaviour parameters (the scenario's ``[behaviour]`` table).

    Attributes
    ----------
    rule : {"choice", "nearest"}
        How customers pick an outlet.
    patience_min : float
        Mean patience before giving up (Erlang A); ``inf`` for customers who never leave.
    speed_kmh : float
        Door-to-door speed that turns travel distance into minutes (choice).
    wait_weight : float
        How many travel minutes one waiting minute weighs (choice).
    scale_per_min : float
        Logit sensitivity to generalised minutes (choice).
    spill_utilisation : float
        Utilisation up to which an outlet takes customers before they spill (nearest).
    max_iter : int
        Iterations of the successive averages at most (choice).
    tol : float
        Convergence: the largest change of an outlet's load, relative to the total demand.
    """

    rule: Literal["nearest", "choice"] = "choice"
    patience_min: float = 140.0
    speed_kmh: float = 15.0
    wait_weight: float = 1.5
    scale_per_min: float = 0.2
    spill_utilisation: float = 0.95
    max_iter: int = 500
    tol: float = 1e-5

    def __post_init__(self) -> None:
        problems = []
        if self.rule not in RULES:
            problems.append(f"rule = {self.rule!r}: use one of {', '.join(RULES)}")
        for name, lo, hi in (("speed_kmh", 0.5, 200.0), ("wait_weight", 0.0, 20.0),
                             ("scale_per_min", 1e-3, 10.0), ("spill_utilisation", 0.05, 1.0),
                             ("tol", 1e-12, 0.1)):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and lo <= v <= hi):
                problems.append(f"{name} = {v!r}: give a number in [{lo:g}, {hi:g}]")
        if not (self.patience_min > 0):
            problems.append(f"patience_min = {self.patience_min!r}: give minutes > 0 or inf")
        if not (isinstance(self.max_iter, int) and 1 <= self.max_iter <= 100_000):
            problems.append(f"max_iter = {self.max_iter!r}: give a whole number in [1, 100000]")
        if problems:
            raise NetplanError("behaviour: " + "; ".join(problems))


@dataclass(frozen=True)
class Streams:
    """The two queues of every outlet and the demand that feeds them.

    Attributes
    ----------
    zone_arrivals_per_h : ndarray
        ``(n_zones,)`` peak-hour arrivals of each zone (both streams).
    smart_share : float
        Share of arrivals that go to the terminals.
    counters, terminals : ndarray
        ``(n_outlets,)`` servers of each queue (0 = the outlet has no such queue).
    counter_service_min, terminal_service_min : float
        Mean service times.
    capacity_per_h : ndarray
        ``(n_outlets,)`` largest total arrivals at which both queues meet the wait target
        (the planner's capacity); an outlet above it is overloaded.
    target_wait_min : float
        The wait limit of the KPIs.
    """

    zone_arrivals_per_h: FloatArray
    smart_share: float
    counters: IntArray
    terminals: IntArray
    counter_service_min: float
    terminal_service_min: float
    capacity_per_h: FloatArray
    target_wait_min: float


@dataclass(frozen=True)
class Evaluation:
    """A network evaluated under a behaviour rule (per outlet, per queue; per hour, minutes).

    Attributes
    ----------
    rule : str
        The rule used.
    flows : scipy.sparse.csr_array
        ``(n_zones, n_outlets)`` arrivals per hour from each zone to each outlet.
    unserved_per_h : ndarray
        ``(n_zones,)`` arrivals that find no outlet within reach (or no room, nearest).
    load_per_h : ndarray
        ``(n_outlets,)`` arrivals at each outlet, both queues.
    counter_wait_min, terminal_wait_min : ndarray
        Mean wait of the customers who join each queue.
    counter_abandon, terminal_abandon : ndarray
        Share of each queue's customers who give up.
    counter_over, terminal_over : ndarray
        Share of each queue's customers who wait longer than the target.
    iterations : int
        Successive-average iterations (0 for ``nearest``).
    residual : float
        Final largest load change relative to the total demand (0 for ``nearest``).
    """

    rule: str
    flows: sp.csr_array
    unserved_per_h: FloatArray
    load_per_h: FloatArray
    counter_wait_min: FloatArray
    terminal_wait_min: FloatArray
    counter_abandon: FloatArray
    terminal_abandon: FloatArray
    counter_over: FloatArray
    terminal_over: FloatArray
    iterations: int
    residual: float


def behaviour_of(scenario: Scenario, *, rule: str | None = None) -> Behaviour:
    """The behaviour a scenario's ``[behaviour]`` table describes.

    Parameters
    ----------
    scenario : Scenario
        Its ``behaviour_rule`` and the parameters of :data:`PARAMETERS`.
    rule : str, optional
        Another rule than the scenario's (one of :data:`RULES`).

    Returns
    -------
    Behaviour
    """
    chosen = scenario.behaviour_rule if rule is None else rule
    if chosen not in RULES:
        raise NetplanError(f"unknown behaviour rule {chosen!r}; use one of {', '.join(RULES)}")
    return Behaviour(rule=chosen, **{k: getattr(scenario, k) for k in PARAMETERS})  # type: ignore[arg-type]


# --- queue curves --------------------------------------------------------------------------

_POINTS: dict[tuple[int, float, float, float], dict[float, tuple[float, float, float]]] = {}
"""Erlang A figures already solved in this process: (servers, service, patience, target)
-> arrivals per hour -> (mean wait, share giving up, share over the target)."""

_POINTS_MAX = 500_000
"""Points kept at most; past it the memo starts afresh (a few tens of MB)."""


def _solved(key: tuple[int, float, float, float], xs: list[float]
            ) -> dict[float, tuple[float, float, float]]:
    """The memo of ``key`` holding (at least) the points ``xs``, solving the missing ones."""
    if sum(len(v) for v in _POINTS.values()) + len(xs) > _POINTS_MAX:
        _POINTS.clear()
    memo = _POINTS.setdefault(key, {})
    todo = [x for x in dict.fromkeys(xs) if x not in memo]
    if todo:
        c, service_min, patience_min, target_min = key
        w, a, o = erlang_a_curve(c, service_min, patience_min, t_min=target_min,
                                 arrivals_per_h=np.asarray(todo, dtype=np.float64))
        memo.update(zip(todo, zip(w.tolist(), a.tolist(), o.tolist(), strict=True),
                        strict=True))
    return memo


class _QueueCurves:
    """Erlang A figures of every outlet's queue as a function of its arrivals.

    Each distinct number of servers has a grid of arrival rates (dense up to three times
    its capacity, then coarse up to twenty times, or the whole demand if less) and is
    interpolated linearly on it; beyond the grid the last point holds (almost every
    customer gives up there, after about the mean patience). Outlets without servers take
    no customers of this stream.

    A grid point is solved only when an interpolation reads it (the two points around a
    load, an end of the grid beyond it), and once per process (:data:`_POINTS`): every
    measurement of a plan (diagnosis, the holds loop, before and after under each rule)
    reads the same points again. The figures are those of the whole grid solved at once.
    """

    def __init__(self, servers: IntArray, load_max: float, service_min: float,
                 patience_min: float, target_min: float) -> None:
        self.size = int(np.size(servers))
        self.parts: list[tuple[IntArray, _Table]] = []
        for c in sorted({int(x) for x in servers if x > 0}):
            cap = 60.0 * c / service_min
            top = min(max(load_max, 1.0) * 1.05, 20.0 * cap)
            grid = np.unique(np.concatenate((np.linspace(0.0, 3.0 * cap, 241),
                                             np.linspace(3.0 * cap, max(top, 3.0 * cap), 41))))
            key = (c, float(service_min), float(patience_min), float(target_min))
            self.parts.append((np.flatnonzero(np.asarray(servers) == c), _Table(key, grid)))

    def __call__(self, load: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Mean wait, share giving up and share over the target of every outlet's queue."""
        wait, gone, over = (np.zeros(self.size) for _ in range(3))
        for at, table in self.parts:
            x = load[at]
            ys = table.read(x)
            wait[at], gone[at], over[at] = (np.interp(x, table.grid, y) for y in ys)
        return wait, gone, over

    def wait(self, load: FloatArray) -> FloatArray:
        """The mean wait alone (what the customers' choice reads): ``self(load)[0]``."""
        wait = np.zeros(self.size)
        for at, table in self.parts:
            x = load[at]
            wait[at] = np.interp(x, table.grid, table.read(x)[0])
        return wait


class _Table:
    """One queue's three curves on its grid, filled at the points interpolations read."""

    def __init__(self, key: tuple[int, float, float, float], grid: FloatArray) -> None:
        self.key, self.grid = key, grid
        self.ys = np.zeros((3, grid.size))
        self.known = np.zeros(grid.size, dtype=bool)

    def read(self, x: FloatArray) -> FloatArray:
        """The curves, solved (at least) at the points ``np.interp`` reads for ``x``: the
        two around each load, an end of the grid beyond it; the others stay 0, unread."""
        n = self.grid.size
        j = np.searchsorted(self.grid, x[~np.isnan(x)], side="right") - 1
        below, above = np.maximum(j, 0), np.minimum(j + 1, n - 1)
        if self.known[below].all() and self.known[above].all():
            return self.ys
        mark = np.zeros(n, dtype=bool)
        mark[below] = True
        mark[above] = True
        new = np.flatnonzero(mark & ~self.known)
        if new.size:
            xs = [float(v) for v in self.grid[new]]
            memo = _solved(self.key, xs)
            self.ys[:, new] = np.array([memo[v] for v in xs], np.float64).T
            self.known[new] = True
        return self.ys


# --- the rules -----------------------------------------------------------------------------


def logit_shares(cost_min: sp.csr_array, scale_per_min: float) -> sp.csr_array:
    """Row-wise logit shares ``exp(-scale cost) / sum`` over each zone's stored outlets.

    Parameters
    ----------
    cost_min : scipy.sparse.csr_array
        ``(n_zones, n_outlets)`` generalised cost of each allowed pair, minutes.
    scale_per_min : float
        Logit sensitivity.

    Returns
    -------
    scipy.sparse.csr_array
        Same pattern, each non-empty row summing to 1.
    """
    c = cost_min.tocsr()
    return sp.csr_array((_Pattern(c).shares(c.data, scale_per_min), c.indices, c.indptr),
                        shape=c.shape)


class _Pattern:
    """The zones and outlets of a sparse matrix's stored pairs, for the equilibrium's many
    passes over the same pairs with new values."""

    def __init__(self, m: sp.csr_array) -> None:
        self.shape = m.shape
        self.indices = m.indices
        self.rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))

    def shares(self, cost: FloatArray, scale_per_min: float) -> FloatArray:
        """Logit shares of the pairs whose generalised cost is ``cost`` (the stored values)."""
        u = -scale_per_min * cost
        best = np.full(self.shape[0], -np.inf)
        np.maximum.at(best, self.rows, u)
        e = np.exp(u - best[self.rows])
        tot = np.bincount(self.rows, weights=e, minlength=self.shape[0])
        return np.asarray(e / tot[self.rows], np.float64)

    def column_sums(self, shares: FloatArray, demand: FloatArray) -> FloatArray:
        """``shares.T @ demand``: every outlet's load (summed in the same order)."""
        return np.bincount(self.indices, weights=shares * demand[self.rows],
                           minlength=self.shape[1]).astype(np.float64, copy=False)


def _stream_equilibrium(travel_min: sp.csr_array, demand: FloatArray, curve: _QueueCurves,
                        beh: Behaviour) -> tuple[sp.csr_array, int, float]:
    """Shares of one stream at the congestion equilibrium (method of successive averages)."""
    travel = travel_min.tocsr()
    pat = _Pattern(travel)
    shares = pat.shares(travel.data, beh.scale_per_min)
    load = pat.column_sums(shares, demand)
    total = max(float(demand.sum()), 1e-12)
    residual, k = math.inf, 0
    for k in range(1, beh.max_iter + 1):
        wait = curve.wait(load)
        shares = pat.shares(travel.data + beh.wait_weight * wait[travel.indices],
                            beh.scale_per_min)
        target = pat.column_sums(shares, demand)
        residual = float(np.max(np.abs(target - load))) / total
        if residual <= beh.tol:
            load = target
            break
        load = load + (target - load) / k
    return (sp.csr_array((shares, travel.indices, travel.indptr), shape=travel.shape), k,
            residual)


def _choice_flows(dist_m: sp.csr_array, streams: Streams, beh: Behaviour,
                  curves: tuple[_QueueCurves, _QueueCurves]) -> tuple[sp.csr_array, int, float]:
    travel = dist_m.tocsr().astype(np.float64)
    travel.data = travel.data / 1000.0 / beh.speed_kmh * 60.0
    flows = sp.csr_array(dist_m.shape)
    iters, worst = 0, 0.0
    parts = ((1.0 - streams.smart_share, streams.counters, curves[0]),
             (streams.smart_share, streams.terminals, curves[1]))
    for share, servers, curve in parts:
        if share <= 0:
            continue
        demand = streams.zone_arrivals_per_h * share
        open_ = servers > 0
        allowed = travel.multiply(sp.csr_array(open_[None, :].astype(np.float64)))
        allowed = sp.csr_array(travel.multiply(allowed != 0))
        shares, it, res = _stream_equilibrium(allowed, demand, curve, beh)
        flows = flows + sp.csr_array(shares.multiply(demand[:, None]))
        iters, worst = max(iters, it), max(worst, res)
    return sp.csr_array(flows), iters, worst


def _nearest_flows(dist_m: sp.csr_array, streams: Streams, beh: Behaviour) -> sp.csr_array:
    s = streams.smart_share
    with np.errstate(divide="ignore"):
        room_c = np.where(streams.counters > 0, beh.spill_utilisation * 60.0
                          * streams.counters / streams.counter_service_min / max(1 - s, 1e-12),
                          0.0)
        room_t = np.where(streams.terminals > 0, beh.spill_utilisation * 60.0
                          * streams.terminals / streams.terminal_service_min / s, np.inf
                          ) if s > 0 else np.full(streams.terminals.size, np.inf)
    room = np.minimum(room_c if s < 1 else np.inf, room_t)
    a = assign_nearest_with_spill(dist_m, streams.zone_arrivals_per_h, room)
    w = streams.zone_arrivals_per_h[a.zone] * a.share
    return sp.csr_array((w, (a.zone, a.site)), shape=dist_m.shape)


def evaluate(dist_m: sp.csr_array, streams: Streams, behaviour: Behaviour) -> Evaluation:
    """Where customers go under ``behaviour``, and what they experience there.

    Parameters
    ----------
    dist_m : scipy.sparse.csr_array
        ``(n_zones, n_outlets)`` travel distances of the pairs within reach (metres);
        columns are the open outlets of the network evaluated.
    streams : Streams
        Demand, servers and service of the outlets.
    behaviour : Behaviour
        The rule and its parameters.

    Returns
    -------
    Evaluation
        Flows, loads and per-queue waits, give-up and over-target shares.
    """
    s = streams.smart_share
    top = float(streams.zone_arrivals_per_h.sum())
    curves = (
        _QueueCurves(streams.counters, top * (1 - s), streams.counter_service_min,
                     behaviour.patience_min, streams.target_wait_min),
        _QueueCurves(streams.terminals, top * s, streams.terminal_service_min,
                     behaviour.patience_min, streams.target_wait_min),
    )
    if behaviour.rule == "nearest":
        flows, iters, res = _nearest_flows(dist_m, streams, behaviour), 0, 0.0
    else:
        flows, iters, res = _choice_flows(dist_m, streams, behaviour, curves)
    load = np.asarray(flows.sum(axis=0)).ravel()
    unserved = np.clip(streams.zone_arrivals_per_h - np.asarray(flows.sum(axis=1)).ravel(),
                       0.0, None)
    cw, ca, co = curves[0](load * (1 - s))
    tw, ta, to = curves[1](load * s)
    return Evaluation(behaviour.rule, flows, unserved, load, cw, tw, ca, ta, co, to, iters, res)


def service_kpis(ev: Evaluation, streams: Streams, *, mask: NDArray[np.bool_] | None = None,
                 zone_mask: NDArray[np.bool_] | None = None) -> dict[str, float | int | str]:
    """The bank's service figures of an evaluation, customer-weighted.

    Parameters
    ----------
    ev : Evaluation
        The network evaluated under a rule.
    streams : Streams
        What it was evaluated with.
    mask : ndarray of bool, optional
        ``(n_outlets,)`` outlets to count (a district); default all.
    zone_mask : ndarray of bool, optional
        ``(n_zones,)`` zones whose unserved arrivals count; default all.

    Returns
    -------
    dict
        ``rule``, ``outlets`` (open), ``counter_mean_wait_min`` and
        ``terminal_mean_wait_min`` (customers who join each queue),
        ``share_customers_wait_over_target`` (both queues, the Erlang A tail),
        ``counter_share_wait_over_target``, ``mean_wait_min`` (both queues blended: the old
        secondary figure), ``overloaded_outlets`` (load above the capacity at the target),
        ``served_per_h``, ``abandoned_per_h`` and, over the zones of ``zone_mask``,
        ``unserved_arrivals_per_h``.
    """
    m = np.ones(ev.load_per_h.size, dtype=bool) if mask is None else np.asarray(mask, bool)
    zm = (np.ones(ev.unserved_per_h.size, dtype=bool) if zone_mask is None
          else np.asarray(zone_mask, bool))
    s = streams.smart_share
    lc, lt = ev.load_per_h[m] * (1 - s), ev.load_per_h[m] * s
    tot_c, tot_t = float(lc.sum()), float(lt.sum())

    def mean(w: FloatArray, x: FloatArray, total: float) -> float:
        return float(np.dot(w, x)) / total if total > 0 else 0.0

    abandoned = float(np.dot(lc, ev.counter_abandon[m]) + np.dot(lt, ev.terminal_abandon[m]))
    open_ = (streams.counters[m] + streams.terminals[m]) > 0
    over = ev.load_per_h[m] > streams.capacity_per_h[m] * (1 + 1e-9)
    return {
        "rule": ev.rule,
        "outlets": int(open_.sum()),
        "counter_mean_wait_min": round(mean(lc, ev.counter_wait_min[m], tot_c), 3),
        "terminal_mean_wait_min": round(mean(lt, ev.terminal_wait_min[m], tot_t), 3),
        "share_customers_wait_over_target": round(
            (float(np.dot(lc, ev.counter_over[m])) + float(np.dot(lt, ev.terminal_over[m])))
            / max(tot_c + tot_t, 1e-12), 4),
        "counter_share_wait_over_target": round(mean(lc, ev.counter_over[m], tot_c), 4),
        "mean_wait_min": round(
            (float(np.dot(lc, ev.counter_wait_min[m])) + float(np.dot(lt, ev.terminal_wait_min[m])))
            / max(tot_c + tot_t, 1e-12), 3),
        "overloaded_outlets": int((over & open_).sum()),
        "served_per_h": round(tot_c + tot_t - abandoned, 2),
        "abandoned_per_h": round(abandoned, 2),
        "unserved_arrivals_per_h": round(float(ev.unserved_per_h[zm].sum()), 2),
    }
