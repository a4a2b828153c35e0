"""Commands on queues: one M/M/c queue, queue logs, calibration from logs, staffing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from netplan.cli._app import (
    DataOpt,
    ForceOpt,
    JsonOpt,
    ScenarioOpt,
    app,
    check_out,
    command_inputs,
    err,
    out,
    print_json,
    queue_log_app,
)


@app.command()
def queue(
    servers: Annotated[int, typer.Option("--servers", "-c", help="Number of servers (>= 1).")],
    arrivals_per_h: Annotated[
        float, typer.Option("--arrivals-per-h", "-l", help="Arrivals per hour (>= 0).")
    ],
    service_min: Annotated[
        float, typer.Option("--service-min", "-s", help="Mean service time, minutes (> 0).")
    ],
    target_wait_min: Annotated[
        float, typer.Option("--target-wait-min", "-w", help="Waiting-time target, minutes.")
    ] = 11.0,
    as_json: JsonOpt = False,
) -> None:
    """One M/M/c queue (Erlang C): P(wait), mean wait, utilisation, capacity at the target.

    A saturated queue (utilisation >= 1) has no finite mean wait: JSON gives
    "mean_wait_min": null and a "note"; the table says "saturated". Exit code 0 either way.
    """
    from netplan.model import queueing

    p_wait = queueing.prob_wait(servers, arrivals_per_h, service_min)
    wait = queueing.mean_wait_min(servers, arrivals_per_h, service_min)
    rho = queueing.utilisation(servers, arrivals_per_h, service_min)
    cap = queueing.capacity_per_h_at_target(servers, service_min, target_wait_min)
    need = queueing.servers_for_target(arrivals_per_h, service_min, target_wait_min)
    saturated = not wait < float("inf")
    note = (
        f"saturated: utilisation {rho:.3f} >= 1, the queue grows without bound (no finite "
        f"mean wait); {need} servers would meet the {target_wait_min:g}-minute target"
        if saturated else None
    )
    if as_json:
        result: dict[str, Any] = {
            "servers": servers, "arrivals_per_h": arrivals_per_h, "service_min": service_min,
            "target_wait_min": target_wait_min, "prob_wait": p_wait,
            "mean_wait_min": None if saturated else wait, "utilisation": rho,
            "capacity_per_h_at_target": cap, "servers_for_target": need,
        }
        if note:
            result["note"] = note
        print_json(result)
        return
    from rich.table import Table

    table = Table(title=f"M/M/{servers}: {arrivals_per_h:g}/h, {service_min:g} min each")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("P(wait)", f"{p_wait:.4f}")
    table.add_row("mean wait (min)", "saturated" if saturated else f"{wait:.3f}")
    table.add_row("utilisation", f"{rho:.3f}")
    table.add_row(f"capacity at {target_wait_min:g} min (arrivals/h)", f"{cap:.3f}")
    table.add_row(f"servers for {target_wait_min:g} min", str(need))
    out.print(table)
    if note:
        out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


@queue_log_app.command("generate")
def queue_log_generate(  # noqa: PLR0913 - one parameter per command-line option
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet or .csv file.")],
    years: Annotated[int, typer.Option("--years", help="Length of the log in years.")] = 3,
    outlets: Annotated[
        int | None,
        typer.Option("--outlets", help="Outlets (synthetic: default 40; --data: N spread "
                     "evenly over the branch ids)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    start: Annotated[
        str | None,
        typer.Option("--start", help="First day (ISO date; default 2016-01-01 with --data or "
                     "--embedded, else 2022-01-01)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Take the outlets from this file's branches layer."),
    ] = None,
    embedded: Annotated[
        bool, typer.Option("--embedded", help="Take the outlets from the embedded dataset.")
    ] = False,
    scenario: Annotated[
        Path | None, typer.Option("--scenario", help="Scenario TOML (service times, smart share).")
    ] = None,
    tickets: Annotated[
        bool, typer.Option("--tickets", help="One row per ticket instead of per hour "
                           "(Parquet; needs --data or --embedded).")
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Write a realistic synthetic hourly queue log (deterministic for a seed).

    With --data or --embedded the outlets are the study's branches with their arrivals
    under the behaviour model, and the log has the counter and terminal channels apart
    (see netplan.model.queuelog_gen.generate_channel_log): the modelled sample log. With
    --tickets the same process is written one row per ticket, an outlet at a time
    (netplan.model.queuelog_gen.ticket_tables, format in netplan.model.ticketlog).
    """
    from netplan._paths import default_gpkg
    from netplan.model import queuelog, queuelog_gen
    from netplan.model.scenario import load_scenario

    reads_layers = data is not None or embedded
    if tickets and not reads_layers:
        raise typer.BadParameter("a ticket log is made for a study's branches: add "
                                 "--embedded or --data FILE", param_hint="--tickets")
    if tickets and not out_file.name.lower().endswith((".parquet", ".pq")):
        raise typer.BadParameter(f"a ticket log is written as Parquet; name it *.parquet, "
                                 f"not {out_file.name!r}", param_hint="--out")
    inputs = command_inputs(data, scenario) if reads_layers else [p for p in (scenario,) if p]
    check_out(out_file, force=force, inputs=inputs)
    sc = load_scenario(scenario)
    if reads_layers:
        import numpy as np

        from netplan.planning.calibration import network_outlets
        from netplan.study.layers import load_study

        study = load_study(data if data is not None else default_gpkg())
        table = network_outlets(study, sc, year=sc.base_year, seed=seed)
        if outlets is not None and 0 < outlets < len(table):
            table = table.iloc[np.linspace(0, len(table) - 1, outlets).round().astype(int)]
        if tickets:
            _write_tickets(queuelog_gen.ticket_tables(
                table, years=years, start=start or "2016-01-01", seed=seed, scenario=sc),
                out_file, what=f"{len(table)} outlets, {years} year(s)", force=force,
                inputs=inputs)
            return
        log_df = queuelog_gen.generate_channel_log(
            table, years=years, start=start or "2016-01-01", seed=seed, scenario=sc)
    else:
        table = queuelog_gen.synthetic_outlets(outlets or 40, seed=seed, scenario=sc)
        log_df = queuelog_gen.generate_log(table, years=years, start=start or "2022-01-01",
                                           seed=seed, scenario=sc)
    path = queuelog.write_queue_log(log_df, out_file, force=force, inputs=inputs)
    err.print(f"{len(log_df):,} rows, {len(table)} outlets, {years} year(s)", highlight=False)
    typer.echo(str(path))


