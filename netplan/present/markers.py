"""Outlet markers: SVG icons, the wait and load classes, legend rows.

The markers of the planned actions come from the action registry
(:func:`netplan.planning.actions.markers`); this module draws them and adds the markers
of the before / after views (outlets coloured by expected wait) and of the diagnosis
(outlets coloured by load against capacity).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from netplan.planning import actions
from netplan.planning.actions import Marker
from netplan.present import texts as pr
from netplan.present.texts import esc

__all__ = [
    "ARROW_COLOR",
    "LOAD_COLORS",
    "UNKNOWN_COLOR",
    "arrow_legend_row",
    "icon_payload",
    "legend_keys",
    "legend_rows",
    "load_class",
    "load_styles",
    "plan_styles",
    "quiet_keys",
    "svg",
    "wait_class",
    "wait_styles",
    "z_order",
]

ARROW_COLOR = "#e69f00"
WAIT_COLORS: tuple[str, ...] = ("#1a9850", "#a6d96a", "#fdae61", "#d73027", "#67001f")
LOAD_COLORS: tuple[str, ...] = ("#4575b4", "#91bfdb", "#1a9850", "#fdae61", "#d73027")
UNKNOWN_COLOR = "#bdbdbd"

_LINE = 'stroke="#222" stroke-width="1"'


def _star_points(c: float) -> str:
    pts = []
    for k in range(10):
        r = (c - 0.5) if k % 2 == 0 else (c - 0.5) * 0.45
        ang = -math.pi / 2 + k * math.pi / 5
        pts.append(f"{c + r * math.cos(ang):.1f},{c + 1 + r * math.sin(ang):.1f}")
    return " ".join(pts)


def _shape_body(shape: str, s: int, fill: str) -> str:
    c = s / 2.0
    bodies = {
        "circle": f'<circle cx="{c:g}" cy="{c:g}" r="{c - 1.5:g}" fill="{fill}" {_LINE}/>',
        "dot": (f'<circle cx="{c:g}" cy="{c:g}" r="{c - 1.5:g}" fill="#fff" '
                f'stroke="{fill}" stroke-width="2"/>'),
        "triangle": (f'<polygon points="{c:g},1 {s - 1:g},{s - 2:g} 1,{s - 2:g}" '
                     f'fill="{fill}" {_LINE}/>'),
        "diamond": (f'<polygon points="{c:g},1 {s - 1:g},{c:g} {c:g},{s - 1:g} 1,{c:g}" '
                    f'fill="{fill}" {_LINE}/>'),
        "square": (f'<rect x="2" y="2" width="{s - 4:g}" height="{s - 4:g}" fill="{fill}" '
                   f'{_LINE}/>'),
        "ring": (f'<circle cx="{c:g}" cy="{c:g}" r="{c - 2:g}" fill="#fff" fill-opacity="0.85" '
                 f'stroke="{fill}" stroke-width="3" stroke-dasharray="3 2"/>'),
    }
    if shape == "cross":
        d = f"M3 3 L{s - 3:g} {s - 3:g} M{s - 3:g} 3 L3 {s - 3:g}"
        return (f'<path d="{d}" stroke="#fff" stroke-width="6" stroke-linecap="round"/>'
                f'<path d="{d}" stroke="{fill}" stroke-width="3.5" stroke-linecap="round"/>')
    if shape == "star":
        return f'<polygon points="{_star_points(c)}" fill="{fill}" {_LINE}/>'
    if shape not in bodies:
        raise ValueError(f"unknown marker shape {shape!r}")
    return bodies[shape]


def svg(marker: Marker) -> str:
    """Inline SVG of a marker (also used in the legend, so both always agree).

    Parameters
    ----------
    marker : Marker
        Its shape, colour and size (all netplan's own values, never user text).

    Returns
    -------
    str
        An ``<svg>`` element.
    """
    s = marker.size
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" '
            f'viewBox="0 0 {s} {s}" aria-hidden="true">'
            f"{_shape_body(marker.shape, s, esc(marker.color))}</svg>")


def icon_payload(styles: Mapping[str, Marker]) -> dict[str, dict[str, Any]]:
    """The icons of the page's markers by key: SVG, size, stacking order, escaped label."""
    return {k: {"html": svg(v), "size": v.size, "z": v.z, "label": esc(v.label)}
            for k, v in styles.items()}


def wait_styles(target_wait_min: float) -> dict[str, Marker]:
    """Markers of outlets coloured by expected wait, relative to the waiting target."""
    tw = target_wait_min
    labels = (f"under {tw / 2:g} min", f"{tw / 2:g}–{tw:g} min (within target)",
              f"{tw:g}–{2 * tw:g} min (over target)", f"over {2 * tw:g} min",
              "saturated (queue grows without bound)")
    out = {f"w{k}": Marker(f"w{k}", f"expected wait {lab}", col, "circle", 13, 100 * k)
           for k, (lab, col) in enumerate(zip(labels, WAIT_COLORS, strict=True))}
    out["wn"] = Marker("wn", "no figure", UNKNOWN_COLOR, "circle", 11, -100)
    return out


def wait_class(wait_min: Any, target_wait_min: float) -> str:
    """Key of the wait marker of an expected wait (``wn``: no figure)."""
    try:
        w = float(wait_min)
    except (TypeError, ValueError):
        return "wn"
    if math.isnan(w):
        return "wn"
    if math.isinf(w):
        return "w4"
    tw = target_wait_min
    return "w0" if w < tw / 2 else "w1" if w <= tw else "w2" if w <= 2 * tw else "w3"


def load_styles() -> dict[str, Marker]:
    """Markers of outlets coloured by peak load against capacity at the waiting target."""
    labels = ("under 50 % (under-used)", "50–80 %", "80–100 % (busy, within target)",
              "100–120 % (overloaded)", "over 120 % (badly overloaded)")
    out = {f"u{k}": Marker(f"u{k}", f"load {lab}", col, "circle", 13, 100 * k)
           for k, (lab, col) in enumerate(zip(labels, LOAD_COLORS, strict=True))}
    out["un"] = Marker("un", "no figure", UNKNOWN_COLOR, "circle", 11, -100)
    return out


def load_class(util: Any) -> str:
    """Key of the load marker of a utilisation (load / capacity; ``un``: no figure)."""
    u = pr.finite(util)
    if u is None:
        try:
            return "u4" if math.isinf(float(util)) else "un"
        except (TypeError, ValueError):
            return "un"
    return "u0" if u < 0.5 else "u1" if u < 0.8 else "u2" if u <= 1.0 + 1e-9 else (
        "u3" if u <= 1.2 else "u4")


QUIET_SIZE = 8
"""Size in pixels of the markers of sites the plan does not change (see :func:`plan_styles`)."""


def quiet_keys() -> frozenset[str]:
    """Keys of the markers of sites the plan leaves as they are: kept and context outlets.

    Returns
    -------
    frozenset of str
    """
    keep = {m.key for a in actions.ACTIONS if not a.changes_network for m in a.markers}
    return frozenset(keep | {actions.CONTEXT_MARKER.key})


ON_TOP_Z = 1000
"""Added to the ``z`` of the markers :func:`plan_styles` puts on top."""


def plan_styles(on_top: frozenset[str] = frozenset()) -> dict[str, Marker]:
    """The action markers as the plan's map draws them (and its legend shows them).

    The registry's markers, except that sites the plan does not change are small
    (:data:`QUIET_SIZE`), so that at the opening zoom the changes stand out and are drawn
    over them (the page stacks markers by their ``z``), and the markers in ``on_top`` are
    stacked over every other.

    Parameters
    ----------
    on_top : frozenset of str
        Marker keys to draw over all others (the map passes the sites that lose their
        outlet: closures and the old sites of moves, the markers a committee looks for
        first and the ones most often covered by a new site next to them).

    Returns
    -------
    dict of str to Marker
    """
    quiet = quiet_keys()
    out = {}
    for k, m in actions.markers().items():
        if k in quiet:
            m = dataclasses.replace(m, size=min(m.size, QUIET_SIZE))
        if k in on_top:
            m = dataclasses.replace(m, z=m.z + ON_TOP_Z)
        out[k] = m
    return out


def z_order(keys: Sequence[str], styles: Mapping[str, Marker]) -> list[int]:
    """Indices ordered so that important markers are added last (stable)."""
    return sorted(range(len(keys)), key=lambda k: (styles[keys[k]].z, k))


def legend_keys() -> list[str]:
    """Keys of the action markers in the committee's order (registry priority), then context.

    Returns
    -------
    list of str
    """
    keys = [m.key for a in actions.by_priority() for m in a.markers]
    return [*keys, actions.CONTEXT_MARKER.key]


def legend_rows(styles: Mapping[str, Marker], counts: Mapping[str, int] | None = None,
                keys: Sequence[str] | None = None, *, filters: bool = False) -> str:
    """Legend rows (icon and label, with a count when given) of some markers.

    With ``filters``, each row is a check box (``data-filter`` = the marker key) that the
    page's script uses to show or hide the markers of that kind: the legend is the filter.
    """
    rows = []
    for k in keys if keys is not None else list(styles):
        st = styles[k]
        n = f" ({counts[k]:,})" if counts is not None and k in counts else ""
        body = f"{svg(st)}<span>{esc(st.label)}{n}</span>"
        if filters:
            rows.append(f'<label class="netplan-legend-row netplan-filter"><input '
                        f'type="checkbox" data-filter="{esc(k)}" checked>{body}</label>')
        else:
            rows.append(f'<div class="netplan-legend-row">{body}</div>')
    return "".join(rows)


def arrow_legend_row() -> str:
    """The legend row of the relocation arrows."""
    return (f'<div class="netplan-legend-row"><svg width="26" height="10" aria-hidden="true">'
            f'<line x1="1" y1="5" x2="18" y2="5" stroke="{ARROW_COLOR}" stroke-width="3" '
            f'stroke-dasharray="5 3"/><polygon points="25,5 16,0 18,5 16,10" '
            f'fill="{ARROW_COLOR}"/></svg><span>relocation: old site → new site</span></div>')
