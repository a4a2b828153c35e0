"""The metric CRS of a study, and guesses of the CRS of files that do not declare one.

A study measures distances in one metric CRS (:attr:`netplan.study.layers.Study.crs`):
the one its manifest names, or, for ``crs = "auto"``, the UTM zone of the study area
(:func:`utm_crs_for`). A file without a CRS (a Shapefile without ``.prj``, a CSV) gets a
guess from the size of its coordinates (:func:`crs_hint`) and, when the study area is
known, from which candidate CRS puts it there (:func:`candidate_crs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import shapely
from pyproj import CRS, Transformer

from netplan._errors import NetplanError

__all__ = [
    "AUTO", "BEIJING_CRS", "candidate_crs", "crs_hint", "looks_geographic", "metric_crs",
    "utm_crs_for",
]

AUTO: Final = "auto"
"""The manifest's ``crs`` value that picks the study area's UTM zone."""
BEIJING_CRS: Final = "EPSG:32650"
"""The metric CRS of the embedded Beijing study (UTM zone 50N), and the default."""


def utm_crs_for(lon: float, lat: float) -> str:
    """The WGS84 / UTM CRS of the zone holding a point: ``EPSG:326NN`` north, ``327NN`` south.

    The zone is ``floor((lon + 180) / 6) + 1`` (1..60); the exceptions of Norway and
    Svalbard are not applied.

    Parameters
    ----------
    lon, lat
        The point, degrees (WGS84).

    Returns
    -------
    str
        E.g. ``"EPSG:32650"`` for Beijing (116.4°E), ``"EPSG:32648"`` for Chengdu (104°E).

    Raises
    ------
    NetplanError
        A coordinate that is not a finite longitude/latitude.
    """
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise NetplanError(
            f"cannot pick a UTM zone for ({lon}, {lat}): not a longitude/latitude; check the "
            "districts layer's coordinates, or set crs = \"EPSG:...\" in study.toml"
        )
    zone = min(math.floor((lon + 180.0) / 6.0) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def metric_crs(value: str, area_wgs84: shapely.Geometry) -> str:
    """The metric CRS a study works in: ``value``, or for ``"auto"`` the area's UTM zone.

    Parameters
    ----------
    value
        ``"auto"`` or any CRS pyproj understands (``"EPSG:4544"``).
    area_wgs84
        The study area (union of the districts) in longitude/latitude.

    Returns
    -------
    str
        The CRS as ``"EPSG:NNNN"`` when it has an EPSG code, else as given.

    Raises
    ------
    NetplanError
        An unknown CRS, or a geographic one (degrees are no distances).
    """
    if value.strip().lower() == AUTO:
        c = shapely.centroid(area_wgs84)
        return utm_crs_for(float(c.x), float(c.y))
    try:
        crs = CRS.from_user_input(value)
    except Exception:
        raise NetplanError(
            f"crs = {value!r} is not a CRS pyproj knows; write crs = \"auto\" (the study "
            "area's UTM zone) or an EPSG code such as crs = \"EPSG:4544\""
        ) from None
    if not crs.is_projected:
        raise NetplanError(
            f"crs = {value!r} is not a projected CRS in metres (distances need one); write "
            "crs = \"auto\" (the study area's UTM zone) or a projected EPSG code such as "
            "\"EPSG:4544\""
        )
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else value


def looks_geographic(bounds: Sequence[float]) -> bool:
    """True if bounds ``(minx, miny, maxx, maxy)`` fit longitude/latitude degrees."""
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def crs_hint(bounds: Sequence[float]) -> str:
    """What the coordinates of a layer without CRS look like, and which CRS to try.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` of the layer as stored.

    Returns
    -------
    str
        A sentence naming the likely CRS family and example EPSG codes.
    """
    minx, miny, maxx, maxy = (float(b) for b in bounds)
    box = f"x {minx:,.6g}..{maxx:,.6g}, y {miny:,.6g}..{maxy:,.6g}"
    if not all(math.isfinite(b) for b in (minx, miny, maxx, maxy)):
        return "the layer has no usable coordinates to guess its CRS from"
    if looks_geographic(bounds):
        return (f"its coordinates ({box}) look like longitude/latitude degrees: try "
                "EPSG:4326 (and coords gcj02/bd09 if they come from Amap/Tencent/Baidu)")
    zone = int(minx // 1_000_000)
    if 13 <= zone <= 45 and int(maxx // 1_000_000) == zone:
        cgcs = (f"CGCS2000 3-degree Gauss-Krüger zone {zone}, EPSG:{4513 + zone - 25}"
                if zone >= 25 else
                f"CGCS2000 6-degree Gauss-Krüger zone {zone}, EPSG:{4491 + zone - 13}")
        return (f"its coordinates ({box}) are metres whose easting starts with a zone "
                f"number: likely {cgcs}")
    if 100_000 <= minx and maxx <= 900_000 and 0 <= miny and maxy <= 10_000_000:
        return (f"its coordinates ({box}) are metres in a transverse Mercator grid with a "
                "500 km false easting: likely a UTM zone (EPSG:326NN north) or CGCS2000 "
                "Gauss-Krüger by central meridian (EPSG:4534..4554, 3-degree: 4544 is 105°E)"
                "; not EPSG:4326")
    return (f"its coordinates ({box}) are not degrees but a projected grid (metres or "
            "feet); ask the data's source for its CRS; not EPSG:4326")


def _candidates(lon: float, lat: float) -> list[tuple[str, str]]:
    """CRSs worth trying near (lon, lat): WGS84, its UTM zone, CGCS2000 GK grids."""
    utm = utm_crs_for(lon, lat)
    cm3 = round(lon / 3.0) * 3  # 3-degree central meridian
    zone3 = cm3 // 3
    zone6 = int(lon // 6) + 1
    out = [("EPSG:4326", "WGS84 longitude/latitude"), (utm, f"WGS84 / UTM zone {utm[-2:]}")]
    if 75 <= cm3 <= 135:
        out += [(f"EPSG:{4534 + (cm3 - 75) // 3}", f"CGCS2000 / 3-degree Gauss-Krüger CM {cm3}E"),
                (f"EPSG:{4513 + zone3 - 25}", f"CGCS2000 / 3-degree Gauss-Krüger zone {zone3}")]
    if 13 <= zone6 <= 23:
        out += [(f"EPSG:{4502 + zone6 - 13}", f"CGCS2000 / Gauss-Krüger CM {zone6 * 6 - 3}E"),
                (f"EPSG:{4491 + zone6 - 13}", f"CGCS2000 / Gauss-Krüger zone {zone6}")]
    return out


def candidate_crs(
    coords: np.ndarray, area_wgs84: shapely.Geometry
) -> list[tuple[str, str, float]]:
    """CRSs that put a layer's coordinates inside the study area, best first.

    Parameters
    ----------
    coords
        ``(n, 2)`` sample of the layer's coordinates as stored.
    area_wgs84
        The study area in longitude/latitude.

    Returns
    -------
    list of (str, str, float)
        ``(crs, description, share of the sample inside the area)`` for every candidate
        that puts more than half of the sample inside it.
    """
    c = shapely.centroid(area_wgs84)
    shapely.prepare(area_wgs84)
    found: list[tuple[str, str, float]] = []
    xy = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return found
    for code, desc in _candidates(float(c.x), float(c.y)):
        if code == "EPSG:4326":
            lon, lat = xy[:, 0], xy[:, 1]
        else:
            tr = Transformer.from_crs(code, "EPSG:4326", always_xy=True)
            with np.errstate(all="ignore"):
                lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        ok = np.isfinite(lon) & np.isfinite(lat)
        inside = np.zeros(len(xy), dtype=bool)
        if ok.any():
            inside[ok] = shapely.covers(area_wgs84, shapely.points(lon[ok], lat[ok]))
        share = float(inside.mean())
        if share > 0.5:
            found.append((code, desc, share))
    return sorted(found, key=lambda t: -t[2])
