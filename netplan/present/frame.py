"""The frame of a map page: background tiles, the layer list and the page's payload.

Every layer the page's script draws is a Leaflet feature group: one base layer per zone
measure (the radio buttons of the layer list) and one overlay per outlet or context
layer (the check boxes). The frame goes into the page's JSON payload, and
:func:`netplan.present.page.map_page` writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netplan._errors import NetplanError
from netplan.present.page import map_page
from netplan.present.texts import esc
from netplan.present.zones import Measure

__all__ = ["TILES", "TILE_CHOICES", "MapPage", "TileSource", "render", "tile_source"]


@dataclass(frozen=True)
class TileSource:
    """A background tile service (optional: the data draw without it)."""

    key: str
    title: str
    url: str
    attribution: str
    subdomains: str
    gcj02: bool


_PROVIDERS: tuple[tuple[str, str, str, bool], ...] = (
    # key, xyzservices provider, title, coordinates in GCJ-02
    ("osm", "OpenStreetMap.Mapnik", "OpenStreetMap", False),
    ("cartodb", "CartoDB.Positron", "CARTO Positron (light)", False),
    ("gaode", "Gaode.Normal", "Gaode / AutoNavi 高德地图 (GCJ-02)", True),
)


def _tile_sources() -> dict[str, TileSource]:
    """The online backgrounds, from xyzservices' provider table (https only)."""
    import warnings

    import xyzservices.providers as xyz

    out = {}
    for key, name, title, gcj02 in _PROVIDERS:
        p = xyz.query_name(name)
        with warnings.catch_warnings():  # xyzservices warns that CARTO may want a key
            warnings.simplefilter("ignore", UserWarning)
            url = p.build_url(fill_subdomain=False, scale_factor="{r}")
        out[key] = TileSource(key, title, url.replace("http://", "https://", 1),
                              p.html_attribution, str(p.get("subdomains", "")), gcj02)
    return out


TILES: Mapping[str, TileSource] = _tile_sources()
TILE_CHOICES: tuple[str, ...] = ("none", "osm", "cartodb", "gaode")


def tile_source(tiles: str | None) -> TileSource | None:
    """The tile service called ``tiles`` (``None`` / ``"none"``: no background).

    Parameters
    ----------
    tiles : str or None
        One of :data:`TILE_CHOICES` (case-insensitive).

    Returns
    -------
    TileSource or None

    Raises
    ------
    NetplanError
        For an unknown provider.
    """
    if tiles is None or str(tiles).lower() in ("none", ""):
        return None
    key = str(tiles).lower()
    if key not in TILES:
        raise NetplanError(
            f"unknown tile provider {tiles!r}; use one of {', '.join(TILE_CHOICES)} "
            "(none = plain background, works offline)"
        )
    return TILES[key]


@dataclass
class MapPage:
    """Everything one map page needs (texts plain unless the name ends in ``_html``).

    ``overlays`` holds ``(key, title, shown at start)`` with plain titles.
    """

    title: str
    payload: dict[str, Any]
    measures: list[Measure]
    overlays: list[tuple[str, str, bool]]
    panels_html: str
    bounds: list[list[float]]
    default_measure: str


def _frame(page: MapPage, tiles: TileSource | None) -> dict[str, Any]:
    base: list[Sequence[Any]] = [
        [f"measure_{m.key}", esc(m.title), m.key == page.default_measure]
        for m in page.measures]
    overlays: list[Sequence[Any]] = [[key, esc(title), show]
                                     for key, title, show in page.overlays]
    tile_info = None if tiles is None else {
        "url": tiles.url, "attribution": tiles.attribution, "subdomains": tiles.subdomains,
        "title": esc(f"Background map: {tiles.title} (online; the data draw without it)"),
    }
    return {"base": base, "overlays": overlays, "tiles": tile_info, "bounds": page.bounds}


def render(page: MapPage, *, tiles: TileSource | None) -> str:
    """The page as HTML: the frame and the layers' data in one JSON payload.

    Parameters
    ----------
    page : MapPage
        Layers, panels and bounds.
    tiles : TileSource or None
        The background tiles, if any.

    Returns
    -------
    str
        The HTML document (same input, same bytes).
    """
    payload = dict(page.payload)
    payload["measures"] = [ms.payload() for ms in page.measures]
    payload["default_measure"] = page.default_measure
    payload["frame"] = _frame(page, tiles)
    return map_page(title=page.title, panels_html=page.panels_html, data=payload)
