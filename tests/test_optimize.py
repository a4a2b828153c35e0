"""Tests of netplan.optimize: brute force on small random instances, hand-solved cases,
OR-Library optima, infeasibility diagnosis, time limits and model size."""

from __future__ import annotations

import itertools
import math
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from netplan._errors import InfeasibleError, NetplanError, SolverError
from netplan.optimize import (
    FacilityProblem,
    capacitated_facility_location,
    highs,
    maximal_covering,
    model_size,
    p_median,
    solve,
    uncapacitated_facility_location,
)
from netplan.optimize.build import _build
from netplan.optimize.highs import _check_point, _proven_bound, _Raw, _SearchSwitch, _warm_vector
from netplan.optimize.instances import read_orlib_cap, read_orlib_pmed
from netplan.optimize.search import _neighbourhoods, _search

ORLIB = Path(__file__).parent / "data" / "orlib"
BACKENDS = [("highs", "direct"), ("highs", "pulp"), ("cbc", "pulp")]
EXACT = {"mip_gap": 0.0}


def rel_close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def sparse_knn(cost: np.ndarray, k: int) -> sp.csr_array:
    """Keep the k cheapest sites of each zone (as the bank path does)."""
    n, m = cost.shape
    cols = np.argsort(cost, axis=1)[:, :k]
    rows = np.repeat(np.arange(n), k)
    return sp.csr_array((cost[rows, cols.ravel()], (rows, cols.ravel())), shape=(n, m))


# ------------------------------------------------------------------------------------------
# classic problems against brute force
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("solver", "backend"), BACKENDS)
def test_p_median_brute_force(seed: int, solver: str, backend: str) -> None:
    rng = np.random.default_rng(seed)
    n, m, p = 14, 8, 3
    cost = rng.uniform(1, 10, (n, m))
    w = rng.uniform(0.5, 2, n)
    best = min(
        ((w * cost[:, list(s)].min(axis=1)).sum(), s) for s in itertools.combinations(range(m), p)
    )
    res = p_median(cost, p, weights=w, solver=solver, backend=backend, k=2, **EXACT)
    assert rel_close(res.objective, best[0])
    assert tuple(res.open) == best[1]
    assert res.status == "optimal" and res.gap == 0.0
    # the k = 2 start is too small for some zones: the exactness loop had to grow it
    assert np.all(res.assignment == np.asarray(best[1])[cost[:, best[1]].argmin(axis=1)])


def test_p_median_sparse_input_brute_force() -> None:
    rng = np.random.default_rng(7)
    n, m, p = 12, 7, 3
    cost = rng.uniform(1, 10, (n, m))
    allowed = rng.random((n, m)) < 0.6
    allowed[np.arange(n), rng.integers(0, m, n)] = True
    csr = sp.csr_array(np.where(allowed, cost, 0.0))
    best = math.inf
    for s in itertools.combinations(range(m), p):
        sub = np.where(allowed[:, list(s)], cost[:, list(s)], np.inf).min(axis=1)
        best = min(best, sub.sum())
    assert math.isfinite(best)
    res = p_median(csr, p, **EXACT)
    assert rel_close(res.objective, best)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("solver", "backend"), BACKENDS)
def test_uflp_brute_force(seed: int, solver: str, backend: str) -> None:
    rng = np.random.default_rng(100 + seed)
    n, m = 12, 7
    cost = rng.uniform(1, 20, (n, m))
    fixed = rng.uniform(5, 30, m)
    best = min(
        (cost[:, list(s)].min(axis=1).sum() + fixed[list(s)].sum(), s)
        for r in range(1, m + 1)
        for s in itertools.combinations(range(m), r)
    )
    res = uncapacitated_facility_location(cost, fixed, solver=solver, backend=backend, k=2,
                                          **EXACT)
    assert rel_close(res.objective, best[0])
    assert tuple(res.open) == best[1]


def transport_cost(cost: np.ndarray, demand: np.ndarray, cap: np.ndarray) -> float:
    """Split-demand assignment cost for a fixed open set (LP), inf if infeasible."""
    n, m = cost.shape
    # x[i, j] share; sum_j x = 1; sum_i d_i x_ij <= cap_j
    a_eq = np.kron(np.eye(n), np.ones(m))
    a_ub = np.zeros((m, n * m))
    for j in range(m):
        a_ub[j, j::m] = demand
    r = linprog(cost.ravel(), A_ub=a_ub, b_ub=cap, A_eq=a_eq, b_eq=np.ones(n), bounds=(0, 1),
                method="highs")
    return float(r.fun) if r.status == 0 else math.inf


def random_cflp(seed: int, n: int, m: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    demand = rng.integers(1, 10, n).astype(float)
    cap = rng.uniform(0.25, 0.6, m) * demand.sum()
    fixed = rng.uniform(10, 60, m)
    cost = rng.uniform(1, 10, (n, m)) * demand[:, None]
    return cost, demand, cap, fixed


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("solver", "backend"), BACKENDS)
def test_cflp_split_brute_force(seed: int, solver: str, backend: str) -> None:
    cost, demand, cap, fixed = random_cflp(seed, 8, 5)
    m = cap.size
    best = min(
        (transport_cost(cost[:, list(s)], demand, cap[list(s)]) + fixed[list(s)].sum(), s)
        for r in range(1, m + 1)
        for s in itertools.combinations(range(m), r)
    )
    res = capacitated_facility_location(cost, demand, cap, fixed, solver=solver,
                                        backend=backend, **EXACT)
    assert rel_close(res.objective, best[0])
    assert tuple(res.open) == best[1]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("solver", "backend"), BACKENDS)
def test_cflp_single_source_brute_force(seed: int, solver: str, backend: str) -> None:
    cost, demand, cap, fixed = random_cflp(10 + seed, 6, 4)
    n, m = cost.shape
    assign = np.array(list(itertools.product(range(m), repeat=n)))  # (m^n, n)
    load = np.zeros((assign.shape[0], m))
    for j in range(m):
        load[:, j] = ((assign == j) * demand).sum(axis=1)
    ok = (load <= cap).all(axis=1)
    used = np.stack([(assign == j).any(axis=1) for j in range(m)], axis=1)
    total = cost[np.arange(n), assign].sum(axis=1) + (used * fixed).sum(axis=1)
    total[~ok] = np.inf
    k = int(np.argmin(total))
    res = capacitated_facility_location(cost, demand, cap, fixed, single_source=True,
                                        solver=solver, backend=backend, **EXACT)
    assert rel_close(res.objective, float(total[k]))
    assert np.array_equal(res.assignment, assign[k])
    assert set(res.solution.assign_share.tolist()) == {1.0}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("solver", "backend"), BACKENDS)
