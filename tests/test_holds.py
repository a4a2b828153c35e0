"""Plans that hold under the customers' own choice (netplan.planning.holds)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from netplan._errors import ScenarioError
from netplan.model import service
from netplan.model.scenario import Scenario, load_scenario, scenario_from_dict, scenario_to_dict
from netplan.optimize import Solution
from netplan.planning import evaluate, holds
from netplan.planning import problem as planner
from netplan.planning.plan import make_plan, plan_from_solution
from netplan.study.layers import Study, load_study


@pytest.fixture
def study(tiny_gpkg: Path) -> Study:
    return load_study(tiny_gpkg)


def toy(rule: str, **changes: object) -> Scenario:
    """A tiny-study scenario whose first plan overloads outlets under the rule."""
    base = dict(customer_share=0.12, visits_per_customer_per_year=250.0, max_dist_km=30.0,
                budget_cny=None, max_open=None, max_close=None, min_share_outside_ring=None,
                districts={}, time_limit_s=60.0, mip_gap=1e-6, behaviour_rule=rule,
                unserved_penalty_cny_per_visit=5000.0)
    base.update(changes)
    return load_scenario().replace(**base)


@pytest.mark.parametrize("rule", ["nearest", "choice"])
def test_loop_makes_the_plan_hold(study: Study, rule: str) -> None:
    sc = toy(rule)
    # without the loop: the optimiser's own routing leaves outlets over capacity
    model = planner.build_model(study, sc, year=2020)
    sol = planner.solve_model(model, mip_gap=1e-6)
    m = holds.measure_after(model, sc, sol.site_option)
    assert len(holds.overloaded(model, m.load, m.capacity)) > 0
    # with it: none is
    beh = make_plan(study, sc, year=2020).kpis["behaviour"]
    assert beh["holds"] is True and beh["over_capacity"] == []
    loop = beh["loop"]
    assert loop["stop"] == "holds"
    per = loop["overloaded_per_iteration"]
    assert per[-1] == 0 and all(a > b for a, b in itertools.pairwise(per))
    assert loop["iterations"] == len(per) <= holds.MAX_ROUNDS
    assert loop["kept_iteration"] == loop["iterations"]


def test_warm_rounds_start_each_solve_from_the_last_plan_and_its_moves(study: Study) -> None:
    sc = toy("choice", mip_gap=1e-3)
    model = planner.build_model(study, sc, year=2020)
    seen: list[tuple[Any, Any]] = []
    sols: list[Solution] = []

    def solve(m: planner.Model, limit: float | None, by: float | None) -> Solution:
        seen.append((m.problem.warm_start, m.problem.warm_moves))
        sol = planner.solve_model(m, mip_gap=1e-3)
        sols.append(sol)
        return sol

    holds.solve_until_holds(model, sc, solve, time_limit_s=None, warm_rounds=True)
    assert len(seen) >= 2
    assert seen[0][1] is None  # the first solve starts from the current network
    for (ws, moves), before in zip(seen[1:], sols, strict=False):
        assert ws.tolist() == before.site_option.tolist()
        assert moves.tolist() == before.relocated.tolist()


@pytest.mark.parametrize(("stall_rounds", "solves"), [(1, 2), (2, 5)])
def test_the_loop_stops_after_stall_rounds_in_a_row_without_fewer_overloaded(
        study: Study, monkeypatch: pytest.MonkeyPatch, stall_rounds: int, solves: int) -> None:
    """Overloaded outlets per round 3, 3, 2, 2, 2 (scripted): one stalled round stops the
    loop at the second solve; with two in a row needed, the third round's improvement
    resets the count and the loop stops at the fifth, keeping a round with 2."""
    counts = iter([3, 3, 3, 2, 2, 2, 2, 2, 2])  # the first: today's network, before the loop
    monkeypatch.setattr(holds, "overloaded",
                        lambda *a: np.arange(next(counts), dtype=np.int64))
    monkeypatch.setattr(holds, "STALL_ROUNDS", stall_rounds)
    sc = toy("choice", mip_gap=1e-3)
    model = planner.build_model(study, sc, year=2020)
    _, _, loop = holds.solve_until_holds(
        model, sc, lambda m, limit, by: planner.solve_model(m, mip_gap=1e-3),
        time_limit_s=None)
    assert loop.stop == "stalled"
    assert loop.overloaded == [3, 3, 2, 2, 2][:solves]
    assert loop.overloaded[loop.kept_round - 1] == min(loop.overloaded)


def test_every_remaining_outlet_has_a_reason(study: Study) -> None:
    sc = toy("nearest", customer_share=0.9, max_open=0, max_upgrade=0, max_close=0)
    beh = make_plan(study, sc, year=2020).kpis["behaviour"]
    assert beh["holds"] is False and beh["over_capacity"]
    for row in beh["over_capacity"]:
        assert row["load_per_h"] > row["capacity_per_h"]
        why = str(row["reason"])
        # every way to add capacity is barred by a limit (upgrades, openings: a larger
        # format at a relocation's target is an opening) or the format is the largest
        assert "relief within the limits not taken" not in why
        assert "reached" in why or "largest format too small" in why
        if "largest format too small" in why:
            assert "max_upgrade reached" not in why
        # conversions (to fewer servers) never relieve an outlet: max_convert is no reason
        assert "max_convert" not in why


def test_the_plan_reuses_the_loops_measurements_with_the_same_figures(
        study: Study, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop measured the current network and the kept plan under the rule: the plan's
    before and after take them (two fewer measurements under ``choice``) and its figures
    are those of fresh measurements."""
    sc = toy("choice", mip_gap=1e-3)
    model = planner.build_model(study, sc, year=2020)
    kept, sol, loop = holds.solve_holding(model, sc, solver="highs", time_limit_s=None,
                                          mip_gap=1e-3, threads=1)
    assert len(loop.measured) == 2
    calls: list[str] = []
    real = evaluate.evaluate

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(a[2].rule)
        return real(*a, **k)

    monkeypatch.setattr(evaluate, "evaluate", counted)
    reused = plan_from_solution(study, sc, kept, sol, year=2020, adcode=None, loop=loop)
    n_reused = calls.count("choice")
    fresh = plan_from_solution(study, sc, kept, sol, year=2020, adcode=None,
                               loop=dataclasses.replace(loop, measured=()))
    assert (n_reused, calls.count("choice") - n_reused) == (0, 2)
    assert json.dumps(reused.kpis, sort_keys=True) == json.dumps(fresh.kpis, sort_keys=True)
    assert reused.zones_kpi.equals(fresh.zones_kpi)
    assert reused.assignment.equals(fresh.assignment)


