"""A first plan from the LP relaxation, for time-limited solves (RENS).

On the Beijing city model HiGHS finds its first good plan only after its root cut rounds
(central rounding): 45-65 s into a solve on the shared 2-core VM, and on a slow day not
within the first solve's share of the time limit at all, so that the solve returns its
start plan (the current network, 38 % above the bound). This stage takes a shorter road
to a good plan:

1. solve the LP relaxation of the model as built. Its relocation rows make it as tight as
   HiGHS's own presolved root LP (2,588,189,123 on the Beijing model, :mod:`.build`), and
   its row duals give a safe lower bound of the model's optimum
   (:func:`~netplan.optimize.decompose.dual_bound`, valid whatever the LP's tolerances);
2. fix every integer column whose LP value is integral (within :data:`_INTEGRAL`) at that
   value and solve the rest as a MIP: the relaxation-enforced neighbourhood search of
   Berthold (2014). On Beijing's first model 3,877 of the 4,703 integer columns are 0 in
   the LP and 512 are 1; the 314 left free make a MIP whose first good plan (2.3 % above
   the LP bound) came after 8.7 s. It stops at its first plan within
   :data:`_GOOD_ENOUGH` of its own bound (:data:`_GOOD_ENOUGH_FEW` when few columns are
   free, as in a district's model), without HiGHS's feasibility jump;
3. the plan goes to the neighbourhood search (:mod:`.search`) with the LP bound, and the
   LP solution guides it: the sites where plan and LP disagree are re-solved first.

A district's model takes the same road (:data:`RENS_MIN_INTEGER`): there HiGHS's root node
took up to 9 s before a plan within the gap, the LP and its rounded MIP take about a second.

When the LP does not fit its share of the time (:data:`_LP_SHARE`), the solve goes on with
HiGHS as before. When the rounded MIP has no plan within its share (:data:`_RENS_SHARE`),
the LP-guided search starts from the start plan (the current network) if there is one:
HiGHS would have to solve the same LP again before any plan of its own.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from netplan._types import FloatArray
from netplan.optimize.build import _Model
from netplan.optimize.decompose import dual_bound
from netplan.optimize.highs import (
    _arm_deadline,
    _check_point,
    _new_highs,
    _pass_model,
    _run,
    _set_common,
)
from netplan.optimize.search import _snap

__all__ = ["RENS_MIN_INTEGER", "LpRelaxation", "LpRounding", "lp_relaxation", "lp_rounding",
           "rens_applies"]

logger = logging.getLogger(__name__)

RENS_MIN_INTEGER: Final = 64
"""Integer columns from which a time-limited solve starts with this stage. Below, HiGHS
alone is as quick (Beijing's smallest districts, 34-52 integer columns: 0.1-0.2 s either
way). Above, HiGHS can spend seconds in its root node before a plan within the gap: on
通州 (322 integer columns) its first plans were 1.4-1.8 % above its bound and the next came
from its sub-MIPs after 8 s; from the LP's rounded plan the solve reached its 1 % in
1.4 s (``bench/README.md``, "District plans from the LP relaxation")."""
_MIN_SECONDS: Final = 30.0
"""Time left below which the stage is skipped on a large model: the city model's LP alone
takes 12-45 s."""
_MIN_S_PER_NNZ: Final = 1e-4
"""On a smaller model, the time left per nonzero below which the stage is skipped, when
that is less than :data:`_MIN_SECONDS`: a district's LP (12,000-85,000 nonzeros, 1.2-8.5 s
here) takes 0.1-1.2 s."""
_LP_SHARE: Final = 0.75
"""Share of the time left that the LP relaxation may take. HiGHS needs the same LP before
any plan of its own, so little is lost by waiting for it: on the shared VM the round-1
LP of the Beijing plan took 12-30 s on one day, and a half share of the first solve's
54 s cut it at 27 s."""
_RENS_SHARE: Final = 0.6
"""Share of the time left after the LP that the rounded MIP may take (the rest goes to
the neighbourhood search). It stops at its first good plan (:data:`_GOOD_ENOUGH`), so
the share only matters when that plan is slow: on Beijing's first model it comes from
HiGHS's central rounding after the root cut rounds, 8.7-11 s into the rounded MIP, which
a share of 0.4 of the 19 s left cut off (no plan, 2026-12-01)."""
_GOOD_ENOUGH: Final = 0.10
"""The rounded MIP stops at its first plan within this relative gap of its own bound:
after that plan HiGHS's root cut rounds barely move it, and the LP-guided neighbourhood
search makes more of the time. A fixed figure, not a multiple of the solve's target gap,
which is 1e-4 by default. On the 20,000 x 900 bank model the first plan (4.03 %) came at
21.9 s and the MIP then ran to the end of its share (36.7 s) without a better one; on
the Beijing plan's first model the first (2.1 % of its bound) came at 10 s and the next
after 50 s."""
_GOOD_ENOUGH_FEW: Final = 0.02
"""The same, when at most :data:`_FEW_FREE` integer columns are left free: such a MIP
reaches a plan within 2 % of its bound in well under a second, and that plan usually
proves the solve's gap outright. On Beijing's 37 district models (1-81 free, every solve
of their behaviour loops) the whole solve took 31.1 s in all at 2 % against 38.4 s at
10 % and 35.8 s at the MIP's own gap (up to 4.6 s for one solve)."""
_FEW_FREE: Final = 150
"""Free integer columns up to which the rounded MIP aims at :data:`_GOOD_ENOUGH_FEW`
(Beijing's districts: up to 81 free; its city model: 314)."""
_INTEGRAL: Final = 1e-6
"""An LP value this close to 0 or 1 counts as integral and is fixed."""


