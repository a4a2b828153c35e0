"""No file netplan did not write is ever deleted or overwritten, from the command line.

Each refusal is checked for its message, its exit code (1 for a plan folder refused,
as any NetplanError; 2, a usage error, for an output file that exists or is an input)
and a file system left exactly as it was (every file hashed before and after).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest_reliability import (
    CliResult,
    run_cli,
    run_netplan,
    snapshot,
    temp_leftovers,
    write_scenario,
    write_study,
)

from netplan._io import PLAN_FOLDER, read_manifest, unexpected_files


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder with the tiny study and scenario."""
    write_study(tmp_path / "study.gpkg")
    write_scenario(tmp_path / "tiny.toml")
    return tmp_path


def plan_args(out: str | Path = "plan", *extra: str) -> list[str | Path]:
    return ["plan", "--data", "study.gpkg", "--scenario", "tiny.toml", "--year", "2020",
            "--out", out, *extra]


Run = Callable[..., CliResult]


@pytest.fixture
def cli(work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str | Path) -> CliResult:
        return run_cli(list(args), cwd=work, monkeypatch=monkeypatch, capsys=capsys)

    return run


def refused(cli: Run, work: Path, args: list[str | Path], code: int,
            *fragments: str) -> CliResult:
    """Run ``args``; assert the exit code, every fragment, and nothing changed on disk."""
    before = snapshot(work)
    res = cli(*args)
    assert "Traceback" not in res.err, res.err
    assert res.code == code, res.err
    for fragment in fragments:
        assert fragment in res.message, f"{fragment!r} not in: {res.message}"
    assert snapshot(work) == before
    assert temp_leftovers(work) == []
    return res


@pytest.fixture
def plan_dir(cli: Run, work: Path) -> Path:
    res = cli(*plan_args())
    assert res.code == 0, res.err
    return work / "plan"


# --- plan folders --------------------------------------------------------------------------


def test_user_folder_with_kpis_json_and_districts_doc_is_refused(cli: Run, work: Path) -> None:
    user = work / "Documents"
    (user / "districts").mkdir(parents=True)
    (user / "kpis.json").write_text("{}\n", encoding="utf-8")
    (user / "districts" / "doc.txt").write_text("my document\n", encoding="utf-8")
    refused(cli, work, plan_args(user), 1,
            "Documents exists and is not a plan folder (it holds districts, kpis.json)",
            "never deletes a file it did not write")


def test_user_kpis_json_and_map_html_are_refused(cli: Run, work: Path) -> None:
    user = work / "mine"
    user.mkdir()
    (user / "kpis.json").write_text('{"mine": 1}\n', encoding="utf-8")
    (user / "map.html").write_text("<html>my map</html>\n", encoding="utf-8")
    refused(cli, work, plan_args(user), 1, "(it holds kpis.json, map.html)")


def test_a_plan_folder_with_a_user_file_in_districts_is_refused(
    cli: Run, work: Path, plan_dir: Path
) -> None:
    (plan_dir / "districts").mkdir()
    (plan_dir / "districts" / "doc.txt").write_text("mine\n", encoding="utf-8")
    refused(cli, work, plan_args(), 1, "plan exists and is not a plan folder (it holds "
                                       "districts)")


def test_a_plan_folder_with_an_edited_file_is_refused(
    cli: Run, work: Path, plan_dir: Path
) -> None:
    kpis = plan_dir / "kpis.json"
    kpis.write_text(kpis.read_text(encoding="utf-8") + " ", encoding="utf-8")
    refused(cli, work, plan_args(), 1, "(it holds kpis.json)")


def test_a_plan_folder_is_replaced_whole_and_vouched_for(
    cli: Run, work: Path, plan_dir: Path
) -> None:
    assert unexpected_files(plan_dir) == []
    files = read_manifest(plan_dir) or {}
    assert sorted(files) == sorted([PLAN_FOLDER.gpkg, PLAN_FOLDER.actions, PLAN_FOLDER.kpis,
                                    PLAN_FOLDER.run, PLAN_FOLDER.map, PLAN_FOLDER.report])
    # `netplan report PLAN` redraws the folder's own report.html (no --force) and records it
    res = cli("report", plan_dir, "--data", "study.gpkg")
    assert res.code == 0, res.err
    assert unexpected_files(plan_dir) == []
    res = cli(*plan_args())
    assert res.code == 0, res.err
    assert sorted(p.name for p in work.iterdir()) == ["plan", "study.gpkg", "tiny.toml"]


def test_city_folder_has_a_manifest_per_district_and_refuses_a_user_file(work: Path) -> None:
    """`--district all`: the same manifest rule reaches into districts/<adcode>/."""
    args = plan_args("city", "--district", "all", "--workers", "1")
    first = run_netplan(args, cwd=work, timeout=300)
    assert first.returncode == 0, first.stderr
    city = work / "city"
    assert unexpected_files(city) == []
    for district in ("110101", "110105"):
        assert unexpected_files(city / "districts" / district) == []
    assert f"districts/110101/{PLAN_FOLDER.manifest}" in (read_manifest(city) or {})
    (city / "districts" / "110101" / "doc.txt").write_text("my notes\n", encoding="utf-8")
    before = snapshot(work)
    second = run_netplan(args, cwd=work)
    assert second.returncode == 1, second.stderr
    assert "(it holds districts/110101/doc.txt)" in " ".join(second.stderr.split())
    assert snapshot(work) == before


# --- single files ----------------------------------------------------------------------------


