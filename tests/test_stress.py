"""Stress of a fixed plan under demand cases: known answers, regret, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest_reliability import run_cli, snapshot
from conftest_whatif import budget_sweep, quiet, tiny_gpkg, tiny_study

from netplan._errors import NetplanError
from netplan.model.scenario import load_scenario, scenario_from_dict, scenario_to_dict
from netplan.planning.plan import Plan, make_plan, write_plan
from netplan.planning.stress import BUILTIN_CASES, DemandCase, demand_cases, stress_plan
from netplan.study.layers import Study

# some customers but few enough that one solve makes the plan hold
MILD = dict(customer_share=0.5, visits_per_customer_per_year=30.0, max_dist_km=30.0,
            budget_cny=1.2e6, max_open=None, max_close=None, min_share_outside_ring=None,
            districts={}, time_limit_s=60.0, mip_gap=1e-6)


@pytest.fixture
def gpkg() -> Path:
    return tiny_gpkg()


@pytest.fixture
def study() -> Study:
    return tiny_study()


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """The middle point of the shared budget sweep, as a plan folder."""
    plan = budget_sweep().runs[1].plan
    assert plan is not None
    folder = tmp_path_factory.mktemp("stress-plan") / "plan"
    write_plan(plan, folder)
    return plan, folder


@pytest.fixture(scope="module")
def mild(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """A plan with more customers (waits that react to demand)."""
    plan = make_plan(tiny_study(), load_scenario().replace(**MILD), year=2020)
    folder = tmp_path_factory.mktemp("stress-mild") / "plan"
    write_plan(plan, folder)
    return plan, folder


def test_stress_base_reproduces_kpis(planned: tuple[Plan, Path], study: Study) -> None:
    plan, folder = planned
    res = stress_plan(folder, study, cases=["base"], optimum=False)
    (case,) = res.cases
    assert case.fixed == plan.kpis["behaviour"]["after"]  # exactly, every figure
    costs = plan.kpis["costs"]
    sc = quiet(budget_cny=1.2e6)
    assert case.fixed_cost_cny_per_year == pytest.approx(
        costs["opex_after_cny_per_year"] + costs["oneoff_spend_cny"] / sc.amortisation_years
        + costs["travel_after_cny_per_year"], abs=1.0)  # nobody unserved: no penalty
    assert (res.rule, res.scope, res.year) == ("choice", "city", 2020)
    assert case.regret is None and case.own is None


@pytest.mark.slow
def test_demand_moves_the_fixed_plan(mild: tuple[Plan, Path], study: Study) -> None:
    _, folder = mild
    res = stress_plan(folder, study, cases=["low", "base", "high"], optimum=False)
    waits = [c.fixed["counter_mean_wait_min"] for c in res.cases]
    served = [c.fixed["served_per_h"] for c in res.cases]
    # fewer visits and more of them at terminals: shorter counter waits, fewer customers
    assert waits[0] < waits[1] < waits[2]
    assert served[0] < served[1] < served[2]


def test_cases_from_the_scenario() -> None:
    sc = scenario_from_dict({"uncertainty": {"online": {"channel_shift": 0.2},
                                             "low": {"visit_frequency": 0.8}}})
    assert scenario_from_dict(scenario_to_dict(sc)) == sc
    cases = {c.name: c for c in demand_cases(sc)}
    assert list(cases) == ["low", "base", "high", "online"]
    assert cases["low"] == DemandCase("low", visit_frequency=0.8)  # the scenario's wins
    assert cases["high"] == BUILTIN_CASES["high"]
    moved = cases["online"].apply(sc)
    assert moved.smart_share == pytest.approx(sc.smart_share + 0.2)
    with pytest.raises(NetplanError, match=r"unknown demand case\(s\) 'hgh' \(did you mean "
                                           r"'high'\?\); known cases: low, base, high"):
        demand_cases(sc, ["hgh"])
    with pytest.raises(NetplanError, match=r"demand case 'up' gives an invalid scenario: "
                                           r"demand.smart_share must be in \[0, 1\)"):
        DemandCase("up", channel_shift=0.9).apply(sc)


def test_cli_refuses_unknown_case(planned: tuple[Plan, Path], gpkg: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, folder = planned
    before = snapshot(folder.parent)
    res = run_cli(["stress", folder, "--data", gpkg, "--demand-scenarios", "low,medium"],
                  cwd=folder.parent, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 1
    assert "unknown demand case(s) 'medium'" in res.err and "Traceback" not in res.err
    assert snapshot(folder.parent) == before


@pytest.mark.slow
def test_regret_against_each_case_optimum(mild: tuple[Plan, Path], study: Study) -> None:
    _, folder = mild
    res = stress_plan(folder, study, cases=["low", "base", "high"])
    by = {c.case.name: c for c in res.cases}
    # under its own scenario the plan is its own optimum (same model, same solve)
    assert by["base"].regret is not None
    assert all(v == 0 for v in by["base"].regret.values())
    for c in res.cases:
        assert c.own is not None and c.regret is not None
        assert c.regret["cost_cny_per_year"] == pytest.approx(
            c.fixed_cost_cny_per_year - (c.own_cost_cny_per_year or 0.0))
