"""A city-level lower bound for the merged district plans (a Lagrangian dual by district).

The merged plan of :func:`netplan.planning.city.merge_districts` is a feasible plan of the
whole-city model; how far it can be from the best plan of that model needs a lower bound
on the model's optimum. Planning the city in one model gives one, but does not scale to a
nation; this bound does, by decomposition: the whole-city model is split by district
(:func:`netplan.optimize.facility_split.split_facility`: every site's variables in its
district, a zone's unserved share with its sites' district), the rows that link districts
(zones on a border, the city-wide limits, moves across a border) are priced by
multipliers, and the district blocks are solved apart:

1. a model small enough (:data:`WHOLE_LP_NNZ`) has its whole LP relaxation solved first
   (:func:`whole_lp`, on a Dask worker when there is a cluster, in at most
   :data:`_WHOLE_LP_SHARE` of the time box): its row duals on the linking rows are
   multipliers at which the priced LP blocks add up to the LP bound itself
   (:func:`netplan.optimize.facility_split.lp_point`). Otherwise,
   or when that LP does not finish, the multipliers are raised by subgradient rounds
   over the blocks' LPs (:func:`netplan.optimize.decompose.dual_ascent`; a zone's
   multiplier starts at twice its cheapest reachable cost, the city limits' at 0), which
   approach the LP bound without reaching it;
2. from the best of them, the ascent goes on with every block solved as a MIP
   (``dual_ascent(..., integer=True)``: each block's proven dual bound, its best plan's
   activity as the subgradient), which maximises the dual of the integer district
   blocks and passes the LP bound (several formats per site, district limits).

Both are valid lower bounds for any multipliers; the larger is reported. The LP rounds
cannot pass the LP bound of the whole-city model (on the Beijing model 2.588e9, 1 %
below its optimum of about 2.61e9), and the subgradient reaches it only in the limit
(2.562e9 in the default run's 48 s, where the whole LP takes 12-30 s); the MIP rounds
can climb past it as long as they have time (one MIP per district and round). At nation
size the whole LP is left out: it would not fit the time box, and the district blocks
are what scales. So the bound may still lie below the best plan: the gap it gives is an
honest upper limit on how much better a plan could be, not an estimate of it.

On a Dask cluster the block solves run on the workers (:class:`DaskBlocks`). A run whose
deadline leaves no time for the bound records :func:`skipped_bound` instead: no bound and
no gap, never a weaker figure in their place.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from netplan.optimize.build import _build
from netplan.optimize.decompose import (
    Block,
    BlockResult,
    BlockSolver,
    MapBlocks,
    dual_ascent,
    release_blocks,
)
from netplan.optimize.facility_split import facility_bound, lp_point, split_facility
from netplan.optimize.problem import FacilityProblem
from netplan.optimize.rens import LpRelaxation, lp_relaxation
from netplan.planning import problem as planner
from netplan.planning.contract import CityBound
from netplan.study.layers import Study

__all__ = ["METHOD", "METHOD_LP", "NO_TIME", "WHOLE_LP_NNZ", "DaskBlocks", "bound_seconds",
           "city_bound", "gap_of", "skipped_bound", "whole_lp"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

METHOD = "Lagrangian, district LP blocks (subgradient), then district MIP blocks (subgradient)"
"""How the city bound is made (``kpis["coordination"]["city_bound"]["method"]``)."""
METHOD_LP = ("Lagrangian, the whole-city LP relaxation (its duals price the links between "
             "districts), then district MIP blocks (subgradient)")
"""How the city bound is made when the whole-city LP is solved first (:data:`WHOLE_LP_NNZ`)."""
NO_TIME = "skipped: no time left within the time limit"
"""The ``stop`` of a city bound not computed because the run's deadline left no time."""

_LP_SHARE = 0.8
"""Share of the time box spent on the LP rounds; the rest goes to the block MIPs. Since the
model's relocation rows make its LP as tight as HiGHS's probing makes it, the LP rounds
gain more per second than the MIP rounds: on the Beijing default (``--district all``, 60 s
box, one run each) 40 % gave 2.528e9 from the LP rounds and 2.536e9 after 3 MIP rounds,
80 % gave 2.557e9 and 2.562e9 after 2."""
_MIP_BLOCK_S = 2.0
"""Seconds at most per block MIP in a round: more did not raise a round's bound on the
Beijing model (2.3636e9 at 2 s, 2.3649e9 at 8 s per block), more rounds did."""
_MIP_STEP = 0.3
"""Polyak's starting step factor of the MIP rounds (from multipliers already near the LP
blocks' best): 2.37e9 -> 2.50e9 in 11 rounds on the Beijing model."""
_ZONE_START = 2.0
"""A border zone's multiplier starts at this times its cheapest cost: a share of a zone
also pays for part of an outlet, which its travel cost leaves out (any start is valid;
measured to climb faster than 1x on the Beijing model)."""
_STEP = 0.1
"""Polyak's starting step factor: the merged objective, the step's target, lies far above
the bound the LP blocks can reach, and a full step overshoots."""