def test_maximal_covering_brute_force(seed: int, solver: str, backend: str) -> None:
    rng = np.random.default_rng(200 + seed)
    n, m, p = 16, 7, 2
    cover = rng.random((n, m)) < 0.3
    w = rng.uniform(1, 5, n)
    best = max(
        (w[cover[:, list(s)].any(axis=1)].sum(), s) for s in itertools.combinations(range(m), p)
    )
    res = maximal_covering(sp.csr_array(cover), w, p, solver=solver, backend=backend, **EXACT)
    assert rel_close(res.objective, best[0])
    assert res.objective > 0 and res.open.size == p
    covered = cover[:, res.open].any(axis=1)
    assert rel_close(float(w[covered].sum()), res.objective)
    assert np.all((res.assignment >= 0) == covered)


# ------------------------------------------------------------------------------------------
# the bank model with side constraints against brute force
# ------------------------------------------------------------------------------------------


@dataclass
class Bank:
    problem: FacilityProblem
    opts_at: list[list[int]]


def random_bank(seed: int, *, balance: bool = False) -> Bank:
    """5 sites (3 existing with keep/upgrade options, 2 candidates), 9 zones, k = 3."""
    rng = np.random.default_rng(seed)
    n, m = 9, 5
    existing = np.array([True, True, True, False, False])
    opt_site = np.array([0, 0, 1, 1, 2, 2, 3, 4, 4])
    q = opt_site.size
    is_current = np.array([1, 0, 1, 0, 1, 0, 0, 0, 0], dtype=bool)
    cap = np.where(is_current, 8.0, 14.0)
    cap[6:] = [10.0, 8.0, 15.0]
    demand = rng.integers(1, 5, n).astype(float)
    xy_z = rng.uniform(0, 10, (n, 2))
    xy_s = rng.uniform(0, 10, (m, 2))
    dist = np.linalg.norm(xy_z[:, None] - xy_s[None], axis=2)
    cost = sparse_knn(dist * demand[:, None], 3)
    opt_cost = np.where(is_current, 5.0, 9.0) + rng.uniform(0, 3, q)
    opt_cost[6:] += 4
    oneoff = np.where(is_current, 0.0, rng.uniform(20, 60, q))
    group = np.array([0, 0, 1, 1, 0])
    outside = np.array([False, False, True, True, False])
    locked = np.zeros(m, dtype=bool)
    forbidden = np.zeros(m, dtype=bool)
    j = rng.integers(0, m)
    (locked if seed % 2 else forbidden)[j] = True
    prob = FacilityProblem(
        demand=demand, cost=cost, opt_site=opt_site, unserved_cost=40.0 * demand,
        opt_capacity=cap, opt_cost=opt_cost, opt_oneoff=oneoff, opt_is_current=is_current,
        site_existing=existing, site_close_cost=rng.uniform(0, 6, m),
        site_close_oneoff=np.where(existing, 10.0, 0.0), site_locked=locked,
        site_forbidden=forbidden, site_group=group, site_outside=outside,
        group_min_sites=np.array([1, 1]), group_max_sites=np.array([2, -1]),
        group_max_new=np.array([1, -1]), group_max_closed=np.array([-1, 1]),
        max_new=1, max_closed=2, budget=70.0, min_share_outside=0.3,
        reloc_from=np.array([0, 1, 2]), reloc_to=np.array([3, 4, 3]),
        reloc_saving=np.array([6.0, 4.0, 5.0]), reloc_saving_oneoff=np.array([15.0, 8.0, 12.0]),
        balance_weight=2.0 if balance else 0.0, balance_threshold=0.7,
        # odd seeds: moves open a given option; seeds 2, 3: at most one upgrade
        reloc_to_option=np.array([6, 8, 6]) if seed % 2 else None,
        opt_tag=np.where(np.isin(np.arange(q), [1, 3, 5]), 0, -1) if seed >= 2 else None,
        tag_max=np.array([1]) if seed >= 2 else np.array([], np.int64),
    )
    opts_at = [np.flatnonzero(opt_site == jj).tolist() for jj in range(m)]
    return Bank(prob, opts_at)


def inner_cost(p: FacilityProblem, site_option: np.ndarray) -> float:
    """Assignment + unserved (+ balance) cost for fixed options: an LP."""
    n, m = p.n_zones, p.n_sites
    cost = p.cost.tocoo()
    zi, sj, c = cost.row, cost.col, cost.data
    is_open = site_option >= 0
    e = np.flatnonzero(is_open[sj])
    ne = e.size
    nv = m if p.balance_weight > 0 else 0
    nvar = ne + n + nv
    obj = np.concatenate([c[e], p.unserved_cost, np.full(nv, p.balance_weight)])
    a_eq = np.zeros((n, nvar))
    a_eq[zi[e], np.arange(ne)] = 1
    a_eq[np.arange(n), ne + np.arange(n)] = 1
    capj = np.zeros(m)
    capj[is_open] = p.opt_capacity[site_option[is_open]]
    rows, b = [], []
    for j in range(m):
        row = np.zeros(nvar)
        idx = np.flatnonzero(sj[e] == j)
        row[idx] = p.demand[zi[e[idx]]]
        rows.append(row.copy())
        b.append(capj[j])
        if nv:
            row[ne + n + j] = -1
            rows.append(row)
            b.append(p.balance_threshold * capj[j])
    ub = [(0, 1)] * ne + [(0, 1)] * n + [(0, None)] * nv
    r = linprog(obj, A_ub=np.array(rows), b_ub=np.array(b), A_eq=a_eq, b_eq=np.ones(n),
                bounds=ub, method="highs")
    return float(r.fun) if r.status == 0 else math.inf


def counts_ok(p: FacilityProblem, new: np.ndarray, closed: np.ndarray, r: np.ndarray) -> bool:
    """Opening/closure limits, where a relocation is a move (neither opening nor closure)."""
    rf, rt = p.reloc_from[r], p.reloc_to[r]
    for g in range(p.n_groups):
        ing = p.site_group == g
        moves = int((ing[rf] & ing[rt]).sum())
        if p.group_max_new[g] >= 0 and (new & ing).sum() - moves > p.group_max_new[g]:
            return False
        if p.group_max_closed[g] >= 0 and (closed & ing).sum() - moves > p.group_max_closed[g]:
            return False
    if p.max_new is not None and new.sum() - r.sum() > p.max_new:
        return False
    return not (p.max_closed is not None and closed.sum() - r.sum() > p.max_closed)


