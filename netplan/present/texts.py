"""Presentation helpers shared by the map and the report: escaping, number formats, labels.

Everything that turns a figure or a user string into HTML text goes through here, so
both outputs say the same thing the same way and every user string is escaped once.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.study.layers import Study

DASH = "–"

def esc(x: Any) -> str:
    """HTML-escape any value as text (``None`` and NaN become an en dash)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return html.escape(str(x), quote=True)


def finite(x: Any) -> float | None:
    """``x`` as a float, or ``None`` when it is missing, NaN or infinite."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def num(x: Any, nd: int = 0) -> str:
    """``1,234.5``-style number; missing → en dash."""
    v = finite(x)
    return DASH if v is None else f"{v:,.{nd}f}"


def pct(x: Any, nd: int = 0) -> str:
    """A share (0..1) as a percentage."""
    v = finite(x)
    return DASH if v is None else f"{100.0 * v:,.{nd}f} %"


def km(dist_m: Any, nd: int = 2) -> str:
    """Metres as kilometres."""
    v = finite(dist_m)
    return DASH if v is None else f"{v / 1000.0:,.{nd}f} km"


def wait_text(wait_min: Any) -> str:
    """Expected wait; infinity (a saturated queue) says so."""
    try:
        v = float(wait_min)
    except (TypeError, ValueError):
        return DASH
    if math.isnan(v):
        return DASH
    if math.isinf(v):
        return "saturated (unbounded)"
    return f"{v:,.1f} min"


def ring_names(study: Study | None) -> dict[int, str]:
    """``{ring: name}`` from a study's ring roads (``name_en``, else ``name_zh``; no empties).

    Parameters
    ----------
    study
        The study, or None (no names: rings are then called ``ring N``).

    Returns
    -------
    dict
        Ring number → its name as the ring layer spells it (plain text, not escaped).
    """
    if study is None or "ring" not in study.ring_roads:
        return {}
    rr = study.ring_roads
    out: dict[int, str] = {}
    for col in ("name_zh", "name_en"):  # English wins where both are given
        if col in rr:
            for ring, name in zip(rr["ring"], rr[col], strict=True):
                text = "" if name is None or pd.isna(name) else str(name).strip()
                if text and not pd.isna(ring):
                    out[int(ring)] = text
    return dict(sorted(out.items()))


def ring_label(ring: int, names: Mapping[int, str] | None = None) -> str:
    """A ring's name (``names``), else ``ring N``."""
    return (names or {}).get(int(ring)) or f"ring {int(ring)}"


def ring_zone_label(rz: Any, names: Mapping[int, str] | None = None, *,
                    short: bool = False) -> str:
    """A ring zone id as people read it.

    ``inside_2`` → ``inside ring 2``, ``2_3`` → ``rings 2–3``, ``outside_6`` → ``outside
    ring 6``; with ring ``names`` (:func:`ring_names`) → ``inside 二环路``, ``二环路 – 三环路``;
    ``short`` → ``< 2``, ``2–3``, ``> 6`` (chart axes). ``all`` (a study without ring roads)
    is ``whole area``; other ids are returned as they are.
    """
    from netplan.study.geometry import NO_RINGS, ring_zone_bounds

    s = "" if rz is None else str(rz)
    bounds = ring_zone_bounds(s)
    if bounds is None:
        return "whole area" if s == NO_RINGS else (s or DASH)
    inner, outer = bounds
    if short:
        return (f"< {outer}" if inner is None else f"> {inner}" if outer is None
                else f"{inner}{DASH}{outer}")
    if inner is None:
        return f"inside {ring_label(outer or 0, names)}"
    if outer is None:
        return f"outside {ring_label(inner, names)}"
    if not names or (inner not in names and outer not in names):
        return f"rings {inner}{DASH}{outer}"
    return f"{ring_label(inner, names)} {DASH} {ring_label(outer, names)}"


def outside_ring(kpis: Kpis) -> int | None:
    """The ring of a plan's ``share_outlets_outside_ring`` (its scenario's ``outside_ring``)."""
    sc: Any = kpis.get("scenario") or {}
    try:
        return int(sc["planning"]["outside_ring"])
    except (KeyError, TypeError, ValueError):
        return None


def district_names(study: Study | None) -> dict[str, str]:
    """``{adcode: "朝阳区 Chaoyang"}`` (Chinese name, pinyin) of a study (empty without one)."""
    if study is None:
        return {}
    d = study.districts
    en = d["name_pinyin"] if "name_pinyin" in d else d.get("name_en", d["adcode"])
    return {
        str(a): f"{zh} {n}".strip()
        for a, zh, n in zip(d["adcode"].astype(str), d["name_zh"].astype(str), en.astype(str),
                            strict=True)
    }


