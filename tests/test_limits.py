"""Limits: memory stays bounded on a large instance because the cost is never dense.

10⁵ zones × 10³ sites: a dense float64 cost matrix alone would be 800 MB. The sparse
k-nearest cost (k = 8) holds 8·10⁵ pairs; the problem and the MILP the solver receives
are built from its sparsity structure. Measured with tracemalloc (numpy and scipy
allocations are traced); bounds below, measured values in the comments (this machine,
numpy 2, scipy 1.1x). Nothing is solved.

The second test is the real proof: at a fixed k, quadrupling the number of sites leaves
the peak memory almost unchanged, where a dense matrix would quadruple it.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from netplan import optimize
from netplan.model.cost import knn_dist_m

N_ZONES, N_SITES, K = 100_000, 1_000, 8
DENSE_MB = N_ZONES * N_SITES * 8 / 1e6  # 800 MB
MB = 1e6


def peaks(n_zones: int, n_sites: int, *, seed: int = 0) -> tuple[float, float, float, int]:
    """Peak traced memory (MB) of the cost, the problem and the model; and the model's nnz."""
    rng = np.random.default_rng(seed)
    zone_xy = rng.uniform(0, 300_000, (n_zones, 2))  # a 300 km square: a province
    site_xy = rng.uniform(0, 300_000, (n_sites, 2))
    tracemalloc.start()
    try:
        cost = knn_dist_m(zone_xy, site_xy, k=K, max_dist_m=50_000, detour_factor=1.3)
        p_cost = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.reset_peak()
        existing = np.arange(n_sites) < int(0.7 * n_sites)
        problem = optimize.FacilityProblem(
            demand=rng.uniform(0, 5, n_zones), cost=cost, unserved_cost=np.full(n_zones, 1e4),
            opt_site=np.arange(n_sites), opt_capacity=np.full(n_sites, 60.0),
            opt_cost=np.full(n_sites, 3e6), opt_is_current=existing, site_existing=existing,
        )
        p_problem = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.reset_peak()
        size = optimize.model_size(problem)
        p_model = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert cost.shape == (n_zones, n_sites)
    assert cost.nnz <= n_zones * K
    return p_cost, p_problem, p_model, size.nonzeros


def test_large_instance_memory_is_bounded() -> None:
    p_cost, p_problem, p_model, nnz = peaks(N_ZONES, N_SITES)
    assert p_cost < 80, p_cost  # measured 46 MB (k-d tree query + CSR of 8·10⁵ pairs)
    assert p_problem < 100, p_problem  # measured 50 MB
    assert p_model < 500, p_model  # measured 382 MB for 3.3·10⁶ nonzeros
    assert p_model < 0.65 * DENSE_MB
    assert nnz < 5 * N_ZONES * K  # the model is O(pairs), not O(zones × sites)


def test_memory_does_not_grow_with_the_number_of_sites() -> None:
    small = peaks(50_000, 500)
    large = peaks(50_000, 2_000)
    for a, b in zip(small[:3], large[:3], strict=True):
        assert b < 1.5 * a + 5, (small, large)  # dense: 4 times as much
    assert large[3] < 1.1 * small[3]
