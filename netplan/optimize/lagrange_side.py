"""The site problem of the Lagrangian relaxation when the model has side constraints.

With the assignment rows relaxed, what is left of the model once the shares x, u and the
overload columns are gone is a small problem over the options y, the open sites z and the
relocations r: every row of the model that reads none of x, u or v (one option per site,
locked / forbidden sites, relocations, group limits, openings and closures, option limits,
the budget, the share outside the ring, the exact count). The load-balance rows read x and
are dropped, which only lowers the bound, so it stays valid.

:class:`SideProblem` keeps that problem in one HiGHS instance and re-solves it with new
option costs: as an LP in every subgradient step (its value is a lower bound on the
integer site problem's, so ``L`` stays a valid bound) and as a MIP, with a short time
limit, for plans and for the final bound (the MIP's proven dual bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from netplan._types import FloatArray, IntArray
from netplan.optimize.build import _Model

__all__ = ["SideProblem", "SideSolution"]


@dataclass(frozen=True, eq=False)
class SideSolution:
    """One solve of the site problem.

    Attributes
    ----------
    bound
        A lower bound on its optimum (its value for the LP; the proven bound for the MIP),
        the model's constant offset included.
    y
        (n_opts,) option values (fractional for the LP); None when no solution was found.
    r
        (n_reloc,) relocation values.
    """

    bound: float
    y: FloatArray | None
    r: FloatArray | None


class SideProblem:
    """The site problem of ``mdl`` (see the module), solved again and again."""

    def __init__(self, mdl: _Model) -> None:
        a = mdl.a
        cols = np.r_[np.arange(mdl.y0, mdl.x0), np.arange(mdl.r0, mdl.v0)]
        bad = np.zeros(mdl.n_rows, dtype=np.bool_)
        bad[a[:, mdl.x0:mdl.r0].indices] = True
        bad[a[:, mdl.v0:].indices] = True
        rows = np.flatnonzero(~bad)
        self.mdl = mdl
        self.cols = cols
        self.n_y = mdl.z0 - mdl.y0
        self.n_yz = mdl.x0 - mdl.y0
        sub = a[:, cols].tocsr()[rows].tocsc()
        self.fixed_cost = np.asarray(mdl.c[cols], dtype=np.float64)
        self._lp = self._highs(sub, mdl.row_lo[rows], mdl.row_hi[rows], integer=False)
        self._mip = self._highs(sub, mdl.row_lo[rows], mdl.row_hi[rows], integer=True)

    def _highs(self, sub: Any, lo: FloatArray, hi: FloatArray, *, integer: bool) -> Any:
        from netplan.optimize.highs import _new_highs, pass_arrays, use_threads

        mdl, cols = self.mdl, self.cols
        h = _new_highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        use_threads(h, 1)
        pass_arrays(h, sub, self.fixed_cost, offset=0.0, col_lo=mdl.col_lo[cols],
                    col_hi=mdl.col_hi[cols], row_lo=lo, row_hi=hi,
                    integer=mdl.integer[cols] if integer else None)
        return h

    def _costs(self, h: Any, opt_value: FloatArray) -> None:
        c = self.fixed_cost.copy()
        c[:self.n_y] = opt_value
        h.changeColsCost(c.size, np.arange(c.size, dtype=np.int32), c)

    def solve_lp(self, opt_value: FloatArray) -> SideSolution:
        """The LP relaxation with ``opt_value`` as the options' costs."""
        import highspy

        h = self._lp
        self._costs(h, opt_value)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return SideSolution(-math.inf, None, None)
        v = np.asarray(h.getSolution().col_value, dtype=np.float64)
        obj = float(h.getInfo().objective_function_value)
        return SideSolution(obj + self.mdl.offset, v[:self.n_y], v[self.n_yz:])

    def solve_mip(self, opt_value: FloatArray, time_limit_s: float) -> SideSolution:
        """The integer site problem, within ``time_limit_s``: its proven bound and plan."""
        h = self._mip
        self._costs(h, opt_value)
        h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
        h.run()
        info = h.getInfo()
        bound = float(info.mip_dual_bound)
        if not math.isfinite(bound):
            return SideSolution(-math.inf, None, None)
        if int(info.primal_solution_status) != 2:
            return SideSolution(bound + self.mdl.offset, None, None)
        v = np.asarray(np.round(h.getSolution().col_value), dtype=np.float64)
        return SideSolution(bound + self.mdl.offset, v[:self.n_y], v[self.n_yz:])


def options_of(y: FloatArray, opt_site: IntArray, n_sites: int) -> IntArray:
    """(n_sites,) the option an integer ``y`` runs at each site (-1 = none)."""
    so = np.full(n_sites, -1, dtype=np.int64)
    on = np.flatnonzero(y > 0.5)
    so[opt_site[on]] = on
    return so
