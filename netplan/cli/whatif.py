"""What-if commands: sweep scenario keys, stress a plan under other demand, plan in phases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from netplan._errors import NetplanError
from netplan.cli._app import (
    DataOpt,
    JsonOpt,
    ScenarioOpt,
    app,
    check_solver_options,
    err,
    out,
    print_json,
)


@contextmanager
def _sweep_progress(console: Console, *, enabled: bool) -> Iterator[Callable[[Any], None]]:
    """A rich progress bar for a sweep: points done/total, failures, the best so far."""
    if not enabled:
        yield lambda _event: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[best]}"),
                  console=console) as bar:
        task = bar.add_task("points", total=None, best="")

        def update(ev: Any) -> None:
            failed = f", {ev.failed} failed" if ev.failed else ""
            fields: dict[str, Any] = {}
            if ev.finished and "best so far" in ev.message:
                fields["best"] = escape("best " + ev.message.rsplit("best so far ", 1)[1])
            bar.update(task, total=ev.total, completed=ev.done,
                       description=f"{ev.stage}{failed}", **fields)
            if ev.message and (ev.finished or ev.stage != "points"):
                bar.console.log(escape(ev.message), highlight=False)

        yield update


def _bad(option: str, exc: NetplanError) -> typer.BadParameter:
    return typer.BadParameter(str(exc), param_hint=option)


_WARM_HELP = ("Start each point's solver from its neighbour's plan (chains of 4 along the "
              "first --vary), or every point from the current network, independently "
              "(default: warm starts were measured to save no solver time).")


@app.command()
def sweep(  # noqa: PLR0913 - one parameter per command-line option
    vary: Annotated[
        list[str],
        typer.Option("--vary", help="KEY=START:STOP:COUNT or KEY=V1,V2,... over a scalar "
                                    "scenario key, e.g. planning.budget_cny=200e6:800e6:7 "
                                    "(repeatable: the grid of all combinations)."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder of the sweep.")],
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    district: Annotated[
        str | None, typer.Option("--district", "-d", help="Plan one district at every "
                                                          "point (adcode or name).")
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", help="Demand year (default: the scenario horizon).")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per point (default: the "
                                                        "scenario's).")
    ] = None,
    gap: Annotated[
        float | None, typer.Option("--gap", help="Relative MIP gap (default: the scenario's).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Dask worker processes of the local "
                                                          "cluster (default: the CPUs).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="A running Dask scheduler, e.g. "
                                                     "tcp://10.0.0.5:8786.")
    ] = None,
    kpis_only: Annotated[
        bool, typer.Option("--kpis-only", help="Keep each point's kpis.json, not its plan "
                                               "folder.")
    ] = False,
    warm: Annotated[bool, typer.Option("--warm/--cold", help=_WARM_HELP)] = False,
    as_json: JsonOpt = False,
) -> None:
    """Plan every point of a grid over scenario keys on Dask; draw the trade-off curves."""
    from netplan.planning.dask_runner import check_scheduler
    from netplan.planning.sweep import parse_vary, sweep_points

    check_solver_options(gap=gap, time_limit=time_limit)
    if workers is not None and scheduler is not None:
        raise typer.BadParameter("give --workers or --scheduler, not both",
                                 param_hint="--workers")
    if district is not None and district.strip().lower() == "all":
        raise typer.BadParameter("a sweep plans the whole city (no --district) or one "
                                 "district at each point, not every district",
                                 param_hint="--district")
    try:
        if scheduler is not None:
            check_scheduler(scheduler)
    except NetplanError as exc:
        raise _bad("--scheduler", exc) from None
    try:
        axes = [parse_vary(v) for v in vary]
    except NetplanError as exc:
        raise _bad("--vary", exc) from None
    from netplan._io import claim_folder
    from netplan.model.scenario import load_scenario
    from netplan.planning.sweep import run_sweep, summary_frame
    from netplan.present.sweep_page import write_sweep_folder
    from netplan.study.layers import load_study

    sc = load_scenario(scenario)
    sweep_points(sc, axes)  # every point checked before the study is loaded or anything solved
    study = load_study(data)
    with claim_folder(out_dir), _sweep_progress(err, enabled=not as_json) as progress:
        result = run_sweep(study, sc, axes, district=district, year=year,
                           time_limit_s=time_limit, mip_gap=gap, workers=workers,
                           scheduler=scheduler, progress=progress, warm=warm)
        write_sweep_folder(result, study, out_dir, kpis_only=kpis_only)
    df = summary_frame(result)
    if as_json:
        print_json({"out": str(out_dir), "points": _records(df)})
        return
    _render(df, [a.key for a in result.axes], out_dir)


def _records(df: Any) -> list[dict[str, Any]]:
    import json

    return list(json.loads(df.to_json(orient="records")))


def _value_text(v: Any) -> str:
    """A varied value as people read it: 200,000,000 rather than 200000000.0."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"{v:,.0f}"
    return str(v)


