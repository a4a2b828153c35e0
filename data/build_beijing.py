"""Build the embedded Beijing dataset ``netplan/data/beijing.gpkg`` from the files in ``data/raw``.

Run from the repository root::

    python data/build_beijing.py [--out netplan/data/beijing.gpkg] [--quiet]

Deterministic: fixed seeds, sorted ids, a fixed GeoPackage timestamp, so a rebuild
gives the same file. Writes to a temporary file next to the target and renames it.
What is real and what is modelled is documented in ``data/README.md``; in short the
district polygons, census totals and metro stations are real, the ring-road lines are
schematic, the grid population is a dasymetric model of the district totals and the
branch network is modelled.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.spatial import cKDTree
from sklearn.cluster import KMeans

from netplan.study.crs import BEIJING_CRS as METRIC_CRS
from netplan.study.geometry import (
    RING_ZONES,
    label_features,
    ring_zones_from_rings,
)

OUTSIDE_RING5 = frozenset({"5_6", "outside_6"})
"""Beijing's ring zones outside the 5th ring."""

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
# The dataset ships inside the package (read through importlib.resources).
DEFAULT_OUT = HERE.parent / "netplan" / "data" / "beijing.gpkg"
WGS84 = "EPSG:4326"
SEED = 20201101  # census reference day of the 7th census; any fixed number would do
GPKG_DATE = "2020-11-01T00:00:00.000Z"  # fixed GeoPackage timestamp: stable file bytes
DECIMALS = 6  # WGS84 coordinates rounded to 1e-6 degree (about 0.1 m)

# --- ring roads -----------------------------------------------------------------------
N_MAX = 6.0  # squarest superellipse drawn; beyond it the rings look like rectangles
LENGTH_TOL = 0.03  # drawn length within 3 % of the published length (we aim for 0.1 %)
EXTENT_TOL_KM = {2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0, 6: 3.0}
VERTEX_SPACING_M = 100.0

# --- dasymetric population model (distances in metres) ---------------------------------
CELL_M = 1000.0
CITY_CENTRE = (116.3975, 39.9087)  # Tiananmen
# Core point of each district: its administrative seat / main built-up centre, read off a
# map (approximate, +-1 km). Used for the "urban core" term of the weights.
DISTRICT_CORES: dict[str, tuple[float, float, str]] = {
    "110101": (116.410, 39.914, "Wangfujing"),
    "110102": (116.373, 39.907, "Xidan"),
    "110105": (116.461, 39.909, "Guomao (CBD)"),
    "110106": (116.287, 39.858, "Fengtai town"),
    "110107": (116.223, 39.906, "Lugu (district seat)"),
    "110108": (116.316, 39.983, "Zhongguancun"),
    "110109": (116.102, 39.941, "Mentougou new town"),
    "110111": (116.139, 39.736, "Liangxiang"),
    "110112": (116.657, 39.909, "Tongzhou new town"),
    "110113": (116.654, 40.130, "Shunyi new town"),
    "110114": (116.231, 40.220, "Changping new town"),
    "110115": (116.338, 39.727, "Huangcun"),
    "110116": (116.632, 40.316, "Huairou town"),
    "110117": (117.121, 40.141, "Pinggu town"),
    "110118": (116.843, 40.376, "Miyun town"),
    "110119": (115.975, 40.456, "Yanqing town"),
}


@dataclass(frozen=True)
class Weights:
    """Dasymetric weight of a cell: a sum of terms decaying with distance (exp(-d/L))."""

    floor: float  # rural floor, everywhere
    hinterland: float  # broad term around the district core (plains near towns)
    hinterland_m: float
    core: float  # the district's urban core
    core_m: float
    station: float  # nearest metro station
    station_m: float
    centre: float  # the city centre (Tiananmen)
    centre_m: float


# 2020: growth went to the metro-served new estates on the fringe.
W_2020 = Weights(0.004, 0.05, 12_000, 1.0, 2_500, 1.0, 1_200, 1.5, 6_000)
# 2010: the same city with more weight on the old cores and the centre, less on stations.
W_2010 = Weights(0.004, 0.05, 12_000, 1.4, 2_500, 0.6, 1_200, 2.2, 6_000)

