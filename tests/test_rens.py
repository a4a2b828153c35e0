"""The LP relaxation's rounded plan (netplan.optimize.rens): a valid bound, feasible plans."""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_lagrangian import random_cflp

from netplan.model.scenario import load_scenario
from netplan.model.synthetic import make_study, synthetic_scenario
from netplan.optimize import FacilityProblem, rens, solve, solving
from netplan.optimize.build import _build
from netplan.optimize.highs import _check_point, _new_highs, _pass_model, _warm_vector
from netplan.planning.problem import build_model


def _lp_value(p: FacilityProblem) -> float:
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    _pass_model(h, _build(p), integer=False)
    h.run()
    return float(h.getInfo().objective_function_value)  # the model's constant included


def _check(p: FacilityProblem) -> rens.LpRounding:
    """The rounding's bound is the LP's and lies below a proven plan; its plan is feasible
    and no better than a proven bound (the exact optimum takes minutes on the planning
    model, so HiGHS's plan and bound at a 5 % gap stand for it)."""
    mdl = _build(p)
    got = rens.lp_rounding(mdl, deadline=time.perf_counter() + 60.0, mip_gap=1e-3, threads=1)
    ref = solve(p, mip_gap=0.05)
    lp = _lp_value(p)
    assert got.bound == pytest.approx(lp, rel=1e-6)  # the safe bound is the LP's value
    assert got.bound <= ref.objective * (1 + 1e-9)
    assert got.free + got.fixed == int(mdl.integer.sum())
    assert got.v is not None
    assert _check_point(mdl, got.v)
    assert float(mdl.c @ got.v + mdl.offset) >= ref.best_bound * (1 - 1e-9)
    return got


def test_rounding_of_a_capacitated_model_is_feasible_and_its_bound_valid() -> None:
    got = _check(random_cflp(150, 15, seed=2))
    assert got.fixed > 0


def test_rounding_of_a_planning_model_with_moves_and_limits() -> None:
    study = make_study(200, 30, 2, seed=13)
    sc = synthetic_scenario(study, load_scenario()).replace(max_open=6, max_close=5,
                                                            budget_cny=40_000_000.0)
    p = build_model(study, sc, year=2020).problem
    assert p.reloc_from.size > 0 and p.reloc_to_option is not None
    _check(p)


