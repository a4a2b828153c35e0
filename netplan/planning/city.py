"""District plans and their merge into one coordinated city plan (pure functions).

:func:`netplan.planning.district.run_district` plans one district (what each task of
:func:`netplan.planning.dask_runner.plan_all` runs) with its share of the city limits
(:mod:`netplan.planning.limits`); :func:`merge_districts` merges the runs into one
:class:`CityPlan`, whose folder :func:`write_city_plan` writes.

The merge
---------
Each district decides its own sites; the merged network takes every district's decided
sites as planned, and each zone is served as its own district's plan serves it. District
runs keep their neighbours' outlets as they are, so two plans may count on the same
outlet, or on one the other closes: such *conflicts* are repaired (shares at a closed
outlet, and the load above an outlet's capacity at the waiting target, farthest
customers first, go to the spare capacity of the nearest open outlets within reach, or
stay unserved), and measured in ``kpis["coordination"]["repair"]``. So every outlet of
the merged plan meets the waiting target, like every outlet of a single plan. A district
whose run failed keeps its network unchanged and its zones are served by the diagnosis
rule; so does a district with no outlet and no candidate, which is not run at all
(``kpis["skipped_districts"]``). With ``mode="partition"`` each district is planned
alone (its own zones and sites only): plans never conflict, at the price of ignoring
customers who would cross a district border. The merged plan is checked against every
city limit (``min_share_outside_ring``, which district runs do not enforce, included)
in ``kpis["coordination"]``.

KPIs of the merged plan are **recomputed** for the merged network over the whole city
(the same :func:`netplan.planning.plan.plan_from_solution` as a whole-city plan:
before/after, per district, per ring zone, costs), not summed from the district runs —
district runs overlap in their buffers. Loads (hence waits and overloaded outlets) come
from the merged assignment, so an outlet that serves zones of two districts carries both
loads. The merged objective is the whole-city model's value of the merged decisions: the
cost of its options, closures and moves with the best routing of the zones for them
(:func:`netplan.optimize.routing.best_routing`), as the model values its own plans, so it
compares directly with a whole-city solve (:func:`netplan.planning.dask_runner.compare_city`)
and with the bound. The districts' own routing costs more (each zone served as its own
district's plan serves it, on its district's tightened model); its objective
(:func:`objective_of`) is kept as ``kpis["merge"]["objective_as_routed"]``, and the
assignment of the plan folder is that routing. Its bound is a city-level lower
bound on the whole-city model's optimum, made by decomposition over the districts
(:mod:`netplan.planning.city_bound`), so ``kpis["solver"]["gap"]`` says how much better
than the merged plan a plan of the whole-city model could at most be.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan import optimize
from netplan._errors import SolverError
from netplan._io import PLAN_FOLDER, staged_folder, write_manifest
from netplan.model import demand, kpi
from netplan.model.scenario import Scenario
from netplan.optimize.decompose import MapBlocks
from netplan.optimize.routing import best_routing
from netplan.planning import problem as planner
from netplan.planning.city_bound import city_bound, gap_of, skipped_bound
from netplan.planning.contract import (
    CityBound,
    Coordination,
    FailedDistrict,
    Kpis,
    RepairStats,
    RunInfo,
)
from netplan.planning.deadline import bound_time
from netplan.planning.district import DistrictRun, jsonable
from netplan.planning.limits import ADCODE, DistrictLimits, check_adcode
from netplan.planning.plan import Plan, plan_from_solution, read_plan, write_plan_files
from netplan.study.layers import Study

log = logging.getLogger(__name__)

__all__ = [
    "CityPlan",
    "merge_districts",
    "objective_of",
    "plan_value",
    "read_city_plan",
    "write_city_plan",
]


# --- the merge -------------------------------------------------------------------------


def objective_of(model: planner.Model, scenario: Scenario, *, site_option: NDArray[Any],
                 relocated: NDArray[Any], assignment: kpi.Assignment) -> float:
    """The whole-city objective (annual CNY, as :mod:`netplan.optimize` reports it) of a plan.

    Travel (annual visits × km × cost per km) + unserved visits × penalty + operating and
    amortised one-off cost of the chosen options + amortised closing cost − amortised
    relocation savings (+ the load-balance term when the scenario has one).

    Parameters
    ----------
    model, scenario
        The whole-city model and its scenario.
    site_option
        Per site: the chosen option (``-1`` = not open).
    relocated
        Per relocation pair of the model: whether the move is made.
    assignment
        Zone → site shares with their distances, and each zone's unserved share.

    Returns
    -------
    float
    """
    p = model.problem
    opt = np.asarray(site_option, dtype=np.int64)
    is_open = opt >= 0
    visits = np.asarray(demand.annual_visits(model.zone_pop, scenario), dtype=np.float64)
    z = np.asarray(assignment.zone, np.int64)
    j = np.asarray(assignment.site, np.int64)
    x = np.asarray(assignment.share, np.float64)
    travel = float(np.sum(visits[z] * x * np.asarray(assignment.dist_m, np.float64) / 1000.0)
                   * scenario.travel_cost_cny_per_km)
    u = np.asarray(assignment.unserved_share, np.float64)
    unserved = float(np.sum(np.asarray(p.unserved_cost) * u))
    options = float(np.sum(np.asarray(p.opt_cost)[opt[is_open]]))
    closed = np.asarray(p.site_existing) & ~is_open
    closing = float(np.sum(np.asarray(p.site_close_cost)[closed]))
    saving = float(np.sum(np.asarray(p.reloc_saving)[np.asarray(relocated, bool)]))
    total = travel + unserved + options + closing - saving
    if p.balance_weight > 0:
        load = np.bincount(j, weights=np.asarray(p.demand)[z] * x, minlength=len(opt))
        cap = np.where(is_open, np.asarray(p.opt_capacity)[np.maximum(opt, 0)], 0.0)
        total += p.balance_weight * float(np.sum(np.maximum(load - p.balance_threshold * cap,
                                                            0.0)))
    return total


def _pair_keys(zone: NDArray[np.int64], site: NDArray[np.int64], n_sites: int
               ) -> NDArray[np.int64]:
    return zone.astype(np.int64) * np.int64(max(n_sites, 1)) + site.astype(np.int64)


def merge_districts(  # noqa: PLR0913 - public API: the runs and how they were made
    study: Study,
    scenario: Scenario,
    runs: Mapping[str, DistrictRun],
    *,
    year: int,
    limits: Mapping[str, DistrictLimits] | None = None,
    solver: str = "highs",
    wall_s: float = 0.0,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    skipped: Mapping[str, str] | None = None,
    mode: str | None = None,
    bound_s: float | None = None,
    map_blocks: MapBlocks | None = None,
    bound_by: float | None = None,
) -> Plan:
    """Merge district runs into one city plan (see the module docstring).

    Parameters
    ----------
    study, scenario
        The layers and the city scenario (its limits are the ones checked).
    runs
        adcode -> the district's run. Districts missing from ``runs`` or whose run failed
        keep their network unchanged.
    year, limits
        Demand year; adcode -> the district's share of the city limits, if split.
    solver, wall_s
        The solver the districts ran and the seconds they took (written to the plan).
    locked, forbidden
        Site ids that had to stay open / could not open.
    skipped
        adcode -> why, for districts left out on purpose (``kpis["skipped_districts"]``);
        the other missing ones count as failed ("not run").
    mode
        How the districts were run (``kpis["merge"]["district_mode"]``), if known.
    bound_s, map_blocks, bound_by
        Seconds for the city-level lower bound (:mod:`netplan.planning.city_bound`),
        reported in ``kpis["solver"]`` and ``kpis["coordination"]["city_bound"]`` (None
        or 0: no bound); where its block solves run (a Dask client's mapper; default this
        process); ``time.perf_counter()`` time by which it must end: it gets at most what
        is left then, none with too little (:func:`netplan.planning.deadline.bound_time`).

    Returns
    -------
    Plan
        The merged city plan, with the city-only keys of
        :class:`netplan.planning.contract.Kpis`.
    """
    city_model = planner.build_model(study, scenario, year=year, adcode=None, locked=locked,
                                     forbidden=forbidden)
    ok_runs = {ad: r for ad, r in runs.items() if r.ok}
    model, site_option, relocated = _merged_network(city_model, scenario, ok_runs)
    asg, cross = _merged_assignment(study, model, scenario, site_option, ok_runs)
    model = _with_pair_distances(model, asg)
    objective, as_routed = _objectives(model, scenario, site_option, relocated, asg)
    sol = optimize.Solution(
        status="merged", objective=objective, best_bound=float("nan"), gap=float("nan"),
        seconds=wall_s, build_seconds=0.0, solver=solver, backend="dask",
        site_option=site_option, relocated=relocated, assign_zone=asg.zone,
        assign_site=asg.site, assign_share=asg.share, unserved_share=asg.unserved_share,
    )
    merged = plan_from_solution(study, scenario, model, sol, year=year, adcode=None)
    failed = {ad: r for ad, r in runs.items() if not r.ok}
    skip = dict(skipped or {})
    all_ads = sorted(str(a) for a in study.districts["adcode"].astype(str))
    not_run = [a for a in all_ads if a not in runs and a not in skip]
    kpis = _merge_kpis(merged.kpis, objective=objective, solver=solver, ok_runs=ok_runs,
                       failed=failed, not_run=not_run, skip=skip, mode=mode)
    kpis["merge"]["objective_as_routed"] = round(as_routed, 2)
    kpis["coordination"] = _coordination(model, scenario, site_option, relocated, limits, cross,
                                         kpis)
    if bound_s:
        _bound_city(kpis, study, city_model, objective, bound_s, bound_by, map_blocks)
    kpis["districts_run"] = {ad: r.info(limits.get(ad) if limits else None)
                             for ad, r in sorted(runs.items())}
    return dataclasses.replace(merged, kpis=kpis,
                               actions=_mark_unchanged(merged.actions, failed, not_run))


def plan_value(study: Study, scenario: Scenario, plan: Plan, *, year: int,
               locked: frozenset[str] = frozenset(),
               forbidden: frozenset[str] = frozenset()) -> float | None:
    """The whole-city model's value of a plan's decisions, as :func:`merge_districts` values
    a merged plan: the model as built (no behaviour-loop tightening), the plan's formats,
    staffed counters and moves (:func:`_network_of`), the best routing for them.

    A plan made by :func:`~netplan.planning.plan.make_plan` reports the objective of its
    kept round's model, which the behaviour loop tightened; this is what the same plan
    costs on the model a merged plan and the city bound are measured on.

    Returns
    -------
    float or None
        None when no routing of the model fits the decisions.
    """
    city = planner.build_model(study, scenario, year=year, adcode=None, locked=locked,
                               forbidden=forbidden)
    after, acts = plan.sites_after, plan.actions
    gone = acts.loc[acts["action"].isin(["close", "relocate"]), "site_id"].astype(str)
    decided = pd.concat([
        pd.DataFrame({"site_id": after["site_id"].astype(str),
                      "format_after": after["format"].astype(str),
                      "staffed": (after["staffed_counters"] if "staffed_counters" in after
                                  else 0)}),
        pd.DataFrame({"site_id": gone, "format_after": "", "staffed": 0})])
    moved = after[after["relocated_from"].fillna("").astype(str) != ""]
    relocations = pd.DataFrame({"from_id": moved["relocated_from"].astype(str),
                                "to_id": moved["site_id"].astype(str)})
    model, site_option, relocated = _network_of(city, scenario, [(decided, relocations)])
    try:
        return best_routing(model.problem, site_option, relocated).objective
    except SolverError:
        return None


def _objectives(model: planner.Model, scenario: Scenario, site_option: NDArray[np.int64],
                relocated: NDArray[np.bool_], asg: kpi.Assignment) -> tuple[float, float]:
    """The whole-city model's value of the merged decisions and the objective of the
    districts' routing ``asg``: the first is that of the best routing for the decisions,
    or the second when that is cheaper (it may use pairs beyond the city model's nearest
    sites) or no routing of the model fits them."""
    as_routed = objective_of(model, scenario, site_option=site_option, relocated=relocated,
                             assignment=asg)
    try:
        best = best_routing(model.problem, site_option, relocated).objective
    except SolverError as exc:
        log.warning("merged plan: no routing of the whole-city model fits its decisions "
                    "(%s); its objective is that of the districts' routing", exc)
        return as_routed, as_routed
    return min(best, as_routed), as_routed


def _bound_city(kpis: Kpis, study: Study, model: planner.Model, objective: float,
                bound_s: float, bound_by: float | None, map_blocks: MapBlocks | None) -> None:
    """The city bound of the merged plan within ``bound_s`` seconds and by ``bound_by``
    (skipped, saying so, when that leaves too little), put into ``kpis``."""
    if bound_by is not None:
        bound_s = bound_time(bound_s, bound_by - time.perf_counter())
    cb = city_bound(study, model, objective=objective, seconds=bound_s,
                    map_blocks=map_blocks) if bound_s else skipped_bound()
    _add_city_bound(kpis, cb, objective)


def _add_city_bound(kpis: Kpis, cb: CityBound, objective: float) -> None:
    """Put the city-level bound into ``kpis``: the solver's bound and gap, its details."""
    kpis["coordination"]["city_bound"] = cb
    kpis["solver"]["best_bound"] = cb["bound"]
    kpis["solver"]["gap"] = gap_of(objective, cb["bound"])