@dataclass(frozen=True)
class LpRounding:
    """What the stage found.

    Attributes
    ----------
    v
        A feasible column vector of the whole model (None: no plan).
    bound
        The LP relaxation's safe lower bound (``-inf`` if the LP was not solved).
    lp_seconds, rens_seconds
        Wall time of the LP and of the rounded MIP.
    free, fixed
        Integer columns left free and fixed by the rounding.
    lp
        The LP relaxation's column values (None if it was not solved): they guide the
        neighbourhood search (:func:`~netplan.optimize.search._guided_neighbourhoods`).
    """

    v: FloatArray | None
    bound: float
    lp_seconds: float
    rens_seconds: float
    free: int
    fixed: int
    lp: FloatArray | None = None


def rens_applies(mdl: _Model, *, search: bool, deadline: float | None) -> bool:
    """Whether a solve starts with :func:`lp_rounding`: a neighbourhood search to hand the
    plan to, a deadline with :data:`_MIN_SECONDS` left (:data:`_MIN_S_PER_NNZ` seconds per
    nonzero, when that is less), a model of at least :data:`RENS_MIN_INTEGER` integer
    columns."""
    if not search or deadline is None:
        return False
    return (int(mdl.integer.sum()) >= RENS_MIN_INTEGER
            and deadline - time.perf_counter()
            >= min(_MIN_SECONDS, _MIN_S_PER_NNZ * int(mdl.a.nnz)))


class _GoodEnough:
    """HiGHS interrupt callback: stop the rounded MIP at its first plan within ``gap`` of
    its own bound (:data:`_GOOD_ENOUGH`)."""

    def __init__(self, gap: float) -> None:
        self.gap = float(gap)

    def __call__(self, e: Any) -> None:
        out = e.data_out
        if math.isfinite(float(out.mip_primal_bound)) and float(out.mip_gap) <= self.gap:
            e.data_in.user_interrupt = True


@dataclass(frozen=True)
class LpRelaxation:
    """The LP relaxation of a model, solved by HiGHS (:func:`lp_relaxation`).

    Attributes
    ----------
    status
        ``"optimal"`` or ``"infeasible"`` (the relaxation, and so the model, has no
        solution: ``bound`` is then ``inf`` and the arrays are empty).
    x, y
        Column values and row duals (HiGHS's signs: ``y >= 0`` on a row at its lower
        bound, ``y <= 0`` at its upper bound).
    bound
        A safe lower bound of the model's optimum from ``y``
        (:func:`~netplan.optimize.decompose.dual_bound`, whatever the LP's tolerances).
    seconds
        Wall time of the solve.
    """

    status: str
    x: FloatArray
    y: FloatArray
    bound: float
    seconds: float


