"""Rich terminal rendering for the CLI (tables, progress); the library never prints.

User text (names, ids, paths, messages) goes through :func:`safe_text` before it is
printed: rich markup in it is shown literally and control characters (an escape
sequence that would recolour the terminal or set its title, a bell) are shown as
``\\x1b``-style escapes, so a name can never drive the terminal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from netplan.planning import actions
from netplan.study.geometry import RING_ZONES

if TYPE_CHECKING:
    from netplan.planning.contract import Kpis
    from netplan.planning.diagnose import Diagnosis
    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

__all__ = ["render_diagnosis", "render_plan", "safe_text", "status_progress"]

#: Control characters (C0, DEL, C1) and the bidirectional overrides that reorder text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


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
    def show(m: re.Match[str]) -> str:
        code = ord(m.group(0))
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return escape(_CONTROL.sub(show, str(x)))


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
              f"{diag.target_wait_min:g} min)", title_justify="left")
    for col in ("district", "outlets", "over-\nloaded", "wait\nmin", "dist\nm",
                "p95 dist\nm", "pop\n≤1 km", "unserved\n/h"):
        t.add_column(col, justify="right" if col != "district" else "left")
    rows = diag.kpis["districts"].items() if adcode is None else [
        (adcode, diag.kpis["districts"][adcode])]
    for ad, k in rows:
        t.add_row(safe_text(names.get(ad, ad)), str(k["outlets"]), str(k["overloaded_outlets"]),
                  _f(k["mean_wait_min"], "{:.1f}"), _f(k["mean_dist_m"]), _f(k["p95_dist_m"]),
                  _f(k["share_pop_within_1km"], "{:.0%}"), _f(k["unserved_arrivals_per_h"],
                                                                "{:,.1f}"))
    if adcode is None:
        k = diag.kpis["overall"]
        t.add_row("[b]Beijing[/b]", str(k["outlets"]), str(k["overloaded_outlets"]),
                  _f(k["mean_wait_min"], "{:.1f}"), _f(k["mean_dist_m"]), _f(k["p95_dist_m"]),
                  _f(k["share_pop_within_1km"], "{:.0%}"),
                  _f(k["unserved_arrivals_per_h"], "{:,.1f}"))
    console.print(t)
    r = Table(title="By ring zone", title_justify="left")
    for col in ("ring zone", "outlets", "over-\nloaded", "wait\nmin", "dist\nm"):
        r.add_column(col, justify="right" if col != "ring zone" else "left")
    for ring in RING_ZONES:
        k = diag.kpis["ring_zones"][ring]
        r.add_row(ring, str(k["outlets"]), str(k["overloaded_outlets"]),
                  _f(k["mean_wait_min"], "{:.1f}"), _f(k["mean_dist_m"]))
    console.print(r)


def _actions_table(plan: Plan, names: dict[str, str]) -> Table:
    """Actions by district: one column per registered action, in the registry's order."""
    acts = plan.actions
    t = Table(title="Actions by district", title_justify="left")
    t.add_column("district")
    kinds = tuple(a.name for a in actions.ACTIONS)
    for name in kinds:
        t.add_column(name, justify="right")
    for ad in sorted(acts["adcode"].dropna().unique()):
        sub = acts[acts["adcode"] == ad]["action"].value_counts()
        t.add_row(safe_text(names.get(str(ad), str(ad))),
                  *[str(int(sub.get(name, 0))) for name in kinds])
    tot = plan.kpis["actions"]
    t.add_row("[b]total[/b]", *[f"[b]{int(tot.get(name, 0))}[/b]" for name in kinds])
    return t


_KPI_LINES: tuple[tuple[str, str, str], ...] = (
    ("outlets", "outlets", "{:,.0f}"),
    ("mean_wait_min", "mean wait (min, customer-weighted)", "{:.1f}"),
    ("share_customers_over_target", "customers over the wait target", "{:.1%}"),
    ("overloaded_outlets", "overloaded outlets", "{:,.0f}"),
    ("mean_dist_m", "mean travel distance (m)", "{:,.0f}"),
    ("p95_dist_m", "95th percentile distance (m)", "{:,.0f}"),
    ("share_pop_within_1km", "population within 1 km", "{:.1%}"),
    ("share_pop_within_2km", "population within 2 km", "{:.1%}"),
    ("unserved_arrivals_per_h", "unserved customers per peak hour", "{:,.1f}"),
    ("share_outlets_outside_ring5", "outlets outside the 5th ring", "{:.1%}"),
)


def _kpi_table(k: Kpis) -> Table:
    """Overall KPIs and costs, before → after."""
    before: Mapping[str, object] = k["before"]["overall"]
    after: Mapping[str, object] = k["after"]["overall"]
    kt = Table(title=f"KPIs {safe_text(k['scope'])} {k['year']}: before → after",
               title_justify="left")
    kt.add_column("measure")
    kt.add_column("before", justify="right")
    kt.add_column("after", justify="right")
    for key, label, fmt in _KPI_LINES:
        kt.add_row(label, _f(before.get(key), fmt), _f(after.get(key), fmt))
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
    console.print(_kpi_table(plan.kpis))
    k = plan.kpis
    s = k["solver"]
    search_s = float(plan.run.get("search_seconds", 0.0))
    search = f" (of which neighbourhood search {search_s:.1f} s)" if search_s > 0 else ""
    console.print(f"solver: {s['solver']} {s['status']}, objective {_f(s['objective'])}, "
                  f"bound {_f(s['best_bound'])}, gap {_f(s['gap'], '{:.3%}')}, "
                  f"{plan.run.get('solve_seconds', 0):.1f} s{search}")
    console.print(f"plan written to {safe_text(folder)}/", highlight=False)
