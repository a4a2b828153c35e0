"""Rich terminal rendering for the CLI (tables, progress); the library never prints.

User text (names, ids, paths, messages) goes through :func:`safe_text` before it is
printed: rich markup in it is shown literally and control characters (an escape
sequence that would recolour the terminal or set its title, a bell) are shown as
``\\x1b``-style escapes, so a name can never drive the terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netplan._errors import printable
from netplan.planning import actions
from netplan.present import texts
from netplan.study.geometry import ring_zone_order

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.planning.diagnose import Diagnosis
    from netplan.planning.evaluate_plan import PlanEvaluation
    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

__all__ = ["render_diagnosis", "render_evaluation", "render_plan", "safe_text",
           "status_progress"]


def safe_text(x: object) -> str:
    """User text for the terminal: control characters made visible, rich markup escaped.

    Parameters
    ----------
    x : object
        Any value (converted with ``str``).

    Returns
    -------
    str
        Text that prints literally: ``"\\x1b[31m"`` for an escape sequence, ``"\\[b]"`` for
        markup.
    """
    return escape(printable(str(x)))


def _f(x: Any, fmt: str = "{:,.0f}") -> str:
    if x is None:
        return "–"
    return fmt.format(x)


@contextmanager
def status_progress(console: Console, *, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr showing the latest step and the elapsed time."""
    t0 = time.monotonic()
    if not enabled:
        yield lambda _msg: None
        return
    with console.status("starting") as status:

        def update(msg: str) -> None:
            el = time.monotonic() - t0
            status.update(f"[{el:5.1f} s] {safe_text(msg)}")
            console.log(safe_text(msg), highlight=False)

        yield update


def _names(study: Study) -> dict[str, str]:
    d = study.districts
    return {str(a): f"{zh} {en}" for a, zh, en in zip(
        d["adcode"], d["name_zh"], d["name_pinyin"], strict=True)}


def render_diagnosis(console: Console, diag: Diagnosis, study: Study, *,
                     adcode: str | None) -> None:
    """Per-district and per-ring tables of a diagnosis, then the headline.

    Parameters
    ----------
    console : Console
        Where to print.
    diag : Diagnosis
        The diagnosis.
    study : Study
        Gives the districts' names.
    adcode : str or None
        Only this district.
    """
    names = _names(study)
    t = Table(title=f"Current network, demand of {diag.year} (target wait "
              f"{diag.target_wait_min:g} min)", title_justify="left",
              caption=texts.behaviour_caption(diag.rule), caption_justify="left")
    for col in ("district", "outlets", "over-\nloaded", "counter\nwait min",
                "terminal\nwait min", f"over\n{diag.target_wait_min:g} min", "give up\n/h",
                "unserved\n/h", "blended\nwait min", "dist\nm", "pop\n≤1 km"):
        t.add_column(col, justify="right" if col != "district" else "left")
    keys = list(diag.kpis["districts"]) if adcode is None else [adcode]
    for ad in keys:
        t.add_row(safe_text(names.get(ad, ad)),
                  *_diag_cells(diag.service[ad], diag.kpis["districts"][ad]))
    if adcode is None:
        t.add_row(f"[b]{safe_text(study.name)}[/b]",
                  *_diag_cells(diag.service["overall"], diag.kpis["overall"]))
    console.print(t)
    r = Table(title="By ring zone", title_justify="left")
    for col in ("ring zone", "outlets", "over-\nloaded", "blended\nwait min", "dist\nm"):
        r.add_column(col, justify="right" if col != "ring zone" else "left")
    rnames = texts.ring_names(study)
    for ring in ring_zone_order(diag.kpis["ring_zones"]):
        k = diag.kpis["ring_zones"][ring]
        r.add_row(safe_text(texts.ring_zone_label(ring, rnames)), str(k["outlets"]),
                  str(k["overloaded_outlets"]),
                  _f(k["mean_wait_min"], "{:.1f}"), _f(k["mean_dist_m"]))
    console.print(r)


def _diag_cells(svc: Mapping[str, Any], k: Mapping[str, Any]) -> list[str]:
    """A diagnosis row: the bank's service figures, then the travel figures."""
    return [str(svc["outlets"]), str(svc["overloaded_outlets"]),
            _f(svc["counter_mean_wait_min"], "{:.1f}"), _f(svc["terminal_mean_wait_min"], "{:.1f}"),
            _f(svc["share_customers_wait_over_target"], "{:.1%}"),
            _f(svc["abandoned_per_h"], "{:,.1f}"), _f(k["unserved_arrivals_per_h"], "{:,.1f}"),
            _f(svc["mean_wait_min"], "{:.1f}"), _f(k["mean_dist_m"]),
            _f(k["share_pop_within_1km"], "{:.0%}")]


