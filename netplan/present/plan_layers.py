"""The layers and panels of a plan's map: outlets by action, before / after, arrows, zones.

Reads the plan only: actions, sites after, zone KPIs and ``kpis.json``; the markers,
texts and order of the actions come from the action registry
(:mod:`netplan.planning.actions`). Nothing is recomputed: a figure the plan does not hold
is shown as a dash.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from netplan.planning import actions
from netplan.present import texts as pr
from netplan.present.context import (
    context_layers,
    context_legends,
    focus_layer,
    kpi_table_html,
    network_source,
    outlet_popup,
)
from netplan.present.frame import MapPage
from netplan.present.geo import (
    ZONE_SIMPLIFY_M,
    Coords,
    bounds,
    clean,
    float_col,
    polygons,
    str_col,
    txt,
    zone_latlon,
)
from netplan.present.markers import (
    ARROW_COLOR,
    arrow_legend_row,
    icon_payload,
    legend_keys,
    legend_rows,
    plan_styles,
    quiet_keys,
    wait_class,
    wait_styles,
    z_order,
)
from netplan.present.panels import (
    find_section,
    kpi_section,
    layers_section,
    title_section,
    zones_section,
)
from netplan.present.texts import esc
from netplan.present.zones import (
    Measure,
    catchment_classes,
    catchment_measure,
    density_measure,
    distance_change_measure,
    distance_measure,
    inflow_measure,
    none_measure,
    unserved_change_measure,
    unserved_measure,
)

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.planning.plan import Plan
    from netplan.present.phase_layers import PhaseLayers
    from netplan.study.layers import Study

__all__ = ["CATCHMENT_MIN_SHARE", "OutletView", "kpi_body_html", "outlet_view", "plan_page"]

CATCHMENT_MIN_SHARE = 0.05
"""A zone belongs to an outlet's highlighted catchment when at least this share of its
customers go there (the plan's ``assignment`` layer, from the behaviour model)."""

Row = Mapping[str, Any]
"""One record of a plan layer."""

Size = tuple[int | None, int | None, float | None]
"""Counters, terminals and capacity at the target of a site before the plan."""


@dataclass(frozen=True)
class _Sites:
    """Every site of the map (in-scope sites of the plan, then context outlets), by id."""

    ids: list[str]
    latlon: NDArray[np.float64]
    metric_xy: NDArray[np.float64]
    arow: dict[str, Row]  # the plan's action row of a site
    srow: dict[str, Row]  # the site's row after the plan (open sites only)
    origin_of: dict[str, str]  # new site of a move → the outlet that moved there
    idx_of: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "idx_of", {s: k for k, s in enumerate(self.ids)})


def _sites(plan: Plan, co: Coords) -> _Sites:
    acts = plan.actions.sort_values("site_id", kind="stable").reset_index(drop=True)
    after = plan.sites_after.sort_values("site_id", kind="stable").reset_index(drop=True)
    a_ids = acts["site_id"].astype(str).to_numpy(dtype=object)
    after_ids = after["site_id"].astype(str).to_numpy(dtype=object)
    in_actions = set(a_ids.tolist())
    ctx_mask = np.array([s not in in_actions for s in after_ids], dtype=bool)
    ids = np.concatenate([a_ids, after_ids[ctx_mask]])
    order = np.argsort(ids, kind="stable")
    geoms = np.concatenate([np.asarray(acts.geometry.values, dtype=object),
                            np.asarray(after.geometry.values, dtype=object)[ctx_mask]])[order]
    arow = dict(zip(a_ids.tolist(), acts.to_dict("records"), strict=True))
    return _Sites(
        ids=[str(s) for s in ids[order].tolist()],
        latlon=co.points(geoms, plan.actions.crs),
        metric_xy=(shapely.get_coordinates(shapely.centroid(geoms)) if len(geoms)
                   else np.zeros((0, 2))),
        arow=arow,
        srow=dict(zip(after_ids.tolist(), after.to_dict("records"), strict=True)),
        origin_of={txt(r.get("relocation_target")): s for s, r in arow.items()
                   if txt(r.get("relocation_target"))},
    )