def brute_force_bank(bank: Bank) -> tuple[float, tuple[int, ...]]:
    p = bank.problem
    m = p.n_sites
    ex = p.site_existing
    best: tuple[float, tuple[int, ...]] = (math.inf, ())
    cache: dict[tuple[int, ...], float] = {}
    for choice in itertools.product(*[[-1, *o] for o in bank.opts_at]):
        so = np.array(choice)
        op = so >= 0
        if (p.site_locked & ~op).any() or (p.site_forbidden & op).any():
            continue
        new, closed = op & ~ex, ~op & ex
        ok = True
        for g in range(p.n_groups):
            ing = p.site_group == g
            cnt = int((op & ing).sum())
            if p.group_min_sites[g] >= 0 and cnt < p.group_min_sites[g]:
                ok = False
            if p.group_max_sites[g] >= 0 and cnt > p.group_max_sites[g]:
                ok = False
        if p.n_sites_exact is not None and op.sum() != p.n_sites_exact:
            ok = False
        if p.min_share_outside is not None and (op & p.site_outside).sum() < (
                p.min_share_outside * op.sum() - 1e-9):
            ok = False
        tags = p.opt_tag[so[op]]
        for t in np.flatnonzero(p.tag_max >= 0):
            if (tags == t).sum() > p.tag_max[t]:
                ok = False
        if not ok:
            continue
        base_spend = p.opt_oneoff[so[op]].sum() + p.site_close_oneoff[closed].sum()
        base_obj = p.opt_cost[so[op]].sum() + p.site_close_cost[closed].sum()
        nr = p.reloc_from.size
        for rsel in itertools.product([0, 1], repeat=nr):
            r = np.array(rsel, dtype=bool)
            if (r & op[p.reloc_from]).any() or (r & ~op[p.reloc_to]).any():
                continue
            if p.reloc_to_option is not None and (
                    so[p.reloc_to[r]] != p.reloc_to_option[r]).any():
                continue
            if np.bincount(p.reloc_from[r], minlength=m).max(initial=0) > 1:
                continue
            if np.bincount(p.reloc_to[r], minlength=m).max(initial=0) > 1:
                continue
            if not counts_ok(p, new, closed, r):
                continue
            spend = base_spend - p.reloc_saving_oneoff[r].sum()
            if p.budget is not None and spend > p.budget + 1e-9:
                continue
            if choice not in cache:
                cache[choice] = inner_cost(p, so)
            total = base_obj - p.reloc_saving[r].sum() + cache[choice]
            if total < best[0] - 1e-9:
                best = (total, choice)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_bank_model_brute_force_both_backends(seed: int) -> None:
    bank = random_bank(seed, balance=seed == 3)
    best_obj, best_choice = brute_force_bank(bank)
    assert math.isfinite(best_obj)
    for solver, backend in BACKENDS:
        sol = solve(bank.problem, solver=solver, backend=backend, **EXACT)
        assert rel_close(sol.objective, best_obj), (solver, backend, sol.objective, best_obj)
        assert tuple(sol.site_option.tolist()) == best_choice, (solver, backend)
        # the reported objective is the true total cost of the reported plan
        p = bank.problem
        so = sol.site_option
        op = so >= 0
        closed = ~op & p.site_existing
        coo = p.cost.tocoo()
        lookup = {(int(i), int(j)): float(c) for i, j, c in
                  zip(coo.row, coo.col, coo.data, strict=True)}
        assign = sum(lookup[(int(i), int(j))] * s for i, j, s in
                     zip(sol.assign_zone, sol.assign_site, sol.assign_share, strict=True))
        load = sol.load(p.demand)
        capj = np.where(op, p.opt_capacity[np.where(op, so, 0)], 0.0)
        over = np.clip(load - p.balance_threshold * capj, 0, None)
        total = (p.opt_cost[so[op]].sum() + p.site_close_cost[closed].sum() + assign
                 + (p.unserved_cost * sol.unserved_share).sum()
                 - p.reloc_saving[sol.relocated].sum() + p.balance_weight * over.sum())
        assert rel_close(total, sol.objective)
        assert np.all(load <= capj + 1e-6)


def test_bank_model_without_side_constraints_matches_cflp() -> None:
    cost, demand, cap, fixed = random_cflp(3, 8, 5)
    prob = FacilityProblem(demand=demand, cost=cost, opt_site=np.arange(5), opt_capacity=cap,
                           opt_cost=fixed)
    a = solve(prob, **EXACT)
    b = capacitated_facility_location(cost, demand, cap, fixed, **EXACT)
    assert rel_close(a.objective, b.objective)


