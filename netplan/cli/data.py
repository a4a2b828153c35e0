"""Commands on layers and studies: summary, layers validate, synth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from netplan.cli._app import DataOpt, JsonOpt, app, check_out, err, layers_app, out, print_json


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
    from netplan.model.scenario_keys import DEFAULTS
    from netplan.study.layers import load_study, parse_overrides
    from netplan.study.summary import render_summary, summarize

    study = load_study(data, overrides=parse_overrides(override or []), coords=coords)
    result = summarize(study, adcode=district, outside_ring=DEFAULTS["outside_ring"])
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


