"""Diagnosis of the current network: who goes where, how long they wait, who is left out.

The assignment rule (documented in the README):

1. Each zone's peak-hour customers go to their **nearest** outlet within reach (the
   scenario's ``max_dist_km`` travel distance, among its ``k_nearest`` outlets).
2. An outlet takes customers until its busier queue (counters or terminals) reaches
   :data:`SATURATION_UTILISATION` of its servers' throughput; beyond that customers give
   up on it and **spill** to their next-nearest outlet within reach that still has room.
   All zone → outlet pairs are taken in order of increasing distance, so nearer
   customers are served first.
3. What finds no room within reach is **unserved**.

So outlets may run far above their capacity *at the waiting-time target* (that is what
"overloaded" means: expected wait above the target), but never past saturation, where
the M/M/c wait would be infinite. Each outlet's expected wait is Erlang C at its load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from netplan.model import cost, demand, kpi, service
from netplan.model.scenario import Scenario
from netplan.planning.contract import KpiSet
from netplan.study.geometry import RING_ZONES
from netplan.study.layers import Study

SATURATION_UTILISATION = 0.95
"""Server utilisation at which an outlet stops taking more customers (they spill over)."""


def zone_points(gdf: Any) -> NDArray[np.float64]:
    """``(n, 2)`` metric coordinates of features' demand points (polygon centroids, points)."""
    geom = gdf.geometry
    pts = geom.centroid if not (geom.geom_type == "Point").all() else geom
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]).astype(np.float64)


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
    kpis
        ``{"overall": {...}, "districts": {adcode: {...}}, "ring_zones": {...}}``.
    outlets
        One row per outlet: id, name, format, adcode, ring_zone, counters, terminals,
        arrivals_per_h, capacity_per_h (at the waiting-time target), utilisation (arrivals
        / capacity at target; above 1 = overloaded), server_utilisation (busier queue),
        wait_min (expected mean wait), overloaded.
    zones
        One row per zone: zone_id, adcode, ring_zone, population, arrivals_per_h,
        nearest_m, dist_m (mean to serving outlets), unserved_share, serving (main outlet id).
    """

    year: int
    scenario_name: str
    target_wait_min: float
    kpis: KpiSet
    outlets: pd.DataFrame
    zones: pd.DataFrame

    def to_dict(self, *, adcode: str | None = None) -> dict[str, Any]:
        """JSON-ready dict; with ``adcode``, the figures of that district only."""
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
            "district": adcode,
            **head,
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
        "overloaded": bool(r["overloaded"]),
    }


def diagnose(study: Study, scenario: Scenario, *, year: int | None = None) -> Diagnosis:
    """Measure the current network of ``study`` under ``scenario`` (see module docstring).

    Parameters
    ----------
    study
        The layers, in the metric CRS, labelled with district and ring zone.
    scenario
        Demand, service and travel parameters.
    year
        Population year (2010, the base year or the horizon year); default: the base year.
    """
    year = scenario.base_year if year is None else year
    zones, branches = study.zones, study.branches
    pop = np.asarray(demand.zone_population(zones, scenario, year=year), dtype=np.float64)
    arrivals = np.asarray(demand.arrivals_per_h(pop, scenario), dtype=np.float64)
    zxy, bxy = zone_points(zones), zone_points(branches)
    counters = branches["counters"].to_numpy(dtype=np.int64)
    terminals = branches["terminals"].to_numpy(dtype=np.int64)
    assignment = _current_assignment(zxy, bxy, arrivals, counters, terminals, scenario)
    n_sites = len(branches)
    load = assignment.site_load(arrivals, n_sites)
    cap = np.asarray(service.capacity_per_h(counters, terminals, scenario=scenario), float)
    wait = np.asarray(service.wait_min(load, counters, terminals, scenario=scenario), float)
    nearest = cost.nearest_dist_m(zxy, bxy, detour_factor=scenario.detour_factor)
    kpis = kpi.kpi_bundle(
        zone_adcode=zones["adcode"].to_numpy(dtype=object),
        zone_ring=zones["ring_zone"].to_numpy(dtype=object),
        site_adcode=branches["adcode"].to_numpy(dtype=object),
        site_ring=branches["ring_zone"].to_numpy(dtype=object),
        district_order=sorted(study.districts["adcode"].astype(str)),
        ring_order=list(RING_ZONES),
        zone_pop=pop,
        zone_arrivals=arrivals,
        zone_nearest_m=nearest,
        assignment=assignment,
        site_open=np.ones(n_sites, dtype=bool),
        site_arrivals=load,
        site_capacity=cap,
        site_wait_min=wait,
        target_wait_min=scenario.target_wait_min,
    )
    ids = branches["branch_id"].astype(str).to_numpy()
    return Diagnosis(
        year=year,
        scenario_name=scenario.name,
        target_wait_min=scenario.target_wait_min,
        kpis=cast(KpiSet, kpis),
        outlets=_outlet_table(branches, scenario, load=load, cap=cap, wait=wait),
        zones=zone_table(zones, pop, arrivals, nearest, assignment, ids),
    )


def _current_assignment(zxy: NDArray[np.float64], bxy: NDArray[np.float64],
                        arrivals: NDArray[np.float64], counters: NDArray[np.int64],
                        terminals: NDArray[np.int64], scenario: Scenario) -> kpi.Assignment:
    """Customers to their nearest outlet within reach, spilling over when it saturates."""
    dist = cost.knn_dist_m(
        zxy,
        bxy,
        k=scenario.k_nearest,
        max_dist_m=scenario.max_dist_km * 1000.0,
        detour_factor=scenario.detour_factor,
    )
    room = throughput_per_h(
        counters, terminals, scenario=scenario, utilisation=SATURATION_UTILISATION
    )
    return kpi.assign_nearest_with_spill(dist, arrivals, room)


def _outlet_table(branches: Any, scenario: Scenario, *, load: NDArray[np.float64],
                  cap: NDArray[np.float64], wait: NDArray[np.float64]) -> pd.DataFrame:
    """One row per outlet (see :class:`Diagnosis`)."""
    counters = branches["counters"].to_numpy(dtype=np.int64)
    terminals = branches["terminals"].to_numpy(dtype=np.int64)
    rho = np.asarray(service.utilisation(load, counters, terminals, scenario=scenario), float)
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
            "wait_min": wait,
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