@pytest.mark.parametrize("seed", range(3))
def test_backends_give_the_same_plan_on_larger_instances(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    n, m = 60, 14
    existing = rng.random(m) < 0.5
    opt_site = np.repeat(np.arange(m), 2)
    demand = rng.uniform(1, 4, n)
    dist = rng.uniform(1, 10, (n, m))
    prob = FacilityProblem(
        demand=demand, cost=sparse_knn(dist * demand[:, None], 5), opt_site=opt_site,
        unserved_cost=60 * demand, opt_capacity=np.tile([15.0, 30.0], m),
        opt_cost=np.tile([10.0, 16.0], m) + rng.uniform(0, 2, 2 * m),
        opt_oneoff=np.where(existing[opt_site], 0, 30.0), site_existing=existing,
        site_close_cost=np.full(m, 3.0), budget=150.0, max_closed=3,
    )
    plans = [solve(prob, solver=s, backend=b, **EXACT) for s, b in BACKENDS]
    for sol in plans[1:]:
        assert np.array_equal(sol.site_option, plans[0].site_option)
        assert rel_close(sol.objective, plans[0].objective)


# ------------------------------------------------------------------------------------------
# hand-solved instances
# ------------------------------------------------------------------------------------------


def test_hand_solved_relocation() -> None:
    """Existing site 0 sits far from both zones; candidate 1 is next to them.

    Keep 0: op 10 + travel 2 * 8 = 26. Close 0 and open 1: close 4 + op 10 + travel 2 * 1
    = 16; as a relocation it saves 3 more: 13.
    """
    prob = FacilityProblem(
        demand=np.array([1.0, 1.0]),
        cost=sp.csr_array(np.array([[8.0, 1.0], [8.0, 1.0]])),
        opt_site=np.array([0, 1]), opt_cost=np.array([10.0, 10.0]),
        opt_oneoff=np.array([0.0, 50.0]), opt_is_current=np.array([True, False]),
        site_existing=np.array([True, False]), site_close_cost=np.array([4.0, 0.0]),
        site_close_oneoff=np.array([5.0, 0.0]), n_sites_exact=1,
        reloc_from=np.array([0]), reloc_to=np.array([1]), reloc_saving=np.array([3.0]),
        reloc_saving_oneoff=np.array([20.0]),
    )
    sol = solve(prob)
    assert sol.objective == pytest.approx(13.0)
    assert sol.site_option.tolist() == [-1, 1]
    assert sol.relocated.tolist() == [True]
    # with a budget of 40 the move (5 + 50 - 20 = 35) still fits; with 30 it does not
    assert solve(FacilityProblemReplace(prob, budget=40.0)).objective == pytest.approx(13.0)
    with pytest.raises(InfeasibleError, match="budget"):
        solve(FacilityProblemReplace(prob, budget=30.0, n_sites_exact=None,
                                     site_locked=np.array([False, True])))


def test_relocation_is_a_move_not_an_opening_or_closure() -> None:
    """The hand-solved relocation stays allowed when no opening and no closure are allowed,
    globally and in the sites' group; without the pair the far site must stay (26)."""
    base = dict(
        demand=np.array([1.0, 1.0]),
        cost=sp.csr_array(np.array([[8.0, 1.0], [8.0, 1.0]])),
        opt_site=np.array([0, 1]), opt_cost=np.array([10.0, 10.0]),
        opt_is_current=np.array([True, False]), site_existing=np.array([True, False]),
        site_close_cost=np.array([4.0, 0.0]), site_group=np.array([0, 0]),
        reloc_from=np.array([0]), reloc_to=np.array([1]), reloc_saving=np.array([3.0]),
    )
    for limits in ({"max_new": 0, "max_closed": 0},
                   {"group_max_new": np.array([0]), "group_max_closed": np.array([0])}):
        for backend in ("direct", "pulp"):
            sol = solve(FacilityProblem(**base, **limits), backend=backend)
            assert sol.relocated.tolist() == [True]
            assert sol.objective == pytest.approx(13.0)
        no_pair = {**base, "reloc_from": np.array([], np.int64),
                   "reloc_to": np.array([], np.int64), "reloc_saving": np.array([])}
        assert solve(FacilityProblem(**no_pair, **limits)).objective == pytest.approx(26.0)


def test_relocation_rows_refuse_half_keeping_an_outlet_that_moves_whole() -> None:
    """Existing site 0 may move to candidate 1 or 2. The LP point that keeps site 0 half open
    and moves half of it to each candidate (all of it in total) breaks a relocation row; a
    plan that closes 0 and moves it to 2 satisfies them all."""
    prob = FacilityProblem(
        demand=np.array([1.0, 1.0]),
        cost=sp.csr_array(np.array([[8.0, 1.0, 2.0], [8.0, 2.0, 1.0]])),
        opt_site=np.array([0, 1, 2]), opt_cost=np.array([10.0, 10.0, 10.0]),
        opt_is_current=np.array([True, False, False]),
        site_existing=np.array([True, False, False]), site_close_cost=np.array([4.0, 0, 0]),
        reloc_from=np.array([0, 0]), reloc_to=np.array([1, 2]), reloc_saving=np.array([3.0, 3.0]),
    )
    mdl = _build(prob)
    r_rows = np.unique(mdl.a[:, mdl.r0:mdl.v0].tocoo().row)

    def breaks(y: list[float], r: list[float]) -> bool:
        v = np.zeros(mdl.n_cols)
        v[mdl.y0:mdl.z0] = y
        v[mdl.z0:mdl.x0] = y  # one option per site
        v[mdl.r0:mdl.v0] = r
        act = mdl.a @ v
        return bool((act[r_rows] > mdl.row_hi[r_rows] + 1e-9).any()
                    or (act[r_rows] < mdl.row_lo[r_rows] - 1e-9).any())

    assert breaks([0.5, 0.5, 0.5], [0.5, 0.5])
    assert not breaks([0.0, 0.0, 1.0], [0.0, 1.0])
    assert not breaks([1.0, 0.0, 0.0], [0.0, 0.0])
    assert breaks([0.0, 1.0, 1.0], [1.0, 1.0])  # moved twice
    assert solve(prob).objective == pytest.approx(10.0 + 3.0 + 4.0 - 3.0)  # move to 1 (or 2)


def test_relocation_rows_refuse_three_thirds_sharing_a_third_of_an_option() -> None:
    """Existing sites 0, 1 and 2 may each move to candidate 3 and open its option 4 (its
    larger format; option 3 is its smaller one). The LP point that moves a third of each
    into site 3 while running a third of option 4 breaks a relocation row (each move
    alone is within the third, but a target receives one move at most); the plan that
    moves site 0 and runs option 4 satisfies them all."""
    prob = FacilityProblem(
        demand=np.array([1.0, 1.0]),
        cost=sp.csr_array(np.array([[1.0, 2.0, 3.0, 1.0], [3.0, 2.0, 1.0, 1.0]])),
        opt_site=np.array([0, 1, 2, 3, 3]), opt_cost=np.array([10.0, 10.0, 10.0, 6.0, 9.0]),
        opt_is_current=np.array([True, True, True, False, False]),
        site_existing=np.array([True, True, True, False]),
        site_close_cost=np.array([4.0, 4.0, 4.0, 0.0]),
        reloc_from=np.array([0, 1, 2]), reloc_to=np.array([3, 3, 3]),
        reloc_to_option=np.array([4, 4, 4]), reloc_saving=np.array([4.0, 4.0, 4.0]),
    )
    mdl = _build(prob)
    r_rows = np.unique(mdl.a[:, mdl.r0:mdl.v0].tocoo().row)

    def breaks(y: list[float], r: list[float]) -> bool:
        v = np.zeros(mdl.n_cols)
        v[mdl.y0:mdl.z0] = y
        v[mdl.z0:mdl.x0] = [y[0], y[1], y[2], y[3] + y[4]]
        v[mdl.r0:mdl.v0] = r
        act = mdl.a @ v
        return bool((act[r_rows] > mdl.row_hi[r_rows] + 1e-9).any()
                    or (act[r_rows] < mdl.row_lo[r_rows] - 1e-9).any())

    third = 1.0 / 3.0
    assert breaks([2 * third, 2 * third, 2 * third, 2 * third, third], [third, third, third])
    assert not breaks([0.0, 1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0])
    assert breaks([0.0, 1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0])  # moved into the other format
    assert breaks([0.0, 0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0])  # two moves into one site
    # best: close all three and open option 3 (12 + 6 + routing 2 = 20), or move one of
    # them into option 4 and close the others (12 - 4 + 9 + 2 = 19)
    res = solve(prob)
    assert res.objective == pytest.approx(19.0)
    assert res.relocated.sum() == 1


def FacilityProblemReplace(prob: FacilityProblem, **changes: Any) -> FacilityProblem:
    from dataclasses import fields

    kw = {f.name: getattr(prob, f.name) for f in fields(prob)}
    kw.update(changes)
    return FacilityProblem(**kw)


def test_hand_solved_p_median_line() -> None:
    """Zones at 0, 1, 2, 10, 11 on a line, sites at the same points, p = 2: {1, 10}
    (or {1, 11}) costing 1 + 0 + 1 + 0 + 1 = 3."""
    xs = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    cost = np.abs(xs[:, None] - xs[None, :])
    res = p_median(cost, 2, **EXACT)
    assert res.objective == pytest.approx(3.0)
    assert 1 in res.open.tolist()


def test_explicit_zero_costs_are_allowed_pairs() -> None:
    cost = sp.csr_array((np.array([0.0, 5.0]), (np.array([0, 0]), np.array([0, 1]))),
                        shape=(1, 2))
    assert cost.nnz == 2
    prob = FacilityProblem(demand=np.ones(1), cost=cost, opt_site=np.array([0, 1]),
                           opt_cost=np.array([1.0, 1.0]))
    sol = solve(prob)
    assert sol.objective == pytest.approx(1.0)
    assert sol.site_option.tolist() == [0, -1]


def test_constant_close_cost_is_in_the_objective() -> None:
    """A forbidden existing site must close: its close cost 100 is part of the total."""
    prob = FacilityProblem(
        demand=np.ones(1), cost=sp.csr_array(np.array([[2.0, 3.0]])),
        opt_site=np.array([0, 1]), opt_cost=np.array([1.0, 1.0]),
        site_existing=np.array([True, False]), site_close_cost=np.array([100.0, 0.0]),
        site_forbidden=np.array([True, False]),
    )
    sol = solve(prob)
    assert sol.objective == pytest.approx(100.0 + 1.0 + 3.0)


def test_unserved_share_when_capacity_is_short() -> None:
    prob = FacilityProblem(
        demand=np.array([6.0, 6.0]), cost=sp.csr_array(np.array([[1.0], [1.0]])),
        opt_site=np.array([0]), opt_capacity=np.array([9.0]),
        unserved_cost=np.array([50.0, 50.0]),
    )
    sol = solve(prob)
    assert sol.unserved_share.sum() == pytest.approx(0.5)
    assert sol.objective == pytest.approx(1.5 * 1.0 + 0.5 * 50.0)


def test_balance_term_moves_load() -> None:
    """Two sites of capacity 10, threshold 0.5: 8 units at the cheap site overload it by 3
    (cost 3 * 2 = 6), shifting 3 units to the other costs 3 * 1 = 3 more travel."""
    prob = FacilityProblem(
        demand=np.array([8.0]), cost=np.array([[0.0, 8.0]]),  # dense: both pairs allowed
        opt_site=np.array([0, 1]), opt_capacity=np.array([10.0, 10.0]),
        site_locked=np.array([True, True]), balance_weight=2.0, balance_threshold=0.5,
    )
    sol = solve(prob)
    # move share s to site 1: travel 8 s, overload 2 * max(0, 8 (1 - s) - 5) -> s = 3/8
    assert sol.objective == pytest.approx(3.0)
    assert sol.load(prob.demand).tolist() == pytest.approx([5.0, 3.0])


# ------------------------------------------------------------------------------------------
# OR-Library
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "opt"), [("pmed1", 5819.0), ("pmed2", 4093.0)])
def test_orlib_pmed(name: str, opt: float) -> None:
    cost, p = read_orlib_pmed(ORLIB / f"{name}.txt")
    res = p_median(cost, p, mip_gap=0.0)
    assert res.objective == pytest.approx(opt, abs=1e-6)
    assert res.status == "optimal"
    assert res.open.size == p


