"""The branch-network MILP on plain arrays, and the classic location problems through it.

netplan's optimiser is one capacitated facility-location model with the side constraints a
bank's network plan needs (budget, openings and closures per district, locked and forbidden
sites, relocations, a minimum share of outlets outside the 5th ring, an optional load-balance
term). It takes numpy / scipy.sparse arrays only (no geometry) and solves with HiGHS directly
(the matrix is built with numpy and handed over in one call) or through PuLP (CBC, HiGHS,
Gurobi, CPLEX ... whatever PuLP can drive).

p-median, capacitated and uncapacitated facility location and maximal covering are special
cases solved by the same core: :func:`p_median`, :func:`capacitated_facility_location`,
:func:`uncapacitated_facility_location`, :func:`maximal_covering`.

The model
---------
Indices: zones i, sites j, options o = (site, format) pairs with site(o) = j, relocation
pairs k = (from_k, to_k), groups g (districts).

Variables::

    y[o]   in {0,1}  option o is run                                 (one column per option)
    z[j]   in [0,1]  site j is open, z[j] = sum_{o at j} y[o]       (implied integer)
    x[i,j] in [0,1]  share of zone i served at j, only for stored (i,j) of `cost`
                     (binary when single_source)
    u[i]   in [0,1]  unserved share of zone i (fixed to 0 where unserved_cost[i] = inf)
    r[k]   in {0,1}  relocation k is used
    v[j]   >= 0      overload of site j (only with a load-balance term)

Constraints::

    sum_j x[i,j] + u[i] = 1                              every zone i
    sum_{o at j} y[o] - z[j] = 0                         every site j
    z[j] = 1 if site_locked[j];  z[j] = 0 if site_forbidden[j] or j has no option
    x[i,j] - z[j] <= 0                                   every stored (i,j)  (strong linking)
    sum_i d[i] x[i,j] - sum_{o at j} cap'[o] y[o] <= 0   every site j where capacity can bind
    r[k] + z[from_k] <= 1,  r[k] - z[to_k] <= 0          every relocation k
                         (r[k] - y[to_option_k] <= 0 when the move's option is given)
    sum_{k: from_k = j} r[k] <= 1,  sum_{k: to_k = j} r[k] <= 1
    min_g <= sum_{j in g} z[j] <= max_g                  group_min_sites / group_max_sites
    sum_{j in g, new} z[j] - sum_{k in g} r[k] <= group_max_new[g]     new = not site_existing
    sum_{j in g, existing} (1 - z[j]) - sum_{k in g} r[k] <= group_max_closed[g]
    sum_{new} z[j] - sum_k r[k] <= max_new,  sum_{existing} (1 - z[j]) - sum_k r[k] <= max_closed
    sum_{o tagged t} y[o] <= tag_max[t]                  option limits (e.g. conversions)

A relocation is a *move*: it counts neither as an opening nor as a closure (k in g: both
ends of the move in group g; a move across groups counts in each group as it is).
    sum_j z[j] = n_sites_exact
    sum_o oneoff[o] y[o] + sum_{existing} close_oneoff[j] (1 - z[j])
        - sum_k saving_oneoff[k] r[k] <= budget
    sum_{outside} z[j] >= min_share_outside * sum_j z[j]
    sum_i d[i] x[i,j] - threshold * sum_{o at j} cap''[o] y[o] - v[j] <= 0   (balance term)

where cap'[o] = min(cap[o], D[j]) with D[j] = sum of d[i] over the zones that may use j (a
capacity at or above D[j] can never bind, so infinite capacities need no big-M and those
rows are left out: x <= z already implies them), and cap''[o] = min(cap[o], D[j] /
threshold) likewise for the balance rows.

Objective (minimised; the reported value is the true total, constants included)::

    sum_(i,j) cost[i,j] x[i,j] + sum_i unserved_cost[i] u[i] + sum_o opt_cost[o] y[o]
    + sum_{existing j} close_cost[j] (1 - z[j]) - sum_k reloc_saving[k] r[k]
    + balance_weight * sum_j v[j]

The per-pair linking x[i,j] <= z[j] (rather than the aggregated sum_i x[i,j] <= n z[j])
is what makes the LP bound tight; it costs one row per stored pair, so the model has
O(nnz(cost) + zones + options) nonzeros and the cost matrix is never densified.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from netplan._errors import InfeasibleError, NetplanError, SolverError

__all__ = [
    "ClassicResult",
    "FacilityProblem",
    "ModelSize",
    "Solution",
    "capacitated_facility_location",
    "maximal_covering",
    "model_size",
    "p_median",
    "solve",
    "uncapacitated_facility_location",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Progress = Callable[[str], None]

_TOL: Final = 1e-9
_FEAS_TOL: Final = 1e-6
_SEED: Final = 0

# Sentinels for "not given" array fields (identity-checked; never mutated).
_UNSET_F: Final[FloatArray] = np.empty(0, dtype=np.float64)
_UNSET_I: Final[IntArray] = np.empty(0, dtype=np.int64)
_UNSET_B: Final[BoolArray] = np.empty(0, dtype=np.bool_)


def _unset_f() -> FloatArray:
    return _UNSET_F


def _unset_i() -> IntArray:
    return _UNSET_I


def _unset_b() -> BoolArray:
    return _UNSET_B


def _empty_i() -> IntArray:
    return np.empty(0, dtype=np.int64)


def _empty_f() -> FloatArray:
    return np.empty(0, dtype=np.float64)


# ------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------


def _bad(name: str, what: str) -> NetplanError:
    return NetplanError(f"FacilityProblem.{name}: {what}")


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a.flags.writeable = False
    return a


def _float_vec(
    name: str,
    value: Any,
    n: int,
    *,
    default: float | None = None,
    allow_posinf: bool = False,
    nonneg: bool = False,
) -> FloatArray:
    if value is None or value is _UNSET_F:
        if default is None:
            raise _bad(name, f"is required: a 1-D array of length {n}")
        return _frozen(np.full(n, default, dtype=np.float64))
    try:
        a = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise _bad(name, f"expected numbers, could not convert ({exc})") from None
    if a.ndim == 0 and n >= 0:
        a = np.full(n, float(a), dtype=np.float64)
    if a.shape != (n,):
        raise _bad(name, f"expected shape ({n},), got {a.shape}; pass one value per entry")
    if np.isnan(a).any():
        i = int(np.flatnonzero(np.isnan(a))[0])
        raise _bad(name, f"entry {i} is NaN; give a number")
    if np.isneginf(a).any():
        i = int(np.flatnonzero(np.isneginf(a))[0])
        raise _bad(name, f"entry {i} is -inf; give a finite number")
    if not allow_posinf and np.isposinf(a).any():
        i = int(np.flatnonzero(np.isposinf(a))[0])
        raise _bad(name, f"entry {i} is inf; give a finite number")
    if nonneg and (a < 0).any():
        i = int(np.flatnonzero(a < 0)[0])
        raise _bad(name, f"entry {i} is {a[i]:g}; must be >= 0")
    return _frozen(a)


def _int_vec(
    name: str, value: Any, n: int | None, *, default: int | None = None, lo: int | None = None,
    hi: int | None = None,
) -> IntArray:
    if value is None or value is _UNSET_I:
        if default is None or n is None:
            raise _bad(name, "is required: a 1-D integer array")
        return _frozen(np.full(n, default, dtype=np.int64))
    a0 = np.asarray(value)
    if a0.size and not (np.issubdtype(a0.dtype, np.integer) or a0.dtype == np.bool_):
        if not np.issubdtype(a0.dtype, np.floating) or not np.all(np.isfinite(a0)) or not np.all(
            a0 == np.round(a0)
        ):
            raise _bad(name, f"expected integers, got dtype {a0.dtype}")
    a = np.array(a0, dtype=np.int64, copy=True).reshape(-1) if a0.ndim <= 1 else None
    if a is None or (n is not None and a.shape != (n,)):
        raise _bad(name, f"expected shape ({n},), got {a0.shape}")
    if lo is not None and a.size and a.min() < lo:
        i = int(np.argmin(a))
        raise _bad(name, f"entry {i} is {a[i]}; must be >= {lo}")
    if hi is not None and a.size and a.max() > hi:
        i = int(np.argmax(a))
        raise _bad(name, f"entry {i} is {a[i]}; must be <= {hi}")
    return _frozen(a)


def _bool_vec(name: str, value: Any, n: int, *, default: bool = False) -> BoolArray:
    if value is None or value is _UNSET_B:
        return _frozen(np.full(n, default, dtype=np.bool_))
    a0 = np.asarray(value)
    if a0.shape != (n,):
        raise _bad(name, f"expected shape ({n},), got {a0.shape}")
    if a0.dtype != np.bool_:
        if not np.isin(a0, (0, 1)).all():
            raise _bad(name, "expected booleans (True/False or 0/1)")
    return _frozen(a0.astype(np.bool_, copy=True))


def _as_csr(name: str, cost: Any) -> Any:
    """Canonical CSR copy of ``cost`` that keeps explicit zeros (they are allowed pairs)."""
    if sp.issparse(cost):
        coo = sp.coo_array(cost)
        n, m = coo.shape
        row = np.asarray(coo.row, dtype=np.int64)
        col = np.asarray(coo.col, dtype=np.int64)
        data = np.asarray(coo.data, dtype=np.float64)
        order = np.lexsort((col, row))
        row, col, data = row[order], col[order], data[order]
        if row.size > 1:
            dup = (row[1:] == row[:-1]) & (col[1:] == col[:-1])
            if dup.any():
                k = int(np.flatnonzero(dup)[0])
                raise _bad(
                    name,
                    f"pair (zone {row[k]}, site {col[k]}) is stored more than once; store each "
                    "allowed (zone, site) pair once",
                )
    else:
        try:
            dense = np.asarray(cost, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise _bad(name, f"expected a scipy.sparse matrix or a 2-D array ({exc})") from None
        if dense.ndim != 2:
            raise _bad(name, f"expected a 2-D (zones x sites) matrix, got {dense.ndim}-D")
        n, m = dense.shape
        row = np.repeat(np.arange(n, dtype=np.int64), m)
        col = np.tile(np.arange(m, dtype=np.int64), n)
        data = dense.ravel().copy()
    if data.size and not np.isfinite(data).all():
        k = int(np.flatnonzero(~np.isfinite(data))[0])
        raise _bad(
            name,
            f"entry (zone {row[k]}, site {col[k]}) is {data[k]}; stored costs must be finite "
            "(leave a pair out of the sparse matrix to forbid it)",
        )
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    out = sp.csr_array((data, col, indptr), shape=(n, m))
    out.data.flags.writeable = False
    return out


# ------------------------------------------------------------------------------------------
# Problem and solution
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FacilityProblem:
    """A capacitated facility-location MILP with a bank network's side constraints.

    All arrays are validated and copied (read-only) on construction; see the module
    docstring for the formulation. Optional array fields left out take the default noted.

    Parameters
    ----------
    demand
        (n_zones,) >= 0: demand units of each zone (arrivals per hour for the bank); only
        used by capacity and balance rows.
    cost
        scipy.sparse (n_zones x n_sites): objective cost of serving ALL of zone i's demand at
        site j. Only stored entries are allowed assignments (explicit zeros included). A dense
        2-D array means every pair is allowed. Beware: ``scipy.sparse.csr_array(dense)`` drops
        zeros; build from ``(data, (row, col))`` to keep zero-cost pairs.
    opt_site
        (n_opts,) site of each option (an option is a (site, format) pair).
    unserved_cost
        (n_zones,) cost of leaving ALL of zone i unserved; ``inf`` = must be served.
        Default ``inf``.
    opt_capacity
        (n_opts,) capacity in demand units; ``inf`` = uncapacitated. Default ``inf``.
    opt_cost
        (n_opts,) objective cost if chosen (operating + amortised one-off). Default 0.
    opt_oneoff
        (n_opts,) one-off spend if chosen, counted against ``budget``. Default 0.
    opt_is_current
        (n_opts,) the existing site's current configuration (keep). Default False.
    site_existing, site_locked, site_forbidden, site_outside
        (n_sites,) bools. Default False.
    site_close_cost, site_close_oneoff
        (n_sites,) objective cost / budget spend if an existing site runs no option
        (ignored at new sites). Default 0.
    site_group
        (n_sites,) group (district) index, -1 = none. Default -1.
    group_min_sites, group_max_sites, group_max_new, group_max_closed
        (n_groups,) limits per group, -1 = no limit; n_groups = max(site_group) + 1 unless
        longer arrays are given. Default -1.
    opt_tag, tag_max
        (n_opts,) tag of each option (-1 = none) and (n_tags,) the most options of each tag
        that may be chosen (-1 = no limit), e.g. tag "conversion into a light outlet" with
        at most 40. Default: no tags.
    max_new, max_closed, n_sites_exact
        Global counts (None = no limit). ``n_sites_exact`` is the p of p-median.
    budget
        Maximum one-off spend (None = unlimited).
    min_share_outside
        Minimum share of open sites with ``site_outside`` (None = no limit).
    reloc_from, reloc_to, reloc_saving, reloc_saving_oneoff
        Relocation pairs: an existing site closes and a new site opens as one move, saving
        ``reloc_saving`` (>= 0) in the objective and ``reloc_saving_oneoff`` in the budget.
    reloc_to_option
        Optional (n_reloc,) option index at ``reloc_to`` that the move must open (e.g. the
        same format as the outlet that moves); None = any option of the target site.
    single_source
        Each zone served by one site (x binary).
    balance_weight, balance_threshold
        Load-balance term ``balance_weight * sum_j max(0, load_j - threshold * capacity_j)``
        (objective units per demand unit); off when ``balance_weight`` is 0.
    warm_start
        (n_sites,) option index per site (-1 = none), e.g. the current network
        (:meth:`current_options`); used as a MIP start when it can be completed to a
        feasible solution.
    """

    demand: FloatArray
    cost: Any
    opt_site: IntArray
    unserved_cost: FloatArray = field(default_factory=_unset_f)
    opt_capacity: FloatArray = field(default_factory=_unset_f)
    opt_cost: FloatArray = field(default_factory=_unset_f)
    opt_oneoff: FloatArray = field(default_factory=_unset_f)
    opt_is_current: BoolArray = field(default_factory=_unset_b)
    site_existing: BoolArray = field(default_factory=_unset_b)
    site_close_cost: FloatArray = field(default_factory=_unset_f)
    site_close_oneoff: FloatArray = field(default_factory=_unset_f)
    site_locked: BoolArray = field(default_factory=_unset_b)
    site_forbidden: BoolArray = field(default_factory=_unset_b)
    site_group: IntArray = field(default_factory=_unset_i)
    site_outside: BoolArray = field(default_factory=_unset_b)
    group_min_sites: IntArray = field(default_factory=_unset_i)
    group_max_sites: IntArray = field(default_factory=_unset_i)
    group_max_new: IntArray = field(default_factory=_unset_i)
    group_max_closed: IntArray = field(default_factory=_unset_i)
    opt_tag: IntArray = field(default_factory=_unset_i)
    tag_max: IntArray = field(default_factory=_empty_i)
    max_new: int | None = None
    max_closed: int | None = None
    n_sites_exact: int | None = None
    budget: float | None = None
    min_share_outside: float | None = None
    reloc_from: IntArray = field(default_factory=_empty_i)
    reloc_to: IntArray = field(default_factory=_empty_i)
    reloc_to_option: IntArray | None = None
    reloc_saving: FloatArray = field(default_factory=_unset_f)
    reloc_saving_oneoff: FloatArray = field(default_factory=_unset_f)
    single_source: bool = False
    balance_weight: float = 0.0
    balance_threshold: float = 1.0
    warm_start: IntArray | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        cost = _as_csr("cost", self.cost)
        n, m = cost.shape
        s(self, "cost", cost)
        s(self, "demand", _float_vec("demand", self.demand, n, nonneg=True))
        s(
            self,
            "unserved_cost",
            _float_vec("unserved_cost", self.unserved_cost, n, default=math.inf,
                       allow_posinf=True),
        )
        opt_site = _int_vec("opt_site", self.opt_site, None, lo=0, hi=m - 1)
        q = opt_site.size
        s(self, "opt_site", opt_site)
        s(self, "opt_capacity", _float_vec("opt_capacity", self.opt_capacity, q,
                                           default=math.inf, allow_posinf=True, nonneg=True))
        s(self, "opt_cost", _float_vec("opt_cost", self.opt_cost, q, default=0.0))
        s(self, "opt_oneoff", _float_vec("opt_oneoff", self.opt_oneoff, q, default=0.0))
        cur = _bool_vec("opt_is_current", self.opt_is_current, q)
        s(self, "opt_is_current", cur)
        tag = _int_vec("opt_tag", self.opt_tag, q, default=-1, lo=-1)
        s(self, "opt_tag", tag)
        tag_max = _int_vec("tag_max", self.tag_max, None, lo=-1)
        if tag.size and int(tag.max()) >= tag_max.size:
            raise _bad("tag_max", f"has {tag_max.size} entries but opt_tag uses tags 0.."
                                  f"{int(tag.max())}; give one limit per tag (-1 = none)")
        s(self, "tag_max", tag_max)
        existing = _bool_vec("site_existing", self.site_existing, m)
        s(self, "site_existing", existing)
        s(self, "site_close_cost", _float_vec("site_close_cost", self.site_close_cost, m,
                                              default=0.0))
        s(self, "site_close_oneoff", _float_vec("site_close_oneoff", self.site_close_oneoff, m,
                                                default=0.0))
        s(self, "site_locked", _bool_vec("site_locked", self.site_locked, m))
        s(self, "site_forbidden", _bool_vec("site_forbidden", self.site_forbidden, m))
        s(self, "site_outside", _bool_vec("site_outside", self.site_outside, m))
        group = _int_vec("site_group", self.site_group, m, default=-1, lo=-1)
        s(self, "site_group", group)
        n_groups = int(group.max()) + 1 if group.size else 0
        for name in ("group_min_sites", "group_max_sites", "group_max_new", "group_max_closed"):
            val = getattr(self, name)
            if val is None or val is _UNSET_I:
                arr = _frozen(np.full(n_groups, -1, dtype=np.int64))
            else:
                arr = _int_vec(name, val, None, lo=-1)
                if arr.size < n_groups:
                    raise _bad(name, f"has {arr.size} entries but site_group uses groups 0.."
                                     f"{n_groups - 1}; give one limit per group (-1 = none)")
            s(self, name, arr)
        g_n = max(n_groups, *(getattr(self, k).size for k in (
            "group_min_sites", "group_max_sites", "group_max_new", "group_max_closed")))
        for name in ("group_min_sites", "group_max_sites", "group_max_new", "group_max_closed"):
            arr = getattr(self, name)
            if arr.size < g_n:
                s(self, name, _frozen(np.concatenate([arr, np.full(g_n - arr.size, -1)])))
        bad_range = (self.group_max_sites >= 0) & (self.group_min_sites > self.group_max_sites)
        if bad_range.any():
            g = int(np.flatnonzero(bad_range)[0])
            raise _bad("group_min_sites", f"group {g} has min {self.group_min_sites[g]} > max "
                                          f"{self.group_max_sites[g]} (group_max_sites)")
        if cur.any():
            if (~existing[opt_site[cur]]).any():
                o = int(np.flatnonzero(cur & ~existing[opt_site])[0])
                raise _bad("opt_is_current", f"option {o} is marked current but its site "
                                             f"{opt_site[o]} is not site_existing")
            cnt = np.bincount(opt_site[cur], minlength=m)
            if (cnt > 1).any():
                j = int(np.flatnonzero(cnt > 1)[0])
                raise _bad("opt_is_current", f"site {j} has {cnt[j]} current options; at most 1")
        for name in ("max_new", "max_closed", "n_sites_exact"):
            val = getattr(self, name)
            if val is not None:
                if isinstance(val, bool) or int(val) != val or val < 0:
                    raise _bad(name, f"expected a non-negative integer or None, got {val!r}")
                s(self, name, int(val))
        if self.budget is not None:
            if not math.isfinite(float(self.budget)):
                raise _bad("budget", f"expected a finite number or None, got {self.budget!r}")
            s(self, "budget", float(self.budget))
        if self.min_share_outside is not None:
            share = float(self.min_share_outside)
            if not 0.0 <= share <= 1.0:
                raise _bad("min_share_outside", f"expected a share in [0, 1], got {share}")
            s(self, "min_share_outside", share)
        rf = _int_vec("reloc_from", self.reloc_from, None, lo=0, hi=m - 1)
        nr = rf.size
        rt = _int_vec("reloc_to", self.reloc_to, nr, lo=0, hi=m - 1)
        s(self, "reloc_from", rf)
        s(self, "reloc_to", rt)
        if self.reloc_to_option is not None:
            ro = _int_vec("reloc_to_option", self.reloc_to_option, nr, lo=0, hi=max(q - 1, 0))
            if nr and (opt_site[ro] != rt).any():
                k = int(np.flatnonzero(opt_site[ro] != rt)[0])
                raise _bad("reloc_to_option", f"pair {k}: option {ro[k]} is at site "
                                              f"{opt_site[ro[k]]}, not at reloc_to {rt[k]}")
            s(self, "reloc_to_option", ro)
        s(self, "reloc_saving", _float_vec("reloc_saving", self.reloc_saving, nr, default=0.0,
                                           nonneg=True))
        s(self, "reloc_saving_oneoff", _float_vec("reloc_saving_oneoff",
                                                  self.reloc_saving_oneoff, nr, default=0.0))
        if nr:
            if (~existing[rf]).any():
                k = int(np.flatnonzero(~existing[rf])[0])
                raise _bad("reloc_from", f"pair {k}: site {rf[k]} is not an existing site; "
                                         "relocations move an existing site")
            if existing[rt].any():
                k = int(np.flatnonzero(existing[rt])[0])
                raise _bad("reloc_to", f"pair {k}: site {rt[k]} is an existing site; "
                                       "relocations go to a new (candidate) site")
            key = rf * m + rt
            if np.unique(key).size != nr:
                raise _bad("reloc_from", "a (from, to) relocation pair appears twice")
        s(self, "single_source", bool(self.single_source))
        bw = float(self.balance_weight)
        if not (math.isfinite(bw) and bw >= 0):
            raise _bad("balance_weight", f"expected a finite number >= 0, got {bw}")
        s(self, "balance_weight", bw)
        bt = float(self.balance_threshold)
        if not 0.0 < bt <= 1.0:
            raise _bad("balance_threshold", f"expected a share in (0, 1], got {bt}")
        s(self, "balance_threshold", bt)
        if self.warm_start is not None:
            ws = _int_vec("warm_start", self.warm_start, m, lo=-1, hi=q - 1)
            chosen = ws >= 0
            wrong = chosen & (opt_site[np.where(chosen, ws, 0)] != np.arange(m))
            if wrong.any():
                j = int(np.flatnonzero(wrong)[0])
                raise _bad("warm_start", f"site {j} gets option {ws[j]} which belongs to site "
                                         f"{opt_site[ws[j]]}")
            s(self, "warm_start", ws)

    @property
    def n_zones(self) -> int:
        """Number of zones (rows of ``cost``)."""
        return int(self.cost.shape[0])

    @property
    def n_sites(self) -> int:
        """Number of sites (columns of ``cost``)."""
        return int(self.cost.shape[1])

    @property
    def n_opts(self) -> int:
        """Number of (site, format) options."""
        return int(self.opt_site.size)

    @property
    def n_groups(self) -> int:
        """Number of groups (length of the group limit arrays)."""
        return int(self.group_min_sites.size)

    def current_options(self) -> IntArray:
        """(n_sites,) index of each site's current option (-1 = none): the network as it is."""
        out = np.full(self.n_sites, -1, dtype=np.int64)
        cur = np.flatnonzero(self.opt_is_current)
        out[self.opt_site[cur]] = cur
        return out


