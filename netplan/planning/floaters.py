"""A small pool of floating staff shared by nearby outlets, assigned hour by hour (a MILP).

Outlets within ``travel_km`` of each other (complete linkage: every pair of a pool is
within the limit, so a floater may move between any two of them between hours) share up to
``floaters`` staff. Each outlet keeps a fixed own staff ``H_o`` all day; in every hour the
``f`` floaters of its pool (present all day too) top it up to the counters it must open::

    minimise   hours * (sum_o H_o + f) + eps * sum_{o,h} n_{o,h}
    such that  H_o + n_{o,h} >= need_{o,h}      for every outlet o and hour h
               sum_o n_{o,h} <= f <= floaters   for every hour h
               H_o, n_{o,h}, f integers >= 0

(``eps`` keeps floaters where they are needed only). Peaks that do not coincide share a
floater, so the own staff of a pool falls below the flat roster's peak staffing. The model
is solved by HiGHS through :func:`scipy.optimize.milp`; floaters are then numbered so that
each one stays at the same outlet from hour to hour where it can.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import Bounds, LinearConstraint, milp

from netplan._errors import NetplanError
from netplan._types import FloatArray, IntArray

__all__ = ["PoolAssignment", "assign_pool", "pools"]

_EPS = 1e-3


@dataclass(frozen=True)
class PoolAssignment:
    """Own staff and floater cover of the outlets of one pool.

    Attributes
    ----------
    own : ndarray
        ``(outlets,)`` own staff of each outlet, present every hour.
    used : int
        Floaters the pool employs (at most the number offered).
    cover : ndarray
        ``(outlets, hours)`` floaters at each outlet in each hour.
    floater_at : ndarray
        ``(floaters, hours)`` the outlet (row of the pool) each floater covers, -1 idle.
    """

    own: IntArray
    used: int
    cover: IntArray
    floater_at: IntArray


def pools(xy: FloatArray, travel_km: float) -> IntArray:
    """Pool number of each outlet: complete-linkage clusters of diameter <= ``travel_km``.

    Parameters
    ----------
    xy
        ``(n, 2)`` metric coordinates.
    travel_km
        Largest distance between two outlets of a pool (> 0).

    Returns
    -------
    ndarray
        ``(n,)`` pool numbers from 0, in order of each pool's first outlet.
    """
    n = len(xy)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    raw = fcluster(linkage(np.asarray(xy, np.float64), method="complete"),
                   t=travel_km * 1000.0, criterion="distance")
    _, first = np.unique(raw, return_index=True)
    order = {int(raw[i]): k for k, i in enumerate(sorted(first.tolist()))}
    return np.array([order[int(r)] for r in raw], dtype=np.int64)


def assign_pool(need: IntArray, floaters: int) -> PoolAssignment:
    """Solve the pool's MILP (see the module docstring).

    Parameters
    ----------
    need
        ``(outlets, hours)`` counters each outlet must open in each hour.
    floaters
        Floating staff the pool may employ (>= 0).

    Returns
    -------
    PoolAssignment

    Raises
    ------
    NetplanError
        The solver fails (it cannot be infeasible: ``H_o = max need`` always fits).
    """
    need = np.asarray(need, dtype=np.int64)
    n_o, n_h = need.shape
    n_var = n_o + n_o * n_h + 1  # H_o, n_oh, f
    cost = np.concatenate([np.full(n_o, float(n_h)), np.full(n_o * n_h, _EPS), [float(n_h)]])
    # H_o + n_oh >= need_oh
    rows = np.arange(n_o * n_h)
    own_col = np.repeat(np.arange(n_o), n_h)
    a_cover = sp.csr_array((np.ones(2 * n_o * n_h),
                            (np.concatenate([rows, rows]),
                             np.concatenate([own_col, n_o + rows]))),
                           shape=(n_o * n_h, n_var))
    # sum_o n_oh - f <= 0
    hour_of = np.tile(np.arange(n_h), n_o)
    a_pool = sp.csr_array((np.concatenate([np.ones(n_o * n_h), -np.ones(n_h)]),
                           (np.concatenate([hour_of, np.arange(n_h)]),
                            np.concatenate([n_o + rows, np.full(n_h, n_var - 1)]))),
                          shape=(n_h, n_var))
    upper = np.full(n_var, float(need.max(initial=0)))
    upper[-1] = float(floaters)
    res = milp(cost, integrality=np.ones(n_var), bounds=Bounds(np.zeros(n_var), upper),
               constraints=[LinearConstraint(a_cover, need.ravel().astype(float), np.inf),
                            LinearConstraint(a_pool, -np.inf, 0.0)])
    if res.x is None:  # pragma: no cover - the flat roster is always feasible
        raise NetplanError(f"the floater model could not be solved: {res.message}")
    x = np.rint(res.x).astype(np.int64)
    own = x[:n_o]
    used = int(x[-1])
    cover = np.maximum(need - own[:, None], 0)  # drop floaters the solver left idle there
    return PoolAssignment(own=own, used=used, cover=cover, floater_at=_number(cover, used))


def _number(cover: IntArray, floaters: int) -> IntArray:
    """Which outlet each floater covers each hour, keeping a floater in place when it can."""
    n_o, n_h = cover.shape
    at = np.full((floaters, n_h), -1, dtype=np.int64)
    for h in range(n_h):
        slots = [o for o in range(n_o) for _ in range(int(cover[o, h]))]
        free = list(range(floaters))
        if h > 0:  # floaters staying where they were
            for f in range(floaters):
                o = int(at[f, h - 1])
                if o >= 0 and o in slots:
                    slots.remove(o)
                    at[f, h] = o
                    free.remove(f)
        for f, o in zip(free, slots, strict=False):
            at[f, h] = o
    return at
