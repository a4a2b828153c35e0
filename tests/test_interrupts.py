"""Ctrl-C: a solve, CBC or a Dask run stops within moments, exit code 130, nothing written.

``netplan plan`` runs in a child process of its own session, as in a terminal; once the
solve has started (its progress line on stderr) SIGINT goes to the whole process group,
as Ctrl-C in a terminal does. Then the run must end within :data:`LIMIT_S` seconds (it
measures 0.4-1.9 s on a 2-core machine; the slack is for loaded CI machines) with exit
code 130, one line "interrupted, nothing written" and no traceback, leaving the output
folder absent (or the previous complete plan) and no temporary folder, solver process or
Dask worker behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest_reliability import snapshot, temp_leftovers

from netplan import optimize
from netplan.model.cost import knn_dist_m
from netplan.model.synthetic import make_study, synthetic_scenario_toml, write_study
from netplan.optimize import highs

LIMIT_S = 3.0
"""Seconds from SIGINT to the end of the process (measured: under 2 s)."""
MESSAGE = "interrupted, nothing written"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A synthetic study whose whole-city solve lasts well over a minute, and its scenario."""
    folder = tmp_path_factory.mktemp("big")
    study = make_study(4000, 300, 4, seed=0)
    gpkg = write_study(study, folder / "big.gpkg")
    toml = folder / "big.toml"
    toml.write_text(synthetic_scenario_toml(study), encoding="utf-8")
    return gpkg, toml


@dataclass
class Interrupted:
    code: int
    err: str
    seconds: float  # from SIGINT to the end of the process
    children: list[psutil.Process]  # the run's child processes when SIGINT went out
    names: list[str]  # and their names


def name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return ""


