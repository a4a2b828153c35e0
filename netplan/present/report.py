"""The committee report of a plan: one standalone HTML page (no external JS, CSS or fonts).

It prints as the committee's approval pack (A4 landscape): an executive summary with
what is asked and what to weigh (:mod:`netplan.present.narrative`); the limits the plan
uses up, whether it holds under the behaviour rule and the headroom left, actions and
one-off spend per district (:mod:`netplan.present.pack`); the trade-offs in figures; a
static map of the decisions (:mod:`netplan.present.staticmap`); KPIs before → after
overall, per district and per ring zone, every one labelled with its behaviour rule;
charts as inline SVG (:mod:`netplan.present.charts`); methodology, assumptions and
caveats; the scenario in words. Then the appendices: a map of each district with
actions, the actions grouped by district with their reasons in full, and the outlets
still over capacity with the reason. On screen the interactive map is embedded too, and
the actions table is sortable and filterable by a few lines of inline script (it reads
fine without it). ``netplan report --pdf`` prints it (:mod:`netplan.present.pdf`).

Every user string (names, ids, reasons, scenario text) is HTML-escaped and the page is
assembled in a fixed frame (:func:`netplan.present.page.document`): no user text is ever
read as a template. The output is deterministic (no timestamps), so the same plan gives
the same bytes. The order, names and colours of the actions come from the action
registry (:mod:`netplan.planning.actions`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from netplan._errors import NetplanError
from netplan._io import atomic_write_text
from netplan.planning import actions
from netplan.present import narrative, pack, phase_report, report_parts, staticmap
from netplan.present import texts as pr
from netplan.present.charts import grouped_bar_svg, hbar_svg
from netplan.present.page import document
from netplan.present.texts import esc

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis, NetworkKpis
    from netplan.planning.phases import PhasedFolder
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
    from netplan.study.geometry import ring_zone_order

    rb, ra = kpis["before"]["ring_zones"], kpis["after"]["ring_zones"]
    zones = ring_zone_order([*rb, *ra])

    def outlets(group: Mapping[str, NetworkKpis]) -> list[float]:
        return [float(group[z]["outlets"]) if z in group else 0.0 for z in zones]

    return grouped_bar_svg(
        [pr.ring_zone_label(z, short=True) for z in zones],
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


# --- the page -------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 "Helvetica Neue", Arial, "Noto Sans CJK SC", "Microsoft YaHei",
  "WenQuanYi Micro Hei", sans-serif; color: #222; margin: 0; background: #fafafa; }
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
table.groups tfoot td, table.plain tfoot td { font-weight: bold; border-top: 2px solid #999; }
table.num td:nth-child(n+2) { text-align: right; }
.better { color: #0a7d32; font-weight: bold; } .worse { color: #c0392b; font-weight: bold; }
.b { color: #666; }
.wide { overflow-x: auto; max-width: 100%; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 150px;
  background: #fcfcfc; }
.card .v { font-size: 20px; font-weight: bold; } .card .l { color: #555; font-size: 13px; }
.decide { border: 2px solid #0072b2; border-radius: 6px; padding: 4px 14px; margin: 12px 0; }
.decide ul { margin: 2px 0 8px; } .decide p { margin: 6px 0 0; }
p.warn { border-left: 4px solid #d55e00; padding-left: 10px; }
p.ok { border-left: 4px solid #009e73; padding-left: 10px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 10px 0 24px; }
svg.chart text { font: 12px sans-serif; fill: #333; } svg.chart .ct { font-weight: bold;
  font-size: 14px; } svg.chart .grid { stroke: #e5e5e5; } svg.chart .axis { stroke: #666; }
svg.chart .marker { stroke: #c0392b; stroke-dasharray: 5 4; stroke-width: 1.5; }
svg.chart .lbl { font-size: 11px; }
figure.map { margin: 8px 0; } figure.map img { width: 100%; height: auto; display: block;
  border: 1px solid #ccc; }
.dmaps { display: flex; flex-wrap: wrap; gap: 12px 20px; }
.dmaps figure { width: calc(50% - 10px); margin: 0; break-inside: avoid; }
.dmaps img { width: 100%; height: auto; border: 1px solid #ccc; }
figcaption { font-size: 13px; color: #333; }
ul.legend { list-style: none; padding: 0; margin: 4px 0; font-size: 12.5px;
  display: flex; flex-wrap: wrap; gap: 2px 16px; }
.sw { display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  vertical-align: -1px; box-sizing: border-box; border: 1px solid #888; }
.sw.line { height: 0; width: 18px; border: 0; vertical-align: 3px; }
table.actions td:nth-child(n+7):nth-child(-n+10) { text-align: right; white-space: nowrap; }
table.actions th { cursor: pointer; } table.actions th.sorted-asc::after { content: " ▲"; }
table.actions th.sorted-desc::after { content: " ▼"; }
table.actions tr.grp { display: none; }
table.actions tr.grp th { background: #eef4fa; font-size: 14px; cursor: default; }
.act { font-weight: bold; }
.controls { margin: 8px 0; } .controls label { margin-right: 16px; }
iframe.map { width: 100%; height: 640px; border: 1px solid #ccc; }
.print-only { display: none; }
@page { size: A4 landscape; margin: 10mm 11mm; }
@media print {
  body { font-size: 9.5pt; line-height: 1.35; background: #fff; }
  main { max-width: none; padding: 0; }
  iframe.map, .controls, nav, .screen-only, section.screen-only { display: none; }
  .print-only { display: block; }
  h1 { font-size: 17pt; margin-top: 0; } h2 { font-size: 13pt; margin-top: 14pt; }
  h3 { font-size: 11pt; margin: 8pt 0 4pt; } .lede { font-size: 10.5pt; }
  .note { font-size: 8pt; }
  section.page { break-before: page; } h2, h3 { break-after: avoid; }
  table { width: 100%; font-size: 8pt; } th, td { padding: 1.5pt 4pt; }
  thead th { position: static; } thead { display: table-header-group; }
  tr, figure, .card, .decide, svg.chart { break-inside: avoid; }
  .wide { overflow: visible; }
  table.groups td, table.kpi td, table.actions td { white-space: normal !important; }
  table.groups td .b { display: block; }
  td.reason { min-width: 28%; }
  table.actions tr.grp { display: table-row; }
  table.actions.sorted tr.grp, table.actions tr[data-action="keep"] { display: none; }
  table.actions td:nth-child(3), table.actions th:nth-child(3) { display: none; }
  .charts { gap: 0 16px; } svg.chart { margin: 4pt 0; max-height: 82mm; width: auto; }
  figure.map img { max-height: 150mm; width: auto; max-width: 100%; }
  .dmaps { gap: 6pt 14px; } .dmaps figure { width: calc(33.3% - 10px); }
  .dmaps img { max-height: 62mm; width: auto; max-width: 100%; }
  .dmaps figcaption, .dmaps ul.legend { font-size: 7.5pt; }
  .cards { gap: 6px; } .card { padding: 3pt 6pt; min-width: 0; } .card .v { font-size: 12pt; }
}
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
      table.classList.add("sorted");
      var all = Array.prototype.slice.call(tbody.rows);
      // the district heading rows (print only) go last: a sorted table is not grouped
      var heads = all.filter(function (r) { return r.classList.contains("grp"); });
      var rows = all.filter(function (r) { return !r.classList.contains("grp"); });
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
      rows.concat(heads).forEach(function (r) { tbody.appendChild(r); });
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


def _map_section(map_href: str | None) -> str:
    if not map_href:
        return ""
    href = esc(_safe_href(map_href))
    return (f'<section class="screen-only"><h2 id="map">Interactive map</h2><p>'
            f'<a href="{href}">Open the map on its own page</a> '
            "(outlets by action, zones by population, inflow, distance and catchment; "
            "before / after).</p>"
            f'<iframe class="map" src="{href}" title="Map of the plan" loading="lazy">'
            "</iframe></section>")


def _city_map(images: staticmap.MapImages, counts: Mapping[str, int], scope: str,
              map_href: str | None, *, rings: bool) -> str:
    link = (f' <a class="screen-only" href="{esc(_safe_href(map_href))}">Open the interactive '
            "map</a>." if map_href else "")
    return (f'<section class="page"><h2 id="citymap">Map of the decisions: {esc(scope)}</h2>'
            f'<figure class="map"><img src="{images.city}" alt="Map of the planned actions '
            f'in {esc(scope)}">{staticmap.legend_html(counts, images.classes, rings=rings)}'
            "</figure>"
            '<p class="note">Outlets by planned action (kept outlets small and grey; a move '
            "is a line from the old site to the new one), zones shaded by residents in the "
            f"plan's year, district outlines and ring roads.{link}</p></section>")


def _district_maps(images: staticmap.MapImages, facts: pack.ApprovalFacts,
                   names: Mapping[str, str], counts: Mapping[str, Mapping[str, int]]) -> str:
    if not images.districts:
        return ""
    by = {d.adcode: d for d in facts.districts}
    figs = []
    for ad, uri in images.districts.items():
        d = by.get(ad)
        what = "" if d is None else ", ".join(
            f"{d.counts[a.name]} {a.name}" for a in actions.by_priority()
            if d.counts.get(a.name) and a.changes_network)
        spend = "" if d is None else f"; one-off spend {pr.million(d.spend_cny)} CNY"
        figs.append(f'<figure><img src="{uri}" alt="Map of {esc(names.get(ad, ad))}">'
                    f"<figcaption><b>{esc(names.get(ad, ad))}</b>: {esc(what)}{esc(spend)}"
                    f"{staticmap.legend_html(counts.get(ad, {}))}</figcaption></figure>")
    return (f'<section class="page appendix"><h2 id="district-maps">Appendix A. Maps of the '
            f'districts with actions</h2><p class="note">The district outlined in black, '
            f'everything around it faded; zones shaded as on the city map.</p>'
            f'<div class="dmaps">{"".join(figs)}</div></section>')


def _figures_section(kpis: Kpis, names: Mapping[str, str],
                     tw: float | None) -> str:
    from netplan.study.geometry import ring_zone_order

    rows, caption = pr.plan_kpi_rows(kpis, tw)
    overall = _kpi_table(rows + pr.cost_rows(kpis.get("costs") or {}))
    order = ring_zone_order([*kpis["before"]["ring_zones"], *kpis["after"]["ring_zones"]])
    ring_labels = {z: pr.ring_zone_label(z) for z in order}
    ring_table = _group_table(kpis, "ring_zones", ring_labels, tw=tw, first="ring zone",
                              order=order)
    return (
        f'<h2 id="kpis">Figures before → after</h2><h3>Overall</h3>'
        f'<p class="note">{esc(caption)}</p>{overall}'
        f'<h3>Per district</h3><p class="note">{esc(caption)}</p>'
        f"{_group_table(kpis, 'districts', names, tw=tw, first='district')}"
        f'<h3>Per ring zone</h3><p class="note">{esc(caption)}</p>{ring_table}'
        '<p class="note">Green: better after the plan, red: worse. Distances are travel '
        "distances (straight line × detour factor); waits are Erlang A expectations at the "
        "peak hour (customers give up after their patience).</p>"
    )


def _sections(plan: Plan, study: Study | None, map_href: str | None,
              phased: PhasedFolder | None = None) -> list[str]:
    """The report's sections in order: the pack (at most a few pages), then the appendices.

    A phased plan's report starts with its phases (:mod:`netplan.present.phase_report`).
    """
    kpis = plan.kpis
    names = pr.district_names(study)
    tw = pr.target_wait(kpis)
    scope = pr.scope_text(kpis, names)
    facts = pack.approval_facts(plan, names)
    images = staticmap.plan_map_images(plan, study)
    sites = staticmap.site_markers(plan)
    notes = "".join(f'<p class="warn">{esc(t)}</p>' for t in narrative.merged_note(kpis))
    over = pack.over_capacity_html(facts, plan, names)
    return [
        phase_report.phases_section(phased) if phased is not None else "",
        f'<section><h2 id="summary">Executive summary</h2>'
        f"{narrative.summary_html(kpis, facts, scope=scope, tw=tw)}{notes}"
        f"{_cards(kpis, tw)}</section>",
        '<section><h2 id="approval">Limits, capacity and whether the plan holds</h2>'
        f"{pack.limits_html(facts)}{pack.holds_html(kpis, facts)}</section>",
        f'<section><h2 id="tradeoffs">Trade-offs</h2>'
        f"{narrative.tradeoffs_html(kpis, facts, names)}</section>",
        _city_map(images, sites.counts(), scope, map_href,
                  rings=study is not None and len(study.ring_roads) > 0),
        '<section class="page"><h2 id="districts">Actions and spend per district</h2>'
        f"{pack.districts_html(facts, names)}</section>",
        f'<section class="page">{_figures_section(kpis, names, tw)}</section>',
        f'<section class="page"><h2 id="charts">Charts</h2><div class="charts">'
        f"{_wait_chart(plan, tw or 11.0)}{_ring_chart(kpis)}{_district_chart(kpis, names)}"
        "</div></section>",
        f'<section class="page"><h2 id="method">Methodology</h2>'
        f"{narrative.methodology_html(kpis)}<h2 id=\"caveats\">Assumptions and caveats</h2>"
        f"{narrative.caveats_html(kpis, study)}</section>",
        f'<section class="page"><h2 id="scenario">The scenario in words</h2>'
        f"{report_parts.scenario_html(kpis, names)}</section>",
        _map_section(map_href),
        _district_maps(images, facts, names,
                       {ad: sites.counts(ad) for ad in images.districts}),
        '<section class="page appendix"><h2 id="actions-list">Appendix B. Actions by district, '
        'with their reasons</h2><p class="note">'
        + esc(f"{facts.kept} outlets kept as they are are listed on screen (tick the box) "
              "and in actions.csv, not in print. On screen, click a column heading to sort.")
        + f"</p>{report_parts.actions_table(plan, names)}</section>",
        ('<section class="page appendix"><h2 id="over-capacity">Appendix C. Outlets over '
         f"capacity after the plan, with the reason</h2>{over}</section>" if over else ""),
    ]


def plan_report_html(plan: Plan, *, map_href: str | None = None,
                     study: Study | None = None, phased: PhasedFolder | None = None) -> str:
    """The report as one HTML string (see :func:`plan_report`).

    Parameters
    ----------
    plan : Plan
        The plan.
    map_href : str, optional
        Link to the plan's map (see :func:`plan_report`).
    study : Study, optional
        Gives the districts' names and outlines and the ring roads.
    phased : PhasedFolder, optional
        A phased plan whose last phase ``plan`` is: the report starts with its timeline
        and its spend per phase.

    Returns
    -------
    str
        The HTML document (same plan, same bytes).
    """
    kpis = plan.kpis
    names = pr.district_names(study)
    scope = pr.scope_text(kpis, names)
    title = f"Branch network plan: {scope}, demand of {kpis.get('year', '')}"
    if phased is not None:
        title = (f"Phased branch network plan: {scope}, {phased.years[0]}–"
                 f"{phased.years[-1]}")
    nav = [*([("phases", "Phases")] if phased is not None else []), ("summary", "Summary"),
           ("approval", "Limits"), ("tradeoffs", "Trade-offs"), ("citymap", "Map"),
           ("districts", "Districts"), ("kpis", "Figures"), ("charts", "Charts"),
           ("method", "Method"), ("scenario", "Scenario")]
    if map_href:
        nav.append(("map", "Interactive map"))
    nav.append(("actions-list", "Actions"))
    version = (plan.run or {}).get("netplan", "")
    body = (
        f"<main><h1>{esc(title)}</h1><nav>"
        + "".join(f'<a href="#{k}">{v}</a>' for k, v in nav) + "</nav>"
        + "".join(_sections(plan, study, map_href, phased))
        + f'<p class="note">Made by netplan {esc(version)}.</p></main>'
    )
    css = _CSS + _action_css() + (phase_report.PHASE_CSS if phased is not None else "")
    return document(title=title, css=css, body_html=body, script=_JS)


def plan_report(plan: Plan, *, out: Path, map_href: str | None = None,
                study: Study | None = None, force: bool = False,
                inputs: Sequence[Path] = (), pdf: Path | None = None,
                phased: PhasedFolder | None = None) -> Path:
    """Write the committee report of a plan: one standalone HTML page (and its PDF).

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
        Optional; gives the districts' names and outlines and the ring roads (otherwise
        adcodes are shown and outlines come from the plan's zones).
    force
        Replace an existing ``out`` (and ``pdf``; see :func:`netplan._io.check_new_file`).
    inputs
        Files the run read (the plan's, the study's): ``out`` may not be one of them.
    pdf
        Also print the report to this PDF with headless Chromium
        (:func:`netplan.present.pdf.html_to_pdf`). It is printed before either file is
        written: when printing fails, nothing is written.
    phased
        A phased plan whose last phase ``plan`` is (see :func:`plan_report_html`).

    Returns
    -------
    Path
        ``out``.
    """
    from netplan._io import atomic_write_bytes, check_new_file

    if pdf is not None:
        from netplan.present.pdf import require_chromium

        check_new_file(pdf, force=force, inputs=inputs)
        require_chromium()
    text = plan_report_html(plan, map_href=map_href, study=study, phased=phased)
    printed = None
    if pdf is not None:
        from netplan.present.pdf import html_to_pdf

        printed = html_to_pdf(text)
    out = atomic_write_text(out, text, force=force, inputs=inputs)
    log.info("report written to %s (%.2f MB)", out, len(text.encode("utf-8")) / 1e6)
    if pdf is not None and printed is not None:
        atomic_write_bytes(pdf, printed, force=force, inputs=[*inputs, out])
        log.info("PDF written to %s (%.2f MB)", pdf, len(printed) / 1e6)
    return out
