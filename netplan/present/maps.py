"""Folium maps of a plan and of a diagnosis: one standalone HTML file that opens from disk.

What a map shows (plan)
-----------------------
* **Outlets** as markers coloured *and* shaped by the planned action (keep, open, close,
  upgrade, convert, relocate: hollow marker at the old site, star at the new one) with
  a legend; relocations as dashed arrows from the old to the new site.
* **Zones** (the ~1 km population cells) as a choropleth whose measure is chosen with
  the radio buttons of the layer list: population, inflow, unserved customers after the
  plan, distance to the serving outlet before / after, catchments (zones coloured by
  the outlet that serves them after the plan), or none. Each measure has its own legend.
* **Before / after**: the network before and after the plan as two layers coloured by
  expected wait, and three buttons (plan actions / network before / network after)
  that switch layers and zone measure together; a KPI panel with the overall figures
  before → after.
* **Context** (when a :class:`~netplan.layers.Study` is given): district outlines with
  names, ring roads, ring zones.
* Popups on every outlet (before → after: format, customers per peak hour, load
  against capacity, expected wait, catchment population, the reason of the action) and
  on every zone (population, inflow, distances, serving outlet before → after).

How it is built
---------------
Folium builds the page frame (map, tile layer, one ``FeatureGroup`` per layer, the layer
control); the data go into the page once as a JSON payload and a small inlined script
(``templates/map.js``) draws them. Zone geometry is stored once and restyled when the
measure changes, so six measures cost one geometry. Leaflet's JS/CSS are inlined
(vendored from the npm package ``leaflet`` 1.9.4, BSD-2-Clause, under
``templates/vendor/leaflet``): the page loads nothing from the network. Tiles are
optional (``tiles="none"`` gives a plain background); if they fail to load, the data
still draw. With ``tiles="gaode"`` every coordinate is shifted WGS84 → GCJ-02 to match
the Chinese tiles.

Every user string (names, ids, reasons, labels) is HTML-escaped in Python; the script
only sets raw ids as DOM attributes. Element ids are numbered in build order, so the
same input gives byte-identical HTML.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from netplan._errors import NetplanError
from netplan.present import texts as pr
from netplan.present.texts import esc

log = logging.getLogger(__name__)

__all__ = [
    "ACTION_STYLES",
    "TILES",
    "TILE_CHOICES",
    "diagnosis_map",
    "diagnosis_map_html",
    "plan_map",
    "plan_map_html",
]

COORD_DECIMALS = 5
"""Coordinates in the page are rounded to 1e-5 degree (about 1 m)."""

ZONE_SIMPLIFY_M = 20.0
CONTEXT_SIMPLIFY_M = 40.0


# --- tiles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TileSource:
    """A background tile service (optional: the data draw without it)."""

    key: str
    title: str
    url: str
    attribution: str
    subdomains: str
    gcj02: bool


TILES: Mapping[str, TileSource] = {
    "osm": TileSource(
        "osm", "OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        "contributors", "abc", False),
    "cartodb": TileSource(
        "cartodb", "CARTO Positron (light)",
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        'contributors &copy; <a href="https://carto.com/attributions">CARTO</a>', "abcd",
        False),
    "gaode": TileSource(
        "gaode", "Gaode / AutoNavi 高德地图 (GCJ-02)",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "&copy; AutoNavi 高德地图 (GCJ-02; netplan shifted its data to match)", "1234", True),
}
TILE_CHOICES: tuple[str, ...] = ("none", "osm", "cartodb", "gaode")


def _tile_source(tiles: str | None) -> TileSource | None:
    if tiles is None or str(tiles).lower() in ("none", ""):
        return None
    key = str(tiles).lower()
    if key not in TILES:
        raise NetplanError(
            f"unknown tile provider {tiles!r}; use one of {', '.join(TILE_CHOICES)} "
            "(none = plain background, works offline)"
        )
    return TILES[key]


# --- marker styles --------------------------------------------------------------------


@dataclass(frozen=True)
class MarkerStyle:
    """A marker: label (legend, tooltip), colour, shape, size in px and stacking order."""

    label: str
    color: str
    shape: str
    size: int
    z: int = 0


# Okabe-Ito colours (safe for colour-blind readers); shape carries the action too.
ACTION_STYLES: Mapping[str, MarkerStyle] = {
    "keep": MarkerStyle("keep", "#7a7a7a", "circle", 11, 0),
    "open": MarkerStyle("open", "#009e73", "triangle", 19, 500),
    "close": MarkerStyle("close", "#d55e00", "cross", 16, 300),
    "upgrade": MarkerStyle("upgrade", "#0072b2", "diamond", 18, 400),
    "convert": MarkerStyle("convert", "#cc79a7", "square", 15, 350),
    "relocate_old": MarkerStyle("relocate: old site", "#e69f00", "ring", 17, 200),
    "relocate_new": MarkerStyle("relocate: new site", "#e69f00", "star", 20, 450),
    "context": MarkerStyle("outside the planned area (unchanged)", "#9a9a9a", "dot", 9, -300),
}
ARROW_COLOR = "#e69f00"

WAIT_COLORS: tuple[str, ...] = ("#1a9850", "#a6d96a", "#fdae61", "#d73027", "#67001f")
LOAD_COLORS: tuple[str, ...] = ("#4575b4", "#91bfdb", "#1a9850", "#fdae61", "#d73027")
UNKNOWN_COLOR = "#bdbdbd"
CATCHMENT_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6",
)
RING_ZONE_COLORS: tuple[str, ...] = (
    "#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac",
)


def _svg(style: MarkerStyle) -> str:
    """Inline SVG of a marker (also used in the legend, so both always agree)."""
    s = style.size
    c = s / 2.0
    fill = style.color
    line = 'stroke="#222" stroke-width="1"'
    if style.shape == "circle" or style.shape == "dot":
        body = f'<circle cx="{c:g}" cy="{c:g}" r="{c - 1.5:g}" fill="{fill}" {line}/>'
        if style.shape == "dot":
            body = (f'<circle cx="{c:g}" cy="{c:g}" r="{c - 1.5:g}" fill="#fff" '
                    f'stroke="{fill}" stroke-width="2"/>')
    elif style.shape == "triangle":
        body = (f'<polygon points="{c:g},1 {s - 1:g},{s - 2:g} 1,{s - 2:g}" fill="{fill}" '
                f'{line}/>')
    elif style.shape == "diamond":
        body = (f'<polygon points="{c:g},1 {s - 1:g},{c:g} {c:g},{s - 1:g} 1,{c:g}" '
                f'fill="{fill}" {line}/>')
    elif style.shape == "square":
        body = (f'<rect x="2" y="2" width="{s - 4:g}" height="{s - 4:g}" fill="{fill}" '
                f'{line}/>')
    elif style.shape == "cross":
        d = f"M3 3 L{s - 3:g} {s - 3:g} M{s - 3:g} 3 L3 {s - 3:g}"
        body = (f'<path d="{d}" stroke="#fff" stroke-width="6" stroke-linecap="round"/>'
                f'<path d="{d}" stroke="{fill}" stroke-width="3.5" stroke-linecap="round"/>')
    elif style.shape == "ring":
        body = (f'<circle cx="{c:g}" cy="{c:g}" r="{c - 2:g}" fill="#fff" fill-opacity="0.85" '
                f'stroke="{fill}" stroke-width="3" stroke-dasharray="3 2"/>')
    elif style.shape == "star":
        pts = []
        for k in range(10):
            r = (c - 0.5) if k % 2 == 0 else (c - 0.5) * 0.45
            ang = -math.pi / 2 + k * math.pi / 5
            pts.append(f"{c + r * math.cos(ang):.1f},{c + 1 + r * math.sin(ang):.1f}")
        body = f'<polygon points="{" ".join(pts)}" fill="{fill}" {line}/>'
    else:  # pragma: no cover - all shapes above
        raise ValueError(style.shape)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" '
            f'viewBox="0 0 {s} {s}" aria-hidden="true">{body}</svg>')


def _icon_payload(styles: Mapping[str, MarkerStyle]) -> dict[str, Any]:
    return {k: {"html": _svg(v), "size": v.size, "z": v.z, "label": esc(v.label)}
            for k, v in styles.items()}


def _wait_styles(target_wait_min: float) -> dict[str, MarkerStyle]:
    tw = target_wait_min
    labels = (f"under {tw / 2:g} min", f"{tw / 2:g}–{tw:g} min (within target)",
              f"{tw:g}–{2 * tw:g} min (over target)", f"over {2 * tw:g} min",
              "saturated (queue grows without bound)")
    out = {f"w{k}": MarkerStyle(f"expected wait {lab}", col, "circle", 13, 100 * k)
           for k, (lab, col) in enumerate(zip(labels, WAIT_COLORS, strict=True))}
    out["wn"] = MarkerStyle("no figure", UNKNOWN_COLOR, "circle", 11, -100)
    return out


def _wait_class(wait_min: Any, target_wait_min: float) -> str:
    try:
        w = float(wait_min)
    except (TypeError, ValueError):
        return "wn"
    if math.isnan(w):
        return "wn"
    if math.isinf(w):
        return "w4"
    tw = target_wait_min
    return "w0" if w < tw / 2 else "w1" if w <= tw else "w2" if w <= 2 * tw else "w3"


def _load_styles(target_wait_min: float) -> dict[str, MarkerStyle]:
    labels = ("under 50 % (under-used)", "50–80 %", "80–100 % (busy, within target)",
              "100–120 % (overloaded)", "over 120 % (badly overloaded)")
    out = {f"u{k}": MarkerStyle(f"load {lab}", col, "circle", 13, 100 * k)
           for k, (lab, col) in enumerate(zip(labels, LOAD_COLORS, strict=True))}
    out["un"] = MarkerStyle("no figure", UNKNOWN_COLOR, "circle", 11, -100)
    return out


def _load_class(util: Any) -> str:
    u = pr.finite(util)
    if u is None:
        try:
            return "u4" if math.isinf(float(util)) else "un"
        except (TypeError, ValueError):
            return "un"
    return "u0" if u < 0.5 else "u1" if u < 0.8 else "u2" if u <= 1.0 + 1e-9 else (
        "u3" if u <= 1.2 else "u4")


# --- coordinates and geometry ---------------------------------------------------------


@dataclass(frozen=True)
class _Coords:
    """Metric geometries → (lat, lon) lists for the page, optionally shifted to GCJ-02."""

    gcj02: bool

    def lonlat(self, geoms: Any, crs: Any) -> NDArray[Any]:
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


def _polygons(geoms: NDArray[Any]) -> list[list[list[list[float]]]]:
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


def _lines(geom: Any) -> list[list[float]]:
    out = []
    for part in shapely.get_parts(np.asarray([geom], dtype=object)):
        if part.geom_type == "LineString":
            out.append(_ring_flat(np.asarray(part.coords), closed=False))
        elif part.geom_type == "Polygon":
            out.append(_ring_flat(np.asarray(part.exterior.coords), closed=False))
    return out


def _bounds(latlon: NDArray[np.float64]) -> list[list[float]]:
    if len(latlon) == 0:
        return [[39.4, 115.4], [41.1, 117.5]]
    lo = latlon.min(axis=0)
    hi = latlon.max(axis=0)
    return [[float(lo[0]), float(lo[1])], [float(hi[0]), float(hi[1])]]


def _clean(values: Any, nd: int) -> list[float | int | None]:
    """Numbers for the payload: rounded, NaN / inf → null."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr)
    r = np.round(np.where(ok, arr, 0.0), nd)
    if nd == 0:
        return [int(v) if k else None for v, k in zip(r.tolist(), ok.tolist(), strict=True)]
    return [v if k else None for v, k in zip(r.tolist(), ok.tolist(), strict=True)]