def _render(df: Any, keys: list[str], folder: Path) -> None:
    from rich.table import Table

    from netplan.present.sweep_page import SWEEP_FILES, sweep_caption

    t = Table(title="Sweep: cost against service (behaviour model)")
    for h in ("point", *keys, "status", "cost M CNY/yr", "counter wait min", "over target",
              "unserved /h", "efficient"):
        t.add_column(escape(h), justify="right")
    for row in df.to_dict("records"):
        cells = [str(row["point"]), *(_value_text(row[k]) for k in keys)]
        if row["ok"]:
            cells += [str(row["solver_status"]), f"{row['cost_cny_per_year'] / 1e6:,.2f}",
                      f"{row['counter_mean_wait_min']:.2f}",
                      f"{100 * row['share_customers_wait_over_target']:.1f} %",
                      f"{row['unserved_arrivals_per_h']:,.1f}", "yes" if row["efficient"] else ""]
        else:
            cells += [f"failed: {row['error']}", "", "", "", "", ""]
        t.add_row(*(escape(c) for c in cells))
    t.caption = escape(sweep_caption(df))
    out.print(t)
    out.print(f"sweep written to {escape(str(folder))}/ ({SWEEP_FILES['page']}, "
              f"{SWEEP_FILES['csv']})", highlight=False)


