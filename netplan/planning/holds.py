"""Plans that hold under the customers' own choice: solve, measure, tighten, solve again.

The optimiser routes customers fractionally as it likes, but no bank can impose that
routing: customers choose by the scenario's ``[behaviour]`` rule. A plan's promise — every
outlet within its capacity at the waiting target — therefore need not hold once customers
choose for themselves. :func:`solve_until_holds` closes that gap with an outer loop, a
fixed-point iteration between the plan and the rule's loads:

0. measure the current network under the rule and scale the capacity (as in 3.) of the
   outlets it overloads: a plan keeps most of them, so the first solve already knows;
1. solve the MILP;
2. measure the planned network under the rule (:func:`netplan.planning.evaluate.measure`);
3. for every decided outlet whose load under the rule ``L`` exceeds the capacity ``c`` of
   the format it runs, tighten the model *at that site* and solve again:

   * **its capacity, by the measured excess**: every option of the site keeps only the
     share ``c / L`` of its capacity in the model (compounding over the rounds while the
     outlet stays overloaded, never below :data:`MIN_SCALE`). The model, which fills an
     outlet to its capacity, must then serve the excess the rule sends there from
     somewhere else — a larger format at the site, an opening nearby — or leave it
     unserved at its price. The floor keeps the outlet worth running: a model that saw
     its capacity vanish would rather close it, and its customers would then find no
     outlet at all;
   * **the routing of its customers**: a zone whose first outlet under the rule is an
     overloaded one may not be routed farther than that outlet without paying the price
     of an unserved customer, so the model cannot relieve the outlet on paper by sending
     its customers to spare capacity they would not travel to;
   * **a penalty on the options too small for the load**: option ``o`` pays, per year,
     ``(min(L, cap_max) - cap_o)+`` arrivals/h of overflow as the visits they stand for
     times the unserved penalty per visit;
   * **a price on the closure that fed it**: the nearest outlet closed by the plan (an
     existing one, within reach) pays the same overflow penalty if it closes again.

   Every tightening stays in the model for later rounds, so an outlet relieved once is
   not overloaded again by the next plan. Treating the rule's loads of the last plan as
   fixed while the next one is solved is what makes this a fixed-point iteration: the
   capacity scales converge to the share of its capacity each outlet can be given in the
   optimiser's routing so that the rule loads it to at most its capacity;
4. stop when no decided outlet is over its capacity under the rule, when
   :data:`STALL_ROUNDS` rounds in a row have no fewer overloaded outlets than the best
   before them (``stalled``), after
   :data:`MAX_ROUNDS` solves, or when the time limit leaves too little for another round
   (the first solve gets :data:`FIRST_SHARE` of it, each later one at most
   :data:`ROUND_SHARE`). The limit is a wall-clock deadline for the whole job: every
   solve ends early enough to leave :data:`AFTER_MEASURES` measurements' worth of time
   for the plan's evaluation and files.

Each re-solve starts from the start the loop was given (the current network, or a plan
given to :func:`start_options`); with ``warm_rounds`` each later one starts from the
last round's plan instead (``bench/README.md`` measures both). A last plan that cannot
be completed to a feasible plan of the tightened model is dropped by the optimiser.

The plan kept is the round with the fewest overloaded outlets under the rule; among
equals, the lowest score: its cost in the untightened model plus the demand above
capacity or unserved under the rule (arrivals/h) priced like unserved visits. Its model —
with the tightenings of the rounds before it — is the one whose proven gap ``kpis.json``
reports. Closest-assignment constraints (one per zone, site and closer site within reach)
would not make ``nearest`` exact: its customers spill to the next outlet when one is
full, which closest assignment forbids; the loop is used for both rules.

The outlets still over capacity after the loop are listed with the reasons the loop could
not relieve them (:func:`remaining_reasons`): a limit is named only where it bars every
way of adding capacity for that outlet's customers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    "solve_deadline",
    "solve_holding",
    "solve_until_holds",
    "start_options",
    "with_start",
]

MAX_ROUNDS: int = 8
"""Most solves of one plan (the first one included)."""

STALL_ROUNDS: int = 2
"""Rounds in a row with no fewer overloaded outlets than the best before them after which
the loop stops (``stalled``). A round that fails to improve is often followed by one that
does (朝阳: 26, 27, 22, 22, 15, ...): on Beijing's 16 districts, stopping at the first such
round kept 137 outlets over capacity in all, at the second 117, for 43 s -> 75 s of loops
(``bench/README.md``, "District plans from the LP relaxation")."""

MIN_SCALE: float = 0.5
"""Smallest share of its capacity an outlet keeps in the model after tightening."""

FIRST_SHARE: float = 0.55
"""Share of the time limit the first solve may use. On the Beijing city model its LP
relaxation alone takes 31-45 s on the 2-core VM (:mod:`netplan.optimize.rens`); at 0.45
of the scenario's 120 s the first solve got no plan from the LP in 3 of 8 runs (2026-12-01)."""

