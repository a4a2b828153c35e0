"""The ``Plan``: actions, the network after, the assignment and KPIs before → after.

A plan is frozen and round-trips through its output folder::

    plan.gpkg   layers actions, sites_after, assignment, zones_kpi (WGS84)
    actions.csv one row per action (keep rows included), UTF-8
    kpis.json   scenario echo, solver status/objective/bound/gap, KPIs before and after
    run.json    timings and versions (the only file that differs between identical runs)

Folders are written atomically: everything goes to a temporary sibling folder first
(``.<name>.<pid>-<random>.tmp``, extras such as the map and report included), which then
replaces ``out`` in one rename; an interrupted run leaves the previous complete output
(or none), never a half-written one. Temporary folders of killed runs (whose process is
gone) are removed by the next write to the same ``out``. An existing ``out`` is replaced
only if it is a plan folder (it holds ``kpis.json``) or empty: netplan never deletes a
folder of other files. In ``actions.csv``, text cells that a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) are
prefixed with an apostrophe; ``plan.gpkg`` and ``kpis.json`` keep every text as it is.

*Before* is the current network under the diagnosis rule (customers go to their nearest
outlet and spill over when it saturates, see :mod:`netplan.diagnose`); *after* is the
planned network with the plan's own assignment (each outlet sized to meet the waiting
target at its planned load). Both use the same demand (the plan's year) and the same
KPI definitions (:mod:`netplan.kpi`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from netplan import __version__
from netplan._errors import NetplanError
from netplan.model import cost, kpi, service
from netplan.model.scenario import Scenario, scenario_to_dict
from netplan.planning import problem as planner
from netplan.study.geometry import METRIC_CRS
from netplan.study.layers import Study

log = logging.getLogger(__name__)

ACTIONS: tuple[str, ...] = ("keep", "open", "close", "upgrade", "convert", "relocate")
PLAN_FILES: tuple[str, ...] = ("plan.gpkg", "actions.csv", "kpis.json", "run.json")


@dataclass(frozen=True)
class Plan:
    """A solved plan (see the module docstring for what each part holds)."""

    kpis: dict[str, Any]
    actions: gpd.GeoDataFrame
    sites_after: gpd.GeoDataFrame
    assignment: gpd.GeoDataFrame
    zones_kpi: gpd.GeoDataFrame
    run: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        """Number of each action (``keep`` included)."""
        vc = self.actions["action"].value_counts()
        return {a: int(vc.get(a, 0)) for a in ACTIONS}

    def write(self, out: Path, *, extras: Callable[[Path], None] | None = None) -> Path:
        """Write the plan folder atomically; returns ``out`` (see :func:`write_plan`)."""
        return write_plan(self, out, extras=extras)


def make_plan(
    study: Study,
    scenario: Scenario,
    *,
    year: int | None = None,
    adcode: str | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Plan the network of the city (``adcode=None``) or of one district.

    Parameters
    ----------
    study, scenario
        The layers (metric CRS, labelled) and the scenario.
    year
        Demand year; default the scenario's horizon year.
    adcode
        Plan one district (with its buffer, see :mod:`netplan.planner`).
    solver, time_limit_s, mip_gap
        Solver choice (``highs`` direct, or any PuLP solver name such as ``cbc``), time
        limit and relative gap; defaults from the scenario.
    locked, forbidden
        Site ids that must stay open / must not open.
    """
    year = scenario.horizon_year if year is None else year
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
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
    threads = planner.DISTRICT_THREADS if adcode is not None else None
    sol = planner.solve_model(model, solver=solver, time_limit_s=tl, mip_gap=gap,
                              progress=progress, threads=threads)
    if progress:
        progress(f"solved: {sol.status}, gap {sol.gap:.4%}")
    return plan_from_solution(study, scenario, model, sol, year=year, adcode=adcode)