def _before_sizes(plan: Plan, study: Study | None) -> dict[str, Size]:
    """Counters, terminals and capacity at target of each site *before* the plan.

    Counters and terminals come from the study; the capacity from the plan's
    ``capacity_before_per_h`` column when it has one, else from the site's capacity after
    the plan when its counters and terminals did not change. Otherwise it is unknown.
    """
    a = plan.actions
    out: dict[str, Size] = {}
    if "capacity_before_per_h" in a:
        for sid, cap in zip(a["site_id"].astype(str), a["capacity_before_per_h"], strict=True):
            out[sid] = (None, None, pr.finite(cap))
    if study is None:
        return out
    s = plan.sites_after
    after = {str(i): (int(c), int(t), pr.finite(cap)) for i, c, t, cap in zip(
        s["site_id"], s["counters"], s["terminals"], s["capacity_per_h"], strict=True)}
    b = study.branches
    for sid, c, t in zip(b["branch_id"].astype(str), b["counters"].astype(int),
                         b["terminals"].astype(int), strict=True):
        known = out.get(sid, (None, None, None))[2]
        same = after.get(sid)
        if known is None and same is not None and same[:2] == (c, t):
            known = same[2]
        out[sid] = (int(c), int(t), known)
    return out


def _site_kind_text(kind: str) -> str:
    if kind in ("", "outlet"):
        return "existing outlet"
    return f"candidate site ({kind})"


def _action_type(act: str) -> actions.ActionType:
    """The registered action of a row; a row without one (an unopened candidate) is kept."""
    if act:
        return actions.action(act)
    return next(a for a in actions.ACTIONS if not a.changes_network)


def _marker_key(sid: str, sites: _Sites) -> str:
    """Marker of a site: its action's first marker, or for a move's new site the last one."""
    ar, sr = sites.arow.get(sid), sites.srow.get(sid)
    origin = sites.origin_of.get(sid) or txt((sr or {}).get("relocated_from"))
    if origin:
        moved = txt((sites.arow.get(origin) or {}).get("action"))
        move = _action_type(moved) if moved else next(
            a for a in actions.ACTIONS if len(a.markers) > 1)
        return move.markers[-1].key
    if ar is None:
        return actions.CONTEXT_MARKER.key
    return _action_type(txt(ar.get("action"))).markers[0].key


def _action_what(sid: str, key: str, sites: _Sites) -> tuple[str, str]:
    """What the plan does with a site (plain text), and the reason shown with it."""
    ar, sr = sites.arow.get(sid), sites.srow.get(sid)
    reason = txt((ar or {}).get("reason"))
    if key == actions.CONTEXT_MARKER.key:
        return "outside the planned area: unchanged (shown for context)", reason
    origin = sites.origin_of.get(sid) or txt((sr or {}).get("relocated_from"))
    if origin:
        oname = str((sites.arow.get(origin) or {}).get("name", origin))
        reason = reason or txt((sites.arow.get(origin) or {}).get("reason"))
        return f"new site of the outlet relocated from {oname} ({origin})", reason
    assert ar is not None
    act = _action_type(txt(ar.get("action")))
    tgt = txt(ar.get("relocation_target"))
    if tgt:
        tname = str((sites.arow.get(tgt) or sites.srow.get(tgt) or {}).get("name", tgt))
        return f"{act.name} to {tname} ({tgt})", reason
    fmt_b, fmt_a = txt(ar.get("format_before")), txt((sr or {}).get("format"))
    if fmt_b and fmt_a and fmt_b != fmt_a:
        return f"{act.name} ({fmt_b} → {fmt_a})", reason
    return act.text, reason


@dataclass
class _Outlets:
    """The outlets' part of the payload, in the order of :attr:`_Sites.ids`."""

    icon_key: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)
    name_html: list[str] = field(default_factory=list)
    before_layer: list[list[Any]] = field(default_factory=list)
    after_layer: list[list[Any]] = field(default_factory=list)
    adcode: list[str] = field(default_factory=list)
    arrivals: list[float | None] = field(default_factory=list)  # customers/h after (or before)
    wait: list[float | None] = field(default_factory=list)  # expected wait after, minutes


def _servers(c: Any, t: Any) -> str:
    return pr.DASH if c is None or t is None else f"{int(c)} + {int(t)}"


