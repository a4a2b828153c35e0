"""Warm starts: a plan handed to the solver as its MIP start, in make_plan and in sweeps."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp
from conftest_whatif import budget_sweep, quiet, tiny_study
from test_optimize import random_bank

from netplan._errors import NetplanError
from netplan.optimize import FacilityProblem, solve
from netplan.optimize.build import _build
from netplan.optimize.highs import START_DROPPED, _check_point, _proven_bound, _warm_vector
from netplan.planning import holds
from netplan.planning import problem as planner
from netplan.planning.plan import make_plan
from netplan.planning.sweep import (
    CHAIN_LENGTH,
    Axis,
    parse_vary,
    run_sweep,
    start_points,
    summary_frame,
)

# --- the optimiser ------------------------------------------------------------------------


def test_a_plan_with_moves_completes_to_a_start() -> None:
    """A plan that relocated needs its moves back to meet its budget and limits: the start
    of the optimum is complete and feasible, and solving from it gives the optimum."""
    moved = 0
    for seed in range(4):
        prob = random_bank(seed).problem
        cold = solve(prob, mip_gap=0.0)
        moved += int(np.sum(cold.relocated))
        warm = dataclasses.replace(prob, warm_start=np.asarray(cold.site_option))
        mdl = _build(warm)
        v = _warm_vector(warm, mdl)
        assert v is not None and _check_point(mdl, v)
        assert np.array_equal(v[mdl.r0:mdl.v0] > 0.5, np.asarray(cold.relocated))
        again = solve(warm, mip_gap=0.0)
        assert again.status == "optimal"
        assert again.objective == pytest.approx(cold.objective, rel=1e-9)
    assert moved > 0  # the known answers use relocations


def test_a_move_the_budget_needs_is_part_of_the_start() -> None:
    """An outlet far from its customers moves to a candidate beside them: closing and
    opening cost 20, the move 5, the budget 6 (and no openings): only the move fits."""
    prob = FacilityProblem(
        demand=np.ones(2), cost=sp.csr_array(np.array([[50.0, 1.0], [50.0, 1.0]])),
        opt_site=np.array([0, 1]), opt_cost=np.array([3.0, 3.0]),
        opt_oneoff=np.array([0.0, 10.0]), opt_is_current=np.array([True, False]),
        site_existing=np.array([True, False]), site_close_oneoff=np.array([10.0, 0.0]),
        budget=6.0, max_new=0, reloc_from=np.array([0]), reloc_to=np.array([1]),
        reloc_saving=np.array([1.0]), reloc_saving_oneoff=np.array([15.0]))
    cold = solve(prob, mip_gap=0.0, lagrange=False)
    assert cold.site_option.tolist() == [-1, 1] and cold.relocated.tolist() == [True]
    warm = dataclasses.replace(prob, warm_start=np.asarray(cold.site_option))
    mdl = _build(warm)
    v = _warm_vector(warm, mdl)
    assert v is not None and v[mdl.r0] == 1.0
    v[mdl.r0] = 0.0  # without its move the plan breaks the budget and max_new
    assert not _check_point(mdl, v)


def _two_moves_problem() -> FacilityProblem:
    """Outlets 0 and 1 may move to candidates 2 and 3 (0 -> 2, 0 -> 3, 1 -> 3), with no
    openings or closures allowed: only the plan with both moves 0 -> 2 and 1 -> 3 fits.
    The largest saving (0 -> 3) pairs them otherwise."""
    return FacilityProblem(
        demand=np.ones(4), cost=sp.csr_array(np.full((4, 4), 5.0) - 4.0 * np.eye(4)),
        opt_site=np.arange(4), opt_cost=np.ones(4),
        opt_is_current=np.array([True, True, False, False]),
        site_existing=np.array([True, True, False, False]), max_new=0, max_closed=0,
        reloc_from=np.array([0, 0, 1]), reloc_to=np.array([2, 3, 3]),
        reloc_to_option=np.array([2, 3, 3]), reloc_saving=np.array([10.0, 100.0, 50.0]))


def test_a_start_keeps_the_moves_of_the_plan_it_came_from() -> None:
    prob = _two_moves_problem()
    ws = np.array([-1, -1, 2, 3])
    greedy = dataclasses.replace(prob, warm_start=ws)
    assert _warm_vector(greedy, _build(greedy)) is None  # 0 -> 3 first: one move, one opening
    carried = dataclasses.replace(prob, warm_start=ws,
                                  warm_moves=np.array([True, False, True]))
    mdl = _build(carried)
    v = _warm_vector(carried, mdl)
    assert v is not None and v[mdl.r0:mdl.v0].tolist() == [1.0, 0.0, 1.0]
    assert _check_point(mdl, v)


def test_moves_without_a_start_are_refused() -> None:
    with pytest.raises(NetplanError, match="warm_moves"):
        dataclasses.replace(_two_moves_problem(), warm_moves=np.array([True, False, True]))


def test_a_start_off_the_main_thread_with_pinned_threads() -> None:
    """As in a Dask worker: the start's LP runs on the process-wide scheduler the solve
    pinned (HiGHS refused to run a solve after an LP of another size: no plan)."""
    import threading

    prob = random_bank(1).problem
    cold = solve(prob, mip_gap=0.0, threads=1)
    warm = dataclasses.replace(prob, warm_start=np.asarray(cold.site_option))
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(solve(warm, mip_gap=0.0, threads=1)))
    t.start()
    t.join()
    assert getattr(out[0], "objective", None) == pytest.approx(cold.objective, rel=1e-9)


def test_an_infeasible_start_is_dropped_with_a_note() -> None:
    prob = random_bank(0).problem
    cold = solve(prob, mip_gap=0.0)
    every = np.array([opts[-1] for opts in random_bank(0).opts_at])  # opens all: over budget
    lines: list[str] = []
    warm = solve(dataclasses.replace(prob, warm_start=every), mip_gap=0.0,
                 progress=lines.append)
    dropped = [ln for ln in lines if ln.startswith(START_DROPPED)]
    assert len(dropped) == 1 and "(" in dropped[0]
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    assert np.array_equal(warm.site_option, cold.site_option)


@pytest.mark.parametrize(("obj", "reported", "gap", "mip_gap", "expect"), [
    # the anomaly: an optimal stop whose reported bound (and gap) left the offset out
    (1000.0, 120.0, 0.88, 0.01, 990.0),
    (1000.0, 995.0, 0.005, 0.01, 995.0),  # a reported bound within the gap is kept
    (1000.0, 120.0, 0.88, math.inf, 120.0),  # without the gap it ran with: as reported
])
def test_an_optimal_stop_proves_its_gap(obj: float, reported: float, gap: float,
                                        mip_gap: float, expect: float) -> None:
    assert _proven_bound(obj, reported, gap, mip_gap) == pytest.approx(expect)


def test_a_start_with_a_large_offset_keeps_a_gap_within_the_target() -> None:
    """Closures priced far above everything else (as the holds loop prices them) put most
    of the objective into the offset; a solve from the optimum stays within its gap."""
    cost = sp.csr_array(np.array([[1.0, 5.0, 9.0], [5.0, 1.0, 5.0], [9.0, 5.0, 1.0]]))
    prob = FacilityProblem(demand=np.ones(3), cost=cost, opt_site=np.arange(3),
                           opt_cost=np.full(3, 2.0), opt_is_current=np.ones(3, bool),
                           site_existing=np.ones(3, bool), site_close_cost=np.full(3, 1e7),
                           site_close_oneoff=np.ones(3), budget=10.0)
    cold = solve(prob, mip_gap=0.01, lagrange=False)
    warm = solve(dataclasses.replace(prob, warm_start=np.asarray(cold.site_option)),
                 mip_gap=0.01, lagrange=False)
    for s in (cold, warm):
        assert s.gap <= 0.01 and s.objective == pytest.approx(9.0)


# --- make_plan ----------------------------------------------------------------------------


def test_start_options_of_a_plan() -> None:
    study = tiny_study()
    model = planner.build_model(study, quiet(), year=2020, adcode="110101")
    s, o = model.sites, model.options
    current = np.asarray(model.problem.current_options())
    # a start that closes everything, names a format no site runs, and ids not in the model
    start = {str(i): "no-such-format" for i in s.site_id} | {"not-a-site": "full"}
    got = holds.start_options(model, start)
    assert (got[s.decide] == -1).all()
    assert np.array_equal(got[~s.decide], current[~s.decide])  # the buffer keeps its own
    j = int(np.flatnonzero(s.decide & s.existing)[0])
    fmt = next(f for f in set(o.format[o.site == j]) if f != s.format[j])
    got = holds.start_options(model, {str(s.site_id[j]): fmt})
    assert o.site[got[j]] == j and o.format[got[j]] == fmt


def test_make_plan_from_its_own_plan_gives_the_same_objective() -> None:
    study, sc = tiny_study(), quiet(budget_cny=1.2e6)
    cold = make_plan(study, sc, year=2020)
    lines: list[str] = []
    warm = make_plan(study, sc, year=2020, start=cold, progress=lines.append)
    assert not any(START_DROPPED in ln for ln in lines)
    assert warm.kpis["solver"]["status"] == cold.kpis["solver"]["status"] == "optimal"
    assert warm.kpis["solver"]["objective"] == pytest.approx(cold.kpis["solver"]["objective"])


def test_make_plan_drops_a_start_over_the_budget() -> None:
    study = tiny_study()
    rich = make_plan(study, quiet(budget_cny=2.4e6), year=2020)
    assert rich.kpis["costs"]["oneoff_spend_cny"] > 0  # it closes outlets: 0 CNY cannot
    poor = quiet(budget_cny=0.0)
    cold = make_plan(study, poor, year=2020)
    lines: list[str] = []
    warm = make_plan(study, poor, year=2020, start=rich, progress=lines.append)
    assert any(ln.startswith(START_DROPPED) and "budget" in ln for ln in lines)
    assert warm.kpis["solver"]["objective"] == pytest.approx(cold.kpis["solver"]["objective"])
    assert warm.counts == cold.counts


# --- sweeps -------------------------------------------------------------------------------


def test_start_points_are_chains_along_the_first_axis() -> None:
    n = CHAIN_LENGTH + 2
    a = Axis("planning.budget_cny", tuple(float(v) for v in range(n)))
    b = Axis("demand.smart_share", (0.5, 0.6))
    got = start_points([a, b])  # point k = 2 * (index on a) + (index on b)
    for k, j in enumerate(got):
        ia = k // 2
        assert j == (None if ia % CHAIN_LENGTH == 0 else k - 2)
    one = start_points([a])
    assert one[0] is None and one[CHAIN_LENGTH] is None and one[1] == 0
    assert one[CHAIN_LENGTH + 1] == CHAIN_LENGTH


def test_warm_sweep_equals_cold_where_both_are_optimal() -> None:
    cold = budget_sweep()  # the shared sweep runs cold (the default)
    warm = run_sweep(tiny_study(), quiet(), [parse_vary("planning.budget_cny=0:2.4e6:3")],
                     year=2020, in_process=True, warm=True)
    dw, dc = summary_frame(warm), summary_frame(cold)
    assert dw["started_from"].tolist() == ["", "p1", "p2"]
    assert dc["started_from"].tolist() == ["", "", ""]
    assert not dw["start_dropped"].any()  # a smaller budget's plan fits a larger budget
    both = (dw["solver_status"] == "optimal") & (dc["solver_status"] == "optimal")
    assert both.all()
    np.testing.assert_allclose(dw["objective"], dc["objective"], rtol=1e-9)
    assert warm.run["warm_chain_length"] == CHAIN_LENGTH
    assert cold.run["warm_chain_length"] is None


@pytest.mark.slow
def test_a_point_whose_neighbour_crashed_runs_cold(monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    from netplan.planning import sweep

    real, want = sweep.run_point, summary_frame(budget_sweep())

    def crash_p1(study: object, point: sweep.SweepPoint, **kw: object) -> sweep.PointRun:
        if point.label == "p1":
            raise RuntimeError("p1 crashes")
        return real(study, point, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(sweep, "run_point", crash_p1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster:
        res = run_sweep(tiny_study(), quiet(), [parse_vary("planning.budget_cny=0:2.4e6:3")],
                        year=2020, scheduler=cluster.scheduler_address, warm=True)
    df = summary_frame(res)
    assert df["ok"].tolist() == [False, True, True]
    assert "p1 crashes" in res.runs[0].reason
    assert df["started_from"].tolist() == ["", "", "p2"]
    np.testing.assert_allclose(df["objective"][1:], want["objective"][1:], rtol=1e-9)