@dataclass(frozen=True, eq=False)
class Solution:
    """Result of :func:`solve`. Arrays are read-only.

    Attributes
    ----------
    status
        ``"optimal"`` (gap 0), ``"gap_limit"`` (stopped within ``mip_gap``, gap > 0),
        ``"time_limit"`` (best plan found when time ran out, with its gap) or ``"feasible"``
        (another limit stopped the solver).
    objective
        True total cost of the plan (all constants included).
    best_bound
        Lower bound on the optimum (nan when the solver does not report one).
    gap
        Relative gap (objective - bound) / |objective|; 0 when optimal.
    seconds, build_seconds
        Solver time and model-building time.
    site_option
        (n_sites,) chosen option per site, -1 = none.
    relocated
        (n_reloc,) relocation pair used.
    assign_zone, assign_site, assign_share
        Sparse zone -> site assignment (shares > 1e-9).
    unserved_share
        (n_zones,) unserved share of each zone.
    n_rows, n_cols, n_nonzeros
        Size of the model handed to the solver.
    search_seconds, search_gain
        Time spent in, and objective removed by, the neighbourhood search that follows
        HiGHS on long time-limited solves (0 when it did not run; see :func:`solve`).
    """

    status: str
    objective: float
    best_bound: float
    gap: float
    seconds: float
    build_seconds: float
    solver: str
    backend: str
    site_option: IntArray
    relocated: BoolArray
    assign_zone: IntArray
    assign_site: IntArray
    assign_share: FloatArray
    unserved_share: FloatArray
    n_rows: int = 0
    n_cols: int = 0
    n_nonzeros: int = 0
    search_seconds: float = 0.0
    search_gain: float = 0.0

    @property
    def open_sites(self) -> IntArray:
        """Sorted indices of the sites that run an option."""
        return np.flatnonzero(self.site_option >= 0).astype(np.int64)

    def load(self, demand: ArrayLike, n_sites: int | None = None) -> FloatArray:
        """(n_sites,) demand served at each site, given the zones' ``demand``."""
        d = np.asarray(demand, dtype=np.float64)
        m = self.site_option.size if n_sites is None else n_sites
        w = d[self.assign_zone] * self.assign_share
        return np.bincount(self.assign_site, weights=w, minlength=m).astype(np.float64)