ROUND_SHARE: float = 0.30
"""Share of the time limit each later solve may use at most. Large enough that a later
solve of a model too large for HiGHS alone still gets its LP relaxation and rounded plan
(:data:`netplan.optimize.rens._MIN_SECONDS`, 30 s): at 0.12 (14 s) the Beijing city's
second solve found no plan of its own and the loop kept the first plan (144 outlets over
capacity); at 0.30 the second solve's plan left 92-103 (``bench/README.md`` (j)). Small
models (a district) stop at their gap long before either cap."""

AFTER_MEASURES: float = 8.0
"""Time kept for what follows the loop (the plan's own measurements, its layers and its
files, map and report included), in measurements of a plan under the rule: that one
measurement's time grows with the study and the machine's load as the rest does."""

MIN_ROUND_SHARE: float = 0.08
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
    added_seconds : float
        Wall time the loop added to the first solve (its measurements and later rounds).
    measured : tuple of Measured
        The loop's measurements of the current network (if it made one) and of the kept
        plan, for :func:`netplan.planning.evaluate.measure` to reuse.
    """

    overloaded: list[int]
    kept_round: int
    stop: str
    seconds: float
    added_seconds: float = 0.0
    measured: tuple[Measured, ...] = field(default=(), compare=False, repr=False)


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


def start_options(model: planner.Model, start: Mapping[str, str]) -> NDArray[np.int64]:
    """The model's option per site of a start plan (site id -> format it runs).

    A decided site runs the option of the format the start names (not open when the start
    leaves it out or names a format the site cannot run); a site outside the planning scope
    keeps its current option, as the model keeps it. Ids the model does not hold are
    ignored.

    Parameters
    ----------
    model : Model
        The planning model.
    start : mapping
        Site id -> format of every site open in the start plan.

    Returns
    -------
    ndarray of int
        Option index per site, ``-1``: not open (:attr:`FacilityProblem.warm_start`).
    """
    s, o = model.sites, model.options
    want = np.array([str(start.get(str(i), "")) for i in s.site_id], dtype=object)
    out = np.where(s.decide, -1, np.asarray(model.problem.current_options(), np.int64))
    # the format's own option, never one with extra staffed counters
    match = np.flatnonzero(s.decide[o.site] & (o.format == want[o.site]) & (o.staffed == 0))
    sites, first = np.unique(o.site[match], return_index=True)
    out[sites] = match[first]
    return out.astype(np.int64)


def with_start(model: planner.Model, options: NDArray[np.int64] | None,
               moves: NDArray[np.bool_] | None = None) -> planner.Model:
    """The model whose solves start from ``options`` (option per site; None: unchanged)
    and, if given, the relocation pairs ``moves`` of the plan they came from
    (:attr:`FacilityProblem.warm_moves`)."""
    if options is None:
        return model
    problem = dataclasses.replace(model.problem, warm_start=np.asarray(options, np.int64),
                                  warm_moves=None if moves is None else np.asarray(moves, bool))
    return dataclasses.replace(model, problem=problem)


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
            xy: NDArray[np.float64], cap_now: NDArray[np.float64]) -> None:
        """Tighten ``sites`` (overloaded under the rule: ``load`` above ``cap_now``, the
        capacity of the option each runs): scale, penalty load and closure prices."""
        self.load[sites] = np.maximum(self.load[sites], load[sites])
        excess = load[sites] - cap_max[sites]
        if closed.size:
            d = np.hypot(*(xy[closed][None, :, :] - xy[sites][:, None, :]).transpose(2, 0, 1))
            feeder = closed[np.argmin(d, axis=1)]
            for k, e in zip(feeder, excess, strict=True):
                if e > 0:
                    self.close_excess[k] = max(self.close_excess[k], float(e))
        share = cap_now[sites] / np.maximum(load[sites], 1e-12)
        self.scale[sites] = np.maximum(self.scale[sites] * np.minimum(share, 1.0), MIN_SCALE)


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


Solve = Callable[[planner.Model, float | None, float | None], optimize.Solution]
"""Solve a model within a time limit (``None``: none) and by a ``time.perf_counter()``
deadline (``None``: none; without any plan by then, the solver may look for a first one
until the time limit ends)."""


@dataclass(frozen=True)
class _Round:
    """One solve of the loop and how its plan fares under the rule."""

    model: planner.Model
    sol: optimize.Solution
    overloaded: int
    score: float  # plan cost without the tightenings + the rule's excess at the penalty


def _rank(rounds: list[_Round], r: int) -> tuple[int, float, int]:
    """Round ``r``'s rank (lowest kept): fewest overloaded outlets, then lowest score,
    then the latest round."""
    return rounds[r].overloaded, round(rounds[r].score, 2), -r


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
                      warm_rounds: bool = False,
                      deadline: float | None = None,
                      ) -> tuple[planner.Model, optimize.Solution, HoldsLoop]:
    """Solve, measure under the rule, tighten, solve again (see the module docstring).

    Parameters
    ----------
    model : Model
        The planning model as built.
    scenario : Scenario
        The scenario (rule, service, unserved penalty).
    solve : callable
        ``solve(model, time_limit_s, deadline)`` -> Solution (:data:`Solve`).
    time_limit_s : float or None
        Total time for every round (solves and measurements).
    progress : callable, optional
        Called with short status lines.
    warm_rounds : bool
        Start each later solve from the last round's plan (default: from the model's own
        start, ``model.problem.warm_start``).
    deadline : float, optional
        ``time.perf_counter()`` time by which the plan must be evaluated and written
        (default: ``time_limit_s`` from now); the time limit sets the rounds' shares.

    Returns
    -------
    tuple
        ``(model, solution, loop)``: the kept round's model and solution and what the loop
        did.
    """
    start = time.perf_counter()
    if deadline is None and time_limit_s is not None:
        deadline = start + time_limit_s
    s = model.sites
    cuts = _Cuts(load=np.zeros(len(s)), scale=np.ones(len(s)), close_excess=np.zeros(len(s)),
                 reach_m=np.full(len(model.zone_xy), np.inf))
    closable = s.existing & s.decide & ~np.asarray(model.problem.site_locked, bool)
    cap_max, price = _largest_capacity(model), _price(model, scenario)
    rounds: list[_Round] = []
    pre = _pretighten(model, scenario, cuts)
    measure_s = time.perf_counter() - start  # the current network's measurement
    current = _tightened(model, scenario, cuts) if pre is not None and pre[1] else model
    limit = _first_limit(time_limit_s, deadline, measure_s)
    # without any plan at its deadline, the first solve looks for one within the limit
    nominal = time_limit_s
    stop, spent, first_done = "iteration limit", 0.0, 0.0
    stalls = 0
    kept_m: tuple[int, Measured] | None = None
    while True:
        sol = solve(current, nominal, None if limit is None else time.perf_counter() + limit)
        spent += float(sol.seconds)
        first_done = first_done or time.perf_counter()
        t0 = time.perf_counter()
        m = measure_after(current, scenario, sol.site_option)
        measure_s = max(measure_s, time.perf_counter() - t0)
        over = overloaded(current, m.load, m.capacity)
        excess = float(np.sum(m.load[over] - m.capacity[over])
                       + m.evaluation.unserved_per_h.sum())
        best_before = min((r.overloaded for r in rounds), default=None)
        rounds.append(_Round(current, sol, len(over),
                             _score(model, current, sol, excess, price)))
        if kept_m is None or _rank(rounds, len(rounds) - 1) < _rank(rounds, kept_m[0]):
            kept_m = (len(rounds) - 1, m)  # the best round so far, and only its measurement
        if progress:
            progress(f"round {len(rounds)}: {len(over)} outlet(s) over capacity under the "
                     f"'{scenario.behaviour_rule}' rule")
        if len(over) == 0:
            stop = "holds"
            break
        stalls = stalls + 1 if best_before is not None and len(over) >= best_before else 0
        if stalls >= STALL_ROUNDS:
            stop = "stalled"
            break
        if len(rounds) >= MAX_ROUNDS:
            break
        limit = _next_limit(time_limit_s, deadline, measure_s)
        if limit is not None and limit <= 0:
            stop = "time limit"
            break
        nominal = limit
        chosen = np.asarray(sol.site_option, np.int64)
        cap_now = np.where(chosen >= 0, model.options.capacity[np.maximum(chosen, 0)], 0.0)
        cuts.add(over, m.load, cap_max, np.flatnonzero(closable & (chosen < 0)), s.xy,
                 cap_now)
        cuts.add_reach(model, over, m, scenario.detour_factor)
        current = _tightened(model, scenario, cuts)
        if warm_rounds:
            current = with_start(current, chosen, np.asarray(sol.relocated, bool))
    assert kept_m is not None  # every pass of the loop made a round
    best, kept_measured = kept_m
    loop = HoldsLoop(overloaded=[r.overloaded for r in rounds], kept_round=best + 1,
                     stop=stop, seconds=spent,
                     added_seconds=time.perf_counter() - (first_done or start),
                     measured=(() if pre is None else (pre[0],)) + (kept_measured,))
    return rounds[best].model, rounds[best].sol, loop


def solve_holding(  # noqa: PLR0913 - one keyword per solver and loop option
    model: planner.Model,
    scenario: Scenario,
    *,
    solver: str,
    time_limit_s: float | None,
    mip_gap: float | None,
    threads: int | None,
    progress: Callable[[str], None] | None = None,
    start: Mapping[str, str] | None = None,
    warm_rounds: bool = False,
    deadline: float | None = None,
) -> tuple[planner.Model, optimize.Solution, HoldsLoop]:
    """Solve a built model until its plan holds under the rule (or a limit stops the loop).

    The loop is :func:`solve_until_holds`. A single-district plan
    and a district task of a district-by-district plan both solve through here, so they
    give the same plan; pass the result to
    :func:`netplan.planning.plan.plan_from_solution`.

    Parameters
    ----------
    model, scenario
        As returned by / given to :func:`netplan.planning.problem.build_model`.
    solver, time_limit_s, mip_gap, threads
        As in :func:`netplan.planning.problem.solve_model`; the time limit covers every
        solve of the loop.
    progress
        Called with short status lines.
    start, warm_rounds, deadline
        As in :func:`netplan.planning.plan.make_plan` and :func:`solve_until_holds`.

    Returns
    -------
    tuple
        ``(model, solution, loop)``: the model of the kept solve (with its tightenings),
        its solution and what the loop did.
    """

    def solve(m: planner.Model, limit: float | None, by: float | None) -> optimize.Solution:
        return planner.solve_model(m, solver=solver, time_limit_s=limit, mip_gap=mip_gap,
                                   progress=progress, threads=threads, deadline=by)

    if start is not None:
        model = with_start(model, start_options(model, start))
    kept, sol, loop = solve_until_holds(model, scenario, solve, warm_rounds=warm_rounds,
                                        time_limit_s=time_limit_s, progress=progress,
                                        deadline=deadline)
    if progress:
        progress(f"solved: {sol.status}, gap {sol.gap:.4%} (solve {loop.kept_round} of "
                 f"{len(loop.overloaded)})")
    return kept, sol, loop


def _pretighten(model: planner.Model, scenario: Scenario, cuts: _Cuts
                ) -> tuple[Measured, bool] | None:
    """Round 0: tighten the outlets the rule overloads in the current network, which a
    plan mostly keeps, before the first solve; its measurement and whether any was
    tightened (None without a current network)."""
    current = np.asarray(model.problem.current_options(), np.int64)
    if not (current >= 0).any():
        return None
    m = measure_after(model, scenario, current)
    over = overloaded(model, m.load, m.capacity)
    cap_now = np.where(current >= 0, model.options.capacity[np.maximum(current, 0)], 0.0)
    cuts.add(over, m.load, _largest_capacity(model), np.empty(0, np.int64), model.sites.xy,
             cap_now)
    return m, bool(over.size)


def _left(deadline: float, measure_s: float) -> float:
    """Seconds a solve may take before ``deadline``: the solve's own measurement and
    :data:`AFTER_MEASURES` more for the plan's evaluation and files are kept back."""
    return solve_deadline(deadline, measure_s, extra_measures=1.0) - time.perf_counter()


