"""Maps of a plan and of a diagnosis: one standalone HTML file that opens from disk.

What a map shows (plan)
-----------------------
* **Outlets** as markers coloured *and* shaped by the planned action (the markers of the
  action registry, :mod:`netplan.planning.actions`; a move shows a hollow marker at the
  old site and a star at the new one); relocations as dashed arrows from the old to the
  new site. Kept outlets are small grey dots, and closures and the old sites of moves are
  drawn over everything else, so the changes show at the opening zoom.
* **Zones** (the population cells) coloured by one measure chosen in the side panel:
  residents per km², inflow, unserved customers before / after / their change, distance to
  the outlets used before / after / its change, catchments, or none. The classes are fixed
  and documented (:mod:`netplan.present.zones`), the same on every map; a zone nobody
  serves is grey only when it has unserved customers, shaded by how many.
* **Find and filter**: a search box (branch name or id), a district filter, the action
  legend as a filter (untick an action to hide it), and a sortable table of every site
  linked both ways with the map (a row shows its outlet and opens its popup; an outlet
  highlights its row). Clicking an outlet shades its catchment: the zones whose customers
  go there under the behaviour rule (the plan's ``assignment`` layer).
* **Presets**: all actions, changes only, the network before / after (outlets coloured
  by expected wait); a KPI panel with the overall figures before → after from the
  behaviour model, naming its rule.
* **Context** (with a :class:`~netplan.study.layers.Study`): the districts (also the
  background: the map is private and offline by default), ring roads, ring zones, metro
  stations and the candidate sites the plan did not choose. A district's plan is framed
  on its district, outlined, with the rest dimmed.
* Popups on every outlet (before → after: format, customers per peak hour, load
  against capacity, expected wait, catchment population, the reason of the action) and
  on every zone.

How it is built
---------------
The page is fixed markup (:mod:`netplan.present.page`, :mod:`netplan.present.panels`): a
side panel beside the map (below it on a narrow screen, collapsible), styled from the
``<head>``. The data go into it once, as a JSON payload that a small inlined script
(``templates/map.js``) draws with Leaflet. Zone geometry is stored once and restyled when
the measure changes. Leaflet is inlined: the page loads nothing from the network unless
online tiles are asked for (``tiles="osm"``, ``"cartodb"``, ``"gaode"``, from
xyzservices' provider table; with ``"gaode"`` every coordinate is shifted WGS84 → GCJ-02).
:func:`map_screenshot` saves a PNG of a page with headless Chromium.

Folium is not used: it renders its pages through Jinja templates, and no template engine
may see a user's string (see :mod:`netplan.present.page`).

Every user string (names, ids, reasons, labels) is HTML-escaped in Python before it
enters the payload, and the payload is JSON with ``<``, ``>`` and ``&`` escaped: no user
text is ever read as markup or as a template. The script only sets raw ids as DOM
attributes. The same input gives byte-identical HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from netplan._errors import NetplanError
from netplan._io import atomic_write_text
from netplan.present import texts as pr
from netplan.present.context import (
    context_layers,
    context_legends,
    focus_layer,
    kpi_table_html,
    network_source,
    outlet_popup,
)
from netplan.present.frame import TILE_CHOICES, TILES, MapPage, render, tile_source
from netplan.present.geo import (
    ZONE_SIMPLIFY_M,
    Coords,
    bounds,
    clean,
    float_col,
    polygons,
    str_col,
    zone_latlon,
)
from netplan.present.markers import (
    LOAD_COLORS,
    UNKNOWN_COLOR,
    icon_payload,
    legend_rows,
    load_class,
    load_styles,
)
from netplan.present.panels import find_section, kpi_section, layers_section, title_section
from netplan.present.panels import zones_section as zones_panel
from netplan.present.plan_layers import plan_page
from netplan.present.texts import esc
from netplan.present.zones import (
    Measure,
    catchment_classes,
    catchment_measure,
    density_measure,
    distance_measure,
    inflow_measure,
    none_measure,
    unserved_measure,
)

if TYPE_CHECKING:
    from netplan.planning.diagnose import Diagnosis
    from netplan.planning.phases import PhasedFolder
    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

log = logging.getLogger(__name__)

__all__ = [
    "SCREENSHOT_SIZE",
    "TILES",
    "TILE_CHOICES",
    "diagnosis_map",
    "diagnosis_map_html",
    "map_screenshot",
    "phased_map",
    "phased_map_html",
    "plan_map",
    "plan_map_html",
    "require_screenshot_browser",
]

SCREENSHOT_SIZE: tuple[int, int] = (1600, 1000)
"""Width and height in pixels of a map's screenshot (:func:`map_screenshot`)."""


