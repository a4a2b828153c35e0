"""Phased plans: the network planned phase by phase (e.g. 2025, 2030, 2035) by a rolling horizon.

A scenario's ``[phases.<year>]`` tables give each phase its own one-off budget and limits
(the ``[planning]`` keys of :data:`netplan.model.scenario_keys.PHASE_KEYS`; a key a phase
leaves out keeps the scenario's value). Phase years lie after the base year and at most
at the horizon; they are planned in order.

The rolling horizon
-------------------
Phase *k* is one ordinary plan (:func:`netplan.planning.plan.make_plan`, the same model,
limits and behaviour loop) of the network that phase *k - 1* left, for the demand of the
phase's year:

* the network: the outlets open after the previous phase, with their formats and servers
  after it (opened candidates and relocation targets are outlets now);
* what is done stays done: an outlet opened (or moved to) in an earlier phase is *locked*
  (it stays open); an outlet closed (or moved away from) in an earlier phase becomes a
  candidate site at its old place that is *forbidden*, so it never reopens;
* the demand: the zones' population of the phase's year on the master plan path, linear
  from the base-year census to the horizon totals (:func:`phase_population`).

Each phase's gap is the one its solver proved for that phase, given the earlier phases'
decisions. The rolling horizon does not look ahead: a decision that one multi-period
model would time differently (an opening deferred to a later, cheaper phase) is not
found, and no bound is proven for the phases together against such a model.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from netplan._errors import NetplanError
from netplan.model import demand
from netplan.model.scenario import Scenario
from netplan.planning import actions as action_registry
from netplan.planning.plan import Plan, make_plan
from netplan.study.layers import Study, resolve_district

__all__ = ["PHASE_FILES", "PhaseRun", "PhaseSpend", "PhasedFolder", "PhasedPlan", "is_phased",
           "phase_population", "phase_years", "plan_phases", "read_phased", "write_phase_files"]

#: The files a phased plan adds to its folder (beside ``phases/<year>/``).
PHASE_FILES: dict[str, str] = {"actions": "actions.csv", "spend": "spend.csv",
                               "summary": "phases.json", "phases": "phases"}

_CLOSED_KIND = "closed outlet"
_GONE = ("close", "relocate")  # actions after which the outlet's own site is empty


@dataclass(frozen=True)
class PhaseRun:
    """One phase: its year, scenario, the study it was planned on, and its plan."""

    year: int
    scenario: Scenario
    study: Study
    plan: Plan
    locked: frozenset[str]
    forbidden: frozenset[str]


@dataclass(frozen=True)
class PhasedPlan:
    """Every phase, in year order."""

    phases: tuple[PhaseRun, ...]

    def actions(self) -> pd.DataFrame:
        """What each phase does (``keep`` rows left out), with its ``year`` first."""
        frames = []
        for ph in self.phases:
            a = pd.DataFrame(ph.plan.actions.drop(columns="geometry"))
            frames.append(a[a["action"] != "keep"].assign(year=ph.year))
        out = pd.concat(frames, ignore_index=True)
        return out[["year", *[c for c in out.columns if c != "year"]]]

    def spend(self) -> pd.DataFrame:
        """Per phase: budget, one-off spend, operating cost after, actions, solver gap."""
        rows = []
        for ph in self.phases:
            k = ph.plan.kpis
            rows.append({
                "year": ph.year, "budget_cny": k["costs"]["budget_cny"],
                "oneoff_spend_cny": k["costs"]["oneoff_spend_cny"],
                "opex_after_cny_per_year": k["costs"]["opex_after_cny_per_year"],
                **{a: n for a, n in k["actions"].items() if a != "keep"},
                "outlets_after": k["behaviour"]["after"]["outlets"],
                "counter_mean_wait_min": k["behaviour"]["after"]["counter_mean_wait_min"],
                "rule": k["behaviour"]["rule"],
                "status": k["solver"]["status"], "gap": k["solver"].get("gap"),
            })
        return pd.DataFrame(rows)


def phase_years(scenario: Scenario) -> list[int]:
    """The scenario's phase years in order, checked (before anything is loaded or solved).

    Parameters
    ----------
    scenario
        A scenario with ``[phases.<year>]`` tables.

    Returns
    -------
    list of int

    Raises
    ------
    NetplanError
        No phases, or a year outside (base year, horizon].
    """
    years = sorted(int(y) for y in scenario.phases)
    if not years:
        raise NetplanError("the scenario has no [phases.<year>] tables; add one per phase, e.g. "
                           "[phases.2025] budget_cny = 2e8")
    bad = [y for y in years if not scenario.base_year < y <= scenario.horizon_year]
    if bad:
        raise NetplanError(f"phase year(s) {bad} must lie after years.base "
                           f"({scenario.base_year}) and at most at years.horizon "
                           f"({scenario.horizon_year}); rename the [phases.<year>] tables")
    return years


def phase_population(study: Study, scenario: Scenario, year: int) -> np.ndarray[Any, Any]:
    """Each zone's population in ``year`` on the master plan path.

    Linear between the base-year census and the horizon population of
    :func:`netplan.model.demand.zone_population` (exact at both ends).

    Parameters
    ----------
    study, scenario
        The whole city's zones (the horizon totals are the city's) and the scenario.
    year
        Between the base year and the horizon.

    Returns
    -------
    numpy.ndarray
        Float population per zone, in the zones' order.
    """
    base = np.asarray(demand.zone_population(study.zones, scenario, year=scenario.base_year,
                                             districts=study.districts), np.float64)
    horizon = np.asarray(demand.zone_population(study.zones, scenario,
                                                year=scenario.horizon_year,
                                                districts=study.districts), np.float64)
    t = (year - scenario.base_year) / (scenario.horizon_year - scenario.base_year)
    return np.asarray(base + t * (horizon - base), np.float64)


def _next_study(study: Study, plan: Plan, year: int) -> tuple[Study, set[str], set[str]]:
    """The network a phase leaves, as the next phase's study; its openings and closures."""
    acts = plan.actions
    gone = set(acts.loc[acts["action"].isin(_GONE), "site_id"].astype(str))
    after = plan.sites_after.set_index(plan.sites_after["site_id"].astype(str))
    b = study.branches[~study.branches["branch_id"].astype(str).isin(gone)].copy()
    ids = b["branch_id"].astype(str)
    known = ids.isin(after.index)
    for col, src in (("format", "format"), ("counters", "counters"), ("terminals", "terminals")):
        b.loc[known.to_numpy(), col] = after.loc[ids[known], src].to_numpy()
    if "staffed_counters" in after:  # peak-hour staffing is decided again each phase
        b.loc[known.to_numpy(), "counters"] -= after.loc[ids[known], "staffed_counters"].to_numpy()
    new = after[~after.index.isin(set(ids))].sort_index()
    added = gpd.GeoDataFrame({
        "branch_id": new.index.to_numpy(), "name": new["name"].to_numpy(),
        "format": new["format"].to_numpy(), "counters": new["counters"].to_numpy(np.int64),
        "terminals": new["terminals"].to_numpy(np.int64), "source": f"opened {year}",
        "adcode": new["adcode"].to_numpy(), "ring_zone": new["ring_zone"].to_numpy(),
    }, geometry=new.geometry.to_numpy(), crs=study.crs)
    closed = study.branches[study.branches["branch_id"].astype(str).isin(gone)]
    c = study.candidates[~study.candidates["candidate_id"].astype(str).isin(set(new.index))]
    as_cand = gpd.GeoDataFrame({
        "candidate_id": closed["branch_id"].to_numpy(), "name": closed["name"].to_numpy(),
        "kind": _CLOSED_KIND, "adcode": closed["adcode"].to_numpy(),
        "ring_zone": closed["ring_zone"].to_numpy()}, geometry=closed.geometry.to_numpy(),
        crs=study.crs)
    nxt = dataclasses.replace(
        study, branches=gpd.GeoDataFrame(pd.concat([b, added[b.columns]], ignore_index=True),
                                         crs=study.crs),
        candidates=gpd.GeoDataFrame(pd.concat([c, as_cand[c.columns]], ignore_index=True),
                                    crs=study.crs))
    return nxt, set(new.index), gone