WHOLE_LP_NNZ: int = 1_000_000
"""Nonzeros of the whole-city model up to which its LP relaxation is solved first.
Measured on the 2-core VM (``bench/README.md`` (k)): the Beijing model
(315,632 nonzeros) 12-30 s, the 20,000 x 900 synthetic city (367,049) 22 s; the nation
synthetic (200,000 x 5,000, 2,367,321) was not solved after 11 minutes, and the district
blocks are what scales there."""
_WHOLE_LP_SHARE = 0.6
"""Share of the time box the whole-city LP may take; when it does not finish, the district
LP blocks' ascent takes over in what is left of :data:`_LP_SHARE`."""


def whole_lp(problem: FacilityProblem, seconds: float) -> LpRelaxation | None:
    """The LP relaxation of the whole-city model (row duals and bound; no column values)
    within ``seconds``; None when it was not solved in time (a task a Dask worker can run)."""
    lp = lp_relaxation(_build(problem), deadline=time.perf_counter() + seconds, threads=1)
    return None if lp is None else dataclasses.replace(lp, x=np.empty(0, np.float64))


def bound_seconds(time_limit_s: float | None) -> float:
    """The time box of the city bound: half the run's time limit, 10 to 300 s (its MIP
    rounds keep raising the bound: a longer run gets a better one)."""
    limit = 60.0 if time_limit_s is None else float(time_limit_s)
    return min(300.0, max(10.0, 0.5 * limit))


def _district_blocks(study: Study, model: planner.Model) -> tuple[NDArray[np.int64],
                                                                  NDArray[np.int64]]:
    """A block per district: the block of every site and every zone of the model."""
    site_ad = model.sites.adcode.astype(str)
    zone_ad = study.zones["adcode"].astype(str).to_numpy()[model.zone_index]
    ads = sorted(set(site_ad.tolist()) | set(zone_ad.tolist()))
    idx = {a: k for k, a in enumerate(ads)}
    return (np.array([idx[a] for a in site_ad], np.int64),
            np.array([idx[a] for a in zone_ad], np.int64))


def _cheapest(model: planner.Model) -> NDArray[np.float64]:
    """Each zone's cheapest cost of one full share: its nearest allowed site, or unserved."""
    p = model.problem
    c = p.cost.tocsr()
    best = np.full(p.n_zones, np.inf)
    ne = np.flatnonzero(np.diff(c.indptr) > 0)
    if ne.size:
        best[ne] = np.minimum.reduceat(np.asarray(c.data, np.float64), c.indptr[ne])
    out = np.minimum(best, np.asarray(p.unserved_cost, np.float64))
    return np.where(np.isfinite(out), out, 0.0)


