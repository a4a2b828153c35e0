"""The branch-network MILP as one sparse matrix, built one constraint family at a time.

The matrix is assembled with numpy from COO triplets (no modelling layer) and handed to a
solver in one call; each side constraint family keeps its row numbers so that an
infeasible model can be diagnosed family by family.

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
    sum_{k: from_k = j} r[k] + z[j] <= 1                 every origin j of a move
    sum_{k: to_k = j} r[k] - z[j] <= 0                   every target j of a move, or
    sum_{k: to_option_k = o} r[k] - y[o] <= 0            every option o a move opens
                                                         (when the moves' options are given)
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

Blocks (a two-stage robust model)
---------------------------------
With ``zone_block`` the zones fall into blocks b (demand cases): block b's zones are copies
of the customers under case b's demand. The site variables y, z, r and every side
constraint are shared (first stage: one plan, one budget); each block assigns its own
zones (second stage), and the capacity and balance rows hold per (site, block)::

    sum_{i in b} d[i] x[i,j] - sum_{o at j} cap'[b,o] y[o] <= 0     every (j, b) that can bind
    sum_{i in b} d[i] x[i,j] - threshold * sum_{o at j} cap''[b,o] y[o] - v[j,b] <= 0

with cap[b,o] from ``block_capacity`` and D[j,b] the demand of block b's zones that may use
j. Writing A_b = sum_{i in b} (cost x + unserved_cost u) + balance_weight sum_j v[j,b] and
F for the site terms of the objective, ``block_objective="expected"`` minimises
F + sum_b w_b A_b (w = ``block_weight``), and ``"worst"`` minimises F + t subject to
A_b - t <= 0 for every block (one free column t and one row per block). One block of
weight 1 is the model above, bit for bit.

The per-pair linking x[i,j] <= z[j] (rather than the aggregated sum_i x[i,j] <= n z[j])
is what makes the LP bound tight; it costs one row per stored pair, so the model has
O(nnz(cost) + zones + options) nonzeros and the cost matrix is never densified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import _empty_f, _empty_i
from netplan.optimize.problem import FacilityProblem, ModelSize, _entry_zones, block_capacity

__all__ = ["FAMILIES", "model_size"]

FAMILIES: Final[dict[str, str]] = {
    "site_status": "locked/forbidden sites (site_locked, site_forbidden)",
    "group_sites": "open sites per group (group_min_sites, group_max_sites)",
    "group_changes": "changes per group (group_max_new, group_max_closed)",
    "max_changes": "changes overall (max_new, max_closed)",
    "option_limits": "options chosen per tag, e.g. conversions (opt_tag, tag_max)",
    "n_sites_exact": "the exact number of open sites (n_sites_exact)",
    "budget": "the one-off budget (budget)",
    "min_share_outside": "the minimum share of open sites outside the chosen ring "
                         "(min_share_outside)",
    "unserved": "zones that must be served (unserved_cost = inf) with the capacity and allowed "
                "sites available",
}
"""The constraint families an infeasible model is diagnosed by, and how to name them."""


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
    bal_sites: IntArray  # site of each overload column v (from v0)
    bal_block: IntArray  # block of each overload column
    t0: int  # the epigraph column of block_objective="worst" (-1: none)
    side: tuple[_SideRow, ...]
    col_relax: dict[str, tuple[IntArray, FloatArray, FloatArray]]

    @property
    def n_rows(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_cols(self) -> int:
        return int(self.a.shape[1])


class _Rows:
    """Accumulates COO triplets and row bounds block by block, and the side rows."""

    def __init__(self) -> None:
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.vals: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.n = 0
        self.side: list[_SideRow] = []

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

    def side_row(
        self, family: str, label: str, cols: IntArray, vals: ArrayLike,
        bounds: tuple[float, float], *, natural: tuple[float, float] = (1.0, 0.0),
        unit: str = "open sites",
    ) -> None:
        """One row of a side-constraint family; ``natural`` = (scale, shift) turns its
        activity into the quantity the user set a limit on (see :class:`_SideRow`)."""
        r = self.block(1, bounds[0], bounds[1])
        self.add(np.full(cols.size, r), cols, vals)
        self.side.append(_SideRow(family, label, r, natural[0], natural[1], unit))


@dataclass(frozen=True, eq=False)
class _Layout:
    """Where each variable block starts, and the (site, block) rows where capacity or
    balance can bind."""

    y0: int
    z0: int
    x0: int
    u0: int
    r0: int
    v0: int
    t0: int  # epigraph column (-1: none)
    n_cols: int
    zi: IntArray  # zone of each stored cost entry
    sj: IntArray  # site of each stored cost entry
    zb: IntArray  # block of each stored cost entry
    reach: FloatArray  # (n_blocks, n_sites) D[j,b]: demand of block b's zones that may use j
    cap: FloatArray  # (n_blocks, n_opts) capacity of each option in each block
    has_opt: BoolArray
    cap_sites: IntArray  # site of each capacity row
    cap_block: IntArray  # block of each capacity row
    bal_sites: IntArray  # site of each balance row (and overload column)
    bal_block: IntArray  # block of each balance row


def _binding(p: FacilityProblem, reach: FloatArray, cap: FloatArray, has_opt: BoolArray,
             theta: float) -> tuple[IntArray, IntArray]:
    """(site, block) of every row where ``theta`` x the smallest capacity at the site is
    below the demand that may reach it, block by block."""
    sites, blocks = [], []
    for b in range(p.n_blocks):
        min_cap = np.full(p.n_sites, np.inf)
        np.minimum.at(min_cap, p.opt_site, cap[b])
        j = np.flatnonzero(has_opt & (reach[b] > 0) & (theta * min_cap < reach[b]))
        sites.append(j)
        blocks.append(np.full(j.size, b, dtype=np.int64))
    return np.concatenate(sites).astype(np.int64), np.concatenate(blocks)


def _layout(p: FacilityProblem) -> _Layout:
    n, m, q, nb = p.n_zones, p.n_sites, p.n_opts, p.n_blocks
    nnz = int(p.cost.nnz)
    zi = _entry_zones(p)
    sj = np.asarray(p.cost.indices, dtype=np.int64)
    zb = p.zone_block[zi]
    reach = np.asarray(np.bincount(zb * m + sj, weights=p.demand[zi], minlength=nb * m),
                       np.float64).reshape(nb, m)
    has_opt = np.bincount(p.opt_site, minlength=m) > 0
    cap = block_capacity(p)
    cap_sites, cap_block = _binding(p, reach, cap, has_opt, 1.0)
    if p.balance_weight > 0:
        bal_sites, bal_block = _binding(p, reach, cap, has_opt, p.balance_threshold)
    else:
        bal_sites, bal_block = _empty_i(), _empty_i()
    z0 = q
    x0 = z0 + m
    u0 = x0 + nnz
    r0 = u0 + n
    v0 = r0 + p.reloc_from.size
    n_cols = v0 + bal_sites.size
    t0 = -1
    if p.block_objective == "worst":
        t0, n_cols = n_cols, n_cols + 1
    return _Layout(y0=0, z0=z0, x0=x0, u0=u0, r0=r0, v0=v0, t0=t0, n_cols=n_cols,
                   zi=zi, sj=sj, zb=zb, reach=reach, cap=cap, has_opt=has_opt,
                   cap_sites=cap_sites, cap_block=cap_block, bal_sites=bal_sites,
                   bal_block=bal_block)


def _bounds(
    p: FacilityProblem, ix: _Layout,
) -> tuple[FloatArray, FloatArray, dict[str, tuple[IntArray, FloatArray, FloatArray]]]:
    """Column bounds, and the bounds each relaxable family's columns take when relaxed."""
    n, m = p.n_zones, p.n_sites
    col_lo = np.zeros(ix.n_cols)
    col_hi = np.ones(ix.n_cols)
    col_hi[ix.v0:] = np.inf
    if ix.t0 >= 0:  # t >= A_b >= the negative part of block b's costs (0 unless some < 0)
        x, u, _ = _assignment_costs(p, ix)
        low = np.bincount(ix.zb, weights=np.minimum(x, 0.0), minlength=p.n_blocks) + \
            np.bincount(p.zone_block, weights=np.minimum(u, 0.0), minlength=p.n_blocks)
        col_lo[ix.t0] = float(low.min())
    col_hi[ix.z0:ix.x0] = (ix.has_opt & ~p.site_forbidden).astype(np.float64)
    col_lo[ix.z0:ix.x0] = p.site_locked.astype(np.float64)
    col_hi[ix.u0:ix.r0] = np.where(np.isposinf(p.unserved_cost), 0.0, 1.0)
    col_relax: dict[str, tuple[IntArray, FloatArray, FloatArray]] = {
        "site_status": (
            np.arange(ix.z0, ix.x0, dtype=np.int64), np.zeros(m),
            ix.has_opt.astype(np.float64)),
        "unserved": (np.arange(ix.u0, ix.r0, dtype=np.int64), np.zeros(n), np.ones(n)),
    }
    return col_lo, col_hi, col_relax


