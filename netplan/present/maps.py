"""Maps of a plan and of a diagnosis: one standalone HTML file that opens from disk.

What a map shows (plan)
-----------------------
* **Outlets** as markers coloured *and* shaped by the planned action (the markers of the
  action registry, :mod:`netplan.planning.actions`; a move shows a hollow marker at the
  old site and a star at the new one) with a legend; relocations as dashed arrows from
  the old to the new site.
* **Zones** (the ~1 km population cells) as a choropleth whose measure is chosen with
  the radio buttons of the layer list: population, inflow, unserved customers after the
  plan, distance to the serving outlet before / after, catchments (zones coloured by
  the outlet that serves them after the plan), or none. Each measure has its own legend.
* **Before / after**: the network before and after the plan as two layers coloured by
  expected wait, and three buttons (plan actions / network before / network after)
  that switch layers and zone measure together; a KPI panel with the overall figures
  before → after.
* **Context** (when a :class:`~netplan.study.layers.Study` is given): district outlines
  with names, ring roads, ring zones.
* Popups on every outlet (before → after: format, customers per peak hour, load
  against capacity, expected wait, catchment population, the reason of the action) and
  on every zone (population, inflow, distances, serving outlet before → after).

How it is built
---------------
The page is a fixed frame (:mod:`netplan.present.page`); the data go into it once, as a
JSON payload that a small inlined script (``templates/map.js``) draws: it builds the
Leaflet map, one feature group per layer and the layer list. Zone geometry is stored
once and restyled when the measure changes. Leaflet is inlined: the page loads nothing
from the network. Tiles are optional (``tiles="none"`` gives a plain background); with
``tiles="gaode"`` every coordinate is shifted WGS84 → GCJ-02 to match the Chinese tiles.

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
from netplan.present.context import context_layers, kpi_table_html, network_source, outlet_popup
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
from netplan.present.plan_layers import plan_page
from netplan.present.texts import esc
from netplan.present.zones import (
    Measure,
    catchment_classes,
    catchment_measure,
    distance_measure,
    inflow_measure,
    none_measure,
    population_measure,
    unserved_measure,
)

if TYPE_CHECKING:
    from netplan.planning.diagnose import Diagnosis
    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

log = logging.getLogger(__name__)

__all__ = [
    "TILES",
    "TILE_CHOICES",
    "diagnosis_map",
    "diagnosis_map_html",
    "plan_map",
    "plan_map_html",
]


def _write(html_text: str, out: Path, *, force: bool, inputs: Sequence[Path]) -> Path:
    atomic_write_text(out, html_text, force=force, inputs=inputs)
    log.info("map written to %s (%.1f MB)", out, len(html_text.encode("utf-8")) / 1e6)
    return out


# --- plan map -------------------------------------------------------------------------


def plan_map_html(plan: Plan, *, study: Study | None = None,
                  tiles: str | None = "cartodb") -> str:
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
             tiles: str | None = "cartodb", force: bool = False,
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
        Background tiles: ``"cartodb"`` (default), ``"osm"``, ``"gaode"`` (GCJ-02: all data
        are shifted to match) or ``"none"`` / ``None`` (plain background). The data draw
        without the tiles, so the map works offline.
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
    arrivals = float_col(zones, "arrivals_per_h")
    zone_xy = shapely.get_coordinates(shapely.centroid(zgeom_m)) if len(zones) else np.zeros(
        (0, 2))
    cell_m = float(np.sqrt(np.median(shapely.area(zgeom_m)))) if len(zones) else 1.0
    measures = [
        unserved_measure(arrivals * np.nan_to_num(float_col(zones, "unserved_share")),
                         title="Unserved customers at peak (modelled)",
                         legend_title="Unserved customers per peak hour"),
        population_measure(pop, year,
                           title=f"Population {year} per ~1 km zone (modelled from census)"),
    ]
    if "inflow" in study.zones:
        zg = study.zones
        inf_of = dict(zip(zg["zone_id"].astype(str), zg["inflow"], strict=True))
        infl = np.asarray([inf_of.get(z, np.nan) for z in zones["zone_id"].astype(str)],
                          dtype=np.float64)
        measures.append(inflow_measure(infl, title="Population inflow 2010 → 2020 per zone "
                                                   "(modelled from census)"))
    measures += [
        distance_measure("dist", float_col(zones, "dist_m"),
                         title="Distance to the serving outlet (modelled)",
                         legend_title="Distance to the serving outlet"),
        catchment_measure("catchment", catchment_classes(zone_xy, serving_idx, cell_m),
                          title="Catchments: zones by serving outlet (modelled)"),
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
        "rows": zrows, "tables": {"districts": [esc(names.get(d, d)) for d in d_keys]},
        "note": "All figures modelled from the scenario's assumptions.",
    }


def _diagnosis_panels(diagnosis: Diagnosis, *, scope: str, adcode: str | None,
                      measures: list[Measure]) -> tuple[str, str]:
    tw = float(diagnosis.target_wait_min)
    title = f"Current branch network: {scope}"
    intro = (f"Diagnosis with the demand of {diagnosis.year}, scenario "
             f"“{diagnosis.scenario_name}”, waiting target {tw:g} min.")
    title_html = (
        f'<div id="netplan-title" class="netplan-panel"><h2>{esc(title)}</h2>'
        f"<p>{esc(intro)}</p>"
        '<details><summary>How to read this map</summary><p class="netplan-note">'
        "Each dot is an outlet, coloured by its peak-hour load against its capacity at the "
        "waiting target (red = overloaded, blue = under-used). Zones are coloured by "
        "unserved customers; choose another measure in the list at the top right. Click "
        "an outlet or a zone for its figures. Every figure is modelled.</p></details></div>"
    )
    k = diagnosis.kpis["overall"] if adcode is None else diagnosis.kpis["districts"][adcode]
    svc = diagnosis.service["overall" if adcode is None else adcode]
    rows = (pr.kpi_rows(None, svc, target_wait_min=tw, specs=pr.SERVICE_SPECS)
            + pr.kpi_rows(None, k, target_wait_min=tw, keys=pr.TRAVEL_KEYS))
    kpi_html = (
        f'<div id="netplan-kpi-panel" class="netplan-panel"><details open><summary>Key '
        f"figures of {esc(scope)}</summary>"
        f"{kpi_table_html(rows, two_sided=False)}"
        f'<p class="netplan-note">{esc(pr.behaviour_caption(diagnosis.rule))} '
        "Modelled figures.</p></details></div>"
    )
    legend_html = (
        '<div id="netplan-legend" class="netplan-panel netplan-legend">'
        '<div id="netplan-legend-load" class="netplan-legend-block" data-layers="outlets">'
        f'<div class="netplan-legend-title">Outlets: peak load vs capacity at the {tw:g}-min '
        f"target</div>{legend_rows(load_styles())}</div>"
        + "".join(ms.legend_html() for ms in measures) + "</div>"
    )
    return title, title_html + kpi_html + legend_html


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
    records = outlets.to_dict("records")
    popups = [_diagnosis_popup(r, names=names, tw=tw, catchment=catch.get(str(r["id"])))
              for r in records]
    load_st = load_styles()
    layer = sorted(((k, load_class(r.get("utilisation"))) for k, r in enumerate(records)),
                   key=lambda e: (load_st[e[1]].z, e[0]))

    zgeo_of = dict(zip(study.zones["zone_id"].astype(str), study.zones.geometry.values,
                       strict=True))
    zgeom_m = np.asarray([zgeo_of[z] for z in zones["zone_id"].astype(str)], dtype=object)
    zll = co.lonlat(shapely.simplify(zgeom_m, ZONE_SIMPLIFY_M), study.zones.crs)
    s_idx = np.array([idx_of.get(s, -1) if s else -1 for s in str_col(zones, "serving")],
                     np.int64)
    measures = _diagnosis_measures(study, zones, zgeom_m, diagnosis.year, s_idx)
    overlays = [("outlets", f"Outlets by load at peak vs capacity at the {tw:g}-min target "
                            f"({network_source(study)})", True)]
    payload: dict[str, Any] = {
        "zones": _diagnosis_zone_payload(zones, zll, measures, year=diagnosis.year,
                                         serving_idx=s_idx, names=names),
        "outlets": {"id": ids, "id_html": [esc(s) for s in ids],
                    "name": [esc(r.get("name", "")) for r in records],
                    "lat": latlon[:, 0].tolist() if ids else [],
                    "lon": latlon[:, 1].tolist() if ids else [], "popup": popups},
        "outlet_layers": {"outlets": [list(e) for e in layer]},
        "icons": icon_payload(load_st),
        "control_heads": {"base": "Colour the ~1 km zones by", "overlays": "Show on the map"},
    }
    ctx_overlays, ctx_payload = context_layers(study, co)
    payload.update(ctx_payload)
    scope = "the whole city" if adcode is None else names.get(adcode, adcode)
    title, panels_html = _diagnosis_panels(diagnosis, scope=scope, adcode=adcode,
                                           measures=measures)
    return MapPage(title=title, payload=payload, measures=measures,
                   overlays=overlays + ctx_overlays, panels_html=panels_html,
                   bounds=bounds(np.vstack([latlon, zone_latlon(zll)])),
                   default_measure="unserved")


def diagnosis_map_html(study: Study, diagnosis: Diagnosis, *, adcode: str | None = None,
                       tiles: str | None = "cartodb") -> str:
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
                  tiles: str | None = "cartodb", force: bool = False,
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
