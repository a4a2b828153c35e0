"""Known-answer tests of the Lagrangian branch and bound over the sites
(netplan/optimize/lagrange_bnb.py): tiny capacitated instances against brute force."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.optimize import linprog

from netplan.optimize import capacitated_facility_location, p_median
from netplan.optimize.build import _build
from netplan.optimize.highs import _check_point
from netplan.optimize.lagrange import (
    LagrangeResult,
    _evaluate,
    _structure,
    lagrangian,
    plan_from_sites,
    plan_vector,
)
from netplan.optimize.lagrange_bnb import bnb_applies, lagrangian_bnb
from netplan.optimize.problem import FacilityProblem

Instance = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                 NDArray[np.float64]]


def _instance(seed: int, m: int, n: int, *, equal: bool) -> Instance:
    rng = np.random.default_rng(seed)
    zones, sites = rng.random((n, 2)), rng.random((m, 2))
    demand = rng.integers(5, 30, n).astype(float)
    dist = np.linalg.norm(zones[:, None, :] - sites[None, :, :], axis=2)
    cost = np.round(100 * dist * demand[:, None], 1)
    total = demand.sum()
    caps = (np.full(m, round(total / 3.5)) if equal
            else rng.integers(int(total / 6), int(total / 2.5), m).astype(float))
    fixed = rng.integers(150, 400, m).astype(float)
    return cost, demand, caps, fixed


def _problem(cost: NDArray[np.float64], demand: NDArray[np.float64],
             caps: NDArray[np.float64], fixed: NDArray[np.float64]) -> FacilityProblem:
    m = cost.shape[1]
    return FacilityProblem(demand=demand, cost=cost, opt_site=np.arange(m),
                           opt_capacity=caps, opt_cost=fixed)


def _brute_force(cost: NDArray[np.float64], demand: NDArray[np.float64],
                 caps: NDArray[np.float64], fixed: NDArray[np.float64]) -> float:
    """The optimum over every open set: fixed costs plus a transportation LP."""
    n, m = cost.shape
    best = math.inf
    for k in range(1, m + 1):
        for sites in itertools.combinations(range(m), k):
            s = list(sites)
            if caps[s].sum() < demand.sum() - 1e-9:
                continue
            a_eq = np.kron(np.eye(n), np.ones(k))
            a_ub = np.kron(np.ones(n), np.eye(k)) * np.repeat(demand, k)[None, :]
            res = linprog(cost[:, s].ravel(), A_ub=a_ub, b_ub=caps[s], A_eq=a_eq,
                          b_eq=np.ones(n), bounds=(0, 1), method="highs")
            if res.status == 0:
                best = min(best, float(fixed[s].sum() + res.fun))
    return best


def _weak_root(p: FacilityProblem) -> LagrangeResult:
    """A deliberately weak root: the first multipliers (each zone's cheapest cost) and the
    plan with every site open, so the search has to branch."""
    s = _structure(p)
    lam = np.asarray(p.cost.min(axis=1).toarray()).ravel()
    sub = _evaluate(s, lam)
    plan = plan_from_sites(p, s, sub.site_opt, np.ones(p.n_sites, dtype=bool),
                           sub.site_value)
    assert plan is not None
    return LagrangeResult(bound=sub.value, lam=lam, site_value=sub.site_value, plan=plan,
                          iterations=1, seconds=0.0)


@pytest.mark.parametrize(("seed", "equal"), [(1, True), (2, False), (3, True), (4, False)])
def test_exact_search_reaches_the_optimum(seed: int, equal: bool) -> None:
    cost, demand, caps, fixed = _instance(seed, 7, 16, equal=equal)
    p = _problem(cost, demand, caps, fixed)
    assert bnb_applies(p)
    opt = _brute_force(cost, demand, caps, fixed)
    root = _weak_root(p)
    assert root.bound <= opt + 1e-6
    bb = lagrangian_bnb(p, root, deadline=time.perf_counter() + 30.0, mip_gap=0.0)
    assert bb.open_nodes == 0
    assert bb.nodes > 1 or seed != 2  # seed 2 branches (7 nodes); others fix every site
    assert bb.plan is not None
    mdl = _build(p)
    assert _check_point(mdl, plan_vector(mdl, bb.plan))  # the plan is feasible
    assert bb.bound <= opt + 1e-6 * opt  # a valid bound
    assert bb.plan.objective == pytest.approx(opt, rel=1e-7)  # finished: proven optimal
    assert bb.bound == pytest.approx(opt, rel=1e-7)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_gap_search_bound_is_valid_and_within_the_gap(seed: int) -> None:
    cost, demand, caps, fixed = _instance(seed, 8, 14, equal=seed % 2 == 1)
    p = _problem(cost, demand, caps, fixed)
    opt = _brute_force(cost, demand, caps, fixed)
    bb = lagrangian_bnb(p, _weak_root(p), deadline=time.perf_counter() + 30.0,
                        mip_gap=0.02)
    assert bb.plan is not None and bb.open_nodes == 0
    assert bb.bound <= opt + 1e-6 * opt
    assert bb.plan.objective >= opt - 1e-6 * opt
    assert bb.plan.objective - bb.bound <= 0.02 * bb.plan.objective + 1e-6


def test_stopped_search_keeps_a_valid_bound() -> None:
    cost, demand, caps, fixed = _instance(8, 8, 18, equal=False)
    p = _problem(cost, demand, caps, fixed)
    opt = _brute_force(cost, demand, caps, fixed)
    root = _weak_root(p)
    bb = lagrangian_bnb(p, root, deadline=time.perf_counter() - 1.0, mip_gap=0.0)
    assert bb.nodes == 0 and bb.bound == pytest.approx(root.bound)
    for steps in (3, 10):  # a few nodes only: open nodes bound what they hold
        res = lagrangian(p, None, deadline=time.perf_counter() + 0.05 * steps, mip_gap=0.0)
        bb = lagrangian_bnb(p, res, deadline=time.perf_counter() + 0.05, mip_gap=0.0)
        assert res.bound <= bb.bound <= opt + 1e-6 * opt


def test_solve_end_to_end_matches_brute_force() -> None:
    cost, demand, caps, fixed = _instance(9, 7, 20, equal=True)
    opt = _brute_force(cost, demand, caps, fixed)
    res = capacitated_facility_location(cost, demand, caps, fixed, time_limit_s=20.0,
                                        mip_gap=0.0)
    sol = res.solution
    assert sol.bound_source in ("lagrangian", "lagrangian-bnb", "highs")
    assert res.objective == pytest.approx(opt, rel=1e-6)
    assert sol.best_bound <= opt + 1e-6 * opt


def test_applies_to_plain_multiple_sourcing_capacitated_models_only() -> None:
    cost, demand, caps, fixed = _instance(10, 6, 12, equal=True)
    m = cost.shape[1]
    assert bnb_applies(_problem(cost, demand, caps, fixed))
    assert not bnb_applies(FacilityProblem(
        demand=demand, cost=cost, opt_site=np.arange(m), opt_capacity=caps,
        opt_cost=fixed, single_source=True))
    assert not bnb_applies(_problem(cost, demand, np.full(m, np.inf), fixed))
    assert not bnb_applies(FacilityProblem(
        demand=demand, cost=cost, opt_site=np.arange(m), opt_capacity=caps,
        opt_cost=fixed, n_sites_exact=3))
    assert p_median(cost, 3, time_limit_s=5.0).solution.bound_source != "lagrangian-bnb"


def test_a_loose_gap_reports_the_discarded_bound_not_the_plan() -> None:
    cost, demand, caps, fixed = _instance(11, 6, 12, equal=True)
    p = _problem(cost, demand, caps, fixed)
    opt = _brute_force(cost, demand, caps, fixed)
    root = _weak_root(p)  # its plan (every site open) costs well above the optimum
    assert root.plan is not None and root.plan.objective > 1.01 * opt
    # the threshold halfway between the root's bound and the optimum: the root node is
    # searched, and its bound (not the plan's cost) is what proves the gap
    gap = 1.0 - 0.5 * (root.bound + opt) / root.plan.objective
    bb = lagrangian_bnb(p, root, deadline=time.perf_counter() + 10.0, mip_gap=gap)
    assert bb.nodes >= 1 and bb.open_nodes == 0
    assert bb.plan is not None and bb.plan.objective > opt * (1 + 1e-6)
    assert root.bound <= bb.bound <= opt + 1e-6 * opt