@app.command()
def stress(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by `netplan plan`.")],
    demand_scenarios: Annotated[
        str | None,
        typer.Option("--demand-scenarios", help="Demand cases, comma-separated: low, base, "
                                                "high or the scenario's [uncertainty.<name>] "
                                                "(default: low,base,high and the scenario's)."),
    ] = None,
    optimum: Annotated[
        bool, typer.Option("--optimum/--no-optimum", help="Plan each case afresh and report "
                                                          "the plan's regret (one solve per "
                                                          "case).")
    ] = True,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per solve (default: the "
                                                        "scenario's).")
    ] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure a fixed plan under other demand (behaviour model) and its regret."""

    check_solver_options(gap=None, time_limit=time_limit)
    names = None
    if demand_scenarios is not None:
        names = [n.strip() for n in demand_scenarios.split(",")]
        if not all(names):
            raise typer.BadParameter("an empty case name; write e.g. low,base,high",
                                     param_hint="--demand-scenarios")
    from netplan.planning.stress import stress_plan
    from netplan.study.layers import load_study

    result = stress_plan(plan_dir, load_study(data), cases=names, optimum=optimum,
                         time_limit_s=time_limit)
    if as_json:
        print_json(result.to_dict())
        return
    _render_stress(result)


def _pair(c: Any, key: str, fmt: str, scale: float) -> str:
    """The fixed plan's figure, and the case optimum's after an arrow (if planned)."""
    text = fmt.format(scale * float(c.fixed[key]))
    return text if c.own is None else f"{text} → {fmt.format(scale * float(c.own[key]))}"


def _render_stress(result: Any) -> None:
    from rich.table import Table

    from netplan.present.texts import behaviour_caption

    t = Table(title=f"Stress of the plan ({escape(result.scope)}, {result.year}): fixed plan "
                    "→ the case's own optimum")
    for h in ("case", "terminal share +", "customers ×", "visits ×", "counter wait min",
              "over target", "unserved /h", "yearly cost M CNY", "regret M CNY/yr"):
        t.add_column(h, justify="right")
    for c in result.cases:
        cost = f"{c.fixed_cost_cny_per_year / 1e6:,.2f}" + (
            "" if c.own_cost_cny_per_year is None else f" → {c.own_cost_cny_per_year / 1e6:,.2f}")
        regret = ("" if c.regret is None else f"{c.regret['cost_cny_per_year'] / 1e6:,.3f}")
        if c.own_error:
            regret = f"optimum failed: {c.own_error}"
        t.add_row(escape(c.case.name), f"{c.case.channel_shift:+.2f}", f"{c.case.growth:g}",
                  f"{c.case.visit_frequency:g}",
                  _pair(c, "counter_mean_wait_min", "{:.2f}", 1.0),
                  _pair(c, "share_customers_wait_over_target", "{:.1f} %", 100.0),
                  _pair(c, "unserved_arrivals_per_h", "{:,.1f}", 1.0), cost, escape(regret))
    t.caption = escape(behaviour_caption(result.rule, result.patience_min)
                       + " Yearly cost: operating + one-off / amortisation + travel + unserved "
                         "penalty, under the rule.")
    out.print(t)


@app.command()
def phases(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder of the phased "
                                                               "plan.")],
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    district: Annotated[
        str | None, typer.Option("--district", "-d", help="Plan one district (adcode or "
                                                          "name).")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds per phase (default: the "
                                                        "scenario's).")
    ] = None,
) -> None:
    """Plan the scenario's phases (one table per year) in order; each keeps what the last did."""

    check_solver_options(gap=None, time_limit=time_limit)
    from netplan._io import claim_folder
    from netplan.model.scenario import load_scenario
    from netplan.planning.phases import phase_years, plan_phases
    from netplan.present.folder import write_phased_folder
    from netplan.present.terminal import status_progress
    from netplan.study.layers import load_study

    sc = load_scenario(scenario)
    phase_years(sc)  # checked before the study is loaded
    study = load_study(data)
    with claim_folder(out_dir), status_progress(err) as progress:
        phased = plan_phases(study, sc, district=district, time_limit_s=time_limit,
                             progress=progress)
        write_phased_folder(phased, study, out_dir, progress=progress)
    _render_spend(phased.spend())
    out.print(f"phased plan written to {escape(str(out_dir))}/", highlight=False)


def _render_spend(df: Any) -> None:
    from rich.table import Table

    from netplan.planning.actions import ACTIONS

    changes = [a.name for a in ACTIONS if a.changes_network]
    t = Table(title="Spend and actions per phase (rolling horizon)")
    cols = ("year", "budget M CNY", "one-off spend M CNY", "opex after M CNY/yr", *changes,
            "counter wait min", "gap")
    for h in cols:
        t.add_column(h, justify="right")
    for r in df.to_dict("records"):
        budget = "none" if r["budget_cny"] is None or r["budget_cny"] != r["budget_cny"] else (
            f"{r['budget_cny'] / 1e6:,.1f}")
        t.add_row(str(r["year"]), budget, f"{r['oneoff_spend_cny'] / 1e6:,.1f}",
                  f"{r['opex_after_cny_per_year'] / 1e6:,.1f}",
                  *(str(r.get(a, 0)) for a in changes),
                  f"{r['counter_mean_wait_min']:.2f}",
                  "" if r["gap"] is None else f"{r['gap']:.2%}")
    rule = df["rule"].iloc[0] if len(df) else None
    from netplan.present.texts import behaviour_caption

    t.caption = escape(behaviour_caption(rule) + " Each phase's gap is proven for that phase "
                       "given the earlier ones.")
    out.print(t)