def _merge_kpis(base: Kpis, *, objective: float, solver: str,
                ok_runs: Mapping[str, DistrictRun], failed: Mapping[str, DistrictRun],
                not_run: Sequence[str], skip: Mapping[str, str], mode: str | None) -> Kpis:
    """``base`` with the merge's own solver, failure, skip and merge entries."""
    kpis = base.copy()
    kpis["solver"] = {
        "status": "merged" if not failed else "merged_with_failures",
        "objective": round(objective, 2), "best_bound": None, "gap": None,
        "solver": solver, "max_district_gap": _max_gap(ok_runs),
        "districts_ok": len(ok_runs), "districts_failed": len(failed),
    }
    kpis["failed_districts"] = _failed_list(failed, not_run)
    kpis["skipped_districts"] = [{"adcode": ad, "reason": why} for ad, why in sorted(skip.items())]
    kpis["merge"] = {"method": "recomputed", "note": _MERGE_NOTE}
    if mode is not None:
        kpis["merge"]["district_mode"] = mode
    return kpis


def _mark_unchanged(actions: gpd.GeoDataFrame, failed: Mapping[str, DistrictRun],
                    not_run: Sequence[str]) -> gpd.GeoDataFrame:
    """``actions`` whose rows in districts without a plan say why they are unchanged."""
    if not failed and not not_run:
        return actions
    actions = actions.copy()
    for ad in [*failed, *not_run]:
        why = failed[ad].reason if ad in failed else "not run"
        rows = (actions["adcode"].astype(str) == ad).to_numpy()
        actions.loc[rows, "reason"] = f"unchanged: the plan of district {ad} failed ({why})"
    return actions


