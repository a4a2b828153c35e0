"""Diagnosis of the current network: who goes where, how long they wait, who is left out.

Customers behave by the scenario's ``[behaviour]`` rule (:mod:`netplan.model.behaviour`,
measured by :func:`netplan.planning.evaluate.measure`, as every plan's *before* and
*after*):

``choice`` (default)
    Customers spread over the outlets within reach (the scenario's ``max_dist_km`` travel
    distance, among its ``k_nearest`` outlets) by a logit of travel time plus weighted
    expected wait, at the congestion equilibrium.
``nearest``
    Each zone's customers go to their nearest outlet within reach; an outlet takes them
    until its busier queue is ``spill_utilisation`` busy, then they spill to the next.

Each outlet is two Erlang A queues (counters, terminals): customers give up after a mean
``patience_min``, so waits stay finite under overload. "Overloaded" means arrivals above
the capacity at the waiting-time target. What finds no outlet within reach (or, under
``nearest``, no room) is **unserved**.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from netplan.model import kpi, service
from netplan.model.behaviour import behaviour_of
from netplan.model.scenario import Scenario
from netplan.planning.contract import KpiSet, ServiceKpis
from netplan.planning.evaluate import (
    Network,
    measure,
    service_figures,
    study_zones,
    zone_points,
)
from netplan.study.geometry import ring_zone_order
from netplan.study.layers import Study

__all__ = ["SATURATION_UTILISATION", "Diagnosis", "diagnose", "throughput_per_h",
           "zone_points", "zone_table"]

SATURATION_UTILISATION = 0.95
"""Server utilisation at which an outlet stops taking more customers in the planner's own
routing (:func:`netplan.planning.problem.before_assignment`, the merge's repair); the
figures use the scenario's ``[behaviour] spill_utilisation``."""


def throughput_per_h(
    counters: NDArray[Any], terminals: NDArray[Any], *, scenario: Scenario, utilisation: float
) -> NDArray[np.float64]:
    """Total arrival rate at which the busier of an outlet's two queues hits ``utilisation``."""
    s = scenario.smart_share
    mu_c = 60.0 / scenario.counter_service_min
    mu_t = 60.0 / scenario.terminal_service_min
    c = np.asarray(counters, dtype=np.float64)
    t = np.asarray(terminals, dtype=np.float64)
    lim_c = c * mu_c / (1.0 - s) if s < 1 else np.full_like(c, np.inf)
    lim_t = t * mu_t / s if s > 0 else np.full_like(t, np.inf)
    return np.asarray(utilisation * np.minimum(lim_c, lim_t), dtype=np.float64)


@dataclass(frozen=True)
class Diagnosis:
    """The current network measured against the scenario (see the module docstring).

    Attributes
    ----------
    year
        The population year the demand comes from.
    rule
        The behaviour rule the figures assume.
    kpis
        ``{"overall": {...}, "districts": {adcode: {...}}, "ring_zones": {...}}``.
    service
        The bank's service figures (:class:`~netplan.planning.contract.ServiceKpis`):
        ``"overall"`` and one per district adcode (that district's outlets).
    outlets
        One row per outlet: id, name, format, adcode, ring_zone, counters, terminals,
        arrivals_per_h, capacity_per_h (at the waiting-time target), utilisation (arrivals
        / capacity at target; above 1 = overloaded), server_utilisation (busier queue),
        wait_min (both queues blended), counter_wait_min, terminal_wait_min,
        abandon_share (customers giving up), overloaded.
    zones
        One row per zone: zone_id, adcode, ring_zone, population, arrivals_per_h,
        nearest_m, dist_m (mean to serving outlets), unserved_share, serving (main outlet id).
    """

    year: int
    scenario_name: str
    target_wait_min: float
    rule: str
    kpis: KpiSet
    service: dict[str, ServiceKpis]
    outlets: pd.DataFrame
    zones: pd.DataFrame

    def to_dict(self, *, adcode: str | None = None) -> dict[str, Any]:
        """JSON-ready dict (``rule``: the behaviour rule the figures assume); with
        ``adcode``, the figures of that district only."""
        if adcode is None:
            head = dict(self.kpis["overall"])
            outlets = self.outlets
        else:
            head = dict(self.kpis["districts"][adcode])
            outlets = self.outlets[self.outlets["adcode"] == adcode]
        return {
            "year": self.year,
            "scenario": self.scenario_name,
            "target_wait_min": self.target_wait_min,
            "rule": self.rule,
            "district": adcode,
            **head,
            "service": self.service["overall" if adcode is None else adcode],
            "districts": self.kpis["districts"] if adcode is None else {adcode: head},
            "ring_zones": self.kpis["ring_zones"],
            "outlets": [_outlet_record(r) for r in outlets.to_dict("records")],
        }


def _outlet_record(r: dict[Any, Any]) -> dict[str, Any]:
    def num(x: Any, nd: int = 2) -> float | None:
        x = float(x)
        return round(x, nd) if np.isfinite(x) else None

    return {
        "id": r["id"],
        "name": r["name"],
        "format": r["format"],
        "adcode": r["adcode"],
        "ring_zone": r["ring_zone"],
        "counters": int(r["counters"]),
        "terminals": int(r["terminals"]),
        "arrivals_per_h": num(r["arrivals_per_h"]),
        "capacity_per_h": num(r["capacity_per_h"]),
        "utilisation": num(r["utilisation"], 3),
        "server_utilisation": num(r["server_utilisation"], 3),
        "wait_min": num(r["wait_min"]),
        "counter_wait_min": num(r["counter_wait_min"]),
        "terminal_wait_min": num(r["terminal_wait_min"]),
        "abandon_share": num(r["abandon_share"], 4),
        "overloaded": bool(r["overloaded"]),
    }


def diagnose(study: Study, scenario: Scenario, *, year: int | None = None,
             rule: str | None = None) -> Diagnosis:
    """Measure the current network of ``study`` under ``scenario`` (see module docstring).

    Parameters
    ----------
    study
        The layers, in the metric CRS, labelled with district and ring zone.
    scenario
        Demand, service, travel and behaviour parameters.
    year
        Population year (2010, the base year or the horizon year); default: the base year.
    rule
        Another behaviour rule than the scenario's (``nearest`` or ``choice``).

    Returns
    -------
    Diagnosis
    """
    year = scenario.base_year if year is None else year
    zones, branches = study.zones, study.branches
    zxy, pop, arrivals = study_zones(study, scenario, year=year)
    net = Network(xy=zone_points(branches),
                  counters=branches["counters"].to_numpy(dtype=np.int64),
                  terminals=branches["terminals"].to_numpy(dtype=np.int64))
    m = measure(zone_xy=zxy, zone_arrivals=arrivals, network=net, scenario=scenario,
                behaviour=behaviour_of(scenario, rule=rule))
    site_ad = branches["adcode"].to_numpy(dtype=object)
    zone_ad = zones["adcode"].to_numpy(dtype=object)
    districts = sorted(study.districts["adcode"].astype(str))
    kpis = kpi.kpi_bundle(
        zone_adcode=zone_ad,
        zone_ring=zones["ring_zone"].to_numpy(dtype=object),
        site_adcode=site_ad,
        site_ring=branches["ring_zone"].to_numpy(dtype=object),
        district_order=districts,
        ring_order=ring_zone_order(study.ring_zones["ring_zone"]),
        **m.kpi_measures(pop, net.is_open),
    )
    service_by: dict[str, ServiceKpis] = {"overall": m.service}
    for ad in districts:
        service_by[ad] = service_figures(m.evaluation, m.streams, mask=site_ad == ad,
                                         zone_mask=zone_ad == ad)
    ids = branches["branch_id"].astype(str).to_numpy()
    return Diagnosis(
        year=year,
        scenario_name=scenario.name,
        target_wait_min=scenario.target_wait_min,
        rule=m.behaviour.rule,
        kpis=cast(KpiSet, kpis),
        service=service_by,
        outlets=_outlet_table(branches, scenario, m),
        zones=zone_table(zones, pop, arrivals, m.nearest_m, m.assignment, ids),
    )


def _outlet_table(branches: Any, scenario: Scenario, m: Any) -> pd.DataFrame:
    """One row per outlet (see :class:`Diagnosis`)."""
    counters = branches["counters"].to_numpy(dtype=np.int64)
    terminals = branches["terminals"].to_numpy(dtype=np.int64)
    load, cap, ev = m.load, m.capacity, m.evaluation
    rho = np.asarray(service.utilisation(load, counters, terminals, scenario=scenario), float)
    s = scenario.smart_share
    return pd.DataFrame(
        {
            "id": branches["branch_id"].astype(str).to_numpy(),
            "name": branches["name"].astype(str).to_numpy(),
            "format": branches["format"].astype(str).to_numpy(),
            "adcode": branches["adcode"].to_numpy(dtype=object),
            "ring_zone": branches["ring_zone"].to_numpy(dtype=object),
            "counters": counters,
            "terminals": terminals,
            "arrivals_per_h": load,
            "capacity_per_h": cap,
            "utilisation": np.divide(load, cap, out=np.full_like(load, np.inf), where=cap > 0),
            "server_utilisation": rho,
            "wait_min": m.wait,
            "counter_wait_min": ev.counter_wait_min,
            "terminal_wait_min": ev.terminal_wait_min,
            "abandon_share": (1 - s) * ev.counter_abandon + s * ev.terminal_abandon,
            "overloaded": load > cap * (1 + 1e-9),
        }
    )


def zone_table(
    zones: Any,
    pop: NDArray[np.float64],
    arrivals: NDArray[np.float64],
    nearest: NDArray[np.float64],
    assignment: kpi.Assignment,
    site_ids: NDArray[Any],
) -> pd.DataFrame:
    """Per-zone view of an assignment: mean distance to serving outlets and the main one."""
    dist, main = kpi.zone_view(assignment, len(pop), site_ids)
    return pd.DataFrame(
        {
            "zone_id": zones["zone_id"].astype(str).to_numpy(),
            "adcode": zones["adcode"].to_numpy(dtype=object),
            "ring_zone": zones["ring_zone"].to_numpy(dtype=object),
            "population": pop,
            "arrivals_per_h": arrivals,
            "nearest_m": nearest,
            "dist_m": dist,
            "unserved_share": assignment.unserved_share,
            "serving": main,
        }
    )
