"""Known answers for the assignment rule and the KPI definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from netplan.model import cost, kpi


def _dist(rows: list[list[float]]) -> sp.csr_array:
    a = np.array(rows, dtype=float)
    r, c = np.nonzero(~np.isnan(a))
    return sp.csr_array((a[r, c], (r, c)), shape=a.shape)


def test_nearest_first_then_spill_to_next_nearest() -> None:
    # zone 0 is nearer to site 0 than zone 1 is; site 0 has room for 10 only
    dist = _dist([[100.0, 900.0], [200.0, 300.0]])
    a = kpi.assign_nearest_with_spill(dist, np.array([8.0, 6.0]), np.array([10.0, 50.0]))
    load = a.site_load(np.array([8.0, 6.0]), 2)
    assert load.tolist() == pytest.approx([10.0, 4.0])
    # zone 1: 2 of 6 at site 0 (its nearest), the rest spilled to site 1
    shares = {(int(z), int(s)): float(x) for z, s, x in zip(a.zone, a.site, a.share, strict=True)}
    assert shares == pytest.approx({(0, 0): 1.0, (1, 0): 2 / 6, (1, 1): 4 / 6})
    assert a.unserved_share.tolist() == [0.0, 0.0]


def test_demand_with_no_room_in_reach_is_unserved() -> None:
    dist = _dist([[100.0, np.nan]])
    a = kpi.assign_nearest_with_spill(dist, np.array([5.0]), np.array([2.0, 100.0]))
    assert a.unserved_share.tolist() == pytest.approx([0.6])


def test_weighted_quantile_known_answer() -> None:
    v = np.array([1.0, 2.0, 3.0, 4.0])
    w = np.array([1.0, 1.0, 1.0, 97.0])
    assert kpi.weighted_quantile(v, w, 0.5) == 4.0
    assert kpi.weighted_quantile(v, np.ones(4), 0.5) == 2.0
    assert kpi.weighted_quantile(v, np.ones(4), 0.95) == 4.0


def test_network_kpis_known_answer() -> None:
    a = kpi.Assignment(
        zone=np.array([0, 1]), site=np.array([0, 1]), share=np.array([1.0, 0.5]),
        dist_m=np.array([500.0, 2500.0]), unserved_share=np.array([0.0, 0.5]),
    )
    k = kpi.network_kpis(
        zone_pop=np.array([1000.0, 2000.0]), zone_arrivals=np.array([10.0, 20.0]),
        zone_nearest_m=np.array([500.0, 2500.0]), assignment=a,
        site_open=np.array([True, True]), site_arrivals=np.array([10.0, 10.0]),
        site_capacity=np.array([12.0, 8.0]), site_wait_min=np.array([4.0, 20.0]),
        target_wait_min=11.0,
    )
    assert k["population"] == 3000
    # served population: 1000 at 500 m, 1000 at 2500 m
    assert k["mean_dist_m"] == pytest.approx(1500.0)
    assert k["share_pop_within_1km"] == pytest.approx(1 / 3, abs=1e-4)
    assert k["share_pop_within_3km"] == pytest.approx(1.0)
    # customers: 10 wait 4 min, 10 wait 20 min
    assert k["mean_wait_min"] == pytest.approx(12.0)
    assert k["share_customers_over_target"] == pytest.approx(0.5)
    assert k["overloaded_outlets"] == 1
    assert k["unserved_arrivals_per_h"] == pytest.approx(10.0)


def test_knn_is_sparse_and_respects_reach() -> None:
    zones = np.array([[0.0, 0.0], [10_000.0, 0.0]])
    sites = np.array([[100.0, 0.0], [300.0, 0.0], [5000.0, 0.0]])
    d = cost.knn_dist_m(zones, sites, k=2, max_dist_m=1000.0, detour_factor=1.5)
    assert d.shape == (2, 3)
    assert d.nnz == 2  # zone 1 has nothing within reach
    assert d[0, 0] == pytest.approx(150.0)
    assert d[0, 1] == pytest.approx(450.0)
    assert cost.nearest_dist_m(zones, sites, detour_factor=1.0).tolist() == [100.0, 5000.0]


@pytest.mark.parametrize(("kw", "match"), [
    ({"k": 0, "max_dist_m": 1.0}, "at least 1"),
    ({"k": 1, "max_dist_m": 0.0}, "positive"),
    ({"k": 1, "max_dist_m": 1.0, "detour_factor": 0.5}, "detour"),
])
def test_knn_rejects_bad_options(kw: dict[str, float], match: str) -> None:
    from netplan._errors import NetplanError

    with pytest.raises(NetplanError, match=match):
        cost.knn_dist_m(np.zeros((1, 2)), np.zeros((1, 2)), **kw)  # type: ignore[arg-type]


def _toy_measure(rule: str, demand: float = 1.0):  # type: ignore[no-untyped-def]
    from netplan.model.behaviour import behaviour_of
    from netplan.model.scenario import load_scenario
    from netplan.planning.evaluate import Network, measure

    sc = load_scenario()
    net = Network(xy=np.array([[0.0, 0.0], [3000.0, 0.0], [9000.0, 0.0]]),
                  counters=np.array([5, 5, 0]), terminals=np.array([4, 4, 0]))
    zxy = np.array([[500.0, 0.0], [2000.0, 0.0]])
    return sc, measure(zone_xy=zxy, zone_arrivals=np.array([demand, 2 * demand]), network=net,
                       scenario=sc, behaviour=behaviour_of(sc, rule=rule))


def test_travel_kpis_come_from_the_behaviour_flows() -> None:
    # little demand: under "nearest" each zone goes to its nearest open site, whole
    sc, m = _toy_measure("nearest")
    a = m.assignment
    assert a.zone.tolist() == [0, 1] and a.site.tolist() == [0, 1]
    assert a.share.tolist() == pytest.approx([1.0, 1.0])
    assert a.dist_m.tolist() == pytest.approx([500.0 * sc.detour_factor, 1000.0 * sc.detour_factor])
    assert m.load.tolist() == pytest.approx([1.0, 2.0, 0.0])
    assert np.isnan(m.wait[2]) and m.capacity[2] == 0.0  # the closed site takes nothing
    # under "choice" customers spread over both open sites, so they travel further on average
    _, c = _toy_measure("choice")
    served = np.bincount(c.assignment.zone, weights=c.assignment.share, minlength=2)
    assert served.tolist() == pytest.approx([1.0, 1.0])
    assert set(c.assignment.site.tolist()) == {0, 1}
    assert c.service["outlets"] == 2 and c.service["rule"] == "choice"
    pop = np.array([100.0, 200.0])
    far = kpi.network_kpis(**c.kpi_measures(pop, np.array([True, True, False])))
    near = kpi.network_kpis(**m.kpi_measures(pop, np.array([True, True, False])))
    assert far["mean_dist_m"] > near["mean_dist_m"]
    assert far["unserved_arrivals_per_h"] == near["unserved_arrivals_per_h"] == 0.0