def _site_metrics(
    model: planner.Model,
    scenario: Scenario,
    assignment: kpi.Assignment,
    counters: NDArray[np.int64],
    terminals: NDArray[np.int64],
    is_open: NDArray[np.bool_],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    n = len(model.sites)
    load = assignment.site_load(model.zone_arrivals, n)
    c = np.maximum(counters, 1)
    t = np.maximum(terminals, 1)
    cap = np.where(is_open, service.capacity_per_h(c, t, scenario=scenario), 0.0)
    wait = np.where(is_open, service.wait_min(load, c, t, scenario=scenario), np.nan)
    return load, np.asarray(cap, np.float64), np.asarray(wait, np.float64)


def plan_from_solution(
    study: Study,
    scenario: Scenario,
    model: planner.Model,
    sol: Any,
    *,
    year: int,
    adcode: str | None,
) -> Plan:
    """Turn a solver solution into a :class:`Plan` (actions, KPIs, layers)."""
    s, o = model.sites, model.options
    n = len(s)
    chosen = np.asarray(sol.site_option, dtype=np.int64)
    is_open = chosen >= 0
    fmt_after = np.where(is_open, o.format[np.maximum(chosen, 0)], "").astype(object)
    c_after = np.where(is_open, o.counters[np.maximum(chosen, 0)], 0).astype(np.int64)
    t_after = np.where(is_open, o.terminals[np.maximum(chosen, 0)], 0).astype(np.int64)

    after = kpi.Assignment(
        zone=np.asarray(sol.assign_zone, np.int64),
        site=np.asarray(sol.assign_site, np.int64),
        share=np.asarray(sol.assign_share, np.float64),
        dist_m=_pair_dist(model, sol.assign_zone, sol.assign_site),
        unserved_share=np.asarray(sol.unserved_share, np.float64),
    )
    before = planner.before_assignment(model, scenario)
    load_b, cap_b, wait_b = _site_metrics(
        model, scenario, before, s.counters, s.terminals, s.existing
    )
    load_a, cap_a, wait_a = _site_metrics(model, scenario, after, c_after, t_after, is_open)

    # relocations and actions
    reloc = np.asarray(sol.relocated, dtype=bool)
    r_from, r_to = model.reloc_from[reloc], model.reloc_to[reloc]
    target = np.full(n, "", dtype=object)
    origin = np.full(n, "", dtype=object)
    target[r_from] = s.site_id[r_to]
    origin[r_to] = s.site_id[r_from]
    change = planner.change_kind(c_after + t_after, s.counters + s.terminals)
    action = np.full(n, "", dtype=object)
    for j in range(n):
        if s.existing[j]:
            if target[j]:
                action[j] = "relocate"
            elif not is_open[j]:
                action[j] = "close"
            elif o.is_current[chosen[j]]:
                action[j] = "keep"
            else:
                action[j] = change[j]
        elif is_open[j] and not origin[j]:
            action[j] = "open"
    nearest_b = cost.nearest_dist_m(
        zone_pts(model), s.xy[s.existing], detour_factor=scenario.detour_factor
    )
    nearest_a = cost.nearest_dist_m(
        zone_pts(model), s.xy[is_open], detour_factor=scenario.detour_factor
    )
    zones = study.zones.iloc[model.zone_index]
    z_ad = zones["adcode"].to_numpy(dtype=object)
    z_ring = zones["ring_zone"].to_numpy(dtype=object)
    zone_scope = np.ones(len(z_ad), bool) if adcode is None else (z_ad == adcode)
    site_scope = s.decide
    common = {
        "zone_adcode": z_ad,
        "zone_ring": z_ring,
        "site_adcode": s.adcode,
        "site_ring": s.ring_zone,
        "district_order": model.groups,
        "ring_order": planner.ring_order(),
        "zone_pop": model.zone_pop,
        "zone_arrivals": model.zone_arrivals,
        "target_wait_min": scenario.target_wait_min,
    }
    k_before = kpi.kpi_bundle(
        zone_nearest_m=nearest_b,
        assignment=before,
        site_open=s.existing,
        site_arrivals=load_b,
        site_capacity=cap_b,
        site_wait_min=wait_b,
        **common,
    )
    k_after = kpi.kpi_bundle(
        zone_nearest_m=nearest_a,
        assignment=after,
        site_open=is_open,
        site_arrivals=load_a,
        site_capacity=cap_a,
        site_wait_min=wait_a,
        **common,
    )
    for bundle, nearest, asg, op, load, capx, wt in (
        (k_before, nearest_b, before, s.existing, load_b, cap_b, wait_b),
        (k_after, nearest_a, after, is_open, load_a, cap_a, wait_a),
    ):
        bundle["overall"] = kpi.network_kpis(
            zone_pop=model.zone_pop,
            zone_arrivals=model.zone_arrivals,
            zone_nearest_m=nearest,
            assignment=asg,
            site_open=op,
            site_arrivals=load,
            site_capacity=capx,
            site_wait_min=wt,
            zone_mask=zone_scope,
            site_mask=site_scope,
            target_wait_min=scenario.target_wait_min,
        )
        bundle["overall"]["share_outlets_outside_ring5"] = _share_outside(s, op & site_scope)
        if adcode is not None:
            bundle["districts"] = {adcode: bundle["districts"][adcode]}

    fmts = scenario.formats
    opex_b = float(sum(fmts[f].opex_cny_per_year for f in s.format[s.existing & site_scope]))
    opex_a = float(np.sum(o.opex[chosen[is_open & site_scope]]))
    spend = _oneoff_spend(model, scenario, chosen, is_open, reloc)
    travel_b = _travel_cost(model, scenario, before)
    travel_a = _travel_cost(model, scenario, after)
    # one row per decided outlet and per new opening; a move's target is in its origin's row
    in_scope = site_scope & (s.existing | (is_open & (origin == "")))
    counts = {a: int(np.sum(action[in_scope] == a)) for a in ACTIONS}
    kpis: dict[str, Any] = {
        "scope": "city" if adcode is None else adcode,
        "year": year,
        "scenario": scenario_to_dict(scenario),
        "solver": {
            "status": sol.status,
            "objective": _round(sol.objective),
            "best_bound": _round(sol.best_bound),
            "gap": _round(sol.gap, 6),
            "solver": sol.solver,
        },
        "actions": counts,
        "costs": {
            "opex_before_cny_per_year": round(opex_b),
            "opex_after_cny_per_year": round(opex_a),
            "oneoff_spend_cny": round(spend),
            "budget_cny": scenario.budget_cny,
            "travel_before_cny_per_year": round(travel_b),
            "travel_after_cny_per_year": round(travel_a),
        },
        "before": k_before,
        "after": k_after,
    }

    geo = gpd.GeoSeries(shapely.points(s.xy[:, 0], s.xy[:, 1]), crs=METRIC_CRS)
    reason = _reasons(
        model,
        scenario,
        action,
        fmt_after,
        target,
        load_b,
        cap_b,
        wait_b,
        load_a,
        cap_a,
        wait_a,
        nearest_site_km=_nearest_other_km(s, is_open),
    )
    rows = in_scope
    actions = gpd.GeoDataFrame(
        {
            "site_id": s.site_id[rows],
            "name": s.name[rows],
            "kind": s.kind[rows],
            "adcode": s.adcode[rows],
            "ring_zone": s.ring_zone[rows],
            "action": action[rows],
            "format_before": s.format[rows],
            "format_after": fmt_after[rows],
            "relocation_target": target[rows],
            "arrivals_before_per_h": np.round(load_b[rows], 3),
            "arrivals_after_per_h": np.round(load_a[rows], 3),
            "wait_before_min": np.round(wait_b[rows], 3),
            "wait_after_min": np.round(wait_a[rows], 3),
            "reason": reason[rows],
        },
        geometry=geo[rows].reset_index(drop=True),
        crs=METRIC_CRS,
    )
    catch = np.bincount(after.site, weights=model.zone_pop[after.zone] * after.share, minlength=n)
    op = is_open
    sites_after = gpd.GeoDataFrame(
        {
            "site_id": s.site_id[op],
            "name": s.name[op],
            "kind": s.kind[op],
            "adcode": s.adcode[op],
            "ring_zone": s.ring_zone[op],
            "action": action[op],
            "relocated_from": origin[op],
            "format": fmt_after[op],
            "counters": c_after[op],
            "terminals": t_after[op],
            "arrivals_per_h": np.round(load_a[op], 3),
            "capacity_per_h": np.round(cap_a[op], 3),
            "utilisation": np.round(np.divide(load_a[op], cap_a[op]), 4),
            "wait_min": np.round(wait_a[op], 3),
            "catchment_pop": np.round(catch[op]),
            "in_scope": s.decide[op],
        },
        geometry=geo[op].reset_index(drop=True),
        crs=METRIC_CRS,
    )
    zxy = zone_pts(model)
    zone_ids = zones["zone_id"].astype(str).to_numpy()
    lines = shapely.linestrings(np.stack([zxy[after.zone], s.xy[after.site]], axis=1))
    assignment = gpd.GeoDataFrame(
        {
            "zone_id": zone_ids[after.zone],
            "site_id": s.site_id[after.site],
            "share": np.round(after.share, 6),
            "dist_m": np.round(after.dist_m, 1),
        },
        geometry=gpd.GeoSeries(lines, crs=METRIC_CRS),
        crs=METRIC_CRS,
    )
    zt_b = kpi.zone_view(before, len(zone_ids), s.site_id)
    zt_a = kpi.zone_view(after, len(zone_ids), s.site_id)
    zones_kpi = gpd.GeoDataFrame(
        {
            "zone_id": zone_ids,
            "adcode": z_ad,
            "ring_zone": z_ring,
            "in_scope": zone_scope,
            "population": np.round(model.zone_pop),
            "inflow": zones["inflow"].to_numpy(),
            "arrivals_per_h": np.round(model.zone_arrivals, 4),
            "nearest_before_m": np.round(nearest_b, 1),
            "nearest_after_m": np.round(nearest_a, 1),
            "dist_before_m": np.round(zt_b[0], 1),
            "dist_after_m": np.round(zt_a[0], 1),
            "unserved_before": np.round(before.unserved_share, 4),
            "unserved_after": np.round(after.unserved_share, 4),
            "serving_before": zt_b[1],
            "serving_after": zt_a[1],
        },
        geometry=zones.geometry.reset_index(drop=True),
        crs=zones.crs,
    )
    run = {
        "netplan": __version__,
        "solve_seconds": round(float(sol.seconds), 3),
        "build_seconds": round(float(sol.build_seconds), 3),
        # time in, and objective removed by, the neighbourhood search after HiGHS (0: none)
        "search_seconds": round(float(sol.search_seconds), 3),
        "search_gain": round(float(sol.search_gain), 2),
    }
    return Plan(
        kpis=kpis,
        actions=actions,
        sites_after=sites_after,
        assignment=assignment,
        zones_kpi=zones_kpi,
        run=run,
    )


def zone_pts(model: planner.Model) -> NDArray[np.float64]:
    """Demand points of the model's zones."""
    return model.zone_xy


def _pair_dist(model: planner.Model, zone: Any, site: Any) -> NDArray[np.float64]:
    d = model.dist_m
    z = np.asarray(zone, np.int64)
    j = np.asarray(site, np.int64)
    if z.size == 0:  # nothing assigned (scipy returns a sparse array for empty indices)
        return np.empty(0, dtype=np.float64)
    out: NDArray[np.float64] = np.asarray(d[z, j], dtype=np.float64).ravel()
    return out


def _share_outside(s: planner.Sites, open_mask: NDArray[np.bool_]) -> float | None:
    from netplan.study.geometry import OUTSIDE_RING5

    n = int(open_mask.sum())
    if n == 0:
        return None
    return round(
        float(np.isin(s.ring_zone[open_mask].astype(str), sorted(OUTSIDE_RING5)).sum() / n), 4
    )


def _oneoff_spend(
    model: planner.Model,
    scenario: Scenario,
    chosen: NDArray[np.int64],
    is_open: NDArray[np.bool_],
    reloc: NDArray[np.bool_],
) -> float:
    p = model.problem
    spend = float(np.sum(model.options.oneoff[chosen[is_open]]))
    closed = model.sites.existing & ~is_open
    spend += float(np.sum(np.asarray(p.site_close_oneoff)[closed]))
    spend -= float(np.sum(np.asarray(p.reloc_saving_oneoff)[reloc]))
    return spend


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
    action: NDArray[Any],
    fmt_after: NDArray[Any],
    target: NDArray[Any],
    load_b: NDArray[np.float64],
    cap_b: NDArray[np.float64],
    wait_b: NDArray[np.float64],
    load_a: NDArray[np.float64],
    cap_a: NDArray[np.float64],
    wait_a: NDArray[np.float64],
    *,
    nearest_site_km: NDArray[np.float64],
) -> NDArray[Any]:
    """One short sentence per site saying why the plan does what it does."""
    s = model.sites
    tw = scenario.target_wait_min
    idx = {sid: k for k, sid in enumerate(s.site_id)}
    out = np.full(len(s), "", dtype=object)
    for j in range(len(s)):
        a = action[j]
        lb, cb, wb = load_b[j], cap_b[j], wait_b[j]
        la, ca, wa = load_a[j], cap_a[j], wait_a[j]
        near = nearest_site_km[j]
        if a == "keep":
            out[j] = (
                f"kept: {la:.0f}/h against a capacity of {ca:.0f}/h at the {tw:g}-min "
                f"target (expected wait {_w(wa)})"
            )
        elif a == "close":
            out[j] = (
                f"closed: only {lb:.0f} customers/h at peak ({lb / cb:.0%} of capacity); "
                f"the nearest remaining outlet is {near:.1f} km away"
            )
        elif a == "upgrade":
            out[j] = (
                f"upgraded to {fmt_after[j]}: {lb:.0f}/h exceeded its capacity of "
                f"{cb:.0f}/h (wait {_w(wb)}); now {ca:.0f}/h, wait {_w(wa)}"
            )
        elif a == "convert":
            out[j] = (
                f"converted to {fmt_after[j]}: {la:.0f}/h fits a {fmt_after[j]} outlet "
                f"({ca:.0f}/h at target) at lower operating cost"
            )
        elif a == "relocate":
            k = idx[target[j]]
            d = float(np.hypot(*(s.xy[k] - s.xy[j]))) / 1000.0
            out[j] = (
                f"relocated {d:.1f} km to {s.name[k]} ({target[j]}) as a {fmt_after[k]} "
                f"outlet, nearer to demand: {load_a[k]:.0f}/h there vs {lb:.0f}/h here"
            )
        elif a == "open":
            out[j] = (
                f"opened as {fmt_after[j]} ({s.kind[j]} site): takes {la:.0f}/h "
                f"(wait {_w(wa)}); nearest other outlet {near:.1f} km"
            )
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