def _popup_rows(ar: Row | None, sr: Row | None, size: Size,
                catch: tuple[Any, Any]) -> list[tuple[str, str, str]]:
    fmt_b = txt(ar.get("format_before")) if ar is not None else txt((sr or {}).get("format"))
    fmt_a = txt(sr.get("format")) if sr is not None else ""
    existed, is_open = bool(fmt_b), sr is not None
    cb, tb, capb = size
    arr_b = pr.finite(ar.get("arrivals_before_per_h")) if ar is not None else None
    arr_a = pr.finite(sr.get("arrivals_per_h")) if sr is not None else None
    util_b = (arr_b / capb) if (arr_b is not None and capb) else None

    def side(ok: bool, text: str) -> str:
        return text if ok else pr.DASH

    return [
        ("Format", fmt_b or "not open", fmt_a or "closed"),
        ("Counters + smart terminals", side(existed, _servers(cb, tb)),
         _servers(sr.get("counters"), sr.get("terminals")) if sr is not None else pr.DASH),
        ("Customers at peak hour", side(existed and arr_b is not None, f"{pr.num(arr_b, 1)} /h"),
         side(is_open and arr_a is not None, f"{pr.num(arr_a, 1)} /h")),
        ("Load vs capacity at the target", side(existed, pr.pct(util_b)),
         side(is_open, pr.pct((sr or {}).get("utilisation")))),
        ("Expected wait", side(existed, pr.wait_text((ar or {}).get("wait_before_min"))),
         side(is_open, pr.wait_text((sr or {}).get("wait_min")))),
        ("Catchment population", side(existed and catch[0] is not None, pr.num(catch[0])),
         side(is_open and catch[1] is not None, pr.num(catch[1]))),
    ]


def _outlets(sites: _Sites, *, sizes: dict[str, Size],
             catch: tuple[dict[Hashable, float], dict[Hashable, float]],
             names: Mapping[str, str], tw: float) -> _Outlets:
    out = _Outlets()
    styles = actions.markers()
    for k, sid in enumerate(sites.ids):
        ar, sr = sites.arow.get(sid), sites.srow.get(sid)
        base = ar if ar is not None else (sr or {})
        adcode = txt(base.get("adcode"))
        sub = " · ".join(x for x in (names.get(adcode, adcode),
                                     pr.ring_zone_label(base.get("ring_zone")),
                                     _site_kind_text(txt(base.get("kind")))) if x)
        key = _marker_key(sid, sites)
        what, reason = _action_what(sid, key, sites)
        action_html = (f'<div class="netplan-action" style="color:{esc(styles[key].color)}">'
                       f"Planned action: {esc(what)}</div>")
        rows = _popup_rows(ar, sr, sizes.get(sid, (None, None, None)),
                           (catch[0].get(sid), catch[1].get(sid)))
        out.popups.append(outlet_popup(name=txt(base.get("name")), sid=sid, sub=sub,
                                       action_html=action_html, rows=rows, reason=reason))
        out.name_html.append(esc(txt(base.get("name"))))
        out.icon_key.append(key)
        out.adcode.append(adcode)
        out.arrivals.append(pr.finite((sr or {}).get("arrivals_per_h")))
        out.wait.append(pr.finite((sr or {}).get("wait_min")))
        fmt_b = txt(ar.get("format_before")) if ar is not None else txt((sr or {}).get("format"))
        if fmt_b:
            wait_b = ar.get("wait_before_min") if ar is not None else None
            out.before_layer.append([k, wait_class(wait_b, tw) if ar is not None else "wn"])
        if sr is not None:
            out.after_layer.append([k, wait_class(sr.get("wait_min"), tw)])
    return out


def _arrows(sites: _Sites, name_html: list[str]) -> list[list[Any]]:
    """Dashed arrows old site → new site of every move: lat/lon of both, angle, tooltip,
    the index of the old site."""
    arrows: list[list[Any]] = []
    for sid in sites.ids:
        ar = sites.arow.get(sid)
        tgt = txt((ar or {}).get("relocation_target"))
        if ar is None or tgt not in sites.idx_of:
            continue
        i, j = sites.idx_of[sid], sites.idx_of[tgt]
        (la0, lo0), (la1, lo1) = sites.latlon[i], sites.latlon[j]
        dist_km = float(np.hypot(*(sites.metric_xy[j] - sites.metric_xy[i]))) / 1000.0
        y0 = math.degrees(math.log(math.tan(math.pi / 4 + math.radians(la0) / 2)))
        y1 = math.degrees(math.log(math.tan(math.pi / 4 + math.radians(la1) / 2)))
        angle = round(-math.degrees(math.atan2(y1 - y0, lo1 - lo0)), 1)
        tip = (f"Relocation: {esc(ar.get('name'))} ({esc(sid)}) → "
               f"{name_html[j]} ({esc(tgt)}), {dist_km:.1f} km")
        arrows.append([float(la0), float(lo0), float(la1), float(lo1), angle, tip, i])
    return arrows


