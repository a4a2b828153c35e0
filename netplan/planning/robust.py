"""A robust plan: one network for several demand cases (``netplan plan --robust``).

The demand cases are those of ``netplan stress`` (:mod:`netplan.planning.stress`:
``low``/``base``/``high`` or the scenario's ``[uncertainty.<name>]`` tables). The plan is a
two-stage model (:mod:`netplan.optimize.build`, "Blocks"):

- first stage, shared by every case: the site decisions (keep, open, close, upgrade,
  convert, relocate) with one budget and the scenario's limits;
- second stage, per case: the case's own assignment of its zones' demand (each case has
  its own arrivals, visits and outlet capacities, as :func:`build_model` computes them
  under the case's scenario), with capacity holding in every case.

The objective is ``expected`` (the sites' costs + the probability-weighted travel and
unserved costs of the cases; equal weights by default) or ``worst`` (the sites' costs +
the largest case cost). The result is a normal :class:`~netplan.planning.plan.Plan` of the
plan's own scenario (the KPIs before and after under it), whose ``kpis.json`` carries a
``robust`` block (:class:`~netplan.planning.contract.RobustInfo`): the objective, the
cases and their weights, and the plan's behaviour figures and yearly cost under each case
(:func:`netplan.planning.stress.case_figures`, as ``netplan stress`` measures them).

A robust plan is solved once: the loop that tightens a plan until it holds under the
behaviour rule (:mod:`netplan.planning.holds`) does not run (its tightenings are per
outlet of one demand; combining them over cases is left out), so ``behaviour.holds``
may be False where a plain plan would have been tightened.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan._errors import NetplanError
from netplan.model.scenario import Scenario
from netplan.optimize import FacilityProblem
from netplan.planning import problem as planner
from netplan.planning.contract import RobustCase, RobustInfo
from netplan.planning.holds import measure_after, solve_deadline
from netplan.planning.limits import district_scope
from netplan.planning.plan import Plan, plan_from_solution
from netplan.planning.stress import DemandCase, case_figures, demand_cases
from netplan.study.layers import Study

__all__ = ["OBJECTIVES", "check_robust_options", "robust_plan"]

OBJECTIVES: Final = ("expected", "worst")
"""The robust objectives: the weighted mean of the cases' costs, or the largest."""


def check_robust_options(objective: str, weights: Sequence[float] | None,
                         n_cases: int | None = None) -> None:
    """Refuse an unknown objective or unusable weights (before any data are loaded).

    Parameters
    ----------
    objective
        One of :data:`OBJECTIVES`.
    weights
        One weight per case (>= 0, finite, some > 0), or None for equal weights.
    n_cases
        The number of cases, when known.

    Raises
    ------
    NetplanError
        Naming what is wrong and what would do.
    """
    if objective not in OBJECTIVES:
        raise NetplanError(f"unknown robust objective {objective!r}; use one of "
                           f"{', '.join(OBJECTIVES)}")
    if weights is None:
        return
    w = [float(x) for x in weights]
    if n_cases is not None and len(w) != n_cases:
        raise NetplanError(f"{len(w)} case weight(s) for {n_cases} demand case(s); give one "
                           "weight per case, in the order of the cases")
    if any(not math.isfinite(x) or x < 0 for x in w) or not sum(w) > 0:
        raise NetplanError(f"case weights {w} must be finite, >= 0 and not all 0")


def robust_plan(  # noqa: PLR0913 - the public entry point: one keyword per planning option
    study: Study,
    scenario: Scenario,
    *,
    cases: Sequence[str] | None = ("low", "base", "high"),
    objective: str = "expected",
    weights: Sequence[float] | None = None,
    district: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    progress: Callable[[str], None] | None = None,
    deadline: float | None = None,
) -> Plan:
    """Plan one network for several demand cases (see the module docstring).

    Parameters
    ----------
    study, scenario
        The layers and the plan's scenario (the cases apply to it).
    cases
        Demand case names (:func:`netplan.planning.stress.demand_cases`); None: every
        case known.
    objective
        ``expected`` or ``worst`` (:data:`OBJECTIVES`).
    weights
        One weight per case for ``expected`` (normalised to sum 1); None: equal.
    district, year, solver, time_limit_s, mip_gap, locked, forbidden, progress
        As in :func:`netplan.planning.plan.make_plan`: the time limit bounds the whole
        call and writing the plan right after it.
    deadline
        ``time.perf_counter()`` time by which the plan must be made and written (default:
        the time limit from the call): the solve ends early enough for the evaluation,
        one measurement per case and the files (:func:`_solve_by`); without a plan by then
        (``worst`` has no start), the solver looks for one until the time limit ends.

    Returns
    -------
    Plan
        With a ``robust`` block in its KPIs.

    Raises
    ------
    NetplanError
        An unknown case or objective, bad weights, a case giving an invalid scenario, or
        an infeasible model (explained in the scenario's terms).
    """
    t_start = time.perf_counter()
    year = scenario.horizon_year if year is None else year
    adcode, scenario = district_scope(study, scenario, district, year=year)
    todo = demand_cases(scenario, cases)
    check_robust_options(objective, weights, len(todo))
    w = np.full(len(todo), 1.0 / len(todo)) if weights is None else (
        np.asarray(weights, np.float64) / float(np.sum(weights)))
    scenarios = [c.apply(scenario) for c in todo]  # every case checked before any work
    if progress:
        progress(f"building the robust model: {len(todo)} demand cases")
    base = planner.build_model(study, scenario, year=year, adcode=adcode, locked=locked,
                               forbidden=forbidden)
    per_case = [base if sc == scenario else planner.build_model(
        study, sc, year=year, adcode=adcode, locked=locked, forbidden=forbidden)
        for sc in scenarios]
    model = replace(base, problem=blocked_problem(base, per_case, w, objective))
    if progress:
        p = model.problem
        progress(f"solving: {p.n_zones} zone copies ({len(todo)} cases), {p.n_sites} sites, "
                 f"{p.n_opts} options")
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
    by = _solve_by(base, scenario, len(todo), deadline, None if tl is None else t_start + tl)
    sol = planner.solve_model(
        model, solver=solver, time_limit_s=tl, deadline=by, progress=progress,
        mip_gap=scenario.mip_gap if mip_gap is None else mip_gap,
        threads=planner.solver_threads(adcode))
    plan = plan_from_solution(study, scenario, base, sol, year=year, adcode=adcode)
    info = _robust_info(plan, study, scenario, todo, w, objective)
    return replace(plan, kpis={**plan.kpis, "robust": info})


