"""Context layers of a map (district outlines and names, ring roads, ring zones) and the
panels shared by the plan and diagnosis maps (KPI table, outlet popup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from netplan.present import texts as pr
from netplan.present.geo import CONTEXT_SIMPLIFY_M, Coords, lines, polygons, txt
from netplan.present.texts import esc

if TYPE_CHECKING:
    from netplan.study.layers import Study

__all__ = ["context_layers", "kpi_table_html", "network_source", "outlet_popup"]

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
    from netplan.study.geometry import RING_ZONES

    order = {z: k for k, z in enumerate(RING_ZONES)}
    rz = study.ring_zones
    rz = rz.assign(_o=rz["ring_zone"].map(lambda z: order.get(str(z), 99))).sort_values(
        ["_o", "ring_zone"], kind="stable")
    return [{"name": esc(f"Ring zone: {pr.ring_zone_label(z)}"), "geom": geom}
            for z, geom in zip(rz["ring_zone"].astype(str),
                               polygons(_simplified(rz, co, CONTEXT_SIMPLIFY_M)), strict=True)]


def context_layers(study: Study | None, co: Coords) -> tuple[list[Overlay], dict[str, Any]]:
    """District outlines, ring roads and ring zones of a study (nothing without one).

    Parameters
    ----------
    study : Study or None
        The study the map is drawn for.
    co : Coords
        How coordinates are written (GCJ-02 shift or not).

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
    return overlays, payload


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
