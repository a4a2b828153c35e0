"""Context layers of a map (district outlines and names, ring roads, ring zones) and the
panels shared by the plan and diagnosis maps (KPI table, outlet popup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from netplan.present import texts as pr
from netplan.present.geo import CONTEXT_SIMPLIFY_M, COORD_DECIMALS, Coords, lines, polygons, txt
from netplan.present.texts import esc

if TYPE_CHECKING:
    from netplan.study.layers import Study

__all__ = [
    "METRO_COLOR",
    "context_layers",
    "context_legends",
    "focus_layer",
    "kpi_table_html",
    "network_source",
    "outlet_popup",
]

METRO_COLOR = "#1f4e9a"

RING_ZONE_COLORS: tuple[str, ...] = (
    "#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac",
)

Overlay = tuple[str, str, bool]
"""An overlay of the layer list: key, plain title, shown at start."""


def network_source(study: Study | None) -> str:
    """Where the outlets come from, for the layer titles (plain text)."""
    if study is None or "source" not in study.branches:
        return "outlets of the plan"
    srcs = sorted(set(study.branches["source"].fillna("").astype(str)))
    if srcs == ["modelled"]:
        return "modelled network"
    return "network data: " + ", ".join(s for s in srcs if s)[:60]


def _simplified(gdf: Any, co: Coords, tolerance_m: float) -> Any:
    return co.lonlat(shapely.simplify(np.asarray(gdf.geometry.values, dtype=object),
                                      tolerance_m), gdf.crs)


def _districts(study: Study, co: Coords) -> list[dict[str, Any]]:
    d = study.districts.sort_values("adcode", kind="stable")
    names = pr.district_names(study)
    return [{"name": esc(names.get(str(a), str(a))), "geom": geom}
            for a, geom in zip(d["adcode"].astype(str),
                               polygons(_simplified(d, co, CONTEXT_SIMPLIFY_M)), strict=True)]


def _ring_roads(study: Study, co: Coords) -> tuple[str, list[dict[str, Any]]]:
    r = study.ring_roads.sort_values("ring", kind="stable")
    col = r["source"].fillna("").astype(str) if "source" in r else pd.Series([], dtype=str)
    srcs = sorted({s.split(":")[0].strip() for s in col if s.strip()})
    label = f"Ring roads 2nd–6th ({', '.join(srcs)[:50]})" if srcs else "Ring roads"
    rows = []
    for rec, geom in zip(r.to_dict("records"), _simplified(r, co, 10.0), strict=True):
        nm = " ".join(txt(rec.get(c)) for c in ("name_en", "name_zh")).strip()
        rows.append({"name": esc(nm or f"ring {rec.get('ring')}"), "geom": lines(geom)})
    return label, rows


def _ring_zones(study: Study, co: Coords) -> list[dict[str, Any]]:
    from netplan.study.geometry import ring_zone_order

    order = {z: k for k, z in enumerate(ring_zone_order(study.ring_zones["ring_zone"]))}
    rz = study.ring_zones
    rz = rz.assign(_o=rz["ring_zone"].map(lambda z: order.get(str(z), 99))).sort_values(
        ["_o", "ring_zone"], kind="stable")
    names = pr.ring_names(study)
    return [{"name": esc(f"Ring zone: {pr.ring_zone_label(z, names)}"), "geom": geom}
            for z, geom in zip(rz["ring_zone"].astype(str),
                               polygons(_simplified(rz, co, CONTEXT_SIMPLIFY_M)), strict=True)]


def _points(gdf: Any, co: Coords) -> dict[str, Any]:
    """Named points of a layer (candidates, stations): escaped names, lat/lon, sorted by id."""
    ll = co.points(np.asarray(gdf.geometry.values, dtype=object), gdf.crs)
    return {"name": [esc(txt(n)) for n in gdf["name"]],
            "id": [esc(txt(i)) for i in gdf["candidate_id"]],
            "lat": ll[:, 0].tolist() if len(gdf) else [],
            "lon": ll[:, 1].tolist() if len(gdf) else []}


METRO_KIND = "metro"
"""The candidate ``kind`` of metro stations (the study's metro layer)."""


def context_layers(study: Study | None, co: Coords, *, used_sites: frozenset[str] = frozenset()
                   ) -> tuple[list[Overlay], dict[str, Any]]:
    """District outlines, ring roads, ring zones, metro stations and unused candidate sites.

    Parameters
    ----------
    study : Study or None
        The study the map is drawn for (nothing without one).
    co : Coords
        How coordinates are written (GCJ-02 shift or not).
    used_sites : frozenset of str
        Candidate ids the map already shows as outlets (left out of the candidates layer).

    Returns
    -------
    overlays : list of (key, title, shown)
        The overlays of the layer list.
    payload : dict
        Their data for the page (names escaped).
    """
    if study is None:
        return [], {}
    overlays: list[Overlay] = []
    payload: dict[str, Any] = {}
    if len(study.districts):
        payload["districts"] = _districts(study, co)
        overlays.append(("districts", "Districts: boundaries and names (administrative)", True))
    if len(study.ring_roads):
        label, payload["ring_roads"] = _ring_roads(study, co)
        overlays.append(("ring_roads", label, True))
    if len(study.ring_zones):
        payload["ring_zones"] = _ring_zones(study, co)
        payload["ring_zone_colors"] = list(RING_ZONE_COLORS)
        overlays.append(("ring_zones", "Ring zones: areas between the ring roads", False))
    cand = study.candidates.sort_values("candidate_id", kind="stable")
    metro = cand[cand["kind"].astype(str) == METRO_KIND]
    if len(metro):
        payload["metro"] = _points(metro, co)
        overlays.append(("metro", "Metro stations (the study's metro sites)", True))
    unused = cand[~cand["candidate_id"].astype(str).isin(used_sites)]
    if len(unused):
        payload["candidates"] = _points(unused, co)
        overlays.append(("candidates", "Candidate sites the plan did not choose", False))
    return overlays, payload


def context_legends(payload: dict[str, Any]) -> dict[str, str]:
    """The legend of each context layer in ``payload`` (markup; names already escaped)."""
    out = {
        "districts": _row('<svg width="22" height="12" aria-hidden="true"><rect x="1" y="1" '
                          'width="20" height="10" fill="#fbfaf6" stroke="#444" '
                          'stroke-width="1.6"/></svg>', "district boundary and name"),
        "ring_roads": _row('<svg width="22" height="12" aria-hidden="true"><line x1="1" y1="6" '
                           'x2="21" y2="6" stroke="#7a4b00" stroke-width="2.2"/></svg>',
                           "ring road"),
        "metro": _row(f'<svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" '
                      f'r="3" fill="{METRO_COLOR}"/></svg>', "metro station"),
        "candidates": _row('<svg width="14" height="14" aria-hidden="true"><circle cx="7" '
                           'cy="7" r="4.5" fill="none" stroke="#555" stroke-width="1.4" '
                           'stroke-dasharray="2 1.5"/></svg>', "candidate site, not chosen"),
    }
    rz = payload.get("ring_zones") or []
    colors = payload.get("ring_zone_colors") or []
    out["ring_zones"] = "".join(
        f'<div class="netplan-legend-row"><span class="netplan-swatch" style="background:'
        f'{colors[k % len(colors)]};opacity:0.6"></span><span>{z["name"]}</span></div>'
        for k, z in enumerate(rz))
    return {k: v for k, v in out.items() if k in payload}


def _row(svg: str, label: str) -> str:
    return f'<div class="netplan-legend-row">{svg}<span>{esc(label)}</span></div>'


def focus_layer(study: Study | None, adcode: str, co: Coords
                ) -> tuple[dict[str, Any], list[list[float]]] | None:
    """The outline of the district a map is about, and the bounds that frame it.

    Parameters
    ----------
    study : Study or None
        The study (``None``: no outline).
    adcode : str
        The district.
    co : Coords
        How coordinates are written.

    Returns
    -------
    tuple or None
        ``({"name": escaped name, "geom": polygons}, [[south, west], [north, east]])``,
        or ``None`` when the study has no such district.
    """
    if study is None:
        return None
    d = study.districts[study.districts["adcode"].astype(str) == adcode]
    if not len(d):
        return None
    geom = _simplified(d, co, CONTEXT_SIMPLIFY_M)
    w, s, e, n = (round(float(v), COORD_DECIMALS) for v in shapely.total_bounds(geom))
    name = pr.district_names(study).get(adcode, adcode)
    return {"name": esc(name), "geom": polygons(geom)[0]}, [[s, w], [n, e]]


def kpi_table_html(rows: Sequence[pr.KpiRow], *, two_sided: bool = True) -> str:
    """The KPI panel's table: label, before → after (or one value when not two-sided)."""
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


def outlet_popup(*, name: str, sid: str, sub: str, action_html: str,
                 rows: Sequence[tuple[str, str, str]], reason: str,
                 single: bool = False) -> str:
    """An outlet's popup: name, id, place, action line, figures (before / after), reason.

    ``action_html`` is markup built by netplan; every other argument is plain text and
    escaped here.
    """
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
