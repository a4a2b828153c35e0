"""Faults: interrupted writes, killed processes, solvers that fail or run out of time.

The guarantee under test: a plan folder appears whole (plan.gpkg, actions.csv, kpis.json,
run.json, map.html, report.html and the manifest) or not at all; an interrupted or killed
run leaves the previous complete folder (or none) and, once the next run has passed, no
temporary folder; a solver that stops early gives the best plan found with its status and gap, or
a clear error, never a traceback.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from conftest_reliability import (
    run_cli,
    snapshot,
    temp_leftovers,
    write_scenario,
    write_study,
)

from netplan import optimize
from netplan._errors import SolverError
from netplan.model.scenario import load_scenario
from netplan.optimize import solving
from netplan.planning.plan import Plan, make_plan, read_plan, write_plan
from netplan.present.folder import write_plan_folder
from netplan.study.layers import Study, load_study

PLAN_FILES = [".netplan-plan.json", "actions.csv", "kpis.json", "map.html", "plan.gpkg",
              "report.html", "run.json"]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return load_study(write_study(tmp_path_factory.mktemp("study") / "tiny.gpkg"))


@pytest.fixture(scope="module")
def tiny_plan(study: Study, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    sc = load_scenario(write_scenario(tmp_path_factory.mktemp("sc") / "tiny.toml"))
    return make_plan(study, sc, year=2020)


class Boom(KeyboardInterrupt):
    """A Ctrl-C raised from inside a writer."""


def interrupt_after(n_calls: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make GeoDataFrame.to_file raise a KeyboardInterrupt after ``n_calls`` layers."""
    real = gpd.GeoDataFrame.to_file
    written: list[str] = []

    def to_file(self: gpd.GeoDataFrame, *args: Any, **kwargs: Any) -> Any:
        if len(written) >= n_calls:
            raise Boom
        written.append(str(kwargs.get("layer")))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", to_file)
    return written


# --- interrupted writes --------------------------------------------------------------------