def city_bound(study: Study, model: planner.Model, *, objective: float, seconds: float,
               map_blocks: MapBlocks | None = None) -> CityBound:
    """A lower bound on the whole-city model's optimum, by district (module docstring).

    Parameters
    ----------
    study
        The layers (zones' districts).
    model
        The whole-city model (:func:`netplan.planning.problem.build_model`, ``adcode=None``).
    objective
        The merged plan's whole-city objective: the target of the ascent and of the gap.
    seconds
        The time box (about; a block solve in flight at its end is cut at it).
    map_blocks
        Runs one round's block solves elsewhere (a Dask client); default this process.
        Its ``slots`` attribute, if any, says how many blocks run at once; its ``call``
        method, if any, runs the whole-city LP there too (:class:`DaskBlocks`).

    Returns
    -------
    CityBound
    """
    t0 = time.perf_counter()
    site_block, zone_block = _district_blocks(study, model)
    split = split_facility(model.problem, site_block, zone_block)
    keys = [b.key for b in split.dec.blocks]
    lp = None
    if split.n_nonzeros <= WHOLE_LP_NNZ:
        # on a worker when there is a cluster: the driver holds the merged plan, and its
        # peak memory would grow by the LP solver's (558 against 494 MB on Beijing)
        call = getattr(map_blocks, "call", None)
        box = _WHOLE_LP_SHARE * seconds - (time.perf_counter() - t0)
        lp = call(whole_lp, model.problem, box) if call else whole_lp(model.problem, box)
        if lp is None:
            log.info("city bound: the whole-city LP was not solved in %.0f s; the district "
                     "LP blocks' ascent goes on", box)
    whole = None if lp is None else lp_point(split, lp)
    try:
        res = whole if whole is not None else facility_bound(
            split, upper=objective, zone_value=_ZONE_START * _cheapest(model),
            seconds=max(_LP_SHARE * seconds - (time.perf_counter() - t0), 0.0),
            max_rounds=500,
            gap=1e-4, map_blocks=map_blocks, step=_STEP)
    finally:
        release_blocks(keys)
    left = seconds - (time.perf_counter() - t0)
    mip, mip_rounds = -math.inf, 0
    if left > 1.0 and res.stop not in ("gap", "infeasible"):
        # each round's block MIPs share the time left (decompose._round_limit)
        up = dual_ascent(split.dec, upper=objective, pi0=res.pi, seconds=left,
                         map_blocks=map_blocks, step=_MIP_STEP, integer=True,
                         block_seconds=_MIP_BLOCK_S)
        mip, mip_rounds = up.bound, up.rounds
    best = max(res.bound, mip)
    return {
        "method": METHOD if whole is None else METHOD_LP,
        "bound": round(best, 2) if math.isfinite(best) else None,
        "lp_bound": round(res.bound, 2) if math.isfinite(res.bound) else None,
        "mip_round_bound": round(mip, 2) if math.isfinite(mip) else None,
        "mip_rounds": mip_rounds,
        "start_bound": round(res.start_bound, 2) if math.isfinite(res.start_bound) else None,
        "rounds": res.rounds,
        "stop": res.stop,
        "seconds": round(time.perf_counter() - t0, 3),
        "blocks": len(keys),
        "linking_rows": split.kinds(),
    }


def gap_of(objective: float, bound: float | None) -> float | None:
    """The relative gap ``(objective - bound) / |objective|`` (None without a bound)."""
    if bound is None or not math.isfinite(objective) or objective == 0:
        return None
    out: Any = max(objective - bound, 0.0) / abs(objective)
    return round(float(out), 6)


def skipped_bound(stop: str = NO_TIME) -> CityBound:
    """The record of a city bound not computed (``stop`` says why): no bound, no gap."""
    return {"method": METHOD, "bound": None, "lp_bound": None, "mip_round_bound": None,
            "mip_rounds": 0, "start_bound": None, "rounds": 0, "stop": stop, "seconds": 0.0,
            "blocks": 0, "linking_rows": {}}


class DaskBlocks:
    """Runs one round's block solves of the city bound on the workers
    (a :data:`netplan.optimize.decompose.MapBlocks`).

    The blocks are scattered once (each stays on one worker, with its solver); each round
    sends only the multipliers, broadcast once. :meth:`close` drops the workers' solvers.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.futures: dict[str, Any] = {}
        self.slots = max(1, sum(client.nthreads().values()))
        self.broken = False

    def _or_here(self, there: Callable[[], _T], here: Callable[[], _T], what: str) -> _T:
        """``there()`` on the cluster until it fails once, then ``here()`` in this process
        (a lost worker must not lose the merged plan)."""
        if not self.broken:
            try:
                return there()
            except Exception as exc:
                log.warning("city bound: %s on the cluster failed (%s); going on in this "
                            "process", what, exc)
                self.broken = True
        return here()

    def __call__(self, solve: BlockSolver, blocks: Sequence[Block], pi: Any,
                 time_limit_s: float) -> list[BlockResult]:
        return self._or_here(lambda: self._on_cluster(solve, blocks, pi, time_limit_s),
                             lambda: [solve(b, pi, time_limit_s) for b in blocks],
                             "block solves")

    def _on_cluster(self, solve: BlockSolver, blocks: Sequence[Block], pi: Any,
                    time_limit_s: float) -> list[BlockResult]:
        new = [b for b in blocks if b.key not in self.futures]
        if new:
            self.futures.update(zip([b.key for b in new], self.client.scatter(new),
                                    strict=True))
        pi_f = self.client.scatter(pi, broadcast=True)
        futs = [self.client.submit(solve, self.futures[b.key], pi_f, time_limit_s, pure=False)
                for b in blocks]
        out: list[BlockResult] = self.client.gather(futs)
        return out

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` on a worker (in this process once the cluster has failed)."""
        def there() -> _T:
            out: _T = self.client.submit(fn, *args, pure=False).result()
            return out

        return self._or_here(there, lambda: fn(*args), "a task")

    def close(self) -> None:
        keys, self.futures = list(self.futures), {}
        release_blocks(keys)  # those solved here after a failure
        if keys and not self.broken:
            with suppress(Exception):
                self.client.run(release_blocks, keys)
