"""Large-neighbourhood search after HiGHS, on long time-limited solves.

On large models HiGHS spends most of a time limit in root cut rounds while its best plan
stalls. When :class:`~netplan.optimize.highs._SearchSwitch` stops it, :func:`_search`
improves HiGHS's plan by re-solving one group of sites at a time exactly, with every
other column fixed. HiGHS's bound stays the bound, so the reported gap stays a proven one.

Two kinds of groups:

- **compact** (:func:`_neighbourhoods`): neighbouring sites of one district. They
  cannot trade a city-wide limit that binds (``max_close``, the budget) between two
  districts: one more closure here needs one fewer elsewhere, in the same sub-solve;
- **guided by the LP relaxation** (:func:`_guided_neighbourhoods`), when the plan came
  from it (:mod:`.rens`): the sites where the plan and the LP solution disagree, most
  first, wherever they are. On the first model of the Beijing plan, 30 s of search from
  the LP's rounded plan (2.315 % above the LP bound) reached 1.135 % with these groups
  and 1.870 % with the compact ones (ad-hoc runs on the same plan). They run first; when
  a round of them improves nothing, the compact ones go on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import scipy.sparse as sp

from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import Progress, _rel_gap
from netplan.optimize.build import _Model
from netplan.optimize.highs import (
    _arm_deadline,
    _check_point,
    _new_highs,
    _pass_model,
    _proven_bound,
    _Raw,
    _run,
    _set_common,
)
from netplan.optimize.problem import FacilityProblem, _entry_zones

logger = logging.getLogger(__name__)

_SEARCH_SITES: Final = 40
"""Sites freed per neighbourhood: small enough that one sub-solve is quick."""
_SEARCH_ZONES: Final = 800
"""Zones freed per neighbourhood (those that may use one of its sites), likewise."""
_SEARCH_SUB_GAP: Final = 1e-4
"""Gap at which one neighbourhood's sub-solve stops."""
_SEARCH_SUB_SECONDS: Final = 10.0
"""Time limit of one sub-solve, so that one hard neighbourhood cannot use up the time."""
_GUIDED_ZONES: Final = 400
"""Zones freed per LP-guided neighbourhood. Its sites lie apart, each with zones of its
own, so sub-solves grow fast with it: on the Beijing plan's first model 30 s of search
reached 1.135 % at 400 zones (36 groups a round, two rounds), 1.284 % at 800 (16 groups,
4-8 s each) and 1.56 % at 200 (82 groups of 1-5 sites)."""
_DISAGREE: Final = 1e-6
"""A site is contested when one of its integer columns differs by more than this between
the plan and the LP solution."""


def _zone_sites(p: FacilityProblem) -> sp.csr_array:
    """Which zone may use which site: a (zones x sites) 0/1 matrix of the cost entries."""
    return sp.csr_array((np.ones(p.cost.nnz), (_entry_zones(p), p.cost.indices)),
                        shape=(p.n_zones, p.n_sites))


def _neighbourhoods(p: FacilityProblem, size: int = _SEARCH_SITES,
                    zones: int = _SEARCH_ZONES) -> list[IntArray]:
    """Partition the sites that have options into compact sets of at most ``size`` sites
    whose zones (those that may use one of them) number at most ``zones``.

    Sites are neighbours when some zone may use both; each set grows breadth-first from its
    lowest-numbered site and stays inside one group (district), so sets are spatially
    compact without coordinates; the zone cap keeps the sub-models small where sites reach
    many zones (dense k-nearest lists, rural districts). Deterministic.
    """
    m = p.n_sites
    b = _zone_sites(p)
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


