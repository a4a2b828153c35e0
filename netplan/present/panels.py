"""The side panel of a map page: title and presets, find and filter, key figures, zone
colourings and layers, each a collapsible section with the legend of what it shows.

Markup only, built from netplan's own constants and from text escaped here (or, where an
argument's name ends in ``_html``, escaped where it was built). The page's script
(``templates/map.js``) binds the controls by their ids and ``data-`` attributes and fills
the action table from the page's JSON payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from netplan.present.texts import esc
from netplan.present.zones import Measure

__all__ = ["find_section", "kpi_section", "layers_section", "phase_section", "title_section",
           "zones_section"]


def title_section(title: str, intro: str, *, views: Sequence[tuple[str, str]],
                  how_to_read: str) -> str:
    """The panel's head: title, one line of context, preset buttons, how to read the map.

    Parameters
    ----------
    title, intro, how_to_read : str
        Plain text.
    views : sequence of (key, label)
        The preset buttons (keys of the payload's ``views``); none for no buttons.

    Returns
    -------
    str
        Markup.
    """
    buttons = "".join(f'<button type="button" data-view="{esc(k)}">{esc(lab)}</button>'
                      for k, lab in views)
    group = (f'<div class="netplan-views" role="group" aria-label="presets">{buttons}</div>'
             if views else "")
    return (f'<section id="netplan-title" class="netplan-section"><h2>{esc(title)}</h2>'
            f"<p>{esc(intro)}</p>{group}<details><summary>How to read this map</summary>"
            f'<p class="netplan-note">{esc(how_to_read)}</p></details></section>')


def find_section(*, districts_html: Sequence[str], heads: Sequence[tuple[str, str]],
                 what: str) -> str:
    """Search box, district filter and the sortable table of outlets (rows drawn by the script).

    Parameters
    ----------
    districts_html : sequence of str
        Escaped district names, in the order of the payload's ``outlets.dnames``.
    heads : sequence of (str, str)
        Plain column titles of the table: short, and in full (the tooltip).
    what : str
        Plain text: what the table lists.

    Returns
    -------
    str
        Markup.
    """
    options = "".join(f'<option value="{k}">{name}</option>'
                      for k, name in enumerate(districts_html))
    ths = "".join(f'<th scope="col" title="{esc(full)}"><button type="button" '
                  f'data-sort="{k}">{esc(short)}</button></th>'
                  for k, (short, full) in enumerate(heads))
    return (
        '<details id="netplan-find" class="netplan-section" open><summary>Find an outlet'
        "</summary>"
        '<div class="netplan-find-row"><input type="search" id="netplan-search" '
        'placeholder="Branch name or id" aria-label="Search by branch name or id" '
        'autocomplete="off">'
        '<select id="netplan-district" aria-label="Only this district">'
        f'<option value="">All districts</option>{options}</select></div>'
        f'<p class="netplan-note">{esc(what)} Click a row to show the outlet; click an '
        "outlet on the map to find its row and its catchment.</p>"
        '<p id="netplan-status" class="netplan-status" aria-live="polite"></p>'
        '<div class="netplan-table-wrap"><table id="netplan-table" class="netplan-table">'
        f"<thead><tr>{ths}</tr></thead><tbody></tbody></table></div>"
        '<p id="netplan-table-count" class="netplan-note"></p></details>'
    )


def kpi_section(summary: str, table_html: str, note: str = "") -> str:
    """The key figures (a KPI table built by netplan) with the rule they assume.

    ``note`` (plain text) follows the table; leave it empty when ``table_html`` carries it.
    """
    note_html = f'<p class="netplan-note">{esc(note)}</p>' if note else ""
    return (f'<details id="netplan-kpi-panel" class="netplan-section" open><summary>'
            f"{esc(summary)}</summary>{table_html}{note_html}</details>")


def phase_section(years: Sequence[int], shown: int) -> str:
    """The phase slider of a phased plan's map: one step per phase year, keyboard-usable.

    Parameters
    ----------
    years : sequence of int
        The phase years, in order.
    shown : int
        Index of the phase shown when the page opens.

    Returns
    -------
    str
        Markup: a range input (arrow keys, Home and End move it), a button per year and
        a live line the page's script fills from the phase's KPIs.
    """
    n = len(years)
    options = "".join(f'<option value="{k}" label="{int(y)}"></option>'
                      for k, y in enumerate(years))
    buttons = "".join(
        f'<button type="button" data-phase="{k}" aria-label="Show the network after phase '
        f'{int(y)}">{int(y)}</button>' for k, y in enumerate(years))
    return (
        '<section id="netplan-phases" class="netplan-section"><h3 id="netplan-phase-title">'
        "Phase: the network after each phase</h3>"
        f'<input type="range" id="netplan-phase" min="0" max="{n - 1}" step="1" '
        f'value="{shown}" list="netplan-phase-years" aria-labelledby="netplan-phase-title" '
        f'aria-valuetext="{int(years[shown])}" data-years="{" ".join(str(int(y)) for y in years)}">'
        f'<datalist id="netplan-phase-years">{options}</datalist>'
        f'<div class="netplan-phase-years" role="group" aria-label="phase years">{buttons}</div>'
        '<p id="netplan-phase-status" class="netplan-status" aria-live="polite"></p>'
        '<p class="netplan-note">Markers show what was done up to the phase: this phase\'s '
        "actions in full colour, earlier phases' faded. The key figures and the table follow "
        "the phase; the zones show the last phase.</p></section>"
    )


def zones_section(measures: Sequence[Measure], default: str) -> str:
    """One radio button per zone colouring, and the legend of each (shown when chosen)."""
    radios = "".join(
        f'<label class="netplan-choice"><input type="radio" name="netplan-measure" '
        f'value="{esc(m.key)}"{" checked" if m.key == default else ""}>'
        f"<span>{esc(m.title)}</span></label>" for m in measures)
    legends = "".join(m.legend_html() for m in measures)
    return (f'<details id="netplan-zones" class="netplan-section" open><summary>Colour the '
            f'zones by</summary><div class="netplan-choices">{radios}</div>'
            f'<div id="netplan-legend" class="netplan-legend">{legends}</div></details>')


def layers_section(overlays: Sequence[tuple[str, str, bool]], legends: Mapping[str, str]) -> str:
    """A check box per layer with the layer's legend under it.

    Parameters
    ----------
    overlays : sequence of (key, title, shown)
        Plain titles.
    legends : mapping of str to str
        Legend markup by layer key (netplan's own markup, names escaped); the legend of
        the actions carries the action filter.

    Returns
    -------
    str
        Markup.
    """
    items = []
    for key, title, shown in overlays:
        legend = legends.get(key, "")
        block = (f'<div class="netplan-legend-block" id="netplan-legend-{esc(key)}" '
                 f'data-layers="{esc(key)}">{legend}</div>' if legend else "")
        items.append(f'<div class="netplan-layer"><label class="netplan-choice"><input '
                     f'type="checkbox" data-overlay="{esc(key)}"{" checked" if shown else ""}>'
                     f"<span>{esc(title)}</span></label>{block}</div>")
    return (f'<details id="netplan-layers" class="netplan-section" open><summary>Show on the '
            f'map</summary>{"".join(items)}</details>')
