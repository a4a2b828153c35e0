"""The report's prose: executive summary, trade-offs, methodology, assumptions and caveats.

Every number comes from the plan (``kpis.json``: the scenario echo, the costs, the
``behaviour`` block) and the facts of :mod:`netplan.present.pack`; every sentence that
quotes a service figure names the behaviour rule it assumes. Functions return escaped
HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netplan.planning import actions
from netplan.present import texts as pr
from netplan.present.pack import ApprovalFacts
from netplan.present.texts import esc

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.study.layers import Study

__all__ = ["caveats_html", "methodology_html", "summary_html", "tradeoffs_html"]

ILLUSTRATION = "an illustration of the method, not advice about a real bank"


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, Mapping) or p not in d:
            return None
        d = d[p]
    return d


def _service(kpis: Kpis) -> tuple[Mapping[str, Any], Mapping[str, Any], str]:
    """Before and after service figures, and the caption naming their rule."""
    beh = kpis.get("behaviour")
    if isinstance(beh, Mapping):
        return (beh.get("before") or {}, beh.get("after") or {},
                pr.behaviour_caption(str(beh.get("rule")),
                                     _get(beh, "parameters", "patience_min")))
    return (_get(kpis, "before", "overall") or {}, _get(kpis, "after", "overall") or {},
            pr.behaviour_caption(None))


def _money(x: float) -> str:
    return f"{x / 1e6:+,.1f} M CNY"


def _top(facts: ApprovalFacts, action: str, names: Mapping[str, str], n: int = 3) -> str:
    rows = sorted(((d.counts.get(action, 0), d.adcode) for d in facts.districts),
                  key=lambda t: (-t[0], t[1]))
    rows = [r for r in rows if r[0] > 0][:n]
    return ", ".join(f"{names.get(ad, ad)} ({c})" for c, ad in rows)


def summary_html(kpis: Kpis, facts: ApprovalFacts, *, scope: str,
                 tw: float | None) -> str:
    """The executive summary: what the plan does, what it achieves, what to watch.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.
    facts : ApprovalFacts
        From :func:`netplan.present.pack.approval_facts`.
    scope : str
        The plan's scope as text.
    tw : float or None
        The wait target (minutes).

    Returns
    -------
    str
        Escaped HTML.
    """
    sb, sa, caption = _service(kpis)
    ob, oa = _get(kpis, "before", "overall") or {}, _get(kpis, "after", "overall") or {}
    costs: Mapping[str, Any] = kpis.get("costs") or {}
    changed = ", ".join(f"{facts.changes_by_action[a.name]} {a.name}"
                        for a in actions.by_priority()
                        if facts.changes_by_action.get(a.name) and a.name != "open")
    wait_key = "counter_mean_wait_min" if "counter_mean_wait_min" in sa else "mean_wait_min"
    what = "counter mean wait" if wait_key.startswith("counter") else "mean wait"
    lede = (
        f"For {scope}, the plan changes {facts.changed_existing} of the {facts.existing} "
        f"existing outlets ({changed or 'none'}), opens {facts.new_outlets} new outlet(s) "
        f"and keeps {facts.kept} as they are. {caption} Under that rule the {what} at peak "
        f"goes from {pr.fmt_kpi(sb.get(wait_key), 'min')} to "
        f"{pr.fmt_kpi(sa.get(wait_key), 'min')}"
        + (f" (target {tw:g} min)" if tw is not None else "")
        + f", and the mean travel distance from {pr.km(ob.get('mean_dist_m'))} to "
        f"{pr.km(oa.get('mean_dist_m'))}. One-off spend "
        f"{pr.million(costs.get('oneoff_spend_cny'))} CNY"
        + (f" of a {pr.million(costs.get('budget_cny'))} budget"
           if pr.finite(costs.get("budget_cny")) is not None else "")
        + f"; operating cost {pr.million(costs.get('opex_before_cny_per_year'))} → "
        f"{pr.million(costs.get('opex_after_cny_per_year'))} CNY a year."
    )
    asks = [f"the {facts.changed_existing + facts.new_outlets} changes to the network listed "
            "district by district in Appendix B (maps of the districts in Appendix A)",
            f"a one-off spend of {pr.million(costs.get('oneoff_spend_cny'))} CNY"]
    watch = []
    beh = kpis.get("behaviour")
    if isinstance(beh, Mapping):
        watch.append("the plan holds under its behaviour rule" if beh.get("holds") else
                     f"{len(facts.over_capacity)} outlet(s) stay over capacity under the rule "
                     f"“{beh.get('rule')}” (reasons in Appendix C)")
    if facts.limits_hit:
        watch.append("limits reached: " + "; ".join(
            f"{x.what} {x.text(x.used)} of {x.text(x.limit)}" for x in facts.limits_hit))
    watch.append(f"{facts.at_capacity} of {facts.outlets_after} outlets planned at "
                 "99% of capacity or more (no headroom)")
    gap = pr.finite(_get(kpis, "solver", "gap"))
    if gap is not None:
        watch.append(f"the solver's proven optimality gap is {100 * gap:.2f}%")
    return (f'<p class="lede">{esc(lede)}</p><div class="decide"><p><b>The committee is asked '
            "to approve</b></p><ul>" + "".join(f"<li>{esc(x)}</li>" for x in asks)
            + "</ul><p><b>To weigh before signing</b></p><ul>"
            + "".join(f"<li>{esc(x)}</li>" for x in watch) + "</ul></div>")


def tradeoffs_html(kpis: Kpis, facts: ApprovalFacts, names: Mapping[str, str]) -> str:
    """What the plan gives up for what it gains, in figures.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.
    facts : ApprovalFacts
        From :func:`netplan.present.pack.approval_facts`.
    names : Mapping
        District names by adcode.

    Returns
    -------
    str
        Escaped HTML.
    """
    c: Mapping[str, Any] = kpis.get("costs") or {}
    planning = _get(kpis, "scenario", "planning") or {}
    travel = _get(kpis, "scenario", "travel") or {}
    ob, oa = _get(kpis, "before", "overall") or {}, _get(kpis, "after", "overall") or {}
    tb, ta = (pr.finite(c.get(k)) or 0.0 for k in ("travel_before_cny_per_year",
                                                     "travel_after_cny_per_year"))
    xb, xa = (pr.finite(c.get(k)) or 0.0 for k in ("opex_before_cny_per_year",
                                                     "opex_after_cny_per_year"))
    spend = pr.finite(c.get("oneoff_spend_cny")) or 0.0
    years = pr.finite(planning.get("amortisation_years")) or 1.0
    dt, dx, amort = ta - tb, xa - xb, spend / years
    sb, sa, caption = _service(kpis)
    paras = []
    moved = facts.changes_by_action.get("close", 0) + facts.changes_by_action.get("relocate", 0)
    if dt > 0:
        paras.append(
            f"Customers' travel cost rises by {pr.million(dt)} CNY a year ({pr.million(tb)} → "
            f"{pr.million(ta)}, at {pr.num(travel.get('cost_cny_per_km'), 1)} CNY per km). "
            f"{moved} outlets close or move (closures mostly in "
            f"{_top(facts, 'close', names) or 'no district'}), so some of their customers "
            "travel further; and under the behaviour rule some customers choose a farther "
            "outlet with a shorter wait. The plan accepts this for what it saves and gains "
            "below.")
    else:
        paras.append(
            f"Customers' travel cost falls by {pr.million(-dt)} CNY a year ({pr.million(tb)} → "
            f"{pr.million(ta)}): openings (mostly in {_top(facts, 'open', names) or 'none'}) "
            "and moves bring outlets nearer to where customers live.")
    dist_b, dist_a = pr.finite(ob.get("mean_dist_m")), pr.finite(oa.get("mean_dist_m"))
    if dist_b is not None and dist_a is not None and (dist_a - dist_b) * dt < 0:
        paras.append(
            f"The mean distance to the serving outlet moves the other way ({pr.km(dist_b)} → "
            f"{pr.km(dist_a)}): it is weighted by residents, the travel cost by the visits "
            "each outlet actually receives under the rule.")
    paras.append(
        f"Operating cost goes from {pr.million(xb)} to {pr.million(xa)} CNY a year "
        f"({_money(dx)}): closures and conversions to lighter formats save, openings and "
        f"upgrades add. The one-off spend of {pr.million(spend)} CNY, spread over "
        f"{years:g} years, is {pr.million(amort)} CNY a year.")
    paras.append(
        f"Together, operating cost, customers' travel and the spread one-off spend change by "
        f"{_money(dx + dt + amort)} a year. The solver minimises that sum plus "
        f"{pr.num(planning.get('unserved_penalty_cny_per_visit'))} CNY for every visit that "
        "finds no outlet within reach, so every rise above is bought by a larger saving "
        "elsewhere or by customers served.")
    wk = "counter_mean_wait_min" if "counter_mean_wait_min" in sa else "mean_wait_min"
    paras.append(
        f"In service terms ({caption[0].lower() + caption[1:].rstrip('.')}): the "
        f"{'counter ' if wk.startswith('counter') else ''}mean wait goes "
        f"{pr.fmt_kpi(sb.get(wk), 'min')} → {pr.fmt_kpi(sa.get(wk), 'min')}, customers "
        f"finding no outlet {pr.num(sb.get('unserved_arrivals_per_h'), 1)} → "
        f"{pr.num(sa.get('unserved_arrivals_per_h'), 1)} per peak hour.")
    opens = _top(facts, "open", names)
    closes = _top(facts, "close", names)
    if opens and closes:
        paras.append(f"Where: the closures fall mostly in {closes}, the openings in {opens}: "
                     "the network follows the residents from where capacity is spare to "
                     "where demand grows.")
    return "".join(f"<p>{esc(p)}</p>" for p in paras)


def methodology_html(kpis: Kpis) -> str:
    """How the plan was made, step by step, with the scenario's figures.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.

    Returns
    -------
    str
        Escaped HTML.
    """
    def g(*path: str) -> Any:
        return _get(kpis.get("scenario") or {}, *path)

    _, _, caption = _service(kpis)
    beh = kpis.get("behaviour")
    solver: Mapping[str, Any] = kpis.get("solver") or {}
    steps = [
        f"Demand: the residents of each zone in {kpis.get('year')} times the bank's customer "
        f"share ({pr.pct(g('demand', 'customer_share'))}), visits a year "
        f"({pr.num(g('demand', 'visits_per_customer_per_year'), 1)}) and the peak-hour share "
        f"({pr.pct(g('demand', 'peak_hour_share'))}) give the customers per peak hour; "
        f"{pr.pct(g('demand', 'smart_share'))} of them use smart terminals.",
        "Capacity: each outlet is two queues (counters, terminals); its capacity is the "
        "largest peak-hour load at which each queue's mean wait (Erlang C) stays at the "
        f"target of {pr.num(g('service', 'target_wait_min'), 1)} min.",
        "Decisions: an exact mixed-integer model chooses for every outlet and candidate site "
        "to keep, open, close, upgrade, convert or relocate, minimising operating cost, the "
        "one-off spend spread over "
        f"{pr.num(g('planning', 'amortisation_years'))} years, customers' travel "
        f"({pr.num(g('travel', 'cost_cny_per_km'), 1)} CNY per km) and a penalty for "
        "customers left unserved, within the budget, the limits on openings, closures and "
        "conversions, and each district's policy.",
        f"Behaviour: {caption} The current and the planned network are both measured under "
        "this rule; every figure of this report comes from that measurement, not from the "
        "optimiser's own routing.",
    ]
    if isinstance(beh, Mapping):
        steps.append("Holding: after a solve, outlets over capacity under the rule are "
                     "tightened in the model and the model is solved again; the plan kept "
                     "is the cheapest once the overflow is priced in.")
    gap = pr.finite(solver.get("gap"))
    steps.append(f"Solver {solver.get('solver', '?')}: {solver.get('status', '?')}"
                 + (f", optimality gap {100 * gap:.2f} % (proven)" if gap is not None else "")
                 + ".")
    return "<ol>" + "".join(f"<li>{esc(s)}</li>" for s in steps) + "</ol>"


def _provenance(study: Study | None) -> str:
    if study is None:
        return ("The plan folder does not record whether its layers are real or modelled. "
                f"If they are modelled (as in netplan's embedded dataset), the plan is "
                f"{ILLUSTRATION}.")
    b = study.branches
    src = b["source"].astype(str).str.lower() if "source" in b else None
    modelled = int(src.str.contains("model|synthetic").sum()) if src is not None else 0
    if modelled:
        return (f"{modelled} of the study's {len(b)} outlets are modelled, not a real "
                f"network: the plan is {ILLUSTRATION}.")
    return ("The study's outlets are not marked as modelled; the population, demand and "
            "behaviour figures are still the scenario's assumptions.")


def caveats_html(kpis: Kpis, study: Study | None) -> str:
    """Assumptions and caveats: modelled or real data, the behaviour rule, the gap.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.
    study : Study or None
        The study (its outlets' ``source`` column says whether they are modelled).

    Returns
    -------
    str
        Escaped HTML.
    """
    beh = kpis.get("behaviour")
    _, _, caption = _service(kpis)
    items = [_provenance(study),
             "All figures are model outputs from the scenario's assumptions and the study's "
             "layers, not observations: demand at the peak hour, waits as queueing "
             "expectations, distances as straight lines times a detour factor.",
             f"The behaviour rule: {caption}"]
    if isinstance(beh, Mapping):
        params = beh.get("parameters") or {}
        items[-1] += " Parameters: " + ", ".join(
            f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
            for k, v in sorted(params.items())) + "."
        near = beh.get("nearest")
        if isinstance(near, Mapping):
            items.append(
                "Under the other rule (“nearest”: customers go to their nearest outlet and "
                "move on when it is full) the counter mean wait goes "
                f"{pr.fmt_kpi(_get(near, 'before', 'counter_mean_wait_min'), 'min')} → "
                f"{pr.fmt_kpi(_get(near, 'after', 'counter_mean_wait_min'), 'min')}.")
        if beh.get("note"):
            items.append(f"The gap: {beh.get('note')}.")
    solver: Mapping[str, Any] = kpis.get("solver") or {}
    gap = pr.finite(solver.get("gap"))
    if gap is not None:
        items.append(f"The plan costs at most {100 * gap:.2f}% more than the best plan of the "
                     "model that was solved (its proven gap); the gap says nothing about how "
                     "well the model fits the real city.")
    if str(solver.get("status")) not in ("optimal", ""):
        items.append(f"The solve stopped with status “{solver.get('status')}”: a longer run "
                     "may find a somewhat different plan within the gap.")
    return "<ul>" + "".join(f"<li>{esc(x)}</li>" for x in items) + "</ul>"


def merged_note(kpis: Kpis) -> Sequence[str]:
    """Warnings of a plan merged from district runs (failed districts, city limits broken).

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.

    Returns
    -------
    list of str
        Plain texts (empty for a single solve).
    """
    out = []
    for f in kpis.get("failed_districts") or []:
        out.append(f"District {f.get('adcode')} failed and keeps its network: "
                   f"{f.get('reason')}")
    for v in _get(kpis, "coordination", "violations") or []:
        out.append(f"City limit broken by the merged plan: {v}")
    return out
