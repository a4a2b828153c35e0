"""netplan's command line: thin wrappers, one library call each.

Domain errors (:class:`netplan._errors.NetplanError`) are printed as one paragraph on
stderr with exit code 1; ``--debug`` shows the traceback. Heavy imports stay inside the
commands so that ``netplan --help`` is instant.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from netplan import __version__
from netplan._errors import NetplanError, printable

app = typer.Typer(
    name="netplan",
    help="Plan a bank's branch network: balance load, cut travel and waiting time, within budget.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
)
layers_app = typer.Typer(help="Check and convert layers.", no_args_is_help=True)
app.add_typer(layers_app, name="layers")
queue_log_app = typer.Typer(help="Analyse hourly queue logs of outlets.", no_args_is_help=True)
app.add_typer(queue_log_app, name="queue-log")

out = Console()
err = Console(stderr=True)
_STATE: dict[str, bool] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"netplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    allow_url: Annotated[bool, typer.Option(
        "--allow-url", help="Let GDAL read layer files from URLs (https://, s3://, /vsicurl/); "
        "default: local files only.")] = False,
    max_file_mb: Annotated[int | None, typer.Option(
        "--max-file-mb", min=1, help="Largest layer file read, MB (default 2048).")] = None,
    max_rows: Annotated[int | None, typer.Option(
        "--max-rows", min=1, help="Most features in one layer (default 5000000).")] = None,
    max_scenario_kb: Annotated[int | None, typer.Option(
        "--max-scenario-kb", min=1, help="Largest scenario TOML, KB (default 1024).")] = None,
) -> None:
    _STATE["debug"] = debug
    from netplan.study.inputs import InputLimits, set_input_limits

    given = {"max_file_bytes": max_file_mb and max_file_mb * 1024**2, "max_rows": max_rows,
             "max_scenario_bytes": max_scenario_kb and max_scenario_kb * 1024}
    set_input_limits(InputLimits(allow_remote=allow_url,
                                 **{k: v for k, v in given.items() if v is not None}))


# Options shared by several commands, declared once.
ScenarioOpt = Annotated[
    Path | None, typer.Option("--scenario", "-s", help="Scenario TOML (default: beijing-2035).")
]
DataOpt = Annotated[
    Path | None, typer.Option("--data", help="GeoPackage with the layers (default: embedded).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace the output file if it exists.")
]


def check_out(path: Path, *, force: bool, inputs: Sequence[Path] = (),
              option: str = "--out") -> None:
    """Refuse, as a usage error (exit 2), an output file that exists or is an input.

    Checked before any work; the writer checks again (see :func:`netplan._io.check_new_file`).
    """
    from netplan._io import check_new_file

    try:
        check_new_file(path, force=force, inputs=inputs)
    except NetplanError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _inputs(data: Path | None, *others: Path | None) -> list[Path]:
    """The files a command reads: its study (``--data`` or the embedded one) and others."""
    files = [p for p in others if p is not None]
    if data is not None:
        return [data, *files]
    from netplan._paths import default_gpkg

    try:
        return [default_gpkg(), *files]
    except NetplanError:
        return files


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (UTF-8, stable key order as given)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


# --- commands -------------------------------------------------------------------------
# Each command lives below as a thin wrapper. Helpers: add a command with a small
# insertion above the marker line, never rewrite this file.

@app.command()
def diagnose(
    district: Annotated[
        str | None, typer.Option("--district", "-d", help="Adcode or name (朝阳, Chaoyang).")
    ] = None,
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    year: Annotated[
        int | None, typer.Option("--year", help="Demand year: 2010, 2020 (base) or 2035.")
    ] = None,
    map_file: Annotated[
        Path | None, typer.Option("--map", help="Also write a diagnosis map (HTML) here.")
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure the current network: load, expected wait, travel, coverage, unserved demand."""
    inputs = _inputs(data, scenario)
    if map_file is not None:
        check_out(map_file, force=force, inputs=inputs, option="--map")
    from netplan.model.scenario import load_scenario
    from netplan.planning.diagnose import diagnose as run_diagnose
    from netplan.study.layers import load_study, resolve_district

    sc = load_scenario(scenario)
    study = load_study(data)
    adcode = resolve_district(district, study.districts) if district else None
    result = run_diagnose(study, sc, year=year)
    if map_file is not None:
        from netplan.present.maps import diagnosis_map

        diagnosis_map(study, result, out=map_file, adcode=adcode, force=force, inputs=inputs)
    if as_json:
        print_json(result.to_dict(adcode=adcode))
        return
    from netplan.present.terminal import render_diagnosis

    render_diagnosis(out, result, study, adcode=adcode)