@pytest.mark.parametrize(("name", "opt"), [("cap41", 1040444.375), ("cap71", 932615.750)])
@pytest.mark.parametrize(("solver", "backend"), [("highs", "direct"), ("cbc", "pulp")])
def test_orlib_cap(name: str, opt: float, solver: str, backend: str) -> None:
    cap, fixed, demand, cost = read_orlib_cap(ORLIB / f"{name}.txt")
    res = capacitated_facility_location(cost, demand, cap, fixed, solver=solver,
                                        backend=backend, mip_gap=0.0)
    assert res.objective == pytest.approx(opt, rel=1e-9)
    assert res.status == "optimal"


def test_orlib_cap71_as_uflp() -> None:
    _, fixed, _, cost = read_orlib_cap(ORLIB / "cap71.txt")
    res = uncapacitated_facility_location(cost, fixed, mip_gap=0.0)
    assert res.objective == pytest.approx(932615.750, rel=1e-9)


# ------------------------------------------------------------------------------------------
# infeasibility
# ------------------------------------------------------------------------------------------


def small(**kw: Any) -> FacilityProblem:
    """6 sites in two groups (0: sites 0-2, 1: sites 3-5); 0, 1, 3 existing; 4 zones."""
    rng = np.random.default_rng(1)
    base: dict[str, Any] = dict(
        demand=np.ones(4), cost=sp.csr_array(rng.uniform(1, 5, (4, 6))),
        opt_site=np.arange(6), opt_cost=np.full(6, 2.0), opt_oneoff=np.full(6, 100.0),
        site_existing=np.array([1, 1, 0, 1, 0, 0], dtype=bool),
        site_group=np.array([0, 0, 0, 1, 1, 1]),
    )
    base["opt_oneoff"] = np.where(base["site_existing"], 0.0, 100.0)
    base.update(kw)
    return FacilityProblem(**base)