def _guided_neighbourhoods(mdl: _Model, p: FacilityProblem, v: FloatArray, lp: FloatArray,
                           size: int = _SEARCH_SITES, zones: int = _GUIDED_ZONES, *,
                           by_site: sp.csr_array | None = None) -> list[IntArray]:
    """Sets of the sites where plan ``v`` and the LP solution ``lp`` disagree.

    A site's disagreement is the largest ``|v - lp|`` over its option and open columns and
    the moves from or to it. Contested sites are taken from the most contested on (ties by
    index) and cut into consecutive sets of at most ``size`` sites whose zones number at
    most ``zones``, whatever their district, so that one sub-solve may move a city-wide
    limit from one district to another. Deterministic. ``by_site``: the zones of each site,
    ``_zone_sites(p).T.tocsr()`` (computed here when not given).
    """
    q, m = p.n_opts, p.n_sites
    d = np.zeros(m)
    np.maximum.at(d, p.opt_site, np.abs(v[mdl.y0:mdl.y0 + q] - lp[mdl.y0:mdl.y0 + q]))
    d = np.maximum(d, np.abs(v[mdl.z0:mdl.z0 + m] - lp[mdl.z0:mdl.z0 + m]))
    if p.reloc_from.size:
        moved = np.abs(v[mdl.r0:mdl.v0] - lp[mdl.r0:mdl.v0])
        np.maximum.at(d, p.reloc_from, moved)
        np.maximum.at(d, p.reloc_to, moved)
    contested = np.flatnonzero(d > _DISAGREE)
    order = contested[np.argsort(-d[contested], kind="stable")]
    if by_site is None:
        by_site = _zone_sites(p).T.tocsr()
    out: list[IntArray] = []
    members: list[int] = []
    seen = np.zeros(p.n_zones, dtype=np.bool_)
    n_seen = 0
    for j in order.tolist():
        zj = by_site.indices[by_site.indptr[j]:by_site.indptr[j + 1]]
        new = int(np.count_nonzero(~seen[zj]))
        if members and (len(members) >= size or n_seen + new > zones):
            out.append(np.sort(np.asarray(members, dtype=np.int64)))
            members, n_seen = [], 0
            seen[:] = False
            new = zj.size
        members.append(j)
        seen[zj] = True
        n_seen += new
    if members:
        out.append(np.sort(np.asarray(members, dtype=np.int64)))
    return out


def _free_columns(mdl: _Model, p: FacilityProblem, sites: IntArray, zi: IntArray) -> BoolArray:
    """Columns a neighbourhood may change: its sites (with both ends of their moves), the
    zones that may use them (with zone blocks: their copies in every block), every
    overload column and the epigraph column of a worst-block objective (both from
    ``mdl.v0`` on). All other columns stay fixed.
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


class _ReachesGap:
    """HiGHS interrupt callback: stop a sub-solve at its first plan within ``mip_gap`` of
    the whole model's ``bound``. That plan ends the search; without this callback the
    sub-solve would go on to its own tighter gap (:data:`_SEARCH_SUB_GAP`). On 通州's first
    model the one LP-guided set took 10 s that way, and 2.5 s with it."""

    def __init__(self, bound: float, mip_gap: float) -> None:
        self.bound = bound
        self.mip_gap = mip_gap

    def __call__(self, e: Any) -> None:
        primal = float(e.data_out.mip_primal_bound)  # inf until the sub-solve has a plan
        if math.isfinite(primal) and _rel_gap(primal, self.bound) <= self.mip_gap:
            e.data_in.user_interrupt = True


@dataclass
class _Incumbent:
    """The search's state: the plan, its cost and the bound it is measured against."""

    v: FloatArray
    obj: float
    bound: float
    rounds: int = 0


