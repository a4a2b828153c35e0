"""Chinese map coordinates (GCJ-02 "Mars", BD-09 Baidu) to and from WGS84, vectorised.

Chinese web maps publish coordinates in GCJ-02 (Amap/Gaode, Tencent, Google China) or
BD-09 (Baidu); both are obfuscated WGS84, a few hundred metres off in Beijing. netplan
works in WGS84 at its edges, so layers in those systems are converted on reading
(:func:`netplan.study.readers.read_layer` with ``coords="gcj02"`` / ``"bd09"``).

The forward transforms are the published formulas (the GCJ-02 offset polynomial on the
Krasovsky ellipsoid, ``a = 6378245``, ``e² = 0.00669342162296594323``; BD-09 as the
published polar twist of GCJ-02). Outside the bounding box of China (lon 73.66-135.05,
lat 3.86-53.55, the box of the published formula) GCJ-02 equals WGS84. The inverses have
no closed form: :func:`gcj02_to_wgs84` and :func:`bd09_to_gcj02` solve
``forward(x) = y`` by fixed-point iteration ``x ← x - (forward(x) - y)`` until every
point moves less than 1e-10° (≈ 0.01 mm), so a round trip is exact to that tolerance.

All functions take scalars or array-likes (broadcast together) and return a pair of
float64 numpy arrays ``(lon, lat)`` in degrees. NaN in, NaN out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from netplan._types import FloatArray

LonLat = tuple[FloatArray, FloatArray]

COORD_SYSTEMS: Final[tuple[str, ...]] = ("wgs84", "gcj02", "bd09")

_A: Final = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02
_EE: Final = 0.00669342162296594323  # its first eccentricity squared
_X_PI: Final = np.pi * 3000.0 / 180.0  # BD-09's twist constant
_TOL_DEG: Final = 1e-10  # stopping tolerance of the inverse iterations
_MAX_ITER: Final = 50


def _as_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a point lies outside China's bounding box, where GCJ-02 is WGS84.

    The box is the one of the published formula (lon 73.66-135.05, lat 3.86-53.55).
    """
    x, y = _as_arrays(lon, lat)
    inside = (x > 73.66) & (x < 135.05) & (y > 3.86) & (y < 53.55)
    return np.asarray(~inside)


def _offset(lon: FloatArray, lat: FloatArray) -> LonLat:
    """GCJ-02 minus WGS84 (degrees) at a WGS84 point; zero outside China."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    dlon = np.where(outside, 0.0, dlon)
    dlat = np.where(outside, 0.0, dlat)
    return np.asarray(dlon, dtype=np.float64), np.asarray(dlat, dtype=np.float64)


def _invert(forward: Callable[[FloatArray, FloatArray], LonLat], lon: FloatArray,
            lat: FloatArray, start: LonLat) -> LonLat:
    """Solve ``forward(x) = (lon, lat)`` by fixed-point iteration from ``start``."""
    x, y = start[0].copy(), start[1].copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        step_x = fx - lon
        step_y = fy - lat
        x -= step_x
        y -= step_y
        moved = np.maximum(np.abs(step_x), np.abs(step_y))
        if not np.any(moved > _TOL_DEG):  # NaN compares False: NaN inputs stop too
            break
    return x, y


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """WGS84 to GCJ-02 (the published forward formula; identity outside China).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(float(lon), 8), round(float(lat), 8)
    (116.4102445, 39.91640428)
    """
    x, y = _as_arrays(lon, lat)
    dx, dy = _offset(x, y)
    return x + dx, y + dy


def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """GCJ-02 to WGS84: the exact inverse of :func:`wgs84_to_gcj02` (to 1e-10°)."""
    x, y = _as_arrays(lon, lat)
    dx, dy = _offset(x, y)  # the usual one-step approximation, error ~1e-6°, as the start
    return _invert(wgs84_to_gcj02, x, y, (x - dx, y - dy))


def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """GCJ-02 to BD-09 (Baidu's published forward formula)."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_published(x: FloatArray, y: FloatArray) -> LonLat:
    x = x - 0.0065
    y = y - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """BD-09 to GCJ-02: the published inverse, refined to the exact inverse of
    :func:`gcj02_to_bd09` (to 1e-10°; the published formula alone is off by up to ~1e-6°)."""
    x, y = _as_arrays(lon, lat)
    return _invert(gcj02_to_bd09, x, y, _bd09_to_gcj02_published(x, y))


def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """WGS84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """BD-09 to WGS84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: Final[dict[str, Callable[[npt.ArrayLike, npt.ArrayLike], LonLat]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def check_coords(coords: str) -> str:
    """Return ``coords`` lower-cased if it names a known system, else raise ValueError."""
    key = coords.strip().lower().replace("-", "").replace("_", "")
    if key not in COORD_SYSTEMS:
        raise ValueError(
            f"unknown coordinate system {coords!r}; expected one of {', '.join(COORD_SYSTEMS)}"
        )
    return key


def geometry_to_wgs84(geoms: Any, *, coords: str) -> Any:
    """Convert shapely geometries (array-like or GeoSeries) from ``coords`` to WGS84.

    Every vertex is converted; ``coords="wgs84"`` returns the input unchanged. The result
    has the type shapely returns for the input (a numpy array of geometries, or a single
    geometry); callers wrap it back into a GeoSeries.
    """
    key = check_coords(coords)
    if key == "wgs84":
        return geoms
    convert = _TO_WGS84[key]

    def _xy(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        lon, lat = convert(points[:, 0], points[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _xy)
