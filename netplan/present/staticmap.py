"""Static map images of a plan for the printed report: the city, and each district with
actions (PNG, drawn with matplotlib from the plan's own layers; offline and deterministic).

What is drawn: the zones shaded by residents (one set of classes for the city and every
district, :func:`population_classes`), the district outlines (the study's, or the zones'
outlines without a study) and the ring roads, then every site by its planned action with
the action registry's colour (kept outlets small and grey, the changes on top, a move as a
line from the old site to the new one). An image holds no text at all: its legend, title
and the district names are HTML next to it (:func:`legend_html`), so no font or user
string ever enters a picture.

The same plan gives the same bytes (no timestamp in the PNG).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from netplan.planning import actions
from netplan.present.texts import esc

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

__all__ = ["MapImages", "SiteMarkers", "legend_html", "plan_map_images", "population_classes",
           "site_markers"]

#: Fill colours of the population classes, lightest first (sequential, print-friendly).
POP_COLORS: tuple[str, ...] = ("#f7f7f7", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6")
#: Zones outside the planned area (a district plan's buffer) and empty zones.
OUT_OF_SCOPE_COLOR = "#fbfbfb"
RING_COLOR = "#555555"
CITY_SIZE_IN = (10.4, 5.9)
DISTRICT_SIZE_IN = (5.6, 4.4)
DPI = 110

#: matplotlib marker of each registry shape (unknown shapes are drawn as circles).
_MPL_MARKERS: Mapping[str, str] = {
    "circle": "o", "triangle": "^", "cross": "X", "diamond": "D", "square": "s",
    "ring": "o", "star": "*", "dot": ".",
}


@dataclass(frozen=True)
class MapImages:
    """PNG images of a plan as ``data:`` URIs.

    Attributes
    ----------
    city : str
        The whole planned area.
    districts : Mapping[str, str]
        One image per district (adcode) with at least one action that changes the network.
    classes : tuple of float
        Upper edges of the population classes (residents per zone), shared by all images.
    """

    city: str
    districts: Mapping[str, str]
    classes: tuple[float, ...]


def population_classes(population: Any, n: int = len(POP_COLORS)) -> tuple[float, ...]:
    """Upper edges of ``n`` population classes: quantiles of the zones with residents.

    Parameters
    ----------
    population : array-like
        Residents per zone (the planned area's zones).
    n : int
        Number of classes.

    Returns
    -------
    tuple of float
        ``n - 1`` increasing, rounded edges (a zone above the last edge is in the top class).
    """
    p = np.asarray(population, dtype=np.float64)
    p = p[np.isfinite(p) & (p > 0)]
    if p.size == 0:
        return ()
    qs = np.quantile(p, np.linspace(0, 1, n + 1)[1:-1])
    edges: list[float] = []
    for q in qs:
        mag = 10.0 ** max(0, math.floor(math.log10(max(q, 1.0))) - 1)
        v = float(round(q / mag) * mag)
        if not edges or v > edges[-1]:
            edges.append(v)
    return tuple(edges)


def _rings(geom: Any) -> list[np.ndarray[Any, Any]]:
    """Exterior rings of a (multi)polygon as coordinate arrays."""
    polys = shapely.get_parts(geom)
    return [shapely.get_coordinates(shapely.get_exterior_ring(p)) for p in polys
            if not shapely.is_empty(p)]


def _zone_collection(ax: Axes, zones: gpd.GeoDataFrame, edges: Sequence[float]) -> None:
    from matplotlib.collections import PolyCollection

    pop = pd.to_numeric(zones["population"], errors="coerce").fillna(0.0).to_numpy()
    scope = (zones["in_scope"].astype(bool).to_numpy() if "in_scope" in zones
             else np.ones(len(zones), bool))
    cls = np.searchsorted(np.asarray(edges, dtype=np.float64), pop, side="left")
    verts: list[np.ndarray[Any, Any]] = []
    colors: list[str] = []
    for geom, c, p, inside in zip(zones.geometry.values, cls, pop, scope, strict=True):
        color = POP_COLORS[min(int(c), len(POP_COLORS) - 1)] if inside and p > 0 \
            else OUT_OF_SCOPE_COLOR
        for ring in _rings(geom):
            verts.append(ring)
            colors.append(color)
    ax.add_collection(PolyCollection(verts, facecolors=colors, edgecolors="face",
                                     linewidths=0.3, zorder=1))


def _outline(ax: Axes, geoms: Sequence[Any], *, color: str, width: float, z: int,
             style: str = "-") -> None:
    from matplotlib.collections import LineCollection

    lines = [shapely.get_coordinates(part) for g in geoms if g is not None
             for part in shapely.get_parts(shapely.boundary(g) if g.geom_type.endswith(
                 "Polygon") else g)]
    if lines:
        ax.add_collection(LineCollection(lines, colors=color, linewidths=width,
                                         linestyles=style, zorder=z))


@dataclass(frozen=True)
class SiteMarkers:
    """Where each marker style is drawn, and the moves.

    Attributes
    ----------
    points : Mapping
        Marker key → ``(n, 2)`` coordinates.
    moves : ndarray
        ``(n, 2, 2)``: old site, new site of each move.
    adcode : Mapping
        Marker key → the district of each point.
    """

    points: Mapping[str, np.ndarray[Any, Any]]
    moves: np.ndarray[Any, Any]
    adcode: Mapping[str, np.ndarray[Any, Any]]

    def counts(self, adcode: str | None = None) -> dict[str, int]:
        """Sites per marker key, in one district or (``None``) in all.

        Parameters
        ----------
        adcode : str, optional
            The district.

        Returns
        -------
        dict of str to int
        """
        if adcode is None:
            return {k: len(v) for k, v in self.points.items()}
        return {k: int(np.sum(self.adcode[k] == adcode)) for k in self.points}


def site_markers(plan: Plan) -> SiteMarkers:
    """Every site of the plan by the marker style it is drawn with.

    Parameters
    ----------
    plan : Plan
        The plan.

    Returns
    -------
    SiteMarkers
    """
    a = plan.actions
    xy = shapely.get_coordinates(a.geometry.values)
    act = a["action"].fillna("").astype(str).to_numpy()
    ids = a["site_id"].astype(str).to_numpy()
    ad = a["adcode"].fillna("").astype(str).to_numpy() if "adcode" in a else \
        np.full(len(a), "", dtype=object)
    target = (a["relocation_target"].fillna("").astype(str).to_numpy()
              if "relocation_target" in a else np.full(len(a), "", dtype=object))
    pos = {sid: k for k, sid in enumerate(ids)}
    keys = np.full(len(a), "", dtype=object)
    moves = []
    for k, name in enumerate(act):
        if name in actions.BY_NAME:
            keys[k] = actions.action(name).markers[0].key
    for k, t in enumerate(target):
        if t and t != "nan" and t in pos and act[k] in actions.BY_NAME:
            marks = actions.action(act[k]).markers
            keys[pos[t]] = marks[-1].key
            moves.append([xy[k], xy[pos[t]]])
    points = {str(m): xy[keys == m] for m in dict.fromkeys(keys) if m}
    adcode = {str(m): ad[keys == m] for m in points}
    s = plan.sites_after
    if "in_scope" in s:
        ctx = ~s["in_scope"].astype(bool).to_numpy()
        points[actions.CONTEXT_MARKER.key] = shapely.get_coordinates(s.geometry.values[ctx])
        adcode[actions.CONTEXT_MARKER.key] = np.full(int(ctx.sum()), "", dtype=object)
    return SiteMarkers(points, np.asarray(moves, dtype=np.float64).reshape(-1, 2, 2), adcode)


def _draw_sites(ax: Axes, sites: SiteMarkers, *, scale: float) -> list[Any]:
    """Draw the sites (markers ``scale`` times their map size); returns the artists."""
    from matplotlib.collections import LineCollection

    styles = actions.markers()
    drawn: list[Any] = []
    if len(sites.moves):
        color = styles.get("relocate_new", actions.ACTIONS[0].markers[0]).color
        drawn.append(ax.add_collection(LineCollection(list(sites.moves), colors=color,
                                                      linewidths=1.0, zorder=5)))
    for key in sorted(sites.points, key=lambda k: styles[k].z if k in styles else 0):
        pts = sites.points[key]
        if not len(pts) or key not in styles:
            continue
        m = styles[key]
        quiet = m.z <= 0
        size = (m.size * scale * (0.55 if quiet else 1.0)) ** 2 / 9.0
        hollow = m.shape == "ring"
        drawn.append(ax.scatter(
            pts[:, 0], pts[:, 1], s=size, marker=_MPL_MARKERS.get(m.shape, "o"),
            facecolors="none" if hollow else m.color,
            edgecolors=m.color if hollow or quiet else "#222222",
            linewidths=1.4 if hollow else (0.0 if quiet else 0.4),
            zorder=10 + (m.z + 1000) / 1000.0))
    return drawn


def _extent(bounds: Sequence[float], size_in: tuple[float, float],
            margin: float = 0.04) -> tuple[float, float, float, float]:
    """Bounds grown to the figure's aspect ratio (equal scale on both axes)."""
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    w, h = w * (1 + 2 * margin), h * (1 + 2 * margin)
    aspect = size_in[0] / size_in[1]
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _districts(plan: Plan, study: Study | None) -> tuple[list[str], list[Any]]:
    """District adcodes and outlines (the study's, else dissolved from the plan's zones)."""
    crs = plan.zones_kpi.crs
    if study is not None and len(study.districts):
        d = study.districts
        if crs is not None and d.crs is not None and d.crs != crs:
            d = d.to_crs(crs)
        return d["adcode"].astype(str).tolist(), list(d.geometry.values)
    z = plan.zones_kpi
    if "adcode" not in z or not len(z):
        return [], []
    codes = sorted(set(z["adcode"].astype(str)))
    ad = z["adcode"].astype(str).to_numpy()
    return codes, [shapely.union_all(z.geometry.values[ad == c]) for c in codes]


def _changed_districts(plan: Plan) -> list[str]:
    a = plan.actions
    act = a["action"].fillna("").astype(str)
    changed = act.map(lambda n: n in actions.BY_NAME and actions.action(n).changes_network)
    return sorted(set(a.loc[changed.to_numpy(dtype=bool), "adcode"].astype(str)))


def _figure(size_in: tuple[float, float]) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size_in, dpi=DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_aspect("equal")
    return fig, ax


def _plan_bounds(plan: Plan) -> Sequence[float]:
    z = plan.zones_kpi
    scope = z["in_scope"].astype(bool).to_numpy() if "in_scope" in z else np.ones(len(z), bool)
    geoms = z.geometry.values[scope] if scope.any() else z.geometry.values
    if len(geoms):
        return [float(v) for v in shapely.total_bounds(geoms)]
    return [float(v) for v in shapely.total_bounds(plan.actions.geometry.values)]


def _draw_base(ax: Axes, plan: Plan, study: Study | None, edges: Sequence[float],
               outlines: Sequence[Any]) -> None:
    _zone_collection(ax, plan.zones_kpi, edges)
    _outline(ax, outlines, color="#8a8a8a", width=0.6, z=3)
    if study is not None and len(study.ring_roads):
        rings = study.ring_roads
        crs = plan.zones_kpi.crs
        if crs is not None and rings.crs is not None and rings.crs != crs:
            rings = rings.to_crs(crs)
        _outline(ax, list(rings.geometry.values), color=RING_COLOR, width=0.7, z=4,
                 style="--")


def plan_map_images(plan: Plan, study: Study | None = None) -> MapImages:
    """The city image and one image per district with actions.

    Parameters
    ----------
    plan : Plan
        The plan (layers in a metric CRS).
    study : Study, optional
        Gives the district outlines and the ring roads.

    Returns
    -------
    MapImages
        PNG ``data:`` URIs (same plan, same bytes).
    """
    z = plan.zones_kpi
    scope = z["in_scope"].astype(bool).to_numpy() if "in_scope" in z else np.ones(len(z), bool)
    edges = population_classes(z["population"].to_numpy()[scope]) if len(z) else ()
    codes, outlines = _districts(plan, study)
    sites = site_markers(plan)
    fig, ax = _figure(CITY_SIZE_IN)
    _draw_base(ax, plan, study, edges, outlines)
    drawn = _draw_sites(ax, sites, scale=0.8)
    x0, x1, y0, y1 = _extent(_plan_bounds(plan), CITY_SIZE_IN)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    city = _png(fig)
    images: dict[str, str] = {}
    by_code = dict(zip(codes, outlines, strict=True))
    fig.set_size_inches(*DISTRICT_SIZE_IN)
    for artist in drawn:
        artist.remove()
    _draw_sites(ax, sites, scale=1.25)  # a district's image prints smaller than the city's
    for ad in _changed_districts(plan):
        geom = by_code.get(ad)
        if geom is None:
            continue
        ext = _extent([float(v) for v in shapely.bounds(geom)], DISTRICT_SIZE_IN, margin=0.06)
        focus = _focus(geom, ext)
        for artist in focus:
            ax.add_artist(artist)
        ax.set_xlim(ext[0], ext[1])
        ax.set_ylim(ext[2], ext[3])
        images[ad] = _png(fig)
        for artist in focus:
            artist.remove()
    return MapImages(city=city, districts=images, classes=edges)


def _focus(geom: Any, extent: tuple[float, float, float, float]) -> list[Any]:
    """The district's outline, and a white veil over everything around it."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    lines = [shapely.get_coordinates(p) for p in shapely.get_parts(shapely.boundary(geom))]
    x0, x1, y0, y1 = extent
    veil = shapely.difference(shapely.box(x0, y0, x1, y1), geom)
    verts: list[np.ndarray[Any, Any]] = []
    codes: list[np.ndarray[Any, Any]] = []
    for poly in shapely.get_parts(veil):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords, dtype=np.float64)
            c = np.full(len(xy), Path.LINETO, dtype=np.uint8)
            c[0], c[-1] = Path.MOVETO, Path.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    out: list[Any] = [LineCollection(lines, colors="#111111", linewidths=2.0, zorder=31)]
    if verts:
        path = Path(np.concatenate(verts), np.concatenate(codes))
        out.append(PathPatch(path, facecolor="white", edgecolor="none", alpha=0.6, zorder=30))
    return out


def legend_html(counts: Mapping[str, int], classes: Sequence[float] | None = None, *,
                rings: bool = False) -> str:
    """The images' legend: marker styles with their counts, the population classes, rings.

    Parameters
    ----------
    counts : Mapping
        Sites per marker key (only styles with a count are listed).
    classes : sequence of float, optional
        Upper edges of the population classes (:attr:`MapImages.classes`); ``None``: not
        listed (a district's legend, under the city's).
    rings : bool
        List the ring roads.

    Returns
    -------
    str
        Escaped HTML.
    """
    items = []
    for key, m in actions.markers().items():
        n = counts.get(key, 0)
        if not n:
            continue
        swatch = (f'<span class="sw" style="border:2px solid {m.color}"></span>'
                  if m.shape == "ring" else
                  f'<span class="sw" style="background:{m.color}"></span>')
        items.append(f"<li>{swatch}{esc(m.label)} ({esc(n)})</li>")
    if classes is not None:
        lows = [0.0, *classes]
        for k, color in enumerate(POP_COLORS[: len(classes) + 1]):
            text = (f"more than {lows[k]:,.0f}" if k == len(classes)
                    else f"{lows[k]:,.0f}–{classes[k]:,.0f}")
            items.append(f'<li><span class="sw" style="background:{color}"></span>'
                         f"{esc(text)} residents per zone</li>")
    if rings:
        items.append(f'<li><span class="sw line" style="border-top:2px dashed {RING_COLOR}">'
                     "</span>ring roads</li>")
    return f'<ul class="legend">{"".join(items)}</ul>'