# long: one typed parameter per command-line option, then one library call
@app.command()
def plan(  # noqa: PLR0913 - one parameter per command-line option
    district: Annotated[
        str | None,
        typer.Option("--district", "-d",
                     help="Adcode or name of one district, or 'all' for every district in "
                          "parallel on Dask (default: one whole-city model)."),
    ] = None,
    scenario: ScenarioOpt = None,
    data: DataOpt = None,
    year: Annotated[
        int | None, typer.Option("--year", help="Demand year (default: the scenario horizon).")
    ] = None,
    solver: Annotated[
        str, typer.Option("--solver", help="highs (default, direct) or cbc (through PuLP).")
    ] = "highs",
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Seconds (default: the scenario's).")
    ] = None,
    gap: Annotated[
        float | None, typer.Option("--gap", help="Relative MIP gap (default: the scenario's).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: out/plan-<scope>).")
    ] = None,
    lock: Annotated[
        list[str] | None, typer.Option("--lock", help="Site id that must stay open (repeatable).")
    ] = None,
    forbid: Annotated[
        list[str] | None, typer.Option("--forbid", help="Site id that must not open (repeatable).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="With --district all: Dask worker processes "
                                       "(default: the CPUs)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="With --district all: a running Dask scheduler, "
                                         "e.g. tcp://10.0.0.5:8786 (default: a local cluster)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON.")] = False,
) -> None:
    """Plan the network: keep, open, close, upgrade, convert or relocate outlets."""
    from netplan.model.scenario import load_scenario
    from netplan.planning.plan import make_plan
    from netplan.present.terminal import render_plan, status_progress
    from netplan.study.layers import load_study, resolve_district

    if solver not in ("highs", "cbc"):
        raise typer.BadParameter(
            f"unknown solver {solver!r}; use highs or cbc", param_hint="--solver"
        )
    _check_solver_options(gap=gap, time_limit=time_limit)
    if scheduler is not None:  # by the Dask runner's own rule, before any data are loaded
        from netplan.planning.dask_runner import check_scheduler

        try:
            check_scheduler(scheduler)
        except NetplanError as e:
            raise typer.BadParameter(str(e), param_hint="--scheduler") from None
    from netplan._io import claim_folder
    from netplan.present.folder import write_plan_folder

    sc = load_scenario(scenario)
    study = load_study(data)
    if district is not None and district.strip().lower() == "all":
        from netplan.planning.dask_runner import plan_all

        def run_all(progress: Any) -> Any:
            return plan_all(study, sc, workers=workers, scheduler=scheduler, year=year,
                            solver=solver, time_limit_s=time_limit, mip_gap=gap,
                            locked=frozenset(lock or ()), forbidden=frozenset(forbid or ()),
                            progress=progress)

        _plan_all(study, run_all, out_dir=out_dir, as_json=as_json)
        return
    if workers is not None or scheduler is not None:
        raise typer.BadParameter("--workers/--scheduler need --district all",
                                 param_hint="--workers")
    adcode = resolve_district(district, study.districts) if district else None
    scope = "city" if adcode is None else adcode
    target = out_dir if out_dir is not None else Path("out") / f"plan-{scope}"
    # refuse a file or a folder of other files before solving; lock out other runs
    with claim_folder(target), status_progress(err, enabled=not as_json) as progress:
        result = make_plan(
            study, sc, district=adcode, year=year, solver=solver, time_limit_s=time_limit,
            mip_gap=gap, locked=frozenset(lock or ()), forbidden=frozenset(forbid or ()),
            progress=progress,
        )
        write_plan_folder(result, study, target, progress=progress)
    if as_json:
        print_json(result.kpis)
    else:
        render_plan(out, result, study, folder=target)


def _check_solver_options(*, gap: float | None, time_limit: float | None) -> None:
    """--gap and --time-limit by the optimiser's own rules, before any data are loaded."""
    from netplan._errors import SettingError
    from netplan.optimize import check_settings

    try:
        check_settings(mip_gap=0.0 if gap is None else gap, time_limit_s=time_limit)
    except SettingError as e:
        if e.setting == "time_limit_s":
            raise typer.BadParameter(
                f"{e} (omit --time-limit to use the scenario's time_limit_s; set "
                'time_limit_s = "none" there for no limit)', param_hint="--time-limit") from None
        raise typer.BadParameter(str(e), param_hint="--gap") from None


