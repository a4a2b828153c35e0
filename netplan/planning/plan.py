"""The ``Plan``: actions, the network after, the assignment and KPIs before → after.

A plan is frozen and round-trips through its output folder::

    plan.gpkg   layers actions, sites_after, assignment, zones_kpi (WGS84)
    actions.csv one row per action (keep rows included), UTF-8
    kpis.json   scenario echo, solver status/objective/bound/gap, KPIs before and after
                (its shape: :class:`netplan.planning.contract.Kpis`)
    run.json    timings and versions (the only file that differs between identical runs)

Folders are written atomically through :func:`netplan._io.staged_folder` (a locked
temporary sibling, a manifest ``.netplan-plan.json`` of every file with its SHA-256, one
rename); an existing ``out`` is replaced only if that manifest vouches for everything in
it. :func:`netplan.present.folder.write_plan_folder` adds the map and the report in the
same rename. The file names live in :data:`netplan._io.PLAN_FOLDER`. In ``actions.csv``,
text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) are prefixed with an apostrophe; ``plan.gpkg`` and
``kpis.json`` keep every text as it is.

*Before* is the current network and *after* the planned one, both measured the same
way (:func:`netplan.planning.evaluate.measure`): customers choose their outlet by the
scenario's ``[behaviour]`` rule, not by the optimiser's routing (which no bank can impose
on its customers), and every outlet is two Erlang A queues. Both use the same demand (the
plan's year) and the same KPI definitions (:mod:`netplan.model.kpi`); the ``behaviour``
block of ``kpis.json`` adds the bank's service figures under the rule (and under
``nearest`` beside ``choice``) and whether the plan holds: no outlet above its capacity at
the waiting target. :func:`make_plan` solves until the plan holds or a limit stops it
(:mod:`netplan.planning.holds`); the block says how many solves that took and lists every
outlet still over capacity with the reason. The solver's gap stays the one it proved for
the model of the solve whose plan is kept.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from netplan import __version__, optimize
from netplan._errors import NetplanError
from netplan._io import PLAN_FOLDER, staged_folder
from netplan.model import kpi
from netplan.model.behaviour import Behaviour, behaviour_of
from netplan.model.scenario import Scenario, scenario_to_dict
from netplan.planning import actions, holds
from netplan.planning import problem as planner
from netplan.planning.contract import (
    KPI_SET_KEYS,
    KPIS_KEYS,
    ActionCounts,
    BehaviourInfo,
    CostKpis,
    HoldsInfo,
    Kpis,
    KpiSet,
    OverCapacity,
    RunInfo,
    ScenarioEcho,
    ServiceKpis,
    SolverKpis,
)
from netplan.planning.evaluate import Measured, Network, behaviour_block, measure
from netplan.planning.holds import solve_holding as solve_holding  # its home is holds
from netplan.planning.limits import district_scope
from netplan.study.crs import BEIJING_CRS
from netplan.study.geometry import outside_ring_mask, ring_zone_order, rings_of
from netplan.study.layers import Study


@dataclass(frozen=True)
class Plan:
    """A solved plan (see the module docstring for what each part holds)."""

    kpis: Kpis
    actions: gpd.GeoDataFrame
    sites_after: gpd.GeoDataFrame
    assignment: gpd.GeoDataFrame
    zones_kpi: gpd.GeoDataFrame
    run: RunInfo

    @property
    def counts(self) -> ActionCounts:
        """Number of each action (``keep`` included)."""
        vc = self.actions["action"].value_counts()
        return {a: int(vc.get(a, 0)) for a in actions.ACTION_NAMES}

    def write(self, out: Path) -> Path:
        """Write the plan's files atomically; returns ``out`` (see :func:`write_plan`)."""
        return write_plan(self, out)