def _with_population(study: Study, scenario: Scenario, year: int, city: Study) -> Study:
    if year == scenario.horizon_year:
        return study
    zones = study.zones.copy()
    zones[demand.pop_column(year)] = phase_population(city, scenario, year)
    return dataclasses.replace(study, zones=zones)


def plan_phases(
    study: Study,
    scenario: Scenario,
    *,
    district: str | None = None,
    time_limit_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> PhasedPlan:
    """Plan every phase of ``scenario.phases`` by the rolling horizon (module docstring).

    Parameters
    ----------
    study, scenario
        The layers and a scenario with ``[phases.<year>]`` tables.
    district
        Plan one district (adcode or name) in every phase; default the whole city.
    time_limit_s
        Time limit of each phase's solve (default: the scenario's).
    progress
        Called with a short line as each phase starts.

    Returns
    -------
    PhasedPlan

    Raises
    ------
    NetplanError
        No phases, a phase year outside (base year, horizon], or a phase that cannot be
        planned (its message names the phase).
    """
    years = phase_years(scenario)
    adcode = resolve_district(district, study.districts) if district else None
    current = study
    locked: set[str] = set()
    forbidden: set[str] = set()
    runs: list[PhaseRun] = []
    for year in years:
        sc = scenario.replace(**{k: v for k, v in scenario.phases[str(year)].items()},
                              phases={})
        if progress:
            progress(f"phase {year}: planning")
        phase_study = _with_population(current, scenario, year, study)
        ad = (None if adcode is None else set(
            pd.concat([phase_study.branches["branch_id"][phase_study.branches["adcode"] == adcode],
                       phase_study.candidates["candidate_id"][
                           phase_study.candidates["adcode"] == adcode]]).astype(str)))
        lk = frozenset(locked if ad is None else locked & ad)
        fb = frozenset(forbidden if ad is None else forbidden & ad)
        try:
            plan = make_plan(phase_study, sc, district=adcode, year=year,
                             time_limit_s=time_limit_s, locked=lk, forbidden=fb)
        except NetplanError as exc:
            raise NetplanError(f"phase {year}: {exc}") from None
        runs.append(PhaseRun(year=year, scenario=sc, study=phase_study, plan=plan, locked=lk,
                             forbidden=fb))
        current, opened, closed = _next_study(phase_study, plan, year)
        locked |= opened
        forbidden |= closed
    return PhasedPlan(phases=tuple(runs))


def write_phase_files(phased: PhasedPlan, folder: Path) -> None:
    """``actions.csv`` (with ``year``), ``spend.csv`` and ``phases.json`` into ``folder``.

    Parameters
    ----------
    phased
        The phased plan.
    folder
        An existing (temporary) folder; each phase's own plan folder goes to
        ``phases/<year>/`` beside these files (written by the caller).
    """
    from netplan.planning.plan import csv_safe

    csv_safe(phased.actions()).to_csv(folder / PHASE_FILES["actions"], index=False,
                                       encoding="utf-8", lineterminator="\n")
    phased.spend().to_csv(folder / PHASE_FILES["spend"], index=False, encoding="utf-8",
                          lineterminator="\n")
    doc = {"method": "rolling horizon: each phase fixes the earlier phases' openings (locked) "
                     "and closures (forbidden); each gap is proven for its phase only",
           "phases": [{"year": ph.year, "status": ph.plan.kpis["solver"]["status"],
                       "gap": ph.plan.kpis["solver"].get("gap"),
                       "locked": sorted(ph.locked), "forbidden": sorted(ph.forbidden)}
                      for ph in phased.phases]}
    (folder / PHASE_FILES["summary"]).write_text(
        json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8")


# --- reading a phased plan folder back (what the map and the report draw) ---------------


@dataclass(frozen=True)
class PhaseSpend:
    """One row of ``spend.csv``: what a phase could spend, spent and did.

    Attributes
    ----------
    year
        The phase's year.
    budget_cny
        Its one-off budget (``None``: unlimited).
    oneoff_spend_cny, opex_after_cny_per_year
        One-off spend of the phase, operating cost of the network after it.
    actions
        Sites per action that changes the network, in the registry's order
        (:data:`netplan.planning.actions.ACTIONS`).
    status, gap
        The phase's solver status and proven relative gap (``None``: none proven).
    """

    year: int
    budget_cny: float | None
    oneoff_spend_cny: float
    opex_after_cny_per_year: float
    actions: dict[str, int]
    status: str
    gap: float | None


@dataclass(frozen=True)
class PhasedFolder:
    """A phased plan as read from its folder: each phase's plan and its spend, in year order.

    Attributes
    ----------
    folder
        The phased plan folder.
    years
        The phase years, in order.
    plans
        Each phase's plan (``phases/<year>/``), in the order of ``years``.
    spend
        Each phase's row of ``spend.csv``, in the order of ``years``.
    method
        How the phases were planned (``phases.json``).
    """

    folder: Path
    years: tuple[int, ...]
    plans: tuple[Plan, ...]
    spend: tuple[PhaseSpend, ...]
    method: str

    def plan_dir(self, year: int) -> Path:
        """The plan folder of the phase of ``year``."""
        return self.folder / PHASE_FILES["phases"] / str(year)


def is_phased(folder: Path) -> bool:
    """Whether ``folder`` is a phased plan folder (``phases.json`` and ``phases/``)."""
    folder = Path(folder)
    return ((folder / PHASE_FILES["summary"]).is_file()
            and (folder / PHASE_FILES["phases"]).is_dir())


def _number(value: Any) -> float | None:
    """A finite number of a CSV cell, or ``None`` (empty, NaN, ``none``)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def _spend_rows(df: pd.DataFrame, plans: dict[int, Plan], where: Path) -> dict[int, PhaseSpend]:
    changes = [a.name for a in action_registry.ACTIONS if a.changes_network]
    need = ["year", "budget_cny", "oneoff_spend_cny", "opex_after_cny_per_year", "status"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise NetplanError(f"{where} lacks the column(s) {missing}; rerun `netplan phases` to "
                           "rewrite the folder")
    rows: dict[int, PhaseSpend] = {}
    for r in df.to_dict("records"):
        year = int(r["year"])
        counted = plans[year].kpis["actions"] if year in plans else {}
        # a column a plan written before an action was registered lacks counts its kpis hold
        acts = {a: int(r[a]) if a in r and _number(r[a]) is not None else int(counted.get(a, 0))
                for a in changes}
        rows[year] = PhaseSpend(
            year=year, budget_cny=_number(r["budget_cny"]),
            oneoff_spend_cny=_number(r["oneoff_spend_cny"]) or 0.0,
            opex_after_cny_per_year=_number(r["opex_after_cny_per_year"]) or 0.0,
            actions=acts, status=str(r["status"]), gap=_number(r.get("gap")))
    return rows


def read_phased(folder: Path) -> PhasedFolder:
    """Read a phased plan folder written by ``netplan phases``.

    Parameters
    ----------
    folder
        The folder (:func:`is_phased`).

    Returns
    -------
    PhasedFolder

    Raises
    ------
    NetplanError
        A file is missing or unreadable, or the phase years of ``phases.json``,
        ``spend.csv`` and ``phases/`` disagree.
    """
    from netplan.planning.plan import read_plan

    folder = Path(folder)
    summary = folder / PHASE_FILES["summary"]
    spend_csv = folder / PHASE_FILES["spend"]
    for f in (summary, spend_csv):
        if not f.is_file():
            raise NetplanError(f"{folder} is not a phased plan folder: {f.name} is missing; "
                               f"run `netplan phases --out {folder}` first")
    try:
        doc = json.loads(summary.read_text(encoding="utf-8"))
        years = tuple(int(p["year"]) for p in doc["phases"])
        method = str(doc.get("method", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise NetplanError(f"{summary} is not a phases.json written by netplan ({exc}); rerun "
                           "`netplan phases` to rewrite the folder") from None
    if not years or list(years) != sorted(set(years)):
        raise NetplanError(f"{summary} lists the phase years {list(years)}; expected one or "
                           "more years in increasing order (rerun `netplan phases`)")
    plans = {y: read_plan(folder / PHASE_FILES["phases"] / str(y)) for y in years}
    rows = _spend_rows(pd.read_csv(spend_csv, encoding="utf-8"), plans, spend_csv)
    if sorted(rows) != list(years):
        raise NetplanError(f"{spend_csv} has the years {sorted(rows)} but {summary.name} "
                           f"{list(years)}; rerun `netplan phases` to rewrite the folder")
    return PhasedFolder(folder=folder, years=years, plans=tuple(plans[y] for y in years),
                        spend=tuple(rows[y] for y in years), method=method)
