"""Geometry and columns for the map's payload: metric shapes → rounded (lat, lon) lists.

Coordinates are rounded to 1e-5 degree (about 1 m); with Gaode tiles every coordinate is
shifted WGS84 → GCJ-02 to sit on the Chinese tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

__all__ = [
    "CONTEXT_SIMPLIFY_M",
    "COORD_DECIMALS",
    "ZONE_SIMPLIFY_M",
    "Coords",
    "bounds",
    "clean",
    "float_col",
    "lines",
    "polygons",
    "str_col",
    "txt",
    "zone_latlon",
]

COORD_DECIMALS = 5
"""Coordinates in the page are rounded to 1e-5 degree (about 1 m)."""

ZONE_SIMPLIFY_M = 20.0
CONTEXT_SIMPLIFY_M = 40.0


@dataclass(frozen=True)
class Coords:
    """Metric geometries → (lat, lon) lists for the page, optionally shifted to GCJ-02."""

    gcj02: bool

    def lonlat(self, geoms: Any, crs: Any) -> NDArray[Any]:
        """The geometries in WGS84 (or GCJ-02) longitude / latitude, as an object array."""
        import geopandas as gpd

        gs = gpd.GeoSeries(geoms, crs=crs).to_crs(4326)
        arr = np.asarray(gs.values, dtype=object)
        if self.gcj02:
            from netplan.study.coords import wgs84_to_gcj02

            def shift(xy: NDArray[np.float64]) -> NDArray[np.float64]:
                lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
                return np.column_stack([lon, lat])

            arr = np.asarray(shapely.transform(arr, shift), dtype=object)
        return arr

    def points(self, geoms: Any, crs: Any) -> NDArray[np.float64]:
        """``(n, 2)`` array of (lat, lon), rounded."""
        g = self.lonlat(geoms, crs)
        if len(g) == 0:
            return np.zeros((0, 2))
        xy = shapely.get_coordinates(shapely.centroid(g))
        out: NDArray[np.float64] = np.round(xy[:, ::-1], COORD_DECIMALS)
        return out


def _ring_flat(coords: NDArray[np.float64], *, closed: bool) -> list[float]:
    """A ring or line as a flat [lat, lon, lat, lon, ...] list (closing vertex dropped)."""
    xy = coords[:-1] if closed and len(coords) > 3 else coords
    out: list[float] = np.round(xy[:, 1::-1], COORD_DECIMALS).ravel().tolist()
    return out


def polygons(geoms: NDArray[Any]) -> list[list[list[list[float]]]]:
    """Per geometry: polygons → rings → flat coordinates (empty list when empty)."""
    out: list[list[list[list[float]]]] = [[] for _ in range(len(geoms))]
    if len(geoms) == 0:
        return out
    parts, idx = shapely.get_parts(geoms, return_index=True)
    for part, i in zip(parts, idx, strict=True):
        if part is None or part.is_empty or part.geom_type != "Polygon":
            continue
        rings = [np.asarray(part.exterior.coords)]
        rings += [np.asarray(r.coords) for r in part.interiors]
        out[int(i)].append([_ring_flat(r, closed=True) for r in rings])
    return out


def lines(geom: Any) -> list[list[float]]:
    """The lines (or polygon outlines) of one geometry as flat coordinate lists."""
    out = []
    for part in shapely.get_parts(np.asarray([geom], dtype=object)):
        if part.geom_type == "LineString":
            out.append(_ring_flat(np.asarray(part.coords), closed=False))
        elif part.geom_type == "Polygon":
            out.append(_ring_flat(np.asarray(part.exterior.coords), closed=False))
    return out


def bounds(latlon: NDArray[np.float64]) -> list[list[float]]:
    """South-west and north-east corners of (lat, lon) points (Beijing when empty)."""
    if len(latlon) == 0:
        return [[39.4, 115.4], [41.1, 117.5]]
    lo = latlon.min(axis=0)
    hi = latlon.max(axis=0)
    return [[float(lo[0]), float(lo[1])], [float(hi[0]), float(hi[1])]]


def zone_latlon(zll: NDArray[Any]) -> NDArray[np.float64]:
    """Corners of the zones' bounding boxes as (lat, lon) points (for the page's bounds)."""
    if len(zll) == 0:
        return np.zeros((0, 2))
    b = shapely.bounds(zll)
    ok = np.isfinite(b).all(axis=1)
    b = b[ok]
    return np.vstack([b[:, [1, 0]], b[:, [3, 2]]]) if len(b) else np.zeros((0, 2))


def clean(values: Any, nd: int) -> list[float | int | None]:
    """Numbers for the payload: rounded, NaN / inf → null."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr)
    r = np.round(np.where(ok, arr, 0.0), nd)
    if nd == 0:
        return [int(v) if k else None for v, k in zip(r.tolist(), ok.tolist(), strict=True)]
    return [v if k else None for v, k in zip(r.tolist(), ok.tolist(), strict=True)]


def txt(x: Any) -> str:
    """A cell as text: ``None`` and NaN become ``""``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return str(x)


def str_col(df: pd.DataFrame, col: str) -> NDArray[Any]:
    """A column as strings (missing column or cells → ``""``)."""
    if col not in df:
        return np.full(len(df), "", dtype=object)
    return df[col].fillna("").astype(str).to_numpy(dtype=object)


def float_col(df: pd.DataFrame, col: str) -> NDArray[np.float64]:
    """A column as floats (missing column or cells → NaN)."""
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
