"""Key performance indicators of a network: travel, coverage, waiting, load, unserved demand.

The same functions measure the current network (diagnosis) and a plan's network
(after), so *before* and *after* figures are always comparable. Everything here works
on arrays; the caller supplies the zone → site assignment.

Definitions (all population- or customer-weighted, per group and overall):

- ``mean_dist_m`` / ``p95_dist_m``: mean and 95th percentile of the travel distance from
  a zone to the outlet serving it, weighted by the zone's population times the served
  share (unserved customers travel nowhere and are counted in ``unserved_arrivals_per_h``).
- ``share_pop_within_1km`` (2, 3 km): share of the population whose *nearest* open outlet
  is within that travel distance (whoever serves them).
- ``mean_wait_min``: expected mean wait (Erlang C) at the serving outlet, weighted by the
  peak-hour customers each outlet serves.
- ``overloaded_outlets``: outlets whose peak-hour arrivals exceed their capacity at the
  waiting-time target (so their expected wait is above the target).
- ``unserved_arrivals_per_h``: peak-hour customers that no outlet within reach can take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netplan._types import FloatArray, IntArray

WITHIN_KM: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class Assignment:
    """Zone → site shares as sparse triplets, with the travel distance of each pair.

    Attributes
    ----------
    zone, site
        Indices of each assigned pair.
    share
        Share of the zone's demand served at the site (0..1).
    dist_m
        Travel distance of the pair in metres.
    unserved_share
        ``(n_zones,)`` share of each zone's demand left unserved.
    """

    zone: IntArray
    site: IntArray
    share: FloatArray
    dist_m: FloatArray
    unserved_share: FloatArray

    def site_load(self, zone_demand: FloatArray, n_sites: int) -> FloatArray:
        """Demand arriving at each site (same units as ``zone_demand``)."""
        return np.bincount(
            self.site, weights=zone_demand[self.zone] * self.share, minlength=n_sites
        ).astype(np.float64)


def assign_nearest_with_spill(dist_m: Any, demand: FloatArray, room: FloatArray) -> Assignment:
    """Customers go to their nearest outlet; what an outlet cannot take spills to the next.

    All (zone, site) pairs within reach are taken in order of increasing distance (ties
    by zone, then site index, so the result is deterministic); each pair moves as much
    of the zone's remaining demand as the site still has room for. Demand that finds no
    room within reach is unserved.

    Parameters
    ----------
    dist_m
        Sparse ``(n_zones, n_sites)`` matrix of allowed pairs (scipy sparse).
    demand
        ``(n_zones,)`` demand per zone.
    room
        ``(n_sites,)`` how much demand each site can take (``0`` for a closed site).
    """
    coo = dist_m.tocoo()
    rows = np.asarray(coo.row, dtype=np.int64)
    cols = np.asarray(coo.col, dtype=np.int64)
    vals = np.asarray(coo.data, dtype=np.float64)
    order = np.lexsort((cols, rows, vals))
    rows, cols, vals = rows[order], cols[order], vals[order]
    remaining = np.asarray(demand, dtype=np.float64).copy()
    left = np.asarray(room, dtype=np.float64).copy()
    taken = np.zeros(len(rows), dtype=np.float64)
    for p in range(len(rows)):  # sequential by nature; ~10^5 pairs per city
        i, j = rows[p], cols[p]
        r = remaining[i]
        if r <= 0.0 or left[j] <= 0.0:
            continue
        t = r if r < left[j] else left[j]
        taken[p] = t
        remaining[i] = r - t
        left[j] -= t
    dem = np.asarray(demand, dtype=np.float64)
    pos = dem > 0
    safe = np.where(pos, dem, 1.0)
    share = np.where(pos[rows], taken / safe[rows], 0.0)
    keep = share > 1e-12
    unserved = np.where(pos, remaining / safe, 0.0)
    return Assignment(
        zone=rows[keep],
        site=cols[keep],
        share=share[keep],
        dist_m=vals[keep],
        unserved_share=np.clip(unserved, 0.0, 1.0),
    )


def weighted_quantile(values: FloatArray, weights: FloatArray, q: float) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights`` (inverted CDF, no interpolation)."""
    w = np.asarray(weights, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    ok = w > 0
    if not ok.any():
        return float("nan")
    v, w = v[ok], w[ok]
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    k = int(np.searchsorted(cw, q * cw[-1], side="left"))
    return float(v[order][min(k, len(v) - 1)])


def network_kpis(  # noqa: PLR0913 - per-zone and per-site arrays of one network, keyword-only
    *,
    zone_pop: FloatArray,
    zone_arrivals: FloatArray,
    zone_nearest_m: FloatArray,
    assignment: Assignment,
    site_open: NDArray[np.bool_],
    site_arrivals: FloatArray,
    site_capacity: FloatArray,
    site_wait_min: FloatArray,
    zone_mask: NDArray[np.bool_] | None = None,
    site_mask: NDArray[np.bool_] | None = None,
    target_wait_min: float | None = None,
) -> dict[str, Any]:
    """KPIs of one network for the zones in ``zone_mask`` and the outlets in ``site_mask``.

    Zone-side measures (distance, coverage, wait, unserved) are taken over the customers
    living in the masked zones, wherever they are served; outlet-side counts over the
    masked open outlets. With ``target_wait_min``, also the share of served customers at
    outlets whose expected wait exceeds it.

    Parameters
    ----------
    zone_pop, zone_arrivals, zone_nearest_m
        Per zone: residents, peak-hour arrivals, distance (m) to the nearest open outlet.
    assignment
        Which outlets serve each zone, with shares and distances.
    site_open, site_arrivals, site_capacity, site_wait_min
        Per site: open, arrivals served, capacity at the wait target, expected wait (min).
    zone_mask, site_mask
        The zones and sites measured (default: all).
    target_wait_min
        The waiting-time target, for ``share_customers_over_target``.

    Returns
    -------
    dict
        ``population``, ``outlets``, ``arrivals_per_h``, ``mean_dist_m``, ``p95_dist_m``,
        ``share_pop_within_<k>km``, ``mean_wait_min``, ``share_customers_over_target``
        (with a target), ``overloaded_outlets``, ``unserved_arrivals_per_h``; ``None``
        where a figure is not defined.
    """
    n_z, n_s = len(zone_pop), len(site_open)
    zm = np.ones(n_z, dtype=bool) if zone_mask is None else zone_mask
    sm = np.ones(n_s, dtype=bool) if site_mask is None else site_mask
    a = assignment
    in_z = zm[a.zone]
    w_pop = zone_pop[a.zone] * a.share * in_z
    w_cust = zone_arrivals[a.zone] * a.share * in_z
    pop = float(zone_pop[zm].sum())
    served = w_cust > 0
    served_cust = float(w_cust.sum())
    mean_wait = (float(np.sum(w_cust[served] * site_wait_min[a.site][served]) / served_cust)
                 if served_cust > 0 else float("nan"))
    open_sites = site_open & sm
    over = open_sites & (site_arrivals > site_capacity * (1 + 1e-9))
    out: dict[str, Any] = {
        "population": round(pop),
        "outlets": int(open_sites.sum()),
        "arrivals_per_h": _r(float(zone_arrivals[zm].sum())),
        "mean_dist_m": _r(
            float(np.sum(w_pop * a.dist_m) / w_pop.sum()) if w_pop.sum() > 0 else float("nan")
        ),
        "p95_dist_m": _r(weighted_quantile(a.dist_m, w_pop, 0.95)),
    }
    for km in WITHIN_KM:
        within = zone_pop[zm][zone_nearest_m[zm] <= km * 1000.0].sum()
        out[f"share_pop_within_{km}km"] = _r(float(within / pop) if pop > 0 else float("nan"), 4)
    out["mean_wait_min"] = _r(mean_wait)
    if target_wait_min is not None:
        late = served & (site_wait_min[a.site] > target_wait_min + 1e-9)
        out["share_customers_over_target"] = _r(
            float(w_cust[late].sum() / served_cust) if served_cust > 0 else float("nan"), 4
        )
    out["overloaded_outlets"] = int(over.sum())
    out["unserved_arrivals_per_h"] = _r(float(np.sum(zone_arrivals[zm] * a.unserved_share[zm])))
    return out


def grouped_kpis(
    labels_zone: Sequence[str] | NDArray[Any],
    labels_site: Sequence[str] | NDArray[Any],
    groups: Sequence[str],
    **kw: Any,
) -> dict[str, dict[str, Any]]:
    """:func:`network_kpis` per group label (e.g. district adcode or ring zone)."""
    lz = np.asarray(labels_zone, dtype=object)
    ls = np.asarray(labels_site, dtype=object)
    return {g: network_kpis(zone_mask=lz == g, site_mask=ls == g, **kw) for g in groups}


def _r(x: float, nd: int = 2) -> float | None:
    """Round for output; NaN and infinity (a saturated queue) become None (JSON null)."""
    if not np.isfinite(x):
        return None
    return round(float(x), nd)


def kpi_bundle(
    *,
    zone_adcode: NDArray[Any],
    zone_ring: NDArray[Any],
    site_adcode: NDArray[Any],
    site_ring: NDArray[Any],
    district_order: Sequence[str],
    ring_order: Sequence[str],
    **kw: Any,
) -> dict[str, Any]:
    """Overall, per-district and per-ring-zone KPIs of one network (see :func:`network_kpis`)."""
    return {
        "overall": network_kpis(**kw),
        "districts": grouped_kpis(zone_adcode, site_adcode, district_order, **kw),
        "ring_zones": grouped_kpis(zone_ring, site_ring, ring_order, **kw),
    }


def zone_view(
    assignment: Assignment, n_zones: int, site_ids: NDArray[Any]
) -> tuple[FloatArray, NDArray[Any]]:
    """Per zone: mean distance to its serving outlets and the id of the main one.

    The main outlet takes the largest share (ties: the nearer one); zones served by no
    outlet get NaN and ``""``.
    """
    a = assignment
    wsum = np.bincount(a.zone, weights=a.share, minlength=n_zones)
    dsum = np.bincount(a.zone, weights=a.share * a.dist_m, minlength=n_zones)
    dist = np.divide(dsum, wsum, out=np.full(n_zones, np.nan), where=wsum > 0)
    order = np.lexsort((a.dist_m, -a.share, a.zone))
    first = np.ones(len(order), dtype=bool)
    first[1:] = a.zone[order][1:] != a.zone[order][:-1]
    main = np.full(n_zones, "", dtype=object)
    main[a.zone[order][first]] = site_ids[a.site[order][first]]
    return dist, main
