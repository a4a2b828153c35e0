"""The approval content of the report: what a committee needs to sign a plan.

Everything here is read from the plan (``kpis.json``, its layers) and the scenario it
echoes; nothing is hard-wired to a dataset. :func:`approval_facts` collects the figures
(changes to existing outlets apart from new ones, the limits the plan uses up, the
one-off spend per district, headroom, outlets over capacity under the behaviour rule);
the ``*_html`` functions turn them into escaped HTML sections.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from netplan.planning import actions
from netplan.present import texts as pr
from netplan.present.texts import DASH, esc

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.planning.plan import Plan

__all__ = ["ApprovalFacts", "DistrictFacts", "LimitUse", "approval_facts", "site_spend"]

#: An outlet at or above this share of its capacity has no headroom left.
HEADROOM_SHARE = 0.99
#: A limit used to at least this share is flagged as nearly reached.
NEAR_SHARE = 0.95

#: Scenario limits on counts of actions: (scenario key, action name, what is counted).
COUNT_LIMITS: tuple[tuple[str, str, str], ...] = (
    ("max_open", "open", "openings"),
    ("max_close", "close", "closures"),
    ("max_upgrade", "upgrade", "upgrades"),
    ("max_convert", "convert", "conversions"),
)


@dataclass(frozen=True)
class LimitUse:
    """How much of one limit the plan uses.

    ``floor`` limits (a minimum share) are reached from above.
    """

    what: str
    key: str
    used: float
    limit: float | None
    kind: str = "count"  # "count", "cny" or "share"
    floor: bool = False

    @property
    def status(self) -> str:
        """``reached``, ``nearly reached``, ``within`` or ``no limit``."""
        if self.limit is None:
            return "no limit"
        if self.floor:
            return "reached" if self.used <= self.limit + 0.005 else "within"
        if self.used >= self.limit - 1e-6 * max(1.0, abs(self.limit)):
            return "reached"
        return "nearly reached" if self.used >= NEAR_SHARE * self.limit else "within"

    def text(self, value: float | None) -> str:
        """A value of this limit as text."""
        if value is None:
            return "no limit"
        if self.kind == "cny":
            return f"{pr.million(value)} CNY"
        if self.kind == "share":
            return pr.pct(value, 1)
        return pr.num(value)


@dataclass(frozen=True)
class DistrictFacts:
    """One district's actions, spend and load after the plan."""

    adcode: str
    counts: Mapping[str, int]
    spend_cny: float
    outlets_before: int
    outlets_after: int
    at_capacity: int
    over_capacity: int


@dataclass(frozen=True)
class ApprovalFacts:
    """The figures of the approval sections (see the module docstring)."""

    existing: int
    changed_existing: int
    new_outlets: int
    kept: int
    changes_by_action: Mapping[str, int]
    limits: tuple[LimitUse, ...]
    districts: tuple[DistrictFacts, ...]
    spend_total_cny: float
    spend_unattributed_cny: float
    outlets_after: int
    at_capacity: int
    over_capacity: tuple[Mapping[str, Any], ...]

    @property
    def limits_hit(self) -> tuple[LimitUse, ...]:
        """The limits reached or nearly reached."""
        return tuple(x for x in self.limits if x.status in ("reached", "nearly reached"))


def _texts(df: pd.DataFrame, col: str) -> np.ndarray[Any, Any]:
    if col not in df:
        return np.full(len(df), "", dtype=object)
    return df[col].fillna("").astype(str).replace("nan", "").to_numpy(dtype=object)