# --- zone measures --------------------------------------------------------------------


def _nice(x: float) -> float:
    """Round to two significant digits (legend breaks)."""
    if not math.isfinite(x) or x <= 0:
        return 0.0
    p = 10.0 ** (math.floor(math.log10(x)) - 1)
    return float(round(x / p) * p)


def _seq_breaks(values: NDArray[np.float64], qs: Sequence[float]) -> list[float]:
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return [1.0]
    out: list[float] = []
    for q in qs:
        b = _nice(float(np.quantile(v, q)))
        if b > 0 and (not out or b > out[-1]):
            out.append(b)
    return out or [_nice(float(v.max()))]


def _classify(values: Any, breaks: Sequence[float]) -> list[int]:
    """Upper-inclusive classes: ``v <= b[0]`` → 0, ``b[0] < v <= b[1]`` → 1, …; NaN → -1."""
    v = np.asarray(values, dtype=np.float64)
    cls = np.searchsorted(np.asarray(breaks, dtype=np.float64), v, side="left")
    cls = np.where(np.isfinite(v), cls, -1)
    out: list[int] = cls.astype(np.int64).tolist()
    return out


def _range_labels(breaks: Sequence[float], fmt: Any, unit: str = "") -> list[str]:
    u = f" {unit}" if unit else ""
    labels = [f"up to {fmt(breaks[0])}{u}"]
    labels += [f"{fmt(a)} – {fmt(b)}{u}" for a, b in itertools.pairwise(breaks)]
    labels.append(f"over {fmt(breaks[-1])}{u}")
    return labels


def _palette(name: str, n: int) -> list[str]:
    ramps = {
        "pop": ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"],
        "dist": ["#f7fcb9", "#addd8e", "#41b6c4", "#2c7fb8", "#253494", "#081d58"],
        "unserved": ["#f7f7f7", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"],
        "gain": ["#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15", "#67000d"],
    }
    ramp = ramps[name]
    if n <= len(ramp):
        idx = np.round(np.linspace(0, len(ramp) - 1, n)).astype(int)
        return [ramp[i] for i in idx]
    return [ramp[i % len(ramp)] for i in range(n)]


@dataclass
class _Measure:
    """One zone colouring: classes per zone, colours and the legend's rows."""

    key: str
    title: str
    legend_title: str
    classes: list[int]
    colors: list[str]
    labels: list[str]
    nodata_label: str = ""
    nodata: str = "#bdbdbd"
    nodata_opacity: float = 0.35
    opacity: float = 0.68
    opacities: list[float] | None = None
    note: str = ""

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "colors": self.colors, "nodata": self.nodata,
                               "nodata_opacity": self.nodata_opacity, "opacity": self.opacity}
        if self.opacities is not None:
            out["opacities"] = self.opacities
        return out

    def legend_html(self) -> str:
        rows = [
            f'<div class="netplan-legend-row"><span class="netplan-swatch" '
            f'style="background:{c}"></span>{esc(lab)}</div>'
            for c, lab in zip(self.colors, self.labels, strict=False)
        ]
        if self.nodata_label:
            rows.append(f'<div class="netplan-legend-row"><span class="netplan-swatch" '
                        f'style="background:{self.nodata}"></span>{esc(self.nodata_label)}</div>')
        note = f'<div class="netplan-note">{esc(self.note)}</div>' if self.note else ""
        return (f'<div class="netplan-legend-block netplan-measure-legend" '
                f'data-measure="{esc(self.key)}"><div class="netplan-legend-title">'
                f'{esc(self.legend_title)}</div>{"".join(rows)}{note}</div>')


def _population_measure(pop: NDArray[np.float64], year: Any, *, title: str) -> _Measure:
    breaks = _seq_breaks(pop, (0.2, 0.4, 0.6, 0.8, 0.95))
    n = len(breaks) + 1
    return _Measure("population", title, f"Residents per zone, {year}",
                    _classify(pop, breaks), _palette("pop", n),
                    _range_labels(breaks, lambda x: f"{x:,.0f}"),
                    note="Zones are ~1 km grid cells; population modelled from census totals.")


