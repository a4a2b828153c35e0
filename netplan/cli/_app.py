"""The typer app, its consoles and what several commands share (options, output checks).

Each command group lives in its own module of :mod:`netplan.cli`; they all register on
:data:`app` here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from netplan import __version__
from netplan._errors import NetplanError

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
    Path | None, typer.Option("--study", "--data", help="The study: a study.toml manifest or a "
                              "GeoPackage with the layers (default: embedded).")
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


def command_inputs(data: Path | None, *others: Path | None) -> list[Path]:
    """The files a command reads: its study (``--data`` or the embedded one) and others."""
    files = [p for p in others if p is not None]
    if data is not None:
        from netplan.study.layers import study_files

        return [data, *study_files(data), *files]
    from netplan._paths import default_gpkg

    try:
        return [default_gpkg(), *files]
    except NetplanError:
        return files


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (UTF-8, stable key order as given)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


def plan_inputs(plan_dir: Path) -> list[Path]:
    """The files of a plan folder that a map or report reads (never written over)."""
    from netplan._io import PLAN_FOLDER

    names = (PLAN_FOLDER.gpkg, PLAN_FOLDER.actions, PLAN_FOLDER.kpis, PLAN_FOLDER.run,
             PLAN_FOLDER.manifest)
    return [plan_dir / name for name in names]


def check_solver_options(*, gap: float | None, time_limit: float | None) -> None:
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



_PROCESS: dict[str, float] = {}
"""``started``: when this process started (``time.perf_counter()`` time), set by the
console script's :func:`netplan.cli.main` (:func:`mark_process_start`)."""


def mark_process_start() -> None:
    """Record when this process started, from the operating system's process table (to
    10 ms or so), when the process is netplan's own (the console script or ``python -m
    netplan``): Python's start-up and the imports before the command then count towards a
    ``--time-limit``. Inside another program (a test calling :func:`netplan.cli.main`), or
    where the table cannot be read, from now."""
    import time

    now_wall, now = time.time(), time.perf_counter()
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    ours = (getattr(spec, "name", "") in ("netplan", "netplan.__main__")
            or Path(str(getattr(main, "__file__", ""))).stem == "netplan")
    since = 0.0
    if ours:
        try:
            import psutil

            since = now_wall - float(psutil.Process().create_time())
        except Exception:  # no process table here (a sandbox): count from now
            since = 0.0
    _PROCESS["started"] = now - min(max(since, 0.0), 60.0)


def process_started() -> float:
    """When a command's ``--time-limit`` starts counting (``time.perf_counter()`` time).

    The process's start when the console script runs (:func:`mark_process_start`); the
    time of this call when a command runs inside another program (a test's CliRunner).
    """
    import time

    return _PROCESS.get("started", time.perf_counter())
