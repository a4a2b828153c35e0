"""One measurement of a network for every figure: customers behave by the scenario's rule.

The diagnosis (the current network), a plan's *before* and *after* networks and
``netplan evaluate`` (a plan folder, perhaps edited by hand) all call :func:`measure`:
it builds the two queues of every open outlet and the demand that feeds them
(:class:`netplan.model.behaviour.Streams`), lets the customers choose under a
:class:`netplan.model.behaviour.Behaviour` (the scenario's ``[behaviour]`` table) and
returns the flows, loads and waits plus the bank's service figures
(:func:`netplan.model.behaviour.service_kpis`). The travel figures of
:mod:`netplan.model.kpi` come from the same flows (:attr:`Measured.assignment`), so
before and after are always measured the same way.

A measurement carries a fingerprint of everything it was made from (demand, network,
scenario, rule); :func:`measure` given ``known`` measurements reuses one with the same
fingerprint instead of letting the customers choose again (the behaviour loop measures
the current network and the kept plan, which the plan's *before* and *after* are).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan._types import FloatArray, IntArray
from netplan.model import cost, demand, kpi, service
from netplan.model.behaviour import (
    PARAMETERS,
    Behaviour,
    Evaluation,
    Streams,
    behaviour_of,
    evaluate,
    service_kpis,
)
from netplan.model.scenario import Scenario
from netplan.planning.contract import BehaviourInfo, OverCapacity, ServiceKpis
from netplan.study.layers import Study

__all__ = [
    "SERVICE_KEYS",
    "Measured",
    "Network",
    "behaviour_block",
    "change_pct",
    "measure",
    "measure_study",
    "service_figures",
    "zone_points",
]

SERVICE_KEYS: tuple[str, ...] = (
    "rule", "outlets", "mean_wait_min", "counter_mean_wait_min", "terminal_mean_wait_min",
    "share_customers_wait_over_target", "overloaded_outlets", "unserved_arrivals_per_h",
)
"""The headline keys of a :class:`~netplan.planning.contract.ServiceKpis` (``--json``)."""


def zone_points(gdf: Any) -> NDArray[np.float64]:
    """``(n, 2)`` metric coordinates of features' demand points (polygon centroids, points)."""
    geom = gdf.geometry
    pts = geom.centroid if not (geom.geom_type == "Point").all() else geom
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]).astype(np.float64)


@dataclass(frozen=True)
class Network:
    """Sites with their servers after (or before) a plan; no servers = closed.

    Attributes
    ----------
    xy : ndarray
        ``(n_sites, 2)`` metric coordinates.
    counters, terminals : ndarray
        ``(n_sites,)`` servers of each site (both 0 for a closed site or a candidate not
        opened).
    """

    xy: FloatArray
    counters: IntArray
    terminals: IntArray

    @property
    def is_open(self) -> NDArray[np.bool_]:
        """Sites with at least one server."""
        return np.asarray((self.counters + self.terminals) > 0)


@dataclass(frozen=True)
class Measured:
    """A network measured under a behaviour rule (per site arrays cover every site).

    Attributes
    ----------
    behaviour : Behaviour
        The rule and its parameters.
    streams : Streams
        The demand and the queues it was measured with.
    evaluation : Evaluation
        Flows, loads, per-queue waits (closed sites take nothing).
    assignment : kpi.Assignment
        The flows as zone -> site shares with their travel distances (travel KPIs).
    load, capacity, wait : ndarray
        Arrivals per hour, capacity at the wait target (0 closed) and the mean wait of
        both queues blended (NaN closed) of each site.
    nearest_m : ndarray
        Per zone, travel distance to the nearest open site.
    service : ServiceKpis
        The bank's service figures over the sites of the scope.
    fingerprint : str
        SHA-256 of what the measurement was made from (:func:`measure`); the scope is not
        part of it.
    """

    behaviour: Behaviour
    streams: Streams
    evaluation: Evaluation
    assignment: kpi.Assignment
    load: FloatArray
    capacity: FloatArray
    wait: FloatArray
    nearest_m: FloatArray
    service: ServiceKpis
    fingerprint: str = ""

    def kpi_measures(self, zone_pop: FloatArray, is_open: NDArray[np.bool_]) -> dict[str, Any]:
        """Keyword arguments of :func:`netplan.model.kpi.kpi_bundle` for these flows."""
        return {
            "zone_pop": zone_pop,
            "zone_arrivals": self.streams.zone_arrivals_per_h,
            "zone_nearest_m": self.nearest_m,
            "assignment": self.assignment,
            "site_open": is_open,
            "site_arrivals": self.load,
            "site_capacity": self.capacity,
            "site_wait_min": self.wait,
            "target_wait_min": self.streams.target_wait_min,
        }


