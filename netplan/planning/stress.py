"""Stress a fixed plan under other demand: its figures in each case and its regret.

A *demand case* changes three things of the plan's scenario (``[uncertainty.<name>]``,
:data:`netplan.model.scenario_keys.UNCERTAINTY_FIELDS`): ``channel_shift`` is added to the
share of visits that go to smart terminals, ``growth`` multiplies the bank's customer
share, ``visit_frequency`` multiplies the visits per customer per year. Without an
``[uncertainty]`` table the cases of :data:`BUILTIN_CASES` are used (a scenario's own
cases replace built-in ones of the same name).

:func:`stress_plan` measures the plan folder's network *after* (its sites and servers,
kept fixed) under each case with the behaviour model
(:func:`netplan.planning.evaluate.measure`, the plan scenario's rule), exactly as the
plan measured itself: the unchanged ``base`` case gives back the ``kpis.json`` behaviour
figures after the plan. With ``optimum``, each case is also planned afresh (the case's
own optimum, the same scope and year) and the *regret* is the fixed plan's figure minus the
optimum's: in service figures, and in the plan's objective measured under the behaviour
model, the yearly cost ``opex + one-off / amortisation_years + customers' travel (the
flows of the rule, priced as kpis.json prices them) + unserved_penalty_cny_per_visit ×
unserved visits per year`` (peak-hour unserved customers ÷ the peak-hour share × business
days). A positive regret is what committing to the plan costs if the case comes true; it
can be slightly negative, as the optimiser routes customers by its own model, not by
their choice.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netplan._errors import NetplanError, ScenarioError
from netplan.model import demand
from netplan.model.behaviour import behaviour_of
from netplan.model.scenario import Scenario, scenario_from_dict
from netplan.planning.contract import Kpis, ServiceKpis
from netplan.planning.evaluate import Network, measure, study_zones, zone_points
from netplan.planning.plan import Plan, make_plan, read_plan
from netplan.study.layers import Study

__all__ = ["BUILTIN_CASES", "REGRET_KEYS", "CaseResult", "DemandCase", "StressResult",
           "case_figures", "demand_cases", "stress_plan"]


@dataclass(frozen=True)
class DemandCase:
    """One demand case: a shift of the terminal share and two multipliers (see module)."""

    name: str
    channel_shift: float = 0.0
    growth: float = 1.0
    visit_frequency: float = 1.0

    def apply(self, scenario: Scenario) -> Scenario:
        """The scenario under this case (validated; NetplanError naming the case if not).

        Parameters
        ----------
        scenario
            The plan's scenario.

        Returns
        -------
        Scenario
        """
        try:
            return scenario.replace(
                smart_share=scenario.smart_share + self.channel_shift,
                customer_share=scenario.customer_share * self.growth,
                visits_per_customer_per_year=(scenario.visits_per_customer_per_year
                                              * self.visit_frequency))
        except ScenarioError as exc:
            raise NetplanError(f"demand case {self.name!r} gives an invalid scenario: "
                               f"{str(exc).split(': ', 1)[-1]}; change [uncertainty."
                               f"{self.name}]") from None


#: The cases used when a scenario has no ``[uncertainty]`` table: ``low`` = online
#: channels keep growing (half the branch visits per customer, 15 points more of them at
#: terminals, 5% fewer customers), ``high`` = the opposite drift.
BUILTIN_CASES: Mapping[str, DemandCase] = {
    "low": DemandCase("low", channel_shift=0.15, growth=0.95, visit_frequency=0.5),
    "base": DemandCase("base"),
    "high": DemandCase("high", channel_shift=-0.10, growth=1.05, visit_frequency=1.25),
}

#: The figures whose regret is reported (the behaviour figures after the plan, and cost).
REGRET_KEYS: tuple[str, ...] = ("cost_cny_per_year", "counter_mean_wait_min",
                                "share_customers_wait_over_target", "unserved_arrivals_per_h",
                                "overloaded_outlets")


def demand_cases(scenario: Scenario, names: Sequence[str] | None = None) -> list[DemandCase]:
    """The demand cases to stress under, by name (default: all of them, in order).

    Parameters
    ----------
    scenario
        The plan's scenario; its ``[uncertainty.<name>]`` tables add or replace cases.
    names
        The cases wanted (``low``, ``base``, ``high`` or the scenario's own).

    Returns
    -------
    list of DemandCase

    Raises
    ------
    NetplanError
        A name that is no case (with the nearest one), or a name given twice.
    """
    table: dict[str, DemandCase] = dict(BUILTIN_CASES)
    for name, fields in scenario.uncertainty.items():
        table[name] = DemandCase(name, **dict(fields))
    wanted = list(table) if names is None else [n.strip() for n in names]
    unknown = [n for n in wanted if n not in table]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(table), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise NetplanError(f"unknown demand case(s) {', '.join(map(repr, unknown))}{hint}; "
                           f"known cases: {', '.join(table)} (add [uncertainty.<name>] tables to "
                           "the scenario for others)")
    if len(set(wanted)) != len(wanted):
        raise NetplanError("a demand case is named twice; name each case once")
    return [table[n] for n in wanted]


@dataclass(frozen=True)
class CaseResult:
    """The fixed plan under one case, and (optionally) the case's own optimum.

    Attributes
    ----------
    case
        The demand case.
    fixed
        The plan's network after, measured under the case (the plan scenario's rule).
    fixed_cost_cny_per_year
        Its yearly cost with the unserved customers priced in (module docstring).
    own, own_cost_cny_per_year
        The same for the case's own optimum (``None`` without ``optimum`` or when its
        plan failed; ``own_error`` then says why).
    regret
        Fixed minus own for :data:`REGRET_KEYS` (empty without an optimum).
    """

    case: DemandCase
    fixed: ServiceKpis
    fixed_cost_cny_per_year: float
    own: ServiceKpis | None = None
    own_cost_cny_per_year: float | None = None
    own_error: str = ""
    regret: Mapping[str, float] | None = None


@dataclass(frozen=True)
class StressResult:
    """A plan stressed under demand cases (in the order asked)."""

    scope: str
    year: int
    rule: str
    patience_min: float
    cases: tuple[CaseResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (figures as in ``kpis.json``)."""
        return {"scope": self.scope, "year": self.year, "rule": self.rule,
                "patience_min": self.patience_min,
                "cases": [_case_dict(c) for c in self.cases]}


