"""The same model through PuLP: CBC, HiGHS, Gurobi, CPLEX ... whatever PuLP can drive.

Slower to build than the direct HiGHS backend (one Python object per variable and row), but
any solver PuLP knows can check netplan's results. The continuous part of a PuLP solution
is re-solved exactly with HiGHS (:func:`_polish`) so that the reported objective is the
plan's true cost.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any, Final

import numpy as np

from netplan._errors import SolverError
from netplan._types import FloatArray
from netplan.optimize._base import _SEED, Progress
from netplan.optimize.build import _Model
from netplan.optimize.highs import (
    _check_point,
    _new_highs,
    _pass_model,
    _Raw,
    _run,
    _warm_vector,
)
from netplan.optimize.problem import FacilityProblem, _entry_zones

_END_WAIT_S: Final = 1.0
"""How long a solver process may take to end after SIGTERM before it is killed."""


def _col_names(mdl: _Model, p: FacilityProblem) -> list[str]:
    cost = p.cost
    zi = _entry_zones(p)
    names = [f"y{o}" for o in range(p.n_opts)]
    names += [f"z{j}" for j in range(p.n_sites)]
    names += [f"x{i}_{j}" for i, j in zip(zi.tolist(), cost.indices.tolist(), strict=True)]
    names += [f"u{i}" for i in range(p.n_zones)]
    names += [f"r{k}" for k in range(p.reloc_from.size)]
    names += [f"v{j}" if b == 0 else f"v{j}_{b}"  # one overload column per (site, block)
              for j, b in zip(mdl.bal_sites.tolist(), mdl.bal_block.tolist(), strict=True)]
    return names + ["t"] * (mdl.t0 >= 0)  # the epigraph column of block_objective="worst"


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


def _pulp_model(mdl: _Model, p: FacilityProblem) -> tuple[Any, list[Any]]:
    """The model as a ``pulp.LpProblem`` and its variables, in column order."""
    import pulp

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
    return prob, xs


def _solve_pulp(
    mdl: _Model, p: FacilityProblem, *, solver: str, time_limit_s: float | None,
    mip_gap: float, threads: int | None, msg: bool, progress: Progress | None,
) -> tuple[_Raw, float]:
    """Solve ``mdl`` through PuLP; returns the result and the seconds spent building."""
    import pulp

    t0 = time.perf_counter()
    prob, xs = _pulp_model(mdl, p)
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
        with _own_files(sol), _ending_children():
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
    bound, timed_out = _pulp_bound(mdl, prob, sol, time_limit_s=time_limit_s, secs=secs)
    st = _pulp_status(prob, v, timed_out=timed_out)
    return _Raw(st, v, bound, secs, pulp.LpStatus.get(prob.status, str(prob.status))), build


@contextmanager
def _own_files(sol: Any) -> Iterator[None]:
    """A command-line solver's files in a temporary folder of its own, removed after.

    PuLP leaves them in the system's temporary folder when the solve is interrupted.
    """
    if not hasattr(sol, "tmpDir"):  # a solver PuLP drives in-process
        yield
        return
    with tempfile.TemporaryDirectory(prefix="netplan-pulp-") as tmp:
        sol.tmpDir = tmp
        yield


@contextmanager
def _ending_children() -> Iterator[None]:
    """Ctrl-C during the block also ends the solver processes the block started (CBC ...).

    PuLP waits for a command-line solver without ending it on KeyboardInterrupt; it would
    run on, orphaned, until its time limit.
    """
    import psutil

    me = psutil.Process()
    before = {c.pid for c in me.children()}
    try:
        yield
    except BaseException:
        started = [c for c in me.children() if c.pid not in before]
        for c in started:
            with suppress(psutil.NoSuchProcess):
                c.terminate()
        _, alive = psutil.wait_procs(started, timeout=_END_WAIT_S)
        for c in alive:
            with suppress(psutil.NoSuchProcess):
                c.kill()
        raise


def _pulp_bound(mdl: _Model, prob: Any, sol: Any, *, time_limit_s: float | None,
                secs: float) -> tuple[float, bool]:
    """The solver's bound (HiGHS only, else nan) and whether the time limit stopped it."""
    bound = math.nan
    hs = getattr(prob, "solverModel", None)
    timed_out = False
    if hs is not None and sol.name == "HiGHS":
        import highspy

        info = hs.getInfo()
        if mdl.integer.any():
            bound = float(info.mip_dual_bound)
        timed_out = hs.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
    elif time_limit_s is not None and secs >= 0.95 * time_limit_s:
        timed_out = True
    return bound, timed_out


def _pulp_status(prob: Any, v: FloatArray | None, *, timed_out: bool) -> str:
    """netplan's status name for a PuLP result."""
    import pulp

    st_code, sol_code = prob.status, prob.sol_status
    if st_code == pulp.LpStatusInfeasible:
        return "infeasible"
    if st_code == pulp.LpStatusUnbounded:
        return "unbounded"
    if v is None:
        return "time_limit" if timed_out else "error"
    if sol_code == pulp.LpSolutionOptimal and not timed_out:
        return "optimal"
    if timed_out:
        return "time_limit"
    return "feasible"


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
    _run(h)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return v
    w = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if float(mdl.c @ w) > float(mdl.c @ v) + 1e-6 * max(1.0, abs(float(mdl.c @ v))):
        return v
    return w
