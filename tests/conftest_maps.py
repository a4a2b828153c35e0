"""Synthetic plans for the map and report tests (built directly as ``Plan(...)``, no solver).

``tiny_plan()``: ten sites on the tiny study of ``conftest.py`` covering every action —
keep (b1, b6 with a Chinese name, b7, b8), upgrade (b2, named
``<script>alert(1)</script>``), close (b3),
convert (b4), relocate (b5 → candidate c1), open (c2) — plus one outlet outside the
planned area (x9, in ``sites_after`` only) and nine zones (one empty, one unserved after),
with an assignment after the plan (some zones split between two outlets).
The reason of b3 carries an ``<img onerror>`` and zone z8's id a ``<b>`` tag, so every
popup path is exercised by the escaping tests.

``big_plan(n_zones, n_sites)``: a city-sized plan on a 1 km grid (deterministic, seeded)
for the size test.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from netplan.model.scenario import scenario_from_dict, scenario_to_dict
from netplan.planning.plan import Plan
from netplan.study.crs import BEIJING_CRS as METRIC_CRS

XSS_NAME = "<script>alert(1)</script>"
XSS_REASON = 'closed: too close to b1 <img src=x onerror="alert(3)">'
XSS_ZONE = "z8<b>bold</b>"
CHINESE_NAME = "王府井支行 Wangfujing"

# site_id, name, lon, lat, kind, adcode, ring_zone, action, fmt_b, fmt_a, target,
# arrivals_b, arrivals_a, wait_b, wait_a, reason
SITES: list[tuple[Any, ...]] = [
    ("b1", "Branch b1", 116.395, 39.905, "outlet", "110101", "inside_2", "keep", "full",
     "full", "", 40.0, 45.0, 4.0, 5.0, "kept: 45/h against a capacity of 60/h"),
    ("b2", XSS_NAME, 116.405, 39.895, "outlet", "110105", "inside_2", "upgrade", "light",
     "full", "", 30.0, 50.0, 25.0, 6.0, "upgraded to full: 30/h exceeded its capacity"),
    ("b3", "Branch b3 & Co", 116.415, 39.900, "outlet", "110105", "2_3", "close", "full", "",
     "", 5.0, 0.0, 0.5, math.nan, XSS_REASON),
    ("b4", "Branch b4", 116.375, 39.900, "outlet", "110101", "3_4", "convert", "full",
     "light", "", 12.0, 14.0, 1.0, 3.0, "converted to light: 14/h fits a light outlet"),
    ("b5", "Branch b5", 116.435, 39.900, "outlet", "110105", "4_5", "relocate", "full", "",
     "c1", 20.0, 0.0, 2.0, math.nan, "relocated 2.7 km to Metro A (c1) as a light outlet"),
    ("b6", CHINESE_NAME, 116.357, 39.900, "outlet", "110101", "5_6", "keep", "light", "light",
     "", 10.0, 11.0, 12.0, 9.0, "kept: 11/h"),
    ("b7", "Branch b7", 116.480, 39.930, "outlet", "110105", "outside_6", "keep", "full",
     "full", "", 80.0, 50.0, math.inf, 7.0, "kept: 50/h"),
    ("b8", "Branch b8", 116.320, 39.870, "outlet", "110101", "outside_6", "keep", "full",
     "full", "", 20.0, 20.0, 2.0, 2.0, "kept: 20/h"),
    ("c1", "Metro A", 116.450, 39.920, "metro", "110105", "outside_6", "", "", "light", "",
     0.0, 22.0, math.nan, 4.0, ""),
    ("c2", "Cluster B", 116.330, 39.880, "cluster", "110101", "outside_6", "open", "",
     "full", "", 0.0, 30.0, math.nan, 3.5, "opened as full (cluster site): takes 30/h"),
]
CONTEXT_SITE = ("x9", "Neighbour x9", 116.49, 39.86, "outlet", "110105", "outside_6")

# zone_id, minx, miny, adcode, ring, pop, inflow, serving_b, serving_a, dist_b, dist_a,
# unserved_b, unserved_a
ZONES: list[tuple[Any, ...]] = [
    ("z1", 116.30, 39.85, "110101", "outside_6", 150, 50, "b8", "c2", 1500.0, 900.0, 0.0, 0.0),
    ("z2", 116.35, 39.85, "110101", "3_4", 180, -20, "b6", "b6", 2500.0, 2500.0, 0.0, 0.0),
    ("z3", 116.30, 39.90, "110101", "outside_6", 330, 30, "b6", "b4", 3500.0, 3000.0, 0.2, 0.0),
    ("z4", 116.35, 39.90, "110101", "3_4", 400, 0, "b4", "b4", 800.0, 800.0, 0.0, 0.0),
    ("z5", 116.40, 39.85, "110105", "3_4", 600, 100, "b3", "b2", 1200.0, 1700.0, 0.0, 0.0),
    ("z6", 116.45, 39.85, "110105", "outside_6", 700, 100, "b5", "c1", 4100.0, 2000.0, 0.0,
     0.0),
    ("z7", 116.40, 39.90, "110105", "3_4", 650, -50, "b2", "b2", 500.0, 600.0, 0.0, 0.0),
    (XSS_ZONE, 116.45, 39.90, "110105", "outside_6", 900, 100, "b7", "", 6000.0, math.nan,
     0.5, 1.0),
    ("z9", 116.50, 39.90, "110105", "outside_6", 0, 0, "", "", math.nan, math.nan, 0.0, 0.0),
]


def _group_kpis(outlets: int, wait: float, dist_m: float) -> dict[str, Any]:
    return {"population": 3910, "outlets": outlets, "arrivals_per_h": 217.0,
            "mean_dist_m": dist_m, "p95_dist_m": 3 * dist_m, "share_pop_within_1km": 0.3,
            "share_pop_within_2km": 0.6, "share_pop_within_3km": 0.9, "mean_wait_min": wait,
            "share_customers_over_target": 0.25 if wait > 8 else 0.0,
            "overloaded_outlets": 2 if wait > 8 else 0,
            "unserved_arrivals_per_h": 12.5 if wait > 8 else 3.0}


def tiny_kpis() -> dict[str, Any]:
    """A KPI dict shaped like :func:`netplan.plan.plan_from_solution`'s."""
    sc = scenario_to_dict(scenario_from_dict({"name": "tiny <test>", "description":
                                              "synthetic & small"}))
    sc["source"] = "<dict>"
    before = {"overall": {**_group_kpis(8, 9.5, 1800.0), "share_outlets_outside_ring": 0.375},
              "districts": {"110101": _group_kpis(4, 7.0, 1500.0),
                            "110105": _group_kpis(4, 12.0, 2000.0)},
              "ring_zones": {"inside_2": _group_kpis(2, 9.0, 800.0),
                             "outside_6": _group_kpis(2, 15.0, 3000.0)}}
    after = {"overall": {**_group_kpis(8, 5.0, 1600.0), "share_outlets_outside_ring": 0.5},
             "districts": {"110101": _group_kpis(4, 4.0, 1400.0),
                           "110105": _group_kpis(4, 6.0, 1700.0)},
             "ring_zones": {"inside_2": _group_kpis(2, 5.0, 700.0),
                            "outside_6": _group_kpis(4, 5.0, 2000.0)}}
    return {
        "scope": "city", "year": 2035, "scenario": sc,
        "solver": {"status": "optimal", "objective": 1.0, "best_bound": 1.0, "gap": 0.0,
                   "solver": "highs"},
        "actions": {"keep": 4, "open": 1, "close": 1, "upgrade": 1, "convert": 1,
                    "relocate": 1},
        "costs": {"opex_before_cny_per_year": 21_000_000, "opex_after_cny_per_year": 19_000_000,
                  "oneoff_spend_cny": 9_000_000, "budget_cny": 600_000_000.0,
                  "travel_before_cny_per_year": 100_000, "travel_after_cny_per_year": 90_000},
        "before": before, "after": after,
    }