def _case_dict(c: CaseResult) -> dict[str, Any]:
    return {"case": c.case.name, "channel_shift": c.case.channel_shift,
            "growth": c.case.growth, "visit_frequency": c.case.visit_frequency,
            "fixed": c.fixed, "fixed_cost_cny_per_year": c.fixed_cost_cny_per_year,
            "own": c.own, "own_cost_cny_per_year": c.own_cost_cny_per_year,
            "own_error": c.own_error or None,
            "regret": None if c.regret is None else dict(c.regret)}


def _yearly_cost(kpis: Kpis, svc: ServiceKpis, scenario: Scenario, travel_cny: float) -> float:
    costs = kpis["costs"]
    unserved_per_year = (float(svc["unserved_arrivals_per_h"]) / scenario.peak_hour_share
                         * scenario.business_days_per_year)
    return round(float(costs["opex_after_cny_per_year"])
                 + float(costs["oneoff_spend_cny"]) / scenario.amortisation_years
                 + travel_cny + scenario.unserved_penalty_cny_per_visit * unserved_per_year, 2)


@dataclass(frozen=True)
class _Fixed:
    """The plan's network after over the study's sites, its zones and its scope masks."""

    network: Network
    zones: np.ndarray[Any, np.dtype[np.int64]]
    site_mask: np.ndarray[Any, np.dtype[np.bool_]] | None
    zone_mask: np.ndarray[Any, np.dtype[np.bool_]] | None


def _fixed_network(plan: Plan, study: Study, folder: Path) -> _Fixed:
    """Every outlet and candidate of the study (the planner's order), with the servers
    the plan gives it (0: closed or not opened)."""
    b, c = study.branches, study.candidates
    ids = np.concatenate([b["branch_id"].astype(str).to_numpy(),
                          c["candidate_id"].astype(str).to_numpy()])
    adcode = np.concatenate([b["adcode"].astype(str).to_numpy(),
                             c["adcode"].astype(str).to_numpy()])
    pos = {s: k for k, s in enumerate(ids)}
    counters = np.zeros(len(ids), np.int64)
    terminals = np.zeros(len(ids), np.int64)
    sa = plan.sites_after
    missing = [s for s in sa["site_id"].astype(str) if s not in pos]
    if missing:
        raise NetplanError(f"{folder}: {len(missing)} site(s) of the plan are not in the study "
                           f"(e.g. {', '.join(missing[:10])}); pass the plan's study with --data")
    rows = np.asarray([pos[s] for s in sa["site_id"].astype(str)], np.int64)
    counters[rows] = sa["counters"].to_numpy(np.int64)
    terminals[rows] = sa["terminals"].to_numpy(np.int64)
    zpos = {str(z): k for k, z in enumerate(study.zones["zone_id"].astype(str))}
    zids = [str(z) for z in plan.zones_kpi["zone_id"]]
    lost = [z for z in zids if z not in zpos]
    if lost:
        raise NetplanError(f"{folder}: {len(lost)} zone(s) of the plan are not in the study "
                           f"(e.g. {', '.join(lost[:10])}); pass the plan's study with --data")
    zi = np.asarray([zpos[z] for z in zids], np.int64)
    scope = str(plan.kpis["scope"])
    site_mask = zone_mask = None
    if scope != "city":
        site_mask = adcode == scope
        zone_mask = study.zones["adcode"].astype(str).to_numpy()[zi] == scope
    xy = np.vstack([zone_points(b), zone_points(c)])
    return _Fixed(Network(xy=xy, counters=counters, terminals=terminals), zi, site_mask,
                  zone_mask)


