"""Erlang C: known answers, independent exact checks, edge cases, properties, the CLI."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netplan._errors import QueueingError
from netplan.cli import app
from netplan.model import queueing as q

# --- independent reference: the textbook direct factorial sum, in exact rationals ----------


def erlang_c_exact(c: int, a: Fraction) -> Fraction:
    """C(c, a) = (a^c/c! * c/(c-a)) / (sum_{k<c} a^k/k! + a^c/c! * c/(c-a)), exactly."""
    top = a**c / math.factorial(c) * Fraction(c) / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def erlang_b_exact(c: int, a: Fraction) -> Fraction:
    """B(c, a) = (a^c/c!) / sum_{k<=c} a^k/k!, exactly."""
    return (a**c / math.factorial(c)) / sum(a**k / math.factorial(k) for k in range(c + 1))


# --- known answers -----------------------------------------------------------------------


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    # 100 calls per 30 minutes, average handling time 180 s -> A = 10 Erlang; with N = 11
    # agents the probability of waiting is 0.6821 and the average speed of answer 122.8 s.
    arrivals_per_h, service_min = 200.0, 3.0
    assert q.offered_load_erl(arrivals_per_h, service_min) == pytest.approx(10.0, rel=1e-15)
    assert q.erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    assert q.mean_wait_min(11, arrivals_per_h, service_min) * 60 == pytest.approx(122.8, abs=0.05)
    # ... and to 1e-12 against the exact rational value of the same formula.
    exact = float(erlang_c_exact(11, Fraction(10)))
    assert q.erlang_c(11, 10.0) == pytest.approx(exact, rel=1e-12)


def test_classic_erlang_c_tutorial_example() -> None:
    # The widely reproduced Erlang-C tutorial example: 360 calls per half hour, 4-minute
    # calls (A = 48 Erlang), 55 agents: probability of waiting 0.2387, ASA 8.18 s.
    a = 360 / 30 * 4
    assert a == 48
    assert q.erlang_c(55, a) == pytest.approx(0.2387, abs=5e-5)
    assert q.mean_wait_min(55, 720.0, 4.0) * 60 == pytest.approx(8.18, abs=0.005)
    assert q.erlang_c(55, a) == pytest.approx(float(erlang_c_exact(55, Fraction(48))), rel=1e-12)


def test_erlang_b_table_value() -> None:
    # Erlang B tables (e.g. Westbay / ITU-T E.520 style tables): 10 trunks, 5 Erlang -> 1.84%.
    assert q.erlang_b(10, 5.0) == pytest.approx(0.0184, abs=5e-5)
    assert q.erlang_b(1, 1.0) == pytest.approx(0.5, rel=1e-15)


def test_mm1_and_mm2_closed_forms() -> None:
    # Kleinrock, Queueing Systems vol. 1 (1975): M/M/1 has C = rho and Wq = rho S / (1 - rho);
    # M/M/2 has C = 2 rho^2 / (1 + rho).
    for rho in (0.01, 0.3, 0.5, 0.9, 0.999):
        s = 12.0
        lam = 60.0 * rho / s
        assert q.erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)
        assert q.mean_wait_min(1, lam, s) == pytest.approx(rho * s / (1 - rho), rel=1e-9)
        assert q.erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)


@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 12])
@pytest.mark.parametrize("frac", [Fraction(1, 10), Fraction(1, 2), Fraction(9, 10),
                                  Fraction(999, 1000)])
def test_recursion_matches_exact_direct_sum(c: int, frac: Fraction) -> None:
    a = frac * c
    assert q.erlang_c(c, float(a)) == pytest.approx(float(erlang_c_exact(c, a)), rel=1e-12)
    assert q.erlang_b(c, float(a)) == pytest.approx(float(erlang_b_exact(c, a)), rel=1e-12)


def test_stable_for_200_servers_near_saturation() -> None:
    # Factorials of 200 overflow doubles; the recursion does not.
    for a in (Fraction(19999, 100), Fraction(199999, 1000), Fraction(150), Fraction(190)):
        got = q.erlang_c(200, float(a))
        assert got == pytest.approx(float(erlang_c_exact(200, a)), rel=1e-9)
    w = q.mean_wait_min(200, 199.99 * 60 / 10, 10.0)
    exact = erlang_c_exact(200, Fraction(19999, 100)) * 10 / (200 - Fraction(19999, 100))
    assert w == pytest.approx(float(exact), rel=1e-8)
    assert q.erlang_c(200, 1.0) == pytest.approx(0.0, abs=1e-300)  # underflows gracefully


# --- capacity and servers ----------------------------------------------------------------


def test_capacity_mm1_closed_form() -> None:
    # M/M/1: Wq = rho S / (1 - rho) = T  ->  rho = T / (S + T), lambda = 60 rho / S.
    for s, t in ((12.0, 11.0), (15.0, 11.0), (4.0, 1.0), (1.0, 30.0)):
        assert q.capacity_per_h_at_target(1, s, t) == pytest.approx(60 * t / (s + t) / s,
                                                                     rel=1e-13)


@pytest.mark.parametrize("c,s", [(1, 12.0), (2, 12.0), (5, 12.0), (4, 4.0), (10, 4.0),
                                 (50, 20.0), (200, 3.0)])
def test_capacity_is_the_largest_rate_within_target(c: int, s: float) -> None:
    cap = q.capacity_per_h_at_target(c, s, 11.0)
    assert q.mean_wait_min(c, cap, s) <= 11.0
    assert q.mean_wait_min(c, cap * (1 + 1e-9), s) > 11.0
    assert cap < 60 * c / s


def test_capacity_edges() -> None:
    assert q.capacity_per_h_at_target(3, 10.0, 0.0) == 0.0
    assert q.capacity_per_h_at_target(3, 10.0, math.inf) == pytest.approx(18.0)


def test_servers_for_target_is_minimal() -> None:
    # Call Centre Helper example again: 10 Erlang, 180 s, target ASA 20 s -> 13 agents
    # (12 agents: 40.4 s, 13 agents: 17.1 s).
    need = q.servers_for_target(200.0, 3.0, 20 / 60)
    assert need == 13
    assert q.mean_wait_min(13, 200.0, 3.0) <= 20 / 60 < q.mean_wait_min(12, 200.0, 3.0)
    assert q.servers_for_target(0.0, 12.0, 11.0) == 1
    assert q.servers_for_target(20.0, 12.0, 11.0) == 5


def test_saturation_is_documented_inf() -> None:
    assert q.mean_wait_min(5, 25.0, 12.0) == math.inf  # rho exactly 1
    assert q.mean_wait_min(5, 100.0, 12.0) == math.inf
    assert q.erlang_c(5, 7.0) == 1.0
    assert q.utilisation(5, 100.0, 12.0) == pytest.approx(4.0)
    assert q.mean_wait_min(5, 0.0, 12.0) == 0.0
    assert q.erlang_c(5, 0.0) == 0.0


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: q.erlang_c(0, 1.0), "servers"),
        (lambda: q.erlang_c(-2, 1.0), "servers"),
        (lambda: q.erlang_c(2.5, 1.0), "servers"),
        (lambda: q.erlang_c(True, 1.0), "servers"),
        (lambda: q.erlang_c(float("nan"), 1.0), "servers"),
        (lambda: q.erlang_c(2, -1.0), "offered_load_erl"),
        (lambda: q.erlang_c(2, float("nan")), "offered_load_erl"),
        (lambda: q.mean_wait_min(2, -3.0, 5.0), "arrivals_per_h"),
        (lambda: q.mean_wait_min(2, float("inf"), 5.0), "arrivals_per_h"),
        (lambda: q.mean_wait_min(2, 3.0, 0.0), "service_min"),
        (lambda: q.mean_wait_min(2, 3.0, -1.0), "service_min"),
        (lambda: q.capacity_per_h_at_target(2, 5.0, -1.0), "target_wait_min"),
        (lambda: q.capacity_per_h_at_target(2, 5.0, float("nan")), "target_wait_min"),
        (lambda: q.servers_for_target(1e9, 60.0, 1.0), "MAX_SERVERS"),
        (lambda: q.mean_wait_min_array([1, 0], [1.0, 1.0], 5.0), "servers"),
        (lambda: q.mean_wait_min_array([1, 2], [1.0, -1.0], 5.0), "arrivals_per_h"),
    ],
)
def test_invalid_inputs_name_the_argument(call: object, match: str) -> None:
    with pytest.raises(QueueingError, match=match):
        call()  # type: ignore[operator]


def test_vectorised_matches_scalar() -> None:
    servers = np.array([1, 2, 5, 5, 10, 200])
    arrivals = np.array([3.0, 9.0, 20.0, 40.0, 140.0, 3990.0])
    service = np.array([12.0, 12.0, 12.0, 12.0, 4.0, 3.0])
    w = q.mean_wait_min_array(servers, arrivals, service)
    u = q.utilisation_array(servers, arrivals, service)
    c = q.erlang_c_array(servers, arrivals * service / 60)
    for i in range(len(servers)):
        assert w[i] == pytest.approx(q.mean_wait_min(int(servers[i]), arrivals[i], service[i]),
                                     rel=1e-12)
        assert u[i] == pytest.approx(q.utilisation(int(servers[i]), arrivals[i], service[i]))
        assert c[i] == pytest.approx(q.erlang_c(int(servers[i]), arrivals[i] * service[i] / 60),
                                     rel=1e-12)
    assert np.isinf(w[3])  # 40/h at 5 counters x 12 min is saturated


# --- properties --------------------------------------------------------------------------

anything = st.one_of(
    st.integers(-3, 250),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=500),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(c=anything, a=anything)
def test_erlang_c_valid_or_queueing_error(c: object, a: object) -> None:
    try:
        v = q.erlang_c(c, a)  # type: ignore[arg-type]
    except QueueingError:
        return
    assert 0.0 <= v <= 1.0


@settings(max_examples=300, deadline=None)
@given(c=anything, lam=anything, s=anything)
def test_mean_wait_valid_or_queueing_error(c: object, lam: object, s: object) -> None:
    try:
        w = q.mean_wait_min(c, lam, s)  # type: ignore[arg-type]
        u = q.utilisation(c, lam, s)  # type: ignore[arg-type]
    except QueueingError:
        return
    assert w >= 0.0 and not math.isnan(w)
    assert u >= 0.0 and math.isfinite(u)
    assert (w == math.inf) == (u >= 1.0)


@settings(max_examples=200, deadline=None)
@given(c=anything, s=anything, t=anything)
def test_capacity_valid_or_queueing_error(c: object, s: object, t: object) -> None:
    try:
        cap = q.capacity_per_h_at_target(c, s, t)  # type: ignore[arg-type]
    except QueueingError:
        return
    assert isinstance(c, int | float) and isinstance(s, int | float)
    assert 0.0 <= cap <= 60.0 * float(c) / float(s)
    if 0 < cap < 60.0 * float(c) / float(s):
        assert q.mean_wait_min(c, cap, s) <= float(t)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(lam=anything, s=anything, t=anything)
def test_servers_for_target_valid_or_queueing_error(lam: object, s: object, t: object) -> None:
    try:
        n = q.servers_for_target(lam, s, t)  # type: ignore[arg-type]
    except QueueingError:
        return
    assert isinstance(n, int) and 1 <= n <= q.MAX_SERVERS
    assert q.mean_wait_min(n, lam, s) <= float(t)  # type: ignore[arg-type]
    if n > 1:
        assert q.mean_wait_min(n - 1, lam, s) > float(t)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(c=st.integers(1, 60), rho=st.floats(0.0, 0.9999), s=st.floats(0.5, 30.0))
def test_wait_increases_with_load_and_falls_with_servers(c: int, rho: float, s: float) -> None:
    lam = 60.0 * c * rho / s
    w = q.mean_wait_min(c, lam, s)
    assert q.mean_wait_min(c, lam * 1.01, s) >= w
    assert q.mean_wait_min(c + 1, lam, s) <= w


# --- CLI ---------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_queue_json() -> None:
    res = runner.invoke(app, ["queue", "--servers", "11", "--arrivals-per-h", "200",
                              "--service-min", "3", "--target-wait-min", "0.3333333", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    for key in ("prob_wait", "mean_wait_min", "utilisation", "capacity_per_h_at_target",
                "servers_for_target"):
        assert key in data
    assert data["prob_wait"] == pytest.approx(0.6821, abs=5e-5)
    assert data["servers_for_target"] == 13
    assert "note" not in data


def test_cli_queue_saturated_gives_null_and_note() -> None:
    res = runner.invoke(app, ["queue", "-c", "5", "-l", "30", "-s", "12", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["mean_wait_min"] is None
    assert data["prob_wait"] == 1.0
    assert "saturated" in data["note"]
    res = runner.invoke(app, ["queue", "-c", "5", "-l", "30", "-s", "12"])
    assert res.exit_code == 0 and "saturated" in res.stdout


def test_cli_queue_invalid_is_a_domain_error() -> None:
    res = runner.invoke(app, ["queue", "-c", "0", "-l", "30", "-s", "12", "--json"])
    assert isinstance(res.exception, QueueingError)
    assert "servers" in str(res.exception)