def make_plan(  # noqa: PLR0913 - the public entry point: one keyword per planning option
    study: Study,
    scenario: Scenario,
    *,
    district: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    progress: Callable[[str], None] | None = None,
    start: Mapping[str, str] | Plan | None = None,
    deadline: float | None = None,
    threads: int | None = None,
) -> Plan:
    """Plan the network of the city (``district=None``) or of one district.

    Parameters
    ----------
    study, scenario
        The layers (metric CRS, labelled) and the scenario.
    district
        Plan one district (adcode or name, see
        :func:`netplan.study.layers.resolve_district`), with its buffer (see
        :mod:`netplan.planning.problem`) and its share of the city limits
        (:func:`netplan.planning.limits.split_limits`), as each district of a
        district-by-district plan gets.
    year
        Demand year; default the scenario's horizon year.
    solver, time_limit_s, mip_gap
        Solver choice (``highs`` direct, or any PuLP solver name such as ``cbc``), time
        limit and relative gap; defaults from the scenario. The time limit is a wall-clock
        bound of the whole call (building, solving, evaluating) and of writing the plan
        right after it: the solves stop early enough to leave time for the rest.
    locked, forbidden
        Site ids that must stay open / must not open.
    progress
        Called with short status lines.
    start
        A plan to start the solver from: site id -> format of each site it keeps or opens,
        or a :class:`Plan` (:func:`netplan.planning.holds.start_options`; default the
        current network). A start the model cannot complete is dropped (a progress note).
    deadline
        ``time.perf_counter()`` time by which the plan must be made and written (default:
        ``time_limit_s`` from the call), e.g. a command's start plus its time limit.
    threads
        Solver threads (default: :func:`~netplan.planning.problem.solver_threads`, one
        for a district, HiGHS's own choice for the city).

    Returns
    -------
    Plan
    """
    t_start = time.perf_counter()
    if isinstance(start, Plan):
        start = dict(zip(start.sites_after["site_id"], start.sites_after["format"], strict=True))
    year = scenario.horizon_year if year is None else year
    adcode, scenario = district_scope(study, scenario, district, year=year)
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
    if deadline is None and tl is not None:
        deadline = t_start + tl
    gap = scenario.mip_gap if mip_gap is None else mip_gap
    if progress:
        progress("building the model")
    model = planner.build_model(
        study, scenario, year=year, adcode=adcode, locked=locked, forbidden=forbidden
    )
    if progress:
        progress(
            f"solving: {len(model.zone_index)} zones, {len(model.sites)} sites, "
            f"{len(model.options.site)} options, {model.dist_m.nnz} pairs"
        )
    model, sol, loop = solve_holding(model, scenario, solver=solver, time_limit_s=tl,
                                     mip_gap=gap, threads=planner.solver_threads(adcode, threads),
                                     progress=progress, start=start, deadline=deadline)
    return plan_from_solution(study, scenario, model, sol, year=year, adcode=adcode,
                              loop=loop)


# --- from a solution to a plan -----------------------------------------------------------


@dataclass(frozen=True)
class _Network:
    """One network (the current one or the planned one) and how customers use it."""

    is_open: NDArray[np.bool_]
    assignment: kpi.Assignment
    load: NDArray[np.float64]
    cap: NDArray[np.float64]
    wait: NDArray[np.float64]
    nearest_m: NDArray[np.float64]
    service: ServiceKpis


@dataclass(frozen=True)
class _Decisions:
    """What the solution does with each site."""

    chosen: NDArray[np.int64]
    is_open: NDArray[np.bool_]
    fmt_after: NDArray[Any]
    counters: NDArray[np.int64]
    terminals: NDArray[np.int64]
    staffed: NDArray[np.int64]  # counters staffed in the peak hours beyond the outlet's own
    relocated: NDArray[np.bool_]
    target: NDArray[Any]  # id of the site an outlet moves to ("" if none)
    origin: NDArray[Any]  # id of the outlet a site receives ("" if none)
    action: NDArray[Any]