def _own_plan(study: Study, scenario: Scenario, scope: str, year: int,
              time_limit_s: float | None) -> Plan:
    """The case's own optimum: planned as the stressed plan was (its scope and limits)."""
    if scope == "city":
        return make_plan(study, scenario, year=year, time_limit_s=time_limit_s)
    from netplan.planning.district import run_district

    run = run_district(study, scenario, scope, year=year, solver="highs",
                       time_limit_s=time_limit_s, mip_gap=None)
    if not run.ok or run.plan is None:
        raise NetplanError(run.reason)
    return run.plan


def stress_plan(
    folder: str | Path,
    study: Study,
    *,
    cases: Sequence[str] | None = ("low", "base", "high"),
    optimum: bool = True,
    time_limit_s: float | None = None,
) -> StressResult:
    """Measure a plan's network under demand cases, and its regret against their optima.

    Parameters
    ----------
    folder
        A plan folder (``netplan plan``).
    study
        The study the plan was made with.
    cases
        The demand cases (:func:`demand_cases`); ``None``: every case known.
    optimum
        Also plan each case afresh and report the regret (one solve per case).
    time_limit_s
        Time limit of each of those solves (default: the scenario's).

    Returns
    -------
    StressResult

    Raises
    ------
    NetplanError
        Not a plan folder, an unknown case, a case giving an invalid scenario, or a study
        that lacks the plan's sites or zones.
    """
    folder = Path(folder)
    plan = read_plan(folder)
    base = scenario_from_dict(dict(plan.kpis["scenario"]), source=str(folder))
    todo = demand_cases(base, cases)
    scope, year = str(plan.kpis["scope"]), int(plan.kpis["year"])
    out: list[CaseResult] = []
    for res, sc in case_figures(plan, study, base, todo, where=str(folder)):
        if optimum:
            res = _with_optimum(res, plan_of=lambda s=sc: _own_plan(study, s, scope, year,
                                                                    time_limit_s), scenario=sc)
        out.append(res)
    beh = behaviour_of(base)
    return StressResult(scope=scope, year=year, rule=beh.rule, patience_min=beh.patience_min,
                        cases=tuple(out))


def case_figures(plan: Plan, study: Study, base: Scenario, todo: Sequence[DemandCase], *,
                 where: str) -> list[tuple[CaseResult, Scenario]]:
    """A plan's network after, kept fixed, measured under each demand case.

    Parameters
    ----------
    plan
        The plan (read from a folder or just made).
    study
        The study it was made with.
    base
        The plan's scenario; each case applies to it (:meth:`DemandCase.apply`).
    todo
        The cases (:func:`demand_cases`).
    where
        Names the plan in error messages (its folder).

    Returns
    -------
    list of (CaseResult, Scenario)
        Per case: its figures (no optimum) and the case's scenario.

    Raises
    ------
    NetplanError
        A case giving an invalid scenario (checked before any work), or a study that
        lacks the plan's sites or zones.
    """
    scenarios = [c.apply(base) for c in todo]  # every case checked before any work
    year = int(plan.kpis["year"])
    fixed = _fixed_network(plan, study, Path(where))
    out: list[tuple[CaseResult, Scenario]] = []
    for case, sc in zip(todo, scenarios, strict=True):
        zxy, pop, arrivals = study_zones(study, sc, year=year)
        m = measure(zone_xy=zxy[fixed.zones], zone_arrivals=arrivals[fixed.zones],
                    network=fixed.network, scenario=sc, behaviour=behaviour_of(sc),
                    site_mask=fixed.site_mask, zone_mask=fixed.zone_mask)
        a = m.assignment  # travel priced as the plan prices it (kpis.json costs)
        visits = demand.annual_visits(pop[fixed.zones], sc)
        travel = round(float(np.sum(visits[a.zone] * a.share * a.dist_m / 1000.0))
                       * sc.travel_cost_cny_per_km)
        out.append((CaseResult(case=case, fixed=m.service, fixed_cost_cny_per_year=_yearly_cost(
            plan.kpis, m.service, sc, travel)), sc))
    return out


def _with_optimum(res: CaseResult, *, plan_of: Any, scenario: Scenario) -> CaseResult:
    try:
        own_plan: Plan = plan_of()
    except NetplanError as exc:
        return CaseResult(case=res.case, fixed=res.fixed,
                          fixed_cost_cny_per_year=res.fixed_cost_cny_per_year,
                          own_error=str(exc).splitlines()[0])
    own = own_plan.kpis["behaviour"]["after"]
    own_cost = _yearly_cost(own_plan.kpis, own, scenario,
                            float(own_plan.kpis["costs"]["travel_after_cny_per_year"]))
    regret = {"cost_cny_per_year": round(res.fixed_cost_cny_per_year - own_cost, 2)}
    for key in REGRET_KEYS[1:]:
        diff = float(res.fixed[key]) - float(own[key])  # type: ignore[literal-required]
        regret[key] = round(diff, 6) if math.isfinite(diff) else diff
    return CaseResult(case=res.case, fixed=res.fixed,
                      fixed_cost_cny_per_year=res.fixed_cost_cny_per_year, own=own,
                      own_cost_cny_per_year=own_cost, regret=regret)
