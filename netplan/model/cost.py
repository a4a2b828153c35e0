"""Sparse zone → site travel distances: each zone's k nearest sites within a radius.

The matrix is never dense: a city of 10⁴ zones and 10³ sites keeps ~8·10⁴ entries, a
nation of 10⁶ zones the same per zone. Distances are straight-line in the metric CRS
times a detour factor (the ratio of road to crow-fly distance; 1.3 is typical of a
dense city grid). A user's own travel-time matrix can be passed to the planner instead.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from netplan._errors import NetplanError
from netplan._types import FloatArray

log = logging.getLogger(__name__)



def knn_dist_m(
    zone_xy: FloatArray,
    site_xy: FloatArray,
    *,
    k: int,
    max_dist_m: float,
    detour_factor: float = 1.0,
) -> sp.csr_array:
    """Distances (metres, detour applied) from each zone to its ``k`` nearest sites.

    Parameters
    ----------
    zone_xy, site_xy
        ``(n, 2)`` metric coordinates of zone demand points and of sites.
    k
        How many nearest sites to keep per zone (fewer where fewer are in reach).
    max_dist_m
        Sites farther than this *travel* distance (after the detour factor) are dropped.
    detour_factor
        Road distance / straight-line distance, ``>= 1``.

    Returns
    -------
    scipy.sparse.csr_array
        ``(n_zones, n_sites)``; stored entries are the allowed zone → site pairs (a zero
        distance is stored explicitly, so use the sparsity structure, not the values).
    """
    zone_xy = np.asarray(zone_xy, dtype=np.float64).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=np.float64).reshape(-1, 2)
    if k < 1:
        raise NetplanError(f"k (nearest sites per zone) must be at least 1, got {k}")
    if not max_dist_m > 0:
        raise NetplanError(f"the maximum distance must be positive, got {max_dist_m} m")
    if detour_factor < 1:
        raise NetplanError(f"the detour factor must be >= 1, got {detour_factor}")
    n_zones, n_sites = len(zone_xy), len(site_xy)
    if n_sites == 0 or n_zones == 0:
        return sp.csr_array((n_zones, n_sites), dtype=np.float64)
    kk = min(k, n_sites)
    tree = cKDTree(site_xy)
    dist, idx = tree.query(zone_xy, k=kk, distance_upper_bound=max_dist_m / detour_factor)
    dist = np.asarray(dist, dtype=np.float64).reshape(n_zones, kk)
    idx = np.asarray(idx, dtype=np.int64).reshape(n_zones, kk)
    keep = np.isfinite(dist)
    rows = np.repeat(np.arange(n_zones, dtype=np.int64), kk)[keep.ravel()]
    cols = idx[keep]
    vals = dist[keep] * detour_factor
    mat = sp.csr_array((vals, (rows, cols)), shape=(n_zones, n_sites))
    mat.sort_indices()
    log.debug("knn cost: %d zones x %d sites, %d pairs", n_zones, n_sites, mat.nnz)
    return mat


def nearest_dist_m(
    zone_xy: FloatArray, site_xy: FloatArray, *, detour_factor: float = 1.0
) -> FloatArray:
    """Travel distance (metres) from each zone to its nearest site; ``inf`` with no sites."""
    zone_xy = np.asarray(zone_xy, dtype=np.float64).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=np.float64).reshape(-1, 2)
    if len(site_xy) == 0:
        return np.full(len(zone_xy), np.inf)
    dist, _ = cKDTree(site_xy).query(zone_xy, k=1)
    return np.asarray(dist, dtype=np.float64) * detour_factor