def _network(model: planner.Model, scenario: Scenario, counters: NDArray[np.int64],
             terminals: NDArray[np.int64], behaviour: Behaviour,
             zone_scope: NDArray[np.bool_], known: Sequence[Measured] = ()) -> _Network:
    """The network with these servers (0: closed) measured under ``behaviour`` (or one of
    the ``known`` measurements of it, see :func:`netplan.planning.evaluate.measure`)."""
    net = Network(xy=model.sites.xy, counters=counters, terminals=terminals)
    m = measure(zone_xy=model.zone_xy, zone_arrivals=model.zone_arrivals, network=net,
                scenario=scenario, behaviour=behaviour, site_mask=model.sites.decide,
                zone_mask=zone_scope, known=known)
    return _Network(is_open=net.is_open, assignment=m.assignment, load=m.load,
                    cap=m.capacity, wait=m.wait, nearest_m=m.nearest_m, service=m.service)


def _decisions(model: planner.Model, sol: optimize.Solution) -> _Decisions:
    s, o = model.sites, model.options
    n = len(s)
    chosen = np.asarray(sol.site_option, dtype=np.int64)
    is_open = chosen >= 0
    fmt_after = np.where(is_open, o.format[np.maximum(chosen, 0)], "").astype(object)
    c_after = np.where(is_open, o.counters[np.maximum(chosen, 0)], 0).astype(np.int64)
    t_after = np.where(is_open, o.terminals[np.maximum(chosen, 0)], 0).astype(np.int64)
    staffed = np.where(is_open, o.staffed[np.maximum(chosen, 0)], 0).astype(np.int64)
    reloc = np.asarray(sol.relocated, dtype=bool)
    r_from, r_to = model.reloc_from[reloc], model.reloc_to[reloc]
    target = np.full(n, "", dtype=object)
    origin = np.full(n, "", dtype=object)
    target[r_from] = s.site_id[r_to]
    origin[r_to] = s.site_id[r_from]
    action = planner.site_actions(s, option_is_current=o.is_current, chosen=chosen,
                                  servers_after=c_after + t_after, moved_to=target,
                                  moved_from=origin, option_staffed=o.staffed)
    return _Decisions(chosen=chosen, is_open=is_open, fmt_after=fmt_after, counters=c_after,
                      terminals=t_after, staffed=staffed, relocated=reloc, target=target,
                      origin=origin, action=action)