@dataclass(frozen=True)
class _Zones:
    """The zones shown (populated or with inflow or customers) and their figures."""

    table: pd.DataFrame
    pop: NDArray[np.float64]
    inflow: NDArray[np.float64]
    arrivals: NDArray[np.float64]
    area_km2: NDArray[np.float64]
    serve_b: NDArray[np.int64]  # index of the serving outlet before (-1: none)
    serve_a: NDArray[np.int64]
    zll: NDArray[Any]  # simplified geometry in lon/lat


def _zones(plan: Plan, idx_of: Mapping[str, int], co: Coords) -> _Zones:
    zk = plan.zones_kpi.sort_values("zone_id", kind="stable").reset_index(drop=True)
    pop, inflow = float_col(zk, "population"), float_col(zk, "inflow")
    arrivals = float_col(zk, "arrivals_per_h")
    keep = (np.nan_to_num(pop) > 0) | (np.nan_to_num(inflow) != 0) | (
        np.nan_to_num(arrivals) > 0)
    zk = zk[keep].reset_index(drop=True)

    def serving(col: str) -> NDArray[np.int64]:
        return np.array([idx_of.get(s, -1) if s else -1 for s in str_col(zk, col)],
                        np.int64)

    zgeom = shapely.simplify(np.asarray(zk.geometry.values, dtype=object), ZONE_SIMPLIFY_M)
    area = shapely.area(np.asarray(zk.geometry.values, dtype=object)) / 1e6
    return _Zones(table=zk, pop=pop[keep], inflow=inflow[keep], arrivals=arrivals[keep],
                  area_km2=np.asarray(area, dtype=np.float64),
                  serve_b=serving("serving_before"), serve_a=serving("serving_after"),
                  zll=co.lonlat(zgeom, plan.zones_kpi.crs))


def _catchments(plan: Plan) -> tuple[dict[Hashable, float], dict[Hashable, float]]:
    """Population served by each outlet before and after (over every zone of the plan)."""
    zk = plan.zones_kpi.sort_values("zone_id", kind="stable")
    pop = pd.Series(float_col(zk, "population"))
    return (pop.groupby(str_col(zk, "serving_before")).sum().to_dict(),
            pop.groupby(str_col(zk, "serving_after")).sum().to_dict())


def _plan_measures(z: _Zones, year: int | str) -> list[Measure]:
    zk = z.table
    geom_m = np.asarray(zk.geometry.values, dtype=object)
    zone_xy = shapely.get_coordinates(shapely.centroid(geom_m)) if len(zk) else np.zeros((0, 2))
    cell_m = float(np.sqrt(np.median(shapely.area(geom_m)))) if len(zk) else 1.0
    un_b = z.arrivals * np.nan_to_num(float_col(zk, "unserved_before"))
    un_a = z.arrivals * np.nan_to_num(float_col(zk, "unserved_after"))
    d_b, d_a = float_col(zk, "dist_before_m"), float_col(zk, "dist_after_m")
    return [
        density_measure(z.pop, z.area_km2, year, title=f"Residents per km², {year}"),
        inflow_measure(z.inflow, z.area_km2, title="Change in residents between censuses"),
        unserved_measure("unserved_before", un_b, title="Unserved customers, before",
                         legend_title="Unserved customers per peak hour, before the plan"),
        unserved_measure("unserved", un_a, title="Unserved customers, after",
                         legend_title="Unserved customers per peak hour, after the plan"),
        unserved_change_measure(un_b, un_a, title="Change in unserved customers"),
        distance_measure("dist_before", d_b, un_b, title="Distance to the outlets used, before",
                         legend_title="Distance to the outlets used, before the plan"),
        distance_measure("dist_after", d_a, un_a, title="Distance to the outlets used, after",
                         legend_title="Distance to the outlets used, after the plan"),
        distance_change_measure(d_b, d_a, title="Change in distance"),
        catchment_measure("catchment", catchment_classes(zone_xy, z.serve_a, cell_m),
                          title="Catchments after the plan"),
        none_measure(),
    ]


