"""Commands on a user's own study: study init, study check, study build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netplan.cli._app import JsonOpt, ScenarioOpt, app, check_out, out, print_json

study_app = typer.Typer(
    help="Describe, check and freeze your own study (study.toml).", no_args_is_help=True)
app.add_typer(study_app, name="study")


@study_app.command("init")
def study_init(
    folder: Annotated[Path, typer.Argument(help="Folder holding your layer files.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Manifest to write (default: FOLDER/study.toml); "
                                         "never replaced."),
    ] = None,
) -> None:
    """Draft a study manifest by inspecting the files in a folder; each guess is commented."""
    from netplan._io import atomic_write_text
    from netplan.present.terminal import safe_text
    from netplan.study.detect import draft_manifest

    target = out_file if out_file is not None else folder / "study.toml"
    _new_file(target)
    text, notes = draft_manifest(folder, target)
    atomic_write_text(target, text)
    for note in notes:
        out.print(f"  - {safe_text(note)}", highlight=False, soft_wrap=True)
    typer.echo(str(target))


@study_app.command("check")
def study_check(
    file: Annotated[Path, typer.Argument(help="study.toml, or a study GeoPackage.")],
    scenario: ScenarioOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every layer and the layers against each other; exit 1 on any problem."""
    from netplan.model.scenario import load_scenario
    from netplan.present.terminal import safe_text
    from netplan.study.crosscheck import check_study

    sc = load_scenario(scenario)
    report = check_study(file, formats=sc.format_names(), district_keys=tuple(sc.districts),
                         scenario_name=f"scenario {sc.name!r}")
    if as_json:
        print_json(report.as_dict())
    else:
        head = "OK" if report.ok else "[bold red]FAIL[/]"
        what = ", ".join(f"{n:,} {k}" for k, n in report.features.items())
        crs = f"; distances in {report.crs}" if report.crs else ""
        out.print(f"{head} {safe_text(report.name or str(file))}{crs}"
                  f"{': ' + what if what else ''}", highlight=False, soft_wrap=True)
        for f in report.findings:
            tag = "problem" if f.severity == "problem" else "warning"
            out.print(f"  - {tag} \\[{safe_text(f.layer)}]: {safe_text(f.text)}",
                      highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


@study_app.command("build")
def study_build(
    file: Annotated[Path, typer.Argument(help="study.toml (or a study GeoPackage).")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="GeoPackage to write (.gpkg); "
                                                               "never replaced.")],
) -> None:
    """Freeze a study into one GeoPackage in netplan's schema (name and CRS included)."""
    from netplan.study.build import build_study

    if out_file.suffix.lower() != ".gpkg":
        raise typer.BadParameter(f"{out_file}: a built study is a GeoPackage; give a file name "
                                 "ending in .gpkg", param_hint="--out")
    _new_file(out_file, inputs=[file])
    typer.echo(str(build_study(file, out_file)))


def _new_file(path: Path, inputs: list[Path] | None = None) -> None:
    """Refuse (exit 2) an output that exists: these commands never replace a file."""
    if path.exists() or path.is_symlink():
        raise typer.BadParameter(f"{path} exists; netplan study never replaces a file: choose "
                                 "another name, or move the file away first", param_hint="--out")
    check_out(path, force=False, inputs=inputs or [])