def _write_tickets(tables: Any, out_file: Path, *, what: str, force: bool,
                   inputs: list[Path]) -> None:
    """Write a ticket log table by table; say how many tickets; print the path."""
    from netplan.model.ticketlog import write_ticket_log

    path, rows = write_ticket_log(tables, out_file, force=force, inputs=inputs)
    err.print(f"{rows:,} tickets, {what}", highlight=False)
    typer.echo(str(path))


@queue_log_app.command("analyze")
def queue_log_analyze(
    log_file: Annotated[Path, typer.Argument(
        help="Queue log (.parquet or .csv): hourly rows or one row per ticket.")],
    target_wait_min: Annotated[
        float, typer.Option("--target-wait-min", "-w", help="Waiting-time target, minutes.")
    ] = 11.0,
    as_json: JsonOpt = False,
) -> None:
    """Peak hours and weekdays, waits over the target, outlet portraits of a queue log.

    A ticket log (netplan.model.ticketlog) is summed into hourly rows as it is read.
    """
    from netplan.model import queuelog

    result = queuelog.analyze_file(log_file, target_wait_min=target_wait_min)
    if as_json:
        print_json(result)
        return
    from rich.table import Table

    per = result["period"]
    out.print(
        f"[bold]{result['outlets_count']} outlets[/], {per['days']} days "
        f"({per['start'][:10]} .. {per['end'][:10]}), {result['arrivals']:,} arrivals; "
        f"mean wait {result['mean_wait_min']:.1f} min; "
        f"{result['share_over_target_hours']:.1%} of customers in hours over "
        f"{result['target_wait_min']:g} min (exponential-tail estimate "
        f"{result['share_over_target_exp']:.1%}); peak-hour share {result['peak_hour_share']}",
        highlight=False, soft_wrap=True,
    )
    busy = ", ".join(f"{h['hour']} ({h['mean_arrivals_per_outlet']:.1f}/outlet)"
                     for h in result["busiest_hours"])
    days = ", ".join(f"{d['weekday']} ({d['mean_arrivals_per_outlet_day']:.0f}/outlet)"
                     for d in result["busiest_weekdays"])
    out.print(f"busiest hours: {busy}\nbusiest weekdays: {days}", highlight=False)
    portraits = Table(title="outlet portraits")
    portraits.add_column("portrait")
    portraits.add_column("outlets", justify="right")
    portraits.add_column("shape")
    for p in result["portraits"]:
        portraits.add_row(escape(p["label"]), str(p["outlets"]), escape(p["description"]))
    out.print(portraits)
    worst = Table(title="outlets with the most customers in over-target hours")
    for col in ("outlet", "share over target", "mean wait (min)", "portrait"):
        worst.add_column(col)
    for o in result["worst_outlets"]:
        worst.add_row(escape(o["outlet_id"]), f"{o['share_over_target_hours']:.1%}",
                      f"{o['mean_wait_min']:.1f}", escape(o["portrait"]))
    out.print(worst)




