"""Commands on a network: diagnose, plan, evaluate.
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
    ForceOpt,
    JsonOpt,
    ScenarioOpt,
    app,
    check_out,
    check_solver_options,
    command_inputs,
    err,
    out,
    print_json,
    process_started,
)


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
    rule: Annotated[
        str | None,
        typer.Option("--rule", help="Customer behaviour: choice or nearest (default: the "
                                    "scenario's [behaviour] rule)."),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure the current network: load, expected wait, travel, coverage, unserved demand."""
    _check_rule(rule)
    inputs = command_inputs(data, scenario)
    if map_file is not None:
        check_out(map_file, force=force, inputs=inputs, option="--map")
    from netplan.model.scenario import load_scenario
    from netplan.planning.diagnose import diagnose as run_diagnose
    from netplan.study.layers import load_study, resolve_district

    sc = load_scenario(scenario)
    study = load_study(data)
    adcode = resolve_district(district, study.districts) if district else None
    result = run_diagnose(study, sc, year=year, rule=rule)
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
        float | None,
        typer.Option("--time-limit", help="Seconds of wall clock for the whole run, within "
                                          "2 s, unless reading, building, evaluating and "
                                          "writing alone take longer (then the start plan "
                                          "is kept; with --district all, districts a worker "
                                          "starts too late keep their network and the city "
                                          "bound is skipped) (default: the scenario's)."),
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
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Split the city limits across districts afresh: do "
                                        "not read or write netplan's cache folder "
                                        "($NETPLAN_CACHE_DIR, else $XDG_CACHE_HOME/netplan)."),
    ] = False,
    no_city_bound: Annotated[
        bool,
        typer.Option("--no-city-bound", help="With --district all: skip the city-level lower "
                                             "bound (and so the city-level gap) of the merged "
                                             "plan, which takes half the time limit, 10 to "
                                             "300 s."),
    ] = False,
    robust: Annotated[
        bool,
        typer.Option("--robust", help="One network for several demand cases (those of "
                                      "`netplan stress`): capacity holds in every case."),
    ] = False,
    demand_scenarios: Annotated[
        str | None,
        typer.Option("--demand-scenarios", help="With --robust: the cases, comma-separated "
                                                "(default: low,base,high)."),
    ] = None,
    robust_objective: Annotated[
        str | None,
        typer.Option("--robust-objective", help="With --robust: expected (default; weighted "
                                                "mean cost of the cases) or worst."),
    ] = None,
    case_weights: Annotated[
        str | None,
        typer.Option("--case-weights", help="With --robust --robust-objective expected: one "
                                            "weight per case, comma-separated (default: "
                                            "equal)."),
    ] = None,
) -> None:
    """Plan the network: keep, open, close, upgrade, convert or relocate outlets."""
    started = process_started()
    from netplan.model.scenario import load_scenario
    from netplan.planning.plan import make_plan
    from netplan.present.terminal import render_plan, status_progress
    from netplan.study.layers import load_study, resolve_district

    if solver not in ("highs", "cbc"):
        raise typer.BadParameter(
            f"unknown solver {solver!r}; use highs or cbc", param_hint="--solver"
        )
    check_solver_options(gap=gap, time_limit=time_limit)
    rob = _robust_options(robust, district, demand_scenarios, robust_objective, case_weights)
    if scheduler is not None:  # by the Dask runner's own rule, before any data are loaded
        from netplan.planning.dask_runner import check_scheduler

        try:
            check_scheduler(scheduler)
        except NetplanError as e:
            raise typer.BadParameter(str(e), param_hint="--scheduler") from None
    from netplan._io import claim_folder
    from netplan.planning.limits import default_cache_dir, split_cache
    from netplan.present.folder import write_plan_folder

    sc = load_scenario(scenario)
    study = load_study(data)
    cache = split_cache(None if no_cache else default_cache_dir())
    tl = sc.time_limit_s if time_limit is None else time_limit
    deadline = None if tl is None else started + tl
    if district is not None and district.strip().lower() == "all":
        from netplan.planning.dask_runner import plan_all

        def run_all(progress: Any) -> Any:
            with cache:
                return plan_all(study, sc, workers=workers, scheduler=scheduler, year=year,
                                solver=solver, time_limit_s=time_limit, mip_gap=gap,
                                locked=frozenset(lock or ()),
                                forbidden=frozenset(forbid or ()), progress=progress,
                                bound=not no_city_bound, deadline=deadline)

        _plan_all(study, run_all, out_dir=out_dir, as_json=as_json)
        return
    if workers is not None or scheduler is not None:
        raise typer.BadParameter("--workers/--scheduler need --district all",
                                 param_hint="--workers")
    adcode = resolve_district(district, study.districts) if district else None
    scope = "city" if adcode is None else adcode
    target = out_dir if out_dir is not None else Path("out") / f"plan-{scope}"
    # refuse a file or a folder of other files before solving; lock out other runs
    with claim_folder(target), status_progress(err, enabled=not as_json) as progress, cache:
        if rob is not None:
            from netplan.planning.robust import robust_plan

            result = robust_plan(
                study, sc, cases=rob[0], objective=rob[1], weights=rob[2], district=adcode,
                year=year, solver=solver, time_limit_s=time_limit, mip_gap=gap,
                locked=frozenset(lock or ()), forbidden=frozenset(forbid or ()),
                progress=progress, deadline=deadline)
        else:
            result = make_plan(
                study, sc, district=adcode, year=year, solver=solver, time_limit_s=time_limit,
                mip_gap=gap, locked=frozenset(lock or ()), forbidden=frozenset(forbid or ()),
                progress=progress, deadline=deadline,
            )
        write_plan_folder(result, study, target, progress=progress)
    if as_json:
        print_json(result.kpis)
    else:
        render_plan(out, result, study, folder=target)


