"""The phase slider of a phased plan's map: the network after each phase, in one page.

Each phase's plan is drawn as an ordinary plan (:func:`netplan.present.plan_layers.outlet_view`);
this module lays the phases over one list of sites (the last phase's sites, then the sites
that left the network in an earlier phase) and gives each phase its own markers, popups,
figures, layers and relocation arrows. A site changed in this phase keeps its action's
marker; a site changed in an earlier phase shows that action's marker faded (its ``*_earlier``
variant); sites that do not exist yet are not drawn. The KPI panel of a phase is its plan's
own ``kpis.json`` (the ``behaviour`` block, passed verbatim); nothing is recomputed.

The last phase is the page's own payload (what shows when the page opens, and without
JavaScript); the other phases' entries carry what differs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from netplan.planning import actions
from netplan.planning.actions import Marker
from netplan.present import texts as pr
from netplan.present.geo import clean
from netplan.present.markers import icon_payload, legend_keys, plan_styles, quiet_keys
from netplan.present.panels import phase_section
from netplan.present.plan_layers import OutletView, kpi_body_html
from netplan.present.texts import esc

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.planning.phases import PhasedFolder

__all__ = ["EARLIER", "PhaseLayers", "earlier_key", "phase_layers"]

EARLIER = "_earlier"
"""Suffix of the marker key of an action done in an earlier phase (drawn faded)."""


def earlier_key(key: str) -> str:
    """The marker key of the action ``key`` done in an earlier phase."""
    return key + EARLIER


@dataclass(frozen=True)
class PhaseLayers:
    """What a phased map adds to a plan's map.

    Attributes
    ----------
    view
        Every site of every phase (the last phase's first, in their order), as the last
        phase shows them.
    payload
        ``outlet_layers``, ``icons`` and ``arrows`` of the last phase, and ``phases``
        (one entry per phase) with ``phase_default``.
    legend_html
        The action legend (a filter), with the earlier-phase markers and per-key counts
        the page's script updates.
    section_html
        The slider.
    shown_kpis
        The ``kpis.json`` of the phase the page opens on (its KPI panel).
    """

    view: OutletView
    payload: dict[str, Any]
    legend_html: str
    section_html: str
    shown_kpis: Kpis


def _styles(closed: frozenset[str]) -> dict[str, Marker]:
    """The plan's markers and, for every action that changes the network, its earlier one."""
    base = plan_styles(on_top=closed)
    quiet = quiet_keys()
    out = dict(base)
    for k, m in base.items():
        if k not in quiet:
            out[earlier_key(k)] = dataclasses.replace(
                m, key=earlier_key(k), label=f"{m.label}, in an earlier phase", z=m.z // 2)
    return out


def _icons(styles: dict[str, Marker]) -> dict[str, dict[str, Any]]:
    icons = icon_payload(styles)
    for k, ic in icons.items():
        if k.endswith(EARLIER):
            ic["html"] = f'<span class="netplan-earlier">{ic["html"]}</span>'
    return icons


def _legend(styles: dict[str, Marker], counts: Counter[str]) -> str:
    """Legend rows as filters, each with a count the script updates per phase."""
    keys = [k for k in legend_keys() if k != actions.CONTEXT_MARKER.key]
    keys += [earlier_key(k) for k in keys if earlier_key(k) in styles]
    if counts[actions.CONTEXT_MARKER.key]:
        keys.append(actions.CONTEXT_MARKER.key)
    icons = _icons(styles)
    rows = []
    for k in keys:
        rows.append(f'<label class="netplan-legend-row netplan-filter"><input type="checkbox" '
                    f'data-filter="{esc(k)}" checked>{icons[k]["html"]}'
                    f'<span>{esc(styles[k].label)} (<span data-count="{esc(k)}">'
                    f"{counts[k]:,}</span>)</span></label>")
    return ('<div class="netplan-legend-title">Action up to the phase shown (count); untick to '
            f'hide</div>{"".join(rows)}')


@dataclass
class _State:
    """One phase over every site: marker key (``None``: not drawn), popup and figures."""

    key: list[str | None]
    popup: list[str]
    arr: list[float | None]
    wait: list[float | None]
    before: list[list[Any]]
    after: list[list[Any]]
    arrows: list[list[Any]]


def _states(views: Sequence[OutletView], ids: list[str], years: Sequence[int]
            ) -> list[_State]:
    quiet = quiet_keys()
    pos = {s: u for u, s in enumerate(ids)}
    n = len(ids)
    last_change: dict[str, tuple[int, int, str]] = {}  # site -> (phase, index there, key)
    arrows: list[list[Any]] = []
    out = []
    for k, v in enumerate(views):
        local = {s: i for i, s in enumerate(v.ids)}
        for i, s in enumerate(v.ids):
            if v.icon_key[i] not in quiet:
                last_change[s] = (k, i, v.icon_key[i])
        st = _State(key=[None] * n, popup=[""] * n, arr=[None] * n, wait=[None] * n,
                    before=[[pos[v.ids[i]], c] for i, c in v.before_layer],
                    after=[[pos[v.ids[i]], c] for i, c in v.after_layer], arrows=[])
        for u, s in enumerate(ids):
            li, ch = local.get(s), last_change.get(s)
            earlier = ch is not None and ch[0] < k
            if li is not None:
                st.key[u] = v.icon_key[li]
                st.popup[u], st.arr[u], st.wait[u] = v.popups[li], v.arrivals[li], v.wait[li]
            elif ch is None:
                continue  # not part of the network yet (or never)
            else:
                st.popup[u] = views[ch[0]].popups[ch[1]]
            if earlier and ch is not None and (li is None or v.icon_key[li] in quiet):
                st.key[u] = earlier_key(ch[2])
                label = actions.markers()[ch[2]].label
                gone = "" if li is not None else f"; no outlet here in {years[k]}"
                note = esc(f"Phase {years[ch[0]]}: {label}{gone}.")
                st.popup[u] += f'<p class="netplan-note">{note}</p>'
        arrows += [[*a[:6], pos[v.ids[a[6]]]] for a in v.arrows]
        st.arrows = list(arrows)
        out.append(st)
    return out


def _universe(views: Sequence[OutletView]) -> OutletView:
    """Every site of every phase: the last phase's in its order, then the others by id."""
    last = views[-1]
    known = set(last.ids)
    extra = sorted({s for v in views[:-1] for s in v.ids} - known)
    where: dict[str, tuple[int, int]] = {}
    for vi, v in enumerate(views):
        for li, s in enumerate(v.ids):
            where[s] = (vi, li)
    ids = [*last.ids, *extra]
    latlon = (np.vstack([last.latlon, *[views[where[s][0]].latlon[where[s][1]][None, :]
                                        for s in extra]])
              if extra else last.latlon)
    pick = [where[s] for s in ids]
    return dataclasses.replace(
        last, ids=ids, latlon=np.asarray(latlon, dtype=np.float64),
        name_html=[views[vi].name_html[li] for vi, li in pick],
        adcode=[views[vi].adcode[li] for vi, li in pick],
        closed_keys=frozenset().union(*(v.closed_keys for v in views)))


def _layers(st: _State, styles: dict[str, Marker]) -> dict[str, Any]:
    acts = sorted(((u, k) for u, k in enumerate(st.key) if k is not None),
                  key=lambda e: (styles[e[1]].z, e[0]))
    return {"actions": [[u, k] for u, k in acts], "before": st.before, "after": st.after}


def phase_layers(views: Sequence[OutletView], phased: PhasedFolder, *,
                 year: int | None = None) -> PhaseLayers:
    """The phases of a phased plan laid over one list of sites (module docstring).

    Parameters
    ----------
    views : sequence of OutletView
        Each phase's plan as its own map draws it, in year order.
    phased : PhasedFolder
        The phased plan (years, and each phase's ``kpis.json``).
    year : int, optional
        The phase the page opens on (default: the last).

    Returns
    -------
    PhaseLayers
    """
    shown = len(views) - 1 if year is None else phased.years.index(year)
    base = _universe(views)
    states = _states(views, base.ids, phased.years)
    styles = _styles(base.closed_keys)
    last = states[-1]
    entries: list[dict[str, Any]] = []
    for k, (st, plan) in enumerate(zip(states, phased.plans, strict=True)):
        kpis = plan.kpis
        entry: dict[str, Any] = {
            "year": int(phased.years[k]), "behaviour": kpis.get("behaviour"),
            "kpi_html": kpi_body_html(kpis), "done": pr.action_counts_text(kpis) or pr.DASH,
            "counts": dict(sorted(Counter(x for x in st.key if x is not None).items())),
        }
        if k < len(states) - 1:  # the last phase is the page's own payload
            entry.update({"layers": _layers(st, styles), "popup": st.popup,
                          "arr": clean(np.asarray(st.arr, dtype=float), 1),
                          "wait": clean(np.asarray(st.wait, dtype=float), 1),
                          "arrows": st.arrows})
        entries.append(entry)
    view = dataclasses.replace(
        base, popups=last.popup, arrivals=last.arr, wait=last.wait,
        # the page's own markers are the payload's outlet_layers below; these keys only
        # need to be the plan's
        icon_key=[(k or actions.CONTEXT_MARKER.key).removesuffix(EARLIER) for k in last.key])
    payload = {"outlet_layers": _layers(last, styles), "arrows": last.arrows,
               "icons": _icons(styles), "phases": entries,
               "phase_default": shown}
    counts = Counter(x for x in last.key if x is not None)
    return PhaseLayers(view=view, payload=payload, legend_html=_legend(styles, counts),
                       section_html=phase_section(phased.years, shown),
                       shown_kpis=phased.plans[shown].kpis)