def solve_deadline(deadline: float, measure_s: float, extra_measures: float = 0.0) -> float:
    """The ``time.perf_counter()`` time by which a solve must end so that its plan can be
    evaluated and written by ``deadline``.

    What the holds loop keeps after its last round (:data:`AFTER_MEASURES` measurements
    of a plan under the rule, for the plan's evaluation and files), and
    ``extra_measures`` more (e.g. one per demand case of a robust plan).

    Parameters
    ----------
    deadline
        ``time.perf_counter()`` time of the run's end.
    measure_s
        Seconds one measurement of a plan under the rule took.
    extra_measures
        Further measurements after the solve.

    Returns
    -------
    float
    """
    return deadline - (AFTER_MEASURES + extra_measures) * measure_s


def _first_limit(time_limit_s: float | None, deadline: float | None,
                 measure_s: float) -> float | None:
    """Time for the first solve: :data:`FIRST_SHARE` of the limit, at most what is left.

    With nothing left it still gets a moment: the solver then returns its start plan.
    """
    if time_limit_s is None or deadline is None:
        return None
    return max(min(time_limit_s * FIRST_SHARE, _left(deadline, measure_s)), 0.01)


def _next_limit(time_limit_s: float | None, deadline: float | None,
                measure_s: float) -> float | None:
    """Time for the next solve: what is left (:func:`_left`), at most :data:`ROUND_SHARE`
    of the limit; ``0`` when under :data:`MIN_ROUND_SHARE` of it."""
    if time_limit_s is None or deadline is None:
        return None
    left = _left(deadline, measure_s)
    if left < MIN_ROUND_SHARE * time_limit_s:
        return 0.0
    return min(left, ROUND_SHARE * time_limit_s)


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


