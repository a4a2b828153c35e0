"""Helpers of the reliability tests: tiny studies on disk, the CLI in-process and for real.

``run_cli`` calls :func:`netplan.cli.main` exactly as the console script does (argv, exit
code, stdout, stderr), in-process, so a table of bad inputs runs in seconds;
``run_netplan`` runs ``python -m netplan`` in a fresh process for the checks that need one
(exit codes, tracebacks, kill -9). ``snapshot`` records every file under a folder, to
prove that a failed run leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pytest
from conftest import tiny_layers

TINY_SCENARIO = """\
# the default scenario scaled to the tiny study's few thousand residents
[demand]
customer_share = 0.9
visits_per_customer_per_year = 250.0
[travel]
max_dist_km = 30.0
[planning]
budget_cny = "none"
max_open = "none"
max_close = "none"
min_share_outside_ring = "none"
time_limit_s = 60.0
mip_gap = 1e-6
"""
"""A scenario that plans the tiny study (no district policies unless a test adds some)."""

Layers = dict[str, gpd.GeoDataFrame]


def write_study(
    path: Path, mutate: Callable[[Layers], None] | None = None, *, drop: Sequence[str] = ()
) -> Path:
    """The tiny study as a GeoPackage, after ``mutate`` changed its layers in place."""
    import warnings

    layers = tiny_layers()
    if mutate is not None:
        mutate(layers)
    path.parent.mkdir(parents=True, exist_ok=True)
    for kind, gdf in layers.items():
        if kind in drop:
            continue
        with warnings.catch_warnings():  # e.g. "'crs' was not provided" for a no-CRS layer
            warnings.simplefilter("ignore", UserWarning)
            gdf.to_file(path, layer=kind, driver="GPKG", engine="pyogrio")
    return path


def write_scenario(path: Path, extra: str = "[districts]\n") -> Path:
    """The tiny scenario plus ``extra`` TOML (default: no district policies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TINY_SCENARIO + extra, encoding="utf-8")
    return path


@dataclass(frozen=True)
class CliResult:
    code: int | str | None
    out: str
    err: str
    log: str = ""

    @property
    def message(self) -> str:
        """The error message (or usage error) on stderr, whitespace and box lines folded."""
        text = self.err
        for marker in ("error:", "Invalid value", "Error", "interrupted:"):
            if marker in text:
                text = text[text.rindex(marker) if marker == "error:" else text.index(marker):]
                break
        return fold(text)


def fold(text: str) -> str:
    """Text without rich's box drawing, whitespace collapsed to single spaces."""
    return " ".join(re.sub(r"[│╭╮╰╯─┃━]", " ", text).split())


def run_cli(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture | None = None,
) -> CliResult:
    """Run ``netplan ARGS`` in-process through :func:`netplan.cli.main`."""
    from netplan import cli

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["netplan", *map(str, args)])
    capsys.readouterr()
    code: int | str | None
    crash = ""
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # anything else escaping main() is a bug
        code = "exception"
        crash = traceback.format_exc()
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err + crash,
                     caplog.text if caplog is not None else "")


def run_netplan(
    args: Sequence[str | Path], *, cwd: Path, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m netplan ARGS`` in a fresh process (UTF-8, wide terminal)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "netplan", *map(str, args)], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones included) → a hash of its bytes."""
    out: dict[str, str] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def temp_leftovers(folder: Path) -> list[str]:
    """Names under ``folder`` that look like netplan's temporary files or folders."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.name.endswith((".tmp", ".old")) or ".tmp" in p.name
    )