def test_a_large_timed_solve_starts_from_the_rounding(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the size threshold lowered, a time-limited solve takes the rounded plan, its
    search and its LP bound; the result is feasible and its bound valid."""
    p = random_cflp(150, 15, seed=4)
    best = solve(p, mip_gap=0.0).objective
    monkeypatch.setattr(rens, "RENS_MIN_INTEGER", 1)
    monkeypatch.setattr(rens, "_MIN_SECONDS", 0.0)
    lines: list[str] = []
    sol = solve(p, time_limit_s=30.0, mip_gap=1e-3, progress=lines.append, lagrange=False)
    assert any("rounded plan" in s for s in lines)
    assert sol.bound_source in ("lp", "highs")
    assert sol.best_bound <= best * (1 + 1e-9)
    assert sol.objective >= best * (1 - 1e-9)
    assert sol.gap <= 1e-3 or sol.status == "time_limit"
    assert np.isfinite(sol.objective)


def test_small_or_untimed_solves_skip_the_stage() -> None:
    mdl = _build(random_cflp(60, 8))
    far = time.perf_counter() + 600.0
    assert int(mdl.integer.sum()) < rens.RENS_MIN_INTEGER
    assert not rens.rens_applies(mdl, search=True, deadline=far)  # below the threshold
    assert not rens.rens_applies(mdl, search=True, deadline=None)
    assert not rens.rens_applies(mdl, search=False, deadline=far)


def test_the_stage_needs_time_in_proportion_to_the_model() -> None:
    """A model above the size threshold takes the stage with time to spare for its LP,
    not with less than :data:`rens._MIN_S_PER_NNZ` seconds per nonzero left (below
    :data:`rens._MIN_SECONDS` on a model of this size)."""
    mdl = _build(random_cflp(400, 80, seed=3))
    assert int(mdl.integer.sum()) >= rens.RENS_MIN_INTEGER
    need = rens._MIN_S_PER_NNZ * int(mdl.a.nnz)
    assert need < rens._MIN_SECONDS
    now = time.perf_counter()
    assert rens.rens_applies(mdl, search=True, deadline=now + need + 60.0)
    assert not rens.rens_applies(mdl, search=True, deadline=now + 0.5 * need)


@pytest.mark.parametrize(("free", "aim"), [(3, rens._GOOD_ENOUGH_FEW),
                                           (rens._FEW_FREE, rens._GOOD_ENOUGH_FEW),
                                           (rens._FEW_FREE + 1, rens._GOOD_ENOUGH)])
def test_the_rounded_mip_aims_closer_when_few_columns_are_free(
        monkeypatch: pytest.MonkeyPatch, free: int, aim: float) -> None:
    """The rounded MIP stops at a plan within 2 % of its bound when at most
    :data:`rens._FEW_FREE` integer columns are free, within 10 % otherwise."""
    mdl = _build(random_cflp(200, 160, seed=2))
    ints = np.flatnonzero(mdl.integer)
    lp = np.where(mdl.integer, mdl.col_lo, 0.0)  # every integer column at its lower bound
    lp[ints[:free]] = 0.5  # but ``free`` of them fractional
    seen: list[float] = []
    monkeypatch.setattr(rens, "_GoodEnough", lambda gap: seen.append(gap) or (lambda e: None))
    _, n_free, fixed = rens._rounded(mdl, lp, deadline=time.perf_counter() + 30.0,
                                     mip_gap=1e-3, threads=1)
    assert (n_free, fixed) == (free, ints.size - free)
    assert seen == [aim]


class _Event:
    def __init__(self, inc: float, gap: float) -> None:
        self.data_out = type("Out", (), {"mip_primal_bound": inc, "mip_gap": gap})()
        self.data_in = type("In", (), {"user_interrupt": False})()


@pytest.mark.parametrize(("inc", "gap", "stops"), [
    (float("inf"), float("inf"), False),  # no plan yet
    (130.0, 0.3, False),  # a plan, too far from the bound
    (104.0, 0.04, True),
])
def test_the_rounded_mip_stops_at_its_first_good_plan(inc: float, gap: float,
                                                       stops: bool) -> None:
    e = _Event(inc, gap)
    rens._GoodEnough(0.1)(e)
    assert e.data_in.user_interrupt is stops


def test_the_rounding_carries_the_lp_solution_for_the_search() -> None:
    p = random_cflp(150, 15, seed=2)
    mdl = _build(p)
    got = rens.lp_rounding(mdl, deadline=time.perf_counter() + 60.0, mip_gap=1e-3, threads=1)
    assert got.lp is not None and got.lp.shape == (mdl.n_cols,)
    assert float(mdl.c @ got.lp + mdl.offset) == pytest.approx(_lp_value(p), rel=1e-6)


def test_without_a_rounded_plan_the_search_walks_from_the_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """When the rounded MIP finds no plan in its time, the LP-guided search starts from
    the start plan (the current network) with the LP's bound, instead of HiGHS, which
    would need the same LP again before any plan of its own."""
    study = make_study(200, 30, 2, seed=13)
    sc = synthetic_scenario(study, load_scenario()).replace(
        max_open=6, max_close=5, budget_cny=40_000_000.0,
        min_share_outside_ring=None)  # the synthetic network is below Beijing's share
    p = build_model(study, sc, year=2020).problem
    assert p.warm_start is not None
    mdl = _build(p)
    warm = _warm_vector(p, mdl)
    assert warm is not None
    start = float(mdl.c @ warm + mdl.offset)
    ref = solve(p, mip_gap=0.05)
    monkeypatch.setattr(rens, "RENS_MIN_INTEGER", 1)
    monkeypatch.setattr(rens, "_MIN_SECONDS", 0.0)
    monkeypatch.setattr(rens, "_rounded", lambda *a, **k: (None, 7, int(mdl.integer.sum()) - 7))
    # the search alone, to the deadline (a model this small would go back to HiGHS)
    monkeypatch.setattr(solving, "_HIGHS_BELOW_INTEGER", 0)
    lines: list[str] = []
    sol = solve(p, time_limit_s=6.0, mip_gap=1e-3, progress=lines.append)
    assert any("found no plan in time; the start plan went on" in s for s in lines)
    assert not any("HiGHS solves the model" in s for s in lines)
    assert sol.bound_source == "lp"
    assert sol.best_bound == pytest.approx(_lp_value(p), rel=1e-6)
    assert sol.best_bound <= ref.objective * (1 + 1e-9)
    assert ref.best_bound * (1 - 1e-9) <= sol.objective < start  # the search moved from it