@dataclass(frozen=True)
class ModelSize:
    """Rows, columns and nonzeros of the model :func:`solve` would build."""

    rows: int
    cols: int
    nonzeros: int
    integers: int


# ------------------------------------------------------------------------------------------
# Model building (vectorised)
# ------------------------------------------------------------------------------------------

FAMILIES: Final[dict[str, str]] = {
    "site_status": "locked/forbidden sites (site_locked, site_forbidden)",
    "group_sites": "open sites per group (group_min_sites, group_max_sites)",
    "group_changes": "changes per group (group_max_new, group_max_closed)",
    "max_changes": "changes overall (max_new, max_closed)",
    "option_limits": "options chosen per tag, e.g. conversions (opt_tag, tag_max)",
    "n_sites_exact": "the exact number of open sites (n_sites_exact)",
    "budget": "the one-off budget (budget)",
    "min_share_outside": "the minimum share of open sites outside the 5th ring "
                         "(min_share_outside)",
    "unserved": "zones that must be served (unserved_cost = inf) with the capacity and allowed "
                "sites available",
}


@dataclass(frozen=True)
class _SideRow:
    family: str
    label: str
    row: int
    scale: float  # natural value = scale * activity + shift
    shift: float
    unit: str


@dataclass(frozen=True, eq=False)
class _Model:
    a: Any  # scipy.sparse.csc_array (rows x cols)
    c: FloatArray
    offset: float
    col_lo: FloatArray
    col_hi: FloatArray
    row_lo: FloatArray
    row_hi: FloatArray
    integer: BoolArray
    y0: int
    z0: int
    x0: int
    u0: int
    r0: int
    v0: int
    bal_sites: IntArray
    side: tuple[_SideRow, ...]
    col_relax: dict[str, tuple[IntArray, FloatArray, FloatArray]]

    @property
    def n_rows(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.a.shape[1])


class _Rows:
    """Accumulates COO triplets and row bounds block by block."""

    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.n = 0

    def block(self, n_rows: int, lo: ArrayLike, hi: ArrayLike) -> int:
        start = self.n
        self.lo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (n_rows,)).copy())
        self.hi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (n_rows,)).copy())
        self.n += n_rows
        return start

    def add(self, rows: ArrayLike, cols: ArrayLike, vals: ArrayLike) -> None:
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        self.rows.append(r)
        self.cols.append(c)
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), r.shape).copy())


def _entry_zones(p: FacilityProblem) -> IntArray:
    """(nnz,) the zone of each stored entry of ``p.cost`` (CSR row index per entry)."""
    return np.repeat(np.arange(p.n_zones, dtype=np.int64), np.diff(p.cost.indptr))


def _build(p: FacilityProblem) -> _Model:
    n, m, q = p.n_zones, p.n_sites, p.n_opts
    cost = p.cost
    nnz = int(cost.nnz)
    zi = _entry_zones(p)
    sj = np.asarray(cost.indices, dtype=np.int64)
    rf, rt = p.reloc_from, p.reloc_to
    nr = rf.size
    d = p.demand
    theta = p.balance_threshold

    reach = np.bincount(sj, weights=d[zi], minlength=m)  # D[j]
    opts_at = np.bincount(p.opt_site, minlength=m)
    has_opt = opts_at > 0
    cap = p.opt_capacity
    cap_eff = np.minimum(cap, reach[p.opt_site])
    min_cap = np.full(m, np.inf)
    np.minimum.at(min_cap, p.opt_site, cap)
    cap_sites = np.flatnonzero(has_opt & (reach > 0) & (min_cap < reach))
    if p.balance_weight > 0:
        bal_sites = np.flatnonzero(has_opt & (reach > 0) & (theta * min_cap < reach))
    else:
        bal_sites = np.empty(0, dtype=np.int64)
    nb = bal_sites.size

    y0 = 0
    z0 = q
    x0 = z0 + m
    u0 = x0 + nnz
    r0 = u0 + n
    v0 = r0 + nr
    n_cols = v0 + nb

    col_lo = np.zeros(n_cols)
    col_hi = np.ones(n_cols)
    col_hi[v0:] = np.inf
    z_hi = (has_opt & ~p.site_forbidden).astype(np.float64)
    z_lo = p.site_locked.astype(np.float64)
    col_hi[z0:x0] = z_hi
    col_lo[z0:x0] = z_lo
    must_serve = np.isposinf(p.unserved_cost)
    col_hi[u0:r0] = np.where(must_serve, 0.0, 1.0)
    col_relax: dict[str, tuple[IntArray, FloatArray, FloatArray]] = {
        "site_status": (
            np.arange(z0, x0, dtype=np.int64), np.zeros(m), has_opt.astype(np.float64)),
        "unserved": (np.arange(u0, r0, dtype=np.int64), np.zeros(n), np.ones(n)),
    }

    c = np.zeros(n_cols)
    c[y0:z0] = p.opt_cost
    close_cost = np.where(p.site_existing, p.site_close_cost, 0.0)
    c[z0:x0] = -close_cost
    offset = float(close_cost.sum())
    c[x0:u0] = cost.data
    c[u0:r0] = np.where(must_serve, 0.0, p.unserved_cost)
    c[r0:v0] = -p.reloc_saving
    c[v0:] = p.balance_weight

    integer = np.zeros(n_cols, dtype=np.bool_)
    integer[y0:z0] = True
    integer[r0:v0] = True
    if p.single_source:
        integer[x0:u0] = True

    R = _Rows()
    # 1. every zone: sum_j x + u = 1
    s = R.block(n, 1.0, 1.0)
    R.add(s + zi, x0 + np.arange(nnz), 1.0)
    R.add(s + np.arange(n), np.arange(u0, r0), 1.0)
    # 2. every site: sum_o y - z = 0
    s = R.block(m, 0.0, 0.0)
    R.add(s + p.opt_site, np.arange(y0, z0), 1.0)
    R.add(s + np.arange(m), np.arange(z0, x0), -1.0)
    # 3. linking x - z <= 0
    s = R.block(nnz, -np.inf, 0.0)
    R.add(s + np.arange(nnz), x0 + np.arange(nnz), 1.0)
    R.add(s + np.arange(nnz), z0 + sj, -1.0)
    # 4. capacity where it can bind
    if cap_sites.size:
        cap_row = np.full(m, -1, dtype=np.int64)
        s = R.block(cap_sites.size, -np.inf, 0.0)
        cap_row[cap_sites] = s + np.arange(cap_sites.size)
        e = np.flatnonzero((cap_row[sj] >= 0) & (d[zi] > 0))
        R.add(cap_row[sj[e]], x0 + e, d[zi[e]])
        o = np.flatnonzero(cap_row[p.opt_site] >= 0)
        R.add(cap_row[p.opt_site[o]], y0 + o, -cap_eff[o])
    # 5. balance: load - theta * cap - v <= 0
    if nb:
        bal_row = np.full(m, -1, dtype=np.int64)
        s = R.block(nb, -np.inf, 0.0)
        bal_row[bal_sites] = s + np.arange(nb)
        e = np.flatnonzero((bal_row[sj] >= 0) & (d[zi] > 0))
        R.add(bal_row[sj[e]], x0 + e, d[zi[e]])
        o = np.flatnonzero(bal_row[p.opt_site] >= 0)
        cap_bal = np.minimum(cap[o], reach[p.opt_site[o]] / theta)
        R.add(bal_row[p.opt_site[o]], y0 + o, -theta * cap_bal)
        R.add(s + np.arange(nb), v0 + np.arange(nb), -1.0)
    # 6. relocations
    if nr:
        k = np.arange(nr)
        s = R.block(nr, -np.inf, 1.0)
        R.add(s + k, r0 + k, 1.0)
        R.add(s + k, z0 + rf, 1.0)
        s = R.block(nr, -np.inf, 0.0)
        R.add(s + k, r0 + k, 1.0)
        if p.reloc_to_option is None:
            R.add(s + k, z0 + rt, -1.0)
        else:
            R.add(s + k, y0 + p.reloc_to_option, -1.0)
        for ends in (rf, rt):
            cnt = np.bincount(ends, minlength=m)
            multi = np.flatnonzero(cnt > 1)
            if multi.size:
                row_of = np.full(m, -1, dtype=np.int64)
                s = R.block(multi.size, -np.inf, 1.0)
                row_of[multi] = s + np.arange(multi.size)
                sel = np.flatnonzero(row_of[ends] >= 0)
                R.add(row_of[ends[sel]], r0 + sel, 1.0)
    # 7. side constraints (few rows)
    side: list[_SideRow] = []

    def side_row(
        family: str, label: str, cols: IntArray, vals: ArrayLike, lo: float, hi: float,
        scale: float = 1.0, shift: float = 0.0, unit: str = "open sites",
    ) -> None:
        r = R.block(1, lo, hi)
        R.add(np.full(cols.size, r), cols, vals)
        side.append(_SideRow(family, label, r, scale, shift, unit))

    existing = p.site_existing
    for g in range(p.n_groups):
        in_g = p.site_group == g
        gmin, gmax = int(p.group_min_sites[g]), int(p.group_max_sites[g])
        if gmin > 0 or gmax >= 0:
            idx = np.flatnonzero(in_g)
            lo_, hi_ = float(max(gmin, 0)), (float(gmax) if gmax >= 0 else np.inf)
            what = (f"at least {gmin}" if gmin > 0 else "") + (
                " and " if gmin > 0 and gmax >= 0 else "") + (
                f"at most {gmax}" if gmax >= 0 else "")
            side_row("group_sites", f"group {g} needs {what} open sites", z0 + idx, 1.0,
                     lo_, hi_)
        gnew = int(p.group_max_new[g])
        moves = np.flatnonzero(in_g[rf] & in_g[rt]) if nr else _empty_i()
        if gnew >= 0:
            idx = np.flatnonzero(in_g & ~existing)
            side_row("group_changes", f"group {g} allows at most {gnew} new sites",
                     np.r_[z0 + idx, r0 + moves], np.r_[np.ones(idx.size), -np.ones(moves.size)],
                     -np.inf, float(gnew), unit="new sites")
        gcl = int(p.group_max_closed[g])
        if gcl >= 0:
            idx = np.flatnonzero(in_g & existing)
            side_row("group_changes", f"group {g} allows at most {gcl} closed sites",
                     np.r_[z0 + idx, r0 + moves], np.r_[np.ones(idx.size), np.ones(moves.size)],
                     float(idx.size - gcl), np.inf, scale=-1.0, shift=float(idx.size),
                     unit="closed sites")
    all_moves = np.arange(nr, dtype=np.int64)
    if p.max_new is not None:
        idx = np.flatnonzero(~existing)
        side_row("max_changes", f"max_new allows at most {p.max_new} new sites",
                 np.r_[z0 + idx, r0 + all_moves], np.r_[np.ones(idx.size), -np.ones(nr)],
                 -np.inf, float(p.max_new), unit="new sites")
    if p.max_closed is not None:
        idx = np.flatnonzero(existing)
        side_row("max_changes", f"max_closed allows at most {p.max_closed} closed sites",
                 np.r_[z0 + idx, r0 + all_moves], np.r_[np.ones(idx.size), np.ones(nr)],
                 float(idx.size - p.max_closed), np.inf, scale=-1.0, shift=float(idx.size),
                 unit="closed sites")
    for t in np.flatnonzero(p.tag_max >= 0):
        idx = np.flatnonzero(p.opt_tag == t)
        side_row("option_limits", f"tag {t} allows at most {int(p.tag_max[t])} chosen options",
                 y0 + idx, 1.0, -np.inf, float(p.tag_max[t]), unit="options")
    if p.n_sites_exact is not None:
        side_row("n_sites_exact", f"n_sites_exact requires exactly {p.n_sites_exact} open sites",
                 np.arange(z0, x0), 1.0, float(p.n_sites_exact), float(p.n_sites_exact))
    if p.budget is not None:
        close_oneoff = np.where(existing, p.site_close_oneoff, 0.0)
        const = float(close_oneoff.sum())
        oo = np.flatnonzero(p.opt_oneoff != 0)
        zz = np.flatnonzero(close_oneoff != 0)
        kk = np.flatnonzero(p.reloc_saving_oneoff != 0)
        side_row("budget", f"the budget allows a one-off spend of at most {p.budget:,.6g}",
                 np.concatenate([y0 + oo, z0 + zz, r0 + kk]),
                 np.concatenate([p.opt_oneoff[oo], -close_oneoff[zz],
                                 -p.reloc_saving_oneoff[kk]]),
                 -np.inf, p.budget - const, shift=const, unit="one-off spend")
    if p.min_share_outside is not None and p.min_share_outside > 0:
        share = p.min_share_outside
        coef = p.site_outside.astype(np.float64) - share
        idx = np.flatnonzero(coef != 0)
        side_row("min_share_outside",
                 f"min_share_outside requires at least {share:.1%} of open sites outside the "
                 "5th ring", z0 + idx, coef[idx], 0.0, np.inf,
                 unit="(open outside) - share x (open)")

    rows = np.concatenate(R.rows) if R.rows else _empty_i()
    cols = np.concatenate(R.cols) if R.cols else _empty_i()
    vals = np.concatenate(R.vals) if R.vals else _empty_f()
    keep = vals != 0
    a = sp.csc_array((vals[keep], (rows[keep], cols[keep])), shape=(R.n, n_cols))
    a.sort_indices()
    return _Model(
        a=a, c=c, offset=offset, col_lo=col_lo, col_hi=col_hi,
        row_lo=np.concatenate(R.lo) if R.lo else _empty_f(),
        row_hi=np.concatenate(R.hi) if R.hi else _empty_f(),
        integer=integer, y0=y0, z0=z0, x0=x0, u0=u0, r0=r0, v0=v0, bal_sites=bal_sites,
        side=tuple(side), col_relax=col_relax,
    )