def plan_from_solution(
    study: Study,
    scenario: Scenario,
    model: planner.Model,
    sol: optimize.Solution,
    *,
    year: int,
    adcode: str | None,
    loop: holds.HoldsLoop | None = None,
) -> Plan:
    """Turn a solver solution into a :class:`Plan` (actions, KPIs, layers).

    Parameters
    ----------
    study, scenario
        As given to :func:`netplan.planning.problem.build_model`.
    model, sol
        The model and its solution.
    year
        Demand year (written to the KPIs).
    adcode
        The planned district (``None``: the city); the KPIs' scope.
    loop
        What :func:`netplan.planning.holds.solve_until_holds` did (``None``: solved once).

    Returns
    -------
    Plan
    """
    s = model.sites
    dec = _decisions(model, sol)
    zones = study.zones.iloc[model.zone_index]
    z_ad = zones["adcode"].to_numpy(dtype=object)
    zone_scope = np.ones(len(z_ad), bool) if adcode is None else (z_ad == adcode)
    beh = behaviour_of(scenario)
    rings = ring_zone_order(study.ring_zones["ring_zone"])
    known = () if loop is None else loop.measured  # the loop measured both already
    before = _network(model, scenario, s.counters, s.terminals, beh, zone_scope, known)
    after = _network(model, scenario, dec.counters, dec.terminals, beh, zone_scope, known)
    # one row per decided outlet and per new opening; a move's target is in its origin's row
    in_scope = s.decide & (s.existing | (dec.is_open & (dec.origin == "")))
    kpis: Kpis = {
        "scope": "city" if adcode is None else adcode,
        "year": year,
        "scenario": cast(ScenarioEcho, scenario_to_dict(scenario)),
        "solver": _solver_kpis(sol),
        "actions": {a: int(np.sum(dec.action[in_scope] == a)) for a in actions.ACTION_NAMES},
        "costs": _costs(model, scenario, dec, before, after),
        "before": _kpi_set(model, scenario, zones, before, zone_scope, adcode, rings),
        "after": _kpi_set(model, scenario, zones, after, zone_scope, adcode, rings),
        "behaviour": _behaviour(model, scenario, sol, dec, (before, after), zone_scope, loop),
    }
    geo = gpd.GeoSeries(shapely.points(s.xy[:, 0], s.xy[:, 1]), crs=study.crs)
    reason = _reasons(model, scenario, dec, before, after,
                      nearest_site_km=_nearest_other_km(s, dec.is_open))
    return Plan(
        kpis=kpis,
        actions=_actions_layer(s, dec, before, after, reason, geo, in_scope,
                               planner.staff_cny_per_year(dec.staffed, scenario)),
        sites_after=_sites_after_layer(model, dec, after, geo),
        assignment=_assignment_layer(model, zones, after.assignment),
        zones_kpi=_zones_layer(model, zones, before, after, zone_scope),
        run={
            "netplan": __version__,
            "solve_seconds": round(float(sol.seconds if loop is None else loop.seconds), 3),
            "build_seconds": round(float(sol.build_seconds), 3),
            # time in, and objective removed by, the neighbourhood search after HiGHS
            # (0: none)
            "search_seconds": round(float(sol.search_seconds), 3),
            "search_gain": round(float(sol.search_gain), 2),
            # wall time the behaviour loop added to the first solve (0: solved once)
            "loop_added_seconds": round(0.0 if loop is None else loop.added_seconds, 3),
        },
    )


SOLVER_NOTE = ("the solver's gap is proven for the model of the kept solve (loop."
               "kept_iteration: the planning model with the tightenings of the solves before "
               "it; the optimiser routes customers itself); the service figures are the plan "
               "measured under the behaviour rule")
"""What the ``behaviour`` block says about the solver's gap."""


def _behaviour(model: planner.Model, scenario: Scenario, sol: optimize.Solution,
               dec: _Decisions, nets: tuple[_Network, _Network],
               zone_scope: NDArray[np.bool_], loop: holds.HoldsLoop | None) -> BehaviourInfo:
    """The ``behaviour`` block: service figures under the rule (and ``nearest``), holds,
    every outlet over capacity with the reason it is, and what the loop did."""
    s = model.sites
    before, after = nets
    beh = behaviour_of(scenario)
    nearest: tuple[ServiceKpis, ServiceKpis] | None = None
    if beh.rule != "nearest":
        near = behaviour_of(scenario, rule="nearest")
        nearest = (
            _network(model, scenario, s.counters, s.terminals, near, zone_scope).service,
            _network(model, scenario, dec.counters, dec.terminals, near, zone_scope).service)
    over = holds.overloaded(model, after.load, after.cap)
    reasons = holds.remaining_reasons(model, scenario, sol, over, loop=loop)
    listed: list[OverCapacity] = [
        {"site_id": str(s.site_id[j]), "load_per_h": round(float(after.load[j]), 2),
         "capacity_per_h": round(float(after.cap[j]), 2), "reason": why}
        for j, why in zip(over, reasons, strict=True)
    ]
    block = behaviour_block(behaviour=beh, before=before.service, after=after.service,
                            nearest=nearest, over_capacity=listed, note=SOLVER_NOTE)
    if loop is not None:
        info: HoldsInfo = {"iterations": len(loop.overloaded),
                           "overloaded_per_iteration": list(loop.overloaded),
                           "kept_iteration": loop.kept_round, "stop": loop.stop}
        block["loop"] = info
    return block