# --- modelled branch network -----------------------------------------------------------
N_BRANCHES = 562
N_LIGHT = 70
SHARE_OUTSIDE_RING5 = 0.32
MIN_SPACING_M = 150.0
# Outlets per resident relative to the ring-zone average: the legacy network is dense in
# the old city and was sized to the 2010 population.
RING_DENSITY = {"inside_2": 1.7, "2_3": 1.2, "3_4": 1.0, "4_5": 0.9}
INFLOW_DISTRICTS = frozenset({"110111", "110112", "110113", "110114", "110115"})
OUTSIDE_DENSITY_INFLOW = 0.65
OUTSIDE_DENSITY_OTHER = 1.0
# Probability that an outlet is placed next to a metro station (else in a populated cell).
STATION_BIAS = {"inside_2": 0.6, "2_3": 0.6, "3_4": 0.5, "4_5": 0.35, "5_6": 0.2, "outside_6": 0.1}
STATION_JITTER_M = 200.0

# --- candidates ------------------------------------------------------------------------
N_CLUSTERS = 150
UNDERSERVED_DIST_M = 2_000.0
CATCHMENT_M = 2_000.0
MIN_CANDIDATE_SPACING_M = 100.0
MIN_CLUSTER_ZONE_POP = 300


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg)


# ======================================================================================
# raw inputs
# ======================================================================================


def read_districts() -> gpd.GeoDataFrame:
    gdf = gpd.read_file(RAW / "beijing_districts_wgs84.geojson")
    census = pd.read_csv(
        RAW / "beijing_district_population_census.csv", dtype={"adcode": str}
    )
    gdf["adcode"] = gdf["adcode"].astype(str)
    merged = gdf.merge(
        census[["adcode", "name_zh", "pop_2010_census", "pop_2020_census"]],
        on="adcode",
        how="left",
        suffixes=("", "_census"),
        validate="one_to_one",
    )
    if merged["pop_2010_census"].isna().any():
        raise SystemExit("census CSV lacks a district of the geojson")
    if not (merged["name_zh"] == merged["name_zh_census"]).all():
        raise SystemExit("district names differ between the geojson and the census CSV")
    out = gpd.GeoDataFrame(
        {
            "adcode": merged["adcode"],
            "name_zh": merged["name_zh"],
            "name_pinyin": merged["name_pinyin"],
            "name_en": merged["name_en"],
            "zone": merged["zone"],
            "pop_2010": merged["pop_2010_census"].astype("int64"),
            "pop_2020": merged["pop_2020_census"].astype("int64"),
        },
        geometry=merged.geometry.values,
        crs=WGS84,
    )
    return out.sort_values("adcode", ignore_index=True)


def read_stations(gdf_districts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    df = pd.read_csv(
        RAW / "beijing_metro_stations.csv",
        dtype={"station_id": str, "district_adcode": str},
    )
    gdf = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(df["lon_wgs84"], df["lat_wgs84"]), crs=WGS84
    )
    # The district is recomputed from our polygons (the CSV's column is Amap's).
    joined = gpd.sjoin(gdf, gdf_districts[["adcode", "geometry"]], predicate="within")
    joined = joined[~joined.index.duplicated()]
    inside = gdf.loc[joined.index].copy()
    inside["adcode"] = joined["adcode"]
    return inside.sort_values("station_id", ignore_index=True)


def clean_pinyin(raw: str) -> str:
    """Normalise the scraped pinyin: 'yong tai zhuang' -> 'Yongtaizhuang', 'JinYu HuTong' ->
    'Jinyu Hutong'."""
    words = str(raw).split()
    if not any(c.isupper() for c in str(raw)):
        return "".join(words).capitalize()
    return " ".join(w.capitalize() for w in words)


def to_metric_xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=WGS84).to_crs(METRIC_CRS)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def round_wgs84(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda c: np.round(c, DECIMALS))


# ======================================================================================
# ring roads: schematic superellipses
# ======================================================================================


def superellipse(cx: float, cy: float, a: float, b: float, n: float, k: int) -> np.ndarray:
    """k points (closed: first == last) of |x/a|^n + |y/b|^n = 1 around (cx, cy)."""
    t = np.linspace(0.0, 2.0 * np.pi, k)
    c, s = np.cos(t), np.sin(t)
    x = a * np.sign(c) * np.abs(c) ** (2.0 / n)
    y = b * np.sign(s) * np.abs(s) ** (2.0 / n)
    xy = np.column_stack([cx + x, cy + y])
    xy[-1] = xy[0]
    return xy


def polyline_length(xy: np.ndarray) -> float:
    return float(np.hypot(*np.diff(xy, axis=0).T).sum())


def perimeter(a: float, b: float, n: float) -> float:
    return polyline_length(superellipse(0.0, 0.0, a, b, n, 20_001))