def model_size(problem: FacilityProblem) -> ModelSize:
    """Size of the MILP :func:`solve` hands to the solver (builds it, does not solve).

    The model has O(nnz(cost) + n_zones + n_opts + n_reloc) rows, columns and nonzeros: the
    cost matrix is used through its sparsity structure only, never densified.
    """
    mdl = _build(problem)
    return ModelSize(mdl.n_rows, mdl.n_cols, int(mdl.a.nnz), int(mdl.integer.sum()))


# ------------------------------------------------------------------------------------------
# Pre-solve checks (obvious infeasibilities, with numbers)
# ------------------------------------------------------------------------------------------


def _precheck(p: FacilityProblem) -> None:
    m = p.n_sites
    has_opt = np.bincount(p.opt_site, minlength=m) > 0
    locked, forbidden, existing = p.site_locked, p.site_forbidden, p.site_existing
    openable = has_opt & ~forbidden
    fam = "site_status"
    both = locked & forbidden
    if both.any():
        j = np.flatnonzero(both)
        raise InfeasibleError(
            f"site {j[0]} is both locked (must open) and forbidden (must not open)"
            f"{f' (and {j.size - 1} more such sites)' if j.size > 1 else ''}; "
            "unlock or un-forbid it.", fam)
    lno = locked & ~has_opt
    if lno.any():
        j = np.flatnonzero(lno)
        raise InfeasibleError(
            f"site {j[0]} is locked (must open) but has no option to run"
            f"{f' (and {j.size - 1} more such sites)' if j.size > 1 else ''}; add an option "
            "for it (opt_site) or unlock it.", fam)
    n_rows_per_zone = np.diff(p.cost.indptr)
    must = np.isposinf(p.unserved_cost)
    lonely = must & (n_rows_per_zone == 0)
    if lonely.any():
        i = np.flatnonzero(lonely)
        raise InfeasibleError(
            f"zone {i[0]} has no allowed site (no stored entry in its row of cost) and may not "
            f"be left unserved (unserved_cost = inf)"
            f"{f'; {i.size - 1} more zones are in the same case' if i.size > 1 else ''}. Allow "
            "more sites for it (a larger radius or k) or give it a finite unserved_cost.",
            "unserved")
    n_open_max = int(openable.sum())
    n_locked = int(locked.sum())
    if p.n_sites_exact is not None:
        if p.n_sites_exact > n_open_max:
            raise InfeasibleError(
                f"n_sites_exact = {p.n_sites_exact} sites must open but only {n_open_max} of "
                f"the {m} sites can open (not forbidden, with an option); lower n_sites_exact "
                "or allow more sites.", "n_sites_exact")
        if p.n_sites_exact < n_locked:
            raise InfeasibleError(
                f"n_sites_exact = {p.n_sites_exact} but {n_locked} sites are locked open; raise "
                "n_sites_exact or unlock sites.", "n_sites_exact")
    forced_closed = existing & ~openable
    for g in range(p.n_groups):
        in_g = p.site_group == g
        n_g, open_g, lock_g = int(in_g.sum()), int((in_g & openable).sum()), int(
            (in_g & locked).sum())
        gmin, gmax = int(p.group_min_sites[g]), int(p.group_max_sites[g])
        if gmin > open_g:
            raise InfeasibleError(
                f"group {g} needs at least {gmin} open sites but only {open_g} of its {n_g} "
                "sites can open (not forbidden, with an option); lower group_min_sites or add "
                "candidate sites to the group.", "group_sites")
        if 0 <= gmax < lock_g:
            raise InfeasibleError(
                f"group {g} allows at most {gmax} open sites but {lock_g} of its sites are "
                "locked open; raise group_max_sites or unlock sites.", "group_sites")
        gnew = int(p.group_max_new[g])
        lock_new = int((in_g & locked & ~existing).sum())
        if 0 <= gnew < lock_new:
            raise InfeasibleError(
                f"group {g} allows at most {gnew} new sites but {lock_new} new sites in it are "
                "locked open; raise group_max_new or unlock them.", "group_changes")
        gcl = int(p.group_max_closed[g])
        fc = int((in_g & forced_closed).sum())
        if 0 <= gcl < fc:
            raise InfeasibleError(
                f"group {g} allows at most {gcl} closed sites but {fc} existing sites in it "
                "must close (forbidden or without an option); raise group_max_closed.",
                "group_changes")
    lock_new = int((locked & ~existing).sum())
    if p.max_new is not None and p.max_new < lock_new:
        raise InfeasibleError(
            f"max_new = {p.max_new} but {lock_new} new sites are locked open; raise max_new or "
            "unlock them.", "max_changes")
    fc = int(forced_closed.sum())
    if p.max_closed is not None and p.max_closed < fc:
        raise InfeasibleError(
            f"max_closed = {p.max_closed} but {fc} existing sites must close (forbidden or "
            "without an option); raise max_closed.", "max_changes")
    if p.budget is not None:
        # cheapest spend per site, ignoring all other constraints; relocations at best save all
        big = np.full(m, np.inf)
        np.minimum.at(big, p.opt_site, p.opt_oneoff)
        close = np.where(existing, p.site_close_oneoff, 0.0)
        none_ok = ~locked
        site_min = np.where(none_ok, np.minimum(big, close), big)
        site_min = np.where(forbidden, close, site_min)
        lower = float(site_min.sum() - np.clip(p.reloc_saving_oneoff, 0, None).sum())
        if lower > p.budget + 1e-9 * max(1.0, abs(p.budget)):
            raise InfeasibleError(
                f"the budget is {p.budget:,.6g} but even the cheapest choice at every site "
                f"(locked sites open, forbidden sites closed) spends {lower:,.6g}; raise the "
                "budget or relax locked/forbidden sites.", "budget")
    if p.min_share_outside is not None and p.min_share_outside > 0:
        n_out = int((openable & p.site_outside).sum())
        must_open = n_locked > 0 or (p.n_sites_exact or 0) > 0 or bool(
            (p.group_min_sites > 0).any())
        if n_out == 0 and must_open:
            raise InfeasibleError(
                f"min_share_outside = {p.min_share_outside:.1%} but no site outside the 5th "
                "ring can open while some sites must open; add outside candidates or lower "
                "min_share_outside.", "min_share_outside")
    if must.any():
        demand_must = float(p.demand[must].sum())
        best_cap = np.full(m, 0.0)
        np.maximum.at(best_cap, p.opt_site, p.opt_capacity)
        if p.single_source:
            zi = np.repeat(np.arange(p.n_zones), n_rows_per_zone)
            zone_cap = np.zeros(p.n_zones)
            np.maximum.at(zone_cap, zi, np.where(openable, best_cap, 0.0)[p.cost.indices])
            short = must & (p.demand > zone_cap * (1 + 1e-12))
            if short.any():
                i = np.flatnonzero(short)
                raise InfeasibleError(
                    f"zone {i[0]} has demand {p.demand[i[0]]:,.6g} but with single sourcing the "
                    f"largest capacity among its allowed sites is {zone_cap[i[0]]:,.6g}"
                    f"{f'; {i.size - 1} more zones are in the same case' if i.size > 1 else ''}"
                    ". Allow split sourcing, larger formats, or a finite unserved_cost.",
                    "unserved")
        total_cap = float(best_cap[openable].sum())
        if demand_must > total_cap * (1 + 1e-9):
            raise InfeasibleError(
                f"zones that must be served (unserved_cost = inf) have demand {demand_must:,.6g}"
                f" but all sites together offer at most {total_cap:,.6g}; give those zones a "
                "finite unserved_cost or add capacity.", "unserved")


# ------------------------------------------------------------------------------------------
# HiGHS (direct)
# ------------------------------------------------------------------------------------------

_THREADS: int | None = None
_BANNER_LOCK = threading.Lock()
_BANNER_DONE = False


def _new_highs() -> Any:
    """A fresh ``highspy.Highs``; the once-per-process banner is kept off stdout."""
    global _BANNER_DONE
    import highspy

    highs_cls: Any = highspy.Highs
    with _BANNER_LOCK:
        if _BANNER_DONE:
            return highs_cls()
        _BANNER_DONE = True
        try:
            sys.stdout.flush()
            saved = os.dup(1)
        except (OSError, ValueError):  # pragma: no cover - no real stdout
            return highs_cls()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highs_cls()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        return h


def _pass_model(h: Any, mdl: _Model, *, cost: FloatArray | None = None,
                integer: bool = True) -> None:
    import highspy

    a = mdl.a
    integrality = mdl.integer.astype(np.int32) if integer and mdl.integer.any() else None
    lp = highspy.HighsLp()
    lp.num_col_ = mdl.n_cols
    lp.num_row_ = mdl.n_rows
    lp.col_cost_ = mdl.c if cost is None else cost
    lp.offset_ = mdl.offset if cost is None else 0.0
    lp.col_lower_ = mdl.col_lo
    lp.col_upper_ = mdl.col_hi
    lp.row_lower_ = mdl.row_lo
    lp.row_upper_ = mdl.row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = mdl.n_cols
    lp.a_matrix_.num_row_ = mdl.n_rows
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    if integrality is not None:
        lp.integrality_ = [highspy.HighsVarType(int(t)) for t in integrality]
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (passModel returned an error); this is a "
                          "bug in netplan's model builder, please report it with --debug.")


def _set_common(h: Any, *, msg: bool, time_limit_s: float | None, mip_gap: float,
                threads: int | None) -> None:
    h.setOptionValue("output_flag", bool(msg))
    h.setOptionValue("random_seed", _SEED)
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    global _THREADS
    if threads is None and _THREADS not in (None, 0):
        threads = 0  # an earlier solve pinned the scheduler: back to HiGHS' default (auto)
    if threads is not None:
        import highspy

        h.setOptionValue("threads", int(threads))
        if _THREADS != int(threads):
            # HiGHS sizes one process-wide scheduler at its first run; resize it on request
            highspy.Highs.resetGlobalScheduler(True)
            _THREADS = int(threads)


def _proven_bound(obj: float, reported: float, gap: float) -> float:
    """The bound HiGHS proved when it stopped as optimal within its gap.

    When presolve empties a model HiGHS has reported ``mip_dual_bound`` without the
    objective offset while its own gap (and log) said 0 % (seen on tiny districts of the
    nation benchmark: 12-19 % reported gaps). An optimal stop proves objective - gap *
    |objective|; keep the larger of that and the reported bound.
    """
    if not (math.isfinite(obj) and math.isfinite(gap)) or gap < 0:
        return reported
    implied = obj - gap * max(1.0, abs(obj))
    return implied if not math.isfinite(reported) or implied > reported else reported


def _rel_gap(obj: float, bound: float) -> float:
    if not math.isfinite(bound):
        return math.inf
    diff = obj - bound
    if diff <= _TOL * max(1.0, abs(obj)):
        return 0.0
    return diff / max(abs(obj), 1e-10)


def _check_point(mdl: _Model, v: FloatArray, tol: float = _FEAS_TOL) -> bool:
    if v.shape != (mdl.n_cols,) or not np.isfinite(v).all():
        return False
    if (v < mdl.col_lo - tol).any() or (v > mdl.col_hi + tol).any():
        return False
    if mdl.integer.any():
        vi = v[mdl.integer]
        if (np.abs(vi - np.round(vi)) > tol).any():
            return False
    act = mdl.a @ v
    # tolerance relative to each row's largest coefficient (capacity rows carry demands)
    scale = 1.0 + np.asarray(abs(mdl.a).max(axis=1).toarray(), dtype=np.float64).ravel()
    return bool(((act >= mdl.row_lo - tol * scale) & (act <= mdl.row_hi + tol * scale)).all())


