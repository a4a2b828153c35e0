"""netplan.model.erlang_a and netplan.model.behaviour: known answers, limits, a simulation."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import brentq

from netplan._errors import NetplanError, QueueingError
from netplan.model.behaviour import Behaviour, Streams, evaluate, logit_shares, service_kpis
from netplan.model.erlang_a import erlang_a


def _erlang_c_exact(c: int, a: Fraction) -> Fraction:
    """Erlang C by its defining sums in exact rational arithmetic (independent of queueing)."""
    head = sum((a**k / math.factorial(k) for k in range(c)), Fraction(0))
    top = a**c / math.factorial(c) * Fraction(c) / (c - a)
    return top / (head + top)


@pytest.mark.parametrize(("c", "lam_h", "s_min"), [
    (1, 3, 12), (2, 8, 12), (5, 20, 12), (5, 24, 12), (10, 140, 4),
])
def test_infinite_patience_is_erlang_c(c: int, lam_h: int, s_min: int) -> None:
    a = Fraction(lam_h * s_min, 60)
    cc = float(_erlang_c_exact(c, a))
    mu, lam = 1 / s_min, lam_h / 60
    r = erlang_a(c, lam_h, s_min, math.inf, t_min=11)
    assert r.mean_wait_min == pytest.approx(cc / (c * mu - lam), rel=1e-9)
    assert r.share_wait_over == pytest.approx(cc * math.exp(-(c * mu - lam) * 11), rel=1e-8)
    assert r.share_abandon == 0.0


def _simulate(c: int, lam_h: float, s_min: float, patience_min: float, t_min: float,
              n: int, seed: int) -> tuple[float, float, float]:
    """FCFS M/M/c+M by events: mean wait, share giving up, share waiting over t_min."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(60.0 / lam_h, n))
    service = rng.exponential(s_min, n)
    patience = rng.exponential(patience_min, n)
    free_at = np.zeros(c)
    waits = np.empty(n)
    gone = np.zeros(n, dtype=bool)
    for i in range(n):  # FCFS: a customer reaches a server when the earliest one frees
        k = int(np.argmin(free_at))
        start = max(arrivals[i], free_at[k])
        wait = start - arrivals[i]
        if wait > patience[i]:
            waits[i], gone[i] = patience[i], True
            continue
        waits[i] = wait
        free_at[k] = start + service[i]
    warm = n // 10
    return (float(waits[warm:].mean()), float(gone[warm:].mean()),
            float((waits[warm:] > t_min).mean()))


def test_erlang_a_matches_a_simulation_under_overload() -> None:
    # 2 counters, 12-min service (capacity 10/h), 14 arrivals/h, 20-min patience
    r = erlang_a(2, 14, 12, 20, t_min=11)
    w, g, o = _simulate(2, 14, 12, 20, 11, 60_000, seed=7)
    assert r.mean_wait_min == pytest.approx(w, rel=0.04)
    assert r.share_abandon == pytest.approx(g, rel=0.05)
    assert r.share_wait_over == pytest.approx(o, rel=0.05)
    assert 0 < r.share_abandon < 1 and r.utilisation < 1


def test_overload_gives_a_finite_wait_and_patience_bounds_it() -> None:
    r = erlang_a(5, 60, 12, 30, t_min=11)  # twice the capacity
    assert math.isfinite(r.mean_wait_min) and r.mean_wait_min < 30
    assert r.share_abandon == pytest.approx(0.5, abs=0.1)


@pytest.mark.parametrize("bad", [
    {"servers": 0}, {"arrivals_per_h": -1.0}, {"service_min": 0.0}, {"patience_min": 0.0},
    {"patience_min": 1e9}, {"arrivals_per_h": 40.0, "patience_min": math.inf},
])
def test_erlang_a_rejects_bad_input(bad: dict[str, float]) -> None:
    args = {"servers": 2, "arrivals_per_h": 5.0, "service_min": 12.0, "patience_min": 30.0}
    args.update(bad)
    with pytest.raises(QueueingError):
        erlang_a(int(args["servers"]), args["arrivals_per_h"], args["service_min"],
                 args["patience_min"], t_min=11)


def test_logit_shares_sum_to_one_and_follow_cost() -> None:
    cost = sp.csr_array(np.array([[1.0, 2.0], [5.0, 5.0]]))
    p = logit_shares(cost, 1.0).toarray()
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert p[0, 0] == pytest.approx(1 / (1 + math.exp(-1)))
    assert p[1, 0] == pytest.approx(0.5)



def test_logit_shares_pass_empty_rows_and_match_the_sparse_formula() -> None:
    rng = np.random.default_rng(5)
    dense = np.where(rng.random((40, 12)) < 0.3, rng.uniform(1.0, 30.0, (40, 12)), 0.0)
    dense[[3, 17]] = 0.0  # zones without an outlet within reach
    cost = sp.csr_array(dense)
    got = logit_shares(cost, 0.2)
    e = np.where(dense > 0, np.exp(-0.2 * dense), 0.0)
    with np.errstate(invalid="ignore"):
        want = e / e.sum(axis=1, keepdims=True)
    assert np.allclose(got.toarray(), np.nan_to_num(want), rtol=1e-14, atol=0)
    assert np.array_equal(got.indptr, cost.indptr) and np.array_equal(got.indices, cost.indices)