@contextmanager
def staged_folder(
    out: Path, *, extras: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; on success it replaces ``out`` whole.

    ``out`` is checked first (:func:`check_target`), stale temporary folders of killed runs
    are removed, ``extras(folder)`` runs last (the map, the report) so that everything
    appears in one rename or not at all; on any exception the temporary folder is removed.
    """
    target = check_target(out)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp",
                                dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the folder is an ordinary output
    try:
        yield tmp
        if extras is not None:
            extras(tmp)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_plan(
    plan: Plan, out: Path, *, extras: Callable[[Path], None] | None = None
) -> Path:
    """Write ``plan`` into folder ``out`` atomically (temporary sibling, then rename).

    ``extras(folder)`` may add files (the map, the report) to the temporary folder before
    the rename, so they appear together with the plan or not at all. Raises
    :class:`NetplanError` if ``out`` exists and is neither a plan folder nor empty.
    """
    with staged_folder(out, extras=extras) as tmp:
        write_plan_files(plan, tmp)
    return Path(out)


def write_plan_files(plan: Plan, folder: Path) -> None:
    """The plan's files into an existing (temporary) folder; see :func:`write_plan`."""
    _write_gpkg(plan, folder / "plan.gpkg")
    _csv_safe(plan.actions.drop(columns="geometry")).assign(
        lon=np.round(plan.actions.to_crs(4326).geometry.x, 6),
        lat=np.round(plan.actions.to_crs(4326).geometry.y, 6),
    ).to_csv(folder / "actions.csv", index=False, encoding="utf-8", lineterminator="\n")
    (folder / "kpis.json").write_text(_dumps(plan.kpis), encoding="utf-8")
    (folder / "run.json").write_text(_dumps(plan.run), encoding="utf-8")


def check_target(out: Path) -> Path:
    """The absolute path of ``out`` if a plan may be written there, else NetplanError.

    A plan folder is replaced whole, so ``out`` must not exist, be empty, or be a plan
    folder (``kpis.json`` and only the files netplan writes); a file or a folder holding
    anything else is refused: netplan never deletes a file it did not write.
    """
    target = Path(out).resolve()
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise NetplanError(
                f"{out} exists and is not a folder; choose another --out (a new or empty "
                "folder, or an earlier plan folder to replace)"
            )
        names = sorted(p.name for p in target.iterdir())
        foreign = [n for n in names if n not in _PLAN_FOLDER_NAMES]
        if names and (foreign or "kpis.json" not in names):
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise NetplanError(
                f"{out} exists and is not a plan folder (it holds {shown or 'no kpis.json'}); "
                "a plan replaces its --out folder whole, so netplan will not write there; "
                "choose a new or empty folder for --out"
            )
    base = target.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise NetplanError(
            f"cannot write the plan folder {out}: {base} is not a folder you may write to; "
            "choose an --out in a writable folder"
        )
    return target


def remove_stale(target: Path) -> None:
    """Remove temporary siblings of ``target`` left by runs whose process is gone."""
    tmp_name = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)-[^/]*\.tmp$")
    for path in sorted(target.parent.iterdir()):
        m = tmp_name.match(path.name)
        stale = (m is not None and not _pid_alive(int(m.group(1)))) or (
            path.name == f".{target.name}.old")
        if stale and path.is_dir() and not path.is_symlink():
            log.info("removing %s, left by an interrupted run", path)
            shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # cannot tell: keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