def _solver_kpis(sol: optimize.Solution) -> SolverKpis:
    return {
        "status": sol.status,
        "objective": _round(sol.objective),
        "best_bound": _round(sol.best_bound),
        "gap": _round(sol.gap, 6),
        "solver": sol.solver,
        "bound_source": sol.bound_source,
    }


def _kpi_set(
    model: planner.Model,
    scenario: Scenario,
    zones: gpd.GeoDataFrame,
    net: _Network,
    zone_scope: NDArray[np.bool_],
    adcode: str | None,
    ring_order: list[str],
) -> KpiSet:
    """Overall (over the scope), per-district and per-ring-zone KPIs of one network."""
    s = model.sites
    measures: dict[str, Any] = {
        "zone_pop": model.zone_pop,
        "zone_arrivals": model.zone_arrivals,
        "zone_nearest_m": net.nearest_m,
        "assignment": net.assignment,
        "site_open": net.is_open,
        "site_arrivals": net.load,
        "site_capacity": net.cap,
        "site_wait_min": net.wait,
        "target_wait_min": scenario.target_wait_min,
    }
    bundle = kpi.kpi_bundle(
        zone_adcode=zones["adcode"].to_numpy(dtype=object),
        zone_ring=zones["ring_zone"].to_numpy(dtype=object),
        site_adcode=s.adcode,
        site_ring=s.ring_zone,
        district_order=model.groups,
        ring_order=ring_order,
        **measures,
    )
    overall = kpi.network_kpis(zone_mask=zone_scope, site_mask=s.decide, **measures)
    overall["share_outlets_outside_ring"] = (  # None when the study has no such ring
        _share_outside(s, net.is_open & s.decide, scenario.outside_ring)
        if scenario.outside_ring in rings_of(ring_order) else None)
    bundle["overall"] = overall
    if adcode is not None:
        bundle["districts"] = {adcode: bundle["districts"][adcode]}
    return cast(KpiSet, bundle)


def _costs(model: planner.Model, scenario: Scenario, dec: _Decisions, before: _Network,
           after: _Network) -> CostKpis:
    s, o = model.sites, model.options
    scope = s.decide
    fmts = scenario.formats
    opex_b = float(sum(fmts[f].opex_cny_per_year for f in s.format[s.existing & scope]))
    opex_a = float(np.sum(o.opex[dec.chosen[dec.is_open & scope]]))
    spend = holds.oneoff_spend(model, dec.chosen, dec.relocated)
    return {
        "opex_before_cny_per_year": round(opex_b),
        "opex_after_cny_per_year": round(opex_a),
        "oneoff_spend_cny": round(spend),
        "budget_cny": scenario.budget_cny,
        "travel_before_cny_per_year": round(_travel_cost(model, scenario, before.assignment)),
        "travel_after_cny_per_year": round(_travel_cost(model, scenario, after.assignment)),
    }


def _actions_layer(s: planner.Sites, dec: _Decisions, before: _Network, after: _Network,
                   reason: NDArray[Any], geo: gpd.GeoSeries, rows: NDArray[np.bool_],
                   staff_cny: NDArray[np.float64]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": s.site_id[rows],
            "name": s.name[rows],
            "kind": s.kind[rows],
            "adcode": s.adcode[rows],
            "ring_zone": s.ring_zone[rows],
            "action": dec.action[rows],
            "format_before": s.format[rows],
            "format_after": dec.fmt_after[rows],
            "relocation_target": dec.target[rows],
            "staffed_counters": dec.staffed[rows],
            "staff_cny_per_year": np.round(staff_cny[rows]),
            "arrivals_before_per_h": np.round(before.load[rows], 3),
            "arrivals_after_per_h": np.round(after.load[rows], 3),
            "wait_before_min": np.round(before.wait[rows], 3),
            "wait_after_min": np.round(after.wait[rows], 3),
            "reason": reason[rows],
        },
        geometry=geo[rows].reset_index(drop=True),
        crs=geo.crs,
    )


