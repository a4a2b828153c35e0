"""A Lagrangian dual of a MILP split into column blocks: a valid lower bound, by rounds.

The model is the matrix form of :mod:`netplan.optimize.build` (``a`` rows x cols, costs
``c`` and a constant ``offset``, column bounds ``l <= x <= u``, row bounds
``lo <= a x <= hi``); ``col_block`` puts every column in one block. A row whose nonzeros
fall in more than one block *links* blocks; it is relaxed with a multiplier ``pi_r`` (one
free multiplier for a ranged or equality row: ``pi_r >= 0`` prices its ``lo`` side,
``pi_r <= 0`` its ``hi`` side; a one-sided row fixes the sign). For any admissible ``pi``::

    L(pi) = offset + sum_r (pi_r^+ lo_r - pi_r^- hi_r)
            + sum_b min { (c - A_link^T pi)_b x_b : block b's own rows, l_b <= x_b <= u_b }

is a lower bound on the MILP optimum, and so is any lower bound of each block's minimum.
Each block is solved as an LP (integrality dropped, which keeps the bound valid) by one
HiGHS object that lives as long as the block is used and whose costs alone change between
rounds, so each re-solve starts from the last basis. Columns in no row of their block are
minimised at a bound. The block value taken is not HiGHS's objective but a *safe* dual
bound computed from its row duals ``y`` (any ``y`` gives one, see :func:`dual_bound`), so
the bound does not rest on the LP being solved to tolerance.

:func:`dual_ascent` maximises ``L`` by subgradient steps of Polyak's length towards an
upper bound (a known plan's objective), halving the step factor after rounds without a
better bound, until a deadline, a round limit or a target gap. Each step is deflected
(Camerini, Fratta & Maffioli 1975): where the new subgradient turns back against the last
direction, that direction is added in proportion (:data:`_DEFLECT`), which damps the zigzag
of plain subgradient steps. On the Beijing model split by district (2,750 linking rows,
LP blocks, 24 s in one process) the bound reached 2.559e9 this way; plain steps, halved
after 3 rounds without progress, stopped at 2.472e9 (the LP bound is 2.588e9). One
round's block solves go through ``map_blocks`` (in this process by default), so that a
caller can run them on a cluster: the blocks are plain data (:class:`Block`), sent once;
each round sends the multipliers only, and the HiGHS objects stay where the blocks were
first solved (:func:`solve_block`, :func:`release_blocks`).

The LP blocks cannot pass the LP bound of the whole model. With ``integer=True`` the
ascent solves every block as a MIP (:func:`solve_block_mip`: its proven dual bound, and
the activity of its best plan as the subgradient), which maximises the dual of the
integer blocks: a bound between the LP bound and the MILP optimum that passes the LP
bound where the blocks' own integrality matters (several formats per site, district
limits). Started from the LP ascent's multipliers, it costs one MIP per block and round.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import scipy.sparse as sp

from netplan._types import FloatArray, IntArray

__all__ = ["Block", "BlockResult", "BlockSolver", "Decomposition", "DualResult", "MapBlocks",
           "dual_ascent", "dual_bound", "integer_round", "linking_rows", "release_blocks",
           "solve_block", "solve_block_mip", "split_blocks"]

_STALL: Final = 10
"""Rounds without a better bound after which the step factor halves (3 stopped the ascent
on the Beijing model at 2.47e9, its step too small, after 85 rounds)."""
_DEFLECT: Final = 1.5
"""The deflection's factor: a direction ``d`` and a new subgradient ``g`` with ``g.d < 0``
give the direction ``g - _DEFLECT (g.d / d.d) d`` (1.5 as Camerini et al. advise; 1.0 gave
2.553e9 instead of 2.561e9 in one pair of runs of the module docstring's measurement)."""
_MIN_THETA: Final = 1e-3
"""The step factor at which the ascent stops."""
_MIN_BLOCK_S: Final = 0.05
"""With ``block_seconds``, a round whose blocks would get less than this each is not run."""


@dataclass(frozen=True, eq=False)
class Block:
    """One block of columns: its own rows (an LP), its part of the linking rows.

    Attributes
    ----------
    key
        Names the block's solver object in :func:`solve_block`'s cache (unique per split).
    c, col_lo, col_hi
        Costs and bounds of the block's columns.
    link
        The linking rows restricted to the block's columns (n_link x n_cols, CSC).
    lp_cols
        The block's columns that lie in one of its own rows (the others are minimised
        at a bound).
    a, row_lo, row_hi
        The block's own rows over ``lp_cols`` (CSC) and their bounds.
    integer
        Which of ``lp_cols`` are integer (used by :func:`solve_block_mip` only).
    """

    key: str
    c: FloatArray
    col_lo: FloatArray
    col_hi: FloatArray
    link: Any
    lp_cols: IntArray
    a: Any
    row_lo: FloatArray
    row_hi: FloatArray
    integer: Any


@dataclass(frozen=True, eq=False)
class BlockResult:
    """A block's minimum for one set of multipliers.

    Attributes
    ----------
    bound
        A safe lower bound of the block's minimum (``-inf`` if none could be proven).
    lp_value
        HiGHS's objective of the block LP plus the columns at their bounds (for reports).
    activity
        The block's contribution ``A_link,b x_b`` to every linking row.
    status
        HiGHS's model status (``"none"`` for a block without rows).
    """

    bound: float
    lp_value: float
    activity: FloatArray
    status: str


@dataclass(frozen=True, eq=False)
class Decomposition:
    """A model split into blocks along ``col_block`` (:func:`split_blocks`).

    Attributes
    ----------
    blocks
        One :class:`Block` per block label that holds columns, in label order.
    link_rows
        Row numbers (of the model) of the linking rows.
    link_lo, link_hi
        Their bounds, scaled by ``link_scale``.
    link_scale
        Each linking row is relaxed as ``link_scale`` times the model's row (a largest
        coefficient of 1); the multipliers of the ascent are those of the scaled rows.
    offset
        The model's constant.
    """

    blocks: tuple[Block, ...]
    link_rows: IntArray
    link_lo: FloatArray
    link_hi: FloatArray
    link_scale: FloatArray
    offset: float


@dataclass(frozen=True, eq=False)
class DualResult:
    """The best Lagrangian bound found, its multipliers and how it was reached.

    Attributes
    ----------
    bound
        The best ``L(pi)`` (a valid lower bound on the MILP optimum).
    start_bound
        ``L`` at the starting multipliers.
    pi
        The multipliers of the best bound, one per linking row.
    link_rows
        The linking rows (model row numbers), in the order of ``pi``.
    rounds, seconds
        Rounds made (block solves of all blocks) and the wall time of the ascent.
    stop
        Why it stopped: ``"gap"``, ``"deadline"``, ``"rounds"``, ``"step"`` (the step
        became too small, or the subgradient vanished), or ``"infeasible"`` (a block, and
        so the model, has no solution: ``bound`` is then ``-inf``).
    history
        ``L`` of every round.
    """

    bound: float
    start_bound: float
    pi: FloatArray
    link_rows: IntArray
    rounds: int
    seconds: float
    stop: str
    history: tuple[float, ...]


INFEASIBLE: Final = "Infeasible"
"""HiGHS's status of an infeasible block (:attr:`BlockResult.status`)."""

BlockSolver = Callable[[Block, FloatArray, float], BlockResult]
"""Solves one block at multipliers ``pi`` within ``time_limit_s`` (:func:`solve_block`)."""
MapBlocks = Callable[[BlockSolver, Sequence[Block], FloatArray, float], list[BlockResult]]
"""Runs ``solve(block, pi, time_limit_s)`` for every block and returns the results in order."""


def linking_rows(a: Any, col_block: IntArray) -> tuple[IntArray, IntArray]:
    """Which rows link blocks, and the block of every other row.

    Parameters
    ----------
    a
        The constraint matrix (rows x cols, any scipy sparse format).
    col_block
        The block of every column.

    Returns
    -------
    link : IntArray
        The rows whose nonzeros fall in more than one block.
    row_block : IntArray
        Per row: its block, ``-1`` for linking and empty rows.
    """
    csr = sp.csr_array(a)
    csr.eliminate_zeros()
    n_rows = int(csr.shape[0])
    row_block = np.full(n_rows, -1, dtype=np.int64)
    nz = np.flatnonzero(np.diff(csr.indptr) > 0)
    if nz.size:
        blk = np.asarray(col_block, np.int64)[csr.indices]
        starts = csr.indptr[nz]
        lo = np.minimum.reduceat(blk, starts)
        hi = np.maximum.reduceat(blk, starts)
        one = lo == hi
        row_block[nz[one]] = lo[one]
        return nz[~one].astype(np.int64), row_block
    return np.empty(0, np.int64), row_block


_SPLITS = itertools.count()


def split_blocks(a: Any, c: FloatArray, offset: float, col_lo: FloatArray,  # noqa: PLR0913
                 col_hi: FloatArray, row_lo: FloatArray, row_hi: FloatArray,
                 col_block: IntArray, integer: Any = None) -> Decomposition:
    """The blocks of a model and its linking rows (see the module docstring).

    Parameters
    ----------
    a, c, offset, col_lo, col_hi, row_lo, row_hi
        The model (``a`` rows x cols, sparse).
    col_block
        The block of every column (non-negative integers).
    integer
        Which columns are integer (default none).

    Returns
    -------
    Decomposition
    """
    col_block = np.asarray(col_block, np.int64)
    if col_block.shape != (int(a.shape[1]),) or (col_block < 0).any():
        raise ValueError(f"col_block needs one non-negative block per column "
                         f"({int(a.shape[1])}), got shape {col_block.shape}")
    link, row_block = linking_rows(a, col_block)
    csc = sp.csc_array(a)
    a_link = csr_link = sp.csr_array(csc[link, :]) if link.size else \
        sp.csr_array((0, csc.shape[1]))
    # each linking row scaled to a largest coefficient of 1 (the ascent's step treats all
    # rows alike); its multiplier is scaled back in the result
    big = np.zeros(link.size)
    nz = np.flatnonzero(np.diff(csr_link.indptr) > 0)
    if nz.size:
        big[nz] = np.maximum.reduceat(np.abs(csr_link.data), csr_link.indptr[nz])
    scale = np.where(big > 0, 1.0 / np.where(big > 0, big, 1.0), 1.0)
    a_link = sp.csc_array(sp.diags_array(scale) @ a_link)
    csr = sp.csr_array(a)
    split = next(_SPLITS)
    is_int = np.zeros(int(a.shape[1]), bool) if integer is None else np.asarray(integer, bool)
    blocks = []
    for b in np.unique(col_block).tolist():
        cols = np.flatnonzero(col_block == b)
        rows = np.flatnonzero(row_block == b)
        own = sp.csc_array(csr[rows, :][:, cols])
        lp_cols = np.flatnonzero(np.diff(own.indptr) > 0).astype(np.int64)
        blocks.append(Block(
            key=f"{split}:{b}:{time.time_ns()}", c=np.asarray(c, np.float64)[cols],
            col_lo=np.asarray(col_lo, np.float64)[cols],
            col_hi=np.asarray(col_hi, np.float64)[cols],
            link=sp.csc_array(a_link[:, cols]), lp_cols=lp_cols,
            a=sp.csc_array(own[:, lp_cols]), row_lo=np.asarray(row_lo, np.float64)[rows],
            row_hi=np.asarray(row_hi, np.float64)[rows], integer=is_int[cols][lp_cols]))
    return Decomposition(blocks=tuple(blocks), link_rows=link,
                         link_lo=np.asarray(row_lo, np.float64)[link] * scale,
                         link_hi=np.asarray(row_hi, np.float64)[link] * scale,
                         link_scale=scale, offset=float(offset))


# --- one block --------------------------------------------------------------------------


def dual_bound(a: Any, c: FloatArray, col_lo: FloatArray, col_hi: FloatArray,
               row_lo: FloatArray, row_hi: FloatArray, y: FloatArray) -> float:
    """A lower bound of ``min c x : row_lo <= a x <= row_hi, col_lo <= x <= col_hi`` from
    any row duals ``y``.

    ``y`` is first projected onto the signs the row bounds allow (``y_r > 0`` needs a
    finite ``row_lo``, ``y_r < 0`` a finite ``row_hi``); with ``d = c - a^T y`` the bound
    is ``sum_r (y_r^+ lo_r - y_r^- hi_r) + sum_j (d_j^+ l_j - d_j^- u_j)``, ``-inf`` when a
    reduced cost points at an infinite column bound. It holds for every ``y``: it is the
    Lagrangian of the rows at ``y``, minimised over the column box.

    Returns
    -------
    float
    """
    y = np.asarray(y, np.float64).copy()
    y[(y > 0) & ~np.isfinite(row_lo)] = 0.0
    y[(y < 0) & ~np.isfinite(row_hi)] = 0.0
    d = np.asarray(c, np.float64) - (sp.csc_array(a).T @ y if y.size else 0.0)
    pos, neg = np.maximum(d, 0.0), np.maximum(-d, 0.0)
    if np.any((pos > 0) & ~np.isfinite(col_lo)) or np.any((neg > 0) & ~np.isfinite(col_hi)):
        return -math.inf
    yp, yn = np.maximum(y, 0.0), np.maximum(-y, 0.0)
    rows = float(np.dot(yp[yp > 0], row_lo[yp > 0]) - np.dot(yn[yn > 0], row_hi[yn > 0]))
    cols = float(np.dot(pos[pos > 0], col_lo[pos > 0]) - np.dot(neg[neg > 0], col_hi[neg > 0]))
    return rows + cols


def _at_bounds(d: FloatArray, lo: FloatArray, hi: FloatArray) -> tuple[float, FloatArray]:
    """``min d x`` over the box, and a minimiser (lower bound where ``d == 0``)."""
    x = np.where(d < 0, hi, lo)
    if np.any((d > 0) & ~np.isfinite(lo)) or np.any((d < 0) & ~np.isfinite(hi)):
        return -math.inf, np.where(np.isfinite(x), x, 0.0)
    x = np.where(np.isfinite(x), x, 0.0)
    return float(np.dot(d, x)), x


_SOLVERS: dict[str, Any] = {}
"""Block key -> its HiGHS object, kept between rounds in the process that solves the block
(a worker of a cluster, or this one); :func:`release_blocks` drops them."""


def _solver_of(blk: Block, cost: FloatArray, *, integer: bool = False) -> Any:
    from netplan.optimize.highs import _new_highs, pass_arrays

    h = None if integer else _SOLVERS.get(blk.key)
    if h is not None:
        h.changeColsCost(blk.lp_cols.size, np.arange(blk.lp_cols.size, dtype=np.int32), cost)
        return h
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    pass_arrays(h, blk.a, cost, offset=0.0, col_lo=blk.col_lo[blk.lp_cols],
                col_hi=blk.col_hi[blk.lp_cols], row_lo=blk.row_lo, row_hi=blk.row_hi,
                integer=blk.integer if integer else None)
    if not integer:
        _SOLVERS[blk.key] = h
    return h


def solve_block(blk: Block, pi: FloatArray, time_limit_s: float) -> BlockResult:
    """Block ``blk``'s safe minimum at multipliers ``pi`` (warm from its last solve here).

    Parameters
    ----------
    blk
        The block.
    pi
        One multiplier per linking row.
    time_limit_s
        Seconds the LP may take (a stopped LP still gives a valid, weaker bound).

    Returns
    -------
    BlockResult
    """
    d = blk.c - (blk.link.T @ pi if blk.link.shape[0] else 0.0)
    free = np.ones(d.size, dtype=bool)
    free[blk.lp_cols] = False
    val, x = _at_bounds(d[free], blk.col_lo[free], blk.col_hi[free])
    x_all = np.zeros(d.size)
    x_all[free] = x
    bound = lp_value = val
    status = "none"
    if blk.lp_cols.size:
        cost = d[blk.lp_cols]
        h = _solver_of(blk, cost)
        h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        sol = h.getSolution()
        xl = np.asarray(sol.col_value, np.float64)
        if sol.dual_valid and xl.size == blk.lp_cols.size:
            y = np.asarray(sol.row_dual, np.float64)
            bound += dual_bound(blk.a, cost, blk.col_lo[blk.lp_cols], blk.col_hi[blk.lp_cols],
                                blk.row_lo, blk.row_hi, y)
        else:
            bound = -math.inf
        if xl.size == blk.lp_cols.size:
            x_all[blk.lp_cols] = xl
            lp_value += float(np.dot(cost, xl))
    act = np.asarray(blk.link @ x_all, np.float64) if blk.link.shape[0] else np.zeros(0)
    return BlockResult(bound=bound, lp_value=lp_value, activity=act, status=status)


def solve_block_mip(blk: Block, pi: FloatArray, time_limit_s: float,
                    mip_gap: float = 1e-3) -> BlockResult:
    """Block ``blk``'s minimum at ``pi`` with its integer columns kept integer.

    The value is HiGHS's proven dual bound of the block MIP (valid when it stops at the
    time limit or the gap), plus the columns at their bounds: at least the LP block's.
    The activity is that of HiGHS's best plan of the block (of the columns at their bounds
    alone if it found none): a subgradient of the integer blocks' dual when the block is
    solved, an approximate one otherwise, which steers the ascent and leaves every bound
    valid.

    Returns
    -------
    BlockResult
    """
    d = blk.c - (blk.link.T @ pi if blk.link.shape[0] else 0.0)
    free = np.ones(d.size, dtype=bool)
    free[blk.lp_cols] = False
    bound, x = _at_bounds(d[free], blk.col_lo[free], blk.col_hi[free])
    x_all = np.zeros(d.size)
    x_all[free] = x
    lp_value, status = bound, "none"
    if blk.lp_cols.size:
        h = _solver_of(blk, d[blk.lp_cols], integer=bool(blk.integer.any()))
        h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        h.run()
        info = h.getInfo()
        status = h.modelStatusToString(h.getModelStatus())
        sol = h.getSolution()
        if blk.integer.any():
            dual = float(info.mip_dual_bound)
        else:  # an LP: its safe dual bound
            dual = dual_bound(blk.a, d[blk.lp_cols], blk.col_lo[blk.lp_cols],
                              blk.col_hi[blk.lp_cols], blk.row_lo, blk.row_hi,
                              np.asarray(sol.row_dual, np.float64)) \
                if sol.dual_valid else -math.inf
        bound += dual if math.isfinite(dual) else -math.inf
        lp_value += float(info.objective_function_value)
        xl = np.asarray(sol.col_value, np.float64)
        if int(info.primal_solution_status) == 2 and xl.size == blk.lp_cols.size:
            x_all[blk.lp_cols] = xl
    act = np.asarray(blk.link @ x_all, np.float64) if blk.link.shape[0] else np.zeros(0)
    return BlockResult(bound=bound, lp_value=lp_value, activity=act, status=status)


def integer_round(dec: Decomposition, pi: FloatArray, *, seconds: float,
                  mip_gap: float = 1e-3, map_blocks: MapBlocks | None = None) -> float:
    """``L(pi)`` with every block solved as a MIP (``pi`` in the model's units): one round
    of :func:`dual_ascent` with ``integer=True``.

    Parameters
    ----------
    dec
        The split model (built with ``integer``).
    pi
        Multipliers of the linking rows, e.g. :attr:`DualResult.pi`.
    seconds, mip_gap
        Time limit and relative gap of each block MIP.
    map_blocks
        As in :func:`dual_ascent`.

    Returns
    -------
    float
        A valid lower bound on the MILP optimum (``-inf`` if a block proved none).
    """
    return dual_ascent(dec, pi0=pi, seconds=math.inf, max_rounds=1, map_blocks=map_blocks,
                       integer=True, block_seconds=seconds, mip_gap=mip_gap).bound


def release_blocks(keys: Sequence[str]) -> int:
    """Drop the HiGHS objects of these blocks from this process; how many were held."""
    return sum(_SOLVERS.pop(k, None) is not None for k in keys)


def _in_process(solve: BlockSolver, blocks: Sequence[Block], pi: FloatArray,
                time_limit_s: float) -> list[BlockResult]:
    return [solve(b, pi, time_limit_s) for b in blocks]


# --- the ascent -------------------------------------------------------------------------


def _admissible(pi: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """``pi`` with the signs the rows allow (>= 0 without ``hi``, <= 0 without ``lo``)."""
    out = np.where(np.isfinite(lo), pi, np.minimum(pi, 0.0))
    return np.where(np.isfinite(hi), out, np.maximum(out, 0.0))


def _subgradient(pi: FloatArray, act: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """A subgradient of ``L`` at ``pi``: ``lo - ax`` where ``pi > 0``, ``hi - ax`` where
    ``pi < 0``, and the violated side (else 0) where ``pi == 0``."""
    below = np.where(np.isfinite(lo), lo - act, 0.0)
    above = np.where(np.isfinite(hi), hi - act, 0.0)
    at0 = np.maximum(below, 0.0) + np.minimum(above, 0.0)
    return np.where(pi > 0, below, np.where(pi < 0, above, at0))


def _value(dec: Decomposition, pi: FloatArray, res: Sequence[BlockResult]) -> float:
    pp, pn = np.maximum(pi, 0.0), np.maximum(-pi, 0.0)
    rows = float(np.dot(pp[pp > 0], dec.link_lo[pp > 0]) - np.dot(pn[pn > 0], dec.link_hi[pn > 0]))
    return dec.offset + rows + math.fsum(r.bound for r in res)


def _polyak(dec: Decomposition, pi: FloatArray, res: Sequence[BlockResult], *, val: float,
            best: float, upper: float | None, st: _Ascent) -> FloatArray | None:
    """The next multipliers: Polyak's step along the deflected subgradient towards
    ``upper`` (or 1% above the best bound); None when the subgradient is zero. Keeps the
    direction taken in ``st``."""
    lo, hi = dec.link_lo, dec.link_hi
    act = np.sum([r.activity for r in res], axis=0) if res else np.zeros(lo.size)
    g = _subgradient(pi, act, lo, hi)
    if not np.any(g):
        return None
    d = st.direction
    if d is not None:
        gd = float(np.dot(g, d))
        if gd < 0:
            g = g - _DEFLECT * gd / float(np.dot(d, d)) * d
    st.direction = g
    norm2 = float(np.dot(g, g))
    if norm2 <= 0:
        return None
    here = val if math.isfinite(val) else best
    target = upper if upper is not None and upper > best else best + 0.01 * max(abs(best), 1.0)
    step = st.theta * (target - here) / norm2 if math.isfinite(here) else st.theta
    return _admissible(pi + step * g, lo, hi)


def _round_limit(deadline: float, block_seconds: float | None, run: Any,
                 n_blocks: int) -> float | None:
    """Seconds each block of the next round may take (None: no round before the
    deadline): the time left, or with ``block_seconds`` at most that and at most the time
    left shared by the blocks, ``run.slots`` of them at a time, so that a round of MIPs
    ends by the deadline."""
    left = deadline - time.perf_counter()
    if left <= 0:
        return None
    if block_seconds is None:
        return left
    limit = min(block_seconds, left * int(getattr(run, "slots", 1)) / max(n_blocks, 1))
    return None if limit < _MIN_BLOCK_S else limit


@dataclass
class _Ascent:
    """The ascent's state: the best bound and its multipliers, the step factor (halved
    after :data:`_STALL` rounds without a better bound) and every round's value."""

    best_pi: FloatArray
    theta: float
    best: float = -math.inf
    stall: int = 0
    history: list[float] = field(default_factory=list)
    direction: FloatArray | None = None  # the last step's (deflected) direction

    def record(self, val: float, pi: FloatArray) -> None:
        self.history.append(val)
        if val > self.best:
            self.best, self.best_pi, self.stall = val, pi.copy(), 0
            return
        self.stall += 1
        if self.stall >= _STALL:
            self.theta, self.stall = self.theta / 2.0, 0


def dual_ascent(  # noqa: PLR0913 - the ascent and its block solver, one keyword each
    dec: Decomposition,
    *,
    upper: float | None = None,
    pi0: FloatArray | None = None,
    seconds: float = 60.0,
    max_rounds: int = 200,
    gap: float = 1e-4,
    map_blocks: MapBlocks | None = None,
    step: float = 1.0,
    integer: bool = False,
    block_seconds: float | None = None,
    mip_gap: float = 1e-3,
) -> DualResult:
    """Maximise the Lagrangian bound by subgradient steps (see the module docstring).

    Parameters
    ----------
    dec
        The split model (:func:`split_blocks`).
    upper
        A known plan's objective: the target of Polyak's step and of the gap test
        (default: 1% above the best bound).
    pi0
        Starting multipliers, one per linking row of the model (made admissible); default
        zero. The result's multipliers are in the same (the model's) units.
    seconds, max_rounds, gap
        Stop after this wall time (block solves are cut at it), this many rounds, or when
        ``(upper - bound) / |upper|`` is at most ``gap``.
    map_blocks
        Runs one round's block solves (default: one after the other in this process).
    step
        Polyak's starting step factor (halved after rounds without a better bound).
    integer, block_seconds, mip_gap
        Solve the blocks as MIPs to ``mip_gap`` (module docstring); ``block_seconds``
        caps each block solve (:func:`_round_limit`; default: the time left).

    Returns
    -------
    DualResult
    """
    t0 = time.perf_counter()
    deadline = t0 + max(seconds, 0.0)
    run = map_blocks or _in_process
    solver: BlockSolver = functools.partial(solve_block_mip, mip_gap=mip_gap) if integer \
        else solve_block
    lo, hi = dec.link_lo, dec.link_hi
    pi = np.zeros(lo.size) if pi0 is None else np.asarray(pi0, np.float64) / dec.link_scale
    pi = _admissible(pi, lo, hi)
    st, stop = _Ascent(best_pi=pi.copy(), theta=step), "rounds"
    for _ in range(max_rounds):
        limit = _round_limit(deadline, block_seconds, run, len(dec.blocks))
        if limit is None:
            stop = "deadline"
            break
        res = run(solver, dec.blocks, pi, limit)
        if any(r.status == INFEASIBLE for r in res):  # so is the model: no bound to find
            stop = "infeasible"
            break
        val = _value(dec, pi, res)
        st.record(val, pi)
        if upper is not None and math.isfinite(st.best) and \
                upper - st.best <= gap * max(abs(upper), 1e-9):
            stop = "gap"
            break
        if st.theta < _MIN_THETA:
            stop = "step"
            break
        nxt = _polyak(dec, pi, res, val=val, best=st.best, upper=upper, st=st)
        if nxt is None:  # the relaxed rows hold with complementary slackness: pi is optimal
            stop = "step"
            break
        pi = nxt
    stop = "deadline" if time.perf_counter() >= deadline and stop == "rounds" else stop
    return DualResult(bound=st.best, start_bound=st.history[0] if st.history else -math.inf,
                      pi=st.best_pi * dec.link_scale,
                      link_rows=dec.link_rows, rounds=len(st.history),
                      seconds=time.perf_counter() - t0, stop=stop, history=tuple(st.history))
