"""The model's value of fixed decisions (optimize/routing.py): known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from netplan import optimize
from netplan._errors import SolverError
from netplan.model.cost import knn_dist_m
from netplan.optimize.routing import best_routing


def _two_by_two(capacity: float) -> optimize.FacilityProblem:
    """Zones a (demand 3) and b (demand 1); site 0 near a, site 1 near b."""
    cost = sp.csr_array(np.array([[1.0, 10.0], [8.0, 2.0]]))
    return optimize.FacilityProblem(
        demand=np.array([3.0, 1.0]), cost=cost, unserved_cost=np.array([100.0, 100.0]),
        opt_site=np.array([0, 1]), opt_capacity=np.array([capacity, capacity]),
        opt_cost=np.array([5.0, 7.0]))


def test_known_answer_with_both_sites_open() -> None:
    r = best_routing(_two_by_two(10.0), np.array([0, 1]), np.zeros(0, bool))
    # a at site 0 (cost 1), b at site 1 (cost 2), both options run (5 + 7)
    assert r.objective == pytest.approx(1.0 + 2.0 + 5.0 + 7.0)
    assert sorted(zip(r.zone.tolist(), r.site.tolist(), r.share.tolist(), strict=True)) == [
        (0, 0, 1.0), (1, 1, 1.0)]
    assert r.unserved_share.tolist() == [0.0, 0.0]


def test_known_answer_when_capacity_binds() -> None:
    # only site 0 open, room for 2 of the 4 demand units. Per unit of capacity a full
    # share of a saves (100 - 1) / 3 = 33, of b (100 - 8) / 1 = 92: b takes 1 unit, a
    # the other (a third of its demand), the rest of a is left unserved
    r = best_routing(_two_by_two(2.0), np.array([0, -1]), np.zeros(0, bool))
    share = {(int(z), int(s)): float(x) for z, s, x in zip(r.zone, r.site, r.share, strict=True)}
    assert share == pytest.approx({(1, 0): 1.0, (0, 0): 1 / 3})
    assert r.unserved_share == pytest.approx([2 / 3, 0.0])
    assert r.objective == pytest.approx(5.0 + 8.0 + 1 / 3 + 100 * 2 / 3)


def test_a_solved_plan_is_valued_at_most_its_objective() -> None:
    rng = np.random.default_rng(5)
    n_z, n_s = 120, 15
    cost = knn_dist_m(rng.uniform(0, 9_000, (n_z, 2)), rng.uniform(0, 9_000, (n_s, 2)),
                      k=5, max_dist_m=6_000)
    p = optimize.FacilityProblem(
        demand=rng.uniform(1, 4, n_z), cost=cost, unserved_cost=np.full(n_z, 2e4),
        opt_site=np.arange(n_s), opt_capacity=np.full(n_s, 40.0),
        opt_cost=rng.uniform(2e3, 6e3, n_s))
    sol = optimize.solve(p, mip_gap=0.0)
    r = best_routing(p, np.asarray(sol.site_option), np.asarray(sol.relocated))
    # the optimum's own routing is optimal for its decisions
    assert r.objective == pytest.approx(sol.objective, rel=1e-7)
    # and keeps the capacities
    load = np.bincount(r.site, weights=p.demand[r.zone] * r.share, minlength=n_s)
    assert (load <= 40.0 + 1e-6).all()


def test_decisions_that_break_the_model_are_refused() -> None:
    p = _two_by_two(10.0)
    locked = optimize.FacilityProblem(
        demand=p.demand, cost=p.cost, unserved_cost=p.unserved_cost, opt_site=p.opt_site,
        opt_capacity=p.opt_capacity, opt_cost=p.opt_cost,
        site_locked=np.array([True, False]))
    with pytest.raises(SolverError, match="fixed decision"):
        best_routing(locked, np.array([-1, 1]), np.zeros(0, bool))
    with pytest.raises(ValueError, match="site_option"):
        best_routing(p, np.array([0]), np.zeros(0, bool))
    with pytest.raises(ValueError, match="relocated"):
        best_routing(p, np.array([0, 1]), np.ones(3, bool))


def test_zones_that_must_be_served_without_capacity_are_refused() -> None:
    p = _two_by_two(1.0)
    must = optimize.FacilityProblem(
        demand=p.demand, cost=p.cost, unserved_cost=np.array([np.inf, np.inf]),
        opt_site=p.opt_site, opt_capacity=p.opt_capacity, opt_cost=p.opt_cost)
    with pytest.raises(SolverError, match="no routing"):
        best_routing(must, np.array([0, -1]), np.zeros(0, bool))