def _warm_vector(p: FacilityProblem, mdl: _Model) -> FloatArray | None:
    """Complete ``p.warm_start`` (options per site) to a full feasible column vector.

    Greedy in rounds: in round r every zone with demand left turns to its r-th cheapest open
    site, and each site takes the zones that reach it in that round cheapest first until its
    capacity is used (whole zones only with single sourcing). What is left is unserved.
    Returns None (with a debug log) when the result violates a constraint.
    """
    ws = p.warm_start
    if ws is None:
        return None
    n, m = p.n_zones, p.n_sites
    v = np.zeros(mdl.n_cols)
    chosen = np.flatnonzero(ws >= 0)
    v[mdl.y0 + ws[chosen]] = 1.0
    z = np.zeros(m)
    z[chosen] = 1.0
    v[mdl.z0:mdl.x0] = z
    cost = p.cost
    zi = _entry_zones(p)
    sj = cost.indices.astype(np.int64)
    cap_left = np.zeros(m)
    cap_left[chosen] = p.opt_capacity[ws[chosen]]
    d = p.demand
    # rank of every entry among its zone's open sites, cheapest first
    ok = np.flatnonzero(z[sj] > 0)
    order = ok[np.lexsort((cost.data[ok], zi[ok]))]
    zo = zi[order]
    start = np.r_[0, np.flatnonzero(zo[1:] != zo[:-1]) + 1] if order.size else _empty_i()
    rank = np.arange(order.size) - np.repeat(start, np.diff(np.r_[start, order.size]))
    x = np.zeros(cost.nnz)
    left = np.ones(n)
    for r in range(int(rank.max()) + 1 if rank.size else 0):
        e = order[rank == r]
        e = e[left[zi[e]] > _TOL]
        if not e.size:
            continue
        e = e[np.lexsort((cost.data[e], sj[e]))]  # by site, cheapest first
        site, zone = sj[e], zi[e]
        want = left[zone] * d[zone]
        cs = np.cumsum(want)
        first = np.r_[True, site[1:] != site[:-1]]
        base = np.maximum.accumulate(np.where(first, cs - want, 0.0))
        before = cs - want - base
        room = cap_left[site]
        if p.single_source:
            take = np.where((before + want <= room * (1 + 1e-12)) | (want == 0), 1.0, 0.0)
            # a skipped zone still counted in `before`: conservative, stays feasible
            share = take * left[zone]
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.clip((room - before) / want, 0.0, 1.0)
            frac = np.where(want > 0, frac, 1.0)
            share = frac * left[zone]
        x[e] += share
        left[zone] -= share
        cap_left -= np.bincount(site, weights=share * d[zone], minlength=m)
    v[mdl.x0:mdl.u0] = x
    v[mdl.u0:mdl.r0] = np.clip(left, 0.0, 1.0)
    if mdl.v0 < mdl.n_cols:
        # overload columns: each appears in one balance row; set them to the row's excess
        act = mdl.a @ v
        ov_cols = np.arange(mdl.v0, mdl.n_cols)
        rows_b = mdl.a[:, ov_cols].indices
        v[ov_cols] = np.clip(act[rows_b] - mdl.row_hi[rows_b], 0.0, None)
    if not _check_point(mdl, v):
        logger.debug("warm start could not be completed to a feasible point; skipped")
        return None
    return v


@dataclass
class _Raw:
    status: str
    v: FloatArray | None
    best_bound: float
    seconds: float
    message: str = ""
    search_seconds: float = 0.0
    search_gain: float = 0.0


def _solve_highs(
    mdl: _Model, p: FacilityProblem, *, time_limit_s: float | None, mip_gap: float,
    threads: int | None, msg: bool, progress: Progress | None, search: bool = True,
) -> _Raw:
    import highspy

    h = _new_highs()
    _set_common(h, msg=msg, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads)
    _pass_model(h, mdl)
    warm = _warm_vector(p, mdl)
    warm_obj = math.inf
    if warm is not None:
        h.setSolution(mdl.n_cols, np.arange(mdl.n_cols, dtype=np.int32), warm)
        warm_obj = float(mdl.c @ warm + mdl.offset)
        logger.debug("warm start passed to HiGHS (objective %.6g)", warm_obj)
    if progress is not None:
        def _cb(e: Any) -> None:
            out = e.data_out
            progress(
                f"incumbent {out.objective_function_value:.8g}, bound {out.mip_dual_bound:.8g},"
                f" gap {out.mip_gap:.3%} after {out.running_time:.1f} s")
        h.cbMipImprovingSolution.subscribe(_cb)
    switch: _SearchSwitch | None = None
    if search and time_limit_s is not None and mdl.integer.any():
        switch = _SearchSwitch(time_limit_s, mip_gap, warm_obj)
        h.cbMipInterrupt.subscribe(switch)
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    ms = h.getModelStatus()
    info = h.getInfo()
    S = highspy.HighsModelStatus
    has_sol = int(info.primal_solution_status) == 2
    v = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_sol else None
    bound = float(info.mip_dual_bound) if mdl.integer.any() else math.nan
    if ms == S.kOptimal:
        st = "optimal"
    elif ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
        st = "infeasible"
    elif ms == S.kUnbounded:
        st = "unbounded"
    elif ms == S.kTimeLimit:
        st = "time_limit"
    elif ms in (S.kInterrupt, S.kIterationLimit, S.kSolutionLimit, S.kObjectiveBound,
                S.kObjectiveTarget):
        st = "feasible"
    else:
        st = "error"
    if st == "optimal" and v is not None:
        bound = _proven_bound(float(info.objective_function_value), bound,
                              float(info.mip_gap))
    raw = _Raw(st, v, bound, secs, h.modelStatusToString(ms))
    if switch is not None and switch.fired and v is not None and time_limit_s is not None:
        raw = _search(mdl, p, raw, deadline=t0 + time_limit_s, mip_gap=mip_gap,
                      threads=threads, progress=progress)
    return raw


# ------------------------------------------------------------------------------------------
# Neighbourhood search (after HiGHS, on long time-limited solves)
# ------------------------------------------------------------------------------------------

_SEARCH_SITES: Final = 40
"""Sites freed per neighbourhood: small enough that one sub-solve takes about a second."""
_SEARCH_ZONES: Final = 800
"""Zones freed per neighbourhood (those that may use one of its sites), likewise."""
_SEARCH_LATE: Final = 2 / 3
"""Share of the time limit after which HiGHS hands over any plan of its own."""
_SEARCH_SUB_GAP: Final = 1e-4
_SEARCH_SUB_SECONDS: Final = 10.0


class _SearchSwitch:
    """HiGHS interrupt callback: hand over to the neighbourhood search when HiGHS is slow.

    On large models HiGHS spends long in root cut rounds that barely move the bound while
    its incumbent stays put. It is stopped once it has a plan of its own (better than the
    warm start) and either a quarter of the time is gone with that plan within 3x the target
    gap, or two thirds of the time are gone. The late point is a compromise, measured:
    on the synthetic city-size bank model of ``bench/bench_optimize.py`` a 3.06 % plan
    handed over at half time ends at 1.9 % by 120 s, at two thirds 2.1-2.2 %, HiGHS alone
    2.8 %; on Beijing, where HiGHS' 1.09 % plan comes at ~50 s, a hand-over of its earlier
    3.8 % plan (what half time would do on a machine 20 % slower) ends at 1.3 %. Small
    models finish long before either point.
    """

    def __init__(self, time_limit_s: float, mip_gap: float, warm_obj: float) -> None:
        self.limit = float(time_limit_s)
        self.gap = float(mip_gap)
        self.warm = float(warm_obj)
        self.fired = False

    def __call__(self, e: Any) -> None:
        out = e.data_out
        inc = float(out.mip_primal_bound)
        if not math.isfinite(inc) or inc >= self.warm - _TOL * max(1.0, abs(self.warm)):
            return
        t = float(out.running_time)
        gap = float(out.mip_gap)
        if (t >= 0.25 * self.limit and gap <= 3 * self.gap) or t >= _SEARCH_LATE * self.limit:
            self.fired = True
            e.data_in.user_interrupt = True


def _neighbourhoods(p: FacilityProblem, size: int = _SEARCH_SITES,
                    zones: int = _SEARCH_ZONES) -> list[IntArray]:
    """Partition the sites that have options into compact sets of at most ``size`` sites
    whose zones (those that may use one of them) number at most ``zones``.

    Sites are neighbours when some zone may use both; each set grows breadth-first from its
    lowest-numbered site and stays inside one group (district), so sets are spatially
    compact without coordinates; the zone cap keeps the sub-models small where sites reach
    many zones (dense k-nearest lists, rural districts). Deterministic.
    """
    cost = p.cost
    m = p.n_sites
    zi = _entry_zones(p)
    b = sp.csr_array((np.ones(cost.nnz), (zi, cost.indices)), shape=(p.n_zones, m))
    adj = (b.T @ b).tocsr()
    by_site = b.T.tocsr()  # zones of each site
    has_opt = np.bincount(p.opt_site, minlength=m) > 0
    unassigned = has_opt.copy()
    covered = np.zeros(p.n_zones, dtype=np.bool_)
    out: list[IntArray] = []
    for j0 in np.flatnonzero(has_opt).tolist():
        if not unassigned[j0]:
            continue
        g = p.site_group[j0]
        unassigned[j0] = False
        members, queue, head = [j0], [j0], 0
        touched = list(by_site.indices[by_site.indptr[j0]:by_site.indptr[j0 + 1]].tolist())
        covered[touched] = True
        while head < len(queue) and len(members) < size:
            s = queue[head]
            head += 1
            for t in adj.indices[adj.indptr[s]:adj.indptr[s + 1]].tolist():
                if not unassigned[t] or p.site_group[t] != g or len(members) >= size:
                    continue
                zt = by_site.indices[by_site.indptr[t]:by_site.indptr[t + 1]]
                new = zt[~covered[zt]]
                if len(touched) + new.size > zones:
                    continue
                unassigned[t] = False
                members.append(t)
                queue.append(t)
                covered[new] = True
                touched.extend(new.tolist())
        covered[touched] = False
        out.append(np.sort(np.asarray(members, dtype=np.int64)))
    return out


def _free_columns(mdl: _Model, p: FacilityProblem, sites: IntArray, zi: IntArray) -> BoolArray:
    """Columns a neighbourhood may change: its sites (with both ends of their moves), the
    zones that may use them, and every overload column. All other columns stay fixed.
    ``zi``: the zone of each cost entry (:func:`_entry_zones`, computed once per search)."""
    m = p.n_sites
    inside = np.zeros(m, dtype=np.bool_)
    inside[sites] = True
    if p.reloc_from.size:
        touch = inside[p.reloc_from] | inside[p.reloc_to]
        inside[p.reloc_from[touch]] = True
        inside[p.reloc_to[touch]] = True
    cost = p.cost
    zone_free = np.zeros(p.n_zones, dtype=np.bool_)
    zone_free[zi[inside[cost.indices]]] = True
    free = np.zeros(mdl.n_cols, dtype=np.bool_)
    free[mdl.y0 + np.flatnonzero(inside[p.opt_site])] = True
    free[mdl.z0 + np.flatnonzero(inside)] = True
    free[mdl.x0 + np.flatnonzero(zone_free[zi])] = True
    free[mdl.u0 + np.flatnonzero(zone_free)] = True
    if p.reloc_from.size:
        free[mdl.r0 + np.flatnonzero(inside[p.reloc_from] & inside[p.reloc_to])] = True
    free[mdl.v0:] = True
    return free


def _snap(mdl: _Model, values: Any) -> tuple[FloatArray, float]:
    """A solver's column values with integers rounded and bounds enforced, and their cost."""
    w = np.asarray(values, dtype=np.float64).copy()
    w[mdl.integer] = np.round(w[mdl.integer])
    w = np.clip(w, mdl.col_lo, mdl.col_hi)
    return w, float(mdl.c @ w + mdl.offset)