def _max_gap(ok_runs: Mapping[str, DistrictRun]) -> float | None:
    """The largest gap of the district runs (None if none ran or a gap is undefined)."""
    gaps = [float(r.solver.get("gap", math.nan)) for r in ok_runs.values()]
    out: float | None = jsonable(round(max(gaps), 6)) if gaps else None
    return out


_MERGE_NOTE = ("KPIs recomputed for the merged network over the whole city; each zone "
               "served as its own district's plan serves it, conflicts between plans "
               "repaired (see coordination.repair); objective = the whole-city model's "
               "value of the merged decisions (the best routing for them; "
               "objective_as_routed: with the districts' routing)")


def _failed_list(failed: Mapping[str, DistrictRun], not_run: Sequence[str]
                 ) -> list[FailedDistrict]:
    out: list[FailedDistrict] = [{"adcode": ad, "error": r.error, "reason": r.reason}
                                 for ad, r in sorted(failed.items())]
    return out + [{"adcode": ad, "error": "", "reason": "not run"} for ad in not_run]


def _merged_network(model: planner.Model, scenario: Scenario, ok_runs: Mapping[str, DistrictRun]
                    ) -> tuple[planner.Model, NDArray[np.int64], NDArray[np.bool_]]:
    """Each site's option and the moves made, as the districts decided them
    (:func:`_network_of`)."""
    parts = []
    for _ad, r in sorted(ok_runs.items()):
        assert r.decided is not None and r.relocations is not None
        parts.append((r.decided, r.relocations))
    return _network_of(model, scenario, parts)