def _solve_by(base: planner.Model, scenario: Scenario, n_cases: int, deadline: float | None,
              default: float | None) -> float | None:
    """When the robust solve must end (:func:`netplan.planning.holds.solve_deadline`) to
    meet ``deadline`` (None: ``default``, if any): the current network is measured once
    under the plan's scenario to time a measurement; the plan's own evaluation and one
    measurement per case come after the solve."""
    deadline = default if deadline is None else deadline
    if deadline is None:
        return None
    t0 = time.perf_counter()
    measure_after(base, scenario, np.asarray(base.problem.current_options(), np.int64))
    return solve_deadline(deadline, time.perf_counter() - t0, extra_measures=n_cases)


def blocked_problem(base: planner.Model, per_case: Sequence[planner.Model],
                    weights: NDArray[np.float64], objective: str) -> FacilityProblem:
    """The base model's problem with one block of zone copies per case.

    Sites, options, limits and budget are the base model's (the first stage); each case
    brings its zones' arrivals, travel and unserved costs and its options' capacities
    (the second stage). ``opt_capacity`` is the smallest over the cases, so that the
    greedy completion of the warm start (the current network) fits every case.
    """
    p0 = base.problem
    for k, m in enumerate(per_case):
        p = m.problem
        same = (np.array_equal(p.opt_site, p0.opt_site)
                and np.array_equal(p.cost.indptr, p0.cost.indptr)
                and np.array_equal(p.cost.indices, p0.cost.indices)
                and np.array_equal(p.reloc_from, p0.reloc_from)
                and np.array_equal(p.reloc_to, p0.reloc_to))
        if not same:  # a case changes demand only; anything else is a bug here
            raise NetplanError(f"demand case {k} changed the model's sites, options or pairs; "
                               "the robust model needs the same network in every case")
    probs = [m.problem for m in per_case]
    n = p0.n_zones
    cost = sp.csr_array((
        np.concatenate([p.cost.data for p in probs]),
        np.concatenate([p.cost.indices for p in probs]),
        np.concatenate([[0]] + [p.cost.indptr[1:] + k * p0.cost.nnz
                                for k, p in enumerate(probs)])),
        shape=(n * len(probs), p0.n_sites))
    caps = np.vstack([p.opt_capacity for p in probs])
    return replace(
        p0,
        demand=np.concatenate([p.demand for p in probs]),
        cost=cost,
        unserved_cost=np.concatenate([p.unserved_cost for p in probs]),
        opt_capacity=caps.min(axis=0),
        zone_block=np.repeat(np.arange(len(probs), dtype=np.int64), n),
        block_weight=np.asarray(weights, np.float64),
        block_capacity=caps,
        block_objective=objective,
        warm_start=None if objective == "worst" else p0.warm_start,
        warm_moves=None if objective == "worst" else p0.warm_moves,
    )


def _robust_info(plan: Plan, study: Study, scenario: Scenario, todo: Sequence[DemandCase],
                 weights: NDArray[np.float64], objective: str) -> RobustInfo:
    """The ``robust`` block: the objective, and each case's weight and figures."""
    figures = case_figures(plan, study, scenario, todo, where="the robust plan")
    rows: list[RobustCase] = [
        {"case": res.case.name, "channel_shift": res.case.channel_shift,
         "growth": res.case.growth, "visit_frequency": res.case.visit_frequency,
         "weight": round(float(wk), 6), "service": res.fixed,
         "cost_cny_per_year": res.fixed_cost_cny_per_year}
        for (res, _), wk in zip(figures, weights, strict=True)]
    return {"objective": objective, "cases": rows, "holds_loop": False}