def _sites_after_layer(model: planner.Model, dec: _Decisions, after: _Network,
                       geo: gpd.GeoSeries) -> gpd.GeoDataFrame:
    s = model.sites
    a = after.assignment
    catch = np.bincount(a.site, weights=model.zone_pop[a.zone] * a.share, minlength=len(s))
    op = dec.is_open
    return gpd.GeoDataFrame(
        {
            "site_id": s.site_id[op],
            "name": s.name[op],
            "kind": s.kind[op],
            "adcode": s.adcode[op],
            "ring_zone": s.ring_zone[op],
            "action": dec.action[op],
            "relocated_from": dec.origin[op],
            "format": dec.fmt_after[op],
            "counters": dec.counters[op],
            "terminals": dec.terminals[op],
            "staffed_counters": dec.staffed[op],
            "arrivals_per_h": np.round(after.load[op], 3),
            "capacity_per_h": np.round(after.cap[op], 3),
            "utilisation": np.round(np.divide(after.load[op], after.cap[op]), 4),
            "wait_min": np.round(after.wait[op], 3),
            "catchment_pop": np.round(catch[op]),
            "in_scope": s.decide[op],
        },
        geometry=geo[op].reset_index(drop=True),
        crs=geo.crs,
    )


def _assignment_layer(model: planner.Model, zones: gpd.GeoDataFrame,
                      a: kpi.Assignment) -> gpd.GeoDataFrame:
    s = model.sites
    zxy = model.zone_xy
    zone_ids = zones["zone_id"].astype(str).to_numpy()
    lines = shapely.linestrings(np.stack([zxy[a.zone], s.xy[a.site]], axis=1))
    return gpd.GeoDataFrame(
        {
            "zone_id": zone_ids[a.zone],
            "site_id": s.site_id[a.site],
            "share": np.round(a.share, 6),
            "dist_m": np.round(a.dist_m, 1),
        },
        geometry=gpd.GeoSeries(lines, crs=zones.crs),
        crs=zones.crs,
    )


def _zones_layer(model: planner.Model, zones: gpd.GeoDataFrame, before: _Network,
                 after: _Network, zone_scope: NDArray[np.bool_]) -> gpd.GeoDataFrame:
    s = model.sites
    zone_ids = zones["zone_id"].astype(str).to_numpy()
    zt_b = kpi.zone_view(before.assignment, len(zone_ids), s.site_id)
    zt_a = kpi.zone_view(after.assignment, len(zone_ids), s.site_id)
    return gpd.GeoDataFrame(
        {
            "zone_id": zone_ids,
            "adcode": zones["adcode"].to_numpy(dtype=object),
            "ring_zone": zones["ring_zone"].to_numpy(dtype=object),
            "in_scope": zone_scope,
            "population": np.round(model.zone_pop),
            "inflow": (zones["inflow"].to_numpy() if "inflow" in zones  # two censuses
                       else np.zeros(len(zone_ids), dtype=np.int64)),
            "arrivals_per_h": np.round(model.zone_arrivals, 4),
            "nearest_before_m": np.round(before.nearest_m, 1),
            "nearest_after_m": np.round(after.nearest_m, 1),
            "dist_before_m": np.round(zt_b[0], 1),
            "dist_after_m": np.round(zt_a[0], 1),
            "unserved_before": np.round(before.assignment.unserved_share, 4),
            "unserved_after": np.round(after.assignment.unserved_share, 4),
            "serving_before": zt_b[1],
            "serving_after": zt_a[1],
        },
        geometry=zones.geometry.reset_index(drop=True),
        crs=zones.crs,
    )


def _share_outside(s: planner.Sites, open_mask: NDArray[np.bool_], ring: int) -> float | None:
    n = int(open_mask.sum())
    if n == 0:
        return None
    return round(float(outside_ring_mask(s.ring_zone[open_mask], ring).sum() / n), 4)