def site_spend(a: pd.DataFrame, formats: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    """One-off cost of each row of a plan's actions, from the scenario's format costs.

    An opening costs its format's ``open_cny``, an upgrade or a conversion the new
    format's ``convert_cny``, a closure the old format's ``close_cny``, a move the
    outlet's ``relocate_cny``; anything else 0 (what :func:`approval_facts` cannot place
    is reported as not attributed).

    Parameters
    ----------
    a : DataFrame
        The plan's actions (``action``, ``format_before``, ``format_after``).
    formats : Mapping
        The scenario echo's ``formats``.

    Returns
    -------
    ndarray of float
        CNY per row.
    """
    def cost(fmt: str, key: str) -> float:
        f = formats.get(fmt)
        return float(pr.finite(f.get(key)) or 0.0) if isinstance(f, Mapping) else 0.0

    rule = {"open": ("after", "open_cny"), "upgrade": ("after", "convert_cny"),
            "convert": ("after", "convert_cny"), "close": ("before", "close_cny"),
            "relocate": ("before", "relocate_cny")}
    out = np.zeros(len(a), dtype=np.float64)
    for k, (act, fb, fa) in enumerate(zip(_texts(a, "action"), _texts(a, "format_before"),
                                           _texts(a, "format_after"), strict=True)):
        if act in rule:
            side, key = rule[act]
            out[k] = cost(fa if side == "after" else fb, key)
    return out


def _limits(kpis: Kpis, counts: Mapping[str, int]) -> list[LimitUse]:
    sc = kpis.get("scenario") or {}
    planning: Mapping[str, Any] = sc.get("planning") or {}
    out = [LimitUse(what, f"planning.{key}", float(counts.get(name, 0)),
                    pr.finite(planning.get(key)))
           for key, name, what in COUNT_LIMITS]
    costs: Mapping[str, Any] = kpis.get("costs") or {}
    out.append(LimitUse("one-off budget", "planning.budget_cny",
                        float(pr.finite(costs.get("oneoff_spend_cny")) or 0.0),
                        pr.finite(planning.get("budget_cny", costs.get("budget_cny"))),
                        kind="cny"))
    overall: Mapping[str, Any] = (kpis.get("after") or {}).get("overall") or {}
    # the ring floor; plans written before rings were configurable name ring 5 in the keys
    key = "min_share_outside_ring" if "min_share_outside_ring" in planning else \
        "min_share_outside_ring5"
    share = pr.finite(overall.get("share_outlets_outside_ring",
                                  overall.get("share_outlets_outside_ring5")))
    floor = pr.finite(planning.get(key))
    ring = planning.get("outside_ring", 5)
    if share is not None and floor:
        out.append(LimitUse(f"outlets outside ring {ring} (a minimum)", f"planning.{key}",
                            share, floor, kind="share", floor=True))
    return out


def _district_limits(kpis: Kpis, by_district: Mapping[str, Counter[str]],
                     names: Mapping[str, str]) -> list[LimitUse]:
    pols: Mapping[str, Any] = (kpis.get("scenario") or {}).get("districts") or {}
    out = []
    for ad, pol in pols.items():
        if not isinstance(pol, Mapping) or str(ad) not in by_district:
            continue
        for key, name, what in COUNT_LIMITS[:2]:
            lim = pr.finite(pol.get(key))
            if lim is not None:
                used = float(by_district[str(ad)].get(name, 0))
                out.append(LimitUse(f"{what} in {names.get(str(ad), str(ad))}",
                                    f"districts.{ad}.{key}", used, lim))
    return out


def approval_facts(plan: Plan, names: Mapping[str, str]) -> ApprovalFacts:
    """The figures of the approval sections.

    Parameters
    ----------
    plan : Plan
        The plan.
    names : Mapping
        District names by adcode (plain text).

    Returns
    -------
    ApprovalFacts
    """
    kpis = plan.kpis
    a = plan.actions
    act, fb = _texts(a, "action"), _texts(a, "format_before")
    ad = _texts(a, "adcode")
    changes = np.array([n in actions.BY_NAME and actions.action(n).changes_network
                        for n in act], dtype=bool)
    existing = fb != ""
    formats = (kpis.get("scenario") or {}).get("formats") or {}
    spend = site_spend(a, formats)
    total = float(pr.finite((kpis.get("costs") or {}).get("oneoff_spend_cny")) or 0.0)
    s = plan.sites_after
    scope = s["in_scope"].astype(bool).to_numpy() if "in_scope" in s else np.ones(len(s), bool)
    util = pd.to_numeric(s["utilisation"], errors="coerce").to_numpy() if "utilisation" in s \
        else np.full(len(s), np.nan)
    s_ad = _texts(s, "adcode")
    full = scope & (util >= HEADROOM_SHARE)
    beh = kpis.get("behaviour")
    over = list(beh.get("over_capacity") or []) if isinstance(beh, Mapping) else []
    site_ad = dict(zip(_texts(s, "site_id"), s_ad, strict=True))
    site_ad.update(dict(zip(_texts(a, "site_id"), ad, strict=True)))
    over_ad = Counter(site_ad.get(str(o.get("site_id")), "") for o in over)
    by_district: dict[str, Counter[str]] = {}
    for d, n in zip(ad, act, strict=True):
        if n:
            by_district.setdefault(str(d), Counter())[n] += 1
    rows = tuple(DistrictFacts(
        adcode=d, counts=dict(by_district.get(d, Counter())),
        spend_cny=float(spend[ad == d].sum()),
        outlets_before=int(np.sum(existing & (ad == d))),
        outlets_after=int(np.sum(scope & (s_ad == d))),
        at_capacity=int(np.sum(full & (s_ad == d))), over_capacity=int(over_ad.get(d, 0)),
    ) for d in sorted(set(ad[act != ""]) | set(s_ad[scope])) if d)
    counts = {k: int(v) for k, v in (kpis.get("actions") or {}).items()}
    return ApprovalFacts(
        existing=int(existing.sum()), changed_existing=int(np.sum(changes & existing)),
        new_outlets=int(np.sum(changes & ~existing)),
        kept=int(np.sum((act != "") & ~changes)),
        changes_by_action=dict(Counter(str(n) for n in act[changes])),
        limits=tuple(_limits(kpis, counts) + _district_limits(kpis, by_district, names)),
        districts=rows, spend_total_cny=total,
        spend_unattributed_cny=total - float(spend.sum()),
        outlets_after=int(scope.sum()), at_capacity=int(full.sum()),
        over_capacity=tuple(over),
    )


# --- sections ---------------------------------------------------------------------------


def _table(heads: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "plain",
           foot: Sequence[str] | None = None) -> str:
    """A table of plain texts (escaped here)."""
    th = "".join(f"<th>{esc(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    tf = ("<tfoot><tr>" + "".join(f"<td>{esc(c)}</td>" for c in foot) + "</tr></tfoot>"
          if foot else "")
    return (f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody>{tf}'
            "</table>")


def limits_html(facts: ApprovalFacts) -> str:
    """The limits of the scenario and how much of each the plan uses.

    Parameters
    ----------
    facts : ApprovalFacts
        From :func:`approval_facts`.

    Returns
    -------
    str
        Escaped HTML.
    """
    rows = [(x.what, x.key, x.text(x.used), x.text(x.limit),
             pr.pct(x.used / x.limit, 1) if x.limit and not x.floor else DASH, x.status)
            for x in facts.limits]
    hit = facts.limits_hit
    lead = ("The plan uses up " + "; ".join(
        f"{x.what} ({x.text(x.used)} of {x.text(x.limit)}, {x.status})" for x in hit)
        + ". A limit that is reached binds the plan: loosening it (the scenario key) may "
        "give a better plan." if hit else "No limit of the scenario is reached.")
    return (f"<p>{esc(lead)}</p>"
            + _table(["limit", "scenario key", "used", "limit", "share", "status"], rows,
                     "plain limits"))


def districts_html(facts: ApprovalFacts, names: Mapping[str, str]) -> str:
    """Actions, one-off spend and load after the plan, per district.

    Parameters
    ----------
    facts : ApprovalFacts
        From :func:`approval_facts`.
    names : Mapping
        District names by adcode.

    Returns
    -------
    str
        Escaped HTML.
    """
    acts = [x for x in actions.ACTIONS if any(d.counts.get(x.name) for d in facts.districts)]
    heads = ["district", *[x.name for x in acts], "one-off spend (CNY)", "outlets before",
             "outlets after", f"at ≥ {HEADROOM_SHARE:.0%} of capacity", "over capacity"]
    rows = [[names.get(d.adcode, d.adcode), *[pr.num(d.counts.get(x.name, 0)) for x in acts],
             pr.million(d.spend_cny), pr.num(d.outlets_before), pr.num(d.outlets_after),
             pr.num(d.at_capacity), pr.num(d.over_capacity)] for d in facts.districts]
    tot = ["total", *[pr.num(sum(d.counts.get(x.name, 0) for d in facts.districts))
                      for x in acts],
           pr.million(sum(d.spend_cny for d in facts.districts)),
           pr.num(sum(d.outlets_before for d in facts.districts)),
           pr.num(sum(d.outlets_after for d in facts.districts)),
           pr.num(facts.at_capacity), pr.num(len(facts.over_capacity))]
    note = ("Capacity columns: each outlet's load after the plan as the behaviour rule sends "
            "customers to it, against its capacity at the wait target. "
            "One-off spend per district from the scenario's format costs (opening: open, "
            "upgrade and conversion: convert into the new format, closure: close, move: "
            f"relocate). The plan's total is {pr.million(facts.spend_total_cny)} CNY")
    gap = facts.spend_unattributed_cny
    note += ("." if abs(gap) < 0.05e6 else
             f"; {pr.million(gap)} CNY of it is not attributed to a district.")
    return _table(heads, rows, "plain districts num", foot=tot) + \
        f'<p class="note">{esc(note)}</p>'


def _reason_counts(over: Sequence[Mapping[str, Any]]) -> list[tuple[str, int]]:
    c: Counter[str] = Counter()
    for o in over:
        for part in str(o.get("reason") or "no reason given").split(";"):
            if part.strip():
                c[part.strip()] += 1
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))