def _actions_table(plan: Plan, names: dict[str, str]) -> Table:
    """Actions by district: one column per registered action, in the registry's order."""
    acts = plan.actions
    t = Table(title="Actions by district", title_justify="left")
    t.add_column("district")
    tot = plan.kpis["actions"]
    kinds = tuple(a.name for a in actions.ACTIONS if not a.optional or tot.get(a.name, 0))
    for name in kinds:
        t.add_column(name, justify="right")
    for ad in sorted(acts["adcode"].dropna().unique()):
        sub = acts[acts["adcode"] == ad]["action"].value_counts()
        t.add_row(safe_text(names.get(str(ad), str(ad))),
                  *[str(int(sub.get(name, 0))) for name in kinds])
    t.add_row("[b]total[/b]", *[f"[b]{int(tot.get(name, 0))}[/b]" for name in kinds])
    return t


def _before_after(title: str, rows: list[texts.KpiRow], caption: str) -> Table:
    """A measure | before | after table of pre-formatted rows, with its caption."""
    kt = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    kt.add_column("measure")
    kt.add_column("before", justify="right")
    kt.add_column("after", justify="right")
    for r in rows:
        kt.add_row(safe_text(r.label), safe_text(r.before), safe_text(r.after))
    return kt


def _kpi_table(k: Kpis, ring_names: Mapping[int, str]) -> Table:
    """Overall KPIs and costs, before → after (the bank's service figures first)."""
    rows, caption = texts.plan_kpi_rows(k, texts.target_wait(k), ring_names)
    kt = _before_after(f"KPIs {safe_text(k['scope'])} {k['year']}: before → after", rows,
                       caption)
    c = k["costs"]
    kt.add_row("operating cost (M CNY/yr)", _f(c["opex_before_cny_per_year"] / 1e6, "{:,.1f}"),
               _f(c["opex_after_cny_per_year"] / 1e6, "{:,.1f}"))
    kt.add_row("one-off spend (M CNY)", "", _f(c["oneoff_spend_cny"] / 1e6, "{:,.1f}"))
    return kt


def render_plan(console: Console, plan: Plan, study: Study, *, folder: Path) -> None:
    """Actions by district, KPIs before → after, solver status, where the files are.

    Parameters
    ----------
    console : Console
        Where to print.
    plan : Plan
        The plan.
    study : Study
        Gives the districts' names.
    folder : Path
        Where the plan was written.
    """
    console.print(_actions_table(plan, _names(study)))
    console.print(_kpi_table(plan.kpis, texts.ring_names(study)))
    k = plan.kpis
    s = k["solver"]
    search_s = float(plan.run.get("search_seconds", 0.0))
    search = f" (of which neighbourhood search {search_s:.1f} s)" if search_s > 0 else ""
    source = s.get("bound_source", "highs")
    proof = "" if source == "highs" else f" (proved by: {source})"
    console.print(f"solver: {s['solver']} {s['status']}, objective {_f(s['objective'])}, "
                  f"bound {_f(s['best_bound'])}{proof}, gap {_f(s['gap'], '{:.3%}')}, "
                  f"{plan.run.get('solve_seconds', 0):.1f} s{search}")
    beh = k.get("behaviour")
    if beh is not None:
        held = "holds" if beh["holds"] else (
            f"does not hold: {len(beh['over_capacity'])} outlet(s) above their capacity at the "
            "target")
        console.print(f"under rule {beh['rule']} the plan {held}", highlight=False)
    console.print(f"plan written to {safe_text(folder)}/", highlight=False)


def render_evaluation(console: Console, ev: PlanEvaluation) -> None:
    """The bank's service figures of a re-evaluated plan, before → after.

    Parameters
    ----------
    console : Console
        Where to print.
    ev : PlanEvaluation
        The plan folder measured under a behaviour rule.
    """
    rows = texts.kpi_rows(ev.before, ev.after, specs=texts.SERVICE_SPECS,
                          target_wait_min=ev.target_wait_min)
    console.print(_before_after(f"Service {safe_text(ev.scope)} {ev.year}: before → after",
                                rows, texts.behaviour_caption(ev.after["rule"],
                                                              ev.patience_min)))
    held = "holds" if not ev.over_capacity else (
        f"does not hold: {len(ev.over_capacity)} outlet(s) above their capacity at the target "
        f"({', '.join(safe_text(o['site_id']) for o in ev.over_capacity[:10])}"
        f"{' ...' if len(ev.over_capacity) > 10 else ''})")
    console.print(f"the plan {held}", highlight=False)
