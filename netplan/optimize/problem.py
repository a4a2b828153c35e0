"""The optimiser's input and output: FacilityProblem, Solution and ModelSize.

A :class:`FacilityProblem` validates and copies its arrays once, on construction; every
other module of the optimiser may then trust them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike

from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import (
    _UNSET_F,
    _UNSET_I,
    _as_csr,
    _bad,
    _bool_vec,
    _check_floats,
    _empty_i,
    _float_vec,
    _frozen,
    _int_vec,
    _unset_b,
    _unset_f,
    _unset_i,
)

__all__ = ["FacilityProblem", "ModelSize", "Solution"]


@dataclass(frozen=True, eq=False)
class FacilityProblem:
    """A capacitated facility-location MILP with a bank network's side constraints.

    All arrays are validated and copied (read-only) on construction; see
    :mod:`netplan.optimize.build` for the formulation. Optional array fields left out take
    the default noted.

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
    warm_moves
        (n_reloc,) the relocation pairs the start uses, e.g. ``Solution.relocated`` of the
        plan it came from (needs ``warm_start``). None (default): every move the start's
        sites allow, largest saving first, which can pair a plan's closures and openings
        otherwise than the plan did and so break its counts or budget.
    zone_block
        (n_zones,) block (demand case, scenario) of each zone, 0 .. n_blocks - 1; default
        0 (one block: the plain model). Zones of different blocks are copies of the same
        customers under different demand: each block assigns its own zones, and capacity
        (and balance) rows hold per (site, block), so one choice of sites (the first
        stage, one budget) must serve every block (the second stage). See
        :mod:`netplan.optimize.build`, "Blocks".
    block_weight
        (n_blocks,) >= 0 weight of each block's assignment costs (travel, unserved,
        balance) in the objective, e.g. the cases' probabilities. Default 1.
    block_capacity
        (n_blocks, n_opts) capacity of each option in each block (a case may change what
        an outlet can serve); None = ``opt_capacity`` in every block. When given, the
        model reads capacities from it only (``opt_capacity`` still feeds the greedy
        completion of ``warm_start``: give the smallest capacity of the blocks there).
    block_objective
        ``"expected"`` (default): fixed costs + the weighted sum of the blocks'
        assignment costs. ``"worst"``: fixed costs + the largest block assignment cost
        (an epigraph column; ``block_weight`` is not used, and ``warm_start`` is refused
        because its greedy completion knows no epigraph).

    Notes
    -----
    With more than one block the Lagrangian bound (:mod:`netplan.optimize.lagrange`) does
    not apply (its site problem prices one assignment per zone and one capacity per site);
    ``solve`` skips it. The neighbourhood search works on the model's columns and handles
    blocks as it is (a neighbourhood frees its sites' zones in every block).
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
    warm_moves: BoolArray | None = None
    zone_block: IntArray = field(default_factory=_unset_i)
    block_weight: FloatArray = field(default_factory=_unset_f)
    block_capacity: FloatArray | None = None
    block_objective: str = "expected"

    def __post_init__(self) -> None:
        cost = _as_csr("cost", self.cost)
        n, m = cost.shape
        _put(self, "cost", cost)
        _put(self, "demand", _float_vec("demand", self.demand, n, nonneg=True))
        _put(self, "unserved_cost", _float_vec("unserved_cost", self.unserved_cost, n,
                                               default=math.inf, allow_posinf=True))
        _check_options(self, m)
        _check_sites(self, m)
        _check_groups(self)
        _check_current(self, m)
        _check_counts(self)
        _check_relocations(self, m)
        _check_terms(self)
        _check_warm_start(self, m)
        _check_blocks(self, n)

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
    def n_blocks(self) -> int:
        """Number of zone blocks (demand cases); 1 for the plain model."""
        return int(self.block_weight.size)

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
    """Result of :func:`~netplan.optimize.solve`. Arrays are read-only.

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
        HiGHS on long time-limited solves (0 when it did not run; see
        :func:`~netplan.optimize.solve`).
    bound_source
        What proved ``best_bound``: ``"highs"`` (the solver's branch and bound),
        ``"lagrangian"`` (the Lagrangian relaxation of :mod:`~netplan.optimize.lagrange`,
        when its bound is the better one), ``"lagrangian-bnb"`` (the Lagrangian branch and
        bound over the sites of :mod:`~netplan.optimize.lagrange_bnb`, plain capacitated
        models whose root Lagrangian bound did not prove the plan) or ``"radius"`` (HiGHS
        on the radius model of :mod:`~netplan.optimize.radius`, a dense p-median with
        small p) or ``"lp"`` (the LP relaxation's safe bound: a large time-limited model
        whose first plan came from rounding that LP, :mod:`~netplan.optimize.rens`).
    lagrangian_bound, lagrangian_seconds
        The Lagrangian bound (nan when it did not run; the branch and bound's when that
        ran and did better) and the time the root stage took (plans from its multipliers
        included).
    fixed_sites
        Sites the Lagrangian multipliers fixed (open or closed) before HiGHS ran, because
        no plan cheaper than the best one found can change them.
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
    bound_source: str = "highs"
    lagrangian_bound: float = math.nan
    lagrangian_seconds: float = 0.0
    fixed_sites: int = 0

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
    """Rows, columns and nonzeros of the model :func:`~netplan.optimize.solve` would build."""

    rows: int
    cols: int
    nonzeros: int
    integers: int


# ------------------------------------------------------------------------------------------
# FacilityProblem checks, in the order they run (each validates, copies and stores fields)
# ------------------------------------------------------------------------------------------

_GROUP_LIMITS: Final = ("group_min_sites", "group_max_sites", "group_max_new",
                        "group_max_closed")


def _put(p: FacilityProblem, name: str, value: object) -> None:
    object.__setattr__(p, name, value)


def _check_options(p: FacilityProblem, m: int) -> None:
    """Option arrays: opt_site, capacity, costs, current flags, tags and tag limits."""
    opt_site = _int_vec("opt_site", p.opt_site, None, lo=0, hi=m - 1)
    q = opt_site.size
    _put(p, "opt_site", opt_site)
    _put(p, "opt_capacity", _float_vec("opt_capacity", p.opt_capacity, q,
                                       default=math.inf, allow_posinf=True, nonneg=True))
    _put(p, "opt_cost", _float_vec("opt_cost", p.opt_cost, q, default=0.0))
    _put(p, "opt_oneoff", _float_vec("opt_oneoff", p.opt_oneoff, q, default=0.0))
    _put(p, "opt_is_current", _bool_vec("opt_is_current", p.opt_is_current, q))
    tag = _int_vec("opt_tag", p.opt_tag, q, default=-1, lo=-1)
    _put(p, "opt_tag", tag)
    tag_max = _int_vec("tag_max", p.tag_max, None, lo=-1)
    if tag.size and int(tag.max()) >= tag_max.size:
        raise _bad("tag_max", f"has {tag_max.size} entries but opt_tag uses tags 0.."
                              f"{int(tag.max())}; give one limit per tag (-1 = none)")
    _put(p, "tag_max", tag_max)


def _check_sites(p: FacilityProblem, m: int) -> None:
    """Per-site arrays: status flags, closing costs and groups."""
    _put(p, "site_existing", _bool_vec("site_existing", p.site_existing, m))
    _put(p, "site_close_cost", _float_vec("site_close_cost", p.site_close_cost, m,
                                          default=0.0))
    _put(p, "site_close_oneoff", _float_vec("site_close_oneoff", p.site_close_oneoff, m,
                                            default=0.0))
    _put(p, "site_locked", _bool_vec("site_locked", p.site_locked, m))
    _put(p, "site_forbidden", _bool_vec("site_forbidden", p.site_forbidden, m))
    _put(p, "site_outside", _bool_vec("site_outside", p.site_outside, m))
    _put(p, "site_group", _int_vec("site_group", p.site_group, m, default=-1, lo=-1))


def _check_groups(p: FacilityProblem) -> None:
    """Group limits: one per group used by site_group (padded with -1 to equal lengths)."""
    group = p.site_group
    n_groups = int(group.max()) + 1 if group.size else 0
    for name in _GROUP_LIMITS:
        val = getattr(p, name)
        if val is None or val is _UNSET_I:
            arr = _frozen(np.full(n_groups, -1, dtype=np.int64))
        else:
            arr = _int_vec(name, val, None, lo=-1)
            if arr.size < n_groups:
                raise _bad(name, f"has {arr.size} entries but site_group uses groups 0.."
                                 f"{n_groups - 1}; give one limit per group (-1 = none)")
        _put(p, name, arr)
    g_n = max(n_groups, *(getattr(p, k).size for k in _GROUP_LIMITS))
    for name in _GROUP_LIMITS:
        arr = getattr(p, name)
        if arr.size < g_n:
            _put(p, name, _frozen(np.concatenate([arr, np.full(g_n - arr.size, -1)])))
    bad_range = (p.group_max_sites >= 0) & (p.group_min_sites > p.group_max_sites)
    if bad_range.any():
        g = int(np.flatnonzero(bad_range)[0])
        raise _bad("group_min_sites", f"group {g} has min {p.group_min_sites[g]} > max "
                                      f"{p.group_max_sites[g]} (group_max_sites)")


def _check_current(p: FacilityProblem, m: int) -> None:
    """Current options sit at existing sites, at most one per site."""
    cur, opt_site = p.opt_is_current, p.opt_site
    if not cur.any():
        return
    if (~p.site_existing[opt_site[cur]]).any():
        o = int(np.flatnonzero(cur & ~p.site_existing[opt_site])[0])
        raise _bad("opt_is_current", f"option {o} is marked current but its site "
                                     f"{opt_site[o]} is not site_existing")
    cnt = np.bincount(opt_site[cur], minlength=m)
    if (cnt > 1).any():
        j = int(np.flatnonzero(cnt > 1)[0])
        raise _bad("opt_is_current", f"site {j} has {cnt[j]} current options; at most 1")


def _check_counts(p: FacilityProblem) -> None:
    """Global limits: counts, budget and the share of outside sites."""
    for name in ("max_new", "max_closed", "n_sites_exact"):
        val = getattr(p, name)
        if val is not None:
            if isinstance(val, bool) or int(val) != val or val < 0:
                raise _bad(name, f"expected a non-negative integer or None, got {val!r}")
            _put(p, name, int(val))
    if p.budget is not None:
        if not math.isfinite(float(p.budget)):
            raise _bad("budget", f"expected a finite number or None, got {p.budget!r}")
        _put(p, "budget", float(p.budget))
    if p.min_share_outside is not None:
        share = float(p.min_share_outside)
        if not 0.0 <= share <= 1.0:
            raise _bad("min_share_outside", f"expected a share in [0, 1], got {share}")
        _put(p, "min_share_outside", share)


def _check_relocations(p: FacilityProblem, m: int) -> None:
    """Relocation pairs: an existing site to a new one, each pair once, savings >= 0."""
    rf = _int_vec("reloc_from", p.reloc_from, None, lo=0, hi=m - 1)
    nr = rf.size
    rt = _int_vec("reloc_to", p.reloc_to, nr, lo=0, hi=m - 1)
    _put(p, "reloc_from", rf)
    _put(p, "reloc_to", rt)
    if p.reloc_to_option is not None:
        opt_site = p.opt_site
        ro = _int_vec("reloc_to_option", p.reloc_to_option, nr, lo=0,
                      hi=max(opt_site.size - 1, 0))
        if nr and (opt_site[ro] != rt).any():
            k = int(np.flatnonzero(opt_site[ro] != rt)[0])
            raise _bad("reloc_to_option", f"pair {k}: option {ro[k]} is at site "
                                          f"{opt_site[ro[k]]}, not at reloc_to {rt[k]}")
        _put(p, "reloc_to_option", ro)
    _put(p, "reloc_saving", _float_vec("reloc_saving", p.reloc_saving, nr, default=0.0,
                                       nonneg=True))
    _put(p, "reloc_saving_oneoff", _float_vec("reloc_saving_oneoff", p.reloc_saving_oneoff,
                                              nr, default=0.0))
    if not nr:
        return
    existing = p.site_existing
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


def _check_terms(p: FacilityProblem) -> None:
    """Single sourcing and the load-balance term."""
    _put(p, "single_source", bool(p.single_source))
    bw = float(p.balance_weight)
    if not (math.isfinite(bw) and bw >= 0):
        raise _bad("balance_weight", f"expected a finite number >= 0, got {bw}")
    _put(p, "balance_weight", bw)
    bt = float(p.balance_threshold)
    if not 0.0 < bt <= 1.0:
        raise _bad("balance_threshold", f"expected a share in (0, 1], got {bt}")
    _put(p, "balance_threshold", bt)


def _check_warm_start(p: FacilityProblem, m: int) -> None:
    """The warm start gives each site one of its own options (or -1); its moves, if
    given, are one flag per relocation pair."""
    if p.warm_start is None:
        if p.warm_moves is not None:
            raise _bad("warm_moves", "given without a warm_start: give the start's options "
                                     "per site too")
        return
    opt_site = p.opt_site
    ws = _int_vec("warm_start", p.warm_start, m, lo=-1, hi=opt_site.size - 1)
    chosen = ws >= 0
    wrong = chosen & (opt_site[np.where(chosen, ws, 0)] != np.arange(m))
    if wrong.any():
        j = int(np.flatnonzero(wrong)[0])
        raise _bad("warm_start", f"site {j} gets option {ws[j]} which belongs to site "
                                 f"{opt_site[ws[j]]}")
    _put(p, "warm_start", ws)
    if p.warm_moves is not None:
        _put(p, "warm_moves", _bool_vec("warm_moves", p.warm_moves, p.reloc_from.size))


def _check_blocks(p: FacilityProblem, n: int) -> None:
    """Zone blocks, their weights and capacities, and the objective over blocks."""
    zb = _int_vec("zone_block", p.zone_block, n, default=0, lo=0)
    _put(p, "zone_block", zb)
    n_blocks = int(zb.max()) + 1 if zb.size else 1
    bw = p.block_weight
    if bw is not None and bw is not _UNSET_F and np.asarray(bw).size != n_blocks:
        raise _bad("block_weight", f"has {np.asarray(bw).size} entries but zone_block uses "
                                   f"blocks 0..{n_blocks - 1}; give one weight per block")
    _put(p, "block_weight", _float_vec("block_weight", bw, n_blocks, default=1.0,
                                       nonneg=True))
    if p.block_capacity is not None:
        q = p.opt_site.size
        try:
            cap = np.array(p.block_capacity, dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise _bad("block_capacity", f"expected numbers ({exc})") from None
        if cap.shape != (n_blocks, q):
            raise _bad("block_capacity", f"expected shape ({n_blocks}, {q}) (blocks x "
                                         f"options), got {cap.shape}")
        _check_floats("block_capacity", cap.ravel(), allow_posinf=True, nonneg=True)
        _put(p, "block_capacity", _frozen(cap))
    if p.block_objective not in ("expected", "worst"):
        raise _bad("block_objective", f"expected 'expected' or 'worst', got "
                                      f"{p.block_objective!r}")
    if p.block_objective == "worst" and p.warm_start is not None:
        raise _bad("warm_start", "is not supported with block_objective='worst' (its greedy "
                                 "completion has no value for the epigraph column); leave "
                                 "it out")


def block_capacity(p: FacilityProblem) -> FloatArray:
    """(n_blocks, n_opts) capacity of each option in each block (``opt_capacity`` in every
    block unless ``block_capacity`` is given)."""
    if p.block_capacity is not None:
        return p.block_capacity
    return np.broadcast_to(p.opt_capacity, (p.n_blocks, p.n_opts))


def _entry_zones(p: FacilityProblem) -> IntArray:
    """(nnz,) the zone of each stored entry of ``p.cost`` (CSR row index per entry)."""
    return np.repeat(np.arange(p.n_zones, dtype=np.int64), np.diff(p.cost.indptr))