def test_precheck_group_min() -> None:
    prob = small(site_forbidden=np.array([0, 0, 0, 0, 1, 1], dtype=bool),
                 group_min_sites=np.array([-1, 2]))
    with pytest.raises(InfeasibleError,
                       match=r"group 1 needs at least 2 open sites but only 1 of its 3") as e:
        solve(prob)
    assert e.value.family == "group_sites"


def test_precheck_n_sites_exact_and_locked_forbidden() -> None:
    with pytest.raises(InfeasibleError, match=r"n_sites_exact = 6 .* only 5 of the 6") as e:
        solve(small(n_sites_exact=6, site_forbidden=np.eye(6, dtype=bool)[2]))
    assert e.value.family == "n_sites_exact"
    both = np.eye(6, dtype=bool)[1]
    with pytest.raises(InfeasibleError, match="site 1 is both locked") as e:
        solve(small(site_locked=both, site_forbidden=both))
    assert e.value.family == "site_status"


def test_precheck_zone_without_sites() -> None:
    cost = sp.csr_array((np.array([1.0]), (np.array([0]), np.array([0]))), shape=(2, 1))
    prob = FacilityProblem(demand=np.ones(2), cost=cost, opt_site=np.array([0]))
    with pytest.raises(InfeasibleError, match="zone 1 has no allowed site") as e:
        solve(prob)
    assert e.value.family == "unserved"


def test_precheck_budget() -> None:
    prob = small(site_locked=np.array([0, 0, 1, 0, 1, 0], dtype=bool), budget=150.0)
    with pytest.raises(InfeasibleError, match=r"budget is 150 .* spends 200") as e:
        solve(prob)
    assert e.value.family == "budget"


def test_diagnosis_group_min_against_budget() -> None:
    """Group 1 needs 3 open sites, but sites 4 and 5 are new (100 each) and the budget is
    150: only one of them can open. Relaxing either family restores feasibility."""
    prob = small(group_min_sites=np.array([-1, 3]), budget=150.0)
    with pytest.raises(InfeasibleError) as e:
        solve(prob)
    msg = str(e.value)
    assert e.value.family == "group_sites"
    assert "group 1 needs at least 3 open sites" in msg
    assert "between 0 and 2.5" in msg  # LP: 1 existing + 1.5 new sites within the budget
    assert "budget" in msg.split("Culprit")[1]


def test_diagnosis_max_new_against_must_serve() -> None:
    """Every zone must be served, each zone can only use its own new site, max_new = 2."""
    prob = FacilityProblem(demand=np.ones(3), cost=sp.csr_array(np.eye(3)),
                           opt_site=np.arange(3), max_new=2)
    with pytest.raises(InfeasibleError, match="max_new allows at most 2 new sites") as e:
        solve(prob)
    assert e.value.family == "max_changes"
    assert "zones that must be served" in str(e.value)


def test_diagnosis_integral_conflict_single_source() -> None:
    """3 zones of 5 units, 2 sites of capacity 8: splitting fits (15 <= 16) but single
    sourcing does not; the LP relaxation is feasible, the MIP check finds 'unserved'."""
    prob = FacilityProblem(demand=np.full(3, 5.0), cost=sp.csr_array(np.ones((3, 2))),
                           opt_site=np.arange(2), opt_capacity=np.full(2, 8.0),
                           single_source=True)
    with pytest.raises(InfeasibleError, match="the model is infeasible \\(the model\\)") as e:
        solve(prob)
    assert e.value.family == "unserved"
    assert "cannot be served" in str(e.value)


# ------------------------------------------------------------------------------------------
# time limits, warm start, determinism, progress
# ------------------------------------------------------------------------------------------


def clustered_pmedian(n: int, m: int, k: int, p: int, seed: int = 0) -> FacilityProblem:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 100, (10, 2))
    z = centres[rng.integers(0, 10, n)] + rng.normal(0, 8, (n, 2))
    s = centres[rng.integers(0, 10, m)] + rng.normal(0, 10, (m, 2))
    dist = np.linalg.norm(z[:, None] - s[None], axis=2)
    return FacilityProblem(demand=np.ones(n), cost=sparse_knn(dist, k), opt_site=np.arange(m),
                           n_sites_exact=p, unserved_cost=np.full(n, 1e4))


def test_time_limit_returns_a_plan_with_its_gap() -> None:
    prob = clustered_pmedian(3000, 200, 12, 40)
    ws = np.full(prob.n_sites, -1)
    ws[:40] = np.arange(40)
    prob = FacilityProblemReplace(prob, warm_start=ws)
    sol = solve(prob, time_limit_s=0.3)
    assert sol.status == "time_limit"
    assert sol.gap > 0 and math.isfinite(sol.objective)
    assert sol.objective >= sol.best_bound
    assert sol.open_sites.size == 40


def test_time_limit_without_plan_raises() -> None:
    prob = clustered_pmedian(3000, 200, 12, 40)
    with pytest.raises(SolverError, match="no feasible plan was found within the time limit"):
        solve(prob, time_limit_s=1e-3)


def test_warm_start_and_determinism() -> None:
    prob = clustered_pmedian(300, 40, 6, 8, seed=3)
    ws = np.full(prob.n_sites, -1)
    ws[[0, 5, 10, 15, 20, 25, 30, 35]] = [0, 5, 10, 15, 20, 25, 30, 35]
    warm = FacilityProblemReplace(prob, warm_start=ws)
    a, b = solve(prob, threads=1), solve(prob, threads=1)
    assert np.array_equal(a.site_option, b.site_option)
    assert np.array_equal(a.assign_share, b.assign_share) and a.objective == b.objective
    c = solve(warm)
    assert rel_close(c.objective, a.objective, 1e-4)


def test_current_options_warm_start_with_capacity() -> None:
    bank = random_bank(5)
    prob = FacilityProblemReplace(bank.problem, warm_start=bank.problem.current_options(),
                                  site_locked=None, site_forbidden=None)
    assert prob.current_options().tolist() == [0, 2, 4, -1, -1]
    cold = FacilityProblemReplace(prob, warm_start=None)
    assert rel_close(solve(prob, **EXACT).objective, solve(cold, **EXACT).objective)


