"""The city limits split kept once (memory, cache file) and the Erlang A points solved once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netplan.model import behaviour
from netplan.model.erlang_a import erlang_a_curve
from netplan.model.scenario import Scenario, load_scenario
from netplan.model.synthetic import make_study, synthetic_scenario
from netplan.planning import limits
from netplan.planning.diagnose import diagnose
from netplan.study.layers import Study

YEAR = 2020


@pytest.fixture(scope="module")
def study() -> Study:
    return make_study(160, 24, 3, seed=5)


@pytest.fixture(scope="module")
def scenario(study: Study) -> Scenario:
    return synthetic_scenario(study, load_scenario()).replace(
        max_open=4, max_close=3, max_convert=2, budget_cny=30_000_000.0)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Empty memory; every split computed afresh is counted."""
    monkeypatch.setattr(limits, "_MEMORY", type(limits._MEMORY)())
    calls: list[int] = []
    fresh = limits._split

    def split(*args: Any) -> Any:
        calls.append(1)
        return fresh(*args)

    monkeypatch.setattr(limits, "_split", split)
    return calls


def test_split_equals_the_one_from_a_full_diagnosis(study: Study, scenario: Scenario,
                                                    counted: list[int]) -> None:
    full = limits.split_limits(study, scenario, year=YEAR,
                               diagnosis=diagnose(study, scenario, year=YEAR))
    assert limits.split_limits(study, scenario, year=YEAR) == full
    assert sum(v.max_open or 0 for v in full.values()) == 4
    assert len(counted) == 2  # a given diagnosis is never cached


def test_cached_split_equals_the_fresh_one(study: Study, scenario: Scenario, tmp_path: Path,
                                           counted: list[int]) -> None:
    with limits.split_cache(tmp_path):
        first = limits.split_limits(study, scenario, year=YEAR)
        files = list(tmp_path.iterdir())
        assert [p.name for p in files] == [
            f"split-limits-{limits.split_key(study, scenario, YEAR)}.json"]
        assert limits.split_limits(study, scenario, year=YEAR) == first  # memory
        limits._MEMORY.clear()
        again = limits.split_limits(study, scenario, year=YEAR)  # the file
    assert len(counted) == 1
    assert first == again == limits._split(study, scenario, YEAR, None)
    assert all(isinstance(v.need_per_h, float) for v in again.values())


def test_no_cache_folder_writes_nothing(study: Study, scenario: Scenario, tmp_path: Path,
                                        counted: list[int]) -> None:
    with limits.split_cache(None):
        limits.split_limits(study, scenario, year=YEAR)
    limits.split_limits(study, scenario, year=YEAR)
    assert list(tmp_path.iterdir()) == []
    assert len(counted) == 1


def _more_servers(study: Study) -> Study:
    branches = study.branches.copy()
    branches.loc[branches.index[0], "counters"] += 1
    return dataclasses.replace(study, branches=branches)


def _more_people(study: Study) -> Study:
    zones = study.zones.copy()
    zones.loc[zones.index[3], "pop_2020"] += 1
    return dataclasses.replace(study, zones=zones)


@pytest.mark.parametrize("change", [
    lambda st, sc, y: (_more_servers(st), sc, y),
    lambda st, sc, y: (_more_people(st), sc, y),
    lambda st, sc, y: (st, sc.replace(max_open=5), y),
    lambda st, sc, y: (st, sc.replace(patience_min=90.0), y),
    lambda st, sc, y: (st, sc, 2010),
], ids=["servers", "population", "limit", "behaviour", "year"])
def test_a_changed_study_scenario_or_year_misses(study: Study, scenario: Scenario,
                                                 tmp_path: Path, counted: list[int],
                                                 change: Any) -> None:
    st, sc, year = change(study, scenario, YEAR)
    assert limits.split_key(st, sc, year) != limits.split_key(study, scenario, YEAR)
    with limits.split_cache(tmp_path):
        limits.split_limits(study, scenario, year=YEAR)
        limits._MEMORY.clear()
        changed = limits.split_limits(st, sc, year=year)
    assert len(counted) == 2
    assert len(list(tmp_path.iterdir())) == 2
    assert changed == limits._split(st, sc, year, None)


def test_where_the_scenario_was_read_from_is_not_in_the_key(study: Study,
                                                           scenario: Scenario) -> None:
    moved = dataclasses.replace(scenario, source="/elsewhere/beijing-2035.toml")
    assert limits.split_key(study, moved, YEAR) == limits.split_key(study, scenario, YEAR)


def test_a_file_netplan_cannot_read_is_left_alone(study: Study, scenario: Scenario,
                                                  tmp_path: Path, counted: list[int]) -> None:
    path = tmp_path / f"split-limits-{limits.split_key(study, scenario, YEAR)}.json"
    path.write_text("not netplan's", encoding="utf-8")
    with limits.split_cache(tmp_path):
        got = limits.split_limits(study, scenario, year=YEAR)
    assert len(counted) == 1
    assert path.read_text(encoding="utf-8") == "not netplan's"
    assert got == limits._split(study, scenario, YEAR, None)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NETPLAN_NO_CACHE", raising=False)
    monkeypatch.setenv("NETPLAN_CACHE_DIR", str(tmp_path / "own"))
    assert limits.default_cache_dir() == tmp_path / "own"
    monkeypatch.delenv("NETPLAN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert limits.default_cache_dir() == tmp_path / "xdg" / "netplan"
    monkeypatch.setenv("NETPLAN_NO_CACHE", "1")
    assert limits.default_cache_dir() is None


def test_points_read_lazily_equal_the_whole_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(behaviour, "_POINTS", {})
    servers = np.array([1, 3, 3, 0, 1, 3, 1])
    curve = behaviour._QueueCurves(servers, 1e6, 8.0, 140.0, 11.0)
    rng = np.random.default_rng(2)
    for _ in range(3):  # the second and third calls read points solved before
        load = rng.uniform(0.0, 60.0, servers.size)
        load[0], load[1] = 0.0, 1e4  # an end of the grid, beyond it
        got = curve(load)
        for c in (1, 3):
            cap = 60.0 * c / 8.0
            grid = np.unique(np.concatenate((np.linspace(0.0, 3.0 * cap, 241),
                                             np.linspace(3.0 * cap, 20.0 * cap, 41))))
            ys = erlang_a_curve(c, 8.0, 140.0, t_min=11.0, arrivals_per_h=grid)
            m = servers == c
            for k in range(3):
                assert np.array_equal(got[k][m], np.interp(load[m], grid, ys[k]))
        assert np.all(got[0][servers == 0] == 0.0)
    solved = sum(len(v) for v in behaviour._POINTS.values())
    assert 0 < solved < 2 * 281  # only the points read