def _objective(p: FacilityProblem, ix: _Layout) -> tuple[FloatArray, float, BoolArray]:
    """Objective coefficients, the constant offset, and which columns are integer."""
    c = np.zeros(ix.n_cols)
    c[ix.y0:ix.z0] = p.opt_cost
    close_cost = np.where(p.site_existing, p.site_close_cost, 0.0)
    c[ix.z0:ix.x0] = -close_cost
    offset = float(close_cost.sum())
    c[ix.r0:ix.v0] = -p.reloc_saving
    x, u, v = _assignment_costs(p, ix)
    if ix.t0 >= 0:  # worst block: the assignment costs live in the epigraph rows
        c[ix.t0] = 1.0
    elif p.n_blocks > 1 or (p.block_weight != 1.0).any():
        w = p.block_weight
        c[ix.x0:ix.u0] = x * w[ix.zb]
        c[ix.u0:ix.r0] = u * w[p.zone_block]
        c[ix.v0:ix.v0 + v.size] = v * w[ix.bal_block]
    else:
        c[ix.x0:ix.u0] = x
        c[ix.u0:ix.r0] = u
        c[ix.v0:] = v
    integer = np.zeros(ix.n_cols, dtype=np.bool_)
    integer[ix.y0:ix.z0] = True
    integer[ix.r0:ix.v0] = True
    if p.single_source:
        integer[ix.x0:ix.u0] = True
    return c, offset, integer