def _zone_payload(z: _Zones, measures: list[Measure], *, year: int | str,
                  names: Mapping[str, str]) -> dict[str, Any]:
    zk = z.table
    z_ad = str_col(zk, "adcode")
    d_keys = sorted(set(z_ad.tolist()))
    zrows: list[list[Any]] = [
        ["lookup", "District", "d", "districts"],
        ["num", esc(f"Residents {year}"), "pop", 0, ""],
        ["signed", "Inflow between censuses", "inflow", 0, ""],
        ["num", "Customers at peak hour", "arr", 1, "/h"],
        ["pair", "Distance to serving outlet", "db", "da", 2, "km"],
        ["pair", "Nearest outlet", "nb", "na", 2, "km"],
        ["pair", "Unserved share of customers", "ub", "ua", 1, "%"],
        ["outlet_pair", "Main serving outlet", "sb", "sa"],
    ]
    tables: dict[str, list[str]] = {"districts": [esc(names.get(d, d) or pr.DASH)
                                                  for d in d_keys]}
    vals: dict[str, Any] = {
        "d": [d_keys.index(d) for d in z_ad.tolist()], "pop": clean(z.pop, 0),
        "inflow": clean(z.inflow, 0), "arr": clean(z.arrivals, 2),
        "db": clean(float_col(zk, "dist_before_m") / 1000.0, 2),
        "da": clean(float_col(zk, "dist_after_m") / 1000.0, 2),
        "nb": clean(float_col(zk, "nearest_before_m") / 1000.0, 2),
        "na": clean(float_col(zk, "nearest_after_m") / 1000.0, 2),
        "ub": clean(100.0 * float_col(zk, "unserved_before"), 1),
        "ua": clean(100.0 * float_col(zk, "unserved_after"), 1),
        "sb": z.serve_b.tolist(), "sa": z.serve_a.tolist(),
    }
    if "in_scope" in zk and not zk["in_scope"].astype(bool).all():
        tables["scope"] = ["no (neighbouring zone, shown for context)", "yes"]
        vals["sc"] = zk["in_scope"].astype(bool).astype(int).tolist()
        zrows.append(["lookup", "In the planned area", "sc", "scope"])
    return {
        "title": "Zone", "id": [esc(i) for i in zk["zone_id"].astype(str)],
        "geom": polygons(z.zll), "cls": {ms.key: ms.classes for ms in measures if ms.classes},
        "val": vals, "rows": zrows, "tables": tables, "catch_keys": ["sa", "sb"],
        "note": "All figures modelled: population from census totals, customers and waits "
                "from the scenario's assumptions.",
    }


def _views() -> dict[str, Any]:
    """The presets: which layers show, which actions the legend filter shows, the colouring."""
    plan_layers = {"actions": True, "relocations": True, "before": False, "after": False}
    return {
        "actions": {"overlays": plan_layers, "hide": [], "measure": None},
        "changes": {"overlays": plan_layers, "hide": sorted(quiet_keys()),
                    "measure": "dist_change"},
        "before": {"overlays": {"actions": False, "relocations": False, "before": True,
                                "after": False}, "hide": [], "measure": "dist_before"},
        "after": {"overlays": {"actions": False, "relocations": True, "before": False,
                               "after": True}, "hide": [], "measure": "dist_after"},
    }


_VIEW_BUTTONS = (("actions", "All actions"), ("changes", "Changes only"),
                 ("before", "Network before"), ("after", "Network after"))


def _catchment_lists(plan: Plan, idx_of: Mapping[str, int], zone_ids: list[str]
                     ) -> list[list[int]]:
    """Per site: ``[zone, share %, zone, share %, ...]`` of the zones that send at least
    :data:`CATCHMENT_MIN_SHARE` of their customers there after the plan."""
    out: list[list[int]] = [[] for _ in idx_of]
    a = plan.assignment
    if not len(a):
        return out
    zi = {z: k for k, z in enumerate(zone_ids)}
    z = a["zone_id"].astype(str).map(zi)
    s = a["site_id"].astype(str).map(idx_of)
    share = pd.to_numeric(a["share"], errors="coerce")
    ok = z.notna() & s.notna() & (share >= CATCHMENT_MIN_SHARE)
    df = pd.DataFrame({"s": s[ok].astype(int), "z": z[ok].astype(int),
                       "p": np.round(100 * share[ok]).astype(int)}).sort_values(["s", "z"])
    for si, zk, pk in zip(df["s"].tolist(), df["z"].tolist(), df["p"].tolist(), strict=True):
        out[si] += [zk, pk]
    return out