@app.command()
def calibrate(
    queue_log: Annotated[Path, typer.Option(
        "--queue-log", help="Queue log (.parquet/.csv): hourly rows or one row per ticket.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Calibrated scenario TOML.")],
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    fit_csv: Annotated[
        Path | None, typer.Option("--fit", help="Also write the fit per outlet (CSV) here.")
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Flag outlets whose observed/modelled "
                            "arrivals ratio is beyond x this (> 1).", min=1.01)
    ] = 1.5,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fit demand, service and patience of a scenario to a queue log (behaviour model)."""
    inputs = command_inputs(data, scenario, queue_log)
    check_out(out_file, force=force, inputs=inputs)
    if fit_csv is not None:
        check_out(fit_csv, force=force, inputs=[*inputs, out_file], option="--fit")
    from netplan._io import atomic_path, atomic_write_text
    from netplan.model import calibrate as fit_mod
    from netplan.model import queuelog
    from netplan.model.scenario import load_scenario
    from netplan.planning.calibration import calibrate as run_calibrate
    from netplan.planning.calibration import calibrated_toml
    from netplan.study.layers import load_study

    sc = load_scenario(scenario)
    fit = fit_mod.fit_log(queuelog.read_queue_log(queue_log))
    cal = run_calibrate(fit, load_study(data), sc, tolerance=tolerance)
    text = calibrated_toml(cal, log_name=queue_log.name)
    atomic_write_text(out_file, text, force=force, inputs=inputs)
    if fit_csv is not None:
        with atomic_path(fit_csv, force=force, inputs=inputs) as tmp:
            cal.outlets.to_csv(tmp, index=False)
    if as_json:
        print_json({"scenario": str(out_file), "sources": cal.sources, **cal.summary})
        return
    _render_calibration(cal)
    typer.echo(str(out_file))


def _render_calibration(cal: Any) -> None:
    """The calibration's figures as terminal tables."""
    from rich.table import Table

    s = cal.summary
    table = Table(title=f"calibrated scenario (rule {s['rule']}, log {s['window'][0]}.."
                        f"{s['window'][1]})")
    table.add_column("value")
    table.add_column("fitted", justify="right")
    table.add_column("from")
    for key, note in cal.sources.items():
        name = key.split(".")[1]
        table.add_row(escape(key), f"{getattr(cal.scenario, name):g}", escape(note))
    out.print(table)
    por = Table(title="peak-hour share per portrait")
    for col in ("portrait", "outlets", "peak-hour share"):
        por.add_column(col)
    for p in s["portraits"]:
        por.add_row(escape(p["label"]), str(p["outlets"]), f"{p['peak_hour_share']:.3f}")
    out.print(por)
    years = ", ".join(
        f"{y['year']}: counter wait {y.get('counter_mean_wait_min', y['mean_wait_min']):.1f} min"
        for y in s["by_year"])
    out.print(
        f"fit: arrivals WAPE {s['arrivals_wape']:.1%}, median |log ratio| "
        f"{s['arrivals_median_abs_log_ratio']}, peak-hour counter wait MAE "
        f"{s['peak_wait_mae_min']} min; {s['flagged']} outlet(s) flagged"
        + (f" ({', '.join(map(escape, s['flagged_examples']))})" if s["flagged"] else "")
        + f"\nby year: {years}", highlight=False, soft_wrap=True)


