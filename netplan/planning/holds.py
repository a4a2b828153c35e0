"""Plans that hold under the customers' own choice: solve, measure, tighten, solve again.

The optimiser routes customers fractionally as it likes, but no bank can impose that
routing: customers choose by the scenario's ``[behaviour]`` rule. A plan's promise — every
outlet within its capacity at the waiting target — therefore need not hold once customers
choose for themselves. :func:`solve_until_holds` closes that gap with an outer loop:

1. solve the MILP;
2. measure the planned network under the rule (:func:`netplan.planning.evaluate.measure`);
3. for every decided outlet whose load under the rule ``L`` exceeds its capacity, tighten
   the model *at that site* and solve again:

   * **a penalty on the options too small for the load**: option ``o`` pays, per year,
     ``(min(L, cap_max) - cap_o)+`` arrivals/h of overflow as the visits they stand for times
     the unserved penalty per visit (the price the model already puts on a customer it
     does not serve). The site's largest option pays nothing, so the optimiser upgrades
     the outlet (or relieves it otherwise) where that is worth its price, and keeping a
     too-small format stays possible where a limit forbids the upgrade — a soft cut keeps
     every scenario feasible that was feasible, which a hard one (forbidding options)
     would not under ``max_upgrade``, ``max_close`` or a budget;
   * **a tighter capacity row where even the largest option is too small**: the site's
     capacities in the model are scaled by ``cap_max / L`` (compounding over the rounds
     while the outlet stays overloaded, never below :data:`MIN_SCALE`), so the model must
     serve the excess from somewhere else — open or upgrade a site nearby — instead of
     routing it to the outlet on paper.
     The floor keeps the outlet worth running: a model that saw its capacity vanish would
     rather close it, and its customers would then find no outlet at all;
   * **a price on the closure that fed it**: the nearest outlet closed by the plan (an
     existing one, within reach) pays the same overflow penalty if it closes again, since
     its customers are the ones the rule sends to the overloaded outlet.

   Both tightenings stay in the model for later rounds, so an outlet relieved once is not
   overloaded again by the next plan;
4. stop when no decided outlet is over its capacity under the rule, after
   :data:`MAX_ROUNDS` solves, when the time limit leaves too little for another solve (the
   first gets :data:`FIRST_SHARE` of it, each later one what is left), or
   when a round returns the same network (the tightening cannot move it further).

Each re-solve starts from the model's own warm start (the current network), not from
the last plan: HiGHS, handed the last plan, was seen to stop at once and report it
optimal although the tightened model had far cheaper plans.

The plan kept is the round with the lowest score: its cost in the untightened model plus
the demand above capacity or unserved under the rule (arrivals/h) priced like unserved
visits — the same price the tightenings use — then the fewest overloaded outlets, then
the later round. So a round that "holds" by closing outlets and leaving their customers
without one, or that a short time limit left much dearer, is not preferred. Its
model — with the tightenings of the rounds before it — is the one whose proven gap
``kpis.json`` reports. Closest assignment (``nearest``) could be imposed exactly with
closest-assignment constraints; the loop is used for both rules instead, since ``choice``
has no such exact linear form and the loop keeps the model as sparse as it was.

The outlets still over capacity after the loop are listed with the reason the loop could
not relieve them (:func:`remaining_reasons`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan import optimize
from netplan.model import demand
from netplan.model.behaviour import behaviour_of
from netplan.model.scenario import Scenario
from netplan.planning import problem as planner
from netplan.planning.evaluate import Measured, Network, measure

__all__ = [
    "MAX_ROUNDS",
    "MIN_SCALE",
    "HoldsLoop",
    "measure_after",
    "oneoff_spend",
    "overloaded",
    "remaining_reasons",
    "solve_until_holds",
]

MAX_ROUNDS: int = 4
"""Most solves of one plan (the first one included)."""

MIN_SCALE: float = 0.5
"""Smallest share of its capacity an outlet keeps in the model after tightening."""

FIRST_SHARE: float = 0.5
"""Share of the time limit the first solve may use; later rounds share what is left."""

AFTER_SHARE: float = 0.1
"""Share of the time limit kept for what follows the loop (the plan's layers and files)."""

MIN_ROUND_SHARE: float = 0.1
"""A further round runs only if it can have this share of the time limit."""

OVER_TOL: float = 1e-9
"""Relative tolerance of 'load above capacity'."""


@dataclass(frozen=True)
class HoldsLoop:
    """What the loop did: overloaded outlets after each solve and why it stopped.

    Attributes
    ----------
    overloaded : list of int
        Decided outlets above their capacity under the rule after each round's plan.
    kept_round : int
        The round (1-based) whose plan and model are returned.
    stop : str
        Why the loop stopped: ``holds``, ``iteration limit``, ``time limit`` or ``stalled``.
    seconds : float
        Solver time over all rounds.
    """

    overloaded: list[int]
    kept_round: int
    stop: str
    seconds: float


def measure_after(model: planner.Model, scenario: Scenario,
                  site_option: NDArray[np.int64]) -> Measured:
    """The network a solution plans, measured under the scenario's behaviour rule.

    Parameters
    ----------
    model : Model
        The planning model.
    scenario : Scenario
        Service and ``[behaviour]``.
    site_option : ndarray
        Chosen option per site (``-1``: not open).

    Returns
    -------
    Measured
    """
    o = model.options
    chosen = np.asarray(site_option, np.int64)
    is_open = chosen >= 0
    k = np.maximum(chosen, 0)
    net = Network(xy=model.sites.xy,
                  counters=np.where(is_open, o.counters[k], 0).astype(np.int64),
                  terminals=np.where(is_open, o.terminals[k], 0).astype(np.int64))
    return measure(zone_xy=model.zone_xy, zone_arrivals=model.zone_arrivals, network=net,
                   scenario=scenario, behaviour=behaviour_of(scenario),
                   site_mask=model.sites.decide)


def overloaded(model: planner.Model, load: NDArray[np.float64], cap: NDArray[np.float64]
               ) -> NDArray[np.int64]:
    """Decided, open sites whose load is above their capacity (indices, ascending).

    Parameters
    ----------
    model : Model
        The planning model (its ``sites.decide``).
    load, cap : ndarray
        Per site: arrivals per hour under the rule and capacity at the target (0: closed).

    Returns
    -------
    ndarray of int
    """
    over = model.sites.decide & (cap > 0) & (load > cap * (1 + OVER_TOL))
    return np.flatnonzero(over).astype(np.int64)


def _largest_capacity(model: planner.Model) -> NDArray[np.float64]:
    """Per site, the capacity of its largest option (0 without options)."""
    best = np.zeros(len(model.sites))
    np.maximum.at(best, model.options.site, model.options.capacity)
    return best


@dataclass
class _Cuts:
    """The tightenings so far: rule load to carry and capacity scale, per site."""

    load: NDArray[np.float64]
    scale: NDArray[np.float64]
    close_excess: NDArray[np.float64]  # arrivals/h a closure sends above capacity elsewhere
    reach_m: NDArray[np.float64]  # per zone: routing farther costs as much as unserved

    def add_reach(self, model: planner.Model, sites: NDArray[np.int64], m: Measured,
                  detour: float) -> None:
        """Zones whose first outlet under the rule is an overloaded one may be routed no
        farther than it without paying the unserved price."""
        flows = sp.csr_array(m.evaluation.flows)
        if flows.nnz == 0:
            return
        top = np.asarray(flows.argmax(axis=1)).ravel()
        has = np.asarray(flows.max(axis=1).toarray()).ravel() > 0
        zones = np.flatnonzero(has & np.isin(top, sites))
        d = np.hypot(*(model.zone_xy[zones] - model.sites.xy[top[zones]]).T) * detour
        self.reach_m[zones] = np.minimum(self.reach_m[zones], d)

    def add(self, sites: NDArray[np.int64], load: NDArray[np.float64],
            cap_max: NDArray[np.float64], closed: NDArray[np.int64],
            xy: NDArray[np.float64]) -> None:
        self.load[sites] = np.maximum(self.load[sites], load[sites])
        excess = load[sites] - cap_max[sites]
        if closed.size:
            d = np.hypot(*(xy[closed][None, :, :] - xy[sites][:, None, :]).transpose(2, 0, 1))
            feeder = closed[np.argmin(d, axis=1)]
            for k, e in zip(feeder, excess, strict=True):
                if e > 0:
                    self.close_excess[k] = max(self.close_excess[k], float(e))
        short = cap_max[sites] / np.maximum(load[sites], 1e-12)
        self.scale[sites] = np.maximum(self.scale[sites] * np.minimum(short, 1.0), MIN_SCALE)


def _tightened(model: planner.Model, scenario: Scenario, cuts: _Cuts) -> planner.Model:
    """The model with the cuts' penalties, closure prices and capacity scales."""
    o, p = model.options, model.problem
    cap_max = _largest_capacity(model)
    need = np.minimum(cuts.load, cap_max)[o.site]
    short = np.maximum(need - o.capacity, 0.0)
    price = _price(model, scenario)
    base_cost = o.opex + o.oneoff / scenario.amortisation_years
    tight = dataclasses.replace(p, cost=_reach_cost(model, cuts.reach_m),
                                opt_cost=base_cost + short * price,
                                site_close_cost=np.asarray(p.site_close_cost)
                                + cuts.close_excess * price,
                                opt_capacity=o.capacity * cuts.scale[o.site])
    return dataclasses.replace(model, problem=tight)


def _reach_cost(model: planner.Model, reach_m: NDArray[np.float64]) -> sp.csr_array:
    """The model's routing costs, those beyond each zone's reach raised to the price of
    leaving the zone unserved (same sparsity, so the model stays as sparse as it was)."""
    p = model.problem
    cost = sp.csr_array(p.cost).tocoo()
    dist = model.dist_m.tocoo()
    unserved = np.asarray(p.unserved_cost, np.float64)[cost.row]
    beyond = (dist.data > reach_m[dist.row] * (1 + 1e-9)) & np.isfinite(unserved)
    data = np.where(beyond, np.maximum(cost.data, unserved), cost.data)
    out = sp.csr_array((data, (cost.row, cost.col)), shape=cost.shape)
    out.sort_indices()
    return out


Solve = Callable[[planner.Model, float | None], optimize.Solution]
"""Solve a model within a time limit (``None``: none)."""


@dataclass(frozen=True)
class _Round:
    """One solve of the loop and how its plan fares under the rule."""

    model: planner.Model
    sol: optimize.Solution
    overloaded: int
    score: float  # plan cost without the tightenings + the rule's excess at the penalty


def _price(model: planner.Model, scenario: Scenario) -> float:
    """Objective units per arrival/h of peak demand left over: visits times the penalty."""
    visits = np.asarray(demand.annual_visits(model.zone_pop, scenario), np.float64)
    total = float(model.zone_arrivals.sum())
    per_arrival = float(visits.sum()) / total if total > 0 else 0.0
    return per_arrival * scenario.unserved_penalty_cny_per_visit


def _score(model: planner.Model, current: planner.Model, sol: optimize.Solution,
           excess: float, price: float) -> float:
    """The plan's cost in the untightened model (its objective less the penalties it pays)
    plus the demand above capacity or unserved under the rule, at the unserved price."""
    chosen = np.asarray(sol.site_option, np.int64)
    is_open = chosen >= 0
    paid = float(np.sum((np.asarray(current.problem.opt_cost)
                         - np.asarray(model.problem.opt_cost))[chosen[is_open]]))
    closed = model.sites.existing & ~is_open
    paid += float(np.sum((np.asarray(current.problem.site_close_cost)
                          - np.asarray(model.problem.site_close_cost))[closed]))
    return float(sol.objective) - paid + excess * price


# long: one loop with its stopping rules and its timing, read top to bottom
def solve_until_holds(model: planner.Model, scenario: Scenario, solve: Solve, *,
                      time_limit_s: float | None,
                      progress: Callable[[str], None] | None = None,
                      ) -> tuple[planner.Model, optimize.Solution, HoldsLoop]:
    """Solve, measure under the rule, tighten, solve again (see the module docstring).

    Parameters
    ----------
    model : Model
        The planning model as built.
    scenario : Scenario
        The scenario (rule, service, unserved penalty).
    solve : callable
        ``solve(model, time_limit_s)`` -> Solution.
    time_limit_s : float or None
        Total time for every round (solves and measurements).
    progress : callable, optional
        Called with short status lines.

    Returns
    -------
    tuple
        ``(model, solution, loop)``: the kept round's model and solution and what the loop
        did.
    """
    start = time.perf_counter()
    s = model.sites
    cuts = _Cuts(load=np.zeros(len(s)), scale=np.ones(len(s)), close_excess=np.zeros(len(s)),
                 reach_m=np.full(len(model.zone_xy), np.inf))
    closable = s.existing & s.decide & ~np.asarray(model.problem.site_locked, bool)
    cap_max, price = _largest_capacity(model), _price(model, scenario)
    rounds: list[_Round] = []
    current, limit = model, _first_limit(time_limit_s)
    stop, spent, measure_s = "iteration limit", 0.0, 0.0
    while True:
        sol = solve(current, limit)
        spent += float(sol.seconds)
        t0 = time.perf_counter()
        m = measure_after(current, scenario, sol.site_option)
        measure_s = max(measure_s, time.perf_counter() - t0)
        over = overloaded(current, m.load, m.capacity)
        excess = float(np.sum(m.load[over] - m.capacity[over])
                       + m.evaluation.unserved_per_h.sum())
        rounds.append(_Round(current, sol, len(over),
                             _score(model, current, sol, excess, price)))
        if progress:
            progress(f"round {len(rounds)}: {len(over)} outlet(s) over capacity under the "
                     f"'{scenario.behaviour_rule}' rule")
        if len(over) == 0:
            stop = "holds"
            break
        if len(rounds) > 1 and np.array_equal(sol.site_option, rounds[-2].sol.site_option):
            stop = "stalled"
            break
        if len(rounds) >= MAX_ROUNDS:
            break
        limit = _next_limit(time_limit_s, start, measure_s)
        if limit is not None and limit <= 0:
            stop = "time limit"
            break
        closed = np.flatnonzero(closable & (np.asarray(sol.site_option) < 0))
        cuts.add(over, m.load, cap_max, closed, s.xy)
        cuts.add_reach(model, over, m, scenario.detour_factor)
        current = _tightened(model, scenario, cuts)
    best = min(range(len(rounds)),
               key=lambda r: (round(rounds[r].score, 2), rounds[r].overloaded, -r))
    loop = HoldsLoop(overloaded=[r.overloaded for r in rounds], kept_round=best + 1,
                     stop=stop, seconds=spent)
    return rounds[best].model, rounds[best].sol, loop


def _first_limit(time_limit_s: float | None) -> float | None:
    return None if time_limit_s is None else time_limit_s * FIRST_SHARE


def _next_limit(time_limit_s: float | None, start: float, measure_s: float) -> float | None:
    """Time for the next solve: what is left (less the measurements still to come); ``0``
    when that is under :data:`MIN_ROUND_SHARE` of the limit."""
    if time_limit_s is None:
        return None
    # the next round's measurement, the plan's own four (before/after, rule and nearest)
    # and the writing of the plan
    reserve = 6.0 * measure_s + AFTER_SHARE * time_limit_s
    left = time_limit_s - (time.perf_counter() - start) - reserve
    return left if left >= MIN_ROUND_SHARE * time_limit_s else 0.0


def oneoff_spend(model: planner.Model, chosen: NDArray[np.int64],
                 relocated: NDArray[np.bool_]) -> float:
    """One-off spend of a solution: options, closures, less the relocation savings.

    Parameters
    ----------
    model : Model
        The planning model.
    chosen : ndarray
        Chosen option per site (``-1``: not open).
    relocated : ndarray of bool
        Relocation pairs used.

    Returns
    -------
    float
        CNY.
    """
    p = model.problem
    is_open = chosen >= 0
    spend = float(np.sum(model.options.oneoff[chosen[is_open]]))
    closed = model.sites.existing & ~is_open
    spend += float(np.sum(np.asarray(p.site_close_oneoff)[closed]))
    spend -= float(np.sum(np.asarray(p.reloc_saving_oneoff)[relocated]))
    return spend


def _limits_reached(model: planner.Model, scenario: Scenario, chosen: NDArray[np.int64],
                    relocated: NDArray[np.bool_]) -> list[str]:
    """The plan-wide counts the solution uses up."""
    s, p = model.sites, model.problem
    is_open = chosen >= 0
    tags = np.asarray(p.opt_tag)[chosen[is_open]]
    tag_max = np.asarray(p.tag_max)
    opened = int(np.sum(is_open & ~s.existing & s.decide)) - int(relocated.sum())

    def full(tag: int) -> bool:
        return bool(tag < len(tag_max) and tag_max[tag] >= 0
                    and np.sum(tags == tag) >= tag_max[tag])

    reached = {
        "max_open": scenario.max_open is not None and opened >= scenario.max_open,
        "max_upgrade": full(planner.TAG_UPGRADE),
        "max_convert": full(planner.TAG_CONVERT),
    }
    return [f"{k} reached" for k, v in reached.items() if v]


def _relief_spend(model: planner.Model, chosen: NDArray[np.int64], j: int) -> float:
    """The cheapest one-off spend that adds capacity at or near site ``j``: a larger
    option at ``j`` or an opening of a candidate not open (``inf``: none)."""
    s, o = model.sites, model.options
    k = int(chosen[j])
    now = o.capacity[k] if k >= 0 else 0.0
    bigger = (o.site == j) & (o.capacity > now)
    idle = ~s.existing & s.decide & (chosen < 0)
    spends = o.oneoff[bigger | idle[o.site]]
    return float(spends.min()) if spends.size else np.inf


_STOP_TEXT: dict[str, str] = {
    "iteration limit": "iteration limit reached",
    "time limit": "time limit reached",
    "stalled": "stalled (the tightened model kept the plan: relief costs more than the "
               "overflow at the unserved penalty)",
    "once": "solved once, without the loop",
}
"""How the reason of a remaining overloaded outlet ends, by why the loop stopped."""


def remaining_reasons(model: planner.Model, scenario: Scenario, sol: optimize.Solution,
                      sites: NDArray[np.int64], *, loop: HoldsLoop | None) -> list[str]:
    """Why each still-overloaded site could not be relieved (one text per site).

    Parameters
    ----------
    model : Model
        The kept round's model.
    scenario : Scenario
        Its limits.
    sol : Solution
        The kept plan.
    sites : ndarray of int
        The overloaded sites.
    loop : HoldsLoop or None
        What the loop did (``None``: no loop ran).

    Returns
    -------
    list of str
        ``locked``, ``largest format too small`` (the outlet runs its largest option),
        the limits the plan has used up (``max_open reached``, ``max_upgrade reached``,
        ``max_convert reached``, ``budget reached``: the cheapest larger option or
        opening would exceed it) and why the loop stopped (:data:`_STOP_TEXT`), joined
        with ``"; "``.
    """
    chosen = np.asarray(sol.site_option, np.int64)
    relocated = np.asarray(sol.relocated, bool)
    limits = _limits_reached(model, scenario, chosen, relocated)
    spend = oneoff_spend(model, chosen, relocated)
    budget = np.inf if scenario.budget_cny is None else scenario.budget_cny
    locked = np.asarray(model.problem.site_locked, bool)
    cap_max = _largest_capacity(model)
    o = model.options
    stop = _STOP_TEXT.get("once" if loop is None else loop.stop, "")
    out: list[str] = []
    for j in sites:
        parts = ["locked"] if locked[j] else []
        k = int(chosen[j])
        if k >= 0 and o.capacity[k] >= cap_max[j]:
            parts.append("largest format too small")
        parts += limits
        if spend + _relief_spend(model, chosen, int(j)) > budget:
            parts.append("budget reached")
        parts.append(stop)
        out.append("; ".join(parts))
    return out
