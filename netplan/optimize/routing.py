"""The model's value of fixed site decisions: the best routing of the zones, one LP.

A plan put together outside the model (district plans merged into a city plan, a plan
edited by hand) has decisions (which option each site runs, which moves are made) and
some routing of its zones. What the model says such a plan costs is the cost of its
decisions with the *best* routing for them, exactly as the model values its own plans:
``min`` of the model's objective over the assignment shares ``x``, the unserved shares
``u`` and the overloads ``v``, with every option ``y``, site ``z`` and move ``r`` column
fixed to the plan. That is a linear programme over the model's rows; the side-constraint
rows (budget, limits, shares) hold decision columns only, so with the decisions fixed
they are left out (whether the decisions keep them is the caller's check).

A lower bound on the model's optimum (a solver's, or a decomposition's) and this value
then give a true gap for the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from netplan._errors import SolverError
from netplan._types import BoolArray, FloatArray, IntArray
from netplan.optimize._base import _TOL
from netplan.optimize.build import _build, _Model
from netplan.optimize.highs import _new_highs, _pass_model, _run, _set_common
from netplan.optimize.problem import FacilityProblem, _entry_zones

__all__ = ["Routing", "best_routing"]


@dataclass(frozen=True, eq=False)
class Routing:
    """The best routing of a plan's zones and what the plan then costs.

    Attributes
    ----------
    objective
        The model's objective of the plan (constants included, as
        :attr:`netplan.optimize.Solution.objective`).
    zone, site, share
        The assigned (zone, site) pairs and the share of the zone's demand served there
        (shares above 1e-9 only).
    unserved_share
        ``(n_zones,)`` share of each zone's demand left unserved.
    """

    objective: float
    zone: IntArray
    site: IntArray
    share: FloatArray
    unserved_share: FloatArray


def _fixed(mdl: _Model, p: FacilityProblem, site_option: IntArray,
           relocated: BoolArray) -> _Model:
    """``mdl`` with the decision columns fixed to the plan, its side rows dropped and no
    integer column left (an LP)."""
    opt = np.asarray(site_option, np.int64)
    if opt.shape != (p.n_sites,) or (opt >= p.n_opts).any():
        raise ValueError(f"site_option: one option index (< {p.n_opts}) or -1 per site "
                         f"({p.n_sites}), got shape {opt.shape}")
    rel = np.asarray(relocated, bool)
    n_moves = mdl.v0 - mdl.r0
    if rel.shape != (n_moves,):
        raise ValueError(f"relocated: one flag per move of the model ({n_moves}), got "
                         f"shape {rel.shape}")
    y = np.zeros(p.n_opts)
    y[opt[opt >= 0]] = 1.0
    dec = np.concatenate([y, (opt >= 0).astype(np.float64), rel.astype(np.float64)])
    cols = np.concatenate([np.arange(mdl.y0, mdl.x0), np.arange(mdl.r0, mdl.v0)])
    lo, hi = mdl.col_lo.copy(), mdl.col_hi.copy()
    outside = (dec < lo[cols] - _TOL) | (dec > hi[cols] + _TOL)
    if outside.any():
        raise SolverError(f"the plan breaks {int(outside.sum())} fixed decision(s) of the "
                          "model (a locked site closed, a forbidden one open, or a move "
                          "that cannot be made)")
    lo[cols] = dec
    hi[cols] = dec
    row_lo, row_hi = mdl.row_lo.copy(), mdl.row_hi.copy()
    side = np.array([s.row for s in mdl.side], np.int64)
    row_lo[side], row_hi[side] = -math.inf, math.inf
    return replace(mdl, col_lo=lo, col_hi=hi, row_lo=row_lo, row_hi=row_hi,
                   integer=np.zeros_like(mdl.integer))


def best_routing(p: FacilityProblem, site_option: IntArray, relocated: BoolArray, *,
                 threads: int | None = None) -> Routing:
    """Route the zones as cheaply as the model allows for fixed decisions (module
    docstring).

    Parameters
    ----------
    p
        The model's problem.
    site_option
        ``(n_sites,)`` the option each site runs, ``-1``: not open.
    relocated
        One flag per relocation pair of ``p`` (``reloc_from``): the move is made.
    threads
        Solver threads (None: HiGHS's default).

    Returns
    -------
    Routing

    Raises
    ------
    ValueError
        When ``site_option`` or ``relocated`` do not fit ``p``.
    SolverError
        When the decisions break a fixed column of the model or leave zones that must be
        served without the capacity to serve them.
    """
    import highspy

    mdl = _build(p)
    lp = _fixed(mdl, p, site_option, relocated)
    h = _new_highs()
    _set_common(h, msg=False, time_limit_s=None, mip_gap=0.0, threads=threads)
    _pass_model(h, lp)
    _run(h)
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"no routing of the zones fits these decisions "
                          f"({h.modelStatusToString(status)}): they break a move's rows, or "
                          "zones that must be served lack open capacity within reach")
    v = np.asarray(h.getSolution().col_value, np.float64)
    x = np.clip(v[mdl.x0:mdl.u0], 0.0, 1.0)
    keep = np.flatnonzero(x > _TOL)
    u = np.clip(v[mdl.u0:mdl.r0], 0.0, 1.0)
    u[u < _TOL] = 0.0
    return Routing(objective=float(h.getInfo().objective_function_value),
                   zone=_entry_zones(p)[keep],
                   site=np.asarray(p.cost.indices, np.int64)[keep],
                   share=x[keep], unserved_share=u)