def scope_text(kpis: Kpis, names: Mapping[str, str]) -> str:
    """``the whole city`` or the district's name (plain text, not escaped)."""
    scope = str(kpis.get("scope", "city"))
    if scope == "city":
        return "the whole city"
    return names.get(scope, f"district {scope}")


@dataclass(frozen=True)
class KpiRow:
    """One line of a before → after table (texts are plain, not escaped)."""

    label: str
    before: str
    after: str
    change: str  # "better", "worse" or ""


# key, label, kind, which way is better
KPI_SPECS: tuple[tuple[str, str, str, str], ...] = (
    ("outlets", "Outlets", "int", ""),
    ("mean_wait_min", "Mean expected wait at peak", "min", "lower"),
    ("share_customers_over_target", "Customers over the {tw}-min wait target", "pct", "lower"),
    ("overloaded_outlets", "Overloaded outlets", "int", "lower"),
    ("mean_dist_m", "Mean travel distance", "km", "lower"),
    ("p95_dist_m", "95th percentile distance", "km", "lower"),
    ("share_pop_within_1km", "Residents ≤ 1 km from an outlet", "pct", "higher"),
    ("share_pop_within_2km", "Residents ≤ 2 km from an outlet", "pct", "higher"),
    ("share_pop_within_3km", "Residents ≤ 3 km from an outlet", "pct", "higher"),
    ("unserved_arrivals_per_h", "Unserved customers per peak hour", "float1", "lower"),
    ("share_outlets_outside_ring", "Outlets outside {ring}", "pct", ""),
)


# the bank's service figures (a plan's ``behaviour`` block, a diagnosis' ``service``)
SERVICE_SPECS: tuple[tuple[str, str, str, str], ...] = (
    ("counter_mean_wait_min", "Counter mean wait at peak", "min", "lower"),
    ("terminal_mean_wait_min", "Terminal mean wait at peak", "min", "lower"),
    ("share_customers_wait_over_target", "Customers waiting over {tw} min", "pct", "lower"),
    ("overloaded_outlets", "Overloaded outlets", "int", "lower"),
    ("abandoned_per_h", "Customers giving up per peak hour", "float1", "lower"),
    ("unserved_arrivals_per_h", "Unserved customers per peak hour", "float1", "lower"),
    ("mean_wait_min", "Mean wait, counter and terminal blended", "min", "lower"),
)

#: The travel keys of :data:`KPI_SPECS` shown beside the service figures.
TRAVEL_KEYS: tuple[str, ...] = (
    "outlets", "mean_dist_m", "p95_dist_m", "share_pop_within_1km", "share_pop_within_2km",
    "share_pop_within_3km", "share_outlets_outside_ring",
)


def behaviour_caption(rule: str | None, patience_min: Any = None) -> str:
    """One line saying which customer behaviour the figures assume.

    Parameters
    ----------
    rule : str or None
        ``choice``, ``nearest``, or ``None`` (a plan written before the behaviour model).
    patience_min : float, optional
        The customers' mean patience.

    Returns
    -------
    str
        Plain text.
    """
    pat = finite(patience_min)
    gives_up = "" if pat is None else f"; they give up after {pat:g} min on average"
    if rule == "choice":
        return ("Figures assume customers choose among the outlets within reach by travel "
                f"time and expected wait (rule “choice”){gives_up}.")
    if rule == "nearest":
        return ("Figures assume customers go to their nearest outlet within reach and move "
                f"on when it is full (rule “nearest”){gives_up}.")
    return ("Figures from the plan's own routing (a plan written before the behaviour "
            "model).")


def fmt_kpi(value: Any, kind: str) -> str:
    """Format one KPI value by its kind (``int``, ``min``, ``pct``, ``km``, ``float1``)."""
    if kind == "int":
        return num(value)
    if kind == "min":
        v = finite(value)
        return DASH if v is None else f"{v:,.1f} min"
    if kind == "pct":
        return pct(value, 1)
    if kind == "km":
        return km(value)
    return num(value, 1)


def _change(b: Any, a: Any, better: str) -> str:
    vb, va = finite(b), finite(a)
    if not better or vb is None or va is None or abs(va - vb) <= 1e-9 * max(1.0, abs(vb)):
        return ""
    lower = va < vb
    return "better" if (lower == (better == "lower")) else "worse"


