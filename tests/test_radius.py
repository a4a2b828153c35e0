"""The radius formulation of the dense p-median (netplan.optimize.radius) and the p-median
path that uses it: known OR-Library optima, brute force on tiny instances, edge cases."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netplan.optimize import classic, p_median, radius
from netplan.optimize.classic import _pmedian_heuristic
from netplan.optimize.instances import read_orlib_pmed
from netplan.optimize.radius import radius_pmedian, reduce_by_bound

ORLIB = Path(__file__).parent / "data" / "orlib"


def _opt(name: str) -> float:
    for line in (ORLIB / "pmedopt.txt").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return float(parts[1])
    raise KeyError(name)


def _brute(wcost: np.ndarray, p: int) -> float:
    m = wcost.shape[1]
    return min(float(wcost[:, list(s)].min(axis=1).sum())
               for s in itertools.combinations(range(m), p))


def _cost(wcost: np.ndarray, sites: np.ndarray) -> float:
    return float(wcost[:, sites].min(axis=1).sum())


@pytest.mark.parametrize("name", ["pmed1", pytest.param("pmed6", marks=pytest.mark.slow)])
def test_radius_known_optimum_from_a_poor_plan(name: str) -> None:
    cost, p = read_orlib_pmed(ORLIB / f"{name}.txt")
    opt = _opt(name)
    start = np.arange(p)  # far from optimal; multipliers 0: the reductions start cold
    assert _cost(cost, start) > opt
    res = radius_pmedian(cost, p, start=start, lam=np.zeros(cost.shape[0]), deadline=None)
    assert res.objective == pytest.approx(opt, abs=1e-9)
    assert _cost(cost, np.asarray(res.open)) == pytest.approx(opt, abs=1e-9)
    assert res.status == "optimal"
    assert res.bound == pytest.approx(opt, abs=1e-9)
    assert res.bound <= opt + 1e-9


@pytest.mark.parametrize("name", ["pmed1", "pmed6"])
def test_radius_proves_the_heuristic_plan(name: str) -> None:
    cost, p = read_orlib_pmed(ORLIB / f"{name}.txt")
    opt = _opt(name)
    start = _pmedian_heuristic(cost, p)
    res = radius_pmedian(cost, p, start=start, lam=np.zeros(cost.shape[0]), deadline=None)
    assert (res.objective, res.bound, res.status) == (opt, opt, "optimal")
    assert res.fixed_closed > 0  # the multipliers' ascent fixed sites before the model


@pytest.mark.parametrize("seed", range(12))
def test_radius_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(4, 10)), int(rng.integers(3, 8))
    p = int(rng.integers(1, m + 1))
    cost = rng.integers(0, 6, size=(n, m)).astype(float)  # many ties
    if seed % 2:
        cost = cost * rng.uniform(0.5, 2.0, size=(n, 1))  # weights: not whole any more
    cost[0] = 0.0  # a zero-weight customer
    best = _brute(cost, p)
    start = rng.choice(m, size=p, replace=False)
    res = radius_pmedian(cost, p, start=start, lam=rng.normal(2.0, 1.0, size=n),
                         deadline=None)
    assert res.objective == pytest.approx(best, abs=1e-9)
    assert _cost(cost, np.asarray(res.open)) == pytest.approx(best, abs=1e-9)
    assert np.asarray(res.open).size == p
    assert res.bound <= best + 1e-9
    assert res.status == "optimal"
    classic = p_median(cost, p, mip_gap=0.0, lagrange=False)
    assert classic.objective == pytest.approx(res.objective, abs=1e-9)


@pytest.mark.parametrize("margin", [0, 1, 3])
def test_radius_reach_margin_keeps_the_optimum(margin: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """However far the first rows reach past the multipliers (none: the model underprices
    and grows; far: capped by the reductions), the plan and the bound are the brute
    force's."""
    monkeypatch.setattr(radius, "_REACH_MARGIN", margin)
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        n, m, p = int(rng.integers(8, 14)), int(rng.integers(5, 9)), int(rng.integers(1, 4))
        cost = rng.integers(0, 12, size=(n, m)).astype(float)
        best = _brute(cost, p)
        res = radius_pmedian(cost, p, start=rng.choice(m, size=p, replace=False),
                             lam=cost.min(axis=1) + rng.uniform(0, 2, size=n), deadline=None)
        assert (res.objective, res.bound, res.status) == (best, best, "optimal")
        assert _cost(cost, np.asarray(res.open)) == best


@pytest.mark.parametrize("p", [1, 6])
def test_radius_edge_p(p: int) -> None:
    rng = np.random.default_rng(p)
    cost = rng.uniform(0, 10, size=(9, 6))
    res = radius_pmedian(cost, p, start=np.arange(p), lam=np.zeros(9), deadline=None)
    assert res.objective == pytest.approx(_brute(cost, p), abs=1e-9)
    assert res.status == "optimal"
    if p == 6:  # every site open: nothing to choose
        assert np.asarray(res.open).tolist() == list(range(6))


def test_reductions_keep_every_cheaper_plan() -> None:
    """Sites fixed closed are in no plan cheaper than the bound's ub; the caps hold an
    open site of every such plan."""
    rng = np.random.default_rng(7)
    n, m, p = 10, 7, 2
    cost = rng.integers(1, 20, size=(n, m)).astype(float)
    plans = [np.array(s) for s in itertools.combinations(range(m), p)]
    costs = np.array([_cost(cost, s) for s in plans])
    ub = float(np.sort(costs)[3])  # a plan that is not the best
    lam = cost.min(axis=1) + 3.0
    closed, opened, cap = reduce_by_bound(cost, p, lam, ub, integral=True)
    cand = np.flatnonzero(~closed)
    for s, c in zip(plans, costs, strict=True):
        if c >= ub:
            continue
        assert not closed[s].any()
        assert opened[opened].tolist() == [True] * int(opened.sum())
        assert set(np.flatnonzero(opened)) <= set(s.tolist())
        for i in range(n):
            ball = cand[np.argsort(cost[i, cand], kind="stable")][:cap[i]]
            radius = cost[i, ball].max()
            assert cost[i, s].min() <= radius


def test_p_median_reports_what_proved_it() -> None:
    cost, p = read_orlib_pmed(ORLIB / "pmed1.txt")
    res = p_median(cost, p)
    assert res.objective == pytest.approx(_opt("pmed1"))
    assert res.gap == 0.0 and res.status == "optimal"
    assert res.best_bound <= res.objective
    assert res.solution.bound_source in ("lagrangian", "radius")


def test_p_median_radius_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the Lagrangian stage does not prove the plan, small p goes to the radius
    model, which proves it and says so."""
    real = classic._pmedian_bound

    def unproven(*args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(real(*args, **kwargs), proven=False)

    monkeypatch.setattr(classic, "_pmedian_bound", unproven)
    cost, p = read_orlib_pmed(ORLIB / "pmed1.txt")
    assert classic._radius_applies(p, cost.shape[1])
    res = p_median(cost, p, time_limit_s=30)
    assert res.objective == pytest.approx(_opt("pmed1"))
    assert (res.gap, res.status, res.solution.bound_source) == (0.0, "optimal", "radius")
    assert res.best_bound == pytest.approx(_opt("pmed1"))
    assert res.solution.lagrangian_bound <= res.best_bound
    assert res.solver == "highs"
    assert np.asarray(res.open).size == p
    assert res.assignment.shape == (cost.shape[0],)


def test_radius_only_for_small_p() -> None:
    assert classic._radius_applies(5, 100)
    assert not classic._radius_applies(10, 100)