def test_map_onto_the_study_is_refused_even_with_force(cli: Run, work: Path,
                                                       plan_dir: Path) -> None:
    refused(cli, work, ["map", plan_dir, "--data", "study.gpkg", "--out", "study.gpkg",
                        "--force"], 2,
            "Invalid value for --out:", "is one of this run's inputs",
            "not even with --force")


def test_map_onto_the_plans_own_gpkg_is_refused(cli: Run, work: Path, plan_dir: Path) -> None:
    refused(cli, work, ["map", plan_dir, "--data", "study.gpkg", "--out",
                        plan_dir / "plan.gpkg", "--force"], 2, "is one of this run's inputs")


def test_map_refuses_an_existing_file_unless_forced(cli: Run, work: Path,
                                                    plan_dir: Path) -> None:
    (work / "map.html").write_text("my own page\n", encoding="utf-8")
    args: list[str | Path] = ["map", plan_dir, "--data", "study.gpkg", "--tiles", "none",
                              "--out", "map.html"]
    refused(cli, work, args, 2, "map.html exists and netplan does not replace a file unless "
                                "asked; pass --force")
    res = cli(*args, "--force")
    assert res.code == 0, res.err
    assert "my own page" not in (work / "map.html").read_text(encoding="utf-8")


def test_report_refuses_an_existing_file(cli: Run, work: Path, plan_dir: Path) -> None:
    (work / "report.html").write_text("my report\n", encoding="utf-8")
    refused(cli, work, ["report", plan_dir, "--data", "study.gpkg", "--out", "report.html"], 2,
            "Invalid value for --out:", "report.html exists", "pass --force")


def test_diagnose_map_refuses_an_existing_file(cli: Run, work: Path) -> None:
    (work / "diag.html").write_text("mine\n", encoding="utf-8")
    refused(cli, work, ["diagnose", "--data", "study.gpkg", "--scenario", "tiny.toml",
                        "--map", "diag.html"], 2,
            "Invalid value for --map:", "diag.html exists", "pass --force")
    refused(cli, work, ["diagnose", "--data", "study.gpkg", "--scenario", "tiny.toml",
                        "--map", "tiny.toml", "--force"], 2, "is one of this run's inputs")


def test_queue_log_generate_refuses_an_existing_file(cli: Run, work: Path) -> None:
    (work / "log.csv").write_text("my,log\n", encoding="utf-8")
    refused(cli, work, ["queue-log", "generate", "--out", "log.csv", "--years", "1",
                        "--outlets", "2"], 2, "log.csv exists", "pass --force")
    refused(cli, work, ["queue-log", "generate", "--out", "study.gpkg", "--data", "study.gpkg",
                        "--force"], 2, "is one of this run's inputs")


def test_synth_never_touches_a_sibling_toml(cli: Run, work: Path) -> None:
    (work / "syn.toml").write_text("# my scenario\n", encoding="utf-8")
    synth = ["synth", "--zones", "20", "--sites", "4", "--districts", "2"]
    refused(cli, work, [*synth, "--out", "syn.gpkg"], 2,
            "Invalid value for --scenario-out:", "syn.toml exists", "pass --force")
    res = cli(*synth, "--out", "syn.gpkg", "--scenario-out", "syn-scenario.toml")
    assert res.code == 0, res.err
    assert (work / "syn.toml").read_text(encoding="utf-8") == "# my scenario\n"
    assert (work / "syn-scenario.toml").is_file()


def test_synth_never_drops_other_layers_of_a_geopackage(cli: Run, work: Path) -> None:
    """study.gpkg holds layers synth does not write: refused even with --force."""
    import geopandas as gpd
    import shapely

    extra = gpd.GeoDataFrame({"note": ["mine"]}, geometry=[shapely.Point(116.4, 39.9)],
                             crs=4326)
    extra.to_file(work / "study.gpkg", layer="my_notes", driver="GPKG", engine="pyogrio")
    refused(cli, work, ["synth", "--zones", "20", "--sites", "4", "--districts", "2", "--out",
                        "study.gpkg", "--scenario-out", "new.toml", "--force"], 1,
            "holds other layers (my_notes)", "even with --force")


# --- two runs at once ---------------------------------------------------------------------------

SLOW = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    flag, go = Path(sys.argv[1]), Path(sys.argv[2])
    import netplan.planning.problem as problem
    real = problem.solve_model

    def slow(*args, **kwargs):
        flag.write_text("solving", encoding="utf-8")
        while not go.exists():
            time.sleep(0.05)
        return real(*args, **kwargs)

    problem.solve_model = slow
    from netplan.cli import main
    sys.argv = ["netplan", *sys.argv[3:]]
    main()
""")


def test_two_runs_writing_the_same_out(work: Path) -> None:
    """The run that comes second stops at once; the first ends with one complete plan."""
    args = [str(a) for a in plan_args()]
    flag, go = work / "solving.flag", work / "go.flag"
    env = {**os.environ, "COLUMNS": "200"}
    first = subprocess.Popen([sys.executable, "-c", SLOW, str(flag), str(go), *args], cwd=work,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "netplan", *args], cwd=work, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 1, second.stderr
        assert "another run is writing plan" in " ".join(second.stderr.split())
        go.touch()
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    flag.unlink()
    go.unlink()
    assert unexpected_files(work / "plan") == []
    assert PLAN_FOLDER.report in (read_manifest(work / "plan") or {})
    assert sorted(p.name for p in work.iterdir()) == ["plan", "study.gpkg", "tiny.toml"]