def test_progress_messages() -> None:
    lines: list[str] = []
    solve(clustered_pmedian(200, 30, 5, 6), progress=lines.append)
    assert lines[0].startswith("model: ")
    assert any(line.startswith("optimal") or line.startswith("gap_limit") for line in lines)


# ------------------------------------------------------------------------------------------
# scale: the bank path never densifies the cost matrix
# ------------------------------------------------------------------------------------------


def test_model_is_linear_in_nnz_at_city_scale() -> None:
    n, m, k, f = 20_000, 900, 10, 3
    rng = np.random.default_rng(0)
    cols = np.stack([rng.choice(m, k, replace=False) for _ in range(200)])[
        rng.integers(0, 200, n)]
    rows = np.repeat(np.arange(n), k)
    cost = sp.csr_array((rng.uniform(1, 10, n * k), (rows, cols.ravel())), shape=(n, m))
    existing = rng.random(m) < 0.6
    opt_site = np.repeat(np.arange(m), f)
    news = np.flatnonzero(~existing)
    olds = np.flatnonzero(existing)
    tracemalloc.start()
    t0 = time.perf_counter()
    prob = FacilityProblem(
        demand=rng.uniform(0, 5, n), cost=cost, opt_site=opt_site,
        unserved_cost=np.full(n, 1e3), opt_capacity=np.tile([50.0, 80.0, 120.0], m),
        opt_cost=np.tile([1.0, 2.0, 3.0], m), site_existing=existing,
        site_group=np.arange(m) % 16, group_max_new=np.full(16, 5), budget=1e6,
        reloc_from=olds[:300], reloc_to=news[np.arange(300) % news.size],
        reloc_saving=np.ones(300),
    )
    size = model_size(prob)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nnz = n * k
    assert size.cols <= nnz + n + 2 * f * m + 300
    assert size.nonzeros <= 6 * nnz + 4 * f * m + 10 * m
    assert peak < 120e6  # a dense float64 20k x 900 matrix alone would be 144 MB
    assert elapsed < 15


# ------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------


def test_validation_messages() -> None:
    c = sp.csr_array(np.ones((2, 2)))
    with pytest.raises(NetplanError, match=r"FacilityProblem.demand: expected shape \(2,\)"):
        FacilityProblem(demand=np.ones(3), cost=c, opt_site=np.arange(2))
    with pytest.raises(NetplanError, match=r"FacilityProblem\.cost: entry .* nan"):
        FacilityProblem(demand=np.ones(2), cost=np.array([[1.0, np.nan], [1, 1]]),
                        opt_site=np.arange(2))
    with pytest.raises(NetplanError, match="opt_site: entry 1 is 5; must be <= 1"):
        FacilityProblem(demand=np.ones(2), cost=c, opt_site=np.array([0, 5]))
    with pytest.raises(NetplanError, match="reloc_from: pair 0: site 0 is not an existing"):
        FacilityProblem(demand=np.ones(2), cost=c, opt_site=np.arange(2),
                        reloc_from=np.array([0]), reloc_to=np.array([1]))
    with pytest.raises(NetplanError, match="warm_start: site 1 gets option 0"):
        FacilityProblem(demand=np.ones(2), cost=c, opt_site=np.arange(2),
                        warm_start=np.array([0, 0]))
    with pytest.raises(NetplanError, match="balance_threshold"):
        FacilityProblem(demand=np.ones(2), cost=c, opt_site=np.arange(2), balance_threshold=0)
    dup = sp.coo_array((np.ones(2), (np.zeros(2, int), np.zeros(2, int))), shape=(1, 1))
    with pytest.raises(NetplanError, match="stored more than once"):
        FacilityProblem(demand=np.ones(1), cost=dup, opt_site=np.arange(1))
    prob = FacilityProblem(demand=np.ones(2), cost=c, opt_site=np.arange(2))
    with pytest.raises(NetplanError, match="backend 'direct' drives HiGHS only"):
        solve(prob, solver="cbc")
    assert prob.demand.flags.writeable is False


def test_option_tag_limits_bind_on_both_backends() -> None:
    """Two sites whose cheap option is tagged: with tag_max = 1 only one may take it."""
    cost = sp.csr_array((np.array([1.0, 1.0]), (np.array([0, 1]), np.array([0, 1]))),
                        shape=(2, 2))
    base = dict(
        demand=np.array([1.0, 1.0]), cost=cost, unserved_cost=np.array([1e6, 1e6]),
        opt_site=np.array([0, 0, 1, 1]), opt_cost=np.array([10.0, 4.0, 10.0, 4.0]),
        opt_tag=np.array([-1, 0, -1, 0]),
    )
    free = solve(FacilityProblem(**base, tag_max=np.array([-1])))
    assert sorted(free.site_option.tolist()) == [1, 3]
    for backend in ("direct", "pulp"):
        sol = solve(FacilityProblem(**base, tag_max=np.array([1])), backend=backend)
        assert sol.objective == pytest.approx(1 + 1 + 10 + 4)
        assert int(np.isin(sol.site_option, [1, 3]).sum()) == 1


# ------------------------------------------------------------------------------------------
# neighbourhood search after HiGHS
# ------------------------------------------------------------------------------------------


def test_neighbourhoods_partition_sites_within_groups() -> None:
    prob = clustered_pmedian(600, 90, 6, 10, seed=2)
    group = np.arange(prob.n_sites) % 3
    prob = FacilityProblemReplace(prob, site_group=group, group_min_sites=None,
                                  group_max_sites=None, group_max_new=None,
                                  group_max_closed=None)
    hoods = _neighbourhoods(prob, size=7)
    flat = np.concatenate(hoods)
    assert np.array_equal(np.sort(flat), np.arange(prob.n_sites))  # each site exactly once
    assert all(1 <= h.size <= 7 and np.unique(group[h]).size == 1 for h in hoods)
    again = _neighbourhoods(prob, size=7)
    assert all(np.array_equal(a, b) for a, b in zip(hoods, again, strict=True))
    # the zone cap: a set of several sites never reaches more than `zones` zones
    capped = _neighbourhoods(prob, size=90, zones=60)
    assert np.array_equal(np.sort(np.concatenate(capped)), np.arange(prob.n_sites))
    by_site = prob.cost.tocsc()
    for h in capped:
        reached = np.unique(np.concatenate([by_site.indices[by_site.indptr[j]:
                                                            by_site.indptr[j + 1]] for j in h]))
        assert h.size == 1 or reached.size <= 60
    assert max(h.size for h in capped) > 1
    # sites without options are never freed
    no_opt = FacilityProblem(demand=prob.demand, cost=prob.cost,
                             opt_site=np.arange(1, prob.n_sites))
    assert 0 not in np.concatenate(_neighbourhoods(no_opt)).tolist()