def _inflow_measure(inflow: NDArray[np.float64], *, title: str) -> _Measure:
    v = np.asarray(inflow, dtype=np.float64)
    fmt = (lambda x: f"{x:+,.0f}")  # noqa: E731
    if np.nanmin(v, initial=0.0) < 0:
        a = _seq_breaks(np.abs(v), (0.5, 0.9))
        a1 = a[0]
        a2 = a[1] if len(a) > 1 else 2 * a1
        breaks = [-a2, -a1, 0.0, a1, a2]
        colors = ["#2166ac", "#67a9cf", "#d1e5f0", "#fddbc7", "#ef8a62", "#b2182b"]
        labels = [f"loss of more than {a2:,.0f}", f"loss of {a1:,.0f} – {a2:,.0f}",
                  f"loss up to {a1:,.0f} (or none)", f"gain up to {a1:,.0f}",
                  f"gain of {a1:,.0f} – {a2:,.0f}", f"gain of more than {a2:,.0f}"]
    else:
        breaks = _seq_breaks(v, (0.2, 0.4, 0.6, 0.8, 0.95))
        colors = _palette("gain", len(breaks) + 1)
        labels = _range_labels(breaks, fmt)
    return _Measure("inflow", title, "Change in residents 2010 → 2020", _classify(v, breaks),
                    colors, labels, note="Red: the population grew (inflow); blue: it shrank.")


def _unserved_measure(unserved_per_h: NDArray[np.float64], *, title: str,
                      legend_title: str) -> _Measure:
    breaks = [0.0, 1.0, 3.0, 10.0]
    return _Measure("unserved", title, legend_title, _classify(unserved_per_h, breaks),
                    _palette("unserved", 5),
                    ["none", "up to 1 per hour", "1 – 3 per hour", "3 – 10 per hour",
                     "over 10 per hour"],
                    opacities=[0.12, 0.7, 0.75, 0.8, 0.85],
                    note="Peak-hour customers that no outlet within reach can take.")


DIST_BREAKS_M: tuple[float, ...] = (1000.0, 2000.0, 3000.0, 5000.0)


def _distance_measure(key: str, dist_m: NDArray[np.float64], *, title: str,
                      legend_title: str) -> _Measure:
    return _Measure(key, title, legend_title, _classify(dist_m, DIST_BREAKS_M),
                    _palette("dist", len(DIST_BREAKS_M) + 1),
                    _range_labels([b / 1000 for b in DIST_BREAKS_M], lambda x: f"{x:g}", "km"),
                    nodata_label="not served (no outlet within reach has room)",
                    nodata="#5a5a5a", nodata_opacity=0.55,
                    note="Travel distance (straight line × detour factor), population-"
                         "weighted over the outlets serving the zone.")


def _catchment_classes(zone_xy: NDArray[np.float64], serving: NDArray[np.int64],
                       cell_m: float) -> list[int]:
    """Colour index per zone so that neighbouring catchments differ (greedy colouring).

    Zones are neighbours when their centres are within 1.5 cells; outlets whose
    catchments touch are coloured in order of their index with the smallest colour no
    neighbour has (deterministic).
    """
    from scipy.spatial import cKDTree

    n_col = len(CATCHMENT_COLORS)
    served = serving >= 0
    if not served.any():
        return [-1] * len(serving)
    pairs = cKDTree(zone_xy).query_pairs(r=1.5 * cell_m, output_type="ndarray")
    a, b = serving[pairs[:, 0]], serving[pairs[:, 1]]
    keep = (a >= 0) & (b >= 0) & (a != b)
    edges = np.unique(np.sort(np.column_stack([a[keep], b[keep]]), axis=1), axis=0)
    outlets = np.unique(serving[served])
    nbrs: dict[int, set[int]] = {int(o): set() for o in outlets}
    for u, v in edges.tolist():
        nbrs[u].add(v)
        nbrs[v].add(u)
    colour: dict[int, int] = {}
    for o in sorted(nbrs):
        used = {colour[v] for v in nbrs[o] if v in colour}
        free = [c for c in range(n_col) if c not in used]
        colour[o] = free[0] if free else o % n_col
    return [colour[int(s)] if s >= 0 else -1 for s in serving.tolist()]


def _catchment_measure(key: str, classes: list[int], *, title: str) -> _Measure:
    return _Measure(key, title, "Catchments (zone → main serving outlet)", classes,
                    list(CATCHMENT_COLORS), [], nodata_label="no serving outlet",
                    nodata="#5a5a5a", nodata_opacity=0.5, opacity=0.55,
                    note="Each colour patch is the area one outlet mainly serves; neighbouring "
                         "catchments get different colours. Click a zone to see its outlet.")


def _none_measure() -> _Measure:
    return _Measure("none", "No zone colouring", "Zones hidden", [], [], [],
                    note="Choose a measure in the layer list to colour the zones.")


# --- page assembly --------------------------------------------------------------------


@dataclass
class _Page:
    """Everything one map page needs (texts plain unless the name ends in ``_html``)."""

    title: str
    payload: dict[str, Any]
    measures: list[_Measure]
    overlays: list[tuple[str, str, bool]]  # key, title (plain), shown at start
    panels_html: str
    bounds: list[list[float]]
    default_measure: str
    extra: dict[str, Any] = field(default_factory=dict)


def _asset(name: str) -> str:
    return resources.files("netplan.present").joinpath("templates", *name.split("/")).read_text(
        encoding="utf-8")


def _asset_b64(name: str) -> str:
    import base64

    data = resources.files("netplan.present").joinpath("templates", *name.split("/")).read_bytes()
    return base64.b64encode(data).decode("ascii")


def _leaflet_css() -> str:
    css = _asset("vendor/leaflet/leaflet.css")
    for img in ("layers.png", "layers-2x.png", "marker-icon.png"):
        data = _asset_b64(f"vendor/leaflet/images/{img}")
        css = css.replace(f"url(images/{img})", f"url(data:image/png;base64,{data})")
    return css


def _leaflet_js() -> str:
    js = _asset("vendor/leaflet/leaflet.js")
    lines = js.splitlines()
    return "\n".join(line for line in lines if not line.startswith("//# sourceMappingURL"))


