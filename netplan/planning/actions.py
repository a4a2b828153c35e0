"""The action registry: every kind of decision a plan can make about a site, in one table.

The model builder decides which action each site gets; everything downstream (the plan's
reasons and counts, the terminal tables, the map's markers and legend, the report's order
and texts) reads this table and nothing else. Adding an action type ("merge two outlets")
means one new :class:`ActionType` here and the decision in the model builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ACTIONS",
    "ACTION_NAMES",
    "BY_NAME",
    "CONTEXT_MARKER",
    "ActionType",
    "Marker",
    "action",
    "by_priority",
    "markers",
]


@dataclass(frozen=True)
class Marker:
    """How a site is drawn on the map.

    Attributes
    ----------
    key : str
        Identifier of the marker style (an action name, or ``<action>_old``/``_new``).
    label : str
        Legend and tooltip text.
    color : str
        Fill colour (Okabe-Ito palette, safe for colour-blind readers).
    shape : str
        Marker shape drawn by the map's script; the shape carries the action too.
    size : int
        Size in pixels.
    z : int
        Stacking order: higher is drawn on top.
    """

    key: str
    label: str
    color: str
    shape: str
    size: int
    z: int = 0


@dataclass(frozen=True)
class ActionType:
    """One kind of decision about a site.

    Attributes
    ----------
    name : str
        The value in the ``action`` column of ``actions.csv`` and the plan's layers.
    text : str
        What the action means, in a few words (legend, report).
    reason : str
        ``str.format`` template of the one-sentence reason given for each site. Fields:
        ``load_before``, ``cap_before``, ``wait_before``, ``load_after``, ``cap_after``,
        ``wait_after`` (waits as text), ``share_before`` (load/capacity before),
        ``target_min``, ``format_after``, ``kind``, ``nearest_km``, ``staffed`` (counters
        staffed in the peak hours beyond the outlet's own) and ``staff_cny`` (their cost a
        year), and for a move ``dist_km``, ``target_name``, ``target_id``,
        ``target_format``, ``target_load``.
    priority : int
        Order by importance for the committee (report rows, map legend): lower first.
    markers : tuple of Marker
        How the site is drawn: one marker, or for a move the old site then the new site.
    optional : bool
        Only possible when the scenario switches it on (``staff``): count tables leave its
        column out when a plan has none.
    """

    name: str
    text: str
    reason: str
    priority: int
    markers: tuple[Marker, ...]
    optional: bool = False

    @property
    def changes_network(self) -> bool:
        """Whether the action changes the network (everything but ``keep``)."""
        return self.name != "keep"


#: The actions, in the column order of tables (keep first, then the changes).
ACTIONS: tuple[ActionType, ...] = (
    ActionType(
        "keep", "keep as is",
        "kept: {load_after:.0f}/h against a capacity of {cap_after:.0f}/h at the "
        "{target_min:g}-min target (expected wait {wait_after})",
        6, (Marker("keep", "keep", "#7a7a7a", "circle", 11, 0),),
    ),
    ActionType(
        "open", "open a new outlet",
        "opened as {format_after} ({kind} site): takes {load_after:.0f}/h "
        "(wait {wait_after}); nearest other outlet {nearest_km:.1f} km",
        0, (Marker("open", "open", "#009e73", "triangle", 19, 500),),
    ),
    ActionType(
        "close", "close",
        "closed: only {load_before:.0f} customers/h at peak ({share_before:.0%} of "
        "capacity); the nearest remaining outlet is {nearest_km:.1f} km away",
        2, (Marker("close", "close", "#d55e00", "cross", 16, 300),),
    ),
    ActionType(
        "upgrade", "upgrade to a larger format",
        "upgraded to {format_after}: {load_before:.0f}/h exceeded its capacity of "
        "{cap_before:.0f}/h (wait {wait_before}); now {cap_after:.0f}/h, wait {wait_after}",
        3, (Marker("upgrade", "upgrade", "#0072b2", "diamond", 18, 400),),
    ),
    ActionType(
        "convert", "convert to another format",
        "converted to {format_after}: {load_after:.0f}/h fits a {format_after} outlet "
        "({cap_after:.0f}/h at target) at lower operating cost",
        4, (Marker("convert", "convert", "#cc79a7", "square", 15, 350),),
    ),
    ActionType(
        "staff", "extend counter hours",
        "{staffed} more counter(s) staffed in the peak hours ({staff_cny:,.0f} CNY a year, "
        "no one-off cost) instead of a larger format: {load_before:.0f}/h against a "
        "capacity of {cap_before:.0f}/h (wait {wait_before}); now {cap_after:.0f}/h, "
        "wait {wait_after}",
        5, (Marker("staff", "extend counter hours", "#56b4e9", "circle", 14, 250),),
        optional=True,
    ),
    ActionType(
        "relocate", "relocate to a nearby site",
        "relocated {dist_km:.1f} km to {target_name} ({target_id}) as a {target_format} "
        "outlet, nearer to demand: {target_load:.0f}/h there vs {load_before:.0f}/h here",
        1, (
            Marker("relocate_old", "relocate: old site", "#e69f00", "ring", 17, 200),
            Marker("relocate_new", "relocate: new site", "#e69f00", "star", 20, 450),
        ),
    ),
)

#: Sites drawn for context only (outside the planned area, unchanged).
CONTEXT_MARKER = Marker("context", "outside the planned area (unchanged)", "#9a9a9a", "dot", 9,
                        -300)

ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
BY_NAME: Mapping[str, ActionType] = {a.name: a for a in ACTIONS}


def action(name: str) -> ActionType:
    """The registered action called ``name``.

    Parameters
    ----------
    name : str
        An action name as written in a plan (``"keep"``, ``"open"``, ...).

    Returns
    -------
    ActionType
        Its registry entry.

    Raises
    ------
    KeyError
        If no action of that name is registered.
    """
    return BY_NAME[name]


def markers() -> dict[str, Marker]:
    """Every marker style by key, actions first (registry order), then the context marker.

    Returns
    -------
    dict of str to Marker
        ``{marker.key: marker}``.
    """
    out = {m.key: m for a in ACTIONS for m in a.markers}
    out[CONTEXT_MARKER.key] = CONTEXT_MARKER
    return out


def by_priority() -> tuple[ActionType, ...]:
    """The actions in the committee's order of importance (moves and openings first).

    Returns
    -------
    tuple of ActionType
    """
    return tuple(sorted(ACTIONS, key=lambda a: a.priority))