def _points(lonlat: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries(shapely.points(lonlat), crs="EPSG:4326").to_crs(METRIC_CRS)


def tiny_plan() -> Plan:
    """The tiny plan (see the module docstring); layers in the metric CRS."""
    s = SITES
    actions = gpd.GeoDataFrame({
        "site_id": [r[0] for r in s], "name": [r[1] for r in s], "kind": [r[4] for r in s],
        "adcode": [r[5] for r in s], "ring_zone": [r[6] for r in s],
        "action": [r[7] for r in s], "format_before": [r[8] for r in s],
        "format_after": [r[9] for r in s], "relocation_target": [r[10] for r in s],
        "arrivals_before_per_h": [r[11] for r in s], "arrivals_after_per_h": [r[12] for r in s],
        "wait_before_min": [r[13] for r in s], "wait_after_min": [r[14] for r in s],
        "reason": [r[15] for r in s],
    }, geometry=_points([(r[2], r[3]) for r in s]).values, crs=METRIC_CRS)
    open_rows = [r for r in s if r[9]]
    x = CONTEXT_SITE
    sa = [*open_rows, (x[0], x[1], x[2], x[3], x[4], x[5], x[6], "keep", "full", "full", "",
                       10.0, 10.0, 1.0, 1.0, "")]
    cap = {"full": 60.0, "light": 20.0}
    sites_after = gpd.GeoDataFrame({
        "site_id": [r[0] for r in sa], "name": [r[1] for r in sa], "kind": [r[4] for r in sa],
        "adcode": [r[5] for r in sa], "ring_zone": [r[6] for r in sa],
        "action": [r[7] for r in sa], "relocated_from": ["b5" if r[0] == "c1" else ""
                                                         for r in sa],
        "format": [r[9] for r in sa], "counters": [5 if r[9] == "full" else 2 for r in sa],
        "terminals": [4 for _ in sa], "arrivals_per_h": [r[12] for r in sa],
        "capacity_per_h": [cap[r[9]] for r in sa],
        "utilisation": [r[12] / cap[r[9]] for r in sa], "wait_min": [r[14] for r in sa],
        "catchment_pop": [500.0 for _ in sa], "in_scope": [r[0] != "x9" for r in sa],
    }, geometry=_points([(r[2], r[3]) for r in sa]).values, crs=METRIC_CRS)
    z = ZONES
    zgeom = gpd.GeoSeries([shapely.box(r[1], r[2], r[1] + 0.05, r[2] + 0.05) for r in z],
                          crs="EPSG:4326").to_crs(METRIC_CRS)
    pop = np.array([r[5] for r in z], dtype=float)
    zones_kpi = gpd.GeoDataFrame({
        "zone_id": [r[0] for r in z], "adcode": [r[3] for r in z],
        "ring_zone": [r[4] for r in z], "in_scope": [True] * len(z), "population": pop,
        "inflow": [r[6] for r in z], "arrivals_per_h": pop * 0.0555,
        "nearest_before_m": [r[9] for r in z], "nearest_after_m": [r[10] for r in z],
        "dist_before_m": [r[9] for r in z], "dist_after_m": [r[10] for r in z],
        "unserved_before": [r[11] for r in z], "unserved_after": [r[12] for r in z],
        "serving_before": [r[7] for r in z], "serving_after": [r[8] for r in z],
    }, geometry=zgeom.values, crs=METRIC_CRS)
    # after the plan: each served zone sends 80 % of its customers to its main outlet and
    # 20 % (z2, z3) or 3 % (z5) to a second one
    rows = [(r[0], r[8], 0.8 if r[0] in ("z2", "z3", "z5") else 1.0) for r in z if r[8]]
    rows += [("z2", "b4", 0.2), ("z3", "b6", 0.2), ("z5", "b1", 0.03)]
    assignment = gpd.GeoDataFrame({
        "zone_id": [r[0] for r in rows], "site_id": [r[1] for r in rows],
        "share": [r[2] for r in rows], "dist_m": [1000.0 for _ in rows],
    }, geometry=gpd.GeoSeries(shapely.points([(0.0, 0.0)] * len(rows)), crs=METRIC_CRS),
        crs=METRIC_CRS)
    return Plan(kpis=tiny_kpis(), actions=actions, sites_after=sites_after,
                assignment=assignment, zones_kpi=zones_kpi, run={"netplan": "test"})


def big_plan(n_zones: int = 12_000, n_sites: int = 1_200, *, seed: int = 7) -> Plan:
    """A city-sized synthetic plan: ``n_zones`` 1 km cells, ``n_sites`` sites, every action."""
    rng = np.random.default_rng(seed)
    x0, y0 = 400_000.0, 4_380_000.0
    cols = math.ceil(math.sqrt(n_zones))
    k = np.arange(n_zones)
    zx, zy = x0 + (k % cols) * 1000.0, y0 + (k // cols) * 1000.0
    # a little jitter as in real data (cells reprojected from WGS84)
    jit = rng.normal(0, 0.03, size=(n_zones, 4))
    geoms = [shapely.Polygon([(a + jit[i, 0], b), (a + 1000, b + jit[i, 1]),
                              (a + 1000 + jit[i, 2], b + 1000), (a, b + 1000 + jit[i, 3])])
             for i, (a, b) in enumerate(zip(zx, zy, strict=True))]
    sx = x0 + rng.uniform(0, cols * 1000.0, n_sites)
    sy = y0 + rng.uniform(0, (n_zones // cols + 1) * 1000.0, n_sites)
    ids = np.array([f"S{j:05d}" for j in range(n_sites)], dtype=object)
    acts = np.array(["keep", "open", "close", "upgrade", "convert", "relocate"], dtype=object)
    action = acts[rng.choice(6, size=n_sites, p=[0.55, 0.1, 0.08, 0.1, 0.12, 0.05])]
    target = np.full(n_sites, "", dtype=object)
    rel = np.flatnonzero(action == "relocate")
    # relocation targets: sites that are not relocated themselves become new sites ("")
    pool = [j for j in range(n_sites) if action[j] == "keep"][: len(rel)]
    for j, t in zip(rel, pool, strict=False):
        target[j] = ids[t]
        action[t] = ""
    fmt_b = np.where(action == "open", "", "full").astype(object)
    fmt_b[action == ""] = ""
    fmt_a = np.where(np.isin(action, ["close", "relocate"]), "", "light").astype(object)
    arr_b = rng.uniform(0, 80, n_sites)
    arr_a = rng.uniform(0, 80, n_sites)
    names = np.array([f"Branch {j:05d} 朝阳区 Chaoyang {'东' * (j % 7)}" for j in range(n_sites)],
                     dtype=object)
    reasons = np.array([f"{a}: {arr_b[j]:.0f}/h against a capacity of 60/h at the 11-min "
                        f"target (expected wait {rng.uniform(0, 20):.1f} min); the nearest "
                        f"other outlet is {rng.uniform(0, 5):.1f} km away"
                        for j, a in enumerate(action)], dtype=object)
    pts = gpd.GeoSeries(shapely.points(sx, sy), crs=METRIC_CRS)
    actions = gpd.GeoDataFrame({
        "site_id": ids, "name": names, "kind": "outlet", "adcode": "110105",
        "ring_zone": "4_5", "action": action, "format_before": fmt_b, "format_after": fmt_a,
        "relocation_target": target, "arrivals_before_per_h": np.round(arr_b, 3),
        "arrivals_after_per_h": np.round(arr_a, 3),
        "wait_before_min": np.round(rng.uniform(0, 30, n_sites), 3),
        "wait_after_min": np.round(rng.uniform(0, 11, n_sites), 3), "reason": reasons,
    }, geometry=pts.values, crs=METRIC_CRS)
    op = fmt_a != ""
    sites_after = gpd.GeoDataFrame({
        "site_id": ids[op], "name": names[op], "kind": "outlet", "adcode": "110105",
        "ring_zone": "4_5", "action": action[op], "relocated_from": "", "format": fmt_a[op],
        "counters": 2, "terminals": 4, "arrivals_per_h": np.round(arr_a[op], 3),
        "capacity_per_h": 60.0, "utilisation": np.round(arr_a[op] / 60.0, 4),
        "wait_min": np.round(rng.uniform(0, 11, int(op.sum())), 3),
        "catchment_pop": 10_000.0, "in_scope": True,
    }, geometry=pts[op].values, crs=METRIC_CRS)
    open_ids = ids[op]
    pop = np.round(rng.gamma(1.2, 2000.0, n_zones))
    pop[rng.uniform(size=n_zones) < 0.05] = 0
    zones_kpi = gpd.GeoDataFrame({
        "zone_id": [f"Z{i:06d}" for i in range(n_zones)], "adcode": "110105",
        "ring_zone": "4_5", "in_scope": True, "population": pop,
        "inflow": np.round(rng.normal(200, 800, n_zones)), "arrivals_per_h": np.round(
            pop * 0.0013, 4),
        "nearest_before_m": np.round(rng.uniform(0, 6000, n_zones), 1),
        "nearest_after_m": np.round(rng.uniform(0, 6000, n_zones), 1),
        "dist_before_m": np.round(rng.uniform(0, 6000, n_zones), 1),
        "dist_after_m": np.round(rng.uniform(0, 6000, n_zones), 1),
        "unserved_before": np.round(rng.uniform(0, 1, n_zones) ** 8, 4),
        "unserved_after": np.round(rng.uniform(0, 1, n_zones) ** 12, 4),
        "serving_before": rng.choice(ids[fmt_b != ""], n_zones),
        "serving_after": rng.choice(open_ids, n_zones),
    }, geometry=gpd.GeoSeries(geoms, crs=METRIC_CRS).values, crs=METRIC_CRS)
    assignment = gpd.GeoDataFrame({"zone_id": [], "site_id": [], "share": [], "dist_m": []},
                                  geometry=gpd.GeoSeries([], crs=METRIC_CRS), crs=METRIC_CRS)
    kpis = tiny_kpis()
    return Plan(kpis=kpis, actions=actions, sites_after=sites_after, assignment=assignment,
                zones_kpi=zones_kpi, run={"netplan": "test"})


def tiny_study(folder: Any) -> Any:
    """The tiny study of ``conftest.py`` loaded through :func:`netplan.layers.load_study`."""
    from pathlib import Path

    from conftest import write_tiny_gpkg

    from netplan.study.layers import load_study

    return load_study(write_tiny_gpkg(Path(folder)))