@dataclass(frozen=True)
class _Limits:
    """What of the plan-wide and district limits a solution has left."""

    spend: float
    budget: float
    tag_full: NDArray[np.bool_]  # per option tag: its limit is used up
    open_full: bool  # planning.max_open used up
    group_open_full: NDArray[np.bool_]  # per district: its max_open used up
    relocated: NDArray[np.bool_]  # relocation pairs used


def _limits(model: planner.Model, scenario: Scenario, chosen: NDArray[np.int64],
            relocated: NDArray[np.bool_]) -> _Limits:
    s, p = model.sites, model.problem
    is_open = chosen >= 0
    tags = np.asarray(p.opt_tag)[chosen[is_open]]
    tag_max = np.asarray(p.tag_max)
    used = np.array([np.sum(tags == t) for t in range(len(tag_max))], np.int64)
    new = is_open & ~s.existing & s.decide
    new[model.reloc_to[relocated]] = False
    group = np.asarray(p.site_group)
    g_max = np.asarray(p.group_max_new)
    g_used = np.bincount(group[new & (group >= 0)], minlength=len(g_max))[:len(g_max)]
    return _Limits(
        spend=oneoff_spend(model, chosen, relocated),
        budget=np.inf if scenario.budget_cny is None else float(scenario.budget_cny),
        tag_full=(tag_max >= 0) & (used >= tag_max),
        open_full=scenario.max_open is not None and int(new.sum()) >= scenario.max_open,
        group_open_full=(g_max >= 0) & (g_used >= g_max), relocated=relocated)