def _catchment_notes(plan: Plan) -> dict[str, str]:
    """How each kind of highlighted catchment was found (escaped text for the panel)."""
    beh: Mapping[str, Any] = plan.kpis.get("behaviour") or {}
    rule = f" (rule “{beh['rule']}”)" if beh.get("rule") else ""
    return {
        "catch": esc(f"shaded by the share of each zone's customers going there after the "
                     f"plan, zones sending at least {CATCHMENT_MIN_SHARE:.0%}{rule}."),
        "sa": esc(f"the zones it mainly serves after the plan{rule}."),
        "sb": esc(f"the zones it mainly served before the plan{rule}."),
    }


def _closed_keys(sites: _Sites, outs: _Outlets) -> frozenset[str]:
    """Marker keys whose every site has no outlet after the plan (closures, old sites)."""
    open_after = {k: sid in sites.srow for k, sid in enumerate(sites.ids)}
    keys = set(outs.icon_key)
    return frozenset(key for key in keys if not any(
        open_after[k] for k, ik in enumerate(outs.icon_key) if ik == key))


@dataclass(frozen=True)
class OutletView:
    """One plan's sites as its map draws them, every list in the order of ``ids``.

    Attributes
    ----------
    ids, latlon
        The sites (in-scope sites of the plan, then context outlets) and where they are.
    name_html, adcode, popups, icon_key
        Escaped name, district, popup markup and action marker of each site.
    arrivals, wait
        Customers per peak hour and expected wait after the plan (``None``: no figure).
    before_layer, after_layer
        ``[site index, wait marker]`` of the outlets open before and after the plan.
    arrows
        The relocation arrows (the old site's index last).
    closed_keys
        Marker keys of sites that have no outlet after the plan.
    """

    ids: list[str]
    latlon: NDArray[np.float64]
    name_html: list[str]
    adcode: list[str]
    popups: list[str]
    icon_key: list[str]
    arrivals: list[float | None]
    wait: list[float | None]
    before_layer: list[list[Any]]
    after_layer: list[list[Any]]
    arrows: list[list[Any]]
    closed_keys: frozenset[str]


def outlet_view(plan: Plan, *, study: Study | None, co: Coords, names: Mapping[str, str],
                before: Plan | None = None) -> OutletView:
    """The sites of a plan as its map draws them (markers, popups, layers, arrows).

    Parameters
    ----------
    plan : Plan
        The plan.
    study : Study or None
        Each outlet's counters and terminals before the plan.
    co : Coords
        How coordinates are written.
    names : Mapping
        District names by adcode.
    before : Plan, optional
        The plan whose network this plan starts from (a phase's previous phase): each
        outlet's counters, terminals and capacity before come from its sites after.

    Returns
    -------
    OutletView
    """
    tw = pr.target_wait(plan.kpis) or 11.0
    sites = _sites(plan, co)
    sizes = _before_sizes(plan, study)
    if before is not None:
        s = before.sites_after
        for sid, c, t, cap in zip(s["site_id"].astype(str), s["counters"], s["terminals"],
                                  s["capacity_per_h"], strict=True):
            known = sizes.get(sid, (None, None, None))[2]
            sizes[sid] = (int(c), int(t), known if known is not None else pr.finite(cap))
    outs = _outlets(sites, sizes=sizes, catch=_catchments(plan), names=names, tw=tw)
    return OutletView(
        ids=sites.ids, latlon=sites.latlon, name_html=outs.name_html, adcode=outs.adcode,
        popups=outs.popups, icon_key=outs.icon_key, arrivals=outs.arrivals, wait=outs.wait,
        before_layer=outs.before_layer, after_layer=outs.after_layer,
        arrows=_arrows(sites, outs.name_html), closed_keys=_closed_keys(sites, outs))


