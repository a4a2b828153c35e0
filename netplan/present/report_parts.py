"""Parts of the report that read the plan row by row: the scenario in words and the
appendix of actions grouped by district (see :mod:`netplan.present.report`).

Every user string is escaped where its fragment is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from netplan.planning import actions
from netplan.present import texts as pr
from netplan.present.texts import DASH, esc

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.planning.plan import Plan

__all__ = ["actions_table", "scenario_html"]

HEADS: tuple[str, ...] = (
    "site", "name", "district", "ring zone", "action", "format before → after",
    "customers/h before", "customers/h after", "wait before", "wait after", "reason")
#: Columns sorted as numbers by the page's script.
NUM_COLS: tuple[int, ...] = (6, 7, 8, 9)


def _priority(act: str) -> int:
    return actions.action(act).priority if act in actions.BY_NAME else 1_000_000


def _sort_key(key: Any) -> str:
    v = pr.finite(key)
    return "" if v is None else f"{v:.3f}"


def _wait_key(v: Any) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(x) else ("1e9" if math.isinf(x) else f"{x:.3f}")


def _row_html(r: Mapping[str, Any], origin: Mapping[str, str],
              names: Mapping[str, str]) -> str:
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
    return (
        f'<tr data-action="{esc(act or "relocation-target")}"><td>{esc(sid)}</td>'
        f"<td>{esc(r.get('name'))}</td><td>{esc(names.get(ad, ad))}</td>"
        f'<td>{esc(pr.ring_zone_label(r.get("ring_zone")))}</td>'
        f'<td class="act act-{esc(act or "target")}">{esc(shown)}</td>'
        f"<td>{esc(fb or DASH)} → {esc(fa or DASH)}</td>"
        f'<td data-sort="{_sort_key(ab)}">{esc(pr.num(ab, 1))}</td>'
        f'<td data-sort="{_sort_key(aa)}">{esc(pr.num(aa, 1))}</td>'
        f'<td data-sort="{_wait_key(wb)}">{esc(pr.wait_text(wb))}</td>'
        f'<td data-sort="{_wait_key(wa)}">{esc(pr.wait_text(wa))}</td>'
        f'<td class="reason">{esc(reason)}</td></tr>'
    )


def _group_row(ad: str, rows: list[Mapping[str, Any]], names: Mapping[str, str]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        act = str(r["action"])
        if act in actions.BY_NAME and actions.action(act).changes_network:
            counts[act] = counts.get(act, 0) + 1
    text = ", ".join(f"{counts[a.name]} {a.name}" for a in actions.by_priority()
                     if counts.get(a.name)) or "no changes"
    return (f'<tr class="grp" data-action="group"><th colspan="{len(HEADS)}">'
            f"{esc(names.get(ad, ad) or DASH)}: {esc(text)}</th></tr>")


def actions_table(plan: Plan, names: Mapping[str, str]) -> str:
    """Every site of the plan with its action and reason, grouped by district.

    Within a district the rows follow the registry's priority, and a move's new site
    comes right after the outlet that moves there (in that outlet's district). Each
    district starts with a heading row (shown in print; on screen the table is sortable
    and filterable instead, see the report's script).

    Parameters
    ----------
    plan : Plan
        The plan.
    names : Mapping
        District names by adcode.

    Returns
    -------
    str
        Escaped HTML: the controls and the table ``#actions``.
    """
    a = plan.actions.drop(columns="geometry").copy()
    a["action"] = a["action"].fillna("").astype(str)
    a["site_id"] = a["site_id"].astype(str)
    a["adcode"] = a["adcode"].fillna("").astype(str) if "adcode" in a else ""
    target = a.get("relocation_target")
    moves = [(s, str(t), act, ad) for s, t, act, ad in zip(
        a["site_id"], a["site_id"] if target is None else target.fillna(""), a["action"],
        a["adcode"], strict=True) if target is not None and str(t) and str(t) != "nan"]
    origin = {t: s for s, t, _, _ in moves}
    of_origin = {t: (ad, _priority(act), s) for s, t, act, ad in moves}
    a["_k"] = [(*of_origin.get(s, (ad, _priority(act), s)), int(s in of_origin))
               for s, act, ad in zip(a["site_id"], a["action"], a["adcode"], strict=True)]
    a = a.sort_values("_k", kind="stable")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in a.to_dict("records"):
        groups.setdefault(str(r["_k"][0]), []).append(r)
    body = "".join(_group_row(ad, rows, names)
                   + "".join(_row_html(r, origin, names) for r in rows)
                   for ad, rows in groups.items())
    th = "".join(f'<th data-col="{k}" data-num="{int(k in NUM_COLS)}" tabindex="0">'
                 f"{esc(h)}</th>" for k, h in enumerate(HEADS))
    return (
        '<div class="controls"><label><input type="checkbox" id="show-keep"> show the '
        'outlets that are kept as they are</label> <label>filter <input type="search" '
        'id="filter" placeholder="name, id, district, reason"></label></div>'
        f'<div class="wide"><table id="actions" class="actions"><thead><tr>{th}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
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


def scenario_html(kpis: Kpis, names: Mapping[str, str]) -> str:
    """The scenario in words: demand, service, travel, limits, formats, district policies.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs (the scenario echo).
    names : Mapping
        District names by adcode.

    Returns
    -------
    str
        Escaped HTML.
    """
    sc = kpis.get("scenario") or {}

    def g(*path: str) -> Any:
        return _get(sc, *path)
    year = kpis.get("year")

    def n(x: Any, nd: int = 0) -> str:
        return pr.num(x, nd)

    def p(x: Any) -> str:
        return pr.pct(x, 0)

    # plans written before rings were configurable name ring 5 in the key
    ring_floor = g("planning", "min_share_outside_ring")
    ring_floor = g("planning", "min_share_outside_ring5") if ring_floor is None else ring_floor
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
        f"{esc(_limit(ring_floor, '{:.0%}'))} of the outlets "
        f"outside ring {esc(n(g('planning', 'outside_ring') or 5))}; one-off costs amortised over "
        f"{esc(n(g('planning', 'amortisation_years')))} years.",
    ]
    return "".join(f"<p>{x}</p>" for x in paras) + _formats_and_policies(sc, names)


def _formats_and_policies(sc: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """The tables of the outlet formats and of the district policies of a scenario echo."""
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
    return ftable + ptable


