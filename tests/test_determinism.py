"""Same inputs, same outputs: two runs of `netplan plan` give byte-identical files.

The runs are separate processes with different hash seeds (so set or dict ordering that
leaks into the output would show) writing to differently named folders (so no path
leaks into a file). ``run.json`` holds timings and may differ; ``plan.gpkg`` is written
with a fixed GeoPackage timestamp, so its bytes are the same too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_reliability import run_cli, write_scenario, write_study

from netplan.planning.plan import read_plan

BYTE_STABLE = ("actions.csv", "kpis.json", "map.html", "report.html", "plan.gpkg")


def spawn(args: list[str | Path], cwd: Path, hash_seed: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "COLUMNS": "120"}
    return subprocess.Popen([sys.executable, "-m", "netplan", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_write_identical_plans(tmp_path: Path) -> None:
    study = write_study(tmp_path / "study.gpkg")
    sc = write_scenario(tmp_path / "tiny.toml")
    common: list[str | Path] = ["plan", "--data", study, "--scenario", sc, "--year", "2020"]
    runs = [spawn([*common, "--out", name], tmp_path, seed)
            for name, seed in (("first", "1"), ("second", "2"))]
    for proc in runs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    a, b = tmp_path / "first", tmp_path / "second"
    for name in BYTE_STABLE:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # run.json: same keys (timings may differ); plan.gpkg: the same layers
    ra, rb = (json.loads((d / "run.json").read_text(encoding="utf-8")) for d in (a, b))
    assert ra.keys() == rb.keys() and ra["netplan"] == rb["netplan"]
    pa, pb = read_plan(a), read_plan(b)
    for layer in ("actions", "sites_after", "assignment", "zones_kpi"):
        la, lb = getattr(pa, layer), getattr(pb, layer)
        assert la.drop(columns="geometry").equals(lb.drop(columns="geometry")), layer
        assert la.geometry.geom_equals_exact(lb.geometry, tolerance=0).all(), layer


@pytest.mark.parametrize("district", [None, "Chaoyang"], ids=["city", "district"])
def test_repeated_runs_in_one_process_are_identical(
    district: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Also a district plan, the JSON on stdout and the diagnosis map."""
    study = write_study(tmp_path / "study.gpkg")
    sc = write_scenario(tmp_path / "tiny.toml")
    extra = ["--district", district] if district else []
    outputs = []
    for name in ("one", "two"):
        res = run_cli(["plan", "--data", study, "--scenario", sc, "--year", "2020", "--out",
                       name, "--json", *extra], cwd=tmp_path, monkeypatch=monkeypatch,
                      capsys=capsys)
        assert res.code == 0, res.err
        diag = run_cli(["diagnose", "--data", study, "--scenario", sc, "--year", "2020",
                        "--map", f"{name}-diagnosis.html", *extra], cwd=tmp_path,
                       monkeypatch=monkeypatch, capsys=capsys)
        assert diag.code == 0, diag.err
        outputs.append(res.out)
    assert outputs[0] == outputs[1]
    for name in BYTE_STABLE:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "one-diagnosis.html").read_bytes() == (
        tmp_path / "two-diagnosis.html").read_bytes()
