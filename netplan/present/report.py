"""The committee report of a plan: one standalone HTML page (no external JS, CSS or fonts).

Sections: the plan in a few sentences; the scenario in words (demand, service, travel,
limits, formats, district policies); KPIs before → after overall, per district and per
ring zone; charts as inline SVG (:mod:`netplan.present.charts`: customers by expected
wait before / after, outlets per ring zone, outlets per 100,000 residents per district);
the map (linked and embedded in an iframe); the list of actions with their reasons
(sortable and filterable by a few lines of inline script; the table reads fine without
it).

Every user string (names, ids, reasons, scenario text) is HTML-escaped and the page is
assembled in a fixed frame (:func:`netplan.present.page.document`): no user text is ever
read as a template. The output is deterministic (no timestamps), so the same plan gives
the same bytes. The order, names and colours of the actions come from the action
registry (:mod:`netplan.planning.actions`).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from netplan._errors import NetplanError
from netplan._io import atomic_write_text
from netplan.planning import actions
from netplan.present import texts as pr
from netplan.present.charts import grouped_bar_svg, hbar_svg
from netplan.present.page import document
from netplan.present.texts import DASH, esc

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis, NetworkKpis
    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

log = logging.getLogger(__name__)

__all__ = ["plan_report", "plan_report_html"]

BEFORE_COLOR = "#9e9e9e"
AFTER_COLOR = "#0072b2"


# --- figures from the plan ------------------------------------------------------------


def wait_bins(target_wait_min: float) -> list[float]:
    """Upper edges of the wait classes of the wait chart (the target is one of them)."""
    edges = sorted({2.0, 5.0, 8.0, float(target_wait_min), 15.0, 20.0, 30.0})
    return [e for e in edges if e > 0]


def wait_histogram(wait_min: Any, customers: Any, edges: Sequence[float]) -> list[float]:
    """Customers per wait class: ``≤ e0``, ``e0 – e1``, …, ``> e_last`` (inf included)."""
    w = np.asarray(wait_min, dtype=np.float64)
    c = np.nan_to_num(np.asarray(customers, dtype=np.float64))
    ok = ~np.isnan(w)
    cls = np.searchsorted(np.asarray(edges, dtype=np.float64), w[ok], side="left")
    out = np.bincount(cls, weights=c[ok], minlength=len(edges) + 1)
    return [float(v) for v in out]


def _bin_labels(edges: Sequence[float]) -> list[str]:
    labels = [f"≤ {edges[0]:g}"]
    labels += [f"{a:g}–{b:g}" for a, b in itertools.pairwise(edges)]
    labels.append(f"> {edges[-1]:g}")
    return labels


def _num_col(df: pd.DataFrame, col: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)


def _wait_chart(plan: Plan, tw: float) -> str:
    a = plan.actions
    existed = a["format_before"].fillna("").astype(str).to_numpy() != "" if (
        "format_before" in a) else np.ones(len(a), bool)
    s = plan.sites_after
    scope = s["in_scope"].astype(bool).to_numpy() if "in_scope" in s else np.ones(len(s), bool)
    edges = wait_bins(tw)
    hb = wait_histogram(_num_col(a, "wait_before_min")[existed],
                        _num_col(a, "arrivals_before_per_h")[existed], edges)
    ha = wait_histogram(_num_col(s, "wait_min")[scope], _num_col(s, "arrivals_per_h")[scope],
                        edges)
    k = edges.index(float(tw)) if float(tw) in edges else None
    return grouped_bar_svg(
        _bin_labels(edges), [("before the plan", BEFORE_COLOR, hb),
                             ("after the plan", AFTER_COLOR, ha)],
        title="Peak-hour customers by the expected wait at their outlet (minutes)",
        y_label="customers per peak hour", marker_after=k,
        marker_label=f"target {tw:g} min")


def _ring_chart(kpis: Kpis) -> str:
    from netplan.study.geometry import RING_ZONES

    rb, ra = kpis["before"]["ring_zones"], kpis["after"]["ring_zones"]
    zones = [z for z in RING_ZONES if z in rb or z in ra]

    def outlets(group: Mapping[str, NetworkKpis]) -> list[float]:
        return [float(group[z]["outlets"]) if z in group else 0.0 for z in zones]

    return grouped_bar_svg(
        [pr.ring_zone_label(z).replace(" ring", "").replace("the ", "") for z in zones],
        [("before the plan", BEFORE_COLOR, outlets(rb)),
         ("after the plan", AFTER_COLOR, outlets(ra))],
        title="Outlets per ring zone", y_label="outlets")


def _district_chart(kpis: Kpis, names: Mapping[str, str]) -> str:
    db, da = kpis["before"]["districts"], kpis["after"]["districts"]
    cats: list[str] = []
    vb: list[float] = []
    va: list[float] = []
    for ad in sorted(set(db) | set(da)):
        b: Mapping[str, object] = db.get(ad) or {}
        a: Mapping[str, object] = da.get(ad) or {}
        pop = pr.finite(a.get("population", b.get("population"))) or 0.0
        cats.append(f"{_short_name(names.get(ad, ad))} ({pop / 1e6:.1f} M residents)")
        vb.append(1e5 * (pr.finite(b.get("outlets")) or 0.0) / pop if pop > 0 else float("nan"))
        va.append(1e5 * (pr.finite(a.get("outlets")) or 0.0) / pop if pop > 0 else float("nan"))
    return hbar_svg(cats, [("before the plan", BEFORE_COLOR, vb),
                           ("after the plan", AFTER_COLOR, va)],
                    title="Outlets per 100,000 residents, per district",
                    x_label="outlets per 100,000 residents in the plan's year")


def _short_name(name: str) -> str:
    """``朝阳区 Chaoyang District`` → ``Chaoyang`` (chart labels); other names unchanged."""
    parts = name.split(" ")
    if len(parts) >= 2:
        rest = [p for p in parts[1:] if p.lower() != "district"]
        return " ".join(rest) or name
    return name


# --- tables ---------------------------------------------------------------------------


def _kpi_table(rows: Sequence[pr.KpiRow]) -> str:
    body = []
    for r in rows:
        cls = f' class="{r.change}"' if r.change else ""
        body.append(f"<tr><td>{esc(r.label)}</td><td>{esc(r.before)}</td>"
                    f"<td{cls}>{esc(r.after)}</td></tr>")
    return ('<table class="kpi"><thead><tr><th>measure</th><th>before</th><th>after</th></tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table>')


GROUP_KEYS: tuple[str, ...] = (
    "outlets", "mean_wait_min", "share_customers_over_target", "mean_dist_m",
    "share_pop_within_1km", "unserved_arrivals_per_h",
)


def _group_table(kpis: Kpis, part: Literal["districts", "ring_zones"],
                 labels: Mapping[str, str], *, tw: float | None, first: str,
                 order: Sequence[str] | None = None) -> str:
    gb, ga = kpis["before"][part], kpis["after"][part]
    keys = list(order) if order is not None else sorted(set(gb) | set(ga))
    keys = [k for k in keys if k in gb or k in ga]
    if not keys:
        return "<p>No figures.</p>"
    head_rows = pr.kpi_rows({k: 0 for k in GROUP_KEYS}, {}, target_wait_min=tw, keys=GROUP_KEYS)
    heads = "".join(f"<th>{esc(r.label)}</th>" for r in head_rows)
    body = []
    for g in keys:
        rows = pr.kpi_rows(gb.get(g), ga.get(g), target_wait_min=tw, keys=GROUP_KEYS)
        grp = ga.get(g) or gb.get(g)
        pop = grp["population"] if grp else None
        cells = "".join(
            f'<td><span class="b">{esc(r.before)}</span> → '
            f'<span class="{r.change or "same"}">{esc(r.after)}</span></td>' for r in rows)
        body.append(f"<tr><td>{esc(labels.get(g, g))}</td><td>{esc(pr.num(pop))}</td>"
                    f"{cells}</tr>")
    ov_b, ov_a = kpis["before"]["overall"], kpis["after"]["overall"]
    rows = pr.kpi_rows(ov_b, ov_a, target_wait_min=tw, keys=GROUP_KEYS)
    cells = "".join(f'<td><span class="b">{esc(r.before)}</span> → '
                    f'<span class="{r.change or "same"}">{esc(r.after)}</span></td>'
                    for r in rows)
    foot = (f'<tfoot><tr><td>all ({esc(pr.scope_text(kpis, labels))})</td>'
            f"<td>{esc(pr.num(ov_a['population']))}</td>"
            f"{cells}</tr></tfoot>") if part == "districts" else ""
    return (f'<div class="wide"><table class="groups"><thead><tr><th>{esc(first)}</th>'
            f"<th>residents</th>{heads}</tr></thead><tbody>{''.join(body)}</tbody>{foot}"
            "</table></div>")


def _row_order(act: str, moved_by: str) -> tuple[int, int]:
    """Sort key of an action row: the registry's priority; a move's new site right after
    the action that moved an outlet there; anything else last."""
    if act in actions.BY_NAME:
        return (actions.action(act).priority, 0)
    if moved_by in actions.BY_NAME:
        return (actions.action(moved_by).priority, 1)
    return (1_000_000, 0)


def _actions_table(plan: Plan, names: Mapping[str, str]) -> str:
    a = plan.actions.drop(columns="geometry").copy()
    a["action"] = a["action"].fillna("").astype(str)
    moves = [(str(s), str(t), str(act)) for s, t, act in zip(
        a["site_id"], a.get("relocation_target", ""), a["action"], strict=True)
        if str(t) and str(t) != "nan"]
    origin = {t: s for s, t, _ in moves}
    origin_action = {t: act for _, t, act in moves}
    a["_o"] = [_row_order(act, origin_action.get(str(s), ""))
               for act, s in zip(a["action"], a["site_id"], strict=True)]
    a = a.sort_values(["_o", "site_id"], kind="stable")
    rows = []
    for r in a.to_dict("records"):
        act = str(r["action"])
        sid = str(r["site_id"])
        shown = act or ("relocation target" if sid in origin else "new site")
        reason = str(r.get("reason") or "")
        if not act and sid in origin:
            reason = f"new site of {origin[sid]}"
        if act and sid in origin.values():
            reason = reason or f"moves to {r.get('relocation_target')}"
        ad = str(r.get("adcode") or "")
        fb, fa = str(r.get("format_before") or ""), str(r.get("format_after") or "")
        ab = pr.finite(r.get("arrivals_before_per_h")) if fb else None
        aa = pr.finite(r.get("arrivals_after_per_h")) if fa else None
        wb = r.get("wait_before_min") if fb else None
        wa = r.get("wait_after_min") if fa else None

        def key(v: float | None) -> str:
            return "" if v is None else f"{v:.3f}"

        def wkey(v: Any) -> str:
            try:
                x = float(v)
            except (TypeError, ValueError):
                return ""
            return "" if math.isnan(x) else ("1e9" if math.isinf(x) else f"{x:.3f}")

        rows.append(
            f'<tr data-action="{esc(act or "relocation-target")}"><td>{esc(sid)}</td>'
            f"<td>{esc(r.get('name'))}</td><td>{esc(names.get(ad, ad))}</td>"
            f'<td>{esc(pr.ring_zone_label(r.get("ring_zone")))}</td>'
            f'<td class="act act-{esc(act or "target")}">{esc(shown)}</td>'
            f"<td>{esc(fb or DASH)} → {esc(fa or DASH)}</td>"
            f'<td data-sort="{key(ab)}">{esc(pr.num(ab, 1))}</td>'
            f'<td data-sort="{key(aa)}">{esc(pr.num(aa, 1))}</td>'
            f'<td data-sort="{wkey(wb)}">{esc(pr.wait_text(wb))}</td>'
            f'<td data-sort="{wkey(wa)}">{esc(pr.wait_text(wa))}</td>'
            f"<td>{esc(reason)}</td></tr>"
        )
    heads = ["site", "name", "district", "ring zone", "action", "format before → after",
             "customers/h before", "customers/h after", "wait before", "wait after", "reason"]
    th = "".join(f'<th data-col="{k}" data-num="{int(k in (6, 7, 8, 9))}" tabindex="0">'
                 f"{esc(h)}</th>" for k, h in enumerate(heads))
    return (
        '<div class="controls"><label><input type="checkbox" id="show-keep"> show the '
        'outlets that are kept as they are</label> <label>filter <input type="search" '
        'id="filter" placeholder="name, id, district, reason"></label></div>'
        f'<div class="wide"><table id="actions" class="actions"><thead><tr>{th}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# --- scenario in words ----------------------------------------------------------------


def _get(d: Mapping[str, Any], *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _limit(x: Any, fmt: str = "{:,.0f}") -> str:
    v = pr.finite(x)
    return "no limit" if v is None else fmt.format(v)


def _scenario_html(kpis: Kpis, names: Mapping[str, str]) -> str:
    sc = kpis.get("scenario") or {}

    def g(*path: str) -> Any:
        return _get(sc, *path)
    year = kpis.get("year")

    def n(x: Any, nd: int = 0) -> str:
        return pr.num(x, nd)

    def p(x: Any) -> str:
        return pr.pct(x, 0)

    paras = [
        f"The plan uses the scenario <b>{esc(sc.get('name', DASH))}</b>"
        + (f": {esc(sc.get('description'))}" if sc.get("description") else "."),
        f"<b>Demand</b> is that of {esc(year)} (base year {esc(g('years', 'base'))}, horizon "
        f"{esc(g('years', 'horizon'))}; at the horizon {esc(n(g('horizon', 'total_population')))}"
        f" residents, {esc(n(g('horizon', 'central_population')))} of them in the six central "
        f"districts). {esc(p(g('demand', 'customer_share')))} of the residents are customers "
        "of the bank; each visits an outlet "
        f"{esc(n(g('demand', 'visits_per_customer_per_year'), 1))} times a year, on "
        f"{esc(n(g('demand', 'business_days_per_year')))} business days; "
        f"{esc(p(g('demand', 'peak_hour_share')))} of a day's visits fall in the peak hour, "
        f"and {esc(p(g('demand', 'smart_share')))} of the business goes through smart "
        "terminals.",
        f"<b>Service</b>: a counter serves a customer in "
        f"{esc(n(g('service', 'counter_service_min'), 1))} min on average, a smart terminal in "
        f"{esc(n(g('service', 'terminal_service_min'), 1))} min. Every outlet is sized so that "
        "the mean wait at the peak hour stays under "
        f"<b>{esc(n(g('service', 'target_wait_min'), 1))} min</b> (two M/M/c queues, Erlang C).",
        f"<b>Travel</b>: customers go to one of their {esc(n(g('travel', 'k_nearest')))} nearest "
        f"outlets within {esc(n(g('travel', 'max_dist_km'), 1))} km (straight line × "
        f"{esc(n(g('travel', 'detour_factor'), 2))} for detours); a kilometre costs them "
        f"{esc(n(g('travel', 'cost_cny_per_km'), 1))} CNY. An outlet may move up to "
        f"{esc(n(g('travel', 'relocation_radius_km'), 1))} km.",
        f"<b>Limits</b>: one-off budget {esc(_limit(g('planning', 'budget_cny'), '{:,.0f} CNY'))}; "
        f"at most {esc(_limit(g('planning', 'max_open')))} openings and "
        f"{esc(_limit(g('planning', 'max_close')))} closures; at least "
        f"{esc(_limit(g('planning', 'min_share_outside_ring5'), '{:.0%}'))} of the outlets "
        "outside the 5th ring; one-off costs amortised over "
        f"{esc(n(g('planning', 'amortisation_years')))} years.",
    ]
    fmts = sc.get("formats") or {}
    frows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(pr.num(f.get('counters')))}</td>"
        f"<td>{esc(pr.num(f.get('terminals')))}</td>"
        f"<td>{esc(pr.million(f.get('opex_cny_per_year')))}</td>"
        f"<td>{esc(pr.million(f.get('open_cny')))}</td>"
        f"<td>{esc(pr.million(f.get('convert_cny')))}</td>"
        f"<td>{esc(pr.million(f.get('close_cny')))}</td>"
        f"<td>{esc(pr.million(f.get('relocate_cny')))}</td>"
        f"<td>{esc(f.get('description') or '')}</td></tr>"
        for name, f in fmts.items() if isinstance(f, Mapping)
    )
    ftable = ("<h3>Outlet formats</h3><div class=\"wide\"><table class=\"plain\"><thead><tr>"
              "<th>format</th><th>counters</th><th>smart terminals</th><th>operating cost / "
              "year (CNY)</th><th>open</th><th>convert into</th><th>close</th><th>relocate</th>"
              f"<th>description</th></tr></thead><tbody>{frows}</tbody></table></div>"
              ) if frows else ""
    pols = sc.get("districts") or {}
    prows = "".join(
        f"<tr><td>{esc(names.get(str(k), str(k)))}</td><td>{esc(v.get('policy'))}</td>"
        f"<td>{esc(_limit(v.get('min_outlets')))}</td><td>{esc(_limit(v.get('max_outlets')))}</td>"
        f"<td>{esc(_limit(v.get('max_open')))}</td><td>{esc(_limit(v.get('max_close')))}</td>"
        "</tr>"
        for k, v in pols.items() if isinstance(v, Mapping)
    )
    ptable = ("<h3>District policies (一区一策)</h3><table class=\"plain\"><thead><tr>"
              "<th>district</th><th>policy</th><th>min outlets</th><th>max outlets</th>"
              f"<th>max openings</th><th>max closures</th></tr></thead><tbody>{prows}</tbody>"
              "</table><p class=\"note\">Districts not listed: the optimizer decides freely.</p>"
              ) if prows else "<p>No district policies: the optimizer decides freely.</p>"
    return "".join(f"<p>{x}</p>" for x in paras) + ftable + ptable


# --- the page -------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 "Helvetica Neue", Arial, "Noto Sans CJK SC", "Microsoft YaHei",
  sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin-top: 32px;
  border-bottom: 2px solid #0072b2; padding-bottom: 2px; } h3 { font-size: 16px; }
.lede { font-size: 17px; color: #333; } .note { color: #666; font-size: 13px; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; font-size: 13.5px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; text-align: left;
  vertical-align: top; }
thead th { border-bottom: 2px solid #999; background: #f4f4f4; position: sticky; top: 0; }
table.kpi td:nth-child(n+2) { text-align: right; white-space: nowrap; }
table.groups td:nth-child(n+2) { white-space: nowrap; text-align: right; }
table.groups tfoot td { font-weight: bold; border-top: 2px solid #999; }
.better { color: #0a7d32; font-weight: bold; } .worse { color: #c0392b; font-weight: bold; }
.b { color: #666; }
.wide { overflow-x: auto; max-width: 100%; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 150px;
  background: #fcfcfc; }
.card .v { font-size: 20px; font-weight: bold; } .card .l { color: #555; font-size: 13px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 10px 0 24px; }
svg.chart text { font: 12px sans-serif; fill: #333; } svg.chart .ct { font-weight: bold;
  font-size: 14px; } svg.chart .grid { stroke: #e5e5e5; } svg.chart .axis { stroke: #666; }
svg.chart .marker { stroke: #c0392b; stroke-dasharray: 5 4; stroke-width: 1.5; }
svg.chart .lbl { font-size: 11px; }
table.actions td:nth-child(n+7):nth-child(-n+10) { text-align: right; white-space: nowrap; }
table.actions th { cursor: pointer; } table.actions th.sorted-asc::after { content: " ▲"; }
table.actions th.sorted-desc::after { content: " ▼"; }
.act { font-weight: bold; }
.controls { margin: 8px 0; } .controls label { margin-right: 16px; }
iframe.map { width: 100%; height: 640px; border: 1px solid #ccc; }
@media print { iframe.map, .controls, nav { display: none; } thead th { position: static; } }
"""