def _search(  # noqa: PLR0913 - one keyword per search option
    mdl: _Model, p: FacilityProblem, raw: _Raw, *, deadline: float, mip_gap: float,
    threads: int | None, progress: Progress | None, origin: str = "HiGHS handed over",
    guide: FloatArray | None = None, rounds_by: float | None = None,
) -> _Raw:
    """Large-neighbourhood search from HiGHS's incumbent until the gap or the deadline.

    Each step re-solves the full model exactly with every column outside one neighbourhood
    fixed at the incumbent, so every accepted plan satisfies every constraint, and keeps
    the result when it is cheaper. HiGHS's bound stays the bound: it is a bound on the
    whole model, whatever the incumbent. With ``guide`` (the LP relaxation's column
    values), rounds over the sites where plan and LP disagree come first
    (:func:`_guided_neighbourhoods`, recomputed each round), then rounds over the compact
    neighbourhoods (:func:`_neighbourhoods`). Rounds repeat until the gap reaches
    ``mip_gap``, a round improves nothing, or time runs out; when the neighbourhoods are
    exhausted with time left, HiGHS resumes from the improved plan; so it does at
    ``rounds_by`` (``time.perf_counter()`` time, default ``deadline``), where the rounds
    stop early for a model HiGHS proves faster than the search can. ``origin`` says where
    the plan came from (progress line); the bound keeps its source
    (``raw.bound_source``) unless HiGHS's resumed run improves it.
    """
    assert raw.v is not None
    t0 = time.perf_counter()
    v, obj = _snap(mdl, raw.v)
    start = obj
    inc = _Incumbent(v, obj, raw.best_bound)
    source = raw.bound_source
    hoods = _neighbourhoods(p)
    if progress is not None:
        extra = "" if guide is None else ", the sites the LP relaxation contests first"
        progress(f"{origin} at {raw.seconds:.1f} s (incumbent {obj:.8g}, gap "
                 f"{_rel_gap(obj, inc.bound):.3%}); improving it over {len(hoods)} "
                 f"neighbourhoods{extra}")
    by = deadline if rounds_by is None else min(rounds_by, deadline)
    opts = _RoundOptions(deadline=by, mip_gap=mip_gap, threads=threads,
                         progress=progress, zi=_entry_zones(p))
    stopped = False
    if guide is not None:
        lp = np.asarray(guide, np.float64)
        by_site = _zone_sites(p).T.tocsr()  # once for every round
        stopped = _search_rounds(
            mdl, p, inc, lambda: _guided_neighbourhoods(mdl, p, inc.v, lp, by_site=by_site),
            opts, label="contested set")
    if not stopped:
        stopped = _search_rounds(mdl, p, inc, lambda: hoods, opts)
    left = deadline - time.perf_counter()
    if _rel_gap(inc.obj, inc.bound) > mip_gap and left >= 1.0:
        # the neighbourhoods are exhausted (or their time is up): give the rest of the time
        # back to HiGHS, now starting from the improved plan (its bound, if better,
        # replaces the first one)
        if progress is not None:
            why = "their time is up" if stopped else "no neighbourhood improves the plan"
            progress(f"{why}; HiGHS resumes for {left:.0f} s")
        before = inc.bound
        _resume_highs(mdl, inc, time_limit_s=left, mip_gap=mip_gap, threads=threads)
        if inc.bound > before:
            source = "highs"
    gap = _rel_gap(inc.obj, inc.bound)
    secs = time.perf_counter() - t0
    status = "optimal" if gap <= mip_gap else "time_limit"
    logger.debug("neighbourhood search: %.6g -> %.6g in %.1f s (%d rounds)", start, inc.obj,
                 secs, inc.rounds)
    return _Raw(status, inc.v, inc.bound, raw.seconds + secs,
                f"{raw.message}; neighbourhood search {start:.8g} -> {inc.obj:.8g}",
                search_seconds=secs, search_gain=start - inc.obj, bound_source=source)


@dataclass(frozen=True)
class _RoundOptions:
    """What every round of one search shares (``zi``: :func:`_entry_zones`, once)."""

    deadline: float
    mip_gap: float
    threads: int | None
    progress: Progress | None
    zi: IntArray