def _poor_start(prob: FacilityProblem) -> tuple[Any, Any]:
    mdl = _build(prob)
    v = _warm_vector(prob, mdl)
    assert v is not None and _check_point(mdl, v)
    return mdl, v


@pytest.mark.parametrize("seed", range(4))
def test_search_over_one_neighbourhood_is_the_exact_solve(seed: int) -> None:
    """With one group and room for every site, one step re-solves the whole model: the
    search must land on the brute-forced optimum from the current network."""
    bank = random_bank(seed)
    p = FacilityProblemReplace(bank.problem, site_group=np.zeros(5, dtype=np.int64),
                               group_min_sites=None, group_max_sites=None,
                               group_max_new=None, group_max_closed=None,
                               warm_start=bank.problem.current_options(), site_locked=None,
                               site_forbidden=None)
    exact = solve(p, **EXACT)
    mdl, v = _poor_start(p)
    raw = _Raw("feasible", v, exact.best_bound, 0.0)
    out = _search(mdl, p, raw, deadline=time.perf_counter() + 60, mip_gap=0.0,
                      threads=None, progress=None)
    assert out.v is not None and _check_point(mdl, out.v)
    assert rel_close(float(mdl.c @ out.v + mdl.offset), exact.objective)
    assert out.status == "optimal" and out.search_gain >= 0


def test_search_keeps_every_constraint_and_never_worsens() -> None:
    bank = random_bank(2)
    p = FacilityProblemReplace(bank.problem, warm_start=bank.problem.current_options(),
                               site_locked=None, site_forbidden=None)
    mdl, v = _poor_start(p)
    start = float(mdl.c @ v + mdl.offset)
    exact = solve(p, **EXACT)
    raw = _Raw("feasible", v, exact.best_bound, 0.0)
    lines: list[str] = []
    out = _search(mdl, p, raw, deadline=time.perf_counter() + 60, mip_gap=0.0,
                      threads=None, progress=lines.append)
    assert out.v is not None and _check_point(mdl, out.v)
    end = float(mdl.c @ out.v + mdl.offset)
    assert exact.objective - 1e-6 <= end <= start
    assert out.search_gain == pytest.approx(start - end)
    assert lines[0].startswith("HiGHS handed over")


class _Event:
    def __init__(self, t: float, inc: float, gap: float) -> None:
        self.data_out = type("Out", (), {"running_time": t, "mip_primal_bound": inc,
                                          "mip_gap": gap})()
        self.data_in = type("In", (), {"user_interrupt": False})()


@pytest.mark.parametrize(("t", "inc", "gap", "fires"), [
    (10.0, 90.0, 0.02, False),   # too early
    (30.0, 90.0, 0.02, True),    # a quarter gone, within 3x the gap
    (30.0, 90.0, 0.05, False),   # a quarter gone, gap too wide
    (80.0, 90.0, 0.50, True),    # two thirds gone, any plan of HiGHS's own
    (79.0, 90.0, 0.05, False),   # not yet two thirds, too far from the bound
    (60.0, 100.0, 0.01, False),  # still the warm start
    (60.0, math.inf, math.inf, False),  # no plan at all
])
def test_search_switch(t: float, inc: float, gap: float, fires: bool) -> None:
    switch = _SearchSwitch(120.0, 0.01, warm_obj=100.0)
    switch(_Event(1.0, 100.0, 0.9))  # HiGHS's first incumbent: the start
    e = _Event(t, inc, gap)
    switch(e)
    assert switch.fired is fires and e.data_in.user_interrupt is fires


def test_search_switch_waits_for_a_plan_below_the_start_as_highs_values_it() -> None:
    """HiGHS can value the start below our objective (its presolved space): a later
    incumbent between the two is still the start, not a plan of HiGHS's own."""
    switch = _SearchSwitch(120.0, 0.01, warm_obj=100.0)
    switch(_Event(1.0, 95.0, 0.9))
    e = _Event(90.0, 95.0, 0.5)
    switch(e)
    assert not switch.fired
    e = _Event(91.0, 94.0, 0.5)
    switch(e)
    assert switch.fired and e.data_in.user_interrupt


def test_time_limited_solve_hands_over_and_reports_a_proven_gap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Wiring: HiGHS stops at its first plan of its own, the search improves that plan, the
    Solution reports the gain and a gap against HiGHS's bound. (The real switch waits for a
    quarter / half of the time limit, too long for a unit test.)"""

    class Eager(_SearchSwitch):
        def __call__(self, e: Any) -> None:
            inc = e.data_out.mip_primal_bound
            if math.isfinite(inc) and inc < self.warm:
                self.fired = True
                e.data_in.user_interrupt = True

    monkeypatch.setattr(highs, "_SearchSwitch", Eager)
    prob = clustered_pmedian(1000, 80, 8, 15, seed=1)
    lines: list[str] = []
    sol = solve(prob, time_limit_s=5.0, mip_gap=0.0, progress=lines.append)
    assert any(line.startswith("HiGHS handed over") for line in lines)
    assert sol.search_seconds > 0 and sol.search_gain > 0
    assert sol.open_sites.size == 15
    assert sol.best_bound <= sol.objective
    assert sol.status in ("optimal", "time_limit")
    off = solve(prob, mip_gap=0.01, search=False)
    assert off.search_seconds == 0.0 and off.search_gain == 0.0


@pytest.mark.parametrize(("obj", "reported", "gap", "expect"), [
    (1000.0, 1000.0, 0.0, 1000.0),      # agree
    (1000.0, 880.0, 0.0, 1000.0),       # offset left out of the bound: HiGHS proved 0 %
    (1000.0, 995.0, 0.01, 995.0),       # reported bound tighter than the gap implies
    (1000.0, -math.inf, 0.01, 990.0),   # no bound reported
    (1000.0, 900.0, math.nan, 900.0),   # no gap: keep what was reported
])
def test_proven_bound(obj: float, reported: float, gap: float, expect: float) -> None:
    assert _proven_bound(obj, reported, gap) == pytest.approx(expect)