def _blocks(model: planner.Model, lim: _Limits, chosen: NDArray[np.int64], j: int
            ) -> tuple[list[set[str]], bool]:
    """Every way to add capacity for site ``j``'s customers, each with the limits that
    forbid it: a larger option at ``j``, an opening of a candidate or the reopening of a
    closed outlet that shares a zone with ``j``. Also whether ``j`` runs its largest option.
    """
    s, o, p = model.sites, model.options, model.problem
    tag = np.asarray(p.opt_tag)
    k = int(chosen[j])
    now_cap = o.capacity[k] if k >= 0 else 0.0
    now_spend = o.oneoff[k] if k >= 0 else 0.0
    routes: list[set[str]] = []
    group = np.asarray(p.site_group)
    # a relocation opens its outlet's format: another format there is a new opening
    moved_in = bool(np.isin(j, model.reloc_to[lim.relocated]))
    for q in np.flatnonzero((o.site == j) & (o.capacity > now_cap)):
        why = {"max_upgrade reached" if tag[q] == planner.TAG_UPGRADE else
               "max_convert reached"} if tag[q] >= 0 and lim.tag_full[tag[q]] else set()
        if moved_in and lim.open_full:
            why.add("max_open reached")
        if moved_in and group[j] >= 0 and lim.group_open_full[group[j]]:
            why.add("max_open of its district reached")
        if lim.spend - now_spend + o.oneoff[q] > lim.budget * (1 + 1e-9):
            why.add("budget reached")
        routes.append(why)
    zones = model.dist_m[:, [j]].tocoo().row
    near = np.unique(model.dist_m[zones].tocoo().col) if zones.size else np.empty(0, int)
    moved = np.zeros(len(s), bool)  # a relocated outlet reopened only undoes its move
    moved[model.reloc_from[lim.relocated]] = True
    idle = near[s.decide[near] & (chosen[near] < 0) & ~moved[near]
                & ~np.asarray(p.site_forbidden, bool)[near]]
    for c in idle:
        if s.existing[c]:  # keeping a closed outlet open spends less, not more
            routes.append(set())
            continue
        why = {"max_open reached"} if lim.open_full else set()
        if group[c] >= 0 and lim.group_open_full[group[c]]:
            why.add("max_open of its district reached")
        if lim.spend + float(o.oneoff[o.site == c].min()) > lim.budget * (1 + 1e-9):
            why.add("budget reached")
        routes.append(why)
    return routes, not (o.capacity[o.site == j] > now_cap).any()


