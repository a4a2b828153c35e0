"""Ring zones from ring roads, district / ring labelling, and the metric CRS.

Every feature netplan plans with carries two labels: the district (``adcode``) and the
ring zone (``ring_zone``: inside the 2nd ring, between the 2nd and 3rd ... outside the
6th). This module derives the ring zones from ring-road lines and attaches both labels
to any layer with spatial joins (no Python loops over features).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan._errors import LayerError

logger = logging.getLogger(__name__)

METRIC_CRS = "EPSG:32650"
"""The CRS netplan works in: UTM zone 50N (metres), which covers Beijing."""

RING_ZONES: tuple[str, ...] = ("inside_2", "2_3", "3_4", "4_5", "5_6", "outside_6")
"""Ring-zone labels, innermost first."""

OUTSIDE_RING5: frozenset[str] = frozenset({"5_6", "outside_6"})
"""The ring zones that count as "outside the 5th ring"."""

RINGS: tuple[int, ...] = (2, 3, 4, 5, 6)
"""The ring roads a ring-road layer must hold (column ``ring``)."""


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
    """Cut the study area into the ring zones ``inside_2`` ... ``outside_6``.

    Each ring road is turned into the area it encloses (the lines of one ring may come
    in several rows or parts, e.g. both carriageways of an OpenStreetMap extract; they
    are noded and polygonized together). Zone ``k_(k+1)`` is the area enclosed by ring
    ``k+1`` but by no inner ring, so zones never overlap even if the rings cross;
    ``outside_6`` is the rest of the study area. All zones are clipped to the union of
    the districts.

    Parameters
    ----------
    gdf_ring_roads
        Ring roads with an integer column ``ring`` holding 2, 3, 4, 5 and 6; any CRS.
    gdf_districts
        District polygons; reprojected to the CRS of ``gdf_ring_roads``.

    Returns
    -------
    geopandas.GeoDataFrame
        Six rows, columns ``ring_zone`` (in :data:`RING_ZONES` order) and ``geometry``, in
        the CRS of ``gdf_ring_roads``. A zone that does not meet the study area is an empty
        polygon.

    Raises
    ------
    LayerError
        If a layer has no CRS, the ``ring`` column is missing, a ring is missing or a
        ring's lines do not enclose any area.
    """
    _check_crs(gdf_ring_roads, "ring_roads")
    _check_crs(gdf_districts, "districts")
    if "ring" not in gdf_ring_roads.columns:
        raise LayerError(
            "ring_roads",
            [
                "column 'ring' is missing; it must hold the ring number (2..6) of each line; "
                f"found columns {sorted(map(str, gdf_ring_roads.columns))}"
            ],
        )
    ring_no = pd.to_numeric(gdf_ring_roads["ring"], errors="coerce")
    problems = [
        f"ring {k} is missing (column 'ring' holds {sorted(set(ring_no.dropna().astype(int)))}); "
        "the layer needs one or more closed lines for each of the rings 2, 3, 4, 5 and 6"
        for k in RINGS
        if not (ring_no == k).any()
    ]
    if problems:
        raise LayerError("ring_roads", problems)

    crs = gdf_ring_roads.crs
    enclosed: list[shapely.Geometry] = []
    for k in RINGS:
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
    cumulative = np.array(list(_accumulate(enclosed)), dtype=object)
    inner = np.concatenate([[shapely.Polygon()], cumulative])
    outer = np.concatenate([cumulative, [study]])
    pieces = shapely.intersection(shapely.difference(outer, inner), study)
    pieces = shapely.make_valid(pieces)
    pieces = np.array([_polygonal(g) for g in pieces], dtype=object)
    return gpd.GeoDataFrame({"ring_zone": list(RING_ZONES)}, geometry=list(pieces), crs=crs)


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