def lp_relaxation(mdl: _Model, *, deadline: float, threads: int | None
                  ) -> LpRelaxation | None:
    """Solve the LP relaxation of ``mdl`` by ``deadline`` (None: not solved by then, or
    HiGHS ended without an optimal basis or a proof of infeasibility).

    Parameters
    ----------
    mdl
        The model (:func:`netplan.optimize.build._build`).
    deadline
        ``time.perf_counter()`` time.
    threads
        HiGHS threads (None: its default).

    Returns
    -------
    LpRelaxation or None
    """
    import highspy

    t0 = time.perf_counter()
    left = deadline - t0
    h = _new_highs()
    watchdog = _set_common(h, msg=False, time_limit_s=left, mip_gap=0.0, threads=threads)
    # serial dual simplex (HiGHS's default): the parallel one (simplex_strategy 2) cut
    # this LP from 27-29 s to 21-23 s on an idle 2-core VM (the same 24,176 iterations),
    # but took 56 s with the other core busy, where the serial one took 27.7 s
    _pass_model(h, mdl, integer=False)
    if _arm_deadline(h, int(mdl.a.nnz), deadline, watchdog) <= 0:
        return None
    _run(h)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        empty = np.empty(0, np.float64)
        return LpRelaxation("infeasible", empty, empty, math.inf, time.perf_counter() - t0)
    if status != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    y = np.asarray(sol.row_dual, np.float64)
    bound = mdl.offset + dual_bound(mdl.a, mdl.c, mdl.col_lo, mdl.col_hi, mdl.row_lo,
                                    mdl.row_hi, y)
    return LpRelaxation("optimal", np.asarray(sol.col_value, np.float64), y, bound,
                        time.perf_counter() - t0)


def _rounded(mdl: _Model, lp: FloatArray, *, deadline: float, mip_gap: float,
             threads: int | None) -> tuple[FloatArray | None, int, int]:
    """The rounded MIP's best plan (None: none), and how many integer columns were left
    free and fixed."""
    ints = np.flatnonzero(mdl.integer)
    at0 = ints[lp[ints] <= mdl.col_lo[ints] + _INTEGRAL]
    at1 = ints[lp[ints] >= mdl.col_hi[ints] - _INTEGRAL]
    lo, hi = mdl.col_lo.copy(), mdl.col_hi.copy()
    hi[at0] = lo[at0]
    lo[at1] = hi[at1]
    sub = replace(mdl, col_lo=lo, col_hi=hi)
    fixed = int(at0.size + at1.size)
    free = ints.size - fixed
    h = _new_highs()
    left = deadline - time.perf_counter()
    watchdog = _set_common(h, msg=False, time_limit_s=left, mip_gap=mip_gap, threads=threads)
    h.cbMipInterrupt.subscribe(_GoodEnough(_GOOD_ENOUGH_FEW if free <= _FEW_FREE
                                           else _GOOD_ENOUGH))
    # its plans are far worse than the rounded LP's, and it delays the root LP: on the
    # 20,000 x 900 bank model the first plan from the LP came at 21.9 s without it, 30.8 s
    # with it
    h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    _pass_model(h, sub)
    if _arm_deadline(h, int(sub.a.nnz), deadline, watchdog) <= 0:
        return None, free, fixed
    _run(h)
    if int(h.getInfo().primal_solution_status) != 2:
        return None, free, fixed
    v, _ = _snap(mdl, h.getSolution().col_value)
    return (v if _check_point(mdl, v) else None), free, fixed


def lp_rounding(mdl: _Model, *, deadline: float, mip_gap: float,
                threads: int | None) -> LpRounding:
    """Solve the LP relaxation, then the MIP with its integral columns fixed (module
    docstring), within shares of the time left before ``deadline``.

    Returns
    -------
    LpRounding
    """
    t0 = time.perf_counter()
    lp = lp_relaxation(mdl, deadline=t0 + _LP_SHARE * max(deadline - t0, 0.0),
                       threads=threads)
    t1 = time.perf_counter()
    if lp is None or lp.status != "optimal":
        logger.info("LP rounding: the LP relaxation did not finish in its share of the time")
        return LpRounding(None, -math.inf, t1 - t0, 0.0, 0, 0)
    values, bound = lp.x, lp.bound
    by = t1 + _RENS_SHARE * max(deadline - t1, 0.0)
    v, free, fixed = _rounded(mdl, values, deadline=by, mip_gap=mip_gap, threads=threads)
    t2 = time.perf_counter()
    logger.info("LP rounding: LP %.6g in %.1f s; %d integer columns fixed, %d free; "
                "plan %s in %.1f s", bound, t1 - t0, fixed, free,
                "none" if v is None else f"{float(mdl.c @ v + mdl.offset):.6g}", t2 - t1)
    return LpRounding(v, bound, t1 - t0, t2 - t1, free, fixed, lp=values)