def _write(html_text: str, out: Path, *, force: bool, inputs: Sequence[Path]) -> Path:
    atomic_write_text(out, html_text, force=force, inputs=inputs)
    log.info("map written to %s (%.1f MB)", out, len(html_text.encode("utf-8")) / 1e6)
    return out


# --- plan map -------------------------------------------------------------------------


def plan_map_html(plan: Plan, *, study: Study | None = None,
                  tiles: str | None = "none") -> str:
    """The plan's map as one HTML string (see :func:`plan_map`).

    Parameters
    ----------
    plan : Plan
        The plan (layers in the metric CRS).
    study : Study, optional
        Adds district outlines and names, ring roads, ring zones and each outlet's size
        before the plan.
    tiles : str or None
        Background tiles (see :func:`plan_map`).

    Returns
    -------
    str
        The HTML document.
    """
    src = tile_source(tiles)
    page = plan_page(plan, study=study, co=Coords(gcj02=bool(src and src.gcj02)))
    return render(page, tiles=src)


def plan_map(plan: Plan, *, study: Study | None = None, out: Path,
             tiles: str | None = "none", force: bool = False,
             inputs: Sequence[Path] = ()) -> Path:
    """Write the committee map of a plan: one standalone HTML file that works offline.

    Parameters
    ----------
    plan : Plan
        The plan (layers in the metric CRS).
    study : Study, optional
        The study the plan was made from; adds district outlines and names, ring roads,
        ring zones and each outlet's size before the plan.
    out : Path
        The HTML file to write (folders are created).
    tiles : str or None
        Background: ``"none"`` / ``None`` (default: the study's own layers draw the
        background, districts, ring roads and metro stations; the page asks the network
        for nothing), or online tiles ``"osm"``, ``"cartodb"``, ``"gaode"`` (GCJ-02: all
        data are shifted to match), which send a request to that provider for every tile
        viewed. The data draw without the tiles.
    force : bool
        Replace an existing ``out`` (see :func:`netplan._io.check_new_file`).
    inputs : sequence of Path
        Files the run read (the plan's, the study's): ``out`` may not be one of them.

    Returns
    -------
    Path
        ``out``.
    """
    return _write(plan_map_html(plan, study=study, tiles=tiles), Path(out), force=force,
                  inputs=inputs)


def phased_map_html(phased: PhasedFolder, *, study: Study | None = None,
                    tiles: str | None = "none", year: int | None = None) -> str:
    """The map of a phased plan as one HTML string (see :func:`phased_map`).

    Parameters
    ----------
    phased : PhasedFolder
        The phased plan (:func:`netplan.planning.phases.read_phased`).
    study : Study, optional
        As for :func:`plan_map_html`.
    tiles : str or None
        Background tiles (see :func:`plan_map`).
    year : int, optional
        The phase the page opens on (default: the last).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    NetplanError
        ``year`` is not a phase of the plan.
    """
    from netplan.present.phase_layers import phase_layers

    if year is not None and year not in phased.years:
        raise NetplanError(f"{year} is not a phase of the plan; use one of "
                           f"{', '.join(map(str, phased.years))}")
    from netplan.present.plan_layers import outlet_view

    src = tile_source(tiles)
    co = Coords(gcj02=bool(src and src.gcj02))
    names = pr.district_names(study)
    views = [outlet_view(p, study=study, co=co, names=names, before=prev)
             for prev, p in zip((None, *phased.plans[:-1]), phased.plans, strict=True)]
    page = plan_page(phased.plans[-1], study=study, co=co,
                     phases=phase_layers(views, phased, year=year))
    return render(page, tiles=src)