def _plan_all(study: Any, run_all: Callable[[Any], Any], *, out_dir: Path | None,
              as_json: bool) -> None:
    """`plan --district all`: every district on Dask (``run_all(progress)``), one city folder."""
    from netplan._io import claim_folder
    from netplan.present.folder import write_plan_folder
    from netplan.present.terminal import render_plan

    target = out_dir if out_dir is not None else Path("out") / "plan-all"
    # refuse a file or a folder of other files before solving; lock out other runs
    with claim_folder(target), _district_progress(err, enabled=not as_json) as progress:
        city = run_all(progress)
        # merged plan at the top, districts/<adcode>/ below; map and report in one rename
        write_plan_folder(city, study, target)
    if as_json:
        print_json(city.kpis)
        return
    render_plan(out, city.plan, study, folder=target)
    for f in city.kpis["failed_districts"]:
        err.print(f"[bold red]district {escape(f['adcode'])} failed[/] ({escape(f['error'])}): "
                  f"{escape(f['reason'])}", highlight=False, soft_wrap=True)
    for v in city.kpis["coordination"]["violations"]:
        err.print(f"[yellow]city limit:[/] {escape(v)}", highlight=False, soft_wrap=True)


@contextmanager
def _district_progress(console: Console, *, enabled: bool) -> Iterator[Callable[[Any], None]]:
    """A rich progress bar for plan_all: districts done/total, the slowest still running."""
    if not enabled:
        yield lambda _event: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[running]}"),
                  console=console) as bar:
        task = bar.add_task("districts", total=None, running="")

        def update(ev: Any) -> None:
            slow = ", ".join(f"{r.adcode} {r.name} {r.elapsed_s:.0f}s" for r in ev.running[:3])
            failed = f", {ev.failed} failed" if ev.failed else ""
            bar.update(task, total=ev.total, completed=ev.done,
                       description=f"{ev.stage}{failed}", running=escape(slow))
            if ev.message and (ev.finished or ev.stage != "districts"):
                bar.console.log(escape(ev.message), highlight=False)

        yield update


@app.command()
def summary(
    district: Annotated[
        str | None, typer.Option("--district", "-d", help="Adcode or name (朝阳, Chaoyang).")
    ] = None,
    data: DataOpt = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            "--override",
            help="KIND=FILE: replace one layer (repeatable), e.g. ring_roads=osm_rings.gpkg.",
        ),
    ] = None,
    coords: Annotated[
        str, typer.Option("--coords", help="wgs84, gcj02 or bd09: lon/lat of your own files.")
    ] = "wgs84",
    as_json: JsonOpt = False,
) -> None:
    """Outlets, population and inflow per district and per ring zone."""
    from netplan.study.layers import load_study, parse_overrides
    from netplan.study.summary import render_summary, summarize

    study = load_study(data, overrides=parse_overrides(override or []), coords=coords)
    result = summarize(study, adcode=district)
    if as_json:
        print_json(result)
        return
    render_summary(out, result)


@layers_app.command("validate")
def layers_validate(  # noqa: PLR0913 - one parameter per command-line option
    files: Annotated[list[Path], typer.Argument(help="Layer files to check.")],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="branches|zones|ring_roads|districts|candidates|ring_zones "
            "(default: from the layer or file name).",
        ),
    ] = None,
    layer: Annotated[
        str | None, typer.Option("--layer", help="Layer of a GeoPackage (default: all known).")
    ] = None,
    coords: Annotated[
        str, typer.Option("--coords", help="wgs84, gcj02 or bd09 (lon/lat files only).")
    ] = "wgs84",
    crs: Annotated[
        str | None, typer.Option("--crs", help="CRS to assume when a file has none.")
    ] = None,
    lon_col: Annotated[str, typer.Option("--lon-col", help="CSV longitude column.")] = "lon",
    lat_col: Annotated[str, typer.Option("--lat-col", help="CSV latitude column.")] = "lat",
    within: Annotated[
        Path | None,
        typer.Option("--within", help="Districts file: features must lie inside their union."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="Text encoding of files that do not say (gbk, utf-8)."),
    ] = None,
) -> None:
    """Check layer files; print every problem found, exit 1 if any file has one."""
    from netplan.present.terminal import safe_text
    from netplan.study.layers import validate_files

    reports = validate_files(
        files, kind=kind, layer=layer, coords=coords, crs=crs, lon_col=lon_col,
        lat_col=lat_col, within=within, encoding=encoding,
    )
    for rep in reports:
        label = safe_text(rep.label)
        if rep.note:
            out.print(f"SKIP {label}: {safe_text(rep.note)}", highlight=False, soft_wrap=True)
        elif rep.ok:
            out.print(f"OK {label}: {rep.n_features} features", highlight=False, soft_wrap=True)
        else:
            kind_txt = f" ({rep.kind})" if rep.kind else ""
            n = len(rep.problems)
            out.print(
                f"[bold red]FAIL[/] {label}{kind_txt}: {n} problem{'s' if n != 1 else ''}",
                highlight=False, soft_wrap=True,
            )
            for problem in rep.problems:
                out.print(f"  - {safe_text(problem)}", highlight=False, soft_wrap=True)
    if not all(rep.ok for rep in reports):
        raise typer.Exit(1)


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
    inputs = _inputs(data, scenario) if reads_layers else [p for p in (scenario,) if p]
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