@app.command()
def staff(  # noqa: PLR0913 - one parameter per command-line option
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    plan_dir: Annotated[
        Path | None, typer.Option("--plan", help="Staff a plan's outlets (default: the "
                                  "current network).")
    ] = None,
    queue_log: Annotated[
        Path | None, typer.Option("--queue-log", help="Queue log with the hourly profiles "
                                  "(default: the committed sample).")
    ] = None,
    date_profile: Annotated[
        str, typer.Option("--date-profile", help="weekday or weekend.")
    ] = "weekday",
    floaters: Annotated[
        int, typer.Option("--floaters", help="Floating staff per pool of nearby outlets.",
                          min=0)
    ] = 1,
    travel_km: Annotated[
        float, typer.Option("--travel-km", help="Largest distance between outlets sharing "
                            "floaters (km).", min=0.1)
    ] = 3.0,
    max_share_over: Annotated[
        float | None, typer.Option("--max-share-over", help="Staff to P(wait > target) <= "
                                   "this instead of the mean wait.", min=0.001, max=0.999)
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", help="Demand year of the current network: 2010, "
                                 "2020 (base) or 2035 (ignored with --plan).")
    ] = None,
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counters to open per outlet and hour (Erlang C), floaters, staff hours saved."""
    from netplan.planning.staffing import DATE_PROFILES

    if date_profile not in DATE_PROFILES:
        raise typer.BadParameter(f"use one of {', '.join(DATE_PROFILES)}",
                                 param_hint="--date-profile")
    from netplan._io import check_folder_target, staged_folder
    from netplan._paths import data_dir
    from netplan.model import calibrate as fit_mod
    from netplan.model import queuelog
    from netplan.model.scenario import load_scenario, scenario_from_dict
    from netplan.planning import staffing
    from netplan.present.roster import heatmap_html

    check_folder_target(out_dir)
    log_path = (queue_log if queue_log is not None
                else data_dir() / "samples" / "queue_log_sample.parquet")
    fit = fit_mod.fit_log(queuelog.read_queue_log(log_path))
    if plan_dir is not None:
        from netplan.planning.plan import read_plan

        plan = read_plan(plan_dir)
        sc = (load_scenario(scenario) if scenario is not None
              else scenario_from_dict(dict(plan.kpis["scenario"]), source=str(plan_dir)))
        outlets = staffing.plan_outlets(plan)
    else:
        from netplan.study.layers import load_study

        sc = load_scenario(scenario)
        outlets = staffing.network_outlets(load_study(data), sc,
                                           year=sc.base_year if year is None else year)
    result = staffing.roster_for(outlets, fit, sc, date_profile=date_profile,
                                 floaters=floaters, travel_km=travel_km,
                                 max_share_over=max_share_over)
    with staged_folder(out_dir) as tmp:
        result.roster.to_csv(tmp / "roster.csv", index=False)
        (tmp / "heatmap.html").write_text(heatmap_html(result), encoding="utf-8")
        (tmp / "staffing.json").write_text(
            json.dumps(result.summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(result.summary)
        return
    _render_staffing(result.summary)
    typer.echo(str(out_dir))


def _render_staffing(s: dict[str, Any]) -> None:
    """The staffing summary as a terminal table."""
    from rich.table import Table

    t = Table(title=f"staff hours per {s['date_profile']} ({s['outlets']} outlets, rule "
                    f"{s['rule']})")
    t.add_column("roster")
    t.add_column("staff hours", justify="right")
    flat = s["staff_hours_flat"]
    for label, key in (("every installed counter all day", "staff_hours_installed"),
                       ("flat: busiest hour's counters all day", "staff_hours_flat"),
                       ("own staff + floaters", "staff_hours_with_floaters"),
                       ("hour by hour", "staff_hours_hourly")):
        v = s[key]
        t.add_row(label, f"{v:,} ({(v - flat) / max(flat, 1):+.1%} vs flat)")
    out.print(t)
    b = s["booking"]
    out.print(
        f"{s['short_outlet_hours']} outlet-hours at {s['short_outlets']} outlets need more "
        f"counters than installed ({s['counter_customers_in_short_hours']:.1%} of counter "
        f"customers); counter mean wait {s['counter_mean_wait_min']:.1f} min.\n"
        f"bookings {b['share']:.0%}: peak hour {b['without']['peak_hour_arrivals']:,.0f} -> "
        f"{b['with']['peak_hour_arrivals']:,.0f} arrivals (peak-hour share "
        f"{b['without']['peak_hour_share']:.3f} -> {b['with']['peak_hour_share']:.3f}), "
        f"hourly staff hours "
        f"{b['without']['staff_hours_hourly']:,} -> {b['with']['staff_hours_hourly']:,}",
        highlight=False, soft_wrap=True)