def _search(mdl: _Model, p: FacilityProblem, raw: _Raw, *, deadline: float, mip_gap: float,
            threads: int | None, progress: Progress | None) -> _Raw:
    """Large-neighbourhood search from HiGHS's incumbent until the gap or the deadline.

    Each step re-solves the full model exactly with every column outside one neighbourhood
    (:func:`_neighbourhoods`) fixed at the incumbent, so every accepted plan satisfies every
    constraint, and keeps the result when it is cheaper. HiGHS's bound stays the bound:
    it is a bound on the whole model, whatever the incumbent. Rounds repeat until the gap
    reaches ``mip_gap``, a round improves nothing, or time runs out.
    """
    assert raw.v is not None
    t0 = time.perf_counter()
    v, obj = _snap(mdl, raw.v)
    start = obj
    bound = raw.best_bound
    hoods = _neighbourhoods(p)
    zi = _entry_zones(p)
    idx = np.arange(mdl.n_cols, dtype=np.int32)
    if progress is not None:
        progress(f"HiGHS handed over at {raw.seconds:.1f} s (incumbent {obj:.8g}, gap "
                 f"{_rel_gap(obj, bound):.3%}); improving it over {len(hoods)} neighbourhoods")
    import highspy

    reached = timed_out = False
    rounds = 0
    while not (reached or timed_out):
        rounds += 1
        improved = False
        for k, sites in enumerate(hoods):
            if _rel_gap(obj, bound) <= mip_gap:
                reached = True
                break
            left = deadline - time.perf_counter()
            if left < 0.5:
                timed_out = True
                break
            free = _free_columns(mdl, p, sites, zi)
            sub = replace(mdl, col_lo=np.where(free, mdl.col_lo, v),
                          col_hi=np.where(free, mdl.col_hi, v))
            h = _new_highs()
            _set_common(h, msg=False, time_limit_s=min(left, _SEARCH_SUB_SECONDS),
                        mip_gap=_SEARCH_SUB_GAP, threads=threads)
            _pass_model(h, sub)
            h.setSolution(mdl.n_cols, idx, v)
            h.run()
            if int(h.getInfo().primal_solution_status) != 2:
                continue
            w, ow = _snap(mdl, h.getSolution().col_value)
            if ow < obj - 1e-9 * max(1.0, abs(obj)) and _check_point(mdl, w):
                v, obj, improved = w, ow, True
                if progress is not None:
                    progress(f"neighbourhood {k + 1}/{len(hoods)} (round {rounds}): incumbent"
                             f" {obj:.8g}, gap {_rel_gap(obj, bound):.3%}")
        else:
            if not improved:
                break
    left = deadline - time.perf_counter()
    if not (reached or timed_out) and left >= 1.0:
        # the neighbourhoods are exhausted: give the rest of the time back to HiGHS, now
        # starting from the improved plan (its bound, if better, replaces the first one)
        if progress is not None:
            progress(f"no neighbourhood improves the plan; HiGHS resumes for {left:.0f} s")
        h = _new_highs()
        _set_common(h, msg=False, time_limit_s=left, mip_gap=mip_gap, threads=threads)
        _pass_model(h, mdl)
        h.setSolution(mdl.n_cols, idx, v)
        h.run()
        info = h.getInfo()
        again = float(info.mip_dual_bound)
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            again = _proven_bound(float(info.objective_function_value), again,
                                  float(info.mip_gap))
        if math.isfinite(again):
            bound = max(bound, again)
        if int(info.primal_solution_status) == 2:
            w, ow = _snap(mdl, h.getSolution().col_value)
            if ow < obj and _check_point(mdl, w):
                v, obj = w, ow
    gap = _rel_gap(obj, bound)
    secs = time.perf_counter() - t0
    status = "optimal" if gap <= mip_gap else "time_limit"
    logger.debug("neighbourhood search: %.6g -> %.6g in %.1f s (%d rounds)", start, obj, secs,
                 rounds)
    return _Raw(status, v, bound, raw.seconds + secs,
                f"{raw.message}; neighbourhood search {start:.8g} -> {obj:.8g}",
                search_seconds=secs, search_gain=start - obj)


# ------------------------------------------------------------------------------------------
# PuLP backend
# ------------------------------------------------------------------------------------------


def _col_names(mdl: _Model, p: FacilityProblem) -> list[str]:
    cost = p.cost
    zi = _entry_zones(p)
    names = [f"y{o}" for o in range(p.n_opts)]
    names += [f"z{j}" for j in range(p.n_sites)]
    names += [f"x{i}_{j}" for i, j in zip(zi.tolist(), cost.indices.tolist(), strict=True)]
    names += [f"u{i}" for i in range(p.n_zones)]
    names += [f"r{k}" for k in range(p.reloc_from.size)]
    names += [f"v{j}" for j in mdl.bal_sites.tolist()]
    return names


def _pulp_solver(solver: str, *, msg: bool, time_limit_s: float | None, mip_gap: float,
                 threads: int | None, warm: bool) -> Any:
    import pulp

    kw: dict[str, Any] = {"msg": bool(msg), "gapRel": float(mip_gap)}
    if time_limit_s is not None:
        kw["timeLimit"] = float(time_limit_s)
    if threads is not None:
        kw["threads"] = int(threads)
    key = solver.lower()
    if key == "highs":
        if pulp.HiGHS().available():
            return pulp.HiGHS(random_seed=_SEED, **kw)
        return pulp.HiGHS_CMD(**kw)
    if key == "cbc":
        if pulp.COIN_CMD().available():
            return pulp.COIN_CMD(warmStart=warm, **kw)
        with warnings.catch_warnings():  # PuLP 3.3 deprecates its bundled CBC for 4.0
            warnings.simplefilter("ignore", DeprecationWarning)
            return pulp.PULP_CBC_CMD(warmStart=warm, **kw)
    try:
        return pulp.getSolver(solver, **kw)
    except pulp.PulpSolverError as exc:
        raise SolverError(
            f"PuLP does not know the solver {solver!r} ({exc}); available here: "
            f"{', '.join(pulp.listSolvers(onlyAvailable=True))}.") from None
    except TypeError:
        kw.pop("gapRel", None)
        kw.pop("threads", None)
        return pulp.getSolver(solver, **kw)


def _solve_pulp(
    mdl: _Model, p: FacilityProblem, *, solver: str, time_limit_s: float | None,
    mip_gap: float, threads: int | None, msg: bool, progress: Progress | None,
) -> tuple[_Raw, float]:
    import pulp

    t0 = time.perf_counter()
    names = _col_names(mdl, p)
    prob = pulp.LpProblem("netplan", pulp.LpMinimize)
    lo, hi = mdl.col_lo.tolist(), mdl.col_hi.tolist()
    integ = mdl.integer.tolist()
    new_var = getattr(prob, "add_variable", None)  # PuLP >= 3.3; LpVariable() is deprecated
    if new_var is None:  # pragma: no cover - older PuLP
        def new_var(nm: str, lb: float, ub: float | None, cat: str) -> Any:
            return pulp.LpVariable(nm, lowBound=lb, upBound=ub, cat=cat)
    xs = [
        new_var(nm, lo[k], None if math.isinf(hi[k]) else hi[k],
                pulp.LpInteger if integ[k] else pulp.LpContinuous)
        for k, nm in enumerate(names)
    ]
    c = mdl.c
    nzc = np.flatnonzero(c)
    prob += pulp.LpAffineExpression([(xs[k], float(c[k])) for k in nzc.tolist()],
                                    constant=mdl.offset)
    ar = mdl.a.tocsr()
    ind, ptr, dat = ar.indices.tolist(), ar.indptr.tolist(), ar.data.tolist()
    rlo, rhi = mdl.row_lo.tolist(), mdl.row_hi.tolist()
    for r in range(mdl.n_rows):
        terms = [(xs[ind[t]], dat[t]) for t in range(ptr[r], ptr[r + 1])]
        e = pulp.LpAffineExpression(terms)
        if rlo[r] == rhi[r]:
            prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintEQ, rhs=rlo[r]))
            continue
        if not math.isinf(rlo[r]):
            prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintGE, rhs=rlo[r]))
        if not math.isinf(rhi[r]):
            prob.addConstraint(pulp.LpConstraint(e, pulp.LpConstraintLE, rhs=rhi[r]))
    warm = _warm_vector(p, mdl)
    if warm is not None:
        for k, val in enumerate(warm.tolist()):
            xs[k].setInitialValue(val)
    build = time.perf_counter() - t0
    _new_highs()  # keep HiGHS' once-per-process banner off stdout
    sol = _pulp_solver(solver, msg=msg, time_limit_s=time_limit_s, mip_gap=mip_gap,
                       threads=threads, warm=warm is not None)
    if progress is not None:
        progress(f"PuLP: solving with {sol.name}")
    t1 = time.perf_counter()
    try:
        prob.solve(sol)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"the PuLP solver {sol.name} failed: {exc}") from None
    secs = time.perf_counter() - t1
    vals = [x.varValue for x in xs]
    v: FloatArray | None = None
    if all(val is not None for val in vals):
        v = np.asarray(vals, dtype=np.float64)
        if not _check_point(mdl, v, tol=1e-5):
            v = None
        else:
            v = _polish(mdl, v)
    bound = math.nan
    hs = getattr(prob, "solverModel", None)
    st_code, sol_code = prob.status, prob.sol_status
    timed_out = False
    if hs is not None and sol.name == "HiGHS":
        import highspy

        info = hs.getInfo()
        if mdl.integer.any():
            bound = float(info.mip_dual_bound)
        timed_out = hs.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
    elif time_limit_s is not None and secs >= 0.95 * time_limit_s:
        timed_out = True
    if st_code == pulp.LpStatusInfeasible:
        st = "infeasible"
    elif st_code == pulp.LpStatusUnbounded:
        st = "unbounded"
    elif v is None:
        st = "time_limit" if timed_out else "error"
    elif sol_code == pulp.LpSolutionOptimal and not timed_out:
        st = "optimal"
    elif timed_out:
        st = "time_limit"
    else:
        st = "feasible"
    return _Raw(st, v, bound, secs, pulp.LpStatus.get(st_code, str(st_code))), build


# ------------------------------------------------------------------------------------------
# Infeasibility diagnosis
# ------------------------------------------------------------------------------------------


class _Feas:
    """Feasibility checks of one model under changed bounds (LP or short MIPs)."""

    def __init__(self, mdl: _Model, *, mip: bool, time_limit_s: float) -> None:
        self.mdl = mdl
        self.h = _new_highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("random_seed", _SEED)
        self.h.setOptionValue("time_limit", float(time_limit_s))
        self.mip = mip
        _pass_model(self.h, mdl, cost=np.zeros(mdl.n_cols), integer=mip)

    def _set(self, row_lo: FloatArray, row_hi: FloatArray, col_lo: FloatArray,
             col_hi: FloatArray) -> None:
        h, mdl = self.h, self.mdl
        if mdl.n_rows:
            h.changeRowsBounds(mdl.n_rows, np.arange(mdl.n_rows, dtype=np.int32), row_lo, row_hi)
        h.changeColsBounds(mdl.n_cols, np.arange(mdl.n_cols, dtype=np.int32), col_lo, col_hi)

    def check(self, row_lo: FloatArray, row_hi: FloatArray, col_lo: FloatArray,
              col_hi: FloatArray) -> bool | None:
        import highspy

        self._set(row_lo, row_hi, col_lo, col_hi)
        self.h.changeColsCost(self.mdl.n_cols, np.arange(self.mdl.n_cols, dtype=np.int32),
                              np.zeros(self.mdl.n_cols))
        self.h.run()
        ms = self.h.getModelStatus()
        S = highspy.HighsModelStatus
        if ms == S.kOptimal:
            return True
        if ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
            return False
        return True if int(self.h.getInfo().primal_solution_status) == 2 else None

    def extreme(self, row_lo: FloatArray, row_hi: FloatArray, col_lo: FloatArray,
                col_hi: FloatArray, obj: FloatArray, sense: int) -> float | None:
        """min (sense=1) or max (sense=-1) of obj @ v under the bounds; None if unknown."""
        import highspy

        self._set(row_lo, row_hi, col_lo, col_hi)
        self.h.changeColsCost(self.mdl.n_cols, np.arange(self.mdl.n_cols, dtype=np.int32),
                              sense * obj)
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(sense * self.h.getInfo().objective_function_value)


def _polish(mdl: _Model, v: FloatArray) -> FloatArray:
    """Re-solve the continuous part exactly (HiGHS LP) with the integer columns fixed.

    Solvers driven through PuLP report values to their own tolerances (CBC's capacity rows
    can be off by ~1e-8 relative), so the reported objective would differ from the true
    cost of the plan in the last digits. Returns ``v`` unchanged if the LP fails.
    """
    import highspy

    if not mdl.integer.any():
        return v
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    lo, hi = mdl.col_lo.copy(), mdl.col_hi.copy()
    fixed = np.round(v[mdl.integer])
    lo[mdl.integer] = fixed
    hi[mdl.integer] = fixed
    _pass_model(h, replace(mdl, col_lo=lo, col_hi=hi), integer=False)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return v
    w = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if float(mdl.c @ w) > float(mdl.c @ v) + 1e-6 * max(1.0, abs(float(mdl.c @ v))):
        return v
    return w