def ctrl_c(args: list[str | Path], *, cwd: Path, when: str, delay_s: float = 0.5,
           child: str | None = None) -> Interrupted:
    """Run ``netplan ARGS``; SIGINT to its process group ``delay_s`` after a stderr line
    matching ``when`` (and, with ``child``, once a child process of that name runs)."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([sys.executable, "-m", "netplan", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if re.search(when, line):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(120), f"never saw {when!r}: {''.join(lines)}"
        time.sleep(delay_s)
        me = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while child is not None and not any(child in name(c) for c in me.children(True)):
            assert time.monotonic() < deadline, f"no {child} process started"
            time.sleep(0.05)
        children = me.children(recursive=True)
        names = [name(c) for c in children]
        assert proc.poll() is None, "the run ended before it was interrupted"
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(10)
    return Interrupted(proc.returncode, "".join(lines), seconds, children, names)


def assert_clean_stop(res: Interrupted) -> None:
    """Exit 130 in time, the one line, no traceback, no child process left."""
    assert res.code == 130, res.err
    assert res.seconds < LIMIT_S, f"took {res.seconds:.2f} s after SIGINT"
    assert MESSAGE in res.err
    assert "Traceback" not in res.err and "KeyboardInterrupt" not in res.err, res.err
    _, alive = psutil.wait_procs(res.children, timeout=5)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []


def plan_args(big: tuple[Path, Path], *extra: str) -> list[str | Path]:
    return ["plan", "--data", big[0], "--scenario", big[1], "--out", "plan",
            "--time-limit", "60", *extra]


def test_ctrl_c_during_the_highs_solve(big: tuple[Path, Path], tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    # HiGHS runs from the first of these lines: its own solve, or the LP relaxation of the
    # rounded plan (netplan.optimize.rens), which a model of this size starts with
    res = ctrl_c(plan_args(big), cwd=tmp_path,
                 when=r"incumbent .* after|solving the LP relaxation")
    assert_clean_stop(res)
    assert "Solve error" not in res.err
    assert snapshot(tmp_path) == before  # no folder, no lock file, no temporary folder


def test_ctrl_c_at_the_root_node_keeps_the_previous_plan(
    big: tuple[Path, Path], tmp_path: Path,
) -> None:
    """Right after the model is built HiGHS checks for interrupts rarely; still in time."""
    first = subprocess.run([sys.executable, "-m", "netplan", *map(str, plan_args(big)[:-2]),
                            "--time-limit", "1"], cwd=tmp_path, capture_output=True,
                           text=True, check=False, timeout=300)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path)
    res = ctrl_c(plan_args(big), cwd=tmp_path, when=r"model: .* rows", delay_s=0.3)
    assert_clean_stop(res)
    assert snapshot(tmp_path) == before
    assert temp_leftovers(tmp_path) == []


def test_ctrl_c_during_cbc_ends_the_cbc_process(big: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    res = ctrl_c(plan_args(big, "--solver", "cbc"), cwd=tmp_path, when="PuLP: solving",
                 child="cbc")
    assert_clean_stop(res)
    assert any("cbc" in n for n in res.names)
    assert snapshot(tmp_path) == before


def test_ctrl_c_during_district_all(big: tuple[Path, Path], tmp_path: Path) -> None:
    """Every worker gets the SIGINT too; none prints a traceback, all are ended."""
    before = snapshot(tmp_path)
    res = ctrl_c(plan_args(big, "--district", "all", "--workers", "2"), cwd=tmp_path,
                 when="starting the local Dask cluster", delay_s=4.0)
    assert_clean_stop(res)
    assert len(res.children) >= 2  # the workers (and multiprocessing's resource tracker)
    assert snapshot(tmp_path) == before


def test_ctrl_c_while_the_dask_cluster_starts(big: tuple[Path, Path], tmp_path: Path) -> None:
    """Workers still starting (importing netplan) must not print a KeyboardInterrupt."""
    before = snapshot(tmp_path)
    res = ctrl_c(plan_args(big, "--district", "all", "--workers", "2"), cwd=tmp_path,
                 when="starting the local Dask cluster", delay_s=0.2)
    assert_clean_stop(res)
    assert snapshot(tmp_path) == before


# --- the library: a KeyboardInterrupt in time, the run unchanged without one -----------------


def large_problem() -> optimize.FacilityProblem:
    rng = np.random.default_rng(7)
    n_z, n_s = 3000, 200
    zone_xy = rng.uniform(0, 60_000, (n_z, 2))
    site_xy = rng.uniform(0, 60_000, (n_s, 2))
    existing = np.arange(n_s) < 100
    return optimize.FacilityProblem(
        demand=rng.uniform(1, 5, n_z), cost=knn_dist_m(zone_xy, site_xy, k=10,
                                                       max_dist_m=15_000),
        unserved_cost=np.full(n_z, 1e6), opt_site=np.arange(n_s),
        opt_capacity=np.full(n_s, 90.0), opt_cost=rng.uniform(1e4, 5e4, n_s),
        opt_is_current=existing, site_existing=existing,
    )


def test_solve_raises_keyboard_interrupt_in_time() -> None:
    problem = large_problem()
    sent: list[float] = []

    def sigint() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(1.5, sigint)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            optimize.solve(problem, time_limit_s=60.0, mip_gap=0.0)
        took = time.monotonic() - sent[0]
    finally:
        timer.cancel()
    assert took < LIMIT_S
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    deadline = time.monotonic() + 60
    while highs.solver_stopping():  # HiGHS stops at its next check, in its own thread
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_solve_without_ctrl_c_is_unchanged_off_the_main_thread() -> None:
    """The run in a thread of its own (main thread) gives what a plain h.run() gives."""
    rng = np.random.default_rng(3)
    n_z, n_s = 300, 30
    problem = optimize.FacilityProblem(
        demand=rng.uniform(1, 5, n_z),
        cost=knn_dist_m(rng.uniform(0, 10_000, (n_z, 2)), rng.uniform(0, 10_000, (n_s, 2)),
                        k=6, max_dist_m=6_000),
        unserved_cost=np.full(n_z, 1e5), opt_site=np.arange(n_s),
        opt_capacity=np.full(n_s, 60.0), opt_cost=rng.uniform(1e3, 5e3, n_s),
        opt_is_current=np.arange(n_s) < 20, site_existing=np.arange(n_s) < 20,
    )
    here = optimize.solve(problem, mip_gap=0.0)
    box: list[optimize.Solution] = []
    worker = threading.Thread(target=lambda: box.append(optimize.solve(problem, mip_gap=0.0)))
    worker.start()
    worker.join()
    assert here.status == box[0].status == "optimal"
    assert here.objective == box[0].objective
    assert np.array_equal(here.site_option, box[0].site_option)
    assert np.array_equal(here.assign_share, box[0].assign_share)
