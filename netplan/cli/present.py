"""Commands that draw a plan: map, report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netplan.cli._app import ForceOpt, app, check_out, command_inputs, plan_inputs, study_or_none


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
    inputs = command_inputs(data, *plan_inputs(plan_dir))
    check_out(target, force=force, inputs=inputs)
    result = read_plan(plan_dir)
    plan_map(result, study=study_or_none(data), out=target, tiles=tiles.lower(), force=force,
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
    inputs = command_inputs(data, *plan_inputs(plan_dir), map_file)
    check_out(target, force=force, inputs=inputs)
    result = read_plan(plan_dir)
    href = (Path(os.path.relpath(map_file.resolve(), target.resolve().parent)).as_posix()
            if map_file.is_file() else None)
    plan_report(result, out=target, map_href=href, study=study_or_none(data), force=force,
                inputs=inputs)
    typer.echo(str(target))