_STOP_TEXT: dict[str, str] = {
    "iteration limit": "iteration limit reached",
    "time limit": "time limit reached",
    "stalled": f"stalled ({STALL_ROUNDS} rounds in a row left no fewer outlets over "
               "capacity: relief costs the model more than the overflow at the unserved "
               "price)",
    "once": "solved once, without the loop",
}
"""How the reason of a remaining overloaded outlet ends, by why the loop stopped."""


def remaining_reasons(model: planner.Model, scenario: Scenario, sol: optimize.Solution,
                      sites: NDArray[np.int64], *, loop: HoldsLoop | None) -> list[str]:
    """Why each still-overloaded site could not be relieved (one text per site).

    Every way to add capacity for the site's customers — a larger option at the site, the
    opening of a candidate or the reopening of a closed outlet that shares a zone with it —
    is checked against the limits the plan has used up. When every way is barred, the
    reason names the limits that bar them (a limit is named only if raising it would open
    one of those ways). When some way is open, the model did not take it: the reason says
    why the loop stopped.

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
        ``largest format too small`` (the outlet runs its largest option) followed, when
        every relief is barred, by the limits that bar it (``max_upgrade reached``,
        ``max_convert reached``, ``max_open reached``, ``max_open of its district
        reached``, ``budget reached``; ``no candidate site within reach`` when there is
        nothing else to open), joined with ``"; "``; otherwise ``relief within the limits
        not taken:`` and why the loop stopped (:data:`_STOP_TEXT`).
    """
    chosen = np.asarray(sol.site_option, np.int64)
    lim = _limits(model, scenario, chosen, np.asarray(sol.relocated, bool))
    stop = _STOP_TEXT.get("once" if loop is None else loop.stop, "")
    out: list[str] = []
    for j in sites:
        routes, largest = _blocks(model, lim, chosen, int(j))
        parts = ["largest format too small"] if largest else []
        if routes and all(routes):
            parts += sorted(set().union(*routes))
        elif not routes:
            parts.append("no candidate site within reach")
        else:
            parts.append(f"relief within the limits not taken: {stop}")
        out.append("; ".join(parts))
    return out