def _script_json(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _inline_script(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def _deterministic_ids(root: Any) -> None:
    """Number every element of the tree in build order (replaces branca's uuid4 ids)."""
    counter = iter(range(1_000_000))
    seen: set[int] = set()

    def walk(el: Any) -> None:
        if id(el) in seen:
            return
        seen.add(id(el))
        el._id = f"{next(counter):04d}"
        for attr in ("header", "html", "script", "global_switches"):
            sub = getattr(el, attr, None)
            if sub is not None and hasattr(sub, "_children"):
                walk(sub)
        for child in list(el._children.values()):
            walk(child)

    walk(root)


def _render(page: _Page, *, tiles: TileSource | None) -> str:
    import folium
    from branca.element import Element, MacroElement
    from jinja2 import Template

    fig = folium.Figure(title=esc(page.title))
    m = folium.Map(location=None, tiles=None, control_scale=True, font_size="13px",
                   zoom_snap=0.25)
    m.default_js = []
    m.default_css = []
    fig.add_child(m)
    fig.header.add_child(Element('<meta name="viewport" content="width=device-width, '
                                 'initial-scale=1.0">'), name="netplan_viewport")
    fig.header.add_child(Element(f"<style>{_leaflet_css()}</style>"), name="leaflet_css")
    fig.header.add_child(Element(f"<style>{_asset('map.css')}</style>"), name="netplan_css")
    fig.header.add_child(Element(_inline_script(_leaflet_js())), name="leaflet_js")
    fig.header.add_child(Element(_inline_script(_asset("map.js"))), name="netplan_js")

    groups: dict[str, Any] = {}
    for meas in page.measures:
        g = folium.FeatureGroup(name=esc(meas.title), overlay=False, control=True,
                                show=meas.key == page.default_measure)
        m.add_child(g)
        groups[f"measure_{meas.key}"] = g
    for key, title, show in page.overlays:
        g = folium.FeatureGroup(name=esc(title), overlay=True, control=True, show=show)
        m.add_child(g)
        groups[key] = g
    if tiles is not None:
        folium.TileLayer(
            tiles=tiles.url, attr=tiles.attribution, subdomains=tiles.subdomains,
            name=esc(f"Background map: {tiles.title} (online; the data draw without it)"),
            overlay=True, control=True, show=True, max_zoom=18, max_native_zoom=18,
        ).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    m.fit_bounds(page.bounds)

    init: Any = MacroElement()  # type: ignore[no-untyped-call]
    init._name = "netplan_init"
    init._template = Template(
        "{% macro script(this, kwargs) %}\n"
        "netplanMap({{ this._parent.get_name() }}, {\n"
        "{%- for key, g in this.groups %}\n"
        "  {{ key|tojson }}: {{ g.get_name() }},\n"
        "{%- endfor %}\n"
        "}, JSON.parse(document.getElementById(\"netplan-data\").textContent));\n"
        "{% endmacro %}"
    )
    init.groups = list(groups.items())
    m.add_child(init)

    payload = dict(page.payload)
    payload["measures"] = [ms.payload() for ms in page.measures]
    payload["default_measure"] = page.default_measure
    fig.html.add_child(Element(
        '<div id="netplan-fallback" class="netplan-fallback">The map needs JavaScript; the '
        "figures below are still readable.</div>" + page.panels_html
        + f'<script type="application/json" id="netplan-data">{_script_json(payload)}</script>'
    ), name="netplan_panels")
    _deterministic_ids(fig)
    html_text: str = fig.render()
    return html_text


def _write(html_text: str, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html_text, encoding="utf-8")
    tmp.replace(out)
    log.info("map written to %s (%.1f MB)", out, len(html_text.encode("utf-8")) / 1e6)
    return out


# --- panels ---------------------------------------------------------------------------


def _kpi_table_html(rows: Sequence[pr.KpiRow], *, two_sided: bool = True) -> str:
    body = []
    for r in rows:
        cls = f' class="netplan-{r.change}"' if r.change else ""
        if two_sided:
            body.append(f"<tr><td>{esc(r.label)}</td><td>{esc(r.before)}</td><td>→</td>"
                        f"<td{cls}>{esc(r.after)}</td></tr>")
        else:
            body.append(f"<tr><td>{esc(r.label)}</td><td>{esc(r.after)}</td></tr>")
    head = ("<thead><tr><th></th><th>before</th><th></th><th>after</th></tr></thead>"
            if two_sided else "")
    return f'<table class="netplan-kpi">{head}<tbody>{"".join(body)}</tbody></table>'


def _legend_rows(styles: Mapping[str, MarkerStyle], counts: Mapping[str, int] | None = None,
                 keys: Sequence[str] | None = None) -> str:
    rows = []
    for k in keys if keys is not None else list(styles):
        st = styles[k]
        n = f" ({counts[k]:,})" if counts is not None and k in counts else ""
        rows.append(f'<div class="netplan-legend-row">{_svg(st)}<span>{esc(st.label)}{n}'
                    f"</span></div>")
    return "".join(rows)


def _arrow_legend_row() -> str:
    return (f'<div class="netplan-legend-row"><svg width="26" height="10" aria-hidden="true">'
            f'<line x1="1" y1="5" x2="18" y2="5" stroke="{ARROW_COLOR}" stroke-width="3" '
            f'stroke-dasharray="5 3"/><polygon points="25,5 16,0 18,5 16,10" '
            f'fill="{ARROW_COLOR}"/></svg><span>relocation: old site → new site</span></div>')


# --- plan map -------------------------------------------------------------------------


def _scenario_from_kpis(kpis: Mapping[str, Any]) -> Any | None:
    try:
        from netplan.model.scenario import scenario_from_dict

        sc = dict(kpis.get("scenario") or {})
        sc.pop("source", None)
        return scenario_from_dict(sc, source="plan kpis.json")
    except Exception:  # the popup just shows a dash then
        log.debug("scenario of the plan could not be rebuilt", exc_info=True)
        return None


def _before_sizes(plan: Any, study: Any | None) -> dict[str, tuple[int | None, int | None,
                                                                   float | None]]:
    """Counters, terminals and capacity at target of each site *before* the plan."""
    a = plan.actions
    out: dict[str, tuple[int | None, int | None, float | None]] = {}
    if "capacity_before_per_h" in a:
        for sid, cap in zip(a["site_id"].astype(str), a["capacity_before_per_h"], strict=True):
            out[sid] = (None, None, pr.finite(cap))
    if study is None:
        return out
    b = study.branches
    ids = b["branch_id"].astype(str).to_numpy()
    c = b["counters"].to_numpy(dtype=np.int64)
    t = b["terminals"].to_numpy(dtype=np.int64)
    caps: NDArray[np.float64] | None = None
    sc = _scenario_from_kpis(plan.kpis)
    if sc is not None and len(ids):
        try:
            from netplan.model import service

            caps = np.asarray(service.capacity_per_h(c, t, scenario=sc), dtype=np.float64)
        except Exception:
            log.debug("capacities before the plan could not be computed", exc_info=True)
    for k, sid in enumerate(ids):
        prev = out.get(sid)
        cap = prev[2] if prev and prev[2] is not None else (
            pr.finite(caps[k]) if caps is not None else None)
        out[sid] = (int(c[k]), int(t[k]), cap)
    return out


def _txt(x: Any) -> str:
    """A cell as text: ``None`` and NaN become ``""``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return str(x)


def _str_col(df: pd.DataFrame, col: str) -> NDArray[Any]:
    if col not in df:
        return np.full(len(df), "", dtype=object)
    return df[col].fillna("").astype(str).to_numpy(dtype=object)


def _float_col(df: pd.DataFrame, col: str) -> NDArray[np.float64]:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)


def _site_kind_text(kind: str) -> str:
    if kind in ("", "outlet"):
        return "existing outlet"
    return f"candidate site ({kind})"


def _outlet_popup(*, name: str, sid: str, sub: str, action_html: str,
                  rows: Sequence[tuple[str, str, str]], reason: str,
                  single: bool = False) -> str:
    trs = []
    for label, b, a in rows:
        if single:
            trs.append(f"<tr><td>{esc(label)}</td><td>{esc(a)}</td></tr>")
        else:
            trs.append(f"<tr><td>{esc(label)}</td><td>{esc(b)}</td><td>{esc(a)}</td></tr>")
    head = "" if single else "<thead><tr><th></th><th>before</th><th>after</th></tr></thead>"
    why = f'<p class="netplan-reason"><b>Why:</b> {esc(reason)}</p>' if reason else ""
    return (f'<div class="netplan-pop"><h4>{esc(name)}</h4><div class="netplan-sub">'
            f"{esc(sid)} · {esc(sub)}</div>{action_html}<table>{head}<tbody>{''.join(trs)}"
            f"</tbody></table>{why}</div>")


def plan_map_html(plan: Any, *, study: Any | None = None, tiles: str | None = "cartodb") -> str:
    """The plan's map as one HTML string (see :func:`plan_map`)."""
    from netplan.study.geometry import METRIC_CRS

    src = _tile_source(tiles)
    co = _Coords(gcj02=bool(src and src.gcj02))
    kpis: dict[str, Any] = dict(plan.kpis)
    year = kpis.get("year", "")
    tw = pr.target_wait(kpis) or 11.0
    names = pr.district_names(study)

    acts = plan.actions.sort_values("site_id", kind="stable").reset_index(drop=True)
    after = plan.sites_after.sort_values("site_id", kind="stable").reset_index(drop=True)
    zk = plan.zones_kpi.sort_values("zone_id", kind="stable").reset_index(drop=True)

    # --- the outlet table: every in-scope site of the plan, plus context sites ---------
    a_ids = acts["site_id"].astype(str).to_numpy(dtype=object)
    after_ids = after["site_id"].astype(str).to_numpy(dtype=object)
    in_actions = set(a_ids.tolist())
    ctx_mask = np.array([s not in in_actions for s in after_ids], dtype=bool)
    ids = np.concatenate([a_ids, after_ids[ctx_mask]])
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    geoms = np.concatenate([np.asarray(acts.geometry.values, dtype=object),
                            np.asarray(after.geometry.values, dtype=object)[ctx_mask]])[order]
    n = len(ids)
    idx_of = {s: k for k, s in enumerate(ids.tolist())}
    latlon = co.points(geoms, plan.actions.crs or METRIC_CRS)
    metric_xy = shapely.get_coordinates(shapely.centroid(geoms)) if n else np.zeros((0, 2))

    arow = {s: r for s, r in zip(a_ids.tolist(), acts.to_dict("records"), strict=True)}
    srow = {s: r for s, r in zip(after_ids.tolist(), after.to_dict("records"), strict=True)}
    sizes = _before_sizes(plan, study)

    zone_pop = _float_col(zk, "population")
    serve_b = _str_col(zk, "serving_before")
    serve_a = _str_col(zk, "serving_after")
    catch_b = pd.Series(zone_pop).groupby(serve_b).sum().to_dict()
    catch_a = pd.Series(zone_pop).groupby(serve_a).sum().to_dict()

    origin_of = {r["relocation_target"]: s for s, r in arow.items()
                 if r.get("action") == "relocate" and r.get("relocation_target")}

    icon_key: list[str] = []
    popups: list[str] = []
    name_html: list[str] = []
    before_layer: list[list[Any]] = []
    after_layer: list[list[Any]] = []
    for k, sid in enumerate(ids.tolist()):
        ar = arow.get(sid)
        sr = srow.get(sid)
        base = ar if ar is not None else (sr or {})
        name = _txt(base.get("name"))
        adcode = _txt(base.get("adcode"))
        kind = _txt(base.get("kind"))
        sub = " · ".join(x for x in (names.get(adcode, adcode),
                                     pr.ring_zone_label(base.get("ring_zone")),
                                     _site_kind_text(kind)) if x)
        act = _txt(ar.get("action")) if ar is not None else ""
        if sid in origin_of or (sr is not None and _txt(sr.get("relocated_from"))):
            key = "relocate_new"  # a move's new site: described in its origin's action row
        elif ar is None:
            key = "context"
        elif act == "relocate":
            key = "relocate_old"
        elif act in ACTION_STYLES:
            key = act
        else:
            key = "keep"
        fmt_b = _txt(ar.get("format_before")) if ar is not None else _txt(
            (sr or {}).get("format"))
        fmt_a = _txt(sr.get("format")) if sr is not None else ""
        existed = bool(fmt_b)
        is_open = sr is not None
        cb, tb, capb = sizes.get(sid, (None, None, None))
        arr_b = pr.finite(ar.get("arrivals_before_per_h")) if ar is not None else None
        arr_a = pr.finite(sr.get("arrivals_per_h")) if sr is not None else None
        wait_b = ar.get("wait_before_min") if ar is not None else None
        wait_a = sr.get("wait_min") if sr is not None else None
        util_a = pr.finite(sr.get("utilisation")) if sr is not None else None
        util_b = (arr_b / capb) if (arr_b is not None and capb) else None
        reason = _txt(ar.get("reason")) if ar is not None else ""
        style = ACTION_STYLES[key]
        if key == "relocate_old":
            tgt = _txt(ar.get("relocation_target")) if ar else ""
            tname = str((arow.get(tgt) or srow.get(tgt) or {}).get("name", tgt))
            what = f"relocate to {tname} ({tgt})"
        elif key == "relocate_new":
            org = origin_of.get(sid) or _txt((sr or {}).get("relocated_from"))
            oname = str((arow.get(org) or {}).get("name", org))
            what = f"new site of the outlet relocated from {oname} ({org})"
            reason = reason or _txt((arow.get(org) or {}).get("reason"))
        elif key == "context":
            what = "outside the planned area: unchanged (shown for context)"
        elif key in ("upgrade", "convert"):
            what = f"{act} ({fmt_b} → {fmt_a})"
        else:
            what = pr.ACTION_TEXT.get(key, key)
        action_html = (f'<div class="netplan-action" style="color:{style.color}">'
                       f"Planned action: {esc(what)}</div>")

        def servers(c: Any, t: Any) -> str:
            return pr.DASH if c is None or t is None else f"{int(c)} + {int(t)}"

        rows = [
            ("Format", fmt_b or "not open", fmt_a or "closed"),
            ("Counters + smart terminals",
             servers(cb, tb) if existed else pr.DASH,
             servers(sr.get("counters"), sr.get("terminals")) if sr is not None else pr.DASH),
            ("Customers at peak hour",
             f"{pr.num(arr_b, 1)} /h" if existed and arr_b is not None else pr.DASH,
             f"{pr.num(arr_a, 1)} /h" if is_open and arr_a is not None else pr.DASH),
            ("Load vs capacity at the target", pr.pct(util_b) if existed else pr.DASH,
             pr.pct(util_a) if is_open else pr.DASH),
            ("Expected wait", pr.wait_text(wait_b) if existed else pr.DASH,
             pr.wait_text(wait_a) if is_open else pr.DASH),
            ("Catchment population",
             pr.num(catch_b.get(sid)) if existed and sid in catch_b else pr.DASH,
             pr.num(catch_a.get(sid)) if is_open and sid in catch_a else pr.DASH),
        ]
        popups.append(_outlet_popup(name=name, sid=sid, sub=sub, action_html=action_html,
                                    rows=rows, reason=reason))
        name_html.append(esc(name))
        icon_key.append(key)
        if existed:
            before_layer.append([k, _wait_class(wait_b, tw) if ar is not None else "wn"])
        if is_open:
            after_layer.append([k, _wait_class(wait_a, tw)])

    # arrows
    arrows = []
    for sid in ids.tolist():
        ar = arow.get(sid)
        if ar is None or ar.get("action") != "relocate":
            continue
        tgt = _txt(ar.get("relocation_target"))
        if tgt not in idx_of:
            continue
        i, j = idx_of[sid], idx_of[tgt]
        (la0, lo0), (la1, lo1) = latlon[i], latlon[j]
        dist_km = float(np.hypot(*(metric_xy[j] - metric_xy[i]))) / 1000.0
        y0 = math.degrees(math.log(math.tan(math.pi / 4 + math.radians(la0) / 2)))
        y1 = math.degrees(math.log(math.tan(math.pi / 4 + math.radians(la1) / 2)))
        angle = round(-math.degrees(math.atan2(y1 - y0, lo1 - lo0)), 1)
        tip = (f"Relocation: {esc(ar.get('name'))} ({esc(sid)}) → "
               f"{name_html[j]} ({esc(tgt)}), {dist_km:.1f} km")
        arrows.append([float(la0), float(lo0), float(la1), float(lo1), angle, tip])

    # --- zones ------------------------------------------------------------------------
    inflow = _float_col(zk, "inflow")
    arrivals = _float_col(zk, "arrivals_per_h")
    keep_z = (np.nan_to_num(zone_pop) > 0) | (np.nan_to_num(inflow) != 0) | (
        np.nan_to_num(arrivals) > 0)
    zk = zk[keep_z].reset_index(drop=True)
    zone_pop, inflow, arrivals = zone_pop[keep_z], inflow[keep_z], arrivals[keep_z]
    serve_b, serve_a = serve_b[keep_z], serve_a[keep_z]
    unserved_a = _float_col(zk, "unserved_after")
    unserved_b = _float_col(zk, "unserved_before")
    dist_b = _float_col(zk, "dist_before_m")
    dist_a = _float_col(zk, "dist_after_m")
    zcrs = plan.zones_kpi.crs or METRIC_CRS
    zgeom = shapely.simplify(np.asarray(zk.geometry.values, dtype=object), ZONE_SIMPLIFY_M)
    zll = co.lonlat(zgeom, zcrs)
    zone_xy = (shapely.get_coordinates(shapely.centroid(np.asarray(zk.geometry.values,
                                                                   dtype=object)))
               if len(zk) else np.zeros((0, 2)))
    sb_idx = np.array([idx_of.get(s, -1) if s else -1 for s in serve_b.tolist()], np.int64)
    sa_idx = np.array([idx_of.get(s, -1) if s else -1 for s in serve_a.tolist()], np.int64)
    cell_m = float(np.sqrt(np.median(shapely.area(np.asarray(zk.geometry.values,
                                                             dtype=object))))) if len(zk) else 1.0
    z_ad = _str_col(zk, "adcode")
    d_keys = sorted(set(z_ad.tolist()))
    d_tab = [esc(names.get(d, d) or pr.DASH) for d in d_keys]
    d_idx = [d_keys.index(d) for d in z_ad.tolist()]
    unc_a = arrivals * np.nan_to_num(unserved_a)

    measures = [
        _population_measure(zone_pop, year,
                            title=f"Population {year} per ~1 km zone (modelled from census)"),
        _inflow_measure(inflow, title="Population inflow 2010 → 2020 per zone (modelled from "
                                      "census)"),
        _unserved_measure(unc_a, title="Unserved customers at peak after the plan (modelled)",
                          legend_title="Unserved customers per peak hour, after the plan"),
        _distance_measure("dist_before", dist_b,
                          title="Distance to the serving outlet before the plan (modelled)",
                          legend_title="Distance to the serving outlet, before"),
        _distance_measure("dist_after", dist_a,
                          title="Distance to the serving outlet after the plan (modelled)",
                          legend_title="Distance to the serving outlet, after"),
        _catchment_measure("catchment", _catchment_classes(zone_xy, sa_idx, cell_m),
                           title="Catchments after the plan: zones by serving outlet "
                                 "(modelled)"),
        _none_measure(),
    ]
    zrows: list[list[Any]] = [
        ["lookup", "District", "d", "districts"],
        ["num", esc(f"Residents {year}"), "pop", 0, ""],
        ["signed", "Inflow 2010 → 2020", "inflow", 0, ""],
        ["num", "Customers at peak hour", "arr", 1, "/h"],
        ["pair", "Distance to serving outlet", "db", "da", 2, "km"],
        ["pair", "Nearest outlet", "nb", "na", 2, "km"],
        ["pair", "Unserved share of customers", "ub", "ua", 1, "%"],
        ["outlet_pair", "Main serving outlet", "sb", "sa"],
    ]
    tables: dict[str, list[str]] = {"districts": d_tab}
    vals: dict[str, Any] = {
        "d": d_idx, "pop": _clean(zone_pop, 0), "inflow": _clean(inflow, 0),
        "arr": _clean(arrivals, 2), "db": _clean(dist_b / 1000.0, 2),
        "da": _clean(dist_a / 1000.0, 2),
        "nb": _clean(_float_col(zk, "nearest_before_m") / 1000.0, 2),
        "na": _clean(_float_col(zk, "nearest_after_m") / 1000.0, 2),
        "ub": _clean(100.0 * unserved_b, 1), "ua": _clean(100.0 * unserved_a, 1),
        "sb": sb_idx.tolist(), "sa": sa_idx.tolist(),
    }
    if "in_scope" in zk and not zk["in_scope"].astype(bool).all():
        tables["scope"] = ["no (neighbouring zone, shown for context)", "yes"]
        vals["sc"] = zk["in_scope"].astype(bool).astype(int).tolist()
        zrows.append(["lookup", "In the planned area", "sc", "scope"])
    zone_payload = {
        "title": "Zone", "id": [esc(z) for z in zk["zone_id"].astype(str)],
        "geom": _polygons(zll), "cls": {ms.key: ms.classes for ms in measures if ms.classes},
        "val": vals, "rows": zrows, "tables": tables,
        "note": "All figures modelled: population from census totals, customers and waits "
                "from the scenario's assumptions.",
    }

    # --- layers, context, panels ------------------------------------------------------
    wait_st = _wait_styles(tw)
    icons = _icon_payload({**ACTION_STYLES, **wait_st})
    net_src = _network_source(study)
    overlays: list[tuple[str, str, bool]] = [
        ("actions", f"Outlets: planned action (keep / open / close / upgrade / convert / "
                    f"relocate; {net_src})", True),
        ("relocations", "Relocations: arrow from the old to the new site (plan)", True),
        ("before", f"Network before the plan: outlets by expected wait ({net_src})", False),
        ("after", "Network after the plan: outlets by expected wait (modelled)", False),
    ]
    payload: dict[str, Any] = {
        "zones": zone_payload,
        "outlets": {"id": [str(s) for s in ids.tolist()], "id_html": [esc(s) for s in ids],
                    "name": name_html, "lat": latlon[:, 0].tolist() if n else [],
                    "lon": latlon[:, 1].tolist() if n else [], "popup": popups},
        "outlet_layers": {
            "actions": [[k, icon_key[k]] for k in _z_order(icon_key, ACTION_STYLES)],
            "before": before_layer, "after": after_layer,
        },
        "icons": icons, "arrows": arrows, "arrow_color": ARROW_COLOR,
        "control_heads": {"base": "Colour the ~1 km zones by",
                          "overlays": "Show on the map"},
        "views": {
            "actions": {"overlays": {"actions": True, "relocations": True, "before": False,
                                     "after": False}, "measure": None},
            "before": {"overlays": {"actions": False, "relocations": False, "before": True,
                                    "after": False}, "measure": "dist_before"},
            "after": {"overlays": {"actions": False, "relocations": True, "before": False,
                                   "after": True}, "measure": "dist_after"},
        },
        "default_view": "actions",
    }
    ctx_overlays, ctx_payload = _context(study, co)
    overlays += ctx_overlays
    payload.update(ctx_payload)

    counts = dict.fromkeys(ACTION_STYLES, 0)
    for ik in icon_key:
        counts[ik] += 1
    present = [k for k in ACTION_STYLES if counts[k] > 0 or k not in ("context",)]
    scope = pr.scope_text(kpis, names)
    solver = kpis.get("solver") or {}
    gap = pr.finite(solver.get("gap"))
    title = f"Branch network plan: {scope}"
    sc_name = pr.scenario_name(kpis)
    intro = (f"Demand of {year}, scenario “{sc_name}”, waiting target {tw:g} min. "
             f"Solver: {solver.get('status', '?')}"
             + (f", gap {100 * gap:.2f} %" if gap is not None else "") + ".")
    shift = (" Coordinates are shifted to GCJ-02 to sit on the Gaode background."
             if co.gcj02 else "")
    title_html = (
        f'<div id="netplan-title" class="netplan-panel"><h2>{esc(title)}</h2>'
        f"<p>{esc(intro)}</p>"
        '<div class="netplan-views" role="group" aria-label="before / after">'
        '<button type="button" data-view="actions">Plan actions</button>'
        '<button type="button" data-view="before">Network before</button>'
        '<button type="button" data-view="after">Network after</button></div>'
        '<details><summary>How to read this map</summary><p class="netplan-note">'
        "Markers are outlets, shaped and coloured by what the plan does with them (legend, "
        "bottom right). Click an outlet or a zone for its figures before → after. The "
        "buttons above switch between the plan's actions and the network before / after "
        "(outlets coloured by expected wait). The list at the top right chooses what "
        "colours the zones and which layers show. Every figure is modelled: outlets, "
        "population and customers come from the scenario's assumptions, not from "
        f"observations.{esc(shift)}</p></details></div>"
    )
    kpi_list = pr.kpi_rows((kpis.get("before") or {}).get("overall"),
                           (kpis.get("after") or {}).get("overall"), target_wait_min=tw)
    kpi_list += pr.cost_rows(kpis.get("costs") or {})
    acts_count = kpis.get("actions") or {}
    acts_text = ", ".join(f"{acts_count[a]} {a}" for a in
                          ("open", "close", "upgrade", "convert", "relocate", "keep")
                          if acts_count.get(a))
    kpi_html = (
        '<div id="netplan-kpi-panel" class="netplan-panel"><details open><summary>'
        f"Key figures of {esc(scope)}, before → after</summary>"
        f"{_kpi_table_html(kpi_list)}"
        f'<p class="netplan-note">Actions: {esc(acts_text) or pr.DASH}. Green = better, red '
        "= worse. Modelled figures.</p></details></div>"
    )
    legend_keys = [k for k in present if k != "context" or counts["context"]]
    legend_html = (
        '<div id="netplan-legend" class="netplan-panel netplan-legend">'
        '<div id="netplan-legend-actions" class="netplan-legend-block" '
        'data-layers="actions"><div class="netplan-legend-title">'
        "Outlets: planned action (count)</div>"
        f"{_legend_rows(ACTION_STYLES, counts, legend_keys)}</div>"
        '<div id="netplan-legend-arrows" class="netplan-legend-block" '
        f'data-layers="relocations">{_arrow_legend_row()}</div>'
        '<div id="netplan-legend-wait" class="netplan-legend-block" data-layers="before after">'
        f'<div class="netplan-legend-title">Outlets: expected wait at peak (target '
        f"{tw:g} min)</div>{_legend_rows(wait_st)}</div>"
        + "".join(ms.legend_html() for ms in measures) + "</div>"
    )
    page = _Page(title=title, payload=payload, measures=measures, overlays=overlays,
                 panels_html=title_html + kpi_html + legend_html,
                 bounds=_bounds(np.vstack([latlon, _zone_latlon(zll)])),
                 default_measure="population")
    return _render(page, tiles=src)


def _z_order(keys: Sequence[str], styles: Mapping[str, MarkerStyle]) -> list[int]:
    """Indices ordered so that important markers are added last (stable)."""
    return sorted(range(len(keys)), key=lambda k: (styles[keys[k]].z, k))


def _zone_latlon(zll: NDArray[Any]) -> NDArray[np.float64]:
    if len(zll) == 0:
        return np.zeros((0, 2))
    b = shapely.bounds(zll)
    ok = np.isfinite(b).all(axis=1)
    b = b[ok]
    return np.vstack([b[:, [1, 0]], b[:, [3, 2]]]) if len(b) else np.zeros((0, 2))


def _network_source(study: Any | None) -> str:
    if study is None or "source" not in study.branches:
        return "outlets of the plan"
    srcs = sorted(set(study.branches["source"].fillna("").astype(str)))
    if srcs == ["modelled"]:
        return "modelled network"
    return "network data: " + ", ".join(s for s in srcs if s)[:60]


def _context(study: Any | None, co: _Coords) -> tuple[list[tuple[str, str, bool]],
                                                      dict[str, Any]]:
    """District outlines, ring roads and ring zones of a study (nothing without one)."""
    if study is None:
        return [], {}
    overlays: list[tuple[str, str, bool]] = []
    payload: dict[str, Any] = {}
    d = study.districts.sort_values("adcode", kind="stable")
    if len(d):
        names = pr.district_names(study)
        g = co.lonlat(shapely.simplify(np.asarray(d.geometry.values, dtype=object),
                                       CONTEXT_SIMPLIFY_M), d.crs)
        payload["districts"] = [
            {"name": esc(names.get(str(a), str(a))), "geom": geom}
            for a, geom in zip(d["adcode"].astype(str), _polygons(g), strict=True)
        ]
        overlays.append(("districts", "Districts: boundaries and names (administrative)", True))
    r = study.ring_roads.sort_values("ring", kind="stable")
    if len(r):
        g = co.lonlat(shapely.simplify(np.asarray(r.geometry.values, dtype=object), 10.0), r.crs)
        col = r["source"].fillna("").astype(str) if "source" in r else pd.Series([], dtype=str)
        srcs = sorted({s.split(":")[0].strip() for s in col if s.strip()})
        label = f"Ring roads 2nd–6th ({', '.join(srcs)[:50]})" if srcs else "Ring roads"
        rows = []
        for rec, geom in zip(r.to_dict("records"), g, strict=True):
            nm = " ".join(_txt(rec.get(c)) for c in ("name_en", "name_zh")).strip()
            rows.append({"name": esc(nm or f"ring {rec.get('ring')}"), "geom": _lines(geom)})
        payload["ring_roads"] = rows
        overlays.append(("ring_roads", label, True))
    rz = study.ring_zones
    if len(rz):
        from netplan.study.geometry import RING_ZONES

        order = {z: k for k, z in enumerate(RING_ZONES)}
        rz = rz.assign(_o=rz["ring_zone"].map(lambda z: order.get(str(z), 99))).sort_values(
            ["_o", "ring_zone"], kind="stable")
        g = co.lonlat(shapely.simplify(np.asarray(rz.geometry.values, dtype=object),
                                       CONTEXT_SIMPLIFY_M), rz.crs)
        payload["ring_zones"] = [
            {"name": esc(f"Ring zone: {pr.ring_zone_label(z)}"), "geom": geom}
            for z, geom in zip(rz["ring_zone"].astype(str), _polygons(g), strict=True)
        ]
        payload["ring_zone_colors"] = list(RING_ZONE_COLORS)
        overlays.append(("ring_zones", "Ring zones: areas between the ring roads", False))
    return overlays, payload


def plan_map(plan: Any, *, study: Any | None = None, out: Path,
             tiles: str | None = "cartodb") -> Path:
    """Write the committee map of a plan: one standalone HTML file that works offline.

    Parameters
    ----------
    plan
        A :class:`netplan.plan.Plan` (layers in the metric CRS).
    study
        The study the plan was made from; adds district outlines and names, ring roads,
        ring zones and each outlet's size before the plan. Optional.
    out
        The HTML file to write (folders are created).
    tiles
        Background tiles: ``"cartodb"`` (default), ``"osm"``, ``"gaode"`` (GCJ-02: all data
        are shifted to match) or ``"none"`` / ``None`` (plain background). The data draw
        without the tiles, so the map works offline.

    Returns
    -------
    Path
        ``out``.
    """
    return _write(plan_map_html(plan, study=study, tiles=tiles), Path(out))


# --- diagnosis map --------------------------------------------------------------------


def diagnosis_map_html(study: Any, diagnosis: Any, *, adcode: str | None = None,
                       tiles: str | None = "cartodb") -> str:
    """The diagnosis map as one HTML string (see :func:`diagnosis_map`)."""
    src = _tile_source(tiles)
    co = _Coords(gcj02=bool(src and src.gcj02))
    names = pr.district_names(study)
    tw = float(diagnosis.target_wait_min)
    year = diagnosis.year

    outlets = diagnosis.outlets.reset_index(drop=True)
    br = study.branches.assign(_id=study.branches["branch_id"].astype(str))
    geo_of = dict(zip(br["_id"], br.geometry.values, strict=True))
    zones = diagnosis.zones.reset_index(drop=True)
    zg = study.zones.assign(_id=study.zones["zone_id"].astype(str))
    zgeo_of = dict(zip(zg["_id"], zg.geometry.values, strict=True))
    if adcode is not None:
        outlets = outlets[outlets["adcode"].astype(str) == adcode].reset_index(drop=True)
        zones = zones[zones["adcode"].astype(str) == adcode].reset_index(drop=True)
    outlets = outlets.sort_values("id", kind="stable").reset_index(drop=True)
    zones = zones.sort_values("zone_id", kind="stable").reset_index(drop=True)

    ids = outlets["id"].astype(str).to_numpy(dtype=object)
    idx_of = {s: k for k, s in enumerate(ids.tolist())}
    latlon = co.points(np.asarray([geo_of[s] for s in ids], dtype=object), study.branches.crs)
    pop = _float_col(zones, "population")
    serving = _str_col(zones, "serving")
    catch = pd.Series(pop).groupby(serving).sum().to_dict()
    popups: list[str] = []
    name_html: list[str] = []
    layer: list[tuple[int, str]] = []
    for k, r in enumerate(outlets.to_dict("records")):
        sid = str(r["id"])
        sub = " · ".join(x for x in (names.get(str(r["adcode"]), str(r["adcode"])),
                                     pr.ring_zone_label(r.get("ring_zone"))) if x)
        util = r.get("utilisation")
        cls = _load_class(util)
        over = bool(r.get("overloaded"))
        state = ("overloaded: expected wait above the target" if over else
                 "within the waiting target")
        action_html = (f'<div class="netplan-action" style="color:'
                       f'{LOAD_COLORS[int(cls[1])] if cls != "un" else UNKNOWN_COLOR}">'
                       f"{esc(state)}</div>")
        rows = [
            ("Format", "", str(r.get("format", ""))),
            ("Counters + smart terminals", "", f"{int(r['counters'])} + {int(r['terminals'])}"),
            ("Customers at peak hour", "", f"{pr.num(r.get('arrivals_per_h'), 1)} /h"),
            (f"Capacity at the {tw:g}-min target", "", f"{pr.num(r.get('capacity_per_h'), 1)} /h"),
            ("Load vs capacity at the target", "", pr.pct(util)),
            ("Busier queue's server utilisation", "", pr.pct(r.get("server_utilisation"))),
            ("Expected wait", "", pr.wait_text(r.get("wait_min"))),
            ("Catchment population", "", pr.num(catch.get(sid)) if sid in catch else pr.DASH),
        ]
        popups.append(_outlet_popup(name=str(r.get("name", "")), sid=sid, sub=sub,
                                    action_html=action_html, rows=rows, reason="",
                                    single=True))
        name_html.append(esc(r.get("name", "")))
        layer.append((k, cls))
    load_st = _load_styles(tw)
    layer.sort(key=lambda e: (load_st[e[1]].z, e[0]))

    keep_z = (np.nan_to_num(pop) > 0) | (np.nan_to_num(_float_col(zones, "arrivals_per_h")) > 0)
    zones = zones[keep_z].reset_index(drop=True)
    pop, serving = pop[keep_z], serving[keep_z]
    zgeom_m = np.asarray([zgeo_of[z] for z in zones["zone_id"].astype(str)], dtype=object)
    zll = co.lonlat(shapely.simplify(zgeom_m, ZONE_SIMPLIFY_M), study.zones.crs)
    zone_xy = shapely.get_coordinates(shapely.centroid(zgeom_m)) if len(zones) else np.zeros(
        (0, 2))
    s_idx = np.array([idx_of.get(s, -1) if s else -1 for s in serving.tolist()], np.int64)
    cell_m = float(np.sqrt(np.median(shapely.area(zgeom_m)))) if len(zones) else 1.0
    arrivals = _float_col(zones, "arrivals_per_h")
    unserved = _float_col(zones, "unserved_share")
    dist = _float_col(zones, "dist_m")
    z_ad = _str_col(zones, "adcode")
    d_keys = sorted(set(z_ad.tolist()))
    zone_infl = None
    if "inflow" in study.zones:
        inf_of = dict(zip(zg["_id"], zg["inflow"], strict=True))
        zone_infl = np.asarray([inf_of.get(z, np.nan) for z in zones["zone_id"].astype(str)],
                               dtype=np.float64)
    measures = [
        _unserved_measure(arrivals * np.nan_to_num(unserved),
                          title="Unserved customers at peak (modelled)",
                          legend_title="Unserved customers per peak hour"),
        _population_measure(pop, year,
                            title=f"Population {year} per ~1 km zone (modelled from census)"),
    ]
    if zone_infl is not None:
        measures.append(_inflow_measure(zone_infl, title="Population inflow 2010 → 2020 per "
                                                         "zone (modelled from census)"))
    measures += [
        _distance_measure("dist", dist, title="Distance to the serving outlet (modelled)",
                          legend_title="Distance to the serving outlet"),
        _catchment_measure("catchment", _catchment_classes(zone_xy, s_idx, cell_m),
                           title="Catchments: zones by serving outlet (modelled)"),
        _none_measure(),
    ]
    zrows: list[list[Any]] = [
        ["lookup", "District", "d", "districts"],
        ["num", esc(f"Residents {year}"), "pop", 0, ""],
        ["num", "Customers at peak hour", "arr", 1, "/h"],
        ["num", "Distance to serving outlet", "dist", 2, "km"],
        ["num", "Nearest outlet", "near", 2, "km"],
        ["num", "Unserved share of customers", "uns", 1, "%"],
        ["outlet", "Main serving outlet", "s"],
    ]
    zone_payload = {
        "title": "Zone", "id": [esc(z) for z in zones["zone_id"].astype(str)],
        "geom": _polygons(zll), "cls": {ms.key: ms.classes for ms in measures if ms.classes},
        "val": {"d": [d_keys.index(d) for d in z_ad.tolist()], "pop": _clean(pop, 0),
                "arr": _clean(arrivals, 2), "dist": _clean(dist / 1000.0, 2),
                "near": _clean(_float_col(zones, "nearest_m") / 1000.0, 2),
                "uns": _clean(100.0 * unserved, 1), "s": s_idx.tolist()},
        "rows": zrows, "tables": {"districts": [esc(names.get(d, d)) for d in d_keys]},
        "note": "All figures modelled from the scenario's assumptions.",
    }
    net_src = _network_source(study)
    overlays: list[tuple[str, str, bool]] = [
        ("outlets", f"Outlets by load at peak vs capacity at the {tw:g}-min target "
                    f"({net_src})", True),
    ]
    payload: dict[str, Any] = {
        "zones": zone_payload,
        "outlets": {"id": [str(s) for s in ids.tolist()], "id_html": [esc(s) for s in ids],
                    "name": name_html, "lat": latlon[:, 0].tolist() if len(ids) else [],
                    "lon": latlon[:, 1].tolist() if len(ids) else [], "popup": popups},
        "outlet_layers": {"outlets": [list(e) for e in layer]},
        "icons": _icon_payload(load_st),
        "control_heads": {"base": "Colour the ~1 km zones by", "overlays": "Show on the map"},
    }
    ctx_overlays, ctx_payload = _context(study, co)
    overlays += ctx_overlays
    payload.update(ctx_payload)
    k = diagnosis.kpis["overall"] if adcode is None else diagnosis.kpis["districts"][adcode]
    scope = "the whole city" if adcode is None else names.get(adcode, adcode)
    title = f"Current branch network: {scope}"
    intro = (f"Diagnosis with the demand of {year}, scenario “{diagnosis.scenario_name}”, "
             f"waiting target {tw:g} min.")
    title_html = (
        f'<div id="netplan-title" class="netplan-panel"><h2>{esc(title)}</h2>'
        f"<p>{esc(intro)}</p>"
        '<details><summary>How to read this map</summary><p class="netplan-note">'
        "Each dot is an outlet, coloured by its peak-hour load against its capacity at the "
        "waiting target (red = overloaded, blue = under-used). Zones are coloured by "
        "unserved customers; choose another measure in the list at the top right. Click "
        "an outlet or a zone for its figures. Every figure is modelled.</p></details></div>"
    )
    kpi_list = pr.kpi_rows(None, k, target_wait_min=tw)
    kpi_html = (
        f'<div id="netplan-kpi-panel" class="netplan-panel"><details open><summary>Key '
        f"figures of {esc(scope)}</summary>{_kpi_table_html(kpi_list, two_sided=False)}"
        '<p class="netplan-note">Modelled figures.</p></details></div>'
    )
    legend_html = (
        '<div id="netplan-legend" class="netplan-panel netplan-legend">'
        '<div id="netplan-legend-load" class="netplan-legend-block" data-layers="outlets">'
        f'<div class="netplan-legend-title">Outlets: peak load vs capacity at the {tw:g}-min '
        f"target</div>{_legend_rows(load_st)}</div>"
        + "".join(ms.legend_html() for ms in measures) + "</div>"
    )
    page = _Page(title=title, payload=payload, measures=measures, overlays=overlays,
                 panels_html=title_html + kpi_html + legend_html,
                 bounds=_bounds(np.vstack([latlon, _zone_latlon(zll)])),
                 default_measure="unserved")
    return _render(page, tiles=src)


def diagnosis_map(study: Any, diagnosis: Any, *, out: Path, adcode: str | None = None,
                  tiles: str | None = "cartodb") -> Path:
    """Write the map of a diagnosis of the current network (standalone HTML, offline).

    Outlets are coloured by their peak-hour load against their capacity at the waiting
    target (the popup gives the expected wait), zones by unserved customers (other
    measures: population, inflow, distance, catchments); districts, ring roads, ring
    zones, a legend and a KPI panel. With ``adcode``, only that district's outlets and
    zones, and its KPIs.
    """
    if adcode is not None and adcode not in diagnosis.kpis.get("districts", {}):
        raise NetplanError(
            f"district {adcode!r} is not in the diagnosis; use one of "
            f"{', '.join(sorted(diagnosis.kpis.get('districts', {})))}"
        )
    return _write(diagnosis_map_html(study, diagnosis, adcode=adcode, tiles=tiles), Path(out))
