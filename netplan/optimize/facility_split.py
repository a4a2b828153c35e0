"""The facility model split by groups of sites: the blocks of its Lagrangian dual.

:mod:`netplan.optimize.decompose` relaxes the rows that link column blocks; this module
says which block each column of the model of :mod:`netplan.optimize.build` belongs to,
given a block per site and per zone (a district, for a city split by district):

- ``y[o]``, ``z[j]``, ``x[i,j]`` and ``v[j]``: the block of site ``j``;
- ``r[k]`` (a relocation): the block of its target site;
- ``u[i]`` (unserved share): the block of the sites zone ``i`` may use when they all lie
  in one block (so that its assignment row links nothing), else the zone's own block.

The linking rows are then the assignment rows of zones that may use sites of several
blocks, the side constraints over sites of several blocks (budget, overall openings and
closures, option limits, the exact number of sites, the share outside a ring) and the
relocation rows of moves between blocks. The model's demand-case blocks
(``FacilityProblem.zone_block``) are not supported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netplan._types import FloatArray, IntArray
from netplan.optimize.build import _build
from netplan.optimize.decompose import (
    Decomposition,
    DualResult,
    MapBlocks,
    dual_ascent,
    split_blocks,
)
from netplan.optimize.problem import FacilityProblem, _entry_zones
from netplan.optimize.rens import LpRelaxation

__all__ = ["FacilitySplit", "facility_bound", "lp_point", "split_facility"]


@dataclass(frozen=True, eq=False)
class FacilitySplit:
    """The model split into blocks, and what its linking rows are.

    Attributes
    ----------
    dec
        The blocks and linking rows (:func:`netplan.optimize.decompose.split_blocks`).
    link_zone
        Per linking row: its zone for an assignment row, else ``-1``.
    link_kind
        Per linking row: ``"zone"``, a side-constraint family of
        :data:`netplan.optimize.build.FAMILIES`, or ``"relocation"``.
    n_cols, n_nonzeros
        Columns and nonzeros of the whole model.
    """

    dec: Decomposition
    link_zone: IntArray
    link_kind: tuple[str, ...]
    n_cols: int
    n_nonzeros: int

    def kinds(self) -> dict[str, int]:
        """How many linking rows of each kind."""
        out: dict[str, int] = {}
        for k in self.link_kind:
            out[k] = out.get(k, 0) + 1
        return dict(sorted(out.items()))


def split_facility(p: FacilityProblem, site_block: Sequence[int] | IntArray,
                   zone_block: Sequence[int] | IntArray) -> FacilitySplit:
    """Split the model of ``p`` by a block per site and per zone (module docstring).

    Parameters
    ----------
    p
        The model's data (one demand case).
    site_block, zone_block
        Non-negative block labels, one per site and one per zone.

    Returns
    -------
    FacilitySplit
    """
    if p.n_blocks != 1 or p.block_objective == "worst":
        raise ValueError("split_facility supports models of one demand case")
    sb = np.asarray(site_block, np.int64)
    zb = np.asarray(zone_block, np.int64)
    if sb.shape != (p.n_sites,) or zb.shape != (p.n_zones,):
        raise ValueError(f"site_block needs {p.n_sites} labels and zone_block {p.n_zones}, "
                         f"got {sb.shape} and {zb.shape}")
    mdl = _build(p)
    zi = _entry_zones(p)
    sj = np.asarray(p.cost.indices, np.int64)
    col_block = np.zeros(mdl.n_cols, np.int64)
    col_block[mdl.y0:mdl.z0] = sb[p.opt_site]
    col_block[mdl.z0:mdl.x0] = sb
    col_block[mdl.x0:mdl.u0] = sb[sj]
    # the zone's sites' block when they share one, else the zone's own
    lo = np.full(p.n_zones, np.iinfo(np.int64).max)
    hi = np.full(p.n_zones, -1)
    np.minimum.at(lo, zi, sb[sj])
    np.maximum.at(hi, zi, sb[sj])
    col_block[mdl.u0:mdl.r0] = np.where(lo == hi, lo, zb)
    col_block[mdl.r0:mdl.v0] = sb[p.reloc_to]
    col_block[mdl.v0:mdl.v0 + mdl.bal_sites.size] = sb[mdl.bal_sites]
    dec = split_blocks(mdl.a, mdl.c, mdl.offset, mdl.col_lo, mdl.col_hi, mdl.row_lo,
                       mdl.row_hi, col_block, mdl.integer)
    family = {s.row: s.family for s in mdl.side}
    rows = dec.link_rows
    link_zone = np.where(rows < p.n_zones, rows, -1).astype(np.int64)
    kind = tuple("zone" if r < p.n_zones else family.get(int(r), "relocation")
                 for r in rows.tolist())
    return FacilitySplit(dec=dec, link_zone=link_zone, link_kind=kind, n_cols=mdl.n_cols,
                         n_nonzeros=int(mdl.a.nnz))


def zone_start(split: FacilitySplit, zone_value: FloatArray) -> FloatArray:
    """Starting multipliers: ``zone_value[i]`` on zone ``i``'s linking row, 0 elsewhere.

    A zone's multiplier prices one full share of it; its cost per share in a known plan
    (or its cheapest reachable cost) is a good start, where zero would leave every zone on
    a border unserved by every block.
    """
    v = np.asarray(zone_value, np.float64)
    z = split.link_zone
    return np.where(z >= 0, v[np.maximum(z, 0)], 0.0)


def facility_bound(
    split: FacilitySplit, *, upper: float | None, zone_value: FloatArray | None = None,
    seconds: float = 60.0, max_rounds: int = 200, gap: float = 1e-4,
    map_blocks: MapBlocks | None = None, step: float = 1.0,
) -> DualResult:
    """The Lagrangian bound of the split model (:func:`~netplan.optimize.decompose.dual_ascent`).

    Parameters
    ----------
    split
        The split model.
    upper
        A known plan's objective (the ascent's target).
    zone_value
        Per zone, the starting multiplier of its row (see :func:`zone_start`).
    seconds, max_rounds, gap, map_blocks, step
        As in :func:`~netplan.optimize.decompose.dual_ascent`.

    Returns
    -------
    DualResult
    """
    pi0 = None if zone_value is None else zone_start(split, zone_value)
    return dual_ascent(split.dec, upper=upper, pi0=pi0, seconds=seconds,
                       max_rounds=max_rounds, gap=gap, map_blocks=map_blocks, step=step)


def lp_point(split: FacilitySplit, lp: LpRelaxation) -> DualResult:
    """The whole model's LP relaxation as a point of the Lagrangian dual of ``split``.

    At the LP's row duals of the linking rows the blocks' LPs, priced by them, add up to
    the LP's optimum (LP duality), so the Lagrangian bound of the LP blocks is the LP bound
    at once, where the subgradient ascent only approaches it (module docstring of
    :mod:`~netplan.optimize.decompose`). The bound returned is the LP's safe dual bound;
    the multipliers are where the ascent of the integer blocks starts.

    Parameters
    ----------
    split
        The split of the model.
    lp
        The LP relaxation of the same model (:func:`netplan.optimize.rens.lp_relaxation`).

    Returns
    -------
    DualResult
        ``stop="lp"``, no rounds; ``stop="infeasible"`` and bound ``-inf`` when the
        relaxation has no solution.
    """
    rows = split.dec.link_rows
    if lp.status == "infeasible":
        return DualResult(bound=-math.inf, start_bound=-math.inf, pi=np.zeros(rows.size),
                          link_rows=rows, rounds=0, seconds=lp.seconds, stop="infeasible",
                          history=())
    return DualResult(bound=lp.bound, start_bound=lp.bound, pi=lp.y[rows].copy(),
                      link_rows=rows, rounds=0, seconds=lp.seconds, stop="lp",
                      history=(lp.bound,))