def test_interrupt_while_writing_leaves_no_folder(
    tiny_plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = interrupt_after(1, monkeypatch)
    with pytest.raises(Boom):
        write_plan(tiny_plan, tmp_path / "plan")
    assert written == ["actions"]  # the interrupt came after the first layer
    assert list(tmp_path.iterdir()) == []


def test_interrupt_while_writing_keeps_the_previous_folder(
    tiny_plan: Plan, study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = write_plan_folder(tiny_plan, study, tmp_path / "plan")
    before = snapshot(tmp_path)
    interrupt_after(2, monkeypatch)
    with pytest.raises(Boom):
        write_plan(tiny_plan, out)
    assert snapshot(tmp_path) == before
    assert temp_leftovers(tmp_path) == []


@pytest.mark.parametrize("previous", [False, True], ids=["no previous plan", "previous plan"])
def test_failure_in_the_map_keeps_the_previous_folder(
    previous: bool, tiny_plan: Plan, study: Study, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The map or report failing half-way: the previous complete folder, or none."""
    from netplan.present import maps

    out = tmp_path / "plan"
    if previous:
        write_plan_folder(tiny_plan, study, out)
    before = snapshot(tmp_path)

    def map_fails(*_: Any, out: Path, **__: Any) -> None:
        out.write_text("half a ma", encoding="utf-8")
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setattr(maps, "plan_map", map_fails)
    with pytest.raises(OSError, match="No space left"):
        write_plan_folder(tiny_plan, study, out)
    assert snapshot(tmp_path) == before
    assert temp_leftovers(tmp_path) == []


@pytest.mark.parametrize("previous", [False, True], ids=["no previous plan", "previous plan"])
def test_cli_interrupted_while_drawing_the_map(
    previous: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C during the map: exit 130, no traceback, the folder all old or absent."""
    from netplan.present import maps

    args = ["plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
            write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan"]
    if previous:
        first = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert first.code == 0, first.err
        assert sorted(os.listdir(tmp_path / "plan")) == PLAN_FILES
    before = snapshot(tmp_path)

    def ctrl_c(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(maps, "plan_map", ctrl_c)
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 130
    assert "interrupted, nothing written" in res.err
    assert "Traceback" not in res.err
    assert snapshot(tmp_path) == before
    assert temp_leftovers(tmp_path) == []


def test_cli_disk_full_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netplan.present import report

    def disk_full(*_: Any, **__: Any) -> None:
        raise OSError(28, "No space left on device", "report.html")

    monkeypatch.setattr(report, "plan_report", disk_full)
    args = ["plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
            write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan"]
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "Traceback" not in res.err
    assert "No space left on device (report.html)" in res.message
    assert "the disk has room" in res.message
    assert not (tmp_path / "plan").exists() and temp_leftovers(tmp_path) == []


# --- killed processes ------------------------------------------------------------------------

DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    flag, where = Path(sys.argv[1]), sys.argv[2]

    def hang(*args, **kwargs):
        flag.write_text(where, encoding="utf-8")
        time.sleep(600)

    if where == "solving":
        import netplan.planning.problem
        netplan.planning.problem.solve_model = hang
    else:  # every file is in the temporary folder; hang just before the rename
        import netplan._io
        netplan._io.replace_dir = hang
    from netplan.cli import main
    sys.argv = ["netplan", *sys.argv[3:]]
    main()
""")


def kill_when(where: str, args: list[str | Path], cwd: Path) -> int:
    """Run ``netplan ARGS`` in a child that hangs at ``where``; kill -9 it there."""
    flag = cwd / f"{where}.flag"
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(flag), where, *map(str, args)], cwd=cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            if child.poll() is not None:
                raise AssertionError(f"the child ended early: {child.stderr.read()}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the child never reached " + where
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    flag.unlink()
    assert child.returncode == -signal.SIGKILL
    return child.pid


def test_kill_9_while_solving_leaves_nothing(tmp_path: Path) -> None:
    args = ["plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
            write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan"]
    before = snapshot(tmp_path)
    kill_when("solving", args, tmp_path)
    # only the empty output lock file (its lock died with the process), which the next
    # run takes over and removes
    empty = hashlib.sha256(b"").hexdigest()
    assert snapshot(tmp_path) == {**before, ".plan.netplan-lock": empty}


def test_kill_9_while_writing_then_the_next_run_cleans_up(
    tiny_plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args: list[str | Path] = [
        "plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
        write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan"]
    write_plan(tiny_plan, tmp_path / "plan")  # a previous, complete plan
    previous = snapshot(tmp_path / "plan")
    pid = kill_when("writing", args, tmp_path)
    # the previous plan is untouched; the killed run's complete temporary folder is left,
    # and so is its output lock file (the lock itself died with the process)
    assert snapshot(tmp_path / "plan") == previous
    stale = [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.")]
    assert ".plan.netplan-lock" in stale
    stale = [n for n in stale if n.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(f".plan.{pid}-")
    assert sorted(os.listdir(tmp_path / stale[0])) == PLAN_FILES
    # a temporary folder whose lock a live process holds must survive the clean-up
    live = tmp_path / f".plan.{os.getpid()}-live.tmp"
    live.mkdir()
    with open(live / ".netplan-lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert not (tmp_path / stale[0]).exists()
    assert live.is_dir()
    assert sorted(os.listdir(tmp_path / "plan")) == PLAN_FILES
    shutil.rmtree(live)
    assert temp_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --- solvers that fail or run out of time ------------------------------------------------------


def fake_highs(status: str, *, keep_solution: bool, bound_factor: float = 1.0) -> Any:
    """A stand-in for solve()'s _solve_highs: solve for real, then report ``status``."""
    real = solving._solve_highs

    def solve(mdl: Any, p: Any, **kwargs: Any) -> Any:
        raw = real(mdl, p, **kwargs)
        v = raw.v if keep_solution else None
        bound = raw.best_bound * bound_factor if keep_solution else float("nan")
        return type(raw)(status, v, bound, raw.seconds, f"simulated {status}")

    return solve


def test_time_limit_with_an_incumbent_gives_the_plan_and_its_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(solving, "_solve_highs",
                        fake_highs("time_limit", keep_solution=True, bound_factor=0.9))
    monkeypatch.setattr(solving, "_lagrange_stage", lambda *a, **k: None)  # HiGHS must run
    args = ["plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
            write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan",
            "--time-limit", "5"]
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    solver = read_plan(tmp_path / "plan").kpis["solver"]
    assert solver["status"] == "time_limit"
    assert solver["gap"] == pytest.approx(0.1, rel=1e-3)
    assert "time_limit, objective" in res.out.replace("\n", " ")
    report = (tmp_path / "plan" / "report.html").read_text(encoding="utf-8")
    assert "time_limit, optimality gap 10.00 %" in report


@pytest.mark.parametrize(
    ("status", "fragments"),
    [("time_limit", ("no feasible plan was found within the time limit of",
                     "longer time_limit_s")),
     ("error", ("the solver stopped without a usable solution (simulated error)",))],
    ids=["time limit, no plan", "solver error"],
)
def test_solver_without_a_solution_is_a_clear_error(
    status: str, fragments: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(solving, "_solve_highs", fake_highs(status, keep_solution=False))
    monkeypatch.setattr(solving, "_lagrange_stage", lambda *a, **k: None)  # HiGHS must run
    args = ["plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
            write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan",
            "--time-limit", "5"]
    before = snapshot(tmp_path)
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "Traceback" not in res.err
    for fragment in fragments:
        assert fragment in res.message
    assert snapshot(tmp_path) == before


def test_a_real_time_limit_returns_the_best_plan_never_nothing() -> None:
    """HiGHS stopped after a few milliseconds still returns a plan (the warm start)."""
    rng = np.random.default_rng(3)
    n_z, n_s = 600, 60
    zone_xy = rng.uniform(0, 20_000, (n_z, 2))
    site_xy = rng.uniform(0, 20_000, (n_s, 2))
    from netplan.model.cost import knn_dist_m

    cost = knn_dist_m(zone_xy, site_xy, k=8, max_dist_m=8_000)
    existing = np.arange(n_s) < 40
    problem = optimize.FacilityProblem(
        demand=rng.uniform(1, 5, n_z), cost=cost, unserved_cost=np.full(n_z, 1e5),
        opt_site=np.arange(n_s), opt_capacity=np.full(n_s, 60.0),
        opt_cost=rng.uniform(1e3, 5e3, n_s), opt_is_current=existing,
        site_existing=existing, warm_start=np.where(existing, np.arange(n_s), -1),
    )
    try:
        sol = optimize.solve(problem, time_limit_s=0.01, mip_gap=0.0)
    except SolverError as exc:  # acceptable only as the documented clear error
        assert "within the time limit" in str(exc)
        return
    assert sol.status in ("time_limit", "optimal")
    assert np.isfinite(sol.objective)
    if sol.status == "time_limit":
        assert sol.gap > 0 or not np.isfinite(sol.best_bound)