def test_a_measurement_is_reused_only_for_the_same_inputs(study: Study) -> None:
    sc = toy("choice", mip_gap=1e-3)
    model = planner.build_model(study, sc, year=2020)
    current = np.asarray(model.problem.current_options(), np.int64)
    m = holds.measure_after(model, sc, current)
    o = model.options
    net = evaluate.Network(xy=model.sites.xy,
                           counters=np.where(current >= 0, o.counters[current], 0),
                           terminals=np.where(current >= 0, o.terminals[current], 0))
    args = dict(zone_xy=model.zone_xy, zone_arrivals=model.zone_arrivals,
                behaviour=m.behaviour)
    same = evaluate.measure(network=net, scenario=sc, known=[m], **args)
    assert same.evaluation is m.evaluation
    more = evaluate.Network(xy=net.xy, counters=net.counters + 1, terminals=net.terminals)
    for other in (evaluate.measure(network=more, scenario=sc, known=[m], **args),
                  evaluate.measure(network=net, scenario=sc.replace(patience_min=30.0),
                                   known=[m], **args)):
        assert other.evaluation is not m.evaluation and other.fingerprint != m.fingerprint


def test_same_input_same_kpis(study: Study) -> None:
    sc = toy("choice")
    a, b = (make_plan(study, sc, year=2020).kpis for _ in range(2))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --- the service-level option: [service] max_share_over_target --------------------------


def _erlang_c(c: int, a: float) -> float:
    """Erlang C by its textbook sum (independent of netplan.model.queueing)."""
    terms = [a**k / math.factorial(k) for k in range(c)]
    last = a**c / math.factorial(c) * c / (c - a)
    return last / (sum(terms) + last)


def _tail_capacity(c: int, service_min: float, target_min: float, share: float) -> float:
    """Arrivals/h at which P(wait > target) = share, by bisection on the offered load."""
    lo, hi = 0.0, c * (1 - 1e-12)
    for _ in range(200):
        mid = (lo + hi) / 2
        tail = _erlang_c(c, mid) * math.exp(-(c - mid) * target_min / service_min)
        lo, hi = (mid, hi) if tail <= share else (lo, mid)
    return lo * 60.0 / service_min


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5])
def test_erlang_c_tail_capacity_known_answer(share: float) -> None:
    sc = load_scenario()
    for servers in (1, 4, 6, 12, 30):
        for service_min in (sc.counter_service_min, sc.terminal_service_min):
            want = _tail_capacity(servers, service_min, sc.target_wait_min, share)
            got = service.tail_capacity_per_h(servers, service_min, sc.target_wait_min, share)
            assert got == pytest.approx(want, rel=1e-9)


def test_service_level_is_an_alternative_to_the_mean_wait() -> None:
    base = load_scenario()
    assert base.max_share_over_target is None
    mean = float(service.capacity_per_h(6, 10, scenario=base))
    strict = float(service.capacity_per_h(6, 10, scenario=base.replace(max_share_over_target=0.01)))
    loose = float(service.capacity_per_h(6, 10, scenario=base.replace(max_share_over_target=0.6)))
    assert strict < mean < loose


def test_service_level_scenario_key(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[service]\nmax_share_over_target = 0.2\n", encoding="utf-8")
    sc = load_scenario(good)
    assert sc.max_share_over_target == 0.2
    assert scenario_from_dict(scenario_to_dict(sc)) == sc
    bad = tmp_path / "bad.toml"
    bad.write_text("[service]\nmax_share_over_target = 1.5\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"service\.max_share_over_target .*\(0, 1\)"):
        load_scenario(bad)
