"""Tests of netplan.instances (OR-Library readers) and the ``solve-instance`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from netplan._errors import DataNotFoundError, InfeasibleError, NetplanError
from netplan.cli import app
from netplan.optimize.instances import read_orlib_cap, read_orlib_pmed, solve_instance

ORLIB = Path(__file__).parent / "data" / "orlib"


def write(tmp_path: Path, text: str, name: str = "inst.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_pmed1() -> None:
    cost, p = read_orlib_pmed(ORLIB / "pmed1.txt")
    assert cost.shape == (100, 100) and p == 5
    assert np.allclose(cost, cost.T) and np.all(np.diag(cost) == 0)
    assert cost[0, 1] <= 30  # edge "1 2 30"
    # triangle inequality holds for shortest paths
    k = 7
    assert np.all(cost <= cost[:, [k]] + cost[[k], :] + 1e-9)


def test_pmed_repeated_edge_last_occurrence_counts(tmp_path: Path) -> None:
    # 1-2 appears twice: 5 then 2 (last counts); 2-3 written reversed as 3 2.
    path = write(tmp_path, "3 3 1\n1 2 5\n3 2 4\n2 1 2\n")
    cost, p = read_orlib_pmed(path)
    assert p == 1
    assert cost[0, 1] == 2 and cost[1, 0] == 2 and cost[0, 2] == 6


def test_pmed_zero_cost_edge_is_an_edge(tmp_path: Path) -> None:
    cost, _ = read_orlib_pmed(write(tmp_path, "3 2 1\n1 2 0\n2 3 7\n"))
    assert cost[0, 1] == 0 and cost[0, 2] == 7


def test_read_cap41() -> None:
    cap, fixed, demand, cost = read_orlib_cap(ORLIB / "cap41.txt")
    assert cap.shape == (16,) and fixed.shape == (16,)
    assert demand.shape == (50,) and cost.shape == (50, 16)
    assert np.all(cap == 5000) and fixed[0] == 7500 and fixed[10] == 0
    assert demand[0] == 146 and cost[0, 0] == pytest.approx(6739.725)


def test_cap_symbolic_capacity(tmp_path: Path) -> None:
    text = "2 1\ncapacity 10.\ncapacity 20.\n 5\n 1.5 2.5\n"
    path = write(tmp_path, text)
    with pytest.raises(NetplanError, match=r"capacity of warehouse 1 is the word 'capacity'.*"
                                           r"line 2.*pass capacity="):
        read_orlib_cap(path)
    cap, fixed, demand, cost = read_orlib_cap(path, capacity=8000)
    assert cap.tolist() == [8000, 8000] and fixed.tolist() == [10, 20]
    assert demand.tolist() == [5] and cost.tolist() == [[1.5, 2.5]]


def test_cap_wrapped_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "2 2\n10 1\n10 2\n3\n 4\n 5\n7 8\n9\n")
    _, _, demand, cost = read_orlib_cap(path)
    assert demand.tolist() == [3, 7] and cost.tolist() == [[4, 5], [8, 9]]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("2 1\n10 1\n10 x\n5 1 2\n", r"fixed cost of warehouse 2 at .*line 3, token 6 \('x'\)"),
        ("2 2\n10 1\n10 2\n3 4 5\n", r"expected 6 numbers for 2 customers .* file ends"),
        ("2 1\n10 1\n10 2\n5 1 2 9\n", r"1 tokens follow the last customer"),
        ("2.5 1\n", r"header .* must be non-negative integers"),
    ],
)
def test_cap_malformed(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(NetplanError, match=match):
        read_orlib_cap(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("3 2 1\n1 2 5\n2 4 1\n", r"edge 2 at .*line 3.*vertex ids must be integers in 1..3"),
        ("3 2 1\n1 2 5\n", r"expected 6 numbers for 2 edges"),
        ("4 2 1\n1 2 5\n3 4 1\n", r"disconnected \(no path from vertex 1 to 3\)"),
        ("3 1 1\n1 2 five\n", r"expected a number .* line 2, token 6 \('five'\)"),
    ],
)
def test_pmed_malformed(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(NetplanError, match=match):
        read_orlib_pmed(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="instance file not found"):
        read_orlib_pmed(tmp_path / "nope.txt")


def test_solve_instance_library() -> None:
    res = solve_instance(ORLIB / "cap71.txt", fmt="orlib-cap")
    assert res.objective == pytest.approx(932615.75)
    d = res.as_dict()
    assert d["status"] in ("optimal", "gap_limit") and d["gap"] <= 1e-4
    assert d["open"] == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12]
    with pytest.raises(NetplanError, match="unknown instance format 'tsp'"):
        solve_instance(ORLIB / "cap71.txt", fmt="tsp")


def test_cli_solve_instance_json() -> None:
    result = CliRunner().invoke(
        app, ["solve-instance", str(ORLIB / "pmed1.txt"), "--format", "orlib-pmed", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["objective"] == 5819 and data["status"] == "optimal" and data["gap"] == 0
    assert data["open"] == sorted(data["open"]) and len(data["open"]) == 5
    assert {"best_bound", "solver", "instance", "seconds"} <= set(data)
    assert data["bound_source"] == "lagrangian"  # the Lagrangian bound proves pmed1
    result = CliRunner().invoke(
        app, ["solve-instance", str(ORLIB / "pmed1.txt"), "--format", "orlib-pmed", "--json",
              "--no-lagrange"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["objective"] == 5819 and data["bound_source"] == "highs"


def test_cli_solve_instance_table_cbc() -> None:
    result = CliRunner().invoke(
        app, ["solve-instance", str(ORLIB / "cap71.txt"), "--format", "orlib-cap",
              "--solver", "cbc", "--single-source"])
    assert result.exit_code == 0, result.output
    assert "cbc" in result.stdout and "pulp" in result.stdout and "932,615.75" in result.stdout


def test_single_source_cap41_is_infeasible() -> None:
    """cap41 has two customers with more demand (5,495 and 12,912) than a warehouse holds (5,000):
    single sourcing cannot serve them, and the pre-check says so with the numbers."""
    with pytest.raises(InfeasibleError, match=r"zone 10 has demand 5,495 .* largest capacity "
                                              r"among its allowed sites is 5,000") as e:
        solve_instance(ORLIB / "cap41.txt", fmt="orlib-cap", single_source=True)
    assert e.value.family == "unserved"
