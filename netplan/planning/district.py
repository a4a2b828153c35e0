"""One district planned on its own: what each task of a district-by-district plan runs.

:func:`run_district` plans one district (with its buffer, or alone) and returns a
:class:`DistrictRun`: the district's plan and what
:func:`netplan.planning.city.merge_districts` needs of its solution. A failure is
returned, not raised, so that one district cannot lose the others.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from netplan import optimize
from netplan._errors import NetplanError
from netplan.model import demand
from netplan.model.scenario import Scenario
from netplan.planning import problem as planner
from netplan.planning.contract import DistrictRunInfo, DistrictTiming
from netplan.planning.limits import DistrictLimits, check_adcode
from netplan.planning.plan import Plan, plan_from_solution, solve_holding
from netplan.study.layers import Study

__all__ = ["MODES", "DistrictRun", "check_mode", "jsonable", "run_district"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class DistrictRun:
    """What one district task sends back.

    ``plan`` is the district's own :class:`~netplan.planning.plan.Plan` (``None`` when it failed,
    ``reason`` then says why). ``decided`` (site_id, format_after: ``""`` = closed,
    staffed: counters staffed at peak), ``relocations`` (from_id, to_id) and
    ``assignment`` (zone_id, site_id, share, dist_m of the district's own zones,
    unrounded) feed the merge.
    """

    adcode: str
    ok: bool
    reason: str = ""
    error: str = ""
    plan: Plan | None = None
    solver: Mapping[str, Any] = field(default_factory=dict)
    decided: pd.DataFrame | None = None
    relocations: pd.DataFrame | None = None
    assignment: pd.DataFrame | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = float("nan")
    worker: str = ""
    model_zones: int = 0
    model_sites: int = 0

    def info(self, limits: DistrictLimits | None = None) -> DistrictRunInfo:
        """JSON-ready summary, the same for identical runs (timings: :meth:`timing`).

        Parameters
        ----------
        limits
            The district's share of the city limits, if they were split.

        Returns
        -------
        DistrictRunInfo
        """
        out: dict[str, Any] = {"ok": self.ok}
        if not self.ok:
            out.update(reason=self.reason, error=self.error)
        out.update({k: jsonable(v) for k, v in self.solver.items() if not k.endswith("_s")})
        out.update(model_zones=self.model_zones, model_sites=self.model_sites)
        if self.plan is not None:
            out["actions"] = self.plan.counts
        out["limits"] = None if limits is None else limits.as_dict()
        return cast(DistrictRunInfo, out)

    def timing(self) -> DistrictTiming:
        """Seconds, memory and worker of the run (for ``run.json``)."""
        out: dict[str, Any] = {k: jsonable(round(v, 3)) for k, v in self.solver.items()
                               if k.endswith("_s")}
        out.update(wall_s=round(self.wall_s, 3), cpu_s=round(self.cpu_s, 3),
                   peak_rss_mb=jsonable(round(self.peak_rss_mb, 1)), worker=self.worker)
        return cast(DistrictTiming, out)


MODES: tuple[str, ...] = ("buffer", "partition")
"""How a district is planned: with its buffer (the planner's rule) or alone."""


def check_mode(mode: str) -> None:
    """NetplanError unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise NetplanError(f"unknown district mode {mode!r}; use one of {', '.join(MODES)}")


def _partition(study: Study, scenario: Scenario, adcode: str, *, year: int
               ) -> tuple[Study, int]:
    """The district alone, its zones' population of ``year`` put in ``pop_<base year>``.

    The horizon population is a property of the whole city (see
    :func:`netplan.model.demand.zone_population`), so it is computed on the full zone table and
    the district then planned at the base year with those figures.
    """
    pop = np.asarray(demand.zone_population(study.zones, scenario, year=year,
                                            districts=study.districts), np.float64)
    own = (study.zones["adcode"].astype(str) == adcode).to_numpy()
    zones = study.zones.loc[own].copy()
    zones[demand.pop_column(scenario.base_year)] = pop[own]
    part = dataclasses.replace(
        study, zones=zones,
        branches=study.branches.loc[(study.branches["adcode"].astype(str) == adcode).to_numpy()],
        candidates=study.candidates.loc[
            (study.candidates["adcode"].astype(str) == adcode).to_numpy()])
    return part, scenario.base_year


def _peak_rss_mb() -> float:
    try:
        import resource

        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024.0
    except (ImportError, OSError):  # pragma: no cover - not Linux
        return float("nan")


def run_district(  # noqa: PLR0913 - a task's options, all keywords
    study: Study,
    scenario: Scenario,
    adcode: str,
    *,
    year: int,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    mode: str = "buffer",
    threads: int | None = planner.TASK_THREADS,
) -> DistrictRun:
    """Plan one district (what each Dask task runs).

    ``mode="buffer"``: the same steps as :func:`netplan.planning.plan.make_plan` with ``district``
    (the district with its buffer, see :mod:`netplan.planning.problem`). ``mode="partition"``: the
    district alone — its own zones, outlets and candidates (the demand still placed by
    the city-level horizon rule), so no two district plans share an outlet.

    A :class:`~netplan._errors.NetplanError` (infeasible policy, no plan within the time
    limit, ...) is returned as a failed :class:`DistrictRun` with its message as
    ``reason`` instead of being raised, so one district cannot lose the others.
    ``threads``: solver threads (default one, :data:`netplan.planning.problem.TASK_THREADS`;
    None = the solver's default). The time limit counts from the call, building included,
    as :func:`~netplan.planning.plan.make_plan`'s does.
    """
    import socket

    t0 = time.perf_counter()
    c0 = time.process_time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    adcode = check_adcode(adcode)
    check_mode(mode)
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
    gap = scenario.mip_gap if mip_gap is None else mip_gap
    try:
        run_study, run_year = (study, year) if mode == "buffer" else _partition(
            study, scenario, adcode, year=year)
        model = planner.build_model(run_study, scenario, year=run_year, adcode=adcode,
                                    locked=locked, forbidden=forbidden)
        model, sol, loop = solve_holding(model, scenario, solver=solver, time_limit_s=tl,
                                         mip_gap=gap, threads=threads,
                                         deadline=None if tl is None else t0 + tl)
        result = plan_from_solution(run_study, scenario, model, sol, year=run_year,
                                    adcode=adcode, loop=loop)
        if run_year != year:
            kpis = result.kpis.copy()
            kpis["year"] = year
            result = dataclasses.replace(result, kpis=kpis)
        study = run_study
    except NetplanError as exc:
        log.warning("district %s failed: %s", adcode, exc)
        return DistrictRun(adcode=adcode, ok=False, reason=str(exc),
                           error=type(exc).__name__, wall_s=time.perf_counter() - t0,
                           cpu_s=time.process_time() - c0, peak_rss_mb=_peak_rss_mb(),
                           worker=worker)
    return _district_result(study, adcode, model, sol, result, t0=t0, c0=c0, worker=worker)


def _district_result(study: Study, adcode: str, model: planner.Model, sol: optimize.Solution,
                     plan: Plan, *, t0: float, c0: float, worker: str) -> DistrictRun:
    """A successful run: the plan and what the merge needs of the solution."""
    s, o = model.sites, model.options
    chosen = np.asarray(sol.site_option, dtype=np.int64)
    dec = np.flatnonzero(s.decide)
    fmt = np.where(chosen[dec] >= 0, o.format[np.maximum(chosen[dec], 0)], "")
    reloc = np.asarray(sol.relocated, dtype=bool)
    zone_ids = study.zones["zone_id"].astype(str).to_numpy()[model.zone_index]
    az = np.asarray(sol.assign_zone, np.int64)
    asite = np.asarray(sol.assign_site, np.int64)
    own_zone = np.asarray(study.zones["adcode"].to_numpy(dtype=object)[model.zone_index]
                          == adcode, dtype=bool)
    keep = own_zone[az]
    dist = (np.asarray(model.dist_m[az[keep], asite[keep]], dtype=np.float64).ravel()
            if keep.any() else np.empty(0, dtype=np.float64))
    return DistrictRun(
        adcode=adcode, ok=True, plan=plan,
        solver={"status": sol.status, "objective": float(sol.objective),
                "best_bound": float(sol.best_bound), "gap": float(sol.gap),
                "solve_s": float(sol.seconds), "build_s": float(sol.build_seconds)},
        decided=pd.DataFrame({"site_id": s.site_id[dec].astype(str),
                              "format_after": fmt.astype(str),
                              "staffed": np.where(chosen[dec] >= 0,
                                                  o.staffed[np.maximum(chosen[dec], 0)], 0)}),
        relocations=pd.DataFrame({"from_id": s.site_id[model.reloc_from[reloc]].astype(str),
                                  "to_id": s.site_id[model.reloc_to[reloc]].astype(str)}),
        assignment=pd.DataFrame({
            "zone_id": zone_ids[az[keep]], "site_id": s.site_id[asite[keep]].astype(str),
            "share": np.asarray(sol.assign_share, np.float64)[keep], "dist_m": dist}),
        wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
        peak_rss_mb=_peak_rss_mb(), worker=worker,
        model_zones=len(model.zone_index), model_sites=len(s),
    )


def jsonable(x: Any) -> Any:
    """``x`` as JSON takes it: numpy scalars as Python numbers, NaN and infinity as None."""
    if isinstance(x, float | np.floating):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x