def kpi_rows(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    target_wait_min: float | None = None,
    keys: Sequence[str] | None = None,
    specs: Sequence[tuple[str, str, str, str]] = KPI_SPECS,
    ring: str = "the ring",
) -> list[KpiRow]:
    """Rows of the before → after KPI table (only the keys present in either side).

    ``specs`` are the rows that may appear (:data:`KPI_SPECS`, or :data:`SERVICE_SPECS`
    for the bank's service figures); ``ring`` names the ring of
    ``share_outlets_outside_ring`` (:func:`ring_label`).
    """
    before = before or {}
    after = after or {}
    tw = "" if target_wait_min is None else f"{target_wait_min:g}"
    rows = []
    for key, label, kind, better in specs:
        if keys is not None and key not in keys:
            continue
        if key not in before and key not in after:
            continue
        b, a = before.get(key), after.get(key)
        rows.append(KpiRow(label.format(tw=tw or "?", ring=ring), fmt_kpi(b, kind),
                           fmt_kpi(a, kind),
                           _change(b, a, better)))
    return rows


def plan_kpi_rows(kpis: Kpis, target_wait_min: float | None,
                  names: Mapping[int, str] | None = None) -> tuple[list[KpiRow], str]:
    """The overall before → after rows of a plan and the caption naming its behaviour rule.

    With a ``behaviour`` block: the bank's service figures (:data:`SERVICE_SPECS`), then
    the travel figures; without (an older plan): every row of :data:`KPI_SPECS`.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs.
    target_wait_min : float or None
        The waiting-time target.
    names : Mapping, optional
        Ring names (:func:`ring_names`) for the ring-share row.

    Returns
    -------
    tuple
        ``(rows, caption)``.
    """
    k = outside_ring(kpis)
    ring = "the ring" if k is None else ring_label(k, names)
    ob = (kpis.get("before") or {}).get("overall")
    oa = (kpis.get("after") or {}).get("overall")
    beh = kpis.get("behaviour")
    if not isinstance(beh, Mapping):
        return (kpi_rows(ob, oa, target_wait_min=target_wait_min, ring=ring),
                behaviour_caption(None))
    rows = kpi_rows(beh.get("before"), beh.get("after"), target_wait_min=target_wait_min,
                    specs=SERVICE_SPECS)
    rows += kpi_rows(ob, oa, target_wait_min=target_wait_min, keys=TRAVEL_KEYS, ring=ring)
    params = beh.get("parameters") or {}
    return rows, behaviour_caption(str(beh.get("rule")), params.get("patience_min"))


def million(x: Any, nd: int = 1) -> str:
    """CNY as millions."""
    v = finite(x)
    return DASH if v is None else f"{v / 1e6:,.{nd}f} M"


def cost_rows(costs: Mapping[str, Any]) -> list[KpiRow]:
    """Before → after rows of the plan's costs."""
    rows = []
    if "opex_before_cny_per_year" in costs:
        b, a = costs.get("opex_before_cny_per_year"), costs.get("opex_after_cny_per_year")
        rows.append(KpiRow("Operating cost per year (CNY)", million(b), million(a),
                           _change(b, a, "lower")))
    if "travel_before_cny_per_year" in costs:
        b, a = costs.get("travel_before_cny_per_year"), costs.get("travel_after_cny_per_year")
        rows.append(KpiRow("Customers' travel cost per year (CNY)", million(b), million(a),
                           _change(b, a, "lower")))
    if "oneoff_spend_cny" in costs:
        budget = costs.get("budget_cny")
        spent = million(costs.get("oneoff_spend_cny"))
        limit = "no budget limit" if finite(budget) is None else f"budget {million(budget)}"
        rows.append(KpiRow("One-off spend (CNY)", DASH, f"{spent} ({limit})", ""))
    return rows


def action_counts_text(kpis: Kpis) -> str:
    """``"1 open, 2 close, 4 keep"``: the plan's actions counted, most important first.

    Parameters
    ----------
    kpis : Mapping
        The plan's KPIs (``actions`` holds the count per action name).

    Returns
    -------
    str
        Plain text; empty when no action is counted.
    """
    from netplan.planning import actions

    counts = kpis.get("actions") or {}
    return ", ".join(f"{counts[a.name]} {a.name}" for a in actions.by_priority()
                     if counts.get(a.name))


def scenario_name(kpis: Kpis) -> str:
    """The scenario's name from a plan's KPIs (plain text)."""
    sc = kpis.get("scenario") or {}
    return str(sc.get("name", "")) if isinstance(sc, Mapping) else ""


def target_wait(kpis: Kpis) -> float | None:
    """The waiting-time target of a plan's scenario."""
    sc = kpis.get("scenario") or {}
    try:
        return float(sc["service"]["target_wait_min"])
    except (KeyError, TypeError, ValueError):
        return None