def _search_rounds(mdl: _Model, p: FacilityProblem, inc: _Incumbent,
                   hoods_of: Callable[[], list[IntArray]], opts: _RoundOptions, *,
                   label: str = "neighbourhood") -> bool:
    """Improve ``inc`` (in place) round after round, each over the sets ``hoods_of()``
    gives at its start.

    Returns True when the search stopped at the target gap or the deadline, False when a
    whole round improved nothing (or had no set).
    """
    while True:
        hoods = hoods_of()
        if not hoods:
            return False
        inc.rounds += 1
        improved = False
        for k, sites in enumerate(hoods):
            got = _improve(mdl, p, inc, sites, opts)
            if got is None:
                return True
            if got and opts.progress is not None:
                opts.progress(f"{label} {k + 1}/{len(hoods)} (round {inc.rounds}): "
                              f"incumbent {inc.obj:.8g}, gap {_rel_gap(inc.obj, inc.bound):.3%}")
            improved = improved or got
        if not improved:
            return False


def _improve(mdl: _Model, p: FacilityProblem, inc: _Incumbent, sites: IntArray,
             opts: _RoundOptions) -> bool | None:
    """Re-solve the model with only ``sites`` (and their zones) free; keep a cheaper plan
    in ``inc``. Whether it improved; None when the search must stop (target gap reached,
    or too little time left)."""
    if _rel_gap(inc.obj, inc.bound) <= opts.mip_gap:
        return None
    left = opts.deadline - time.perf_counter()
    if left < 0.5:
        return None
    free = _free_columns(mdl, p, sites, opts.zi)
    sub = replace(mdl, col_lo=np.where(free, mdl.col_lo, inc.v),
                  col_hi=np.where(free, mdl.col_hi, inc.v))
    h = _new_highs()
    sub_s = min(left, _SEARCH_SUB_SECONDS)
    watchdog = _set_common(h, msg=False, time_limit_s=sub_s, mip_gap=_SEARCH_SUB_GAP,
                           threads=opts.threads)
    h.cbMipInterrupt.subscribe(_ReachesGap(inc.bound, opts.mip_gap))
    sub_end = time.perf_counter() + sub_s
    _pass_model(h, sub)
    h.setSolution(mdl.n_cols, np.arange(mdl.n_cols, dtype=np.int32), inc.v)
    if _arm_deadline(h, int(sub.a.nnz), sub_end, watchdog) <= 0:
        return None  # too little time left for HiGHS's uninterruptible phases
    _run(h)
    if int(h.getInfo().primal_solution_status) != 2:
        return False
    w, ow = _snap(mdl, h.getSolution().col_value)
    if ow < inc.obj - 1e-9 * max(1.0, abs(inc.obj)) and _check_point(mdl, w):
        inc.v, inc.obj = w, ow
        return True
    return False


def _resume_highs(mdl: _Model, inc: _Incumbent, *, time_limit_s: float, mip_gap: float,
                  threads: int | None) -> None:
    """Run HiGHS on the whole model from ``inc``; keep its plan and bound if better."""
    import highspy

    h = _new_highs()
    end = time.perf_counter() + time_limit_s
    watchdog = _set_common(h, msg=False, time_limit_s=time_limit_s, mip_gap=mip_gap,
                           threads=threads)
    _pass_model(h, mdl)
    h.setSolution(mdl.n_cols, np.arange(mdl.n_cols, dtype=np.int32), inc.v)
    if _arm_deadline(h, int(mdl.a.nnz), end, watchdog) <= 0:
        return
    _run(h)
    info = h.getInfo()
    again = float(info.mip_dual_bound)
    if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
        again = _proven_bound(float(info.objective_function_value), again,
                              float(info.mip_gap), mip_gap)
    if math.isfinite(again):
        inc.bound = max(inc.bound, again)
    if int(info.primal_solution_status) == 2:
        w, ow = _snap(mdl, h.getSolution().col_value)
        if ow < inc.obj and _check_point(mdl, w):
            inc.v, inc.obj = w, ow