def phased_map(phased: PhasedFolder, *, study: Study | None = None, out: Path,
               tiles: str | None = "none", force: bool = False,
               inputs: Sequence[Path] = (), year: int | None = None) -> Path:
    """Write the map of a phased plan: the plan's map with a phase slider.

    The slider (a range input with the phase years; arrow keys, Home and End move it)
    shows the network after each phase: the outlets by the action taken up to that
    phase (this phase's in full colour, earlier phases' faded), the key figures of that
    phase's own ``kpis.json`` and the table of outlets of that phase. The page opens on
    the last phase (or ``year``); it needs no network, like every netplan map.

    Parameters
    ----------
    phased : PhasedFolder
        The phased plan.
    study, out, tiles, force, inputs
        As for :func:`plan_map`.
    year : int, optional
        The phase the page opens on (default: the last).

    Returns
    -------
    Path
        ``out``.
    """
    return _write(phased_map_html(phased, study=study, tiles=tiles, year=year), Path(out),
                  force=force, inputs=inputs)


# --- diagnosis map --------------------------------------------------------------------


def _diagnosis_outlets(study: Study, diagnosis: Diagnosis, adcode: str | None
                       ) -> pd.DataFrame:
    outlets = diagnosis.outlets.reset_index(drop=True)
    if adcode is not None:
        outlets = outlets[outlets["adcode"].astype(str) == adcode]
    return outlets.sort_values("id", kind="stable").reset_index(drop=True)


def _diagnosis_popup(r: Mapping[Hashable, Any], *, names: dict[str, str], tw: float,
                     catchment: Any) -> str:
    sid = str(r["id"])
    sub = " · ".join(x for x in (names.get(str(r["adcode"]), str(r["adcode"])),
                                 pr.ring_zone_label(r.get("ring_zone"))) if x)
    cls = load_class(r.get("utilisation"))
    state = ("overloaded: expected wait above the target" if r.get("overloaded") else
             "within the waiting target")
    color = LOAD_COLORS[int(cls[1])] if cls != "un" else UNKNOWN_COLOR
    action_html = f'<div class="netplan-action" style="color:{color}">{esc(state)}</div>'
    rows = [
        ("Format", "", str(r.get("format", ""))),
        ("Counters + smart terminals", "", f"{int(r['counters'])} + {int(r['terminals'])}"),
        ("Customers at peak hour", "", f"{pr.num(r.get('arrivals_per_h'), 1)} /h"),
        (f"Capacity at the {tw:g}-min target", "", f"{pr.num(r.get('capacity_per_h'), 1)} /h"),
        ("Load vs capacity at the target", "", pr.pct(r.get("utilisation"))),
        ("Busier queue's server utilisation", "", pr.pct(r.get("server_utilisation"))),
        ("Expected wait", "", pr.wait_text(r.get("wait_min"))),
        ("Catchment population", "", pr.num(catchment) if catchment is not None else pr.DASH),
    ]
    return outlet_popup(name=str(r.get("name", "")), sid=sid, sub=sub,
                        action_html=action_html, rows=rows, reason="", single=True)


def _diagnosis_zones(study: Study, diagnosis: Diagnosis, adcode: str | None) -> pd.DataFrame:
    zones = diagnosis.zones.reset_index(drop=True)
    if adcode is not None:
        zones = zones[zones["adcode"].astype(str) == adcode]
    return zones.sort_values("zone_id", kind="stable").reset_index(drop=True)


def _diagnosis_measures(study: Study, zones: pd.DataFrame, zgeom_m: Any, year: int,
                        serving_idx: Any) -> list[Measure]:
    pop = float_col(zones, "population")
    unserved = float_col(zones, "arrivals_per_h") * np.nan_to_num(
        float_col(zones, "unserved_share"))
    zone_xy = shapely.get_coordinates(shapely.centroid(zgeom_m)) if len(zones) else np.zeros(
        (0, 2))
    area = np.asarray(shapely.area(zgeom_m), dtype=np.float64) / 1e6
    cell_m = float(np.sqrt(np.median(shapely.area(zgeom_m)))) if len(zones) else 1.0
    measures = [
        unserved_measure("unserved", unserved, title="Unserved customers",
                         legend_title="Unserved customers per peak hour"),
        density_measure(pop, area, year, title=f"Residents per km², {year}"),
    ]
    if "inflow" in study.zones:
        zg = study.zones
        inf_of = dict(zip(zg["zone_id"].astype(str), zg["inflow"], strict=True))
        infl = np.asarray([inf_of.get(z, np.nan) for z in zones["zone_id"].astype(str)],
                          dtype=np.float64)
        measures.append(inflow_measure(infl, area, title="Change in residents between censuses"))
    measures += [
        distance_measure("dist", float_col(zones, "dist_m"), unserved,
                         title="Distance to the outlets used",
                         legend_title="Distance to the outlets used"),
        catchment_measure("catchment", catchment_classes(zone_xy, serving_idx, cell_m),
                          title="Catchments: zones by main serving outlet"),
        none_measure(),
    ]
    return measures