def _network_of(model: planner.Model, scenario: Scenario,
                parts: Sequence[tuple[pd.DataFrame, pd.DataFrame]]
                ) -> tuple[planner.Model, NDArray[np.int64], NDArray[np.bool_]]:
    """Each site's option and the moves made, from decisions given as ``(decided,
    relocations)`` frames (as :class:`~netplan.planning.district.DistrictRun` holds them).

    Sites nobody decided keep their current option (candidates stay closed). A move the
    city model lacks (a district sees only its own candidates, so an outlet's nearest ones
    there may differ) is added to the model (:func:`_with_moves`).
    """
    s, o = model.sites, model.options
    site_idx = {sid: k for k, sid in enumerate(s.site_id.astype(str))}
    opt_of: dict[tuple[int, str, int], int] = {}  # (site, format, counters staffed)
    for k in range(len(o.site)):
        if not o.is_current[k]:
            opt_of[(int(o.site[k]), str(o.format[k]), int(o.staffed[k]))] = k
    current = np.full(len(s), -1, dtype=np.int64)
    cur = np.flatnonzero(o.is_current)
    current[o.site[cur]] = cur
    site_option = current.copy()  # every outlet kept, no candidate opened
    relocated = np.zeros(len(model.reloc_from), dtype=bool)
    pair_of = {(int(f), int(t)): k
               for k, (f, t) in enumerate(zip(model.reloc_from, model.reloc_to, strict=True))}
    for decided, relocations in parts:
        staffed = (decided["staffed"] if "staffed" in decided
                   else np.zeros(len(decided), np.int64))
        for sid, fmt, extra in zip(decided["site_id"], decided["format_after"], staffed,
                                   strict=True):
            j = site_idx[str(sid)]
            if not fmt:
                site_option[j] = -1
            elif s.existing[j] and str(fmt) == str(s.format[j]) and not extra:
                site_option[j] = current[j]
            else:
                site_option[j] = opt_of[(j, str(fmt), int(extra))]
        for f_id, t_id in zip(relocations["from_id"], relocations["to_id"], strict=True):
            pair = (site_idx[str(f_id)], site_idx[str(t_id)])
            if pair not in pair_of:
                pair_of[pair] = len(pair_of)
            kp = pair_of[pair]
            if kp >= len(relocated):
                relocated = np.concatenate([relocated, np.zeros(kp + 1 - len(relocated), bool)])
            relocated[kp] = True
    if len(pair_of) > len(model.reloc_from):
        extra = sorted(pair_of.items(), key=lambda kv: kv[1])[len(model.reloc_from):]
        model = _with_moves(model, scenario, [p for p, _ in extra])
    return model, site_option, relocated


