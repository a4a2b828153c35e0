"""Outlet service model: two M/M/c streams, capacity at the target, waits, utilisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netplan._errors import QueueingError
from netplan.model import queueing, service
from netplan.model.scenario import load_scenario

SC = load_scenario()


def test_capacity_is_the_binding_stream() -> None:
    s = SC.smart_share
    for c, t in ((5, 4), (2, 4), (6, 10), (1, 1), (3, 20)):
        cap_c = queueing.capacity_per_h_at_target(c, SC.counter_service_min, SC.target_wait_min)
        cap_t = queueing.capacity_per_h_at_target(t, SC.terminal_service_min, SC.target_wait_min)
        got = float(service.capacity_per_h(c, t, scenario=SC))
        assert got == pytest.approx(min(cap_c / (1 - s), cap_t / s), rel=1e-14)


def test_default_format_capacities() -> None:
    caps = service.format_capacity_per_h(SC)
    assert list(caps) == ["full", "light", "smart"]
    # 12-minute counters, 4-minute terminals, 60% smart, 11-minute target (see the TOML)
    assert caps["full"] == pytest.approx(53.434, abs=1e-3)
    assert caps["light"] == pytest.approx(17.289, abs=1e-3)
    assert caps["smart"] == pytest.approx(65.688, abs=1e-3)
    assert caps["smart"] > caps["full"] > caps["light"]


def test_at_capacity_the_binding_stream_waits_exactly_the_target() -> None:
    cap = service.capacity_per_h(5, 4, scenario=SC)
    w_c, w_t = service.stream_wait_min(cap, 5, 4, scenario=SC)
    assert float(w_c) == pytest.approx(SC.target_wait_min, rel=1e-9)
    assert float(w_t) < SC.target_wait_min
    w = float(service.wait_min(cap, 5, 4, scenario=SC))
    assert w == pytest.approx(0.4 * float(w_c) + 0.6 * float(w_t), rel=1e-12)
    more = service.stream_wait_min(cap * 1.001, 5, 4, scenario=SC)[0]
    assert float(more) > SC.target_wait_min


def test_wait_and_utilisation_vectorised() -> None:
    lam = np.array([0.0, 20.0, 40.0, 60.0, 80.0])
    w = service.wait_min(lam, 5, 4, scenario=SC)
    u = service.utilisation(lam, 5, 4, scenario=SC)
    assert w.shape == lam.shape == u.shape
    assert w[0] == 0.0 and u[0] == 0.0
    assert np.all(np.diff(w[:4]) > 0)
    assert math.isinf(w[4])  # 32/h at 5 counters x 12 min: utilisation 1.28
    np.testing.assert_allclose(u, np.maximum(lam * 0.4 * 12 / 60 / 5, lam * 0.6 * 4 / 60 / 4))
    # mixed formats in one call, broadcast
    w2 = service.wait_min(np.array([20.0, 20.0]), np.array([5, 2]), np.array([4, 4]),
                          scenario=SC)
    assert w2[1] > w2[0]


def test_no_smart_share_means_counters_only() -> None:
    sc0 = SC.replace(smart_share=0.0)
    cap = float(service.capacity_per_h(5, 4, scenario=sc0))
    assert cap == pytest.approx(queueing.capacity_per_h_at_target(5, 12.0, 11.0), rel=1e-14)
    w = service.wait_min(np.array([10.0]), 5, 1, scenario=sc0)
    assert w[0] == pytest.approx(queueing.mean_wait_min(5, 10.0, 12.0))


def test_capacity_runs_on_unique_pairs_only() -> None:
    service._stream_cap.cache_clear()
    rng = np.random.default_rng(0)
    counters = rng.choice([2, 5, 6], size=562)
    terminals = rng.choice([4, 10], size=562)
    cap = service.capacity_per_h(counters, terminals, scenario=SC)
    assert cap.shape == (562,)
    info = service._stream_cap.cache_info()
    assert info.misses == 3 + 2  # three counter sizes, two terminal sizes
    expected = {(c, t): float(service.capacity_per_h(c, t, scenario=SC))
                for c in (2, 5, 6) for t in (4, 10)}
    assert all(cap[i] == expected[(counters[i], terminals[i])] for i in range(562))


def test_invalid_counts_and_arrivals() -> None:
    with pytest.raises(QueueingError, match=r"counters must be integers"):
        service.capacity_per_h(np.array([5, 0]), 4, scenario=SC)
    with pytest.raises(QueueingError, match=r"terminals must be integers"):
        service.wait_min(10.0, 5, 2.5, scenario=SC)
    with pytest.raises(QueueingError, match=r"arrivals_per_h"):
        service.wait_min(np.array([-1.0]), 5, 4, scenario=SC)