def _assignment_costs(p: FacilityProblem, ix: _Layout) -> tuple[FloatArray, FloatArray,
                                                                 FloatArray]:
    """Unweighted objective coefficients of the x, u and v columns (a block's cost A_b)."""
    x = np.asarray(p.cost.data, dtype=np.float64)
    u = np.where(np.isposinf(p.unserved_cost), 0.0, p.unserved_cost)
    v = np.full(ix.bal_sites.size, p.balance_weight)
    return x, u, v


def _worst_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Every block b: A_b - t <= 0 (the epigraph of the worst block's assignment cost)."""
    if ix.t0 < 0:
        return
    nb = p.n_blocks
    x, u, v = _assignment_costs(p, ix)
    s = R.block(nb, -np.inf, 0.0)
    R.add(s + ix.zb, ix.x0 + np.arange(x.size), x)
    R.add(s + p.zone_block, np.arange(ix.u0, ix.r0), u)
    R.add(s + ix.bal_block, ix.v0 + np.arange(v.size), v)
    R.add(s + np.arange(nb), np.full(nb, ix.t0), -1.0)


def _zone_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Every zone: sum_j x + u = 1."""
    n = p.n_zones
    s = R.block(n, 1.0, 1.0)
    R.add(s + ix.zi, ix.x0 + np.arange(ix.zi.size), 1.0)
    R.add(s + np.arange(n), np.arange(ix.u0, ix.r0), 1.0)


def _site_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Every site: sum_o y - z = 0."""
    m = p.n_sites
    s = R.block(m, 0.0, 0.0)
    R.add(s + p.opt_site, np.arange(ix.y0, ix.z0), 1.0)
    R.add(s + np.arange(m), np.arange(ix.z0, ix.x0), -1.0)


def _link_rows(R: _Rows, ix: _Layout) -> None:
    """Every stored pair: x - z <= 0."""
    nnz = ix.zi.size
    s = R.block(nnz, -np.inf, 0.0)
    R.add(s + np.arange(nnz), ix.x0 + np.arange(nnz), 1.0)
    R.add(s + np.arange(nnz), ix.z0 + ix.sj, -1.0)


def _capacity_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Load - cap' y <= 0 at every (site, block) where capacity can bind."""
    cap_sites, cap_block = ix.cap_sites, ix.cap_block
    if not cap_sites.size:
        return
    d, zi, sj, zb = p.demand, ix.zi, ix.sj, ix.zb
    cap_row = np.full((p.n_blocks, p.n_sites), -1, dtype=np.int64)
    s = R.block(cap_sites.size, -np.inf, 0.0)
    cap_row[cap_block, cap_sites] = s + np.arange(cap_sites.size)
    e = np.flatnonzero((cap_row[zb, sj] >= 0) & (d[zi] > 0))
    R.add(cap_row[zb[e], sj[e]], ix.x0 + e, d[zi[e]])
    for b in np.unique(cap_block).tolist():
        cap_eff = np.minimum(ix.cap[b], ix.reach[b][p.opt_site])
        o = np.flatnonzero(cap_row[b][p.opt_site] >= 0)
        R.add(cap_row[b][p.opt_site[o]], ix.y0 + o, -cap_eff[o])


def _balance_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Load - theta * cap'' y - v <= 0 at every (site, block) where the balance term can
    bind."""
    nb = ix.bal_sites.size
    if not nb:
        return
    d, zi, sj, zb, theta = p.demand, ix.zi, ix.sj, ix.zb, p.balance_threshold
    bal_row = np.full((p.n_blocks, p.n_sites), -1, dtype=np.int64)
    s = R.block(nb, -np.inf, 0.0)
    bal_row[ix.bal_block, ix.bal_sites] = s + np.arange(nb)
    e = np.flatnonzero((bal_row[zb, sj] >= 0) & (d[zi] > 0))
    R.add(bal_row[zb[e], sj[e]], ix.x0 + e, d[zi[e]])
    for b in np.unique(ix.bal_block).tolist():
        o = np.flatnonzero(bal_row[b][p.opt_site] >= 0)
        cap_bal = np.minimum(ix.cap[b][o], ix.reach[b][p.opt_site[o]] / theta)
        R.add(bal_row[b][p.opt_site[o]], ix.y0 + o, -theta * cap_bal)
    R.add(s + np.arange(nb), ix.v0 + np.arange(nb), -1.0)


def _relocation_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """A move closes its origin and opens its target; each site moves (or receives) once.

    One row per origin, ``sum_k r[k] + z[from] <= 1``, not one per move: it holds the same
    plans as ``r[k] + z[from] <= 1`` for every move with ``sum_k r[k] <= 1``, but its LP
    relaxation cannot half-keep an outlet while moving all of it elsewhere. Likewise one
    row per target, ``sum_k r[k] - z[to] <= 0``; when each move names the option it opens,
    one row per such option instead, ``sum_{k: to_option_k = o} r[k] - y[o] <= 0``: the
    same plans (a target receives at most one move), but the LP can no longer let three
    moves of a third each share one third of the option they all open (their sum over a
    target's options is the target row, so that row is left out).
    """
    rf, rt = p.reloc_from, p.reloc_to
    nr = rf.size
    if not nr:
        return
    k = np.arange(nr)
    ends_rows: list[tuple[IntArray, float, float, int]] = [(rf, 1.0, 1.0, ix.z0)]
    if p.reloc_to_option is None:
        ends_rows.append((rt, 0.0, -1.0, ix.z0))
    else:
        ends_rows.append((np.asarray(p.reloc_to_option, np.int64), 0.0, -1.0, ix.y0))
    for ends, hi, coef, col0 in ends_rows:
        keys = np.unique(ends)
        s = R.block(keys.size, -np.inf, hi)
        R.add(s + np.searchsorted(keys, ends), ix.r0 + k, 1.0)
        R.add(s + np.arange(keys.size), col0 + keys, coef)


def _group_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Open sites, openings and closures per group (district); a move is neither."""
    rf, rt = p.reloc_from, p.reloc_to
    nr = rf.size
    existing = p.site_existing
    z0, r0 = ix.z0, ix.r0
    for g in range(p.n_groups):
        in_g = p.site_group == g
        gmin, gmax = int(p.group_min_sites[g]), int(p.group_max_sites[g])
        if gmin > 0 or gmax >= 0:
            idx = np.flatnonzero(in_g)
            lo_, hi_ = float(max(gmin, 0)), (float(gmax) if gmax >= 0 else np.inf)
            what = (f"at least {gmin}" if gmin > 0 else "") + (
                " and " if gmin > 0 and gmax >= 0 else "") + (
                f"at most {gmax}" if gmax >= 0 else "")
            R.side_row("group_sites", f"group {g} needs {what} open sites", z0 + idx, 1.0,
                       (lo_, hi_))
        gnew = int(p.group_max_new[g])
        moves = np.flatnonzero(in_g[rf] & in_g[rt]) if nr else _empty_i()
        if gnew >= 0:
            idx = np.flatnonzero(in_g & ~existing)
            R.side_row("group_changes", f"group {g} allows at most {gnew} new sites",
                       np.r_[z0 + idx, r0 + moves],
                       np.r_[np.ones(idx.size), -np.ones(moves.size)],
                       (-np.inf, float(gnew)), unit="new sites")
        gcl = int(p.group_max_closed[g])
        if gcl >= 0:
            idx = np.flatnonzero(in_g & existing)
            R.side_row("group_changes", f"group {g} allows at most {gcl} closed sites",
                       np.r_[z0 + idx, r0 + moves],
                       np.r_[np.ones(idx.size), np.ones(moves.size)],
                       (float(idx.size - gcl), np.inf), natural=(-1.0, float(idx.size)),
                       unit="closed sites")


def _change_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Openings and closures overall (max_new, max_closed); a move is neither."""
    existing = p.site_existing
    nr = p.reloc_from.size
    all_moves = np.arange(nr, dtype=np.int64)
    if p.max_new is not None:
        idx = np.flatnonzero(~existing)
        R.side_row("max_changes", f"max_new allows at most {p.max_new} new sites",
                   np.r_[ix.z0 + idx, ix.r0 + all_moves], np.r_[np.ones(idx.size), -np.ones(nr)],
                   (-np.inf, float(p.max_new)), unit="new sites")
    if p.max_closed is not None:
        idx = np.flatnonzero(existing)
        R.side_row("max_changes", f"max_closed allows at most {p.max_closed} closed sites",
                   np.r_[ix.z0 + idx, ix.r0 + all_moves], np.r_[np.ones(idx.size), np.ones(nr)],
                   (float(idx.size - p.max_closed), np.inf), natural=(-1.0, float(idx.size)),
                   unit="closed sites")


def _count_rows(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """Options chosen per tag, and the exact number of open sites."""
    for t in np.flatnonzero(p.tag_max >= 0):
        idx = np.flatnonzero(p.opt_tag == t)
        R.side_row("option_limits",
                   f"tag {t} allows at most {int(p.tag_max[t])} chosen options",
                   ix.y0 + idx, 1.0, (-np.inf, float(p.tag_max[t])), unit="options")
    if p.n_sites_exact is not None:
        R.side_row("n_sites_exact",
                   f"n_sites_exact requires exactly {p.n_sites_exact} open sites",
                   np.arange(ix.z0, ix.x0), 1.0,
                   (float(p.n_sites_exact), float(p.n_sites_exact)))


def _budget_row(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """One-off spend of options and closures, less the moves' savings, within the budget."""
    if p.budget is None:
        return
    close_oneoff = np.where(p.site_existing, p.site_close_oneoff, 0.0)
    const = float(close_oneoff.sum())
    oo = np.flatnonzero(p.opt_oneoff != 0)
    zz = np.flatnonzero(close_oneoff != 0)
    kk = np.flatnonzero(p.reloc_saving_oneoff != 0)
    R.side_row("budget", f"the budget allows a one-off spend of at most {p.budget:,.6g}",
               np.concatenate([ix.y0 + oo, ix.z0 + zz, ix.r0 + kk]),
               np.concatenate([p.opt_oneoff[oo], -close_oneoff[zz],
                               -p.reloc_saving_oneoff[kk]]),
               (-np.inf, p.budget - const), natural=(1.0, const), unit="one-off spend")


def _outside_row(R: _Rows, p: FacilityProblem, ix: _Layout) -> None:
    """At least a share of the open sites outside the chosen ring (``site_outside``)."""
    if p.min_share_outside is None or p.min_share_outside <= 0:
        return
    share = p.min_share_outside
    coef = p.site_outside.astype(np.float64) - share
    idx = np.flatnonzero(coef != 0)
    R.side_row("min_share_outside",
               f"min_share_outside requires at least {share:.1%} of open sites outside the "
               "chosen ring (planning.outside_ring)", ix.z0 + idx, coef[idx], (0.0, np.inf),
               unit="(open outside) - share x (open)")


def _build(p: FacilityProblem) -> _Model:
    """The model of ``p`` as one sparse matrix, built one constraint family at a time."""
    ix = _layout(p)
    col_lo, col_hi, col_relax = _bounds(p, ix)
    c, offset, integer = _objective(p, ix)
    R = _Rows()
    _zone_rows(R, p, ix)
    _site_rows(R, p, ix)
    _link_rows(R, ix)
    _capacity_rows(R, p, ix)
    _balance_rows(R, p, ix)
    _worst_rows(R, p, ix)
    _relocation_rows(R, p, ix)
    # side constraints (few rows, each named for the infeasibility diagnosis)
    _group_rows(R, p, ix)
    _change_rows(R, p, ix)
    _count_rows(R, p, ix)
    _budget_row(R, p, ix)
    _outside_row(R, p, ix)
    rows = np.concatenate(R.rows) if R.rows else _empty_i()
    cols = np.concatenate(R.cols) if R.cols else _empty_i()
    vals = np.concatenate(R.vals) if R.vals else _empty_f()
    keep = vals != 0
    a = sp.csc_array((vals[keep], (rows[keep], cols[keep])), shape=(R.n, ix.n_cols))
    a.sort_indices()
    return _Model(
        a=a, c=c, offset=offset, col_lo=col_lo, col_hi=col_hi,
        row_lo=np.concatenate(R.lo) if R.lo else _empty_f(),
        row_hi=np.concatenate(R.hi) if R.hi else _empty_f(),
        integer=integer, y0=ix.y0, z0=ix.z0, x0=ix.x0, u0=ix.u0, r0=ix.r0, v0=ix.v0,
        bal_sites=ix.bal_sites, bal_block=ix.bal_block, t0=ix.t0, side=tuple(R.side),
        col_relax=col_relax,
    )


def model_size(problem: FacilityProblem) -> ModelSize:
    """Size of the MILP :func:`~netplan.optimize.solve` hands to the solver.

    It builds the model and does not solve it. The model has O(nnz(cost) + n_zones + n_opts
    + n_reloc) rows, columns and nonzeros: the cost matrix is used through its sparsity
    structure only, never densified.

    Parameters
    ----------
    problem
        The model's data.

    Returns
    -------
    ModelSize
    """
    mdl = _build(problem)
    return ModelSize(mdl.n_rows, mdl.n_cols, int(mdl.a.nnz), int(mdl.integer.sum()))