def _merged_assignment(
    study: Study, model: planner.Model, scenario: Scenario, site_option: NDArray[np.int64],
    ok_runs: Mapping[str, DistrictRun],
) -> tuple[kpi.Assignment, RepairStats]:
    """Each zone served as its own district's plan serves it (else by the diagnosis rule).

    Conflicts between the plans are repaired (:func:`_repair`); the result holds one row
    per (zone, site) pair.
    """
    s = model.sites
    n_sites, n_zones = len(s), len(model.zone_index)
    site_idx = {sid: k for k, sid in enumerate(s.site_id.astype(str))}
    zone_ids = study.zones["zone_id"].astype(str).to_numpy()
    zone_idx = {zid: k for k, zid in enumerate(zone_ids)}
    z_ad = study.zones["adcode"].to_numpy(dtype=object)
    planned_zone = np.isin(z_ad.astype(str), sorted(ok_runs))
    parts_z, parts_s, parts_x, parts_d = [], [], [], []
    for r in ok_runs.values():
        assert r.assignment is not None
        a = r.assignment
        parts_z.append(np.array([zone_idx[z] for z in a["zone_id"]], dtype=np.int64))
        parts_s.append(np.array([site_idx[x] for x in a["site_id"]], dtype=np.int64))
        parts_x.append(a["share"].to_numpy(np.float64))
        parts_d.append(a["dist_m"].to_numpy(np.float64))
    before = planner.before_assignment(model, scenario)
    rest = ~planned_zone[before.zone]
    parts_z.append(before.zone[rest])
    parts_s.append(before.site[rest])
    parts_x.append(before.share[rest])
    parts_d.append(before.dist_m[rest])
    az = np.concatenate(parts_z) if parts_z else np.empty(0, np.int64)
    asite = np.concatenate(parts_s) if parts_s else np.empty(0, np.int64)
    ax = np.concatenate(parts_x) if parts_x else np.empty(0)
    ad_ = np.concatenate(parts_d) if parts_d else np.empty(0)

    # conflicts between district plans, repaired so that the merged plan keeps its promise
    ok_sites = np.isin(s.adcode.astype(str), sorted(ok_runs))
    az, asite, ax, ad_, cross = _repair(model, scenario, site_option, ok_sites,
                                        az, asite, ax, ad_)
    # one row per (zone, site)
    keys = _pair_keys(az, asite, n_sites)
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    share = np.asarray(np.bincount(inv.reshape(-1), weights=ax, minlength=len(uniq)),
                       dtype=np.float64)
    served = np.bincount(az[first], weights=share, minlength=n_zones)
    unserved = np.clip(1.0 - served, 0.0, 1.0)
    unserved[unserved < 1e-9] = 0.0
    return kpi.Assignment(zone=az[first], site=asite[first], share=share, dist_m=ad_[first],
                          unserved_share=unserved), cross