_PLAN_FOLDER_NAMES = frozenset(
    {*PLAN_FILES, "map.html", "report.html", "districts", ".map.html.tmp", ".report.html.tmp"}
)
"""What a plan folder may hold (``districts``: per-district plans of a city folder)."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with an apostrophe."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return out


def replace_dir(tmp: Path, out: Path) -> None:
    """Put ``tmp`` at ``out``; an existing ``out`` is swapped out, then removed."""
    if out.exists():
        if not out.is_dir():
            raise NetplanError(f"{out} exists and is not a folder; choose another --out")
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, allow_nan=False) + "\n"


def read_plan(folder: Path) -> Plan:
    """Read a plan folder written by :func:`write_plan` (layers in the metric CRS)."""
    folder = Path(folder)
    missing = [f for f in ("plan.gpkg", "kpis.json") if not (folder / f).is_file()]
    if missing:
        raise NetplanError(
            f"{folder} is not a plan folder: {', '.join(missing)} missing; run `netplan plan "
            f"--out {folder}` first"
        )
    gpkg = folder / "plan.gpkg"
    layers = {
        name: gpd.read_file(gpkg, layer=name, engine="pyogrio").to_crs(METRIC_CRS)
        for name in ("actions", "sites_after", "assignment", "zones_kpi")
    }
    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    run_path = folder / "run.json"
    run = json.loads(run_path.read_text(encoding="utf-8")) if run_path.is_file() else {}
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


def actions_frame(plan: Plan) -> pd.DataFrame:
    """The actions table without geometry (as in ``actions.csv``)."""
    return pd.DataFrame(plan.actions.drop(columns="geometry"))