def _outlet_payload(view: OutletView, tw: float, names: Mapping[str, str]) -> dict[str, Any]:
    styles = plan_styles(on_top=view.closed_keys)
    n = len(view.ids)
    d_keys = sorted(set(view.adcode))
    return {
        "outlets": {"id": view.ids, "id_html": [esc(s) for s in view.ids],
                    "name": view.name_html, "lat": view.latlon[:, 0].tolist() if n else [],
                    "lon": view.latlon[:, 1].tolist() if n else [], "popup": view.popups,
                    "d": [d_keys.index(a) for a in view.adcode],
                    "dnames": [esc(names.get(a, a) or pr.DASH) for a in d_keys],
                    "arr": clean(np.asarray(view.arrivals, dtype=float), 1),
                    "wait": clean(np.asarray(view.wait, dtype=float), 1)},
        "outlet_layers": {
            "actions": [[k, view.icon_key[k]] for k in z_order(view.icon_key, styles)],
            "before": view.before_layer, "after": view.after_layer,
        },
        "icons": icon_payload({**styles, **wait_styles(tw)}),
        "table": {"layer": "actions", "skip": [actions.CONTEXT_MARKER.key],
                  "cols": [["icon"], ["name"], ["num", "arr"], ["num", "wait"]]},
        "views": _views(), "default_view": "actions",
    }


_HOW_TO_READ = (
    "Markers are outlets, shaped and coloured by what the plan does with them; kept outlets "
    "are small grey dots so that the changes stand out. Untick an action in the legend to "
    "hide it, or use the presets above. Find an outlet by name or id, or pick a district; "
    "click a row of the table or an outlet for its figures before → after, its reason, "
    "and its catchment (the zones whose customers go there under the behaviour rule). "
    "Choose what colours the zones under “Colour the zones by”: the classes are fixed and "
    "the same on every netplan map. Every figure is modelled: outlets, population and "
    "customers come from the scenario's assumptions, not from observations."
)


def kpi_body_html(kpis: Kpis) -> str:
    """The KPI panel's table of a plan (before → after, from its ``kpis.json``) and its note.

    Parameters
    ----------
    kpis : Kpis
        The plan's KPIs; the service rows come from its ``behaviour`` block.

    Returns
    -------
    str
        Markup (netplan's own, every text escaped).
    """
    tw = pr.target_wait(kpis) or 11.0
    rows, caption = pr.plan_kpi_rows(kpis, tw)
    rows += pr.cost_rows(kpis.get("costs") or {})
    note = (f"{caption} Actions: {pr.action_counts_text(kpis) or pr.DASH}. "
            "Green = better, red = worse. Modelled figures.")
    return f'{kpi_table_html(rows)}<p class="netplan-note">{esc(note)}</p>'


def _kpi_section(kpis: Kpis, scope: str, phased: bool) -> str:
    if phased:
        return kpi_section(f"Key figures of {scope} in the phase shown, before → after",
                           f'<div id="netplan-kpi-body">{kpi_body_html(kpis)}</div>')
    return kpi_section(f"Key figures of {scope}, before → after", kpi_body_html(kpis))


def _action_legend(icon_key: list[str]) -> str:
    counts = dict.fromkeys(legend_keys(), 0)
    for ik in icon_key:
        counts[ik] = counts.get(ik, 0) + 1
    keys = [k for k in counts if k != actions.CONTEXT_MARKER.key or counts[k]]
    return ('<div class="netplan-legend-title">Planned action (count); untick to hide</div>'
            f"{legend_rows(plan_styles(), counts, keys, filters=True)}")


def _overlays(study: Study | None) -> list[tuple[str, str, bool]]:
    net_src = network_source(study)
    return [
        ("actions", f"Outlets by planned action ({net_src})", True),
        ("relocations", "Relocations: old site → new site", True),
        ("before", f"Network before the plan, by expected wait ({net_src})", False),
        ("after", "Network after the plan, by expected wait (modelled)", False),
    ]