def _with_pair_distances(model: planner.Model, asg: kpi.Assignment) -> planner.Model:
    """``model`` whose distance matrix also holds the assigned pairs it lacks.

    A district sees only its own candidates, so a zone's k nearest there may lie beyond
    its k nearest in the city.
    """
    n_sites = len(model.sites)
    coo = model.dist_m.tocoo()
    have = _pair_keys(coo.row.astype(np.int64), coo.col.astype(np.int64), n_sites)
    missing = ~np.isin(_pair_keys(asg.zone, asg.site, n_sites), have)
    if not missing.any():
        return model
    aug = sp.csr_array(
        (np.concatenate([coo.data, asg.dist_m[missing]]),
         (np.concatenate([coo.row, asg.zone[missing]]),
          np.concatenate([coo.col, asg.site[missing]]))),
        shape=model.dist_m.shape)
    aug.sort_indices()
    return dataclasses.replace(model, dist_m=aug)


def _with_moves(model: planner.Model, scenario: Scenario,
                pairs: Sequence[tuple[int, int]]) -> planner.Model:
    """``model`` with extra relocation pairs (from, to), costed as the planner costs moves.

    A move keeps the outlet's format (its target opens the option of that format) and
    saves ``close + open - relocate`` of that format (one-off, amortised in the objective).
    """
    s, o, p = model.sites, model.options, model.problem
    fmts = scenario.formats
    opt_of = {(int(j), str(f)): k for k, (j, f) in enumerate(zip(o.site, o.format, strict=True))}
    rf = np.array([f for f, _ in pairs], dtype=np.int64)
    rt = np.array([t for _, t in pairs], dtype=np.int64)
    ro = np.array([opt_of[(int(t), str(s.format[f]))] for f, t in pairs], dtype=np.int64)
    save = np.array([max(fmts[str(s.format[f])].close_cny + fmts[str(s.format[f])].open_cny
                         - fmts[str(s.format[f])].relocate_cny, 0.0) for f, _ in pairs])
    to_opt = p.reloc_to_option
    problem = dataclasses.replace(
        p,
        reloc_from=np.concatenate([p.reloc_from, rf]),
        reloc_to=np.concatenate([p.reloc_to, rt]),
        reloc_to_option=None if to_opt is None else np.concatenate([to_opt, ro]),
        reloc_saving=np.concatenate([p.reloc_saving, save / scenario.amortisation_years]),
        reloc_saving_oneoff=np.concatenate([p.reloc_saving_oneoff, save]),
    )
    return dataclasses.replace(model, reloc_from=problem.reloc_from, reloc_to=problem.reloc_to,
                               problem=problem)


def _repair(
    model: planner.Model, scenario: Scenario, site_option: NDArray[np.int64],
    planned_site: NDArray[np.bool_], az: NDArray[np.int64], asite: NDArray[np.int64],
    ax: NDArray[np.float64], ad_: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
           RepairStats]:
    """Make the merged assignment feasible for the merged network.

    District runs keep their neighbours' outlets as they are, so two plans can both count on
    one outlet, or on one the other closes. Shares assigned to a closed outlet (*orphans*)
    and the excess above an outlet's capacity at the waiting target (*overload*; the
    farthest customers first) are taken off and placed by the diagnosis rule on the spare
    capacity of the open outlets within reach (nearest first, in order of increasing
    distance); what finds no room stays unserved. Outlets of districts without a plan
    (failed) keep their saturation throughput as the limit, as in the diagnosis.
    """
    from netplan.model import kpi
    from netplan.planning.diagnose import SATURATION_UTILISATION, throughput_per_h

    s, o = model.sites, model.options
    n_sites, n_zones = len(s), len(model.zone_index)
    arrivals = model.zone_arrivals
    is_open = site_option >= 0
    cap = np.where(is_open, o.capacity[np.maximum(site_option, 0)], 0.0)
    sat = throughput_per_h(np.maximum(s.counters, 1), np.maximum(s.terminals, 1),
                           scenario=scenario, utilisation=SATURATION_UTILISATION)
    cap = np.where(planned_site | ~s.existing, cap, np.where(is_open, sat, 0.0))
    load_of = arrivals[az] * ax
    orphan = ~is_open[asite]
    take = np.where(orphan, ax, 0.0)
    load = np.bincount(asite[~orphan], weights=load_of[~orphan], minlength=n_sites)
    over_sites = np.flatnonzero(is_open & (load > cap * (1 + 1e-9) + 1e-12))
    shed = 0.0
    if over_sites.size:
        rows = np.flatnonzero(~orphan & np.isin(asite, over_sites))
        order = rows[np.lexsort((-az[rows], -ad_[rows], asite[rows]))]  # farthest first
        excess = load - cap
        for p in order:
            j = asite[p]
            if excess[j] <= 1e-12 or load_of[p] <= 0:
                continue
            part = min(1.0, excess[j] / load_of[p])
            take[p] = ax[p] * part
            excess[j] -= load_of[p] * part
            shed += float(load_of[p] * part)
    need = np.bincount(az, weights=take, minlength=n_zones)
    stats: dict[str, Any] = {"conflict_pairs": int(orphan.sum()),
             "closed_outlet_arrivals_per_h": round(float(np.sum(load_of[orphan])), 3),
             "overload_arrivals_per_h": round(shed, 3)}
    keep = ax - take > 1e-12
    az, asite, ad_, ax = az[keep], asite[keep], ad_[keep], (ax - take)[keep]
    placed = 0.0
    if need.any():
        rest = np.bincount(asite, weights=arrivals[az] * ax, minlength=n_sites)
        room = np.where(is_open, np.maximum(cap - rest, 0.0), 0.0)
        coo = model.dist_m.tocoo()
        sel = is_open[coo.col] & (need[coo.row] > 0)
        dist = sp.csr_array((coo.data[sel], (coo.row[sel], coo.col[sel])),
                            shape=model.dist_m.shape)
        more = kpi.assign_nearest_with_spill(dist, arrivals * need, room)
        add = more.share * need[more.zone]
        placed = float(np.sum(arrivals[more.zone] * add))
        az = np.concatenate([az, more.zone])
        asite = np.concatenate([asite, more.site])
        ax = np.concatenate([ax, add])
        ad_ = np.concatenate([ad_, more.dist_m])
    stats["moved_arrivals_per_h"] = round(placed, 3)
    stats["unserved_arrivals_per_h"] = round(float(np.sum(arrivals * need)) - placed, 3)
    return az, asite, ax, ad_, cast(RepairStats, stats)