def resample(xy: np.ndarray, spacing_m: float) -> np.ndarray:
    """Resample a closed polyline at (nearly) equal arc-length steps."""
    seg = np.hypot(*np.diff(xy, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    k = max(400, int(np.ceil(s[-1] / spacing_m)))
    target = np.linspace(0.0, s[-1], k + 1)
    out = np.column_stack([np.interp(target, s, xy[:, 0]), np.interp(target, s, xy[:, 1])])
    out[-1] = out[0]
    return out


def bisect(f: Callable[[float], float], lo: float, hi: float, iters: int = 60) -> float:
    """Root of ``f`` (increasing) in [lo, hi]."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def fit_superellipse(a0: float, b0: float, target_m: float, tol_m: float) -> tuple[float, float]:
    """Exponent n in [2, N_MAX] and a change of both semi-axes (|delta| <= tol_m) so that the
    superellipse with semi-axes a0 + delta, b0 + delta has the perimeter ``target_m``.

    n is solved first at the published extents; only if no n in [2, N_MAX] reaches the
    length are the extents widened (or narrowed) within their tolerance.
    """
    if perimeter(a0, b0, 2.0) > target_m:
        # Even an ellipse is too long: narrow the extents.
        return 2.0, bisect(lambda d: perimeter(a0 + d, b0 + d, 2.0) - target_m, -tol_m, 0.0)
    if perimeter(a0, b0, N_MAX) < target_m:
        # Even the squarest curve drawn is too short: widen the extents.
        return N_MAX, bisect(lambda d: perimeter(a0 + d, b0 + d, N_MAX) - target_m, 0.0, tol_m)
    return bisect(lambda m: perimeter(a0, b0, m) - target_m, 2.0, N_MAX), 0.0


def build_ring_roads(quiet: bool) -> gpd.GeoDataFrame:
    facts = pd.read_csv(RAW / "beijing_ring_roads_facts.csv").sort_values("ring")
    rows = []
    for r in facts.itertuples(index=False):
        ring = int(r.ring)
        lon_c = 0.5 * (r.lon_min_approx + r.lon_max_approx)
        lat_c = 0.5 * (r.lat_min_approx + r.lat_max_approx)
        xy = to_metric_xy(
            np.array([r.lon_min_approx, r.lon_max_approx, lon_c, lon_c]),
            np.array([lat_c, lat_c, r.lat_min_approx, r.lat_max_approx]),
        )
        cx = 0.5 * (xy[0, 0] + xy[1, 0])
        cy = 0.5 * (xy[2, 1] + xy[3, 1])
        a0 = 0.5 * (xy[1, 0] - xy[0, 0])
        b0 = 0.5 * (xy[3, 1] - xy[2, 1])
        n, delta = fit_superellipse(
            a0, b0, float(r.length_km) * 1000.0, EXTENT_TOL_KM[ring] * 1000.0
        )
        a, b = a0 + delta, b0 + delta
        line_xy = resample(superellipse(cx, cy, a, b, n, 40_001), VERTEX_SPACING_M)
        rows.append(
            {
                "ring": ring,
                "name_zh": str(r.name_zh),
                "name_en": str(r.name_en),
                "length_km_published": float(r.length_km),
                "fit_n": n,
                "fit_a": a,
                "fit_b": b,
                "fit_delta": delta,
                "geometry": shapely.LineString(line_xy),
            }
        )
    gdf_m = gpd.GeoDataFrame(rows, crs=METRIC_CRS)
    gdf = gdf_m.to_crs(WGS84)
    gdf["geometry"] = round_wgs84(gdf.geometry.values)
    gdf["length_km"] = np.round(gdf.to_crs(METRIC_CRS).length.to_numpy() / 1000.0, 3)
    gdf["source"] = (
        "schematic: superellipse |x/a|^n+|y/b|^n=1 in EPSG:32650 fitted to the published "
        "length and approximate extents of the ring; not a surveyed road line"
    )
    check_rings(gdf, facts)
    for r in gdf.itertuples(index=False):
        log(
            f"  ring {r.ring}: n={r.fit_n:.3f} a={r.fit_a / 1000:.2f} km b={r.fit_b / 1000:.2f} km "
            f"(extents widened by {r.fit_delta / 1000:+.2f} km) length {r.length_km:.2f} km "
            f"vs published {r.length_km_published:.2f} km",
            quiet,
        )
    return gdf[["ring", "name_zh", "name_en", "length_km_published", "length_km", "source",
                "geometry"]]


def check_rings(gdf: gpd.GeoDataFrame, facts: pd.DataFrame) -> None:
    rel = np.abs(gdf["length_km"] / gdf["length_km_published"] - 1.0)
    if (rel > LENGTH_TOL).any():
        raise SystemExit(f"ring lengths off by more than {LENGTH_TOL:.0%}: {rel.tolist()}")
    polys = [shapely.Polygon(g.coords) for g in gdf.to_crs(METRIC_CRS).geometry]
    for i in range(len(polys) - 1):
        inner, outer = polys[i], polys[i + 1]
        if not (inner.within(outer) and not inner.boundary.intersects(outer.boundary)):
            raise SystemExit(f"ring {i + 2} is not strictly inside ring {i + 3}")
    bounds = gdf.geometry.bounds.to_numpy()  # lon_min, lat_min, lon_max, lat_max
    for (lon0, lat0, lon1, lat1), f in zip(bounds, facts.itertuples(index=False), strict=True):
        tol = EXTENT_TOL_KM[int(f.ring)]
        dx = 111.32 * np.cos(np.radians(0.5 * (lat0 + lat1)))
        dev = [
            abs(lon0 - f.lon_min_approx) * dx,
            abs(lon1 - f.lon_max_approx) * dx,
            abs(lat0 - f.lat_min_approx) * 110.95,
            abs(lat1 - f.lat_max_approx) * 110.95,
        ]
        if max(dev) > tol + 0.05:
            raise SystemExit(f"ring {f.ring} leaves its published extents: {dev} km")


# ======================================================================================
# zones: 1 km grid, dasymetric population
# ======================================================================================


def dasymetric_weights(
    w: Weights, d_floor: np.ndarray, d_core: np.ndarray, d_station: np.ndarray,
    d_centre: np.ndarray,
) -> np.ndarray:
    return (
        w.floor * d_floor
        + w.hinterland * np.exp(-d_core / w.hinterland_m)
        + w.core * np.exp(-d_core / w.core_m)
        + w.station * np.exp(-d_station / w.station_m)
        + w.centre * np.exp(-d_centre / w.centre_m)
    )


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers >= 0 proportional to ``weights`` that sum exactly to ``total``."""
    quota = total * weights / weights.sum()
    base = np.floor(quota).astype(np.int64)
    short = int(total - base.sum())
    frac = quota - base
    # Ties broken by position (stable sort): deterministic.
    order = np.argsort(-frac, kind="stable")
    base[order[:short]] += 1
    return base


def build_zones(
    gdf_districts: gpd.GeoDataFrame, gdf_stations: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    dist_m = gdf_districts.to_crs(METRIC_CRS)
    xmin, ymin, xmax, ymax = dist_m.total_bounds
    x0 = np.floor(xmin / CELL_M) * CELL_M
    y1 = np.ceil(ymax / CELL_M) * CELL_M
    nx = int(np.ceil((xmax - x0) / CELL_M))
    ny = int(np.ceil((y1 - ymin) / CELL_M))
    # Row-major from the north-west corner: the order that defines the zone ids.
    row, col = np.divmod(np.arange(nx * ny), nx)
    cx = x0 + (col + 0.5) * CELL_M
    cy = y1 - (row + 0.5) * CELL_M
    centres = gpd.GeoDataFrame(geometry=gpd.points_from_xy(cx, cy), crs=METRIC_CRS)
    joined = gpd.sjoin(centres, dist_m[["adcode", "geometry"]], predicate="within")
    joined = joined[~joined.index.duplicated()].sort_index()
    idx = joined.index.to_numpy()
    cx, cy, adcode = cx[idx], cy[idx], joined["adcode"].to_numpy()
    zone_id = np.array([f"Z{i + 1:06d}" for i in range(len(idx))])

    st_xy = np.column_stack([gdf_stations.to_crs(METRIC_CRS).geometry.x,
                             gdf_stations.to_crs(METRIC_CRS).geometry.y])
    d_station, _ = cKDTree(st_xy).query(np.column_stack([cx, cy]))
    cores = {k: to_metric_xy(np.array([v[0]]), np.array([v[1]]))[0]
             for k, v in DISTRICT_CORES.items()}
    core_xy = np.array([cores[a] for a in adcode])
    d_core = np.hypot(cx - core_xy[:, 0], cy - core_xy[:, 1])
    centre_xy = to_metric_xy(np.array([CITY_CENTRE[0]]), np.array([CITY_CENTRE[1]]))[0]
    d_centre = np.hypot(cx - centre_xy[0], cy - centre_xy[1])
    ones = np.ones_like(cx)

    pops: dict[int, np.ndarray] = {}
    for year, w in ((2010, W_2010), (2020, W_2020)):
        weight = dasymetric_weights(w, ones, d_core, d_station, d_centre)
        pop = np.zeros(len(cx), dtype=np.int64)
        for d in gdf_districts.itertuples(index=False):
            mask = adcode == d.adcode
            if not mask.any():
                raise SystemExit(f"district {d.adcode} has no grid cell")
            pop[mask] = largest_remainder(int(getattr(d, f"pop_{year}")), weight[mask])
        pops[year] = pop

    h = CELL_M / 2
    cells = shapely.box(cx - h, cy - h, cx + h, cy + h)
    gdf = gpd.GeoDataFrame(
        {
            "zone_id": zone_id,
            "adcode": adcode.astype(str),
            "pop_2010": pops[2010],
            "pop_2020": pops[2020],
            "inflow": pops[2020] - pops[2010],
        },
        geometry=cells,
        crs=METRIC_CRS,
    )
    keep = (gdf["pop_2010"] > 0) | (gdf["pop_2020"] > 0)
    return gdf[keep].reset_index(drop=True)


# ======================================================================================
# branches: the modelled "before" network
# ======================================================================================


def allocate_outlets(gdf_zones: gpd.GeoDataFrame) -> pd.Series:
    """Number of outlets per (adcode, ring_zone) stratum."""
    strata = gdf_zones.groupby(["adcode", "ring_zone"])["pop_2010"].sum()
    n_out = round(SHARE_OUTSIDE_RING5 * N_BRANCHES)
    counts = pd.Series(0, index=strata.index, dtype="int64")
    outside = strata.index.get_level_values("ring_zone").isin(sorted(OUTSIDE_RING5))
    mult = np.array([
        (OUTSIDE_DENSITY_INFLOW if a in INFLOW_DISTRICTS else OUTSIDE_DENSITY_OTHER)
        if rz in OUTSIDE_RING5 else RING_DENSITY[rz]
        for a, rz in strata.index
    ])
    w = strata.to_numpy() * mult
    counts[outside] = largest_remainder(n_out, w[outside])
    counts[~outside] = largest_remainder(N_BRANCHES - n_out, w[~outside])
    return counts[counts > 0]


def place_branches(
    gdf_zones: gpd.GeoDataFrame,
    gdf_districts_m: gpd.GeoDataFrame,
    gdf_ring_zones_m: gpd.GeoDataFrame,
    gdf_stations_m: gpd.GeoDataFrame,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    counts = allocate_outlets(gdf_zones)
    zc = gdf_zones.geometry.centroid
    zx, zy = zc.x.to_numpy(), zc.y.to_numpy()
    st_x = gdf_stations_m.geometry.x.to_numpy()
    st_y = gdf_stations_m.geometry.y.to_numpy()
    district_geom = dict(zip(gdf_districts_m["adcode"], gdf_districts_m.geometry, strict=True))
    ring_geom = dict(zip(gdf_ring_zones_m["ring_zone"], gdf_ring_zones_m.geometry, strict=True))
    placed = np.empty((0, 2))
    rows = []
    for (adcode, rz), n in counts.items():
        area = shapely.intersection(district_geom[adcode], ring_geom[rz])
        shapely.prepare(area)
        zmask = ((gdf_zones["adcode"] == adcode) & (gdf_zones["ring_zone"] == rz)).to_numpy()
        zw = gdf_zones["pop_2010"].to_numpy()[zmask].astype(float)
        zp = zw / zw.sum()
        zxs, zys = zx[zmask], zy[zmask]
        smask = ((gdf_stations_m["adcode"] == adcode) & (gdf_stations_m["ring_zone"] == rz))
        sxs, sys_ = st_x[smask.to_numpy()], st_y[smask.to_numpy()]
        for _ in range(int(n)):
            for _attempt in range(1000):
                if len(sxs) and rng.random() < STATION_BIAS[rz]:
                    k = rng.integers(len(sxs))
                    x, y = rng.normal([sxs[k], sys_[k]], STATION_JITTER_M)
                else:
                    k = rng.choice(len(zp), p=zp)
                    dx, dy = rng.uniform(-CELL_M / 2, CELL_M / 2, 2)
                    x, y = zxs[k] + dx, zys[k] + dy
                if not shapely.contains_xy(area, x, y):
                    continue
                if len(placed) and np.hypot(*(placed - [x, y]).T).min() < MIN_SPACING_M:
                    continue
                break
            else:
                raise SystemExit(f"could not place an outlet in {adcode} {rz}")
            placed = np.vstack([placed, [x, y]])
            rows.append({"adcode": adcode, "ring_zone": rz, "x": x, "y": y})
    df = pd.DataFrame(rows)
    df["_rz"] = df["ring_zone"].map({z: i for i, z in enumerate(RING_ZONES)})
    df = df.sort_values(["adcode", "_rz", "y", "x"], ascending=[True, True, False, True],
                        ignore_index=True)
    n = len(df)
    # Light outlets: "wealth + self-service", twice as likely inside the 4th ring.
    pl = np.where(df["_rz"] <= RING_ZONES.index("3_4"), 2.0, 1.0)
    light = np.zeros(n, dtype=bool)
    light[rng.choice(n, size=N_LIGHT, replace=False, p=pl / pl.sum())] = True
    counters = np.where(
        light,
        rng.choice([1, 2], size=n),
        rng.choice([3, 4, 5, 6, 7, 8], size=n, p=[0.05, 0.2, 0.3, 0.25, 0.15, 0.05]),
    )
    terminals = np.where(
        light,
        rng.choice([3, 4, 5, 6], size=n, p=[0.15, 0.35, 0.35, 0.15]),
        rng.choice([3, 4, 5, 6], size=n, p=[0.2, 0.35, 0.3, 0.15]),
    )
    names = dict(zip(gdf_districts_m["adcode"], zip(gdf_districts_m["name_pinyin"],
                                                     gdf_districts_m["name_zh"], strict=True),
                     strict=True))
    ids = [f"B{i + 1:04d}" for i in range(n)]
    return gpd.GeoDataFrame(
        {
            "branch_id": ids,
            "name": [f"Branch {i[1:]} {names[a][0]} {names[a][1]}"
                     for i, a in zip(ids, df["adcode"], strict=True)],
            "format": np.where(light, "light", "full"),
            "counters": counters.astype("int64"),
            "terminals": terminals.astype("int64"),
            "source": "modelled",
        },
        geometry=gpd.points_from_xy(df["x"], df["y"]),
        crs=METRIC_CRS,
    )


# ======================================================================================
# candidates: metro stations + centres of under-served population
# ======================================================================================


def build_candidates(
    gdf_zones: gpd.GeoDataFrame,
    gdf_branches_m: gpd.GeoDataFrame,
    gdf_stations_m: gpd.GeoDataFrame,
    gdf_districts_m: gpd.GeoDataFrame,
) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    b_xy = np.column_stack([gdf_branches_m.geometry.x, gdf_branches_m.geometry.y])
    b_tree = cKDTree(b_xy)
    zc = gdf_zones.geometry.centroid
    z_xy = np.column_stack([zc.x, zc.y])
    pop = gdf_zones["pop_2020"].to_numpy().astype(float)
    inflow = gdf_zones["inflow"].to_numpy().astype(float)
    # Under-served: far from any outlet, or many residents per outlet within the catchment.
    d_near, _ = b_tree.query(z_xy)
    z_tree = cKDTree(z_xy)
    pop_near = np.array([pop[i].sum() for i in z_tree.query_ball_point(z_xy, CATCHMENT_M)])
    n_near = b_tree.query_ball_point(z_xy, CATCHMENT_M, return_length=True)
    avg = pop.sum() / len(b_xy)
    per_outlet = pop_near / np.maximum(n_near, 1)
    under = (pop >= MIN_CLUSTER_ZONE_POP) & (
        (d_near > UNDERSERVED_DIST_M) | (per_outlet > 2.0 * avg)
    )
    weight = pop[under] + np.maximum(inflow[under], 0.0)
    km = KMeans(n_clusters=N_CLUSTERS, random_state=0, n_init=4)
    labels = km.fit_predict(z_xy[under], sample_weight=weight)
    centres = km.cluster_centers_
    cluster_w = np.bincount(labels, weights=weight, minlength=N_CLUSTERS)
    # A centre outside Beijing (possible at a concave border) snaps to its nearest member.
    beijing = shapely.union_all(gdf_districts_m.geometry.values)
    outside = ~shapely.contains_xy(beijing, centres[:, 0], centres[:, 1])
    if outside.any():
        members = z_xy[under]
        for k in np.flatnonzero(outside):
            mine = members[labels == k]
            centres[k] = mine[np.argmin(np.hypot(*(mine - centres[k]).T))]

    metro = gdf_stations_m.copy()
    metro["_x"], metro["_y"] = metro.geometry.x, metro.geometry.y
    clusters = pd.DataFrame({"_x": centres[:, 0], "_y": centres[:, 1], "_w": cluster_w})
    cl_pts = gpd.GeoDataFrame(clusters, geometry=gpd.points_from_xy(clusters["_x"],
                                                                   clusters["_y"]),
                              crs=METRIC_CRS)
    cl_pts = gpd.sjoin(cl_pts, gdf_districts_m[["adcode", "name_pinyin", "geometry"]],
                       predicate="intersects")
    cl_pts = cl_pts[~cl_pts.index.duplicated()]
    cl_pts = cl_pts.sort_values(["adcode", "_w"], ascending=[True, False], kind="stable")

    pool = pd.concat(
        [
            pd.DataFrame({"kind": "metro", "_x": metro["_x"], "_y": metro["_y"],
                          "_name": [f"{z} {clean_pinyin(p)}" for z, p in
                                    zip(metro["name_zh"], metro["name_pinyin"], strict=True)]}),
            pd.DataFrame({"kind": "cluster", "_x": cl_pts["_x"], "_y": cl_pts["_y"],
                          "_name": cl_pts["name_pinyin"].to_numpy()}),
        ],
        ignore_index=True,
    )
    xy = pool[["_x", "_y"]].to_numpy()
    near_branch = b_tree.query(xy)[0] < MIN_CANDIDATE_SPACING_M
    keep = np.zeros(len(pool), dtype=bool)
    kept_xy: list[np.ndarray] = []
    for i in range(len(pool)):  # greedy, in id order: metro stations first
        if near_branch[i]:
            continue
        if kept_xy and np.hypot(*(np.array(kept_xy) - xy[i]).T).min() < MIN_CANDIDATE_SPACING_M:
            continue
        keep[i] = True
        kept_xy.append(xy[i])
    stats = {
        "metro_in_beijing": int((pool["kind"] == "metro").sum()),
        "clusters": N_CLUSTERS,
        "underserved_zones": int(under.sum()),
        "dropped": int((~keep).sum()),
    }
    pool = pool[keep].reset_index(drop=True)
    ids, names = [], []
    n_metro = n_cluster = 0
    for kind, nm in zip(pool["kind"], pool["_name"], strict=True):
        if kind == "metro":
            n_metro += 1
            ids.append(f"M{n_metro:03d}")
            names.append(nm)
        else:
            n_cluster += 1
            ids.append(f"C{n_cluster:03d}")
            names.append(f"Cluster C{n_cluster:03d} {nm}")
    gdf = gpd.GeoDataFrame(
        {"candidate_id": ids, "name": names, "kind": pool["kind"].to_numpy()},
        geometry=gpd.points_from_xy(pool["_x"], pool["_y"]),
        crs=METRIC_CRS,
    )
    return gdf, stats


# ======================================================================================
# output
# ======================================================================================


def to_disk_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.to_crs(WGS84)
    out["geometry"] = round_wgs84(out.geometry.values)
    return out


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=".gpkg", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        for name, gdf in layers.items():
            # No R-tree: the layers are small and read whole; saves a fifth of the file.
            pyogrio.write_dataframe(
                gdf, tmp, layer=name, driver="GPKG", layer_options={"SPATIAL_INDEX": "NO"}
            )
        os.replace(tmp, out)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
        if tmp.exists():
            tmp.unlink()


def summarise(
    layers: dict[str, gpd.GeoDataFrame],
    zones_l: gpd.GeoDataFrame,
    branches_l: gpd.GeoDataFrame,
    cand_stats: dict[str, int],
) -> tuple[dict[str, float], list[str]]:
    """The figures the build promises (checked by the caller) and a printable summary."""
    d = layers["districts"]
    pop20 = int(d["pop_2020"].sum())
    n = len(branches_l)
    avg = pop20 / n
    out_share = float(branches_l["ring_zone"].isin(sorted(OUTSIDE_RING5)).mean())
    lines = [
        f"districts: {len(d)}; census 2010 {int(d['pop_2010'].sum()):,}, 2020 {pop20:,}",
        f"zones: {len(zones_l)} cells of 1 km2; zone sums 2010 "
        f"{int(zones_l['pop_2010'].sum()):,}, 2020 {int(zones_l['pop_2020'].sum()):,}; "
        f"max cell 2020 {int(zones_l['pop_2020'].max()):,}",
        f"branches: {n} ({int((branches_l['format'] == 'light').sum())} light); "
        f"outside the 5th ring {out_share:.1%}; city average {avg:,.0f} residents (2020) "
        "per outlet",
        "  adcode district      outlets  residents/outlet 2020  vs average",
    ]
    per_d = branches_l.groupby("adcode").size()
    ratios: dict[str, float] = {}
    for r in d.itertuples(index=False):
        k = int(per_d.get(r.adcode, 0))
        rpo = r.pop_2020 / k if k else float("inf")
        ratios[str(r.adcode)] = rpo / avg
        lines.append(f"  {r.adcode} {r.name_pinyin:<12} {k:7d}  {rpo:20,.0f}  {rpo / avg:9.2f}x")
    pz = zones_l.groupby("ring_zone")["pop_2020"].sum()
    pb = branches_l.groupby("ring_zone").size()
    lines.append("  ring zone   outlets  residents/outlet 2020  vs average")
    for rz in RING_ZONES:
        k = int(pb.get(rz, 0))
        rpo = float(pz.get(rz, 0)) / k if k else float("inf")
        lines.append(f"  {rz:<10} {k:7d}  {rpo:20,.0f}  {rpo / avg:9.2f}x")
    in_inflow = branches_l["adcode"].isin(sorted(INFLOW_DISTRICTS))
    pop_inflow = float(d.loc[d["adcode"].isin(sorted(INFLOW_DISTRICTS)), "pop_2020"].sum())
    rpo_in = pop_inflow / int(in_inflow.sum())
    rpo_old = float(pz.get("inside_2", 0)) / int(pb.get("inside_2", 1))
    lines.append(f"  inside the 2nd ring: {rpo_old / avg:.2f}x the average; the five inflow "
                 f"districts together: {rpo_in / avg:.2f}x")
    c = layers["candidates"]
    lines.append(
        f"candidates: {len(c)} ({int((c['kind'] == 'metro').sum())} metro of "
        f"{cand_stats['metro_in_beijing']} stations in Beijing, "
        f"{int((c['kind'] == 'cluster').sum())} cluster centres of {cand_stats['clusters']} "
        f"over {cand_stats['underserved_zones']} under-served cells; "
        f"{cand_stats['dropped']} dropped within {MIN_CANDIDATE_SPACING_M:.0f} m of an outlet "
        "or another candidate)"
    )
    lines.append("ring roads (schematic): drawn vs published length")
    for r in layers["ring_roads"].itertuples(index=False):
        lines.append(f"  ring {r.ring}: {r.length_km:7.2f} km vs {r.length_km_published:7.2f} km "
                     f"({r.length_km / r.length_km_published - 1:+.2%})")
    figures = {
        "share_outside_ring5": out_share,
        "old_city_ratio": rpo_old / avg,
        "inflow_ratio": rpo_in / avg,
        "min_inflow_district_ratio": min(ratios[a] for a in INFLOW_DISTRICTS),
    }
    return figures, lines


def check_story(figures: dict[str, float]) -> None:
    """Fail the build if the modelled network does not tell the case's *before* story."""
    problems = []
    if not 0.28 <= figures["share_outside_ring5"] <= 0.36:
        problems.append(f"share outside ring 5 {figures['share_outside_ring5']:.3f}")
    if figures["old_city_ratio"] > 0.5:
        problems.append(f"old city at {figures['old_city_ratio']:.2f}x the average")
    if figures["min_inflow_district_ratio"] < 1.5:
        problems.append(f"an inflow district at {figures['min_inflow_district_ratio']:.2f}x")
    if problems:
        raise SystemExit("the modelled network misses its story: " + "; ".join(problems))


def build(out: Path, *, quiet: bool = False) -> dict[str, float]:
    t0 = time.perf_counter()
    rng = np.random.default_rng(SEED)
    gdf_districts = read_districts()
    gdf_stations = read_stations(gdf_districts)
    log("ring roads:", quiet)
    gdf_rings = build_ring_roads(quiet)
    # Ring zones from the on-disk (WGS84, rounded) rings and districts: exactly what a
    # reader recomputes from the file.
    gdf_ring_zones = ring_zones_from_rings(gdf_rings, gdf_districts)

    dist_m = gdf_districts.to_crs(METRIC_CRS)
    rz_m = gdf_ring_zones.to_crs(METRIC_CRS)
    stations_m = label_features(gdf_stations.to_crs(METRIC_CRS), gdf_districts=dist_m,
                                gdf_ring_zones=rz_m)
    zones = build_zones(gdf_districts, gdf_stations)
    zones_l = label_features(zones, gdf_districts=dist_m, gdf_ring_zones=rz_m)
    if (zones_l["adcode"] != zones["adcode"]).any() or zones_l["ring_zone"].isna().any():
        raise SystemExit("zone labels disagree with the grid assignment")
    branches = place_branches(zones_l, dist_m, rz_m, stations_m, rng)
    candidates, cand_stats = build_candidates(zones_l, branches, stations_m, dist_m)

    layers = {
        "districts": gdf_districts,
        "ring_roads": gdf_rings,
        "ring_zones": gdf_ring_zones,
        "zones": to_disk_frame(zones),
        "branches": to_disk_frame(branches),
        "candidates": to_disk_frame(candidates),
    }
    # Re-label what is on disk (after rounding) for the checks and the summary.
    branches_l = label_features(layers["branches"], gdf_districts=gdf_districts,
                                gdf_ring_zones=gdf_ring_zones)
    if branches_l["adcode"].isna().any():
        raise SystemExit("an outlet lies outside Beijing")
    figures, lines = summarise(layers, zones_l, branches_l, cand_stats)
    check_story(figures)
    write_gpkg(layers, out)
    log("\n".join(lines), quiet)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f} s",
        quiet)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output GeoPackage (default: netplan/data/beijing.gpkg)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    build(args.out, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
