"""Commands on queues: one M/M/c queue, queue logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from netplan.cli._app import (
    ForceOpt,
    JsonOpt,
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
        typer.Option("--outlets", help="Outlets (synthetic: default 40; --data: the first N)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First day (ISO date).")] = "2022-01-01",
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
    force: ForceOpt = False,
) -> None:
    """Write a realistic synthetic hourly queue log (deterministic for a seed)."""
    from netplan._paths import default_gpkg
    from netplan.model import queuelog, queuelog_gen
    from netplan.model.scenario import load_scenario

    reads_layers = data is not None or embedded
    inputs = command_inputs(data, scenario) if reads_layers else [p for p in (scenario,) if p]
    check_out(out_file, force=force, inputs=inputs)
    sc = load_scenario(scenario)
    if reads_layers:
        from netplan.study.readers import read_layer

        branches = read_layer(data if data is not None else default_gpkg(), "branches")
        table = queuelog_gen.outlets_from_branches(branches, seed=seed, scenario=sc)
        if outlets is not None:
            table = table.head(outlets)
    else:
        table = queuelog_gen.synthetic_outlets(outlets or 40, seed=seed, scenario=sc)
    log_df = queuelog_gen.generate_log(table, years=years, start=start, seed=seed, scenario=sc)
    path = queuelog.write_queue_log(log_df, out_file, force=force, inputs=inputs)
    err.print(f"{len(log_df):,} rows, {len(table)} outlets, {years} year(s)", highlight=False)
    typer.echo(str(path))


@queue_log_app.command("analyze")
def queue_log_analyze(
    log_file: Annotated[Path, typer.Argument(help="Queue log (.parquet or .csv).")],
    target_wait_min: Annotated[
        float, typer.Option("--target-wait-min", "-w", help="Waiting-time target, minutes.")
    ] = 11.0,
    as_json: JsonOpt = False,
) -> None:
    """Peak hours and weekdays, waits over the target, outlet portraits of a queue log."""
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