def _coordination(model: planner.Model, scenario: Scenario, site_option: NDArray[np.int64],
                  relocated: NDArray[np.bool_], limits: Mapping[str, DistrictLimits] | None,
                  repair: RepairStats, kpis: Kpis) -> Coordination:
    """City limits checked on the merged plan (counts as the optimizer counts them)."""
    s, p = model.sites, model.problem
    is_open = site_option >= 0
    moved = np.zeros(len(s), dtype=bool)  # a move counts neither as opening nor as closure
    moved[model.reloc_from[relocated]] = True
    moved[model.reloc_to[relocated]] = True
    new_open = ~s.existing & is_open & ~moved
    closed_ = s.existing & ~is_open & ~moved
    tag = np.where(is_open, np.asarray(p.opt_tag)[np.maximum(site_option, 0)], -1)
    upgraded = tag == planner.TAG_UPGRADE
    converted = tag == planner.TAG_CONVERT
    spend = float(kpis["costs"]["oneoff_spend_cny"])
    share_out = kpis["after"]["overall"].get("share_outlets_outside_ring")
    checks: dict[str, Any] = {
        "max_open": {"limit": scenario.max_open, "value": int(new_open.sum())},
        "max_close": {"limit": scenario.max_close, "value": int(closed_.sum())},
        "max_upgrade": {"limit": scenario.max_upgrade, "value": int(upgraded.sum())},
        "max_convert": {"limit": scenario.max_convert, "value": int(converted.sum())},
        "budget_cny": {"limit": scenario.budget_cny, "value": spend},
        "min_share_outside_ring": {"limit": scenario.min_share_outside_ring,
                                   "value": share_out, "ring": scenario.outside_ring},
    }
    violations: list[str] = []
    for key in ("max_open", "max_close", "max_upgrade", "max_convert", "budget_cny"):
        lim, val = checks[key]["limit"], checks[key]["value"]
        if lim is not None and val > lim + 1e-6:
            violations.append(f"{key}: the merged plan has {val:,.0f}, the city limit is "
                              f"{lim:,.0f}")
    lim_s = scenario.min_share_outside_ring
    if lim_s is not None and share_out is not None and share_out < lim_s - 1e-9:
        violations.append(
            f"min_share_outside_ring: {share_out:.2%} of the merged outlets lie outside ring "
            f"{scenario.outside_ring}, the scenario asks for {lim_s:.2%} (a city-level ratio, "
            "not enforced in district runs; plan the whole city or add district policies)")
    per: dict[str, Any] = {}
    if limits:
        ad = s.adcode.astype(str)
        for a, lim in sorted(limits.items()):
            m = ad == a
            counts = {"opened": int(np.sum(m & new_open)), "closed": int(np.sum(m & closed_)),
                      "upgraded": int(np.sum(m & upgraded)),
                      "converted": int(np.sum(m & converted))}
            per[a] = {**counts, **{k: v for k, v in lim.as_dict().items()
                                   if k.startswith("max_") or k == "budget_cny"}}
            for what, key in (("opened", "max_open"), ("closed", "max_close"),
                              ("upgraded", "max_upgrade"), ("converted", "max_convert")):
                cap = getattr(lim, key)
                if cap is not None and counts[what] > cap:
                    violations.append(f"district {a}: {counts[what]} {what} > its share {cap} "
                                      f"({key})")
    return {
        "method": "city limits split before the runs: max_open and max_upgrade by need "
                  "(unserved + overload arrivals under the diagnosis), max_close and "
                  "max_convert by slack (spare capacity at the target), budget by the mean of "
                  "both shares; capped by each district's policy and sites, integer by "
                  "largest remainder; moves count neither as openings nor as closures",
        "checks": checks,
        "violations": violations,
        "repair": repair,
        "overloaded_outlets_after": kpis["after"]["overall"].get("overloaded_outlets"),
        "districts": per,
    }