def _diagnose(mdl: _Model, p: FacilityProblem, *, time_limit_s: float) -> InfeasibleError:
    """Find the constraint family whose relaxation alone restores feasibility."""
    fam_rows: dict[str, list[_SideRow]] = {}
    for srow in mdl.side:
        fam_rows.setdefault(srow.family, []).append(srow)
    present = [f for f in FAMILIES if f in fam_rows or (
        f == "site_status" and (p.site_locked.any() or p.site_forbidden.any())) or (
        f == "unserved" and np.isposinf(p.unserved_cost).any())]

    def bounds(relaxed: set[str], rows_free: tuple[int, ...] = ()) -> tuple[
            FloatArray, FloatArray, FloatArray, FloatArray]:
        rlo, rhi = mdl.row_lo.copy(), mdl.row_hi.copy()
        clo, chi = mdl.col_lo.copy(), mdl.col_hi.copy()
        for f in relaxed:
            for srow in fam_rows.get(f, []):
                rlo[srow.row], rhi[srow.row] = -np.inf, np.inf
            if f in mdl.col_relax:
                cols, lo_, hi_ = mdl.col_relax[f]
                clo[cols], chi[cols] = lo_, hi_
        for r in rows_free:
            rlo[r], rhi[r] = -np.inf, np.inf
        return rlo, rhi, clo, chi

    per_check = max(5.0, min(60.0, time_limit_s))
    lp = _Feas(mdl, mip=False, time_limit_s=per_check)
    feas = lp
    if lp.check(*bounds(set())):
        # LP relaxation feasible: the conflict is integral; use short MIPs
        feas = _Feas(mdl, mip=True, time_limit_s=per_check)
    fixers = [f for f in present if feas.check(*bounds({f}))]
    what = "its LP relaxation" if feas is lp else "the model"
    if not fixers:
        everything = feas.check(*bounds(set(present)))
        names = ", ".join(FAMILIES[f] for f in present) or "none"
        tail = ("relaxing all of them together does restore feasibility, so it is their "
                "combination" if everything else
                "even relaxing all of them leaves it infeasible (check capacities and the cost "
                "matrix: can every zone reach a site?)")
        return InfeasibleError(
            f"the model is infeasible and no single constraint family explains it. Families "
            f"present: {names}; {tail}. Loosen several limits at once.", None)
    family = fixers[0]
    others = [FAMILIES[f] for f in fixers[1:]]
    detail = ""
    rows = fam_rows.get(family, [])
    if rows and len(rows) <= 200:
        for srow in rows:
            if feas.check(*bounds(set(), (srow.row,))):
                rl, rh, cl, ch = bounds(set(), (srow.row,))
                coef = _row_vec(mdl, srow.row)
                lo_v = lp.extreme(rl, rh, cl, ch, coef, 1)
                hi_v = lp.extreme(rl, rh, cl, ch, coef, -1)
                rng = ""
                if lo_v is not None and hi_v is not None:
                    a_, b_ = sorted((srow.scale * lo_v + srow.shift,
                                     srow.scale * hi_v + srow.shift))
                    rng = (f", but the rest of the model only allows {srow.unit} between "
                           f"{a_:,.6g} and {b_:,.6g}")
                detail = f" Culprit: {srow.label}{rng}."
                break
    elif family == "site_status":
        locked = np.flatnonzero(p.site_locked)
        forb = np.flatnonzero(p.site_forbidden)
        detail = f" {locked.size} sites are locked open and {forb.size} are forbidden."
        if locked.size <= 50:
            for j in locked.tolist():
                rl, rh, cl, ch = bounds(set())
                cl[mdl.z0 + j] = 0.0
                if feas.check(rl, rh, cl, ch):
                    detail += f" Unlocking site {j} alone restores feasibility."
                    break
    elif family == "unserved":
        rl, rh, cl, ch = bounds({"unserved"})
        must = np.isposinf(p.unserved_cost)
        obj = np.zeros(mdl.n_cols)
        obj[mdl.u0:mdl.r0] = np.where(must, p.demand, 0.0)
        short = lp.extreme(rl, rh, cl, ch, obj, 1)
        if short is not None:
            detail = (f" At least {short:,.6g} demand units of zones with unserved_cost = inf "
                      f"cannot be served (of {float(p.demand[must].sum()):,.6g}).")
    also = f" Relaxing {'; or '.join(others)} alone would also restore feasibility." if (
        others) else ""
    return InfeasibleError(
        f"the model is infeasible ({what}): relaxing {FAMILIES[family]} alone restores "
        f"feasibility.{detail}{also} Loosen that limit, or the ones it conflicts with.", family)


def _row_vec(mdl: _Model, row: int) -> FloatArray:
    return np.asarray(mdl.a[[row], :].toarray(), dtype=np.float64).ravel()


# ------------------------------------------------------------------------------------------
# solve()
# ------------------------------------------------------------------------------------------


def _extract(raw: _Raw, mdl: _Model, p: FacilityProblem, *, solver: str, backend: str,
             build_seconds: float) -> Solution:
    assert raw.v is not None
    v, obj = _snap(mdl, raw.v)
    q = p.n_opts
    ysel = np.flatnonzero(v[mdl.y0:mdl.y0 + q] > 0.5)
    site_option = np.full(p.n_sites, -1, dtype=np.int64)
    site_option[p.opt_site[ysel]] = ysel
    relocated = v[mdl.r0:mdl.v0] > 0.5
    x = v[mdl.x0:mdl.u0]
    keep = np.flatnonzero(x > _TOL)
    cost = p.cost
    zi = _entry_zones(p)
    u = v[mdl.u0:mdl.r0].copy()
    u[u < _TOL] = 0.0
    integer_model = bool(mdl.integer.any())
    bound = raw.best_bound if integer_model else obj
    if raw.status == "optimal":
        gap = _rel_gap(obj, bound) if math.isfinite(bound) else 0.0
        if not math.isfinite(bound):
            bound = obj
        status = "optimal" if gap == 0.0 else "gap_limit"
        if gap == 0.0:
            bound = min(bound, obj)
    else:
        gap = _rel_gap(obj, bound)
        status = raw.status
    return Solution(
        status=status, objective=obj, best_bound=float(bound), gap=float(gap),
        seconds=raw.seconds, build_seconds=build_seconds, solver=solver, backend=backend,
        site_option=_frozen(site_option), relocated=_frozen(relocated),
        assign_zone=_frozen(zi[keep]), assign_site=_frozen(cost.indices[keep].astype(np.int64)),
        assign_share=_frozen(x[keep].copy()), unserved_share=_frozen(u),
        n_rows=mdl.n_rows, n_cols=mdl.n_cols, n_nonzeros=int(mdl.a.nnz),
        search_seconds=raw.search_seconds, search_gain=raw.search_gain,
    )


def solve(
    problem: FacilityProblem,
    *,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
    msg: bool = False,
    search: bool = True,
) -> Solution:
    """Solve a :class:`FacilityProblem` to optimality (within ``mip_gap``) or a time limit.

    Parameters
    ----------
    problem
        The model (see the module docstring for the formulation).
    solver
        ``"highs"`` (default) or, with ``backend="pulp"``, ``"cbc"`` or any PuLP solver name
        (``pulp.listSolvers(onlyAvailable=True)``).
    backend
        ``"direct"``: the matrix is built with numpy/scipy and passed to HiGHS in one call
        (fast, O(nnz) memory). ``"pulp"``: the same model through PuLP's modelling layer.
    time_limit_s
        Wall-clock limit for the solver; when reached, the best plan found is returned with
        status ``"time_limit"`` and its gap.
    mip_gap
        Relative optimality gap at which the solver stops.
    threads
        Solver threads (None = solver default). Results are deterministic for a given value.
    progress
        Called with short status lines (model size, improving solutions, the end).
    msg
        Show the solver's own log.
    search
        HiGHS direct only, with a time limit: when HiGHS has used a quarter of the time and
        holds a plan of its own within 3x ``mip_gap`` (or two thirds of the time and any
        plan of its own), stop it and improve its plan by a
        large-neighbourhood search: one compact group of at most 40 sites (and 800 zones)
        at a time is re-optimised exactly with everything else fixed, until the gap to
        HiGHS's bound reaches ``mip_gap`` or time runs out (then HiGHS resumes if the
        neighbourhoods are exhausted). On large models HiGHS spends most of the time in
        root cut rounds while its best plan stalls; the search finds better plans sooner.
        The bound is always HiGHS's, so the reported gap stays a proven one.

    Returns
    -------
    Solution

    Raises
    ------
    InfeasibleError
        The model has no solution; ``family`` names the constraint family whose relaxation
        restores feasibility (checked before solving for the obvious cases).
    SolverError
        No feasible plan was found within the time limit, the model is unbounded, or the
        solver failed.
    """
    if backend not in ("direct", "pulp"):
        raise NetplanError(f"unknown backend {backend!r}; use 'direct' (HiGHS) or 'pulp'.")
    if backend == "direct" and solver.lower() != "highs":
        raise NetplanError(
            f"backend 'direct' drives HiGHS only, got solver={solver!r}; use backend='pulp' "
            "for CBC or another PuLP solver.")
    if not (math.isfinite(mip_gap) and mip_gap >= 0):
        raise NetplanError(f"mip_gap must be a number >= 0, got {mip_gap!r}.")
    if time_limit_s is not None and not time_limit_s > 0:
        raise NetplanError(f"time_limit_s must be > 0 seconds or None, got {time_limit_s!r}.")
    _precheck(problem)
    t0 = time.perf_counter()
    mdl = _build(problem)
    build = time.perf_counter() - t0
    if progress is not None:
        progress(f"model: {mdl.n_rows:,} rows, {mdl.n_cols:,} columns "
                 f"({int(mdl.integer.sum()):,} integer), {int(mdl.a.nnz):,} nonzeros; "
                 f"built in {build:.2f} s")
    if backend == "direct":
        raw = _solve_highs(mdl, problem, time_limit_s=time_limit_s, mip_gap=mip_gap,
                           threads=threads, msg=msg, progress=progress, search=search)
        solver_name = "highs"
    else:
        raw, extra = _solve_pulp(mdl, problem, solver=solver, time_limit_s=time_limit_s,
                                 mip_gap=mip_gap, threads=threads, msg=msg, progress=progress)
        build += extra
        solver_name = solver.lower()
    if raw.status == "infeasible":
        raise _diagnose(mdl, problem, time_limit_s=time_limit_s or 60.0)
    if raw.status == "unbounded":
        raise SolverError("the model is unbounded (a cost column can decrease without limit);"
                          " check for negative costs on unbounded variables.")
    if raw.v is None:
        if raw.status == "time_limit":
            raise SolverError(
                f"no feasible plan was found within the time limit of {time_limit_s} s; give "
                "the solver a longer time_limit_s (or a warm_start, e.g. the current network).")
        raise SolverError(f"the solver stopped without a usable solution ({raw.message}); "
                          "rerun with msg=True to see its log.")
    sol = _extract(raw, mdl, problem, solver=solver_name, backend=backend, build_seconds=build)
    if progress is not None:
        progress(f"{sol.status}: objective {sol.objective:.10g}, bound {sol.best_bound:.10g}, "
                 f"gap {sol.gap:.3%}, {sol.seconds:.2f} s")
    return sol


# ------------------------------------------------------------------------------------------
# Classic problems
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClassicResult:
    """Result of a classic location problem.

    Attributes
    ----------
    open
        Sorted 0-based indices of the open sites.
    objective
        Objective value (covered weight for :func:`maximal_covering`, a cost otherwise).
    status, gap, best_bound, seconds, build_seconds, solver, backend
        As in :class:`Solution` (``seconds`` summed over rounds).
    assignment
        (n_zones,) the site serving most of each zone (-1 = none / uncovered).
    rounds
        Solves needed (the k-nearest scheme may add columns and re-solve).
    solution
        The last core :class:`Solution`.
    """

    open: IntArray
    objective: float
    status: str
    gap: float
    best_bound: float
    seconds: float
    build_seconds: float
    solver: str
    backend: str
    assignment: IntArray
    rounds: int
    solution: Solution


def _main_assignment(sol: Solution, n: int) -> IntArray:
    out = np.full(n, -1, dtype=np.int64)
    if sol.assign_zone.size:
        order = np.lexsort((sol.assign_share, sol.assign_zone))
        out[sol.assign_zone[order]] = sol.assign_site[order]  # largest share last -> wins
    return out


def _dense(name: str, cost: Any) -> FloatArray:
    a = np.asarray(cost, dtype=np.float64)
    if a.ndim != 2:
        raise NetplanError(f"{name}: expected a 2-D (zones x sites) matrix, got {a.ndim}-D.")
    if not np.isfinite(a).all():
        raise NetplanError(f"{name}: entries must be finite (use a sparse matrix to forbid "
                           "pairs).")
    return a


