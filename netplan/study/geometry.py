"""Ring zones from ring roads, district / ring labelling.

Every feature netplan plans with carries two labels: the district (``adcode``) and the
ring zone (``ring_zone``). Ring zones come from whatever rings a study has, numbered by
the ring layer's ``ring`` column (any positive numbers, innermost first): for rings
``a < b < ... < z`` they are ``inside_a``, ``a_b``, ..., ``outside_z`` (Beijing's rings
2..6 give ``inside_2``, ``2_3`` ... ``outside_6``); a study without ring roads has one
zone, ``all``. This module derives the ring zones from ring-road lines and attaches both
labels to any layer with spatial joins (no Python loops over features).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan._errors import LayerError, ScenarioError

logger = logging.getLogger(__name__)

NO_RINGS = "all"
"""The one ring zone of a study without ring roads: the whole study area."""

RING_ZONES: tuple[str, ...] = ("inside_2", "2_3", "3_4", "4_5", "5_6", "outside_6")
"""Ring-zone labels of rings 2..6 (the embedded Beijing and the synthetic studies)."""

_ZONE = re.compile(r"^(?:inside_(\d+)|(\d+)_(\d+)|outside_(\d+))$")


def ring_zone_ids(rings: Iterable[int]) -> tuple[str, ...]:
    """The ring zones of a set of rings, innermost first.

    Parameters
    ----------
    rings
        Ring numbers (positive integers, any order, repeats allowed).

    Returns
    -------
    tuple of str
        ``inside_a``, ``a_b`` ... ``outside_z``; ``("all",)`` without rings.
    """
    rs = sorted({int(r) for r in rings})
    if not rs:
        return (NO_RINGS,)
    return (f"inside_{rs[0]}", *(f"{a}_{b}" for a, b in itertools.pairwise(rs)),
            f"outside_{rs[-1]}")


def ring_zone_bounds(rz: Any) -> tuple[int | None, int | None] | None:
    """``(inner ring, outer ring)`` of a ring zone id (``None`` for no ring on that side).

    Returns ``None`` for ``all`` and for ids that are no ring zone of :func:`ring_zone_ids`.
    """
    m = _ZONE.match("" if rz is None else str(rz))
    if m is None:
        return None
    inside, a, b, outside = m.groups()
    if inside is not None:
        return None, int(inside)
    if outside is not None:
        return int(outside), None
    return int(a), int(b)


def ring_zone_key(rz: Any) -> tuple[int, int, str]:
    """Sort key of ring zone ids: innermost first, unknown ids last (by name)."""
    bounds = ring_zone_bounds(rz)
    if bounds is None:
        return (0 if str(rz) == NO_RINGS else 2, 0, str(rz))
    inner, _ = bounds
    return (1, -1 if inner is None else inner, str(rz))


def ring_zone_order(zones: Iterable[Any]) -> list[str]:
    """Distinct ring zone ids (``None`` dropped), innermost first."""
    return sorted({str(z) for z in zones if z is not None and not pd.isna(z)}, key=ring_zone_key)


def rings_of(zones: Iterable[Any]) -> tuple[int, ...]:
    """The ring numbers that bound the given ring zones, ascending."""
    out: set[int] = set()
    for z in zones:
        bounds = ring_zone_bounds(z)
        if bounds is not None:
            out.update(r for r in bounds if r is not None)
    return tuple(sorted(out))


def outside_ring_mask(ring_zone: Sequence[Any] | np.ndarray, ring: int) -> np.ndarray:
    """Which features lie outside ring ``ring`` (their ring zone's inner ring is >= it).

    Parameters
    ----------
    ring_zone
        Ring zone ids of the features.
    ring
        A ring number.

    Returns
    -------
    numpy.ndarray
        Booleans; ``False`` for ``all``, missing and unknown ids.
    """
    values = pd.Series(np.asarray(ring_zone, dtype=object)).astype(str)
    outside = {}
    for z in values.unique():
        bounds = ring_zone_bounds(z)
        outside[z] = bounds is not None and bounds[0] is not None and bounds[0] >= ring
    return values.map(outside).to_numpy(dtype=bool)


def outside_ring_limit(ring_zones: Iterable[Any], ring: int, share: float | None
                       ) -> float | None:
    """The least share of outlets outside ring ``ring`` to plan with, for a study's ring zones.

    Parameters
    ----------
    ring_zones
        The study's ring zone ids (``Study.ring_zones["ring_zone"]``).
    ring, share
        The scenario's ``planning.outside_ring`` and ``planning.min_share_outside_ring``.

    Returns
    -------
    float or None
        ``share``; ``None`` (no constraint) for a study without ring roads.

    Raises
    ------
    ScenarioError
        ``share`` is set and the study has rings, but not ring ``ring``.
    """
    rings = rings_of(ring_zones)
    if share is None or not rings:
        if share is not None:
            logger.info("the study has no ring roads: planning without "
                        "planning.min_share_outside_ring")
        return None
    if ring not in rings:
        raise ScenarioError(
            f"planning.outside_ring = {ring}, but the study's ring roads are rings "
            f"{', '.join(map(str, rings))}; set planning.outside_ring to one of them, or "
            'planning.min_share_outside_ring = "none" to plan without the ring share'
        )
    return share


def _check_crs(gdf: gpd.GeoDataFrame, layer: str) -> None:
    if gdf.crs is None:
        raise LayerError(
            layer,
            [
                "the layer has no CRS; set it with `gdf.set_crs(...)` (files are read as "
                "WGS84 EPSG:4326 unless they say otherwise)"
            ],
        )


def ring_zones_from_rings(
    gdf_ring_roads: gpd.GeoDataFrame, gdf_districts: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Cut the study area into the ring zones of whatever rings the layer holds.

    Each ring road is turned into the area it encloses (the lines of one ring may come
    in several rows or parts, e.g. both carriageways of an OpenStreetMap extract; they
    are noded and polygonized together). Zone ``a_b`` is the area enclosed by ring ``b``
    but by no inner ring, so zones never overlap even if the rings cross; ``outside_z``
    is the rest of the study area. All zones are clipped to the union of the districts.
    Without ring roads the study area is one zone, ``all``.

    Parameters
    ----------
    gdf_ring_roads
        Ring roads with an integer column ``ring`` holding positive ring numbers (any
        number of rings, none included); any CRS.
    gdf_districts
        District polygons; reprojected to the CRS of ``gdf_ring_roads``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per zone of :func:`ring_zone_ids`, columns ``ring_zone`` and ``geometry``,
        in the CRS of ``gdf_ring_roads``. A zone that does not meet the study area is an
        empty polygon.

    Raises
    ------
    LayerError
        If a layer has no CRS, the ``ring`` column is missing, a ring number is not a
        positive integer or a ring's lines do not enclose any area.
    """
    _check_crs(gdf_ring_roads, "ring_roads")
    _check_crs(gdf_districts, "districts")
    if "ring" not in gdf_ring_roads.columns:
        raise LayerError(
            "ring_roads",
            [
                "column 'ring' is missing; it must hold the ring number (1, 2, ...: innermost "
                f"first) of each line; found columns {sorted(map(str, gdf_ring_roads.columns))}"
            ],
        )
    ring_no = pd.to_numeric(gdf_ring_roads["ring"], errors="coerce")
    bad = ring_no.isna() | (ring_no < 1) | (ring_no % 1 != 0)
    if bad.any():
        raise LayerError("ring_roads", [
            f"column 'ring' must hold positive whole numbers (the innermost ring smallest); "
            f"{int(bad.sum())} row(s) do not (values "
            f"{sorted(map(str, gdf_ring_roads['ring'][bad].unique()))[:10]}); renumber them"])
    rings = sorted({int(r) for r in ring_no})
    crs = gdf_ring_roads.crs
    problems: list[str] = []
    enclosed: list[shapely.Geometry] = []
    for k in rings:
        lines = gdf_ring_roads.geometry.values[(ring_no == k).to_numpy()]
        noded = shapely.union_all(lines)
        faces = shapely.polygonize(shapely.get_parts(noded))
        area = shapely.union_all(shapely.get_parts(faces))
        if area.is_empty or area.area <= 0:
            problems.append(
                f"ring {k}: its lines do not enclose any area; each ring must be a closed "
                "line (or lines that together close a loop)"
            )
        enclosed.append(area)
    if problems:
        raise LayerError("ring_roads", problems)

    study = shapely.union_all(gdf_districts.to_crs(crs).geometry.values)
    # Cumulative unions make the zones disjoint even when rings cross.
    cumulative = np.array(_accumulate(enclosed), dtype=object)
    inner = np.concatenate([np.array([shapely.Polygon()], dtype=object), cumulative])
    outer = np.concatenate([cumulative, np.array([study], dtype=object)])
    pieces = shapely.intersection(shapely.difference(outer, inner), study)
    pieces = shapely.make_valid(pieces)
    pieces = np.array([_polygonal(g) for g in pieces], dtype=object)
    return gpd.GeoDataFrame({"ring_zone": list(ring_zone_ids(rings))}, geometry=list(pieces),
                            crs=crs)


def _accumulate(geoms: list[shapely.Geometry]) -> list[shapely.Geometry]:
    out: list[shapely.Geometry] = []
    acc: shapely.Geometry = shapely.Polygon()
    for g in geoms:
        acc = shapely.union(acc, g)
        out.append(acc)
    return out


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Keep only the polygonal parts of ``geom`` (drops slivers of lines/points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def label_features(
    gdf: gpd.GeoDataFrame,
    *,
    gdf_districts: gpd.GeoDataFrame,
    gdf_ring_zones: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    """Attach the district (``adcode``) and ring zone (``ring_zone``) of every feature.

    Each feature is located by its representative point (the point itself for points).
    A point on a shared boundary gets the first matching reference feature in the order
    of the reference layer. Works in the CRS of ``gdf``; the reference layers are
    reprojected to it.

    Parameters
    ----------
    gdf
        Any layer with a CRS.
    gdf_districts
        Districts with a column ``adcode``.
    gdf_ring_zones
        Ring zones with a column ``ring_zone`` (see :func:`ring_zones_from_rings`).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``gdf`` with the columns ``adcode`` and ``ring_zone`` set (overwritten if
        present); ``None`` where a feature lies outside every district / ring zone.

    Raises
    ------
    LayerError
        If a layer has no CRS or a reference layer lacks its label column.
    """
    _check_crs(gdf, "features")
    for ref, name, col in (
        (gdf_districts, "districts", "adcode"),
        (gdf_ring_zones, "ring_zones", "ring_zone"),
    ):
        _check_crs(ref, name)
        if col not in ref.columns:
            raise LayerError(
                name,
                [
                    f"column '{col}' is missing; found columns {sorted(map(str, ref.columns))}; "
                    "labelling needs it"
                ],
            )
    out = gdf.copy()
    points = gpd.GeoDataFrame(
        geometry=gpd.GeoSeries(gdf.geometry.values, crs=gdf.crs).representative_point(),
        crs=gdf.crs,
    ).reset_index(drop=True)
    for ref, col in ((gdf_districts, "adcode"), (gdf_ring_zones, "ring_zone")):
        labels = _label_points(points, ref, col)
        out[col] = pd.Series(labels, index=out.index, dtype=object)
    return out


def _label_points(
    points: gpd.GeoDataFrame, ref: gpd.GeoDataFrame, col: str
) -> np.ndarray:
    ref_m = gpd.GeoDataFrame(
        {"_label": ref[col].astype(object).to_numpy(), "_order": np.arange(len(ref))},
        geometry=ref.to_crs(points.crs).geometry.values,
        crs=points.crs,
    )
    ref_m = ref_m[~(ref_m.geometry.is_empty | ref_m.geometry.isna())]
    labels = np.full(len(points), None, dtype=object)
    if len(points) == 0 or len(ref_m) == 0:
        return labels
    # Polygons on the left: sjoin then prepares them, so each point-in-polygon test is
    # cheap even for districts with thousands of vertices.
    joined = gpd.sjoin(ref_m, points, how="inner", predicate="intersects")
    joined = joined.sort_values(["index_right", "_order"], kind="stable")
    first = joined.drop_duplicates("index_right", keep="first")
    labels[first["index_right"].to_numpy()] = first["_label"].to_numpy()
    return labels