@app.command("solve-instance")
def solve_instance_cmd(
    file: Annotated[Path, typer.Argument(help="Instance file (e.g. OR-Library pmed1.txt).")],
    fmt: Annotated[str, typer.Option("--format", help="orlib-pmed or orlib-cap.")],
    solver: Annotated[str, typer.Option(help="highs, cbc or any PuLP solver name.")] = "highs",
    backend: Annotated[
        str | None, typer.Option(help="direct (HiGHS) or pulp; default: direct for highs.")
    ] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds.")] = None,
    single_source: Annotated[
        bool, typer.Option("--single-source", help="orlib-cap: one warehouse per customer.")
    ] = False,
    capacity: Annotated[
        float | None, typer.Option(help="orlib-cap: capacity where the file leaves it symbolic.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Solve a published location instance (p-median, capacitated facility location)."""
    from rich.table import Table

    from netplan.optimize.instances import solve_instance

    res = solve_instance(file, fmt=fmt, solver=solver, backend=backend, time_limit_s=time_limit,
                         single_source=single_source, capacity=capacity).as_dict()
    if as_json:
        print_json(res)
        return
    table = Table(title=escape(f"{res['instance']} ({res['format']})"), show_header=False)
    for key in ("status", "objective", "best_bound", "gap", "seconds", "solver", "backend"):
        val = res[key]
        text = f"{val:.4%}" if key == "gap" and isinstance(val, float) else (
            f"{val:,.6f}".rstrip("0").rstrip(".") if isinstance(val, float) else str(val))
        table.add_row(key, escape(text))
    opened = res["open"]
    assert isinstance(opened, list)
    table.add_row("open", escape(f"{len(opened)} sites: {' '.join(map(str, opened))}"))
    out.print(table)


def _plan_inputs(plan_dir: Path) -> list[Path]:
    """The files of a plan folder that a map or report reads (never written over)."""
    from netplan._io import PLAN_FOLDER

    names = (PLAN_FOLDER.gpkg, PLAN_FOLDER.actions, PLAN_FOLDER.kpis, PLAN_FOLDER.run,
             PLAN_FOLDER.manifest)
    return [plan_dir / name for name in names]


def _study_or_none(data: Path | None) -> Any:
    """The study for a map or report; without --data, the embedded one if it is there."""
    from netplan._errors import DataNotFoundError
    from netplan.study.layers import load_study

    if data is not None:
        return load_study(data)
    try:
        return load_study()
    except DataNotFoundError as exc:
        err.print(f"note: no study layers ({escape(str(exc))}); drawing without districts "
                  "and rings", highlight=False, soft_wrap=True)
        return None


@app.command("map")
def map_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by `netplan plan`.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file (default: maps/<plan folder name>.html)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="GeoPackage of the study, for districts and rings "
                                    "(default: embedded)."),
    ] = None,
    tiles: Annotated[
        str, typer.Option("--tiles", help="Background: none (offline), osm, cartodb, gaode "
                                          "(GCJ-02, data shifted to match).")
    ] = "cartodb",
    force: ForceOpt = False,
) -> None:
    """Draw the committee map of a plan: one HTML file that opens from disk, offline."""
    from netplan.planning.plan import read_plan
    from netplan.present.maps import TILE_CHOICES, plan_map

    if tiles.lower() not in TILE_CHOICES:
        raise typer.BadParameter(f"unknown tiles {tiles!r}; use one of "
                                 f"{', '.join(TILE_CHOICES)}", param_hint="--tiles")
    target = out_file if out_file is not None else Path("maps") / f"{plan_dir.resolve().name}.html"
    inputs = _inputs(data, *_plan_inputs(plan_dir))
    check_out(target, force=force, inputs=inputs)
    result = read_plan(plan_dir)
    plan_map(result, study=_study_or_none(data), out=target, tiles=tiles.lower(), force=force,
             inputs=inputs)
    typer.echo(str(target))