def _panels(plan: Plan, *, names: Mapping[str, str], adcodes: list[str],
            measures: list[Measure], overlays: list[tuple[str, str, bool]],
            legends: dict[str, str], gcj02: bool, phases: PhaseLayers | None
            ) -> tuple[str, str]:
    """Title and the side panel's markup."""
    kpis = plan.kpis
    year = kpis.get("year", "")
    tw = pr.target_wait(kpis) or 11.0
    scope = pr.scope_text(kpis, names)
    solver = kpis.get("solver") or {}
    gap = pr.finite(solver.get("gap"))
    title = f"Branch network plan: {scope}"
    intro = (f"Demand of {year}, scenario “{pr.scenario_name(kpis)}”, waiting target "
             f"{tw:g} min. Solver: {solver.get('status', '?')}"
             + (f", gap {100 * gap:.2f} %" if gap is not None else "") + ".")
    if phases is not None:
        years = [e["year"] for e in phases.payload["phases"]]
        title = f"Phased branch network plan: {scope}, {years[0]}–{years[-1]}"
        intro = (f"{len(years)} phases planned in turn (rolling horizon), each on the demand "
                 f"of its year; scenario “{pr.scenario_name(kpis)}”, waiting target {tw:g} "
                 "min. Each phase's solver gap is in its key figures.")
    shift = (" Coordinates are shifted to GCJ-02 to sit on the Gaode background."
             if gcj02 else "")
    d_keys = sorted(set(adcodes))
    html = (title_section(title, intro, views=_VIEW_BUTTONS, how_to_read=_HOW_TO_READ + shift)
            + (phases.section_html if phases is not None else "")
            + find_section(districts_html=[esc(names.get(a, a) or pr.DASH) for a in d_keys],
                           heads=(("Action", "Planned action"), ("Outlet", "Name and id"),
                                  ("/h", "Customers per peak hour after the plan"),
                                  ("Wait", "Expected wait after the plan, minutes")),
                           what="Every site of the plan, with its action.")
            + _kpi_section(kpis if phases is None else phases.shown_kpis, scope,
                           phases is not None)
            + zones_section(measures, "population") + layers_section(overlays, legends))
    return title, html


def plan_page(plan: Plan, *, study: Study | None, co: Coords,
              phases: PhaseLayers | None = None) -> MapPage:
    """Layers, payload and panels of a plan's map.

    Parameters
    ----------
    plan : Plan
        The plan (of a phased plan: its last phase).
    study : Study or None
        Context layers and each outlet's size before the plan.
    co : Coords
        How coordinates are written (GCJ-02 shift or not).
    phases : PhaseLayers, optional
        A phased plan's phases (:func:`netplan.present.phase_layers.phase_layers`): the page
        gets the phase slider, and the outlets, the table and the key figures follow it.

    Returns
    -------
    MapPage
        Ready for :func:`netplan.present.frame.render`.
    """
    kpis = plan.kpis
    year = kpis.get("year", "")
    tw = pr.target_wait(kpis) or 11.0
    names = pr.district_names(study)
    view = (outlet_view(plan, study=study, co=co, names=names) if phases is None
            else phases.view)
    idx_of = {s: k for k, s in enumerate(view.ids)}
    zones = _zones(plan, idx_of, co)
    measures = _plan_measures(zones, year)
    payload: dict[str, Any] = {"zones": _zone_payload(zones, measures, year=year, names=names)}
    payload["zones"]["catch"] = _catchment_lists(
        plan, idx_of, zones.table["zone_id"].astype(str).tolist())
    payload["zones"]["catch_notes"] = _catchment_notes(plan)
    payload.update(_outlet_payload(view, tw, names))
    payload["arrows"] = view.arrows
    payload["arrow_color"] = ARROW_COLOR
    if phases is not None:  # the phases' markers join the wait markers of before / after
        payload.update({**phases.payload, "icons": {**payload["icons"],
                                                     **phases.payload["icons"]}})
    ctx_overlays, ctx_payload = context_layers(study, co, used_sites=frozenset(view.ids))
    payload.update(ctx_payload)
    overlays = _overlays(study) + ctx_overlays
    wait_legend = (f'<div class="netplan-legend-title">Expected wait at peak (target {tw:g} '
                   f"min)</div>{legend_rows(wait_styles(tw))}")
    legends = {"actions": (_action_legend(view.icon_key) if phases is None
                           else phases.legend_html),
               "relocations": arrow_legend_row(), "before": wait_legend, "after": wait_legend,
               **context_legends(ctx_payload)}
    title, panels = _panels(plan, names=names, adcodes=view.adcode, measures=measures,
                            overlays=overlays, legends=legends, gcj02=co.gcj02, phases=phases)
    box = bounds(np.vstack([view.latlon, zone_latlon(zones.zll)]))
    scope = str(kpis.get("scope", "city"))
    if scope != "city":
        focus = focus_layer(study, scope, co)
        if focus is not None:
            payload["focus"], box = focus
    return MapPage(title=title, payload=payload, measures=measures, overlays=overlays,
                   panels_html=panels, bounds=box, default_measure="population")
