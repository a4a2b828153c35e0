"""The report's pages of a phased plan: the timeline of the phases and the spend per phase.

Reads a :class:`~netplan.planning.phases.PhasedFolder` only: the counts, budgets, spend
and gaps of ``spend.csv`` and, for the figures after each phase, each phase plan's own
``behaviour`` block (``kpis.json``). Nothing is recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netplan.planning import actions
from netplan.present import texts as pr
from netplan.present.texts import esc

if TYPE_CHECKING:
    from netplan.planning.phases import PhasedFolder, PhaseSpend

__all__ = ["PHASE_CSS", "phases_section", "spend_table", "timeline"]

#: The style of the timeline (added to the report's style sheet for a phased plan only).
PHASE_CSS = """
ol.timeline { display: flex; list-style: none; padding: 0; margin: 16px 0 8px;
  position: relative; }
ol.timeline::before { content: ""; position: absolute; top: 31px; left: 4%; right: 4%;
  border-top: 3px solid #0072b2; }
ol.timeline li { flex: 1 1 0; position: relative; padding: 0 8px; text-align: center;
  break-inside: avoid; }
ol.timeline .yr { font-size: 18px; font-weight: bold; height: 24px; }
ol.timeline .dot { display: block; width: 14px; height: 14px; margin: 1px auto 6px;
  border-radius: 50%; background: #0072b2; border: 2px solid #fff; position: relative; }
ol.timeline li.start .dot { background: #fff; border-color: #0072b2; }
ol.timeline .did { font-size: 13px; margin-bottom: 4px; min-height: 1.5em; }
ol.timeline dl { margin: 0; font-size: 13px; display: grid;
  grid-template-columns: auto auto; gap: 0 8px; justify-content: center; text-align: left; }
ol.timeline dt { color: #555; } ol.timeline dd { margin: 0; font-weight: bold;
  text-align: right; white-space: nowrap; }
table.spend td:nth-child(n+2), table.spend th:nth-child(n+2) { text-align: right;
  white-space: nowrap; }
table.spend tfoot td { font-weight: bold; border-top: 2px solid #999; }
@media print { ol.timeline .yr { font-size: 12pt; } ol.timeline .did,
  ol.timeline dl { font-size: 8pt; } }
"""


def _changes() -> list[actions.ActionType]:
    """The actions that change the network, in the registry's column order."""
    return [a for a in actions.ACTIONS if a.changes_network]


def _counts_text(row: PhaseSpend) -> str:
    done = [f"{row.actions.get(a.name, 0)} {a.name}" for a in actions.by_priority()
            if a.changes_network and row.actions.get(a.name, 0)]
    return ", ".join(done) or "no change"


def _figures(service: Mapping[str, Any] | None, tw: float | None) -> str:
    """The three figures of a network under the behaviour rule, as a definition list."""
    s = service or {}
    target = f"{tw:g} min" if tw is not None else "the target"
    rows = (("Counter wait", pr.wait_text(s.get("counter_mean_wait_min"))),
            (f"Wait over {target}", pr.pct(s.get("share_customers_wait_over_target"), 1)),
            ("Overloaded outlets", pr.num(s.get("overloaded_outlets"))))
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows) + "</dl>"


def timeline(phased: PhasedFolder) -> str:
    """The phase years on a line: what each phase did and the figures after it.

    The first point is the network the first phase starts from (its ``before``); each
    phase then shows its actions (``spend.csv``) and its plan's ``behaviour.after``:
    the counter wait, the share of customers waiting over the target and the outlets
    over capacity.

    Parameters
    ----------
    phased : PhasedFolder
        The phased plan.

    Returns
    -------
    str
        Markup.
    """
    first = phased.plans[0].kpis
    tw = pr.target_wait(first)
    beh0 = first.get("behaviour")
    items = [f'<li class="start"><div class="yr">{esc("Start")}</div><span class="dot"></span>'
             f'<div class="did">{esc(f"network today, {phased.years[0]} demand")}</div>'
             f"{_figures(beh0['before'] if beh0 else None, tw)}</li>"]
    for year, plan, row in zip(phased.years, phased.plans, phased.spend, strict=True):
        beh = plan.kpis.get("behaviour")
        items.append(f'<li data-year="{int(year)}"><div class="yr">{int(year)}</div>'
                     f'<span class="dot"></span><div class="did">{esc(_counts_text(row))}</div>'
                     f"{_figures(beh['after'] if beh else None, tw)}</li>")
    rule = beh0["rule"] if beh0 else None
    return (f'<ol class="timeline" aria-label="phases">{"".join(items)}</ol>'
            f'<p class="note">{esc(pr.behaviour_caption(rule) if rule else "")} Figures after '
            "each phase are measured on the demand of that phase's year.</p>")


def spend_table(spend: Sequence[PhaseSpend]) -> str:
    """Budget, spend, actions and gap of each phase (``spend.csv``), with the totals.

    Parameters
    ----------
    spend : sequence of PhaseSpend
        The phases' rows.

    Returns
    -------
    str
        Markup.
    """
    acts = _changes()
    heads = ["Phase", "Budget", "Spent (one-off)", "Operating cost after, per year",
             *[a.name for a in acts], "Solver gap"]
    body = []
    for r in spend:
        budget = "no limit" if r.budget_cny is None else pr.million(r.budget_cny)
        gap = pr.DASH if r.gap is None else f"{100 * r.gap:.2f} %"
        cells = [str(r.year), budget, pr.million(r.oneoff_spend_cny),
                 pr.million(r.opex_after_cny_per_year),
                 *[str(r.actions.get(a.name, 0)) for a in acts], gap]
        body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    budgets = [r.budget_cny for r in spend]
    total = ["All phases",
             pr.DASH if any(b is None for b in budgets) else pr.million(
                 sum(b for b in budgets if b is not None)),
             pr.million(sum(r.oneoff_spend_cny for r in spend)), "",
             *[str(sum(r.actions.get(a.name, 0) for r in spend)) for a in acts], ""]
    return ('<div class="wide"><table class="spend plain" id="phase-spend"><thead><tr>'
            + "".join(f'<th scope="col">{esc(h)}</th>' for h in heads) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody><tfoot><tr>"
            + "".join(f"<td>{esc(c)}</td>" for c in total) + "</tr></tfoot></table></div>"
            '<p class="note">CNY. Spent: the one-off cost of the phase\'s actions, within its '
            "own budget. Each gap is the one its solver proved for that phase, given the "
            "earlier phases' decisions (rolling horizon).</p>")


def phases_section(phased: PhasedFolder) -> str:
    """The report's section of a phased plan: what it is, the timeline, the spend per phase.

    Parameters
    ----------
    phased : PhasedFolder
        The phased plan.

    Returns
    -------
    str
        Markup (a ``<section>``).
    """
    last = phased.years[-1]
    rest = (f"The rest of this report is the last phase ({last}): its actions on the network "
            "the earlier phases left, and the figures before → after it. Each phase's own "
            "report is in phases/<year>/report.html.")
    return (
        '<section><h2 id="phases">Phases: timeline</h2>'
        f'<p class="lede">{esc(f"{len(phased.years)} phases, planned in turn")}: '
        f"{esc(phased.method)}.</p>{timeline(phased)}"
        '<h3 id="phase-spend-title">Spend and actions per phase</h3>'
        f'{spend_table(phased.spend)}<p class="warn">{esc(rest)}</p></section>'
    )