_JS = """
(function () {
  var table = document.getElementById("actions");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var keep = document.getElementById("show-keep");
  var filter = document.getElementById("filter");
  function apply() {
    var q = (filter.value || "").toLowerCase();
    Array.prototype.forEach.call(tbody.rows, function (r) {
      var isKeep = r.getAttribute("data-action") === "keep";
      var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
      r.style.display = ((isKeep && !keep.checked) || !hit) ? "none" : "";
    });
  }
  keep.addEventListener("change", apply);
  filter.addEventListener("input", apply);
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    function sort() {
      var col = Number(th.getAttribute("data-col"));
      var num = th.getAttribute("data-num") === "1";
      var asc = !th.classList.contains("sorted-asc");
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
        h.classList.remove("sorted-asc", "sorted-desc");
      });
      th.classList.add(asc ? "sorted-asc" : "sorted-desc");
      var rows = Array.prototype.slice.call(tbody.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col], r;
        if (num) {
          var vx = x.getAttribute("data-sort"), vy = y.getAttribute("data-sort");
          var fx = vx === "" ? Infinity : Number(vx), fy = vy === "" ? Infinity : Number(vy);
          r = fx === fy ? 0 : (fx < fy ? -1 : 1);
        } else {
          r = x.textContent.localeCompare(y.textContent);
        }
        return asc ? r : -r;
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
  });
  apply();
}());
"""


