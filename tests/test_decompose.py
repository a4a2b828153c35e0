"""The Lagrangian dual by column blocks (netplan.optimize.decompose) and the city bound."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
import scipy.sparse as sp
from test_lagrangian import random_cflp

from netplan.model.scenario import load_scenario
from netplan.model.synthetic import make_study, synthetic_scenario
from netplan.optimize import FacilityProblem, solve
from netplan.optimize import decompose as dc
from netplan.optimize.build import _build, _Model
from netplan.optimize.facility_split import facility_bound, lp_point, split_facility
from netplan.optimize.highs import _new_highs, _pass_model
from netplan.optimize.rens import lp_relaxation
from netplan.planning import city_bound
from netplan.planning import problem as planner
from netplan.planning.city import merge_districts
from netplan.planning.city_bound import METHOD_LP
from netplan.planning.district import run_district
from netplan.planning.limits import district_scenario, split_limits
from netplan.planning.plan import make_plan

YEAR = 2020


def _lp(mdl: _Model) -> float:
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    _pass_model(h, mdl, integer=False)
    h.run()
    return float(h.getInfo().objective_function_value)


def _split(p, n_blocks: int):  # type: ignore[no-untyped-def]
    site_block = np.arange(p.n_sites) % n_blocks
    return split_facility(p, site_block, np.zeros(p.n_zones, np.int64))


@pytest.mark.parametrize(("n_blocks", "seed"), [(2, 0), (3, 1)])
def test_bound_below_mip_and_close_to_lp(n_blocks: int, seed: int) -> None:
    p = random_cflp(120, 12, seed=seed)
    mip = solve(p, mip_gap=0.0).objective
    lp = _lp(_build(p))
    split = _split(p, n_blocks)
    assert split.kinds() == {"zone": p.n_zones}  # every zone may use every site
    res = facility_bound(split, upper=mip, seconds=2.5, max_rounds=400)
    assert res.bound <= lp + 1e-6 * abs(lp)
    assert res.bound <= mip
    assert res.bound > res.start_bound
    assert res.bound >= lp * (1 - 0.01)
    mip_round = dc.integer_round(split.dec, res.pi, seconds=2.0)
    assert res.bound - 1e-6 * abs(lp) <= mip_round <= mip + 1e-6 * abs(mip)


def test_step_is_deflected_where_the_subgradient_turns_back() -> None:
    """Two equality rows ``= 0`` at ``pi = 0``, the blocks' activity (1, 1): the subgradient
    is (-1, -1). After a step along (1, 0) it turns back (g.d = -1), so the direction taken
    is g + 1.5 d = (0.5, -1), and Polyak's step along it is theta (upper - L) / |g'|^2."""
    from types import SimpleNamespace

    dec = SimpleNamespace(link_lo=np.zeros(2), link_hi=np.zeros(2))
    res = [SimpleNamespace(activity=np.array([1.0, 1.0]))]
    st = dc._Ascent(best_pi=np.zeros(2), theta=0.5, direction=np.array([1.0, 0.0]))
    nxt = dc._polyak(dec, np.zeros(2), res, val=10.0, best=10.0, upper=20.0,  # type: ignore[arg-type]
                     st=st)
    assert st.direction is not None
    np.testing.assert_allclose(st.direction, [0.5, -1.0])
    assert nxt is not None
    np.testing.assert_allclose(nxt, 0.5 * 10.0 / 1.25 * np.array([0.5, -1.0]))
    # without a last direction (or when it does not turn back) the step is the plain one
    st0 = dc._Ascent(best_pi=np.zeros(2), theta=0.5)
    nxt0 = dc._polyak(dec, np.zeros(2), res, val=10.0, best=10.0, upper=20.0,  # type: ignore[arg-type]
                      st=st0)
    assert nxt0 is not None
    np.testing.assert_allclose(nxt0, 0.5 * 10.0 / 2.0 * np.array([-1.0, -1.0]))


def _two_formats() -> FacilityProblem:
    """Two sites 100 apart, each with a small (capacity 10, cost 300) and a big format
    (40, 1400); 25 units of demand next to each, 2 units half way. The LP mixes the
    formats (half small, half big: capacity 25 for 850), a plan must run the big one."""
    zx = np.array([1, 2, 3, 4, 5, 95, 96, 97, 98, 99, 50.0])
    d = np.array([5.0] * 10 + [2.0])
    cost = sp.csr_array(np.abs(zx[:, None] - np.array([0.0, 100.0])[None, :]) * d[:, None])
    return FacilityProblem(demand=d, cost=cost, unserved_cost=np.full(11, 1e4),
                           opt_site=np.array([0, 0, 1, 1]),
                           opt_capacity=np.array([10.0, 40.0, 10.0, 40.0]),
                           opt_cost=np.array([300.0, 1400.0, 300.0, 1400.0]))


def test_integer_ascent_passes_the_lp_bound_and_stays_below_the_optimum() -> None:
    p = _two_formats()
    mip = solve(p, mip_gap=0.0).objective
    assert mip == pytest.approx(3050.0)  # both big formats, the middle zone's 2 units: 50
    lp = _lp(_build(p))
    split = split_facility(p, np.array([0, 1]), np.zeros(p.n_zones, np.int64))
    res = facility_bound(split, upper=mip, seconds=2.0, max_rounds=200)
    assert res.bound <= lp + 1e-9 * lp
    one = dc.integer_round(split.dec, res.pi, seconds=2.0, mip_gap=0.0)
    asc = dc.dual_ascent(split.dec, upper=mip, pi0=res.pi, seconds=5.0, max_rounds=20,
                         integer=True, block_seconds=1.0, mip_gap=0.0, step=0.5)
    # one integer round at the LP's multipliers passes the LP bound; the ascent climbs
    # most of the way to the optimum (3,032 in 20 rounds when measured), never past it
    assert one > lp + 0.2 * (mip - lp)
    assert asc.bound >= one
    assert asc.bound > lp + 0.8 * (mip - lp)
    assert asc.bound <= mip + 1e-9 * mip


@pytest.mark.parametrize(("n_blocks", "seed"), [(2, 4), (3, 5)])
def test_lp_point_prices_the_blocks_at_the_lp_bound(n_blocks: int, seed: int) -> None:
    """At the LP's duals of the linking rows the priced LP blocks add up to the LP bound
    (LP duality), which the subgradient ascent only approaches; the integer blocks there
    lie between the LP bound and the optimum."""
    p = random_cflp(120, 12, seed=seed)
    mip = solve(p, mip_gap=0.0).objective
    lp = _lp(_build(p))
    split = _split(p, n_blocks)
    got = lp_relaxation(_build(p), deadline=time.perf_counter() + 30.0, threads=1)
    assert got is not None
    res = lp_point(split, got)
    assert res.stop == "lp" and res.rounds == 0
    assert res.bound == pytest.approx(lp, rel=1e-7)
    assert res.pi.shape == split.dec.link_rows.shape
    at_pi = dc.dual_ascent(split.dec, upper=mip, pi0=res.pi, seconds=5.0, max_rounds=1)
    assert at_pi.start_bound == pytest.approx(lp, rel=1e-6)
    one = dc.integer_round(split.dec, res.pi, seconds=2.0, mip_gap=0.0)
    assert lp - 1e-6 * abs(lp) <= one <= mip + 1e-6 * abs(mip)


def test_lp_point_says_when_the_model_has_no_solution() -> None:
    p = _two_formats()
    p = dataclasses.replace(p, unserved_cost=np.full(p.n_zones, np.inf),
                            opt_capacity=np.array([1.0, 2.0, 1.0, 2.0]))  # 52 units, 4 room
    split = split_facility(p, np.array([0, 1]), np.zeros(p.n_zones, np.int64))
    got = lp_relaxation(_build(p), deadline=time.perf_counter() + 30.0, threads=1)
    assert got is not None and got.status == "infeasible"
    res = lp_point(split, got)
    assert res.stop == "infeasible" and res.bound == -math.inf
    # no time: no result, never a weaker figure
    assert lp_relaxation(_build(_two_formats()), deadline=time.perf_counter() - 1.0,
                         threads=1) is None


def test_one_block_is_the_lp() -> None:
    p = random_cflp(60, 8, seed=2)
    mdl = _build(p)
    dec = dc.split_blocks(mdl.a, mdl.c, mdl.offset, mdl.col_lo, mdl.col_hi, mdl.row_lo,
                          mdl.row_hi, np.zeros(mdl.n_cols, np.int64))
    assert dec.link_rows.size == 0
    res = dc.dual_ascent(dec, seconds=5.0, max_rounds=3)
    assert res.bound == pytest.approx(_lp(mdl), rel=1e-7)
    assert res.stop == "step"  # nothing to relax: one round


def test_safe_dual_bound_known_answer() -> None:
    # min x1 + 2 x2 : x1 + x2 = 1 (equality), 0 <= x <= 1 -> 1
    a = sp.csc_array(np.array([[1.0, 1.0]]))
    c, lo, hi = np.array([1.0, 2.0]), np.zeros(2), np.ones(2)
    rl, rh = np.array([1.0]), np.array([1.0])
    assert dc.dual_bound(a, c, lo, hi, rl, rh, np.array([1.0])) == pytest.approx(1.0)
    assert dc.dual_bound(a, c, lo, hi, rl, rh, np.array([0.0])) == pytest.approx(0.0)
    # any y: a bound (here y = 3: 3 + (1-3)*1 + (2-3)*1 = 0)
    assert dc.dual_bound(a, c, lo, hi, rl, rh, np.array([3.0])) <= 1.0
    # a one-sided row x1 + x2 <= 1 (so y <= 0): a positive y is projected to 0
    assert dc.dual_bound(a, c, lo, hi, np.array([-np.inf]), np.array([1.0]),
                         np.array([5.0])) == pytest.approx(0.0)
    # a reduced cost pointing at an infinite column bound proves nothing
    assert dc.dual_bound(a, c, lo, np.array([1.0, np.inf]), rl, rh, np.array([3.0])) == -math.inf


def test_ranged_and_equality_rows_take_the_right_signs() -> None:
    lo = np.array([1.0, -np.inf, 0.0, 2.0])
    hi = np.array([1.0, 4.0, np.inf, 5.0])
    pi = dc._admissible(np.array([-2.0, 3.0, -1.0, -7.0]), lo, hi)
    assert pi.tolist() == [-2.0, 0.0, 0.0, -7.0]  # equality and ranged rows: free
    # at pi = 0 a ranged row pushes on its violated side only
    g = dc._subgradient(np.zeros(4), np.array([1.0, 6.0, -1.0, 3.0]), lo, hi)
    assert g.tolist() == [0.0, -2.0, 1.0, 0.0]


def test_linking_rows() -> None:
    a = sp.csr_array(np.array([[1.0, 0, 1], [1.0, 1, 0], [0, 0, 0]]))
    link, row_block = dc.linking_rows(a, np.array([0, 0, 1]))
    assert link.tolist() == [0]
    assert row_block.tolist() == [-1, 0, -1]


def test_map_blocks_hook_is_used() -> None:
    p = random_cflp(40, 6, seed=3)
    split = _split(p, 2)
    calls: list[int] = []

    def mapper(fn, blocks, pi, limit):  # type: ignore[no-untyped-def]
        calls.append(len(blocks))
        return [fn(b, pi, limit) for b in blocks]

    res = facility_bound(split, upper=None, seconds=3.0, max_rounds=5, map_blocks=mapper)
    assert calls == [2] * res.rounds


# --- the city bound of merged district plans ------------------------------------------------


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    return make_study(450, 48, 3, seed=13)


@pytest.fixture(scope="module")
def scenario(study):  # type: ignore[no-untyped-def]
    return synthetic_scenario(study, load_scenario()).replace(
        max_open=6, max_close=5, budget_cny=40_000_000.0)


@pytest.mark.slow  # district runs and an exact whole-city solve: minutes on a loaded machine
def test_merged_plan_reports_a_valid_city_bound(study, scenario, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lim = split_limits(study, scenario, year=YEAR)
    runs = {ad: run_district(study, district_scenario(scenario, lim[ad]), ad, year=YEAR)
            for ad in lim}
    merged = merge_districts(study, scenario, runs, year=YEAR, limits=lim, bound_s=3.0)
    s = merged.kpis["solver"]
    cb = merged.kpis["coordination"]["city_bound"]
    assert s["best_bound"] is not None and s["gap"] is not None
    assert s["best_bound"] == cb["bound"] <= s["objective"]
    assert s["gap"] >= 0
    assert cb["blocks"] == 3 and cb["linking_rows"].get("zone", 0) > 0
    # a model this small: the whole-city LP first, its bound exactly the LP relaxation's
    lp = _lp(_build(planner.build_model(study, scenario, year=YEAR, adcode=None).problem))
    assert cb["method"] == METHOD_LP and cb["rounds"] == 0 and cb["stop"] == "lp"
    assert cb["lp_bound"] == pytest.approx(lp, rel=1e-6)
    assert cb["bound"] >= cb["lp_bound"]
    whole = make_plan(study, scenario, year=YEAR, mip_gap=0.0)
    assert cb["bound"] <= whole.kpis["solver"]["objective"] * (1 + 1e-9)
    # a model too large for the whole LP: the district LP blocks' ascent, below the LP
    monkeypatch.setattr(city_bound, "WHOLE_LP_NNZ", 0)
    asc = merge_districts(study, scenario, runs, year=YEAR, limits=lim, bound_s=3.0)
    cb2 = asc.kpis["coordination"]["city_bound"]
    assert cb2["method"] == city_bound.METHOD and cb2["rounds"] >= 1
    assert cb2["lp_bound"] is not None and cb2["lp_bound"] <= lp * (1 + 1e-6)
    nob = merge_districts(study, scenario, runs, year=YEAR, limits=lim)
    assert nob.kpis["solver"]["best_bound"] is None


def test_a_task_on_a_failed_cluster_runs_here() -> None:
    """DaskBlocks.call runs a task on a worker; when the cluster fails it warns, runs the
    task in this process and stays there (the merged plan must not be lost)."""

    class Future:
        def __init__(self, value: object) -> None:
            self.value = value

        def result(self) -> object:
            return self.value

    class Client:
        def __init__(self, fail: bool) -> None:
            self.fail, self.calls = fail, 0

        def nthreads(self) -> dict[str, int]:
            return {"w": 1}

        def submit(self, fn, *args, pure: bool = True):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.fail:
                raise OSError("worker lost")
            return Future(("remote", fn(*args)))

    ok = city_bound.DaskBlocks(Client(fail=False))
    assert ok.call(lambda a, b: a + b, 2, 3) == ("remote", 5)
    client = Client(fail=True)
    broken = city_bound.DaskBlocks(client)
    assert broken.call(lambda a, b: a + b, 2, 3) == 5 and broken.broken
    assert broken.call(lambda a: a, 7) == 7 and client.calls == 1  # no second try