def _dist(zone_xy: FloatArray, net: Network, scenario: Scenario) -> sp.csr_array:
    """Distances from each zone to its k nearest open sites within reach (all columns)."""
    idx = np.flatnonzero(net.is_open)
    n = len(net.counters)
    if idx.size == 0:
        return sp.csr_array((len(zone_xy), n))
    d = cost.knn_dist_m(zone_xy, net.xy[idx], k=scenario.k_nearest,
                        max_dist_m=scenario.max_dist_km * 1000.0,
                        detour_factor=scenario.detour_factor).tocoo()
    out = sp.csr_array((d.data, (d.row, idx[d.col])), shape=(len(zone_xy), n))
    out.sort_indices()
    return out


def _assignment(ev: Evaluation, dist: sp.csr_array, arrivals: FloatArray) -> kpi.Assignment:
    f = ev.flows.tocoo()
    rows, cols = np.asarray(f.row, np.int64), np.asarray(f.col, np.int64)
    order = np.lexsort((cols, rows))
    rows, cols, w = rows[order], cols[order], np.asarray(f.data, np.float64)[order]
    keep = w > 0
    rows, cols, w = rows[keep], cols[keep], w[keep]
    safe = np.where(arrivals > 0, arrivals, 1.0)
    d = np.asarray(dist[rows, cols], np.float64).ravel() if rows.size else np.empty(0)
    unserved = np.where(arrivals > 0, ev.unserved_per_h / safe, 0.0)
    return kpi.Assignment(zone=rows, site=cols, share=w / safe[rows], dist_m=d,
                          unserved_share=np.clip(unserved, 0.0, 1.0))


def measure(
    *,
    zone_xy: FloatArray,
    zone_arrivals: FloatArray,
    network: Network,
    scenario: Scenario,
    behaviour: Behaviour,
    site_mask: NDArray[np.bool_] | None = None,
    zone_mask: NDArray[np.bool_] | None = None,
    known: Sequence[Measured] = (),
) -> Measured:
    """Where the customers of every zone go in ``network``, and what they experience.

    Parameters
    ----------
    zone_xy, zone_arrivals : ndarray
        ``(n_zones, 2)`` demand points and ``(n_zones,)`` peak-hour arrivals.
    network : Network
        The sites and their servers.
    scenario : Scenario
        Service times, wait target, reach (``k_nearest``, ``max_dist_km``, detour).
    behaviour : Behaviour
        The rule and its parameters.
    site_mask, zone_mask : ndarray of bool, optional
        The sites whose service figures count and the zones whose unserved demand counts
        (the plan's scope); default all.
    known : sequence of Measured, optional
        Measurements made before; one of the same demand, network, scenario and rule (its
        fingerprint) is returned with this scope's service figures instead of a new one.

    Returns
    -------
    Measured
    """
    is_open = network.is_open
    n = len(is_open)
    c = np.where(is_open, network.counters, 0).astype(np.int64)
    t = np.where(is_open, network.terminals, 0).astype(np.int64)
    key = _fingerprint((zone_xy, zone_arrivals, network.xy, c, t), scenario, behaviour)
    mask = is_open if site_mask is None else (is_open & site_mask)
    for m in known:
        if m.fingerprint == key:
            return dataclasses.replace(m, service=service_figures(
                m.evaluation, m.streams, mask=mask, zone_mask=zone_mask))
    cap = np.zeros(n)
    if is_open.any():
        cap[is_open] = service.capacity_per_h(np.maximum(c[is_open], 1),
                                              np.maximum(t[is_open], 1), scenario=scenario)
    arrivals = np.asarray(zone_arrivals, np.float64)
    streams = Streams(zone_arrivals_per_h=arrivals, smart_share=scenario.smart_share,
                      counters=c, terminals=t,
                      counter_service_min=scenario.counter_service_min,
                      terminal_service_min=scenario.terminal_service_min,
                      capacity_per_h=cap, target_wait_min=scenario.target_wait_min)
    dist = _dist(zone_xy, network, scenario)
    ev = evaluate(dist, streams, behaviour)
    s = scenario.smart_share
    wait = np.where(is_open, (1 - s) * ev.counter_wait_min + s * ev.terminal_wait_min, np.nan)
    nearest = cost.nearest_dist_m(zone_xy, network.xy[is_open],
                                  detour_factor=scenario.detour_factor)
    return Measured(behaviour=behaviour, streams=streams, evaluation=ev,
                    assignment=_assignment(ev, dist, arrivals), load=ev.load_per_h,
                    capacity=cap, wait=np.asarray(wait, np.float64),
                    nearest_m=np.asarray(nearest, np.float64),
                    service=service_figures(ev, streams, mask=mask, zone_mask=zone_mask),
                    fingerprint=key)


def _fingerprint(arrays: Sequence[Any], scenario: Scenario, behaviour: Behaviour) -> str:
    """SHA-256 of a measurement's inputs: the arrays (dtype, shape and bytes), the scenario
    and the rule (their ``repr``: frozen dataclasses of plain values)."""
    h = hashlib.sha256()
    for a in arrays:
        arr = np.ascontiguousarray(a)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    h.update(repr(scenario).encode())
    h.update(repr(behaviour).encode())
    return h.hexdigest()