def holds_html(kpis: Kpis, facts: ApprovalFacts) -> str:
    """Whether the plan holds under the behaviour rule, why not, and the headroom left.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.
    facts : ApprovalFacts
        From :func:`approval_facts`.

    Returns
    -------
    str
        Escaped HTML.
    """
    beh = kpis.get("behaviour")
    n_over = len(facts.over_capacity)
    head = (f"{facts.at_capacity} of {facts.outlets_after} outlets "
            f"({pr.pct(facts.at_capacity / facts.outlets_after if facts.outlets_after else None)})"
            f" are planned at {HEADROOM_SHARE:.0%} of their capacity or more (their load as "
            "the behaviour rule sends customers): they have no room "
            "for more customers, and a small rise in demand takes them over the wait target.")
    if not isinstance(beh, Mapping):
        return (f'<p class="warn">{esc(head)}</p><p>This plan was written before the '
                "behaviour model: whether it holds when customers choose for themselves "
                "is not known. Re-measure it with <code>netplan evaluate</code>.</p>")
    rule = str(beh.get("rule"))
    if beh.get("holds"):
        verdict = (f"Under the rule “{rule}” the plan holds: no outlet gets more customers "
                   "than its capacity at the wait target.")
    else:
        verdict = (f"Under the rule “{rule}” the plan does not hold everywhere: {n_over} "
                   "outlet(s) get more customers than their capacity at the wait target "
                   "(listed with their reasons in the appendix).")
    loop = beh.get("loop")
    if isinstance(loop, Mapping):
        per = ", ".join(str(v) for v in loop.get("overloaded_per_iteration") or [])
        verdict += (f" netplan solved {loop.get('iterations')} time(s) to relieve them "
                    f"(outlets over capacity after each solve: {per}; stopped: "
                    f"{loop.get('stop')}); the plan shown is that of solve "
                    f"{int(loop.get('kept_iteration', 0)) + 1}.")
    reasons = _reason_counts(facts.over_capacity)
    table = (_table(["why the plan could not relieve them", "outlets"],
                    [(r, pr.num(n)) for r, n in reasons], "plain")
             if reasons else "")
    cls = "ok" if beh.get("holds") else "warn"
    return f'<p class="{cls}">{esc(verdict)}</p>{table}<p class="warn">{esc(head)}</p>'