def _diagnosis_zone_payload(zones: pd.DataFrame, zll: Any, measures: list[Measure], *,
                            year: int, serving_idx: Any, names: dict[str, str]
                            ) -> dict[str, Any]:
    z_ad = str_col(zones, "adcode")
    d_keys = sorted(set(z_ad.tolist()))
    zrows: list[list[Any]] = [
        ["lookup", "District", "d", "districts"],
        ["num", esc(f"Residents {year}"), "pop", 0, ""],
        ["num", "Customers at peak hour", "arr", 1, "/h"],
        ["num", "Distance to serving outlet", "dist", 2, "km"],
        ["num", "Nearest outlet", "near", 2, "km"],
        ["num", "Unserved share of customers", "uns", 1, "%"],
        ["outlet", "Main serving outlet", "s"],
    ]
    return {
        "title": "Zone", "id": [esc(z) for z in zones["zone_id"].astype(str)],
        "geom": polygons(zll), "cls": {ms.key: ms.classes for ms in measures if ms.classes},
        "val": {"d": [d_keys.index(d) for d in z_ad.tolist()],
                "pop": clean(float_col(zones, "population"), 0),
                "arr": clean(float_col(zones, "arrivals_per_h"), 2),
                "dist": clean(float_col(zones, "dist_m") / 1000.0, 2),
                "near": clean(float_col(zones, "nearest_m") / 1000.0, 2),
                "uns": clean(100.0 * float_col(zones, "unserved_share"), 1),
                "s": serving_idx.tolist()},
        "catch_keys": ["s"],
        "catch_notes": {"s": esc("the zones it mainly serves (modelled).")},
        "rows": zrows, "tables": {"districts": [esc(names.get(d, d)) for d in d_keys]},
        "note": "All figures modelled from the scenario's assumptions.",
    }


_DIAGNOSIS_HOW_TO_READ = (
    "Each dot is an outlet, coloured by its peak-hour load against its capacity at the "
    "waiting target (red = overloaded, blue = under-used); untick a class in the legend to "
    "hide it. Find an outlet by name or id, or pick a district; click a row or an outlet "
    "for its figures and its catchment. Choose what colours the zones under “Colour the "
    "zones by”: the classes are fixed and the same on every netplan map. Every figure is "
    "modelled."
)


def _diagnosis_panels(diagnosis: Diagnosis, *, scope: str, adcode: str | None,
                      measures: list[Measure], overlays: list[tuple[str, str, bool]],
                      legends: dict[str, str], districts_html: list[str]) -> tuple[str, str]:
    tw = float(diagnosis.target_wait_min)
    title = f"Current branch network: {scope}"
    intro = (f"Diagnosis with the demand of {diagnosis.year}, scenario "
             f"“{diagnosis.scenario_name}”, waiting target {tw:g} min.")
    k = diagnosis.kpis["overall"] if adcode is None else diagnosis.kpis["districts"][adcode]
    svc = diagnosis.service["overall" if adcode is None else adcode]
    rows = (pr.kpi_rows(None, svc, target_wait_min=tw, specs=pr.SERVICE_SPECS)
            + pr.kpi_rows(None, k, target_wait_min=tw, keys=pr.TRAVEL_KEYS))
    load_legend = (f'<div class="netplan-legend-title">Peak load vs capacity at the {tw:g}-min '
                   f"target; untick to hide</div>{legend_rows(load_styles(), filters=True)}")
    html = (title_section(title, intro, views=(), how_to_read=_DIAGNOSIS_HOW_TO_READ)
            + find_section(districts_html=districts_html,
                           heads=(("Load", "Peak load against capacity at the target"),
                                  ("Outlet", "Name and id"),
                                  ("/h", "Customers per peak hour"),
                                  ("Wait", "Expected wait, minutes")),
                           what="Every outlet of the network.")
            + kpi_section(f"Key figures of {scope}", kpi_table_html(rows, two_sided=False),
                          f"{pr.behaviour_caption(diagnosis.rule)} Modelled figures.")
            + zones_panel(measures, "unserved")
            + layers_section(overlays, {"outlets": load_legend, **legends}))
    return title, html