def test_choice_equilibrium_equals_its_scipy_formulation() -> None:
    """The equilibrium's own passes over the pairs give, bit for bit, the method of
    successive averages written with scipy's sparse products."""
    from netplan.model import behaviour as bm

    rng = np.random.default_rng(11)
    dist = np.where(rng.random((60, 9)) < 0.4, rng.uniform(200.0, 9000.0, (60, 9)), 0.0)
    dist[7] = 0.0
    travel = sp.csr_array(dist / 1000 / 15 * 60)
    demand = rng.uniform(0.0, 8.0, 60)
    servers = np.array([3, 2, 5, 0, 3, 2, 5, 1, 2])
    beh = Behaviour(rule="choice", max_iter=40, tol=1e-12)
    curve = bm._QueueCurves(servers, float(demand.sum()), 12.0, 140.0, 11.0)
    shares, k, residual = bm._stream_equilibrium(travel, demand, curve, beh)

    p = logit_shares(travel, beh.scale_per_min)
    load = p.T @ demand
    for i in range(1, beh.max_iter + 1):
        cost = travel.copy()
        cost.data = cost.data + beh.wait_weight * curve(load)[0][cost.indices]
        p = logit_shares(cost, beh.scale_per_min)
        target = p.T @ demand
        res = float(np.max(np.abs(target - load))) / float(demand.sum())
        load = load + (target - load) / i
    assert k == beh.max_iter and residual == res
    assert np.array_equal(shares.data, p.data)

# A 3-zone x 2-outlet toy, counters only, solved by hand: with two outlets the equilibrium
# is one number, the load x on outlet A, where x = sum_i lam_i P_iA(W_A(x), W_B(L - x)).
DIST = np.array([[500.0, 1500.0], [1000.0, 1000.0], [2000.0, 400.0]])
LAM = np.array([30.0, 20.0, 40.0])


def _toy_streams() -> Streams:
    return Streams(zone_arrivals_per_h=LAM, smart_share=0.0, counters=np.array([3, 2]),
                   terminals=np.array([0, 0]), counter_service_min=12.0,
                   terminal_service_min=4.0, capacity_per_h=np.array([12.0, 7.0]),
                   target_wait_min=11.0)


def test_choice_equilibrium_on_a_toy_solved_by_hand() -> None:
    beh = Behaviour(rule="choice", patience_min=30.0, speed_kmh=15.0, wait_weight=1.5,
                    scale_per_min=0.2)
    travel = DIST / 1000 / 15 * 60

    def wait(c: int, x: float) -> float:
        return erlang_a(c, x, 12.0, 30.0, t_min=11).mean_wait_min

    def gap(x: float) -> float:
        wa, wb = wait(3, x), wait(2, LAM.sum() - x)
        ga = travel[:, 0] + 1.5 * wa
        gb = travel[:, 1] + 1.5 * wb
        pa = 1 / (1 + np.exp(-0.2 * (gb - ga)))
        return x - float(LAM @ pa)

    x_star = brentq(gap, 0.0, float(LAM.sum()), xtol=1e-10)
    ev = evaluate(sp.csr_array(DIST), _toy_streams(), beh)
    assert ev.residual <= beh.tol
    assert ev.load_per_h[0] == pytest.approx(x_star, rel=2e-3)
    assert ev.load_per_h.sum() == pytest.approx(LAM.sum())
    assert ev.counter_wait_min[0] == pytest.approx(wait(3, x_star), rel=1e-2)
    assert ev.unserved_per_h.sum() == pytest.approx(0.0, abs=1e-9)


def test_nearest_fills_the_nearest_outlet_then_spills() -> None:
    ev = evaluate(sp.csr_array(DIST), _toy_streams(), Behaviour(rule="nearest"))
    room = 0.95 * 60 / 12 * np.array([3, 2])  # 14.25/h and 9.5/h
    assert ev.load_per_h == pytest.approx(room)
    assert ev.unserved_per_h.sum() == pytest.approx(LAM.sum() - room.sum())
    assert ev.flows.toarray()[0, 0] == pytest.approx(room[0])  # zone 0 is A's nearest


def test_behaviour_rejects_bad_parameters_all_at_once() -> None:
    with pytest.raises(NetplanError, match=r"rule = 'fastest'.*speed_kmh = 0"):
        Behaviour(rule="fastest", speed_kmh=0)  # type: ignore[arg-type]


def test_service_kpis_weight_each_queue_by_its_customers() -> None:
    streams = Streams(zone_arrivals_per_h=LAM, smart_share=0.5, counters=np.array([3, 2]),
                      terminals=np.array([4, 2]), counter_service_min=12.0,
                      terminal_service_min=4.0, capacity_per_h=np.array([12.0, 7.0]),
                      target_wait_min=11.0)
    ev = evaluate(sp.csr_array(DIST), streams, Behaviour(rule="choice"))
    k = service_kpis(ev, streams)
    lc = ev.load_per_h * 0.5
    assert k["counter_mean_wait_min"] == pytest.approx(
        float(lc @ ev.counter_wait_min / lc.sum()), abs=1e-3)
    assert k["overloaded_outlets"] == 2  # 90/h against 12 + 7
    assert k["served_per_h"] + k["abandoned_per_h"] == pytest.approx(LAM.sum(), abs=0.02)
    assert k["counter_share_wait_over_target"] > k["share_customers_wait_over_target"] > 0
    only_a = service_kpis(ev, streams, mask=np.array([True, False]))
    assert only_a["outlets"] == 1
