"""Commands that draw a plan: map, report.

Both draw the plan with the study it was made from (recorded in its ``run.json``), or
``--study FILE``; a recorded study that is missing or changed is an error, never a
silent switch to the embedded data (:func:`netplan.present.folder.plan_study`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netplan.cli._app import ForceOpt, app, check_out, plan_inputs

StudyOpt = Annotated[
    Path | None,
    typer.Option("--study", "--data", help="The study to draw the plan with, a study.toml or "
                                           "a GeoPackage (default: the one the plan was made "
                                           "from)."),
]


@app.command("map")
def map_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by `netplan plan` "
                                                  "(or `netplan phases`: the map gets a "
                                                  "phase slider).")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file (default: maps/<plan folder name>.html)."),
    ] = None,
    data: StudyOpt = None,
    tiles: Annotated[
        str, typer.Option("--tiles", help="Background: none (default: drawn from the study's "
                                          "own layers, no network request), or online tiles "
                                          "osm, cartodb, gaode (GCJ-02, data shifted to "
                                          "match), which tell that provider where you look.")
    ] = "none",
    screenshot: Annotated[
        Path | None,
        typer.Option("--screenshot", help="Also save a PNG of the map as it opens "
                                          "(1600×1000, offline; needs headless Chromium)."),
    ] = None,
    phase: Annotated[
        int | None, typer.Option("--phase", help="A phased plan's map opens at this phase "
                                                 "year (default: the last phase).")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Draw the committee map of a plan: one HTML file that opens from disk, offline."""
    from netplan.planning.phases import is_phased, read_phased
    from netplan.planning.plan import read_plan
    from netplan.present.folder import plan_study
    from netplan.present.maps import (
        TILE_CHOICES,
        map_screenshot,
        phased_map,
        plan_map,
        require_screenshot_browser,
    )

    if tiles.lower() not in TILE_CHOICES:
        raise typer.BadParameter(f"unknown tiles {tiles!r}; use one of "
                                 f"{', '.join(TILE_CHOICES)}", param_hint="--tiles")
    target = out_file if out_file is not None else Path("maps") / f"{plan_dir.resolve().name}.html"
    phased = is_phased(plan_dir)
    if phase is not None and not phased:
        raise typer.BadParameter(f"{plan_dir} is not a phased plan folder (`netplan phases` "
                                 "writes one); leave --phase out", param_hint="--phase")
    inputs = _inputs(data, *(_phased_inputs(plan_dir) if phased else plan_inputs(plan_dir)))
    check_out(target, force=force, inputs=inputs)
    if screenshot is not None:
        check_out(screenshot, force=force, inputs=[*inputs, target], option="--screenshot")
        require_screenshot_browser()
    if phased:
        phases = read_phased(plan_dir)
        if phase is not None and phase not in phases.years:
            raise typer.BadParameter(f"{phase} is not a phase of {plan_dir}; use one of "
                                     f"{', '.join(map(str, phases.years))}",
                                     param_hint="--phase")
        phased_map(phases, study=plan_study(phases.plans[-1], data), out=target,
                   tiles=tiles.lower(), force=force, inputs=inputs, year=phase)
    else:
        result = read_plan(plan_dir)
        plan_map(result, study=plan_study(result, data), out=target, tiles=tiles.lower(),
                 force=force, inputs=inputs)
    typer.echo(str(target))
    if screenshot is not None:
        from netplan._io import atomic_write_bytes

        png = map_screenshot(target.read_text(encoding="utf-8"))
        atomic_write_bytes(screenshot, png, force=force, inputs=[*inputs, target])
        typer.echo(str(screenshot))


@app.command("report")
def report_cmd(
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by `netplan plan` "
                                                  "(or `netplan phases`: the report adds "
                                                  "the timeline and the spend per phase).")],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file (default: PLAN_DIR/report.html).")
    ] = None,
    pdf_file: Annotated[
        Path | None, typer.Option("--pdf", help="Also print the report to this PDF (A4 "
                                                "landscape; needs headless Chromium).")
    ] = None,
    map_file: Annotated[
        Path | None, typer.Option("--map", help="The map the report links and embeds "
                                                "(default: PLAN_DIR/map.html if it exists).")
    ] = None,
    data: StudyOpt = None,
    force: ForceOpt = False,
) -> None:
    """Write the committee report of a plan (one HTML page that prints as the approval pack;
    links the plan's map.html), and with --pdf its PDF."""
    import os

    from netplan._io import PLAN_FOLDER
    from netplan.planning.phases import is_phased, read_phased
    from netplan.planning.plan import read_plan
    from netplan.present.folder import plan_study
    from netplan.present.report import plan_report

    target = out_file if out_file is not None else plan_dir / PLAN_FOLDER.report
    if map_file is not None and not map_file.is_file():
        raise typer.BadParameter(f"{map_file} is not a file; give the map's HTML file "
                                 "(`netplan map` writes one)", param_hint="--map")
    linked = map_file if map_file is not None else plan_dir / PLAN_FOLDER.map
    phased = is_phased(plan_dir)
    inputs = _inputs(data, *(_phased_inputs(plan_dir) if phased else plan_inputs(plan_dir)),
                     linked)
    check_out(target, force=force, inputs=inputs)
    if pdf_file is not None:
        _check_pdf(pdf_file, target, force=force, inputs=inputs)
    phases = read_phased(plan_dir) if phased else None
    result = phases.plans[-1] if phases is not None else read_plan(plan_dir)
    href = (Path(os.path.relpath(linked.resolve(), target.resolve().parent)).as_posix()
            if linked.is_file() else None)
    plan_report(result, out=target, map_href=href, study=plan_study(result, data),
                force=force, inputs=inputs, pdf=pdf_file, phased=phases)
    typer.echo(str(target))
    if pdf_file is not None:
        typer.echo(str(pdf_file))


def _check_pdf(pdf_file: Path, target: Path, *, force: bool, inputs: list[Path]) -> None:
    """Refuse a bad --pdf (exit 2) and a machine without Chromium (exit 1) before any work."""
    from netplan.present.pdf import require_chromium

    if pdf_file.absolute() == target.absolute():
        raise typer.BadParameter("the PDF and the HTML report must be two files",
                                 param_hint="--pdf")
    check_out(pdf_file, force=force, inputs=inputs, option="--pdf")
    require_chromium()


def _phased_inputs(plan_dir: Path) -> list[Path]:
    """The files of a phased plan folder that a map or report reads: its own and each
    phase's plan files."""
    from netplan._io import PLAN_FOLDER
    from netplan.planning.phases import PHASE_FILES

    files = [plan_dir / PHASE_FILES[k] for k in ("actions", "spend", "summary")]
    files.append(plan_dir / PLAN_FOLDER.manifest)
    phases = plan_dir / PHASE_FILES["phases"]
    for sub in sorted(p for p in phases.iterdir() if p.is_dir()):
        files += plan_inputs(sub)
    return files


def _inputs(study: Path | None, *files: Path) -> list[Path]:
    """The files a map or report reads (never written over): the plan's and ``--study``."""
    from netplan.study.layers import study_files

    return [*files] if study is None else [study, *study_files(study), *files]