@app.command("report")
def report_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by `netplan plan`.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file (default: PLAN_DIR/report.html).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="GeoPackage of the study, for district names "
                                    "(default: embedded)."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Write the committee report of a plan (one HTML page; links the plan's map.html)."""
    import os

    from netplan._io import PLAN_FOLDER
    from netplan.planning.plan import read_plan
    from netplan.present.report import plan_report

    target = out_file if out_file is not None else plan_dir / PLAN_FOLDER.report
    map_file = plan_dir / PLAN_FOLDER.map
    inputs = _inputs(data, *_plan_inputs(plan_dir), map_file)
    check_out(target, force=force, inputs=inputs)
    result = read_plan(plan_dir)
    href = (Path(os.path.relpath(map_file.resolve(), target.resolve().parent)).as_posix()
            if map_file.is_file() else None)
    plan_report(result, out=target, map_href=href, study=_study_or_none(data), force=force,
                inputs=inputs)
    typer.echo(str(target))


@app.command("synth")
def synth_cmd(
    zones: Annotated[int, typer.Option("--zones", help="Number of 1 km zones (>= 10).")],
    sites: Annotated[int, typer.Option("--sites", help="Outlets + candidate sites (>= 2).")],
    districts: Annotated[int, typer.Option("--districts", help="Number of districts.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="GeoPackage to write (.gpkg).")],
    scenario_out: Annotated[
        Path | None,
        typer.Option("--scenario-out", help="Scenario TOML to write (default: the --out "
                                            "file with the suffix .toml)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the two output files if they exist.")
    ] = False,
) -> None:
    """Write a synthetic study: a GeoPackage and its matching scenario TOML.

    Use it as `netplan plan --data FILE.gpkg --scenario FILE.toml`.
    """
    from netplan._io import atomic_write_text
    from netplan.model.synthetic import make_study, synthetic_scenario_toml, write_study

    toml = scenario_out if scenario_out is not None else out_file.with_suffix(".toml")
    if toml.absolute() == out_file.absolute():
        raise typer.BadParameter(f"{toml} is also the --out file; give another file",
                                 param_hint="--scenario-out")
    check_out(out_file, force=force)
    check_out(toml, force=force, option="--scenario-out")
    study = make_study(zones, sites, districts, seed=seed)
    path = write_study(study, out_file, force=force)
    atomic_write_text(toml, synthetic_scenario_toml(study), force=force)
    err.print(f"{escape(study.source)}; scenario: {escape(str(toml))}", highlight=False,
              soft_wrap=True)
    typer.echo(str(path))


@app.command("evaluate")
def evaluate_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by `netplan plan` "
                                                  "(its actions.csv may be edited).")],
    rule: Annotated[
        str | None,
        typer.Option("--rule", help="Customer behaviour: choice or nearest (default: the "
                                    "plan's scenario)."),
    ] = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-measure a plan's before and after networks under a customer behaviour rule."""
    from netplan.model.behaviour import RULES

    if rule is not None and rule not in RULES:
        raise typer.BadParameter(f"unknown rule {rule!r}; use one of {', '.join(RULES)}",
                                 param_hint="--rule")
    from netplan.planning.evaluate_plan import evaluate_plan
    from netplan.study.layers import load_study

    result = evaluate_plan(plan_dir, load_study(data), rule=rule)
    if as_json:
        print_json(result.to_dict())
        return
    from netplan.present.terminal import render_evaluation

    render_evaluation(out, result)


# --- end of commands: exit handling ---------------------------------------------------
_EXIT_INTERRUPTED = 130  # after Ctrl-C: 128 + SIGINT, as shells report it


def _interrupted() -> NoReturn:
    """Ctrl-C: one line, exit code 130, no traceback (outputs are staged: nothing written)."""
    err.print("interrupted, nothing written", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    highs = sys.modules.get("netplan.optimize.highs")
    if highs is not None and highs.solver_stopping():  # do not wait for HiGHS to stop
        os._exit(_EXIT_INTERRUPTED)
    sys.exit(_EXIT_INTERRUPTED)


def main() -> None:
    """Entry point of the ``netplan`` console script."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a command (typer handles it inside)
        _interrupted()
    except SystemExit as exc:
        if exc.code == _EXIT_INTERRUPTED:  # typer's silent exit after Ctrl-C in a command
            _interrupted()
        raise
    except NetplanError as exc:
        if _STATE["debug"]:
            raise
        text = "\n".join(map(printable, str(exc).split("\n")))  # no raw escape sequences
        err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:  # disk full, no permission, ... while reading or writing files
        if _STATE["debug"]:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(f'{exc.strerror or exc}{where}')}: the "
                  "operating system refused a file operation; check that the path exists, "
                  "that you may write there and that the disk has room (--debug shows the "
                  "traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)
