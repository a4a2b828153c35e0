"""Lagrangian branch and bound over the sites, after the root subgradient of
:func:`~netplan.optimize.lagrange.lagrangian`.

For the plain capacitated models (no side constraint, no exact site count, every zone
served, so the aggregate capacity cut is in the site problem) the root Lagrangian dual can
stop short of the optimum (capc5000: 0.16 %). The search here splits the site space:

- a node fixes some sites open and some closed; its Lagrangian function is the module's
  one with those sites locked or forbidden (:func:`_restrict`), so every value of it is a
  lower bound on the plans that keep the node's fixings;
- each node re-optimises its parent's multipliers by a few subgradient steps (Polyak steps
  towards the best plan), fixes the free sites whose opposite state lifts its bound to the
  pruning threshold (reduced-cost fixing at the node), builds a plan from its open set
  (:func:`~netplan.optimize.lagrange.plan_from_sites`) and branches on the site whose
  average open share over its steps is the most fractional;
- nodes are taken best bound first; a node (or a fixed-away part of one) whose bound reaches
  ``ub * (1 - mip_gap)`` is discarded, and the smallest bound discarded is kept.

The proven bound is the smallest of the open nodes' bounds, the discarded bounds and the
best plan's cost: every plan is in an open node or in a discarded part.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np

from netplan._types import BoolArray, FloatArray
from netplan.optimize.lagrange import (
    LagrangeResult,
    Plan,
    _choose,
    _evaluate,
    _Structure,
    _structure,
    _Sub,
    flipped_bound,
    lagrangian_applies,
    plan_from_sites,
    side_constraint,
)
from netplan.optimize.problem import FacilityProblem

__all__ = ["BnbResult", "bnb_applies", "lagrangian_bnb"]

_ROOT_STEPS: Final = 60
"""Subgradient steps at the root node (from the root stage's multipliers)."""
_NODE_STEPS: Final = 25
"""Subgradient steps at every other node (from its parent's multipliers)."""
_THETA: Final = 0.5
"""The first step factor at a node (halved after :data:`_STALL` steps without progress)."""
_STALL: Final = 4
_PLAN_SHARE: Final = 0.3
"""Largest share of the search's time spent building plans (transportation LPs)."""


@dataclass(frozen=True, eq=False)
class BnbResult:
    """What :func:`lagrangian_bnb` returns.

    Attributes
    ----------
    bound
        A lower bound on every plan's cost (at most the best plan's cost).
    plan
        The best plan known (the root stage's, or a better one found in the search).
    nodes
        Nodes whose multipliers were re-optimised.
    open_nodes
        Nodes left unexplored at the end (0 when the search finished).
    seconds
        Time used.
    """

    bound: float
    plan: Plan | None
    nodes: int
    open_nodes: int
    seconds: float


@dataclass(frozen=True, eq=False)
class _Node:
    closed: BoolArray  # (m,) fixed closed
    opened: BoolArray  # (m,) fixed open
    lam: FloatArray  # multipliers to start from
    bound: float  # a valid bound of the node (at ``lam`` or better)


@dataclass(eq=False)
class _Search:
    """The state of one search: best plan, discarded bounds, time spent on plans."""

    p: FacilityProblem
    s: _Structure
    plan: Plan | None
    mip_gap: float
    floor: float = math.inf
    plan_seconds: float = 0.0
    seen: set[bytes] = field(default_factory=set)

    @property
    def ub(self) -> float:
        return self.plan.objective if self.plan is not None else math.inf

    @property
    def threshold(self) -> float:
        """Bounds from here up are discarded (the best plan is within the gap of them)."""
        ub = self.ub
        if not math.isfinite(ub):
            return math.inf
        return ub - max(self.mip_gap * abs(ub), 1e-9 * max(1.0, abs(ub)))

    def discard(self, bound: float) -> None:
        self.floor = min(self.floor, bound)


def bnb_applies(p: FacilityProblem) -> bool:
    """Whether :func:`lagrangian_bnb` applies to ``p``: the Lagrangian applies, the site
    problem is the combinatorial one without an exact count, plans are fractional
    (multiple sourcing) and every zone must be served under finite capacities (the
    aggregate capacity cut binds the site problem).

    Parameters
    ----------
    p
        The problem.

    Returns
    -------
    bool
    """
    if lagrangian_applies(p) is not None or side_constraint(p) is not None:
        return False
    if p.n_sites_exact is not None or p.single_source:
        return False
    return _structure(p).cut > 0


def _restrict(s: _Structure, closed: BoolArray, opened: BoolArray) -> _Structure:
    """``s`` with the sites of ``closed`` forbidden and those of ``opened`` locked open."""
    return replace(s, site_ok=s.site_ok & ~closed, locked=s.locked | (opened & s.site_ok))


def _ascent(s: _Structure, lam: FloatArray, *, steps: int, target: float,
            stop_at: float) -> tuple[_Sub, FloatArray, FloatArray]:
    """A few subgradient steps from ``lam``: the best evaluation, its multipliers and the
    average open share of every site over the steps (the branching guide)."""
    sub = _evaluate(s, lam)
    best, best_lam = sub, lam
    ybar = sub.y.copy()
    theta, stall = _THETA, 0
    for k in range(1, steps):
        if best.value >= stop_at or not math.isfinite(sub.value):
            break
        norm = float(sub.grad @ sub.grad)
        if norm <= 1e-12:
            break  # the subproblem's solution is feasible: the node's bound is exact
        lam = lam + theta * max(target - sub.value, 0.0) / norm * sub.grad
        sub = _evaluate(s, lam)
        ybar += (sub.y - ybar) / (k + 1)
        if sub.value > best.value + 1e-9 * max(1.0, abs(best.value)):
            best, best_lam, stall = sub, lam, 0
        else:
            stall += 1
            if stall >= _STALL:
                theta, stall = theta / 2, 0
    return best, best_lam, ybar


def _fix_sites(srch: _Search, s: _Structure, sub: _Sub) -> tuple[BoolArray, BoolArray]:
    """Free sites whose opposite state lifts the node's bound (at the evaluation ``sub``)
    to the threshold: returned as (newly closed, newly opened); their bounds are discarded."""
    m = s.n_sites
    closed, opened = np.zeros(m, dtype=np.bool_), np.zeros(m, dtype=np.bool_)
    base = sub.value - _choose(s, sub.site_value)[0]
    thr = srch.threshold
    for j in np.flatnonzero(s.site_ok & ~s.locked).tolist():
        val = flipped_bound(s, sub, j, now_open=bool(sub.y[j] > 0), base=base)
        if val >= thr:
            (opened if sub.y[j] > 0 else closed)[j] = True
            srch.discard(val)
    return closed, opened


def _try_plan(srch: _Search, s: _Structure, sub: _Sub, started: float) -> None:
    """A plan from the node's open set (when new and the plan budget allows)."""
    if srch.plan_seconds > _PLAN_SHARE * (time.perf_counter() - started) + 1.0:
        return
    key = np.packbits(sub.y > 0).tobytes()
    if key in srch.seen:
        return
    srch.seen.add(key)
    t0 = time.perf_counter()
    plan = plan_from_sites(srch.p, s, sub.site_opt, sub.y > 0, sub.site_value)
    srch.plan_seconds += time.perf_counter() - t0
    if plan is not None and plan.objective < srch.ub:
        srch.plan = plan


def _leaf(srch: _Search, s: _Structure, sub: _Sub) -> float:
    """The cost of a node whose sites are all fixed (-inf when it is not one plan: sites
    with several options; inf when its open set cannot serve every zone)."""
    plan = plan_from_sites(srch.p, s, sub.site_opt, s.locked & s.site_ok, sub.site_value)
    if plan is not None and plan.objective < srch.ub:
        srch.plan = plan
    if np.bincount(s.opt_site, minlength=s.n_sites).max() > 1:
        return -math.inf
    return math.inf if plan is None else plan.objective


def _branch_site(s: _Structure, sub: _Sub, ybar: FloatArray) -> int:
    """The free site to branch on: the most fractional average open share (ties and
    all-integral averages: the site whose value is closest to zero). -1: none free."""
    free = np.flatnonzero(s.site_ok & ~s.locked)
    if free.size == 0:
        return -1
    frac = np.minimum(ybar[free], 1.0 - ybar[free])
    if float(frac.max()) > 1e-3:
        return int(free[int(np.argmax(frac))])
    return int(free[int(np.argmin(np.abs(sub.site_value[free])))])


def _process(srch: _Search, node: _Node, *, steps: int, started: float) -> list[_Node]:
    """Re-optimise one node's multipliers, fix, build a plan and branch: its children
    (none when the node is discarded or solved)."""
    s = _restrict(srch.s, node.closed, node.opened)
    sub, lam, ybar = _ascent(s, node.lam, steps=steps, target=srch.ub,
                             stop_at=srch.threshold)
    bound = max(sub.value, node.bound)
    if bound >= srch.threshold:
        srch.discard(bound)
        return []
    _try_plan(srch, s, sub, started)
    closed, opened = _fix_sites(srch, s, sub)
    if closed.any() or opened.any():
        closed, opened = closed | node.closed, opened | node.opened
        s = _restrict(srch.s, closed, opened)
        sub = _evaluate(s, lam)
        bound = max(bound, sub.value)
        if bound >= srch.threshold:
            srch.discard(bound)
            return []
    else:
        closed, opened = node.closed, node.opened
    if float(sub.grad @ sub.grad) <= 1e-12 and bool(np.all((sub.y == 0) | (sub.y == 1))):
        _try_plan(srch, s, sub, -math.inf)  # the relaxation's solution is a plan
        srch.discard(bound)
        return []
    j = _branch_site(s, sub, ybar)
    if j < 0:
        srch.discard(max(bound, _leaf(srch, s, sub)))
        return []
    base = sub.value - _choose(s, sub.site_value)[0]
    kids = []
    for shut in (True, False):
        kid_bound = max(bound, flipped_bound(s, sub, j, now_open=shut, base=base))
        if kid_bound >= srch.threshold:
            srch.discard(kid_bound)
            continue
        c, o = closed.copy(), opened.copy()
        (c if shut else o)[j] = True
        kids.append(_Node(c, o, lam, kid_bound))
    return kids


def lagrangian_bnb(p: FacilityProblem, root: LagrangeResult, *, deadline: float,
                   mip_gap: float) -> BnbResult:
    """Branch and bound over the sites with Lagrangian bounds, from the root stage.

    Parameters
    ----------
    p
        The problem (:func:`bnb_applies` must hold).
    root
        The root stage's result (its multipliers, bound and best plan).
    deadline
        ``time.perf_counter()`` time by which to stop.
    mip_gap
        Relative gap to the best plan at which a node is discarded; the search stops once
        the bound is within it of the best plan.

    Returns
    -------
    BnbResult
        The bound is valid whether or not the search finished.
    """
    t0 = time.perf_counter()
    s = _structure(p)
    srch = _Search(p, s, root.plan, mip_gap)
    m = s.n_sites
    none = np.zeros(m, dtype=np.bool_)
    heap: list[tuple[float, int, _Node]] = [(root.bound, 0, _Node(none, none, root.lam,
                                                                    root.bound))]
    seq, nodes = 1, 0
    while heap and time.perf_counter() < deadline:
        if heap[0][0] >= srch.threshold:
            break
        _, _, node = heapq.heappop(heap)
        steps = _ROOT_STEPS if nodes == 0 else _NODE_STEPS
        for kid in _process(srch, node, steps=steps, started=t0):
            heapq.heappush(heap, (kid.bound, seq, kid))
            seq += 1
        nodes += 1
    bound = min([srch.floor, srch.ub] + [b for b, _, _ in heap])
    return BnbResult(bound=max(bound, root.bound),
                     plan=srch.plan, nodes=nodes, open_nodes=len(heap),
                     seconds=time.perf_counter() - t0)