def _travel_cost(model: planner.Model, scenario: Scenario, a: kpi.Assignment) -> float:
    from netplan.model import demand

    visits = np.asarray(demand.annual_visits(model.zone_pop, scenario), np.float64)
    return float(
        np.sum(visits[a.zone] * a.share * a.dist_m / 1000.0) * scenario.travel_cost_cny_per_km
    )


def _nearest_other_km(s: planner.Sites, is_open: NDArray[np.bool_]) -> NDArray[np.float64]:
    """For each site, km to the nearest *other* outlet open after the plan."""
    from scipy.spatial import cKDTree

    pts = s.xy[is_open]
    if len(pts) < 2:
        return np.full(len(s), np.nan)
    d, _ = cKDTree(pts).query(s.xy, k=2)
    d = np.asarray(d, dtype=np.float64)
    out: NDArray[np.float64] = np.where(is_open, d[:, 1], d[:, 0]) / 1000.0
    return out


def _reasons(
    model: planner.Model,
    scenario: Scenario,
    dec: _Decisions,
    before: _Network,
    after: _Network,
    *,
    nearest_site_km: NDArray[np.float64],
) -> NDArray[Any]:
    """One short sentence per site saying why the plan does what it does.

    Each sentence is the action's ``reason`` template of the registry
    (:mod:`netplan.planning.actions`) filled with the site's fields.
    """
    s = model.sites
    idx = {sid: k for k, sid in enumerate(s.site_id)}
    out = np.full(len(s), "", dtype=object)
    for j in range(len(s)):
        name = dec.action[j]
        if not name:
            continue
        lb, cb = before.load[j], before.cap[j]
        fields: dict[str, Any] = {
            "load_before": lb, "cap_before": cb, "wait_before": _w(before.wait[j]),
            "load_after": after.load[j], "cap_after": after.cap[j],
            "wait_after": _w(after.wait[j]),
            "share_before": float(lb) / float(cb) if cb > 0 else math.nan,
            "target_min": scenario.target_wait_min, "format_after": dec.fmt_after[j],
            "kind": s.kind[j], "nearest_km": nearest_site_km[j],
            "staffed": int(dec.staffed[j]),
            "staff_cny": float(planner.staff_cny_per_year(dec.staffed[j], scenario)),
        }
        if dec.target[j]:
            k = idx[dec.target[j]]
            fields.update(
                dist_km=float(np.hypot(*(s.xy[k] - s.xy[j]))) / 1000.0,
                target_name=s.name[k], target_id=dec.target[j],
                target_format=dec.fmt_after[k], target_load=after.load[k],
            )
        out[j] = actions.action(name).reason.format(**fields)
    return out


def _w(x: float) -> str:
    return f"{x:.1f} min" if np.isfinite(x) else "unbounded"


def _round(x: Any, nd: int = 2) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, nd) if np.isfinite(v) else None


# --- writing and reading -------------------------------------------------------------


GPKG_DATE = "2000-01-01T00:00:00.000Z"
"""Timestamp stamped into plan GeoPackages, so that identical plans give identical bytes."""


def _write_gpkg(plan: Plan, path: Path) -> None:
    """The four layers in WGS84, with a fixed GeoPackage timestamp (restored afterwards)."""
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        for name in ("actions", "sites_after", "assignment", "zones_kpi"):
            gdf: gpd.GeoDataFrame = getattr(plan, name).to_crs(4326)
            gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write_plan(plan: Plan, out: Path) -> Path:
    """Write ``plan``'s files into folder ``out`` atomically (staged, then one rename).

    The map and the report are added by :func:`netplan.present.folder.write_plan_folder`.
    Raises :class:`NetplanError` if ``out`` exists and is not a plan folder netplan wrote
    (see :func:`netplan._io.check_folder_target`) or another run is writing it.
    """
    with staged_folder(out) as tmp:
        write_plan_files(plan, tmp)
    return Path(out)


