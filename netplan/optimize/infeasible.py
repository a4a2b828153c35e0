"""Why a model is infeasible: the constraint family whose relaxation alone restores it.

Run only after a solver reports infeasibility (:func:`netplan.optimize.precheck._precheck`
catches the obvious cases before). Each family of side rows and relaxable column bounds is
relaxed in turn and the model re-checked (its LP relaxation when that is infeasible, short
MIPs otherwise); for the family found, the culprit row and the range the rest of the model
allows are named with their numbers.
"""

from __future__ import annotations

import numpy as np

from netplan._errors import InfeasibleError
from netplan._types import FloatArray
from netplan.optimize._base import _SEED
from netplan.optimize.build import FAMILIES, _Model, _SideRow
from netplan.optimize.highs import _new_highs, _pass_model, _run
from netplan.optimize.problem import FacilityProblem

_Bounds = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
"""Row lower, row upper, column lower and column upper bounds."""


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
        _run(self.h)
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
        _run(self.h)
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(sense * self.h.getInfo().objective_function_value)


class _Relaxed:
    """The model's bounds with some constraint families (and single rows) relaxed."""

    def __init__(self, mdl: _Model, fam_rows: dict[str, list[_SideRow]]) -> None:
        self.mdl = mdl
        self.fam_rows = fam_rows

    def __call__(self, relaxed: set[str], rows_free: tuple[int, ...] = ()) -> _Bounds:
        mdl = self.mdl
        rlo, rhi = mdl.row_lo.copy(), mdl.row_hi.copy()
        clo, chi = mdl.col_lo.copy(), mdl.col_hi.copy()
        for f in relaxed:
            for srow in self.fam_rows.get(f, []):
                rlo[srow.row], rhi[srow.row] = -np.inf, np.inf
            if f in mdl.col_relax:
                cols, lo_, hi_ = mdl.col_relax[f]
                clo[cols], chi[cols] = lo_, hi_
        for r in rows_free:
            rlo[r], rhi[r] = -np.inf, np.inf
        return rlo, rhi, clo, chi


def _diagnose(mdl: _Model, p: FacilityProblem, *, time_limit_s: float) -> InfeasibleError:
    """Find the constraint family whose relaxation alone restores feasibility."""
    fam_rows: dict[str, list[_SideRow]] = {}
    for srow in mdl.side:
        fam_rows.setdefault(srow.family, []).append(srow)
    present = [f for f in FAMILIES if f in fam_rows or (
        f == "site_status" and (p.site_locked.any() or p.site_forbidden.any())) or (
        f == "unserved" and np.isposinf(p.unserved_cost).any())]
    bounds = _Relaxed(mdl, fam_rows)
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
    rows = fam_rows.get(family, [])
    if rows and len(rows) <= 200:
        detail = _culprit_row(rows, feas, lp, bounds)
    elif family == "site_status":
        detail = _site_status_detail(p, feas, bounds)
    elif family == "unserved":
        detail = _unserved_detail(p, lp, bounds)
    else:
        detail = ""
    also = f" Relaxing {'; or '.join(others)} alone would also restore feasibility." if (
        others) else ""
    return InfeasibleError(
        f"the model is infeasible ({what}): relaxing {FAMILIES[family]} alone restores "
        f"feasibility.{detail}{also} Loosen that limit, or the ones it conflicts with.", family)


def _culprit_row(rows: list[_SideRow], feas: _Feas, lp: _Feas, bounds: _Relaxed) -> str:
    """The first row of the family whose relaxation alone restores feasibility, with the
    range of its quantity that the rest of the model allows."""
    mdl = bounds.mdl
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
            return f" Culprit: {srow.label}{rng}."
    return ""


def _site_status_detail(p: FacilityProblem, feas: _Feas, bounds: _Relaxed) -> str:
    """How many sites are locked and forbidden, and a locked site whose unlocking alone
    restores feasibility (when there are few)."""
    locked = np.flatnonzero(p.site_locked)
    forb = np.flatnonzero(p.site_forbidden)
    detail = f" {locked.size} sites are locked open and {forb.size} are forbidden."
    if locked.size <= 50:
        for j in locked.tolist():
            rl, rh, cl, ch = bounds(set())
            cl[bounds.mdl.z0 + j] = 0.0
            if feas.check(rl, rh, cl, ch):
                detail += f" Unlocking site {j} alone restores feasibility."
                break
    return detail


def _unserved_detail(p: FacilityProblem, lp: _Feas, bounds: _Relaxed) -> str:
    """The least demand of must-serve zones that has to go unserved."""
    mdl = bounds.mdl
    rl, rh, cl, ch = bounds({"unserved"})
    must = np.isposinf(p.unserved_cost)
    obj = np.zeros(mdl.n_cols)
    obj[mdl.u0:mdl.r0] = np.where(must, p.demand, 0.0)
    short = lp.extreme(rl, rh, cl, ch, obj, 1)
    if short is None:
        return ""
    return (f" At least {short:,.6g} demand units of zones with unserved_cost = inf "
            f"cannot be served (of {float(p.demand[must].sum()):,.6g}).")


def _row_vec(mdl: _Model, row: int) -> FloatArray:
    return np.asarray(mdl.a[[row], :].toarray(), dtype=np.float64).ravel()
