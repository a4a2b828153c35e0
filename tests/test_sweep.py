"""Scenario sweeps: the grid, its checks, the points' plans, the folder and the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_reliability import run_cli, snapshot
from conftest_whatif import budget_sweep as shared_sweep
from conftest_whatif import quiet, tiny_study

from netplan._errors import NetplanError
from netplan._io import PLAN_FOLDER, unexpected_files
from netplan.planning.sweep import (
    Axis,
    SweepResult,
    _efficient,
    _task_threads,
    parse_vary,
    run_sweep,
    summary_frame,
    sweep_points,
)
from netplan.present.sweep_page import SWEEP_FILES, write_sweep_folder
from netplan.study.layers import Study

TOML = """\
[demand]
customer_share = 0.05
[travel]
max_dist_km = 30.0
[planning]
budget_cny = "none"
max_open = "none"
max_close = "none"
min_share_outside_ring = "none"
time_limit_s = 60.0
mip_gap = 1e-6
[districts]
"""


@pytest.fixture
def study() -> Study:
    return tiny_study()


@pytest.fixture
def budget_sweep() -> SweepResult:
    return shared_sweep()


def test_parse_vary_grid_and_list() -> None:
    assert parse_vary("planning.budget_cny=200e6:800e6:7").values == tuple(
        float(v) for v in np.linspace(2e8, 8e8, 7))
    assert parse_vary("demand.smart_share=0.6, 0.7,0.8").values == (0.6, 0.7, 0.8)
    assert parse_vary("planning.max_open=none,3").values == (None, 3.0)
    assert parse_vary("behaviour.rule=choice,nearest").values == ("choice", "nearest")


@pytest.mark.parametrize(("text", "match"), [
    ("planning.budget=1,2", r"unknown scenario key 'planning.budget'; did you mean "
                            r"'planning.budget_cny'\?"),
    ("budget_cny", r"write key=start:stop:count"),
    ("planning.budget_cny=1:2", r"start:stop:count with finite numbers and a count of at least 2"),
    ("planning.budget_cny=1:2:1", r"a count of at least 2"),
    ("planning.budget_cny=1,,2", r"an empty value"),
    ("horizon.central_districts=a,b", r"holds a list"),
])
def test_parse_vary_refuses(text: str, match: str) -> None:
    with pytest.raises(NetplanError, match=match):
        parse_vary(text)


def test_bad_points_are_named_before_any_solve() -> None:
    axes = [parse_vary("demand.smart_share=0.5,1.5"), parse_vary("planning.max_open=2,2.5")]
    with pytest.raises(NetplanError, match=r"(?s)3 of 4 sweep point\(s\) are not valid.*"
                       r"point p2 \(demand.smart_share=0.5, planning.max_open=2.5\): "
                       r"planning.max_open must be an integer.*point p3 .*smart_share must "
                       r"be in \[0, 1\).*nothing was solved"):
        sweep_points(quiet(), axes)
    with pytest.raises(NetplanError, match="more than once"):
        sweep_points(quiet(), [Axis("demand.smart_share", (0.5,))] * 2)
    points = sweep_points(quiet(), [parse_vary("demand.smart_share=0.5,0.6"),
                                    parse_vary("planning.max_open=1:3:3")])
    assert [p.label for p in points] == ["p1", "p2", "p3", "p4", "p5", "p6"]
    assert (points[4].scenario.smart_share, points[4].scenario.max_open) == (0.6, 2)


def test_efficient_points() -> None:
    cost = np.array([1.0, 2.0, 2.0, 3.0, np.nan])
    kpi = np.array([[5.0], [3.0], [4.0], [3.0], [0.0]])
    # 2 beats 3 (cheaper, as good) and 2 (same cost, better); failed points never count
    assert _efficient(cost, kpi).tolist() == [True, True, False, False, False]


def test_points_on_dask_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    # a local worker per core: one solver thread per city point (no two pools on one core)
    assert [_task_threads(n, None, None) for n in (8, 4, 3, 1)] == [1, 2, 2, 8]
    assert _task_threads(1, "tcp://127.0.0.1:8786", None) == 1  # dask worker: thread per core
    assert _task_threads(1, None, "110101") == 1  # a district: one thread, as plan --district
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert _task_threads(2, None, None) == 1


def test_budget_sweep_objective_never_rises(budget_sweep: SweepResult) -> None:
    df = summary_frame(budget_sweep)
    assert df["ok"].all() and (df["solver_status"] == "optimal").all()
    assert df["planning.budget_cny"].tolist() == [0.0, 1.2e6, 2.4e6]
    obj = df["objective"].to_numpy()
    assert np.all(np.diff(obj) <= 1e-6 * np.abs(obj[:-1])), obj
    assert obj[-1] < obj[0]  # the budget buys closures of idle outlets
    # the KPIs are each plan's behaviour figures, under its rule
    for run, row in zip(budget_sweep.runs, df.to_dict("records"), strict=True):
        assert run.plan is not None
        beh = run.plan.kpis["behaviour"]
        assert row["rule"] == beh["rule"] == "choice"
        assert row["counter_mean_wait_min"] == beh["after"]["counter_mean_wait_min"]
        assert row["oneoff_spend_cny"] <= row["planning.budget_cny"]


def test_sweep_folder(budget_sweep: SweepResult, study: Study, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_sweep_folder(budget_sweep, study, a, kpis_only=True)
    write_sweep_folder(budget_sweep, study, b, kpis_only=True)
    assert unexpected_files(a) == []
    for name in ("csv", "parquet", "page", "png"):  # same sweep, same bytes
        assert (a / SWEEP_FILES[name]).read_bytes() == (b / SWEEP_FILES[name]).read_bytes()
    for run in budget_sweep.runs:
        kpis = json.loads((a / "points" / run.label / PLAN_FOLDER.kpis).read_text("utf-8"))
        assert run.plan is not None and kpis == json.loads(json.dumps(run.plan.kpis))
    csv = pd.read_csv(a / SWEEP_FILES["csv"])
    assert csv["point"].tolist() == ["p1", "p2", "p3"]
    pd.testing.assert_frame_equal(pd.read_parquet(a / SWEEP_FILES["parquet"]),
                                  summary_frame(budget_sweep))
    page = (a / SWEEP_FILES["page"]).read_text("utf-8")
    data = json.loads(re.search(r'id="sweep-data">(.*?)</script>', page, re.S)[1])  # type: ignore[index]
    assert data["href"] is None and len(data["rows"]) == 3
    assert "rule “choice”" in page
    assert (a / SWEEP_FILES["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_bad_sweeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.toml").write_text(TOML, encoding="utf-8")
    before = snapshot(tmp_path)
    for args, code, msg in (
        (["--vary", "planning.budgt_cny=1,2"], 2, "did you mean 'planning.budget_cny'"),
        (["--vary", "demand.smart_share=0.5,1.2"], 1, "p2 (demand.smart_share=1.2)"),
        (["--vary", "demand.smart_share=0.5", "--scheduler", "nohost"], 2,
         "is not a Dask scheduler address"),
        (["--vary", "demand.smart_share=0.5", "--district", "all"], 2,
         "not every district"),
    ):
        res = run_cli(["sweep", "--scenario", "s.toml", "--out", "out", *args], cwd=tmp_path,
                      monkeypatch=monkeypatch, capsys=capsys)
        assert res.code == code, res.err
        assert msg in " ".join(res.err.split()), res.err
        assert "Traceback" not in res.err
        assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_sweep_on_a_local_cluster_equals_in_process(budget_sweep: SweepResult, study: Study,
                                                    tmp_path: Path) -> None:
    events: list[str] = []
    res = run_sweep(study, quiet(), list(budget_sweep.axes), year=2020, workers=2,
                    progress=lambda e: events.append(e.stage))
    assert res.run["executor"] == "LocalCluster" and len(res.run["workers"]) == 2
    pd.testing.assert_frame_equal(summary_frame(res), summary_frame(budget_sweep))
    assert events.count("points") >= 3 and events[-1] == "done"
    write_sweep_folder(res, study, tmp_path / "full")
    for p in ("p1", "p2", "p3"):
        assert (tmp_path / "full" / "points" / p / PLAN_FOLDER.map).is_file()
    assert unexpected_files(tmp_path / "full") == []


@pytest.mark.slow
def test_a_point_survives_the_loss_of_its_worker(budget_sweep: SweepResult,
                                                 study: Study) -> None:
    import psutil

    killed: list[int] = []

    def kill_a_worker(ev: object) -> None:
        if killed or getattr(ev, "stage", "") != "points" or getattr(ev, "done", 1) != 0:
            return
        for child in psutil.Process().children():
            if "spawn_main" in " ".join(child.cmdline()):
                child.kill()  # a worker process dies while it plans a point
                killed.append(child.pid)
                return

    res = run_sweep(study, quiet(), list(budget_sweep.axes), year=2020, workers=2,
                    progress=kill_a_worker)
    assert killed
    got, want = summary_frame(res), summary_frame(budget_sweep)
    assert got["ok"].all()
    np.testing.assert_allclose(got["objective"], want["objective"], rtol=1e-6)