# --- the city plan and its folder -------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CityPlan:
    """Every district's plan and their merge (see the module docstring).

    Attributes
    ----------
    plan
        The merged city plan (a :class:`~netplan.planning.plan.Plan`: maps and reports take it).
    districts
        adcode -> the district's own plan, for the districts that succeeded.
    failed
        adcode -> reason, for the districts whose run failed.
    limits
        adcode -> the district's share of the city limits.
    run
        Timings, workers, scheduler.
    """

    plan: Plan
    districts: Mapping[str, Plan]
    failed: Mapping[str, str]
    limits: Mapping[str, DistrictLimits]
    run: RunInfo

    @property
    def kpis(self) -> Kpis:
        """The merged plan's KPIs."""
        return self.plan.kpis

    def write(self, out: Path) -> Path:
        """Write the city folder atomically (see :func:`write_city_plan`)."""
        return write_city_plan(self, out)




def write_city_plan(city: CityPlan, out: Path) -> Path:
    """Write the city folder's plan files atomically (see :func:`write_city_files`).

    The same rules as :func:`netplan.planning.plan.write_plan`; the map and the report
    are added by :func:`netplan.present.folder.write_plan_folder`.
    """
    with staged_folder(out) as tmp:
        write_city_files(city, tmp)
    return Path(out)


def write_city_files(city: CityPlan, folder: Path) -> None:
    """The city plan's files into an existing (temporary) folder.

    Layout: the merged plan's files at the top and one plan folder per district that
    succeeded under ``districts/<adcode>/`` (adcodes checked to be six digits), each with
    its own manifest; the caller's :func:`netplan._io.staged_folder` writes the top one.

    Parameters
    ----------
    city
        The city plan.
    folder
        The folder to fill.
    """
    write_plan_files(city.plan, folder)
    for ad, p in sorted(city.districts.items()):
        sub = folder / PLAN_FOLDER.districts / check_adcode(ad)
        sub.mkdir(parents=True)
        write_plan_files(p, sub)
        write_manifest(sub)


def read_city_plan(folder: Path) -> CityPlan:
    """Read a folder written by :func:`write_city_plan` (layers in the metric CRS)."""
    folder = Path(folder)
    merged = read_plan(folder)
    districts: dict[str, Plan] = {}
    sub = folder / PLAN_FOLDER.districts
    if sub.is_dir():
        for d in sorted(sub.iterdir()):
            if d.is_dir() and ADCODE.fullmatch(d.name):
                districts[d.name] = read_plan(d)
    failed = {str(f["adcode"]): str(f["reason"])
              for f in merged.kpis.get("failed_districts", [])}
    limits: dict[str, DistrictLimits] = {}
    for ad, v in merged.kpis.get("districts_run", {}).items():
        lim = v.get("limits")
        if lim:
            limits[ad] = DistrictLimits(
                adcode=ad, max_open=lim["max_open"], max_close=lim["max_close"],
                budget_cny=lim["budget_cny"], need_per_h=float(lim["need_per_h"]),
                slack_per_h=float(lim["slack_per_h"]), cap_open=lim.get("cap_open"),
                cap_close=lim.get("cap_close"), max_upgrade=lim.get("max_upgrade"),
                max_convert=lim.get("max_convert"))
    return CityPlan(plan=merged, districts=districts, failed=failed, limits=limits,
                    run=merged.run)
