"""Robust plans: the block (two-stage) model against brute force, one block = the plain
model, and `netplan plan --robust` on the tiny study."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest_reliability import run_cli, write_scenario
from conftest_whatif import tiny_gpkg, tiny_study

from netplan._errors import NetplanError
from netplan.model.scenario import load_scenario
from netplan.optimize import FacilityProblem, model_size, solve
from netplan.optimize.build import _build
from netplan.optimize.lagrange import lagrangian_applies
from netplan.planning import problem as planner
from netplan.planning.plan import read_plan
from netplan.planning.robust import blocked_problem, robust_plan
from netplan.planning.stress import demand_cases

# some customers but few enough that one solve makes the plan hold (as test_stress.MILD)
MILD: dict[str, object] = dict(
    customer_share=0.5, visits_per_customer_per_year=30.0, max_dist_km=30.0,
    budget_cny=1.2e6, max_open=None, max_close=None, min_share_outside_ring=None,
    districts={}, time_limit_s=60.0, mip_gap=1e-6)

# --- the optimiser: a toy two-block problem -----------------------------------------------
# 3 sites (one option each), 3 customer zones; block 0 = low demand, block 1 = high demand
# (its zones are copies of the same customers with twice the demand and dearer travel).
N_SITES, N_ZONES = 3, 3
OPT_COST = np.array([10.0, 14.0, 9.0])
CAP = np.array([[10.0, 20.0, 6.0],  # block 0
                [12.0, 24.0, 7.0]])  # block 1: a case may serve more per outlet
DEMAND = np.array([[3.0, 4.0, 2.0], [6.0, 8.0, 4.0]])
TRAVEL = np.array([[1.0, 3.0, 2.0], [2.0, 1.0, 4.0], [3.0, 2.0, 1.0]])  # zone x site
UNSERVED = 40.0


def _toy(objective: str = "expected", weights: tuple[float, float] = (1.0, 1.0),
         single_source: bool = True) -> FacilityProblem:
    cost = np.vstack([TRAVEL * DEMAND[0][:, None], 1.5 * TRAVEL * DEMAND[1][:, None]])
    return FacilityProblem(
        demand=DEMAND.ravel(), cost=cost, opt_site=np.arange(N_SITES),
        unserved_cost=np.r_[DEMAND[0], 1.5 * DEMAND[1]] * UNSERVED,
        opt_capacity=CAP.min(axis=0), opt_cost=OPT_COST, single_source=single_source,
        zone_block=np.repeat([0, 1], N_ZONES), block_weight=np.asarray(weights), block_capacity=CAP,
        block_objective=objective)


def _brute_force(objective: str, weights: tuple[float, float]) -> float:
    """Every set of open sites, every single-source assignment of every block."""
    cost = [TRAVEL * DEMAND[0][:, None], 1.5 * TRAVEL * DEMAND[1][:, None]]
    unserved = [DEMAND[0] * UNSERVED, 1.5 * DEMAND[1] * UNSERVED]
    best = np.inf
    for open_ in itertools.product((0, 1), repeat=N_SITES):
        fixed = float(OPT_COST @ np.array(open_))
        block_cost = []
        for b in range(2):
            best_b = np.inf
            for choice in itertools.product(range(-1, N_SITES), repeat=N_ZONES):
                load = np.zeros(N_SITES)
                c = 0.0
                ok = True
                for i, j in enumerate(choice):
                    if j < 0:
                        c += unserved[b][i]
                    elif not open_[j]:
                        ok = False
                    else:
                        load[j] += DEMAND[b][i]
                        c += cost[b][i, j]
                if ok and (load <= CAP[b] + 1e-9).all():
                    best_b = min(best_b, c)
            block_cost.append(best_b)
        total = fixed + (max(block_cost) if objective == "worst"
                         else weights[0] * block_cost[0] + weights[1] * block_cost[1])
        best = min(best, total)
    return best


@pytest.mark.parametrize(("objective", "weights"), [
    ("expected", (0.5, 0.5)), ("expected", (0.2, 0.8)), ("worst", (1.0, 1.0))])
def test_block_model_is_the_brute_force_optimum(objective: str,
                                                weights: tuple[float, float]) -> None:
    sol = solve(_toy(objective, weights), mip_gap=0.0)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(_brute_force(objective, weights), abs=1e-6)


def test_block_known_answers_and_capacity_per_block() -> None:
    # known answers by hand: sites 0 and 1 open (fixed 24); the low block routes zone 0 to
    # site 0 and zones 1, 2 to site 1 (travel 3 + 4 + 4 = 11), the high block likewise
    # (9 + 12 + 12 = 33): expected 24 + (11 + 33) / 2 = 46, worst 24 + 33 = 57. Planned
    # for the low block alone, site 0 suffices (capacity 10 >= 9): 10 + 3 + 8 + 6 = 27.
    exp = solve(_toy("expected", (0.5, 0.5)), mip_gap=0.0)
    worst = solve(_toy("worst"), mip_gap=0.0)
    low_only = solve(_toy("expected", (1.0, 0.0)), mip_gap=0.0)
    assert (exp.objective, worst.objective, low_only.objective) == pytest.approx((46, 57, 27))
    assert exp.site_option.tolist() == worst.site_option.tolist() == [0, 1, -1]
    assert low_only.site_option.tolist() == [0, -1, -1]
    for sol in (exp, worst):
        y = sol.site_option >= 0
        d = DEMAND.ravel()
        for b in range(2):
            zones = np.arange(b * N_ZONES, (b + 1) * N_ZONES)
            keep = np.isin(sol.assign_zone, zones)
            load = np.bincount(sol.assign_site[keep], weights=(
                d[sol.assign_zone] * sol.assign_share)[keep], minlength=N_SITES)
            assert (load <= CAP[b] * y + 1e-7).all()


def test_one_block_is_the_plain_model() -> None:
    p = _toy()
    plain = FacilityProblem(demand=DEMAND[1], cost=1.5 * TRAVEL * DEMAND[1][:, None],
                            opt_site=np.arange(N_SITES), unserved_cost=60 * DEMAND[1],
                            opt_capacity=CAP[1], opt_cost=OPT_COST, balance_weight=0.3,
                            balance_threshold=0.5, warm_start=np.array([0, -1, -1]))
    one = replace(plain, zone_block=np.zeros(N_ZONES, np.int64), block_weight=np.ones(1),
                  block_capacity=CAP[1:])
    a, b = _build(plain), _build(one)
    for f in ("c", "col_lo", "col_hi", "row_lo", "row_hi", "integer"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert (a.a != b.a).nnz == 0 and a.offset == b.offset
    assert solve(one).objective == solve(plain).objective
    assert p.n_blocks == 2 and plain.n_blocks == 1
    assert model_size(p).rows > model_size(replace(plain, balance_weight=0.0)).rows


def test_block_fields_are_checked() -> None:
    with pytest.raises(NetplanError, match="block_weight: has 3 entries"):
        replace(_toy(), block_weight=np.ones(3))
    with pytest.raises(NetplanError, match=r"block_capacity: expected shape \(2, 3\)"):
        replace(_toy(), block_capacity=CAP[:1])
    with pytest.raises(NetplanError, match="block_objective: expected 'expected' or 'worst'"):
        replace(_toy(), block_objective="mean")
    with pytest.raises(NetplanError, match="warm_start: is not supported with"):
        replace(_toy("worst"), warm_start=np.array([0, -1, -1]))
    assert lagrangian_applies(_toy()) is not None  # switched off for blocks
    assert lagrangian_applies(replace(_toy(), zone_block=np.zeros(6, np.int64),
                                      block_weight=np.ones(1), block_capacity=None)) is None


def test_blocks_through_pulp() -> None:
    pytest.importorskip("pulp")
    p = _toy("worst", single_source=False)
    assert solve(p, backend="pulp", solver="highs", mip_gap=0.0).objective == pytest.approx(
        solve(p, mip_gap=0.0).objective, rel=1e-7)


# --- the planning side: the tiny study -------------------------------------------------


def test_robust_plan_on_the_tiny_study() -> None:
    study = tiny_study()
    sc = load_scenario().replace(**MILD)
    plan = robust_plan(study, sc, year=2020, objective="worst")
    rob = plan.kpis["robust"]
    assert rob["objective"] == "worst" and not rob["holds_loop"]
    assert [c["case"] for c in rob["cases"]] == ["low", "base", "high"]
    base = rob["cases"][1]
    assert base["service"] == plan.kpis["behaviour"]["after"]  # the same measurement
    # the model's worst case cost is no worse than the plain base plan's in the same model
    todo = demand_cases(sc, ["low", "base", "high"])
    models = [planner.build_model(study, c.apply(sc), year=2020) for c in todo]
    rob_p = blocked_problem(models[1], models, np.full(3, 1 / 3), "worst")
    plain = solve(models[1].problem, mip_gap=1e-9).site_option  # the plain base plan
    on = plain >= 0
    other = np.ones(rob_p.n_opts, bool)
    other[plain[on]] = False
    fixed_p = replace(rob_p, site_locked=on, site_forbidden=~on,
                      opt_tag=np.where(other, 0, -1), tag_max=np.array([0]))
    robust_obj = solve(rob_p, mip_gap=1e-9).objective
    assert robust_obj == pytest.approx(plan.kpis["solver"]["objective"], rel=1e-6)
    assert robust_obj <= solve(fixed_p, mip_gap=1e-9).objective + 1e-6


def test_cli_robust_options_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    gpkg = tiny_gpkg()
    cases = [
        (["--robust-objective", "worst"], "--robust-objective needs --robust"),
        (["--robust", "--robust-objective", "mean"], "unknown robust objective 'mean'"),
        (["--robust", "--district", "all"], "--district all is not supported"),
        (["--robust", "--case-weights", "1,2"], "2 case weight"),
        (["--robust", "--demand-scenarios", "low,,high"], "give case names separated"),
    ]
    for args, msg in cases:
        res = run_cli(["plan", "--data", gpkg, *args], cwd=tmp_path, monkeypatch=monkeypatch,
                      capsys=capsys)
        assert res.code == 2, (args, res)
        assert msg in " ".join(res.err.split()), (args, res.err)


def test_robust_district_plan_round_trips(tmp_path: Path) -> None:
    sc = load_scenario().replace(**MILD)
    plan = robust_plan(tiny_study(), sc, year=2020, district="110101", cases=("low", "high"),
                       objective="worst")
    plan.write(tmp_path / "p")
    kpis = read_plan(tmp_path / "p").kpis  # through the folder and back
    rob = kpis["robust"]
    assert kpis["scope"] == "110101" and rob["objective"] == "worst"
    assert [c["case"] for c in rob["cases"]] == ["low", "high"]
    low, high = (c["service"] for c in rob["cases"])
    assert low["served_per_h"] < high["served_per_h"]  # fewer visits in the low case


@pytest.mark.slow  # writes the map and the report too (about 10 s)
def test_cli_robust_district_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    sc = write_scenario(tmp_path / "tiny.toml")
    res = run_cli(["plan", "--data", tiny_gpkg(), "--scenario", sc, "--year", "2020",
                   "--district", "110101", "--robust",
                   "--demand-scenarios", "low,high", "--robust-objective", "worst",
                   "--out", tmp_path / "p", "--json"], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    rob = read_plan(tmp_path / "p").kpis["robust"]  # through the folder and back
    assert rob["objective"] == "worst" and [c["case"] for c in rob["cases"]] == ["low", "high"]
    low, high = (c["service"] for c in rob["cases"])
    assert low["served_per_h"] < high["served_per_h"]  # fewer visits in the low case