def _diagnosis_outlet_payload(records: list[dict[Hashable, Any]], ids: list[str],
                              latlon: Any, names: dict[str, str], tw: float,
                              catch: dict[Hashable, float]) -> dict[str, Any]:
    load_st = load_styles()
    layer = sorted(((k, load_class(r.get("utilisation"))) for k, r in enumerate(records)),
                   key=lambda e: (load_st[e[1]].z, e[0]))
    adcodes = [str(r.get("adcode", "")) for r in records]
    d_keys = sorted(set(adcodes))
    return {
        "outlets": {"id": ids, "id_html": [esc(s) for s in ids],
                    "name": [esc(r.get("name", "")) for r in records],
                    "lat": latlon[:, 0].tolist() if ids else [],
                    "lon": latlon[:, 1].tolist() if ids else [],
                    "popup": [_diagnosis_popup(r, names=names, tw=tw,
                                               catchment=catch.get(str(r["id"])))
                              for r in records],
                    "d": [d_keys.index(a) for a in adcodes],
                    "dnames": [esc(names.get(a, a)) for a in d_keys],
                    "arr": clean(float_col(pd.DataFrame(records), "arrivals_per_h"), 1),
                    "wait": clean(float_col(pd.DataFrame(records), "wait_min"), 1)},
        "outlet_layers": {"outlets": [list(e) for e in layer]},
        "icons": icon_payload(load_st),
        "table": {"layer": "outlets", "cols": [["icon"], ["name"], ["num", "arr"],
                                               ["num", "wait"]]},
    }


def _diagnosis_page(study: Study, diagnosis: Diagnosis, *, adcode: str | None,
                    co: Coords) -> MapPage:
    names = pr.district_names(study)
    tw = float(diagnosis.target_wait_min)
    outlets = _diagnosis_outlets(study, diagnosis, adcode)
    zones = _diagnosis_zones(study, diagnosis, adcode)
    ids = outlets["id"].astype(str).tolist()
    idx_of = {s: k for k, s in enumerate(ids)}
    geo_of = dict(zip(study.branches["branch_id"].astype(str), study.branches.geometry.values,
                      strict=True))
    latlon = co.points(np.asarray([geo_of[s] for s in ids], dtype=object), study.branches.crs)
    catch = pd.Series(float_col(zones, "population")).groupby(
        str_col(zones, "serving")).sum().to_dict()
    shown = (np.nan_to_num(float_col(zones, "population")) > 0) | (
        np.nan_to_num(float_col(zones, "arrivals_per_h")) > 0)
    zones = zones[shown].reset_index(drop=True)
    zgeo_of = dict(zip(study.zones["zone_id"].astype(str), study.zones.geometry.values,
                       strict=True))
    zgeom_m = np.asarray([zgeo_of[z] for z in zones["zone_id"].astype(str)], dtype=object)
    zll = co.lonlat(shapely.simplify(zgeom_m, ZONE_SIMPLIFY_M), study.zones.crs)
    s_idx = np.array([idx_of.get(s, -1) if s else -1 for s in str_col(zones, "serving")],
                     np.int64)
    measures = _diagnosis_measures(study, zones, zgeom_m, diagnosis.year, s_idx)
    payload = _diagnosis_outlet_payload(outlets.to_dict("records"), ids, latlon, names, tw,
                                        catch)
    payload["zones"] = _diagnosis_zone_payload(zones, zll, measures, year=diagnosis.year,
                                               serving_idx=s_idx, names=names)
    ctx_overlays, ctx_payload = context_layers(study, co)
    payload.update(ctx_payload)
    overlays = [("outlets", f"Outlets by load at peak vs capacity at the {tw:g}-min target "
                            f"({network_source(study)})", True), *ctx_overlays]
    scope = "the whole city" if adcode is None else names.get(adcode, adcode)
    title, panels_html = _diagnosis_panels(
        diagnosis, scope=scope, adcode=adcode, measures=measures, overlays=overlays,
        legends=context_legends(ctx_payload), districts_html=payload["outlets"]["dnames"])
    box = bounds(np.vstack([latlon, zone_latlon(zll)]))
    focus = focus_layer(study, adcode, co) if adcode is not None else None
    if focus is not None:
        payload["focus"], box = focus
    return MapPage(title=title, payload=payload, measures=measures, overlays=overlays,
                   panels_html=panels_html, bounds=box, default_measure="unserved")