def over_capacity_html(facts: ApprovalFacts, plan: Plan, names: Mapping[str, str]) -> str:
    """Every outlet over its capacity after the plan, with the reason (an appendix).

    Parameters
    ----------
    facts : ApprovalFacts
        From :func:`approval_facts`.
    plan : Plan
        The plan (names and districts of the sites).
    names : Mapping
        District names by adcode.

    Returns
    -------
    str
        Escaped HTML (empty without such outlets).
    """
    if not facts.over_capacity:
        return ""
    s = plan.sites_after
    info = {sid: (nm, ad) for sid, nm, ad in zip(
        _texts(s, "site_id"), _texts(s, "name"), _texts(s, "adcode"), strict=True)}
    rows = []
    for o in sorted(facts.over_capacity, key=lambda o: (info.get(str(o.get("site_id")),
                                                                 ("", ""))[1],
                                                        str(o.get("site_id")))):
        sid = str(o.get("site_id"))
        nm, ad = info.get(sid, ("", ""))
        load, cap = pr.finite(o.get("load_per_h")), pr.finite(o.get("capacity_per_h"))
        rows.append((sid, nm, names.get(ad, ad), pr.num(load, 1), pr.num(cap, 1),
                     pr.pct(load / cap if load is not None and cap else None, 0),
                     str(o.get("reason") or DASH)))
    return _table(["site", "name", "district", "customers/h", "capacity/h", "load",
                   "reason"], rows, "plain over")
