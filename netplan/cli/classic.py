"""Command on published location instances: solve-instance.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from netplan.cli._app import app, out, print_json, process_started


@app.command("solve-instance")
def solve_instance_cmd(  # noqa: PLR0913 - a CLI command: one parameter per option
    file: Annotated[Path, typer.Argument(help="Instance file (e.g. OR-Library pmed1.txt).")],
    fmt: Annotated[str, typer.Option("--format", help="orlib-pmed or orlib-cap.")],
    solver: Annotated[str, typer.Option(help="highs, cbc or any PuLP solver name.")] = "highs",
    backend: Annotated[
        str | None, typer.Option(help="direct (HiGHS) or pulp; default: direct for highs.")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", help="Seconds of wall clock for the whole run, within 2 s.",
    )] = None,
    single_source: Annotated[
        bool, typer.Option("--single-source", help="orlib-cap: one warehouse per customer.")
    ] = False,
    capacity: Annotated[
        float | None, typer.Option(help="orlib-cap: capacity where the file leaves it symbolic.")
    ] = None,
    lagrange: Annotated[bool | None, typer.Option(
        "--lagrange/--no-lagrange",
        help="Lagrangian bound and plans before HiGHS (default: where the model allows).",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Solve a published location instance (p-median, capacitated facility location)."""
    started = process_started()
    from rich.table import Table

    from netplan.optimize.instances import solve_instance

    if time_limit is not None:  # Python's start-up and the imports count
        time_limit = max(time_limit - (time.perf_counter() - started), 0.01)
    res = solve_instance(file, fmt=fmt, solver=solver, backend=backend, time_limit_s=time_limit,
                         single_source=single_source, capacity=capacity,
                         lagrange=lagrange).as_dict()
    if as_json:
        print_json(res)
        return
    table = Table(title=escape(f"{res['instance']} ({res['format']})"), show_header=False)
    for key in ("status", "objective", "best_bound", "bound_source", "gap", "seconds",
                "solver", "backend"):
        val = res[key]
        text = f"{val:.4%}" if key == "gap" and isinstance(val, float) else (
            f"{val:,.6f}".rstrip("0").rstrip(".") if isinstance(val, float) else str(val))
        table.add_row(key, escape(text))
    opened = res["open"]
    assert isinstance(opened, list)
    table.add_row("open", escape(f"{len(opened)} sites: {' '.join(map(str, opened))}"))
    out.print(table)