def write_plan_files(plan: Plan, folder: Path) -> None:
    """The plan's files into an existing (temporary) folder; see :func:`write_plan`."""
    _write_gpkg(plan, folder / PLAN_FOLDER.gpkg)
    csv_safe(plan.actions.drop(columns="geometry")).assign(
        lon=np.round(plan.actions.to_crs(4326).geometry.x, 6),
        lat=np.round(plan.actions.to_crs(4326).geometry.y, 6),
    ).to_csv(folder / PLAN_FOLDER.actions, index=False, encoding="utf-8", lineterminator="\n")
    (folder / PLAN_FOLDER.kpis).write_text(_dumps(plan.kpis), encoding="utf-8")
    (folder / PLAN_FOLDER.run).write_text(_dumps(plan.run), encoding="utf-8")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with an apostrophe."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return out


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, allow_nan=False) + "\n"


def read_plan(folder: Path) -> Plan:
    """Read a plan folder written by :func:`write_plan` (layers in the metric CRS)."""
    from netplan.study.inputs import source_path

    folder = Path(source_path(folder, what="plan folder", allow_remote=False))  # never a URL
    missing = [f for f in (PLAN_FOLDER.gpkg, PLAN_FOLDER.kpis) if not (folder / f).is_file()]
    if missing:
        raise NetplanError(
            f"{folder} is not a plan folder: {', '.join(missing)} missing; run `netplan plan "
            f"--out {folder}` first"
        )
    kpis = _checked_kpis(folder / PLAN_FOLDER.kpis)
    run_path = folder / PLAN_FOLDER.run
    run: RunInfo = {}
    if run_path.is_file():
        raw = _read_json(run_path)
        if not isinstance(raw, dict):
            raise NetplanError(f"{run_path} is not a run.json written by netplan (expected a "
                               "JSON object); rerun `netplan plan` to rewrite the folder")
        run = cast(RunInfo, raw)
    study = run.get("study")
    crs = study["crs"] if study else BEIJING_CRS  # plans before they recorded it: Beijing's
    gpkg = folder / PLAN_FOLDER.gpkg
    layers = {
        name: gpd.read_file(gpkg, layer=name, engine="pyogrio").to_crs(crs)
        for name in ("actions", "sites_after", "assignment", "zones_kpi")
    }
    for name in ("actions", "sites_after", "zones_kpi"):
        for col in (
            "format_before",
            "format_after",
            "relocation_target",
            "relocated_from",
            "serving_before",
            "serving_after",
            "adcode",
        ):
            if col in layers[name]:
                layers[name][col] = layers[name][col].fillna("").astype(str)
    return Plan(kpis=kpis, run=run, **layers)


def _read_json(path: Path) -> object:
    try:
        return cast(object, json.loads(path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NetplanError(f"{path} is not valid JSON ({exc}); rerun `netplan plan` to rewrite "
                           "the folder") from None


def _checked_kpis(path: Path) -> Kpis:
    """The content of a ``kpis.json``, after a check of its shape (NetplanError if not)."""
    raw = _read_json(path)
    problems: list[str] = []
    if not isinstance(raw, dict):
        problems.append("expected a JSON object")
    else:
        missing = sorted(KPIS_KEYS - raw.keys())
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        for key in ("scenario", "solver", "actions", "costs", "before", "after"):
            if key in raw and not isinstance(raw[key], dict):
                problems.append(f"{key} is not an object")
        for key in ("before", "after"):
            part = raw.get(key)
            if isinstance(part, dict) and not KPI_SET_KEYS <= part.keys():
                problems.append(f"{key} lacks {', '.join(sorted(KPI_SET_KEYS - part.keys()))}")
            elif isinstance(part, dict) and not isinstance(part["overall"], dict):
                problems.append(f"{key}.overall is not an object")
    if problems:
        raise NetplanError(f"{path} is not a kpis.json written by netplan ({'; '.join(problems)})"
                           "; rerun `netplan plan` to rewrite the folder")
    return cast(Kpis, raw)

