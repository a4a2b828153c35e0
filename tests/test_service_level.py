"""The service-level capacity in its Erlang A form (customers give up after their patience).

The known answer is computed here independently of :mod:`netplan.model.erlang_a`: the
stationary law of the number in system by a linear solve of the truncated generator (not
the log-space recursion) and the time a customer who finds ``j`` ahead needs to reach a
server by the matrix exponential of that pure-death chain (not uniformisation). At the
capacity netplan returns, that share must equal the level, and exceed it just above.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from netplan._errors import QueueingError
from netplan.model import erlang_a, service
from netplan.model.scenario import load_scenario


def _share_over(c: int, lam_h: float, service_min: float, patience_min: float,
                t_min: float, n_max: int = 160) -> float:
    """P(W > t) of an M/M/c+M queue, by a generator solve and a matrix exponential."""
    lam, mu, theta = lam_h / 60.0, 1.0 / service_min, 1.0 / patience_min
    q = np.zeros((n_max + 1, n_max + 1))
    for n in range(n_max + 1):
        if n < n_max:
            q[n, n + 1] = lam
        if n > 0:
            q[n, n - 1] = min(n, c) * mu + max(n - c, 0) * theta
        q[n, n] = -q[n].sum()
    a = np.vstack([q.T, np.ones(n_max + 1)])
    b = np.zeros(n_max + 2)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    jobs = n_max - c + 1  # j = 0 .. n_max - c customers ahead
    death = np.zeros((jobs + 1, jobs + 1))  # state k = moves still to make (k = j + 1)
    for k in range(1, jobs + 1):
        rate = c * mu + (k - 1) * theta
        death[k, k - 1] = rate
        death[k, k] = -rate
    alive = 1.0 - expm(death * t_min)[1:, 0]  # P(not at a server by t), from k = 1 ..
    return math.exp(-theta * t_min) * float(np.dot(pi[c:], alive))


def _check_root(got: float, c: int, service_min: float, patience_min: float,
                share: float) -> None:
    """``got`` arrivals/h give exactly ``share`` over 11 min; 0.1% more give more."""
    at = _share_over(c, got, service_min, patience_min, 11.0)
    assert at == pytest.approx(share, rel=1e-6)
    assert _share_over(c, got * 1.001, service_min, patience_min, 11.0) > share


@pytest.mark.parametrize(("servers", "service_min", "patience_min", "share"),
                         [(2, 12.0, 140.0, 0.2), (5, 12.0, 30.0, 0.1), (4, 4.0, 60.0, 0.05)])
def test_erlang_a_tail_capacity_known_answer(servers: int, service_min: float,
                                             patience_min: float, share: float) -> None:
    got = erlang_a.tail_capacity_per_h(servers, service_min, patience_min, t_min=11.0,
                                       max_share=share)
    _check_root(got, servers, service_min, patience_min, share)


def test_the_outlet_capacity_uses_the_erlang_a_tail_with_patience() -> None:
    sc = load_scenario().replace(max_share_over_target=0.2, patience_min=60.0)
    s = sc.smart_share
    cap_c, cap_t = service.stream_capacity_per_h(5, 4, scenario=sc)
    _check_root(float(cap_c), 5, sc.counter_service_min, 60.0, 0.2)
    _check_root(float(cap_t), 4, sc.terminal_service_min, 60.0, 0.2)
    got = float(service.capacity_per_h(5, 4, scenario=sc))
    assert got == pytest.approx(min(float(cap_c) / (1 - s), float(cap_t) / s), rel=1e-12)
    # customers who give up shorten the queue: more arrivals meet the same level
    erlang_c = service.tail_capacity_per_h(5, sc.counter_service_min, sc.target_wait_min, 0.2)
    assert float(cap_c) > erlang_c


def test_a_level_met_at_any_load_is_refused() -> None:
    with pytest.raises(QueueingError, match=r"a share of 0\.9 waiting longer than 11 min is "
                                            r"met at any load .* exp\(-11/30\) = 0\.693"):
        erlang_a.tail_capacity_per_h(3, 12.0, 30.0, t_min=11.0, max_share=0.9)