def service_figures(ev: Evaluation, streams: Streams, *, mask: NDArray[np.bool_] | None,
                    zone_mask: NDArray[np.bool_] | None) -> ServiceKpis:
    """:func:`netplan.model.behaviour.service_kpis` typed as a ``ServiceKpis``.

    Parameters
    ----------
    ev, streams
        The evaluation and what it was made with.
    mask, zone_mask : ndarray of bool or None
        The outlets and the zones (unserved demand) that count; ``None``: all.

    Returns
    -------
    ServiceKpis
    """
    k = service_kpis(ev, streams, mask=mask, zone_mask=zone_mask)
    return {
        "rule": str(k["rule"]),
        "outlets": int(k["outlets"]),
        "mean_wait_min": float(k["mean_wait_min"]),
        "counter_mean_wait_min": float(k["counter_mean_wait_min"]),
        "terminal_mean_wait_min": float(k["terminal_mean_wait_min"]),
        "share_customers_wait_over_target": float(k["share_customers_wait_over_target"]),
        "counter_share_wait_over_target": float(k["counter_share_wait_over_target"]),
        "overloaded_outlets": int(k["overloaded_outlets"]),
        "unserved_arrivals_per_h": float(k["unserved_arrivals_per_h"]),
        "served_per_h": float(k["served_per_h"]),
        "abandoned_per_h": float(k["abandoned_per_h"]),
    }


def study_zones(study: Study, scenario: Scenario, *, year: int
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Demand points, population and peak-hour arrivals of every zone of ``study``.

    Parameters
    ----------
    study : Study
        The layers (metric CRS).
    scenario : Scenario
        Demand parameters.
    year : int
        Population year.

    Returns
    -------
    tuple of ndarray
        ``(zone_xy, population, arrivals_per_h)``.
    """
    pop = np.asarray(demand.zone_population(study.zones, scenario, year=year,
                                            districts=study.districts), np.float64)
    arrivals = np.asarray(demand.arrivals_per_h(pop, scenario), np.float64)
    return zone_points(study.zones), pop, arrivals


def measure_study(study: Study, scenario: Scenario, network: Network, *, year: int,
                  rule: str | None = None) -> Measured:
    """:func:`measure` over every zone of ``study`` with the demand of ``year``.

    Parameters
    ----------
    study : Study
        The layers (metric CRS).
    scenario : Scenario
        Demand, service, travel and ``[behaviour]``.
    network : Network
        The sites and their servers.
    year : int
        Population year.
    rule : str, optional
        Another behaviour rule than the scenario's.

    Returns
    -------
    Measured
    """
    zxy, _, arrivals = study_zones(study, scenario, year=year)
    return measure(zone_xy=zxy, zone_arrivals=arrivals, network=network, scenario=scenario,
                   behaviour=behaviour_of(scenario, rule=rule))


def change_pct(before: ServiceKpis, after: ServiceKpis) -> dict[str, float | None]:
    """Percentage change of the counter mean wait and of the share over the target.

    Parameters
    ----------
    before, after : ServiceKpis
        The two networks under the same rule.

    Returns
    -------
    dict
        ``counter_mean_wait_min`` and ``share_customers_wait_over_target``: ``100 (after -
        before) / before``, ``None`` when ``before`` is 0.
    """
    out: dict[str, float | None] = {}
    for key in ("counter_mean_wait_min", "share_customers_wait_over_target"):
        b, a = float(before[key]), float(after[key])
        out[key] = round(100.0 * (a - b) / b, 1) if b > 0 else None
    return out


def behaviour_block(
    *,
    behaviour: Behaviour,
    before: ServiceKpis,
    after: ServiceKpis,
    nearest: tuple[ServiceKpis, ServiceKpis] | None,
    over_capacity: list[OverCapacity],
    note: str,
) -> BehaviourInfo:
    """The ``behaviour`` block of ``kpis.json`` (see ``BehaviourInfo`` in the contract).

    Parameters
    ----------
    behaviour : Behaviour
        The scenario's rule and parameters.
    before, after : ServiceKpis
        The two networks under that rule.
    nearest : tuple of ServiceKpis, optional
        Before and after under ``nearest`` (given when the rule is another one).
    over_capacity : list of OverCapacity
        The outlets above their capacity at the target after the plan.
    note : str
        What the solver's gap refers to.

    Returns
    -------
    BehaviourInfo
    """
    block: BehaviourInfo = {
        "rule": behaviour.rule,
        "parameters": {k: float(getattr(behaviour, k)) for k in PARAMETERS},
        "before": before,
        "after": after,
        "change_pct": change_pct(before, after),
        "holds": not over_capacity,
        "over_capacity": over_capacity,
        "note": note,
    }
    if nearest is not None:
        block["nearest"] = {"before": nearest[0], "after": nearest[1],
                            "change_pct": change_pct(*nearest)}
    return block