def _robust_options(robust: bool, district: str | None, cases: str | None,
                    objective: str | None, weights: str | None
                    ) -> tuple[list[str], str, list[float] | None] | None:
    """--robust and its options, checked before any data are loaded (exit 2 otherwise):
    ``(cases, objective, weights)``, or None without --robust."""
    from netplan.planning.robust import OBJECTIVES, check_robust_options

    given = [o for o, v in (("--demand-scenarios", cases), ("--robust-objective", objective),
                            ("--case-weights", weights)) if v is not None]
    if not robust:
        if given:
            raise typer.BadParameter(f"{given[0]} needs --robust", param_hint=given[0])
        return None
    if district is not None and district.strip().lower() == "all":
        raise typer.BadParameter("--robust plans the city or one district; --district all "
                                 "is not supported (plan the districts one by one)",
                                 param_hint="--robust")
    names = [c.strip() for c in (cases or "low,base,high").split(",")]
    if not all(names):
        raise typer.BadParameter(f"{cases!r}: give case names separated by commas, e.g. "
                                 "low,base,high", param_hint="--demand-scenarios")
    obj = objective or "expected"
    w: list[float] | None = None
    if weights is not None:
        if obj != "expected":
            raise typer.BadParameter("weights apply to --robust-objective expected only",
                                     param_hint="--case-weights")
        try:
            w = [float(x) for x in weights.split(",")]
        except ValueError:
            raise typer.BadParameter(f"{weights!r}: give numbers separated by commas, e.g. "
                                     "0.25,0.5,0.25", param_hint="--case-weights") from None
    try:
        check_robust_options(obj, w, None if w is None else len(names))
    except NetplanError as e:
        hint = "--robust-objective" if obj not in OBJECTIVES else "--case-weights"
        raise typer.BadParameter(str(e), param_hint=hint) from None
    return names, obj, w


def _plan_all(study: Any, run_all: Callable[[Any], Any], *, out_dir: Path | None,
              as_json: bool) -> None:
    """`plan --district all`: every district on Dask (``run_all(progress)``), one city folder."""
    from netplan._io import claim_folder
    from netplan.planning.city_bound import METHOD_LP, NO_TIME
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
    cb = city.kpis["coordination"].get("city_bound")
    if cb is not None and cb["stop"] == NO_TIME:
        out.print("city-level bound skipped: no time left within the time limit (no city-level "
                  "gap; give a longer --time-limit)", highlight=False)
    elif cb is not None:
        gap, low = city.kpis["solver"]["gap"], cb["bound"]
        gap_s = "–" if gap is None else f"{gap:.2%}"
        low_s = "–" if low is None else f"{low:,.0f}"
        how = ("the whole-city LP relaxation" if cb["method"] == METHOD_LP
               else f"{cb['rounds']} LP rounds")
        out.print(f"city-level gap {gap_s}: the merged plan costs at most that much more "
                  f"than the best whole-city plan (lower bound {low_s} from {how} and "
                  f"{cb['mip_rounds']} MIP rounds over {cb['blocks']} district blocks, "
                  f"{cb['seconds']:.1f} s)", highlight=False)


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
    _check_rule(rule)
    from netplan.planning.evaluate_plan import evaluate_plan
    from netplan.planning.plan import read_plan
    from netplan.present.folder import plan_study

    study = plan_study(read_plan(plan_dir), data)  # the plan's own study, or --study
    if study is None:
        raise typer.BadParameter("the plan does not record its study; pass the one it was "
                                 "made from", param_hint="--study")
    result = evaluate_plan(plan_dir, study, rule=rule)
    if as_json:
        print_json(result.to_dict())
        return
    from netplan.present.terminal import render_evaluation

    render_evaluation(out, result)


def _check_rule(rule: str | None) -> None:
    """--rule: one of the behaviour rules (exit 2 otherwise), before any data are loaded."""
    from netplan.model.behaviour import RULES

    if rule is not None and rule not in RULES:
        raise typer.BadParameter(f"unknown rule {rule!r}; use one of {', '.join(RULES)}",
                                 param_hint="--rule")