def _pmedian_heuristic(wcost: FloatArray, p: int, *, max_swaps: int = 1000) -> IntArray:
    """Greedy + best-improvement interchange (Teitz-Bart) for the p-median, vectorised.

    ``wcost`` is the weighted (n x m) cost. Each interchange pass evaluates every (close j,
    open j') swap at once from the best and second-best open cost of each zone, O(n m + m^2)
    per pass. Used only as a MIP start: optimality comes from the solver.
    """
    n, m = wcost.shape
    best = np.full(n, np.inf)
    opened: list[int] = []
    for _ in range(p):
        gain = np.minimum(best[:, None], wcost).sum(axis=0)
        gain[opened] = np.inf
        j = int(np.argmin(gain))
        opened.append(j)
        best = np.minimum(best, wcost[:, j])
    if p >= m:
        return np.sort(np.asarray(opened, dtype=np.int64))
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[opened] = True
    rows = np.arange(n)
    for _ in range(max_swaps):
        op = np.flatnonzero(is_open)
        sub = wcost[:, op]
        if op.size >= 2:
            two = np.argpartition(sub, 1, axis=1)[:, :2]
            c2 = sub[rows[:, None], two]
            first = np.where(c2[:, 0] <= c2[:, 1], two[:, 0], two[:, 1])
            d1 = sub[rows, first]
            d2 = np.where(c2[:, 0] <= c2[:, 1], c2[:, 1], c2[:, 0])
        else:
            first = np.zeros(n, dtype=np.int64)
            d1 = sub[:, 0]
            d2 = np.full(n, np.inf)
        cur = float(d1.sum())
        a = np.minimum(d1[:, None], wcost)  # (n, m): add j' and keep everything
        bdiff = np.minimum(d2[:, None], wcost) - a  # extra if the zone's best site closes
        onehot = sp.csr_array((np.ones(n), (first, rows)), shape=(op.size, n))
        swap = a.sum(axis=0)[None, :] + onehot @ bdiff  # (p, m): close op[r], open j'
        swap[:, is_open] = np.inf
        r, jn = np.unravel_index(int(np.argmin(swap)), swap.shape)
        if swap[r, jn] >= cur - 1e-12 * max(1.0, abs(cur)):
            break
        is_open[op[r]] = False
        is_open[jn] = True
    return np.flatnonzero(is_open).astype(np.int64)


def _knearest_exact(
    cost: FloatArray, *, weights: FloatArray, fixed_cost: FloatArray | None, p: int | None,
    k: int | None, solve_kw: dict[str, Any],
) -> ClassicResult:
    """Uncapacitated location (p-median / UFLP) on a dense cost, solved exactly with only
    the k nearest sites of each zone in the model.

    Each zone i keeps its k_i cheapest sites; serving it anywhere else is replaced by the
    "unserved" share u_i at cost w_i * c_i^(k_i+1), its (k_i+1)-th smallest cost. Any plan
    serves i outside its list at a cost >= that, so the restricted model is a relaxation and
    its bound is a valid lower bound for the full problem. Its optimal open set is then
    evaluated exactly (every zone to its nearest open site). If that true cost equals the
    restricted objective (in particular when no u_i > 0), the plan is optimal for the full
    problem within the same gap. Otherwise the zones with u_i > 0 get twice as many sites
    and the model is re-solved; k_i = n_sites is the full model, so this terminates.
    """
    n, m = cost.shape
    w = weights
    if k is None:
        k = max(8, math.ceil(3 * m / p)) if p else 10
    k_i = np.full(n, min(int(k), m), dtype=np.int64)
    order = np.argsort(cost, axis=1, kind="stable")
    sorted_cost = np.take_along_axis(cost, order, axis=1)
    time_left = solve_kw.get("time_limit_s")
    seconds = build = 0.0
    rounds = 0
    fixed = np.zeros(m) if fixed_cost is None else fixed_cost
    warm: IntArray | None = None
    if p is not None and fixed_cost is None:
        t_h = time.perf_counter()
        start = _pmedian_heuristic(w[:, None] * cost, p)
        warm = np.full(m, -1, dtype=np.int64)
        warm[start] = start
        build += time.perf_counter() - t_h
    while True:
        rounds += 1
        mask = np.arange(m)[None, :] < k_i[:, None]
        cols = order[mask]
        rows = np.repeat(np.arange(n), k_i)
        vals = (w[:, None] * sorted_cost)[mask]
        nxt = np.where(k_i < m, w * sorted_cost[np.arange(n), np.minimum(k_i, m - 1)], np.inf)
        prob = FacilityProblem(
            demand=w, cost=_csr_from_rows(rows, cols, vals, n, m),
            opt_site=np.arange(m), opt_cost=fixed, unserved_cost=nxt, n_sites_exact=p,
            warm_start=warm,
        )
        kw = dict(solve_kw)
        kw["time_limit_s"] = time_left
        sol = solve(prob, **kw)
        seconds += sol.seconds
        build += sol.build_seconds
        opened = sol.open_sites
        if opened.size:
            sub = cost[:, opened]
            near = np.argmin(sub, axis=1)
            true_cost = float((w * sub[np.arange(n), near]).sum() + fixed[opened].sum())
        else:
            near = np.zeros(n, dtype=np.int64)
            true_cost = math.inf
        spill = sol.unserved_share > _TOL
        if true_cost <= sol.objective + 1e-9 * max(1.0, abs(sol.objective)) or not spill.any():
            break
        if time_left is not None:
            time_left = time_left - sol.seconds - sol.build_seconds
            if time_left <= 0.5:
                break
        grow = spill & (k_i < m)
        if not grow.any():
            break
        logger.debug("k-nearest round %d: %d zones spill, doubling their k", rounds,
                     int(grow.sum()))
        k_i = np.where(grow, np.minimum(2 * k_i, m), k_i)
    bound = min(sol.best_bound, true_cost) if math.isfinite(sol.best_bound) else sol.best_bound
    gap = _rel_gap(true_cost, bound)
    status = sol.status if sol.status not in ("optimal", "gap_limit") else (
        "optimal" if gap == 0.0 else "gap_limit")
    assignment = opened[near] if opened.size else np.full(n, -1, dtype=np.int64)
    sol_full = replace(
        sol, objective=true_cost, best_bound=bound, gap=gap, status=status,
        assign_zone=_frozen(np.arange(n, dtype=np.int64)),
        assign_site=_frozen(assignment.astype(np.int64)),
        assign_share=_frozen(np.ones(n)), unserved_share=_frozen(np.zeros(n)),
    )
    return ClassicResult(
        open=opened, objective=true_cost, status=status, gap=gap, best_bound=bound,
        seconds=seconds, build_seconds=build, solver=sol.solver, backend=sol.backend,
        assignment=_frozen(assignment.astype(np.int64)), rounds=rounds, solution=sol_full,
    )


def _csr_from_rows(rows: IntArray, cols: IntArray, vals: FloatArray, n: int, m: int) -> Any:
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_array((vals[order], cols[order], indptr), shape=(n, m))


def _classic(sol: Solution, n: int, *, objective: float | None = None,
             bound: float | None = None) -> ClassicResult:
    return ClassicResult(
        open=sol.open_sites, objective=sol.objective if objective is None else objective,
        status=sol.status, gap=sol.gap, best_bound=sol.best_bound if bound is None else bound,
        seconds=sol.seconds, build_seconds=sol.build_seconds, solver=sol.solver,
        backend=sol.backend, assignment=_frozen(_main_assignment(sol, n)), rounds=1,
        solution=sol,
    )


def p_median(
    cost: Any,
    p: int,
    *,
    weights: ArrayLike | None = None,
    k: int | None = None,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ClassicResult:
    """p-median: open exactly ``p`` sites minimising the weighted cost of serving every zone.

    Formulation: min sum_ij w_i c_ij x_ij subject to sum_j x_ij = 1, x_ij <= y_j,
    sum_j y_j = p, y binary (the core model with one uncapacitated option per site).

    Parameters
    ----------
    cost
        (n_zones x n_sites) cost per unit weight. Dense: solved exactly with a k-nearest
        sparse model that grows where needed (see ``k``). Sparse: only stored pairs are
        allowed.
    p
        Number of sites to open.
    weights
        (n_zones,) zone weights (default 1) multiplying the rows of ``cost``.
    k
        Dense input only: initial number of nearest sites per zone in the model (default
        max(8, 3 * n_sites / p)); the result is exact whatever k is.
    solver, backend, time_limit_s, mip_gap, threads, progress
        As in :func:`solve`.

    Returns
    -------
    ClassicResult
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress)
    n = int(cost.shape[0])
    w = np.ones(n) if weights is None else _float_vec("weights", weights, n, nonneg=True)
    if isinstance(p, bool) or int(p) != p or p < 1:
        raise NetplanError(f"p_median: p must be a positive integer, got {p!r}.")
    if sp.issparse(cost):
        csr = _as_csr("cost", cost)
        m = csr.shape[1]
        csr = sp.csr_array((csr.data * np.repeat(w, np.diff(csr.indptr)), csr.indices,
                            csr.indptr), shape=csr.shape)
        prob = FacilityProblem(demand=w, cost=csr, opt_site=np.arange(m), n_sites_exact=int(p))
        return _classic(solve(prob, **kw), n)
    dense = _dense("p_median cost", cost)
    if p > dense.shape[1]:
        raise InfeasibleError(f"p = {p} sites must open but there are only {dense.shape[1]} "
                              "sites; lower p.", "n_sites_exact")
    return _knearest_exact(dense, weights=w, fixed_cost=None, p=int(p), k=k, solve_kw=kw)


def uncapacitated_facility_location(
    cost: Any,
    fixed_cost: ArrayLike,
    *,
    k: int | None = None,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ClassicResult:
    """Uncapacitated facility location: min sum_j f_j y_j + sum_ij c_ij x_ij, every zone
    served (sum_j x_ij = 1, x_ij <= y_j).

    ``cost[i, j]`` is the cost of serving all of zone i from site j. Dense costs are solved
    exactly with the growing k-nearest model (see :func:`p_median`); sparse costs allow the
    stored pairs only.
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress)
    n, m = int(cost.shape[0]), int(cost.shape[1])
    f = _float_vec("fixed_cost", fixed_cost, m)
    if sp.issparse(cost):
        prob = FacilityProblem(demand=np.ones(n), cost=cost, opt_site=np.arange(m), opt_cost=f)
        return _classic(solve(prob, **kw), n)
    dense = _dense("uncapacitated_facility_location cost", cost)
    return _knearest_exact(dense, weights=np.ones(n), fixed_cost=f, p=None, k=k, solve_kw=kw)


def capacitated_facility_location(
    cost: Any,
    demand: ArrayLike,
    capacity: ArrayLike,
    fixed_cost: ArrayLike,
    *,
    single_source: bool = False,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ClassicResult:
    """Capacitated facility location (Beasley's CFLP; single or multiple sourcing).

    min sum_j f_j y_j + sum_ij c_ij x_ij  s.t.  sum_j x_ij = 1,  x_ij <= y_j,
    sum_i d_i x_ij <= s_j y_j,  y binary, x in [0,1] (binary when ``single_source``).

    Parameters
    ----------
    cost
        (n_zones x n_sites): cost of serving ALL of zone i's demand from site j (as in the
        OR-Library cap files). Sparse: only stored pairs allowed.
    demand, capacity, fixed_cost
        (n_zones,), (n_sites,) (inf = uncapacitated), (n_sites,).
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress)
    m = int(cost.shape[1])
    prob = FacilityProblem(
        demand=np.asarray(demand, dtype=np.float64), cost=cost, opt_site=np.arange(m),
        opt_capacity=np.asarray(capacity, dtype=np.float64),
        opt_cost=np.asarray(fixed_cost, dtype=np.float64), single_source=single_source,
    )
    return _classic(solve(prob, **kw), prob.n_zones)


def maximal_covering(
    cover: Any,
    weights: ArrayLike,
    p: int,
    *,
    solver: str = "highs",
    backend: str = "direct",
    time_limit_s: float | None = None,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ClassicResult:
    """Maximal covering (Church & ReVelle): open ``p`` sites to cover the most weight.

    max sum_i w_i c_i  s.t.  c_i <= sum_{j covers i} y_j,  c_i <= 1,  sum_j y_j = p. Solved
    as the core model with cost -w_i on every covering pair, unserved cost 0: the covered
    share of i is sum_j x_ij <= min(1, sum_{j covers i} y_j).

    Parameters
    ----------
    cover
        Sparse boolean (n_zones x n_sites): site j covers zone i (stored True entries).
    weights
        (n_zones,) >= 0.
    p
        Number of sites to open.

    Returns
    -------
    ClassicResult
        ``objective`` and ``best_bound`` are covered weight (positive; the bound is an upper
        bound); ``assignment`` is a covering open site per zone (-1 = not covered).
    """
    kw: dict[str, Any] = dict(solver=solver, backend=backend, time_limit_s=time_limit_s,
                              mip_gap=mip_gap, threads=threads, progress=progress)
    coo = sp.coo_array(cover) if sp.issparse(cover) else sp.coo_array(np.asarray(cover, bool))
    n, m = coo.shape
    w = _float_vec("weights", weights, n, nonneg=True)
    keep = np.asarray(coo.data, dtype=np.bool_)
    rows, cols = np.asarray(coo.row)[keep].astype(np.int64), np.asarray(coo.col)[keep]
    cost = _csr_from_rows(rows, cols.astype(np.int64), -w[rows], n, m)
    prob = FacilityProblem(demand=w, cost=cost, opt_site=np.arange(m),
                           unserved_cost=np.zeros(n), n_sites_exact=int(p))
    sol = solve(prob, **kw)
    opened = sol.open_sites
    is_open = np.zeros(m, dtype=np.bool_)
    is_open[opened] = True
    covered = np.zeros(n, dtype=np.bool_)
    covered[rows[is_open[cols]]] = True
    weight = float(w[covered].sum())
    res = _classic(sol, n, objective=weight, bound=-sol.best_bound)
    return replace(res, gap=_rel_gap(-weight, sol.best_bound))