def diagnosis_map_html(study: Study, diagnosis: Diagnosis, *, adcode: str | None = None,
                       tiles: str | None = "none") -> str:
    """The diagnosis map as one HTML string (see :func:`diagnosis_map`).

    Parameters
    ----------
    study : Study
        The study that was diagnosed (geometry of outlets and zones, context layers).
    diagnosis : Diagnosis
        The diagnosis.
    adcode : str, optional
        Only this district.
    tiles : str or None
        Background tiles (see :func:`plan_map`).

    Returns
    -------
    str
        The HTML document.
    """
    src = tile_source(tiles)
    page = _diagnosis_page(study, diagnosis, adcode=adcode,
                           co=Coords(gcj02=bool(src and src.gcj02)))
    return render(page, tiles=src)


def diagnosis_map(study: Study, diagnosis: Diagnosis, *, out: Path, adcode: str | None = None,
                  tiles: str | None = "none", force: bool = False,
                  inputs: Sequence[Path] = ()) -> Path:
    """Write the map of a diagnosis of the current network (standalone HTML, offline).

    Outlets are coloured by their peak-hour load against their capacity at the waiting
    target (the popup gives the expected wait), zones by unserved customers (other
    measures: population, inflow, distance, catchments); districts, ring roads, ring
    zones, a legend and a KPI panel. With ``adcode``, only that district's outlets and
    zones, and its KPIs.

    Parameters
    ----------
    study : Study
        The study that was diagnosed.
    diagnosis : Diagnosis
        The diagnosis.
    out : Path
        The HTML file to write (folders are created).
    adcode : str, optional
        Only this district.
    tiles : str or None
        Background tiles (see :func:`plan_map`).
    force, inputs
        As for :func:`plan_map`.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    NetplanError
        If ``adcode`` is not a district of the diagnosis.
    """
    if adcode is not None and adcode not in diagnosis.kpis.get("districts", {}):
        raise NetplanError(
            f"district {adcode!r} is not in the diagnosis; use one of "
            f"{', '.join(sorted(diagnosis.kpis.get('districts', {})))}"
        )
    return _write(diagnosis_map_html(study, diagnosis, adcode=adcode, tiles=tiles), Path(out),
                  force=force, inputs=inputs)


# --- screenshot -------------------------------------------------------------------------


def require_screenshot_browser() -> Path:
    """The headless Chromium that takes screenshots, or a clear error saying how to get one.

    Returns
    -------
    Path

    Raises
    ------
    NetplanError
        When no Chromium is found (see :func:`netplan.present.pdf.find_chromium`).
    """
    from netplan.present.pdf import require_chromium

    return require_chromium("--screenshot", "to take the map's picture", instead="")


def map_screenshot(html_text: str, *, size: tuple[int, int] = SCREENSHOT_SIZE,
                   timeout_s: float = 120.0) -> bytes:
    """A PNG of a map page as it opens, taken offline by headless Chromium.

    The page is written to a temporary folder and Chromium, started with a list of
    arguments (no shell) and every network feature off, draws it for a few seconds of
    virtual time and saves the window. Online tiles never show (the browser may not
    reach the network).

    Parameters
    ----------
    html_text : str
        A map page (:func:`plan_map_html` or :func:`diagnosis_map_html`).
    size : (int, int)
        Window width and height in pixels.
    timeout_s : float
        Give up after this many seconds.

    Returns
    -------
    bytes
        The PNG.

    Raises
    ------
    NetplanError
        No Chromium, or it failed or timed out.
    """
    from netplan.present.pdf import render_with_chromium

    return render_with_chromium(
        require_screenshot_browser(), html_text, output="map.png", what="take a screenshot",
        flags=("--hide-scrollbars", "--force-device-scale-factor=1",
               f"--window-size={int(size[0])},{int(size[1])}", "--virtual-time-budget=8000"),
        output_flag="--screenshot", timeout_s=timeout_s)
