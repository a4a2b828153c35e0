"""Deterministic synthetic studies of any size, for benchmarks and scale tests.

:func:`make_study` returns a :class:`~netplan.study.layers.Study` that looks like a Chinese
city (or a whole region of cities) and runs through the whole pipeline: every layer has
the columns of ``schemas.md``, everything is in :data:`~netplan.study.crs.BEIJING_CRS`
around a synthetic origin (easting 450 km, northing 4 420 km: near Beijing, so that the
WGS84 coordinates written to a GeoPackage are plausible), and the same arguments always
give the same study.

How it is drawn
---------------
- **Zones**: 1 km grid cells, the ``n_zones`` cells nearest the origin under a wavy
  radius (an irregular blob of radius ``R ≈ √(n_zones/π)`` km).
- **Population** (2020): a main centre (exponential decay, scale 11 % of the city
  radius ``R_city = min(R, 72 km)``, Beijing's), ``max(3, n_zones/2500)`` secondary
  centres (towns or other cities), a thin rural background, log-normal noise per cell;
  scaled to ~38 000 residents per existing outlet (Beijing has 21.9 M for 562 outlets).
  2010 population is 2020 divided by a growth factor: slight decline inside the 3rd
  ring, strong growth between the 4th and 6th rings and around secondary centres (the
  inflow that makes fringe outlets overloaded).
- **Outlets** (52 % of ``n_sites``): placed where people lived in 2010, with a bias to
  the old centre, jittered inside their cell; 85 % ``full`` (4–6 counters, 3–5
  terminals), 15 % ``light`` (2 counters, 3–4 terminals).
- **Candidates** (the rest): half ``metro`` (along radial lines of the main city), half
  ``cluster`` (where population grew).
- **Districts**: a Voronoi tessellation of the zone grid (seeds by population, four
  Lloyd iterations), each district the union of its cells, adcodes ``910001``,
  ``910002`` ... outwards from the centre (prefix 91 is no real province).
- **Ring roads** 2–6: circles around the origin with Beijing's radii relative to
  ``R_city``; ring zones derived from them (:func:`netplan.study.geometry.ring_zones_from_rings`).

The default scenario (Beijing 2035) names Beijing districts in its policies and places
its horizon population in Beijing's six central districts; use
:func:`synthetic_scenario` to adapt any scenario to a synthetic study.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from netplan._errors import NetplanError
from netplan._io import atomic_path, check_new_file
from netplan.model.scenario import Scenario
from netplan.study.crs import BEIJING_CRS
from netplan.study.geometry import label_features, ring_zones_from_rings
from netplan.study.layers import Study

__all__ = [
    "ADCODE_BASE",
    "ORIGIN_XY",
    "make_study",
    "synthetic_scenario",
    "synthetic_scenario_toml",
    "write_study",
]

log = logging.getLogger(__name__)

ORIGIN_XY: Final[tuple[float, float]] = (450_000.0, 4_420_000.0)
"""Synthetic origin (main centre) in EPSG:32650 metres."""

ADCODE_BASE: Final = 910_000
"""District ``k`` (1-based, outwards from the centre) gets adcode ``ADCODE_BASE + k``."""

CELL_M: Final = 1000.0
RESIDENTS_PER_OUTLET: Final = 38_000.0
OUTLET_SHARE: Final = 0.52
_RING_RATIO: Final = {2: 0.072, 3: 0.107, 4: 0.144, 5: 0.218, 6: 0.415}  # of Beijing's 72 km
_BEIJING_R_KM: Final = 72.0
_MAX_DISTRICTS: Final = 9999


def _check_sizes(n_zones: int, n_sites: int, n_districts: int) -> None:
    problems = []
    for name, val, lo in (("n_zones", n_zones, 10), ("n_sites", n_sites, 2),
                          ("n_districts", n_districts, 1)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < lo:
            problems.append(f"{name} must be an integer >= {lo}, got {val!r}")
    if not problems and n_districts > min(n_zones // 4, _MAX_DISTRICTS):
        problems.append(
            f"n_districts = {n_districts} is too many for {n_zones} zones; give at most "
            f"{min(n_zones // 4, _MAX_DISTRICTS)} (4 zones per district, 6-digit adcodes)"
        )
    if problems:
        raise NetplanError("synthetic study: " + "; ".join(problems))


def make_study(n_zones: int, n_sites: int, n_districts: int, *, seed: int = 0) -> Study:
    """A synthetic study of ``n_zones`` 1 km zones, ``n_sites`` sites and ``n_districts``.

    Parameters
    ----------
    n_zones
        Number of 1 km grid cells (>= 10).
    n_sites
        Existing outlets plus candidate sites (>= 2); 52 % of them are outlets.
    n_districts
        Number of districts (Voronoi cells of the grid), at most ``n_zones // 4``.
    seed
        Random seed; the same arguments give the same study.

    Returns
    -------
    Study
        Layers in EPSG:32650, zones / branches / candidates labelled with ``adcode``
        and ``ring_zone`` exactly as :func:`netplan.study.layers.load_study` labels them.

    Raises
    ------
    NetplanError
        Sizes out of range.
    """
    _check_sizes(n_zones, n_sites, n_districts)
    n_zones, n_sites, n_districts = int(n_zones), int(n_sites), int(n_districts)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 20_350]))
    gx, gy = _grid(n_zones, rng)
    x0, y0 = ORIGIN_XY
    cx = x0 + gx * CELL_M
    cy = y0 + gy * CELL_M
    d_km = np.hypot(gx, gy)
    r_km = math.sqrt(n_zones / math.pi)
    r_city = min(r_km, _BEIJING_R_KM)
    radii_km = {k: v * r_city for k, v in _RING_RATIO.items()}

    n_out = max(1, min(n_sites - 1, round(n_sites * OUTLET_SHARE)))
    n_cand = n_sites - n_out
    pop20, pop10 = _population(gx, gy, d_km, r_km, r_city, radii_km, n_out, rng)

    zone_ids = np.array([f"Z{k:07d}" for k in range(1, n_zones + 1)], dtype=object)
    cells = shapely.box(cx - CELL_M / 2, cy - CELL_M / 2, cx + CELL_M / 2, cy + CELL_M / 2)

    districts, owner = _district_layer(cx, cy, cells, (pop10, pop20), n_districts, radii_km,
                                       rng)
    adcodes = districts["adcode"].to_numpy()

    ring_roads = _ring_roads(radii_km)
    zones = gpd.GeoDataFrame({
        "zone_id": zone_ids,
        "adcode": adcodes[owner],
        "pop_2010": pop10,
        "pop_2020": pop20,
        "inflow": pop20 - pop10,
    }, geometry=gpd.GeoSeries(cells, crs=BEIJING_CRS), crs=BEIJING_CRS)

    branches = _outlets(cx, cy, d_km, pop10, radii_km, n_out, rng)
    candidates = _candidates(cx, cy, pop20, pop10, r_city, n_cand, rng)

    ring_zones = ring_zones_from_rings(ring_roads, districts)
    labelled = {
        kind: label_features(gdf, gdf_districts=districts, gdf_ring_zones=ring_zones)
        for kind, gdf in (("zones", zones), ("branches", branches), ("candidates", candidates))
    }
    source = (f"synthetic: {n_zones} zones, {n_sites} sites ({n_out} outlets, {n_cand} "
              f"candidates), {n_districts} districts, seed {seed}")
    log.info("%s", source)
    return Study(
        districts=districts, ring_roads=ring_roads, ring_zones=ring_zones,
        zones=labelled["zones"], branches=labelled["branches"],
        candidates=labelled["candidates"], source=source,
        layer_sources={k: "synthetic" for k in (
            "branches", "candidates", "districts", "ring_roads", "ring_zones", "zones")},
        name=f"synthetic (seed {seed})", crs=BEIJING_CRS,
    )


# --- the pieces --------------------------------------------------------------------------


def _district_layer(
    cx: NDArray[np.float64], cy: NDArray[np.float64], cells: NDArray[np.object_],
    pops: tuple[NDArray[np.int64], NDArray[np.int64]], n_districts: int,
    radii_km: dict[int, float], rng: np.random.Generator,
) -> tuple[gpd.GeoDataFrame, NDArray[np.int64]]:
    """The districts (numbered outwards from the origin) and the district of each cell.

    A Voronoi tessellation of the cells (Lloyd iterations weighted by √pop); a district's
    zone (core / central / outer) follows its seed's ring, its populations sum its cells'.
    """
    pop10, pop20 = pops
    x0, y0 = ORIGIN_XY
    owner, seeds = _districts(cx, cy, pop20, n_districts, rng)
    order = np.argsort(np.hypot(seeds[:, 0] - x0, seeds[:, 1] - y0), kind="stable")
    rank = np.empty(n_districts, dtype=np.int64)
    rank[order] = np.arange(n_districts)
    owner = rank[owner]
    seeds = seeds[order]
    adcodes = np.array([f"{ADCODE_BASE + k + 1:06d}" for k in range(n_districts)], dtype=object)
    geoms = [shapely.coverage_union_all(cells[owner == k]) for k in range(n_districts)]
    seed_d = np.hypot(seeds[:, 0] - x0, seeds[:, 1] - y0) / 1000.0
    zone_kind = np.where(seed_d <= radii_km[3], "core",
                         np.where(seed_d <= radii_km[5], "central", "outer"))
    d_pop10 = np.bincount(owner, weights=pop10, minlength=n_districts).round().astype(np.int64)
    d_pop20 = np.bincount(owner, weights=pop20, minlength=n_districts).round().astype(np.int64)
    districts = gpd.GeoDataFrame({
        "adcode": adcodes,
        "name_zh": [f"合成{k + 1:03d}区" for k in range(n_districts)],
        "name_pinyin": [f"Hecheng {k + 1:03d}" for k in range(n_districts)],
        "name_en": [f"Synthetic District {k + 1:03d}" for k in range(n_districts)],
        "zone": zone_kind.astype(object),
        "pop_2010": d_pop10,
        "pop_2020": d_pop20,
    }, geometry=gpd.GeoSeries(geoms, crs=BEIJING_CRS), crs=BEIJING_CRS)
    return districts, owner


def _grid(n_zones: int, rng: np.random.Generator) -> tuple[NDArray[np.float64],
                                                            NDArray[np.float64]]:
    """Cell centres (km, relative to the origin) of an irregular blob of ``n_zones`` cells."""
    half = math.ceil(math.sqrt(n_zones / math.pi) * 1.6) + 2
    ax = np.arange(-half, half + 1, dtype=np.float64)
    mx, my = np.meshgrid(ax, ax)
    gx, gy = mx.ravel(), my.ravel()
    theta = np.arctan2(gy, gx)
    ph = rng.uniform(0, 2 * math.pi, 3)
    wobble = (1.0 + 0.14 * np.sin(3 * theta + ph[0]) + 0.08 * np.sin(5 * theta + ph[1])
              + 0.05 * np.sin(2 * theta + ph[2]))
    eff = np.hypot(gx, gy) / wobble
    pick = np.lexsort((gx, -gy, eff))[:n_zones]  # nearest first; ties by row, then column
    pick = pick[np.lexsort((gx[pick], -gy[pick]))]  # zone order: north to south, west to east
    return gx[pick], gy[pick]


def _population(
    gx: NDArray[np.float64], gy: NDArray[np.float64], d_km: NDArray[np.float64], r_km: float,
    r_city: float, radii_km: dict[int, float], n_out: int, rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    n = len(gx)
    lam = 0.11 * r_city
    dens = np.exp(-d_km / lam)
    n_sec = max(3, round(n / 2500))
    ang = rng.uniform(0, 2 * math.pi, n_sec)
    rad = rng.uniform(0.25, 0.85, n_sec) * r_km
    amp = rng.uniform(0.08, 0.35, n_sec)
    scale = rng.uniform(0.3, 0.6, n_sec) * lam
    sec = np.zeros(n)
    for a, r, w, s in zip(ang, rad, amp, scale, strict=True):
        sec += w * np.exp(-np.hypot(gx - r * math.cos(a), gy - r * math.sin(a)) / s)
    dens = dens + sec + 0.004 * np.exp(-d_km / (0.6 * r_km))
    dens = dens * rng.lognormal(0.0, 0.45, n)
    pop20_f = dens / dens.sum() * RESIDENTS_PER_OUTLET * n_out
    # growth 2010 -> 2020: decline in the core, inflow between the 4th and 6th rings
    t = np.clip((d_km - radii_km[3]) / max(radii_km[6] - radii_km[3], 1e-9), 0.0, 1.0)
    smooth = t * t * (3 - 2 * t)
    fade = np.exp(-np.maximum(d_km - radii_km[6], 0.0) / max(r_city, 1.0))
    share_sec = sec / np.maximum(dens, 1e-12)
    growth = (0.95 + 0.5 * smooth * fade + 0.3 * np.clip(share_sec, 0, 1)
              + rng.normal(0.0, 0.04, n))
    growth = np.clip(growth, 0.7, 2.5)
    pop20 = np.round(pop20_f).astype(np.int64)
    pop10 = np.round(pop20_f / growth).astype(np.int64)
    return np.maximum(pop20, 0), np.maximum(pop10, 0)


def _districts(
    cx: NDArray[np.float64], cy: NDArray[np.float64], pop: NDArray[np.int64], n_districts: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    xy = np.column_stack([cx, cy])
    w = np.sqrt(pop.astype(np.float64)) + 1.0
    first = rng.choice(len(xy), size=n_districts, replace=False, p=w / w.sum())
    seeds = xy[np.sort(first)].copy()
    owner = np.zeros(len(xy), dtype=np.int64)
    for _ in range(4):
        _, owner = cKDTree(seeds).query(xy, k=1)
        owner = np.asarray(owner, dtype=np.int64)
        mass = np.bincount(owner, weights=w, minlength=n_districts)
        sx = np.bincount(owner, weights=w * xy[:, 0], minlength=n_districts)
        sy = np.bincount(owner, weights=w * xy[:, 1], minlength=n_districts)
        has = mass > 0
        seeds[has] = np.column_stack([sx[has] / mass[has], sy[has] / mass[has]])
    _, owner = cKDTree(seeds).query(xy, k=1)
    owner = np.asarray(owner, dtype=np.int64)
    empty = np.flatnonzero(np.bincount(owner, minlength=n_districts) == 0)
    for k in empty:  # a seed that lost every cell takes the nearest cell of a big district
        counts = np.bincount(owner, minlength=n_districts)
        donors = np.flatnonzero(counts[owner] > 1)
        j = donors[int(np.argmin(np.hypot(*(xy[donors] - seeds[k]).T)))]
        owner[j] = k
    return owner, seeds


def _ring_roads(radii_km: dict[int, float]) -> gpd.GeoDataFrame:
    x0, y0 = ORIGIN_XY
    lines = [shapely.LineString(shapely.Point(x0, y0).buffer(r * 1000.0, quad_segs=32)
                                .exterior.coords) for r in radii_km.values()]
    gdf = gpd.GeoDataFrame({
        "ring": np.array(list(radii_km), dtype=np.int64),
        "name_zh": [f"合成{k}环" for k in radii_km],
        "name_en": [f"Synthetic ring {k}" for k in radii_km],
        "length_km_published": np.full(len(radii_km), np.nan),
        "length_km": np.round([ln.length / 1000.0 for ln in lines], 3),
        "source": "synthetic: circle around the origin",
    }, geometry=gpd.GeoSeries(lines, crs=BEIJING_CRS), crs=BEIJING_CRS)
    return gdf


def _jitter(cx: NDArray[np.float64], cy: NDArray[np.float64], idx: NDArray[np.int64],
            rng: np.random.Generator) -> NDArray[Any]:
    ox = rng.uniform(-0.4, 0.4, len(idx)) * CELL_M
    oy = rng.uniform(-0.4, 0.4, len(idx)) * CELL_M
    return np.asarray(shapely.points(cx[idx] + ox, cy[idx] + oy))


def _outlets(cx: NDArray[np.float64], cy: NDArray[np.float64], d_km: NDArray[np.float64],
             pop10: NDArray[np.int64], radii_km: dict[int, float], n_out: int,
             rng: np.random.Generator) -> gpd.GeoDataFrame:
    w = np.power(pop10.astype(np.float64) + 1.0, 1.1) * np.where(d_km <= radii_km[4], 2.0, 1.0)
    idx = np.sort(rng.choice(len(cx), size=n_out, replace=True, p=w / w.sum()))
    light = rng.random(n_out) < 0.15
    counters = np.where(light, 2, rng.integers(4, 7, n_out)).astype(np.int64)
    terminals = np.where(light, rng.integers(3, 5, n_out), rng.integers(3, 6, n_out))
    return gpd.GeoDataFrame({
        "branch_id": [f"B{k:06d}" for k in range(1, n_out + 1)],
        "name": [f"合成网点 Outlet {k:06d}" for k in range(1, n_out + 1)],
        "format": np.where(light, "light", "full").astype(object),
        "counters": counters,
        "terminals": terminals.astype(np.int64),
        "source": "synthetic",
    }, geometry=gpd.GeoSeries(_jitter(cx, cy, idx, rng), crs=BEIJING_CRS), crs=BEIJING_CRS)


def _candidates(cx: NDArray[np.float64], cy: NDArray[np.float64], pop20: NDArray[np.int64],
                pop10: NDArray[np.int64], r_city: float, n_cand: int,
                rng: np.random.Generator) -> gpd.GeoDataFrame:
    n_metro = n_cand // 2
    n_cluster = n_cand - n_metro
    x0, y0 = ORIGIN_XY
    # metro: stations along radial lines of the main city, snapped to the nearest cell
    n_lines = 6 + n_metro // 150
    line = rng.integers(0, n_lines, n_metro)
    ang = 2 * math.pi * line / n_lines + rng.normal(0.0, 0.04, n_metro)
    rad = rng.uniform(0.03, 0.7, n_metro) * r_city * 1000.0
    _, metro_idx = cKDTree(np.column_stack([cx, cy])).query(
        np.column_stack([x0 + rad * np.cos(ang), y0 + rad * np.sin(ang)]), k=1)
    metro_idx = np.asarray(metro_idx, dtype=np.int64).reshape(-1)
    # clusters: where population grew (and, less, where it lives)
    w = np.clip(pop20 - pop10, 0, None).astype(np.float64) + 0.05 * pop20 + 1.0
    cl_idx = rng.choice(len(cx), size=n_cluster, replace=True, p=w / w.sum())
    idx = np.concatenate([metro_idx, cl_idx]).astype(np.int64)
    kind = np.array(["metro"] * n_metro + ["cluster"] * n_cluster, dtype=object)
    order = np.argsort(idx, kind="stable")
    idx, kind = idx[order], kind[order]
    return gpd.GeoDataFrame({
        "candidate_id": [f"C{k:06d}" for k in range(1, n_cand + 1)],
        "name": [f"候选点 Site {k:06d} ({kd})" for k, kd in enumerate(kind, start=1)],
        "kind": kind,
    }, geometry=gpd.GeoSeries(_jitter(cx, cy, idx, rng), crs=BEIJING_CRS), crs=BEIJING_CRS)


# --- scenario and files ------------------------------------------------------------------


def synthetic_scenario(study: Study, scenario: Scenario, *, horizon_growth: float = 0.10
                       ) -> Scenario:
    """``scenario`` adapted to a synthetic study.

    The horizon population becomes the study's 2020 population times
    ``1 + horizon_growth`` with no "central districts" share (growth goes where it went
    2010–2020), and the district policies are dropped (they name Beijing districts).
    Everything else (demand, service, formats, limits) is kept.
    """
    total = float(study.zones["pop_2020"].sum()) * (1.0 + horizon_growth)
    return scenario.replace(
        name=f"{scenario.name} (synthetic)",
        horizon_total_population=max(total, 1.0),
        horizon_central_population=0.0,
        central_districts=(),
        districts={},
    )


def synthetic_scenario_toml(study: Study, *, horizon_growth: float = 0.10) -> str:
    """A scenario TOML (defaults + the changes of :func:`synthetic_scenario`) for ``study``."""
    total = float(study.zones["pop_2020"].sum()) * (1.0 + horizon_growth)
    return (
        f'name = "synthetic"\n'
        f'description = "defaults adapted to {study.source}"\n\n'
        "[horizon]\n"
        f"total_population = {max(round(total), 1)}\n"
        "central_population = 0\n\n"
        "# no district policies (the defaults name Beijing districts); add\n"
        "# [districts.910001] policy = \"expand\" ... as needed\n"
        "[districts]\n"
    )


STUDY_LAYERS: tuple[str, ...] = (
    "districts", "ring_roads", "ring_zones", "zones", "branches", "candidates")
"""The layers :func:`write_study` writes, in order."""


def write_study(study: Study, path: str | Path, *, force: bool = False) -> Path:
    """Write the study's layers to a GeoPackage (WGS84) readable by ``load_study``.

    The file is written whole and atomically. An existing file is replaced only with
    ``force``, and never when it holds layers other than :data:`STUDY_LAYERS` (they would
    be lost).

    Parameters
    ----------
    study
        The synthetic study.
    path
        A ``.gpkg`` file.
    force
        Replace an existing GeoPackage that holds only a study's layers.

    Returns
    -------
    Path
        ``path``.
    """
    from netplan.study.layers import write_layer
    from netplan.study.readers import gpkg_layers

    p = Path(path)
    if p.suffix.lower() != ".gpkg":
        raise NetplanError(f"synthetic study: write a .gpkg file, got {p}")
    check_new_file(p, force=force)
    if p.is_file():
        other = sorted(set(gpkg_layers(p)) - set(STUDY_LAYERS))
        if other:
            raise NetplanError(
                f"{p} holds other layers ({', '.join(other)}) that rewriting it would drop; "
                "netplan will not replace it, even with --force; choose another --out"
            )
    with atomic_path(p, force=force) as tmp:
        for kind in STUDY_LAYERS:
            gdf: gpd.GeoDataFrame = getattr(study, kind)
            if kind in ("zones", "branches", "candidates"):
                gdf = gdf.drop(columns=[c for c in ("ring_zone",) if c in gdf.columns])
            write_layer(gdf, tmp, layer=kind)
    return p