def _contrast_on_white(hex_color: str) -> float:
    """WCAG contrast ratio of a colour against white."""
    rgb = [int(hex_color[k:k + 2], 16) / 255.0 for k in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return 1.05 / (lum + 0.05)


def _text_color(hex_color: str) -> str:
    """A marker colour darkened until bold text in it reads on white (contrast 3:1)."""
    rgb = [int(hex_color[k:k + 2], 16) for k in (1, 3, 5)]
    color = hex_color
    while _contrast_on_white(color) < 3.0:
        rgb = [int(c * 0.9) for c in rgb]
        color = "#" + "".join(f"{c:02x}" for c in rgb)
    return color


def _action_css() -> str:
    """Colour of each action's name in the actions table: its marker's, from the registry.

    A move's new site (``act-target``) takes the colour of the move's second marker;
    actions that change nothing are not bold.
    """
    rules = []
    for a in actions.ACTIONS:
        weight = "" if a.changes_network else " font-weight: normal;"
        rules.append(f".act-{a.name} {{ color: {_text_color(a.markers[0].color)};{weight} }}")
        if len(a.markers) > 1:
            rules.append(f".act-target {{ color: {_text_color(a.markers[-1].color)}; }}")
    return "\n".join(rules) + "\n"


def _safe_href(href: str) -> str:
    parts = urlsplit(href)
    if parts.scheme and parts.scheme.lower() not in ("http", "https", "file"):
        raise NetplanError(
            f"map_href {href!r} has the scheme {parts.scheme!r}; give a relative path such as "
            "'map.html' or an http(s)/file URL"
        )
    return href


def _cards(kpis: Kpis, tw: float | None) -> str:
    rows = {r.label: r for r in pr.plan_kpi_rows(kpis, tw)[0]}
    out = []
    for label in list(rows)[:4] + [r for r in rows if r.startswith("Residents ≤ 1")]:
        r = rows[label]
        cls = f' class="v {r.change}"' if r.change else ' class="v"'
        out.append(f'<div class="card"><div class="l">{esc(r.label)}</div>'
                   f"<div{cls}>{esc(r.before)} → {esc(r.after)}</div></div>")
    return f'<div class="cards">{"".join(out)}</div>'


def _lede(kpis: Kpis, scope: str, tw: float | None) -> str:
    counts = kpis.get("actions") or {}
    changed = [a for a in actions.by_priority() if a.changes_network]
    kept = [a for a in actions.by_priority() if not a.changes_network]
    verbs = [f"{counts[a.name]} {a.name}" for a in changed if counts.get(a.name)]
    ob = (kpis.get("before") or {}).get("overall") or {}
    oa = (kpis.get("after") or {}).get("overall") or {}
    costs = kpis.get("costs") or {}
    beh = kpis.get("behaviour")
    wait_key, what = "mean_wait_min", "mean expected wait"
    wb: Mapping[str, Any] = ob
    wa: Mapping[str, Any] = oa
    if isinstance(beh, Mapping):
        wait_key, what = "counter_mean_wait_min", "counter mean wait"
        wb, wa = beh.get("before") or {}, beh.get("after") or {}
    return (
        f"For {scope}, the plan changes {sum(int(counts.get(a.name, 0)) for a in changed)}"
        f" of {ob.get('outlets', '?')} outlets ({', '.join(verbs) or 'no changes'}) and keeps "
        f"{sum(int(counts.get(a.name, 0)) for a in kept)}. The {what} at peak goes "
        f"from {pr.fmt_kpi(wb.get(wait_key), 'min')} to "
        f"{pr.fmt_kpi(wa.get(wait_key), 'min')}"
        + (f" (target {tw:g} min)" if tw is not None else "")
        + f"; the mean travel distance from {pr.km(ob.get('mean_dist_m'))} to "
        f"{pr.km(oa.get('mean_dist_m'))}. One-off spend {pr.million(costs.get('oneoff_spend_cny'))}"
        f" CNY; operating cost {pr.million(costs.get('opex_before_cny_per_year'))} → "
        f"{pr.million(costs.get('opex_after_cny_per_year'))} CNY a year."
    )


def _solver_text(kpis: Kpis) -> str:
    solver = kpis.get("solver") or {}
    gap = pr.finite(solver.get("gap"))
    return (f"Solver {solver.get('solver', '?')}: {solver.get('status', '?')}"
            + (f", optimality gap {100 * gap:.2f} %" if gap is not None else "")
            + ". All figures are modelled from the scenario's assumptions and the "
              "study's layers; they are not observations.")


def _map_section(map_href: str | None) -> str:
    if not map_href:
        return ""
    href = esc(_safe_href(map_href))
    return (f'<h2 id="map">Map</h2><p><a href="{href}">Open the map on its own page</a> '
            "(outlets by action, zones by population, inflow, distance and catchment; "
            "before / after).</p>"
            f'<iframe class="map" src="{href}" title="Map of the plan" loading="lazy">'
            "</iframe>")


def _figures_section(kpis: Kpis, names: Mapping[str, str],
                     tw: float | None) -> str:
    from netplan.study.geometry import RING_ZONES

    rows, caption = pr.plan_kpi_rows(kpis, tw)
    overall = _kpi_table(rows + pr.cost_rows(kpis.get("costs") or {}))
    ring_labels = {z: pr.ring_zone_label(z) for z in RING_ZONES}
    ring_table = _group_table(kpis, "ring_zones", ring_labels, tw=tw, first="ring zone",
                              order=RING_ZONES)
    return (
        f'<h2 id="kpis">Figures before → after</h2><h3>Overall</h3>'
        f'<p class="note">{esc(caption)}</p>{overall}'
        f"<h3>Per district</h3>{_group_table(kpis, 'districts', names, tw=tw, first='district')}"
        f"<h3>Per ring zone</h3>{ring_table}"
        '<p class="note">Green: better after the plan, red: worse. Distances are travel '
        "distances (straight line × detour factor); waits are Erlang A expectations at the "
        "peak hour (customers give up after their patience).</p>"
    )


def plan_report_html(plan: Plan, *, map_href: str | None = None,
                     study: Study | None = None) -> str:
    """The report as one HTML string (see :func:`plan_report`).

    Parameters
    ----------
    plan : Plan
        The plan.
    map_href : str, optional
        Link to the plan's map (see :func:`plan_report`).
    study : Study, optional
        Gives the districts' names.

    Returns
    -------
    str
        The HTML document (same plan, same bytes).
    """
    kpis = plan.kpis
    names = pr.district_names(study)
    tw = pr.target_wait(kpis)
    scope = pr.scope_text(kpis, names)
    title = f"Branch network plan: {scope}, demand of {kpis.get('year', '')}"
    map_html = _map_section(map_href)
    nav = ['<a href="#summary">Summary</a>', '<a href="#scenario">Scenario</a>',
           '<a href="#kpis">Figures</a>', '<a href="#charts">Charts</a>']
    if map_html:
        nav.append('<a href="#map">Map</a>')
    nav.append('<a href="#actions-list">Actions</a>')
    version = (plan.run or {}).get("netplan", "")
    body = (
        f"<main><h1>{esc(title)}</h1><nav>{''.join(nav)}</nav>"
        f'<h2 id="summary">Summary</h2><p class="lede">{esc(_lede(kpis, scope, tw))}</p>'
        f'{_cards(kpis, tw)}<p class="note">{esc(_solver_text(kpis))}</p>'
        f'<h2 id="scenario">The scenario in words</h2>{_scenario_html(kpis, names)}'
        f"{_figures_section(kpis, names, tw)}"
        f'<h2 id="charts">Charts</h2><div class="charts">{_wait_chart(plan, tw or 11.0)}'
        f"{_ring_chart(kpis)}{_district_chart(kpis, names)}</div>"
        f"{map_html}"
        f'<h2 id="actions-list">Actions and their reasons</h2>'
        '<p class="note">Click a column heading to sort. Kept outlets are hidden unless you '
        "tick the box.</p>"
        f"{_actions_table(plan, names)}"
        f'<p class="note">Made by netplan {esc(version)}.</p></main>'
    )
    return document(title=title, css=_CSS + _action_css(), body_html=body, script=_JS)


def plan_report(plan: Plan, *, out: Path, map_href: str | None = None,
                study: Study | None = None, force: bool = False,
                inputs: Sequence[Path] = ()) -> Path:
    """Write the committee report of a plan: one standalone HTML page.

    Parameters
    ----------
    plan : Plan
        The plan.
    out
        The HTML file to write (folders are created).
    map_href
        Link to the plan's map (relative to ``out``, e.g. ``"map.html"``); the map is then
        linked and embedded in an iframe. ``None``: no map section.
    study
        Optional; gives the districts' names (otherwise their adcodes are shown).
    force
        Replace an existing ``out`` (see :func:`netplan._io.check_new_file`).
    inputs
        Files the run read (the plan's, the study's): ``out`` may not be one of them.

    Returns
    -------
    Path
        ``out``.
    """
    text = plan_report_html(plan, map_href=map_href, study=study)
    out = atomic_write_text(out, text, force=force, inputs=inputs)
    log.info("report written to %s (%.2f MB)", out, len(text.encode("utf-8")) / 1e6)
    return out
