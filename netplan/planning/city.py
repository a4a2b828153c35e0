"""Every district planned in parallel on Dask, merged into one coordinated city plan.

:func:`plan_all` plans each district (with its buffer, see :mod:`netplan.planner`) as its
own task on ``dask.distributed`` — an embedded ``LocalCluster`` (one single-threaded
worker process per core, dashboard off, loopback only) or the cluster of a scheduler
address — and merges the results into one :class:`CityPlan`.

City-wide coordination
----------------------
The scenario's city limits (``max_open``, ``max_close``, ``max_upgrade``,
``max_convert``, ``budget_cny``) are split across districts before the runs
(:func:`split_limits`), from the diagnosis of the current network
(:func:`netplan.diagnose.diagnose`) at the plan's demand year:

- *need* of a district = peak-hour arrivals of its zones left unserved + arrivals above
  the capacity at the waiting target of its outlets (overload);
- *slack* = spare capacity at the target of its outlets that are under it.

``max_open`` and ``max_upgrade`` are shared in proportion to need, ``max_close`` and
``max_convert`` in proportion to slack, ``budget_cny`` in proportion to the mean of the
need and slack shares (by outlet count where the city has neither). Shares are capped by
what a district can use — its policy's own limit ("一区一策", explicit or implied, e.g.
``consolidate`` opens nothing) and its number of candidates / outlets — and what a cap
cuts off is redistributed to the others (water-filling); counts are made integer by
largest remainder (ties by adcode), the budget is shared in whole yuan. So the district
limits never add up to more than the city's, and the merged plan meets them by
construction. ``min_share_outside_ring5`` is a city-level ratio and is not split
(district runs do not enforce it); the merged plan is checked against it and every other
city limit in ``kpis["coordination"]``.

The merge
---------
Each district decides its own sites; the merged network takes every district's decided
sites as planned, and each zone is served as its own district's plan serves it. District
runs keep their neighbours' outlets as they are, so two plans may count on the same
outlet, or on one the other closes: such *conflicts* are repaired (shares at a closed
outlet, and the load above an outlet's capacity at the waiting target, farthest
customers first, go to the spare capacity of the nearest open outlets within reach, or
stay unserved), and measured in ``kpis["coordination"]["repair"]``. So every outlet of
the merged plan meets the waiting target, like every outlet of a single plan. A district
whose run failed keeps its network unchanged and its zones are served by the diagnosis
rule; so does a district with no outlet and no candidate, which is not run at all
(``kpis["skipped_districts"]``). With ``mode="partition"`` each district is planned
alone (its own zones and sites only): plans never conflict, at the price of ignoring
customers who would cross a district border.

KPIs of the merged plan are **recomputed** for the merged network over the whole city
(the same :func:`netplan.plan.plan_from_solution` as a whole-city plan: before/after,
per district, per ring zone, costs), not summed from the district runs — district runs
overlap in their buffers. Loads (hence waits and overloaded outlets) come from the
merged assignment, so an outlet that serves zones of two districts carries both loads.
The merged objective is the whole-city objective evaluated on the merged plan
(:func:`objective_of`), so it compares directly with a whole-city solve
(:func:`compare_city`); it has no bound of its own (each district reports its gap).

The library never prints: ``progress`` receives :class:`ProgressEvent` objects.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan import optimize
from netplan._errors import NetplanError
from netplan.model import demand
from netplan.model.scenario import Scenario
from netplan.planning import problem as planner
from netplan.planning.diagnose import zone_points
from netplan.planning.plan import Plan, plan_from_solution, read_plan, write_plan, write_plan_files
from netplan.study.layers import Study, resolve_district

__all__ = [
    "CityPlan",
    "DistrictLimits",
    "DistrictRun",
    "ProgressEvent",
    "RunningTask",
    "apportion",
    "check_adcode",
    "compare_city",
    "merge_districts",
    "objective_of",
    "plan_all",
    "read_city_plan",
    "run_district",
    "split_limits",
    "write_city_plan",
]

log = logging.getLogger(__name__)

_ADCODE = re.compile(r"\d{6}")
_HEARTBEAT_S = 1.0
_POLL_S = 0.05


def _executing_keys(dask_worker: Any) -> list[str]:
    """Keys of the tasks executing on a worker (run there by ``Client.run``)."""
    return [str(ts.key) for ts in dask_worker.state.executing]


def check_adcode(adcode: str) -> str:
    """``adcode`` if it is six digits (safe as a folder name), else NetplanError."""
    text = str(adcode)
    if not _ADCODE.fullmatch(text):
        raise NetplanError(
            f"district adcode {adcode!r} is not six digits; the districts layer (column "
            "'adcode') must hold 6-digit codes such as 110105 — fix the layer"
        )
    return text


# --- coordination: splitting the city limits ---------------------------------------------


@dataclass(frozen=True)
class DistrictLimits:
    """A district's share of the city limits (``None`` = no limit) and why.

    Attributes
    ----------
    max_open, max_close, max_upgrade, max_convert, budget_cny
        Passed to the district run as the scenario's limits of the same names.
    need_per_h
        Unserved plus overload peak-hour arrivals under the diagnosis.
    slack_per_h
        Spare capacity at the waiting target of the district's outlets under it.
    cap_open, cap_close
        The most openings / closures the district can use (policy limit, candidates,
        outlets); ``None`` = no cap.
    """

    adcode: str
    max_open: int | None
    max_close: int | None
    budget_cny: float | None
    need_per_h: float
    slack_per_h: float
    cap_open: int | None = None
    cap_close: int | None = None
    max_upgrade: int | None = None
    max_convert: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_open": self.max_open, "max_close": self.max_close,
            "max_upgrade": self.max_upgrade, "max_convert": self.max_convert,
            "budget_cny": self.budget_cny, "need_per_h": round(self.need_per_h, 2),
            "slack_per_h": round(self.slack_per_h, 2), "cap_open": self.cap_open,
            "cap_close": self.cap_close,
        }


def apportion(total: int, weights: Sequence[float] | NDArray[Any],
              caps: Sequence[int | None] | NDArray[Any] | None = None) -> NDArray[np.int64]:
    """Share the integer ``total`` in proportion to ``weights``, capped, by largest remainder.

    Quotas are found by water-filling: proportional shares, those above their cap fixed at
    the cap and the rest shared again among the others. Entries with zero weight get
    something only when every weighted entry is capped (then they share equally). The
    integer parts are the floors of the quotas; the units left go to the largest
    fractional remainders (ties to the lower index), never above a cap. The result sums
    to ``min(total, sum(caps))``.

    Parameters
    ----------
    total
        Non-negative integer to share.
    weights
        Non-negative weights, one per entry.
    caps
        Maximum per entry (``None`` or a negative value = no cap).
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    n = len(w)
    if total < 0 or int(total) != total:
        raise NetplanError(f"apportion: total must be a non-negative integer, got {total!r}")
    if (~np.isfinite(w)).any() or (w < 0).any():
        raise NetplanError("apportion: weights must be finite numbers >= 0")
    cap = np.full(n, np.inf)
    if caps is not None:
        if len(caps) != n:
            raise NetplanError(f"apportion: {len(caps)} caps for {n} weights")
        for k, c in enumerate(caps):
            if c is not None and c >= 0:
                cap[k] = float(c)
    goal = float(min(float(total), float(cap.sum())))
    q = np.zeros(n)
    rem = goal
    while rem > 1e-9:
        live = q < cap - 1e-12
        if not live.any():
            break
        wl = w[live]
        if wl.sum() <= 0:
            wl = np.ones(int(live.sum()))
        add = rem * wl / wl.sum()
        idx = np.flatnonzero(live)
        over = q[idx] + add > cap[idx]
        if not over.any():
            q[idx] += add
            rem = 0.0
            break
        hit = idx[over]
        rem -= float(np.sum(cap[hit] - q[hit]))
        q[hit] = cap[hit]
    base = np.floor(q + 1e-9)
    base = np.minimum(base, cap)
    left = round(goal - float(base.sum()))
    frac = q - base
    order = np.lexsort((np.arange(n), -frac))
    for k in order:
        if left <= 0:
            break
        if base[k] + 1 <= cap[k]:
            base[k] += 1
            left -= 1
    out: NDArray[np.int64] = base.astype(np.int64)
    return out


def _policy_caps(study: Study, scenario: Scenario, adcodes: list[str]
                 ) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """Per-district max_open / max_close of the scenario's district policies."""
    open_cap: dict[str, int | None] = dict.fromkeys(adcodes)
    close_cap: dict[str, int | None] = dict.fromkeys(adcodes)
    for key, pol in scenario.districts.items():
        ad = resolve_district(str(key), study.districts)
        implied = planner.POLICY_DEFAULTS.get(pol.policy, {})
        mo = pol.max_open if pol.max_open is not None else implied.get("max_open")
        mc = pol.max_close if pol.max_close is not None else implied.get("max_close")
        open_cap[ad] = None if mo is None else int(mo)
        close_cap[ad] = None if mc is None else int(mc)
    return open_cap, close_cap


def split_limits(study: Study, scenario: Scenario, *, year: int | None = None,
                 diagnosis: Any = None) -> dict[str, DistrictLimits]:
    """Split the scenario's city limits across the districts (see the module docstring).

    Parameters
    ----------
    study, scenario
        The layers and the scenario whose ``max_open``, ``max_close``, ``max_upgrade``,
        ``max_convert`` and ``budget_cny`` are shared (a ``None`` limit stays ``None`` for
        every district).
    year
        Demand year of the diagnosis; default the scenario's horizon year.
    diagnosis
        A :class:`netplan.diagnose.Diagnosis` already computed for ``year`` (optional).

    Returns
    -------
    dict
        adcode -> :class:`DistrictLimits`, in adcode order.
    """
    from netplan.planning.diagnose import diagnose

    year = scenario.horizon_year if year is None else year
    diag = diagnosis if diagnosis is not None else diagnose(study, scenario, year=year)
    adcodes = sorted(check_adcode(a) for a in study.districts["adcode"].astype(str))
    idx = {a: k for k, a in enumerate(adcodes)}
    n = len(adcodes)

    def by_district(labels: Any, values: Any) -> NDArray[np.float64]:
        g = np.array([idx.get(str(a), -1) for a in labels], dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        ok = (g >= 0) & np.isfinite(v)
        return np.bincount(g[ok], weights=v[ok], minlength=n).astype(np.float64)

    z, o = diag.zones, diag.outlets
    unserved = by_district(z["adcode"], z["arrivals_per_h"] * z["unserved_share"])
    load = o["arrivals_per_h"].to_numpy(np.float64)
    cap = o["capacity_per_h"].to_numpy(np.float64)
    need = unserved + by_district(o["adcode"], np.maximum(load - cap, 0.0))
    slack = by_district(o["adcode"], np.maximum(cap - load, 0.0))
    n_out = by_district(study.branches["adcode"], np.ones(len(study.branches)))
    n_cand = by_district(study.candidates["adcode"], np.ones(len(study.candidates)))

    pol_open, pol_close = _policy_caps(study, scenario, adcodes)
    cap_open = [_capped(pol_open[a], int(n_cand[k])) for k, a in enumerate(adcodes)]
    cap_close = [_capped(pol_close[a], int(n_out[k])) for k, a in enumerate(adcodes)]
    def share(total: int | None, weights: NDArray[np.float64], caps: list[int]
              ) -> list[int | None]:
        if total is None:
            return [None] * n
        return [int(v) for v in apportion(int(total), weights, caps)]

    outlets = [int(v) for v in n_out]
    opens = share(scenario.max_open, need, cap_open)
    closes = share(scenario.max_close, slack, cap_close)
    upgrades = share(scenario.max_upgrade, need, outlets)
    converts = share(scenario.max_convert, slack, outlets)
    budgets: list[float | None] = [None] * n
    if scenario.budget_cny is not None:
        weight = np.zeros(n)
        for part in (need, slack):
            if part.sum() > 0:
                weight += part / part.sum()
        if weight.sum() <= 0:
            weight = n_out if n_out.sum() > 0 else np.ones(n)
        yuan = apportion(math.floor(scenario.budget_cny), weight)
        budgets = [float(v) for v in yuan]
    return {
        a: DistrictLimits(adcode=a, max_open=opens[k], max_close=closes[k],
                          budget_cny=budgets[k], need_per_h=float(need[k]),
                          slack_per_h=float(slack[k]), cap_open=cap_open[k],
                          cap_close=cap_close[k], max_upgrade=upgrades[k],
                          max_convert=converts[k])
        for k, a in enumerate(adcodes)
    }


def _capped(policy: int | None, n: int) -> int:
    return n if policy is None else min(int(policy), n)


def district_scenario(scenario: Scenario, limits: DistrictLimits | None) -> Scenario:
    """The scenario a district runs with: the city limits replaced by its share."""
    if limits is None:
        return scenario
    return scenario.replace(max_open=limits.max_open, max_close=limits.max_close,
                            max_upgrade=limits.max_upgrade, max_convert=limits.max_convert,
                            budget_cny=limits.budget_cny)


# --- one district (runs on a worker) -----------------------------------------------------


@dataclass(frozen=True, eq=False)
class DistrictRun:
    """What one district task sends back.

    ``plan`` is the district's own :class:`~netplan.plan.Plan` (``None`` when it failed,
    ``reason`` then says why). ``decided`` (site_id, format_after: ``""`` = closed),
    ``relocations`` (from_id, to_id) and ``assignment`` (zone_id, site_id, share, dist_m
    of the district's own zones, unrounded) feed the merge.
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

    def info(self) -> dict[str, Any]:
        """JSON-ready summary, the same for identical runs (timings: :meth:`timing`)."""
        out: dict[str, Any] = {"ok": self.ok}
        if not self.ok:
            out.update(reason=self.reason, error=self.error)
        out.update({k: _jsonable(v) for k, v in self.solver.items() if not k.endswith("_s")})
        out.update(model_zones=self.model_zones, model_sites=self.model_sites)
        if self.plan is not None:
            out["actions"] = self.plan.counts
        return out

    def timing(self) -> dict[str, Any]:
        """Seconds, memory and worker of the run (for ``run.json``)."""
        return {**{k: _jsonable(round(v, 3)) for k, v in self.solver.items() if k.endswith("_s")},
                "wall_s": round(self.wall_s, 3), "cpu_s": round(self.cpu_s, 3),
                "peak_rss_mb": _jsonable(round(self.peak_rss_mb, 1)), "worker": self.worker}


MODES: tuple[str, ...] = ("buffer", "partition")
"""How a district is planned: with its buffer (the planner's rule) or alone."""


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise NetplanError(f"unknown district mode {mode!r}; use one of {', '.join(MODES)}")


def _partition(study: Study, scenario: Scenario, adcode: str, *, year: int
               ) -> tuple[Study, int]:
    """The district alone, its zones' population of ``year`` put in ``pop_2020``.

    The horizon population is a property of the whole city (see
    :func:`netplan.demand.zone_population`), so it is computed on the full zone table and
    the district then planned at the base year with those figures.
    """
    pop = np.asarray(demand.zone_population(study.zones, scenario, year=year), np.float64)
    own = (study.zones["adcode"].astype(str) == adcode).to_numpy()
    zones = study.zones.loc[own].copy()
    zones["pop_2020"] = pop[own]
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


def run_district(
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
    threads: int | None = planner.DISTRICT_THREADS,
) -> DistrictRun:
    """Plan one district (what each Dask task runs).

    ``mode="buffer"``: the same steps as :func:`netplan.plan.make_plan` with ``adcode``
    (the district with its buffer, see :mod:`netplan.planner`). ``mode="partition"``: the
    district alone — its own zones, outlets and candidates (the demand still placed by
    the city-level horizon rule), so no two district plans share an outlet.

    A :class:`~netplan._errors.NetplanError` (infeasible policy, no plan within the time
    limit, ...) is returned as a failed :class:`DistrictRun` with its message as
    ``reason`` instead of being raised, so one district cannot lose the others.
    ``threads``: solver threads (default one, :data:`netplan.planner.DISTRICT_THREADS`;
    None = the solver's default).
    """
    import socket

    t0 = time.perf_counter()
    c0 = time.process_time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    adcode = check_adcode(adcode)
    _check_mode(mode)
    tl = scenario.time_limit_s if time_limit_s is None else time_limit_s
    gap = scenario.mip_gap if mip_gap is None else mip_gap
    try:
        run_study, run_year = (study, year) if mode == "buffer" else _partition(
            study, scenario, adcode, year=year)
        model = planner.build_model(run_study, scenario, year=run_year, adcode=adcode,
                                    locked=locked, forbidden=forbidden)
        sol = planner.solve_model(model, solver=solver, time_limit_s=tl, mip_gap=gap,
                                  threads=threads)
        result = plan_from_solution(run_study, scenario, model, sol, year=run_year,
                                    adcode=adcode)
        if run_year != year:
            result = dataclasses.replace(result, kpis={**result.kpis, "year": year})
        study = run_study
    except NetplanError as exc:
        log.warning("district %s failed: %s", adcode, exc)
        return DistrictRun(adcode=adcode, ok=False, reason=str(exc),
                           error=type(exc).__name__, wall_s=time.perf_counter() - t0,
                           cpu_s=time.process_time() - c0, peak_rss_mb=_peak_rss_mb(),
                           worker=worker)
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
        adcode=adcode, ok=True, plan=result,
        solver={"status": sol.status, "objective": float(sol.objective),
                "best_bound": float(sol.best_bound), "gap": float(sol.gap),
                "solve_s": float(sol.seconds), "build_s": float(sol.build_seconds)},
        decided=pd.DataFrame({"site_id": s.site_id[dec].astype(str),
                              "format_after": fmt.astype(str)}),
        relocations=pd.DataFrame({"from_id": s.site_id[model.reloc_from[reloc]].astype(str),
                                  "to_id": s.site_id[model.reloc_to[reloc]].astype(str)}),
        assignment=pd.DataFrame({
            "zone_id": zone_ids[az[keep]], "site_id": s.site_id[asite[keep]].astype(str),
            "share": np.asarray(sol.assign_share, np.float64)[keep], "dist_m": dist}),
        wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
        peak_rss_mb=_peak_rss_mb(), worker=worker,
        model_zones=len(model.zone_index), model_sites=len(s),
    )


# --- the merge -------------------------------------------------------------------------


def objective_of(model: planner.Model, scenario: Scenario, *, site_option: NDArray[Any],
                 relocated: NDArray[Any], zone: NDArray[Any], site: NDArray[Any],
                 share: NDArray[Any], dist_m: NDArray[Any],
                 unserved_share: NDArray[Any]) -> float:
    """The whole-city objective (annual CNY, as :mod:`netplan.optimize` reports it) of a plan.

    Travel (annual visits × km × cost per km) + unserved visits × penalty + operating and
    amortised one-off cost of the chosen options + amortised closing cost − amortised
    relocation savings (+ the load-balance term when the scenario has one).
    """
    p = model.problem
    opt = np.asarray(site_option, dtype=np.int64)
    is_open = opt >= 0
    visits = np.asarray(demand.annual_visits(model.zone_pop, scenario), dtype=np.float64)
    z = np.asarray(zone, np.int64)
    j = np.asarray(site, np.int64)
    x = np.asarray(share, np.float64)
    travel = float(np.sum(visits[z] * x * np.asarray(dist_m, np.float64) / 1000.0)
                   * scenario.travel_cost_cny_per_km)
    u = np.asarray(unserved_share, np.float64)
    unserved = float(np.sum(np.asarray(p.unserved_cost) * u))
    options = float(np.sum(np.asarray(p.opt_cost)[opt[is_open]]))
    closed = np.asarray(p.site_existing) & ~is_open
    closing = float(np.sum(np.asarray(p.site_close_cost)[closed]))
    saving = float(np.sum(np.asarray(p.reloc_saving)[np.asarray(relocated, bool)]))
    total = travel + unserved + options + closing - saving
    if p.balance_weight > 0:
        load = np.bincount(j, weights=np.asarray(p.demand)[z] * x, minlength=len(opt))
        cap = np.where(is_open, np.asarray(p.opt_capacity)[np.maximum(opt, 0)], 0.0)
        total += p.balance_weight * float(np.sum(np.maximum(load - p.balance_threshold * cap,
                                                            0.0)))
    return total


def _pair_keys(zone: NDArray[np.int64], site: NDArray[np.int64], n_sites: int
               ) -> NDArray[np.int64]:
    return zone.astype(np.int64) * np.int64(max(n_sites, 1)) + site.astype(np.int64)


def merge_districts(
    study: Study,
    scenario: Scenario,
    runs: Mapping[str, DistrictRun],
    *,
    year: int,
    limits: Mapping[str, DistrictLimits] | None = None,
    solver: str = "highs",
    wall_s: float = 0.0,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    skipped: Mapping[str, str] | None = None,
) -> Plan:
    """Merge district runs into one city :class:`~netplan.plan.Plan` (see the module docstring).

    ``scenario`` is the city scenario (its limits are the ones checked). Districts
    missing from ``runs`` or whose run failed keep their network unchanged; ``skipped``
    (adcode -> why) lists those left out on purpose (``kpis["skipped_districts"]``), the
    other missing ones count as failed ("not run").
    """
    model = planner.build_model(study, scenario, year=year, adcode=None, locked=locked,
                                forbidden=forbidden)
    s, o = model.sites, model.options
    n_sites, n_zones = len(s), len(model.zone_index)
    site_idx = {sid: k for k, sid in enumerate(s.site_id.astype(str))}
    zone_ids = study.zones["zone_id"].astype(str).to_numpy()
    zone_idx = {zid: k for k, zid in enumerate(zone_ids)}
    opt_of: dict[tuple[int, str], int] = {}
    for k in range(len(o.site)):
        if not o.is_current[k]:
            opt_of[(int(o.site[k]), str(o.format[k]))] = k
    current = np.full(n_sites, -1, dtype=np.int64)
    cur = np.flatnonzero(o.is_current)
    current[o.site[cur]] = cur
    site_option = current.copy()  # every outlet kept, no candidate opened

    ok_runs = {ad: r for ad, r in runs.items() if r.ok}
    relocated = np.zeros(len(model.reloc_from), dtype=bool)
    pair_of = {(int(f), int(t)): k
               for k, (f, t) in enumerate(zip(model.reloc_from, model.reloc_to, strict=True))}
    for _ad, r in sorted(ok_runs.items()):
        assert r.decided is not None and r.relocations is not None
        for sid, fmt in zip(r.decided["site_id"], r.decided["format_after"], strict=True):
            j = site_idx[str(sid)]
            if not fmt:
                site_option[j] = -1
            elif s.existing[j] and str(fmt) == str(s.format[j]):
                site_option[j] = current[j]
            else:
                site_option[j] = opt_of[(j, str(fmt))]
        for f_id, t_id in zip(r.relocations["from_id"], r.relocations["to_id"], strict=True):
            pair = (site_idx[str(f_id)], site_idx[str(t_id)])
            if pair not in pair_of:  # a district sees only its own candidates, so an
                pair_of[pair] = len(pair_of)  # outlet's nearest ones there may differ
            kp = pair_of[pair]
            if kp >= len(relocated):
                relocated = np.concatenate([relocated, np.zeros(kp + 1 - len(relocated), bool)])
            relocated[kp] = True
    if len(pair_of) > len(model.reloc_from):
        extra = sorted(pair_of.items(), key=lambda kv: kv[1])[len(model.reloc_from):]
        model = _with_moves(model, scenario, [p for p, _ in extra])

    # assignment: own zones from each district's plan; the rest by the diagnosis rule
    z_ad = study.zones["adcode"].to_numpy(dtype=object)
    planned_zone = np.isin(z_ad.astype(str), sorted(ok_runs))
    parts_z, parts_s, parts_x, parts_d = [], [], [], []
    for r in ok_runs.values():
        assert r.assignment is not None
        a = r.assignment
        parts_z.append(np.array([zone_idx[z] for z in a["zone_id"]], dtype=np.int64))
        parts_s.append(np.array([site_idx[x] for x in a["site_id"]], dtype=np.int64))
        parts_x.append(a["share"].to_numpy(np.float64))
        parts_d.append(a["dist_m"].to_numpy(np.float64))
    before = planner.before_assignment(model, scenario)
    rest = ~planned_zone[before.zone]
    parts_z.append(before.zone[rest])
    parts_s.append(before.site[rest])
    parts_x.append(before.share[rest])
    parts_d.append(before.dist_m[rest])
    az = np.concatenate(parts_z) if parts_z else np.empty(0, np.int64)
    asite = np.concatenate(parts_s) if parts_s else np.empty(0, np.int64)
    ax = np.concatenate(parts_x) if parts_x else np.empty(0)
    ad_ = np.concatenate(parts_d) if parts_d else np.empty(0)

    # conflicts between district plans, repaired so that the merged plan keeps its promise
    ok_sites = np.isin(s.adcode.astype(str), sorted(ok_runs))
    az, asite, ax, ad_, cross = _repair(model, scenario, site_option, ok_sites,
                                        az, asite, ax, ad_)

    # one row per (zone, site)
    keys = _pair_keys(az, asite, n_sites)
    uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    share = np.asarray(np.bincount(inv.reshape(-1), weights=ax, minlength=len(uniq)),
                       dtype=np.float64)
    az, asite, ad_, ax = az[first], asite[first], ad_[first], share
    served = np.bincount(az, weights=ax, minlength=n_zones)
    unserved = np.clip(1.0 - served, 0.0, 1.0)
    unserved[unserved < 1e-9] = 0.0

    # distances of pairs the city matrix does not hold (a district sees only its own
    # candidates, so a zone's k nearest there may lie beyond its k nearest in the city)
    coo = model.dist_m.tocoo()
    have = _pair_keys(coo.row.astype(np.int64), coo.col.astype(np.int64), n_sites)
    missing = ~np.isin(_pair_keys(az, asite, n_sites), have)
    if missing.any():
        aug = sp.csr_array(
            (np.concatenate([coo.data, ad_[missing]]),
             (np.concatenate([coo.row, az[missing]]), np.concatenate([coo.col, asite[missing]]))),
            shape=model.dist_m.shape)
        aug.sort_indices()
        model = dataclasses.replace(model, dist_m=aug)

    objective = objective_of(model, scenario, site_option=site_option, relocated=relocated,
                             zone=az, site=asite, share=ax, dist_m=ad_, unserved_share=unserved)
    sol = optimize.Solution(
        status="merged", objective=objective, best_bound=float("nan"), gap=float("nan"),
        seconds=wall_s, build_seconds=0.0, solver=solver, backend="dask",
        site_option=site_option, relocated=relocated, assign_zone=az, assign_site=asite,
        assign_share=ax, unserved_share=unserved,
    )
    merged = plan_from_solution(study, scenario, model, sol, year=year, adcode=None)
    failed = {ad: r for ad, r in runs.items() if not r.ok}
    skip = dict(skipped or {})
    all_ads = sorted(str(a) for a in study.districts["adcode"].astype(str))
    missing_ads = [a for a in all_ads if a not in runs and a not in skip]
    actions = merged.actions
    if failed or missing_ads:
        actions = actions.copy()
        for ad in [*failed, *missing_ads]:
            why = failed[ad].reason if ad in failed else "not run"
            rows = (actions["adcode"].astype(str) == ad).to_numpy()
            actions.loc[rows, "reason"] = f"unchanged: the plan of district {ad} failed ({why})"
    kpis = dict(merged.kpis)
    gaps = [float(r.solver.get("gap", math.nan)) for r in ok_runs.values()]
    kpis["solver"] = {
        "status": "merged" if not failed else "merged_with_failures",
        "objective": round(objective, 2), "best_bound": None, "gap": None,
        "solver": solver,
        "max_district_gap": _jsonable(round(max(gaps), 6)) if gaps else None,
        "districts_ok": len(ok_runs), "districts_failed": len(failed),
    }
    kpis["failed_districts"] = [
        {"adcode": ad, "error": r.error, "reason": r.reason} for ad, r in sorted(failed.items())
    ] + [{"adcode": ad, "error": "", "reason": "not run"} for ad in missing_ads]
    kpis["skipped_districts"] = [{"adcode": ad, "reason": why} for ad, why in sorted(skip.items())]
    kpis["merge"] = {
        "method": "recomputed",
        "note": "KPIs recomputed for the merged network over the whole city; each zone "
                "served as its own district's plan serves it, conflicts between plans "
                "repaired (see coordination.repair); objective = the whole-city "
                "objective evaluated on the merged plan",
    }
    kpis["coordination"] = _coordination(model, scenario, site_option, relocated, limits, cross,
                                         kpis)
    kpis["districts_run"] = {ad: {**r.info(), "limits": (limits[ad].as_dict()
                                                         if limits and ad in limits else None)}
                             for ad, r in sorted(runs.items())}
    return dataclasses.replace(merged, kpis=kpis, actions=actions)


def _with_moves(model: planner.Model, scenario: Scenario,
                pairs: Sequence[tuple[int, int]]) -> planner.Model:
    """``model`` with extra relocation pairs (from, to), costed as the planner costs moves.

    A move keeps the outlet's format (its target opens the option of that format) and
    saves ``close + open - relocate`` of that format (one-off, amortised in the objective).
    """
    s, o, p = model.sites, model.options, model.problem
    fmts = scenario.formats
    opt_of = {(int(j), str(f)): k for k, (j, f) in enumerate(zip(o.site, o.format, strict=True))}
    rf = np.array([f for f, _ in pairs], dtype=np.int64)
    rt = np.array([t for _, t in pairs], dtype=np.int64)
    ro = np.array([opt_of[(int(t), str(s.format[f]))] for f, t in pairs], dtype=np.int64)
    save = np.array([max(fmts[str(s.format[f])].close_cny + fmts[str(s.format[f])].open_cny
                         - fmts[str(s.format[f])].relocate_cny, 0.0) for f, _ in pairs])
    to_opt = p.reloc_to_option
    problem = dataclasses.replace(
        p,
        reloc_from=np.concatenate([p.reloc_from, rf]),
        reloc_to=np.concatenate([p.reloc_to, rt]),
        reloc_to_option=None if to_opt is None else np.concatenate([to_opt, ro]),
        reloc_saving=np.concatenate([p.reloc_saving, save / scenario.amortisation_years]),
        reloc_saving_oneoff=np.concatenate([p.reloc_saving_oneoff, save]),
    )
    return dataclasses.replace(model, reloc_from=problem.reloc_from, reloc_to=problem.reloc_to,
                               problem=problem)


def _repair(
    model: planner.Model, scenario: Scenario, site_option: NDArray[np.int64],
    planned_site: NDArray[np.bool_], az: NDArray[np.int64], asite: NDArray[np.int64],
    ax: NDArray[np.float64], ad_: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
           dict[str, Any]]:
    """Make the merged assignment feasible for the merged network.

    District runs keep their neighbours' outlets as they are, so two plans can both count on
    one outlet, or on one the other closes. Shares assigned to a closed outlet (*orphans*)
    and the excess above an outlet's capacity at the waiting target (*overload*; the
    farthest customers first) are taken off and placed by the diagnosis rule on the spare
    capacity of the open outlets within reach (nearest first, in order of increasing
    distance); what finds no room stays unserved. Outlets of districts without a plan
    (failed) keep their saturation throughput as the limit, as in the diagnosis.
    """
    from netplan.model import kpi
    from netplan.planning.diagnose import SATURATION_UTILISATION, throughput_per_h

    s, o = model.sites, model.options
    n_sites, n_zones = len(s), len(model.zone_index)
    arrivals = model.zone_arrivals
    is_open = site_option >= 0
    cap = np.where(is_open, o.capacity[np.maximum(site_option, 0)], 0.0)
    sat = throughput_per_h(np.maximum(s.counters, 1), np.maximum(s.terminals, 1),
                           scenario=scenario, utilisation=SATURATION_UTILISATION)
    cap = np.where(planned_site | ~s.existing, cap, np.where(is_open, sat, 0.0))
    load_of = arrivals[az] * ax
    orphan = ~is_open[asite]
    take = np.where(orphan, ax, 0.0)
    load = np.bincount(asite[~orphan], weights=load_of[~orphan], minlength=n_sites)
    over_sites = np.flatnonzero(is_open & (load > cap * (1 + 1e-9) + 1e-12))
    shed = 0.0
    if over_sites.size:
        rows = np.flatnonzero(~orphan & np.isin(asite, over_sites))
        order = rows[np.lexsort((-az[rows], -ad_[rows], asite[rows]))]  # farthest first
        excess = load - cap
        for p in order:
            j = asite[p]
            if excess[j] <= 1e-12 or load_of[p] <= 0:
                continue
            part = min(1.0, excess[j] / load_of[p])
            take[p] = ax[p] * part
            excess[j] -= load_of[p] * part
            shed += float(load_of[p] * part)
    need = np.bincount(az, weights=take, minlength=n_zones)
    stats = {"conflict_pairs": int(orphan.sum()),
             "closed_outlet_arrivals_per_h": round(float(np.sum(load_of[orphan])), 3),
             "overload_arrivals_per_h": round(shed, 3)}
    keep = ax - take > 1e-12
    az, asite, ad_, ax = az[keep], asite[keep], ad_[keep], (ax - take)[keep]
    placed = 0.0
    if need.any():
        rest = np.bincount(asite, weights=arrivals[az] * ax, minlength=n_sites)
        room = np.where(is_open, np.maximum(cap - rest, 0.0), 0.0)
        coo = model.dist_m.tocoo()
        sel = is_open[coo.col] & (need[coo.row] > 0)
        dist = sp.csr_array((coo.data[sel], (coo.row[sel], coo.col[sel])),
                            shape=model.dist_m.shape)
        more = kpi.assign_nearest_with_spill(dist, arrivals * need, room)
        add = more.share * need[more.zone]
        placed = float(np.sum(arrivals[more.zone] * add))
        az = np.concatenate([az, more.zone])
        asite = np.concatenate([asite, more.site])
        ax = np.concatenate([ax, add])
        ad_ = np.concatenate([ad_, more.dist_m])
    stats["moved_arrivals_per_h"] = round(placed, 3)
    stats["unserved_arrivals_per_h"] = round(float(np.sum(arrivals * need)) - placed, 3)
    return az, asite, ax, ad_, stats


def _coordination(model: planner.Model, scenario: Scenario, site_option: NDArray[np.int64],
                  relocated: NDArray[np.bool_], limits: Mapping[str, DistrictLimits] | None,
                  repair: dict[str, Any], kpis: Mapping[str, Any]) -> dict[str, Any]:
    """City limits checked on the merged plan (counts as the optimizer counts them)."""
    s, p = model.sites, model.problem
    is_open = site_option >= 0
    moved = np.zeros(len(s), dtype=bool)  # a move counts neither as opening nor as closure
    moved[model.reloc_from[relocated]] = True
    moved[model.reloc_to[relocated]] = True
    new_open = ~s.existing & is_open & ~moved
    closed_ = s.existing & ~is_open & ~moved
    tag = np.where(is_open, np.asarray(p.opt_tag)[np.maximum(site_option, 0)], -1)
    upgraded = tag == planner.TAG_UPGRADE
    converted = tag == planner.TAG_CONVERT
    spend = float(kpis["costs"]["oneoff_spend_cny"])
    share_out = kpis["after"]["overall"].get("share_outlets_outside_ring5")
    checks: dict[str, Any] = {
        "max_open": {"limit": scenario.max_open, "value": int(new_open.sum())},
        "max_close": {"limit": scenario.max_close, "value": int(closed_.sum())},
        "max_upgrade": {"limit": scenario.max_upgrade, "value": int(upgraded.sum())},
        "max_convert": {"limit": scenario.max_convert, "value": int(converted.sum())},
        "budget_cny": {"limit": scenario.budget_cny, "value": spend},
        "min_share_outside_ring5": {"limit": scenario.min_share_outside_ring5,
                                    "value": share_out},
    }
    violations: list[str] = []
    for key in ("max_open", "max_close", "max_upgrade", "max_convert", "budget_cny"):
        lim, val = checks[key]["limit"], checks[key]["value"]
        if lim is not None and val > lim + 1e-6:
            violations.append(f"{key}: the merged plan has {val:,.0f}, the city limit is "
                              f"{lim:,.0f}")
    lim_s = scenario.min_share_outside_ring5
    if lim_s is not None and share_out is not None and share_out < lim_s - 1e-9:
        violations.append(
            f"min_share_outside_ring5: {share_out:.2%} of the merged outlets lie outside the "
            f"5th ring, the scenario asks for {lim_s:.2%} (a city-level ratio, not enforced "
            "in district runs; plan the whole city or add district policies)")
    per: dict[str, Any] = {}
    if limits:
        ad = s.adcode.astype(str)
        for a, lim in sorted(limits.items()):
            m = ad == a
            counts = {"opened": int(np.sum(m & new_open)), "closed": int(np.sum(m & closed_)),
                      "upgraded": int(np.sum(m & upgraded)),
                      "converted": int(np.sum(m & converted))}
            per[a] = {**counts, **{k: v for k, v in lim.as_dict().items()
                                   if k.startswith("max_") or k == "budget_cny"}}
            for what, key in (("opened", "max_open"), ("closed", "max_close"),
                              ("upgraded", "max_upgrade"), ("converted", "max_convert")):
                cap = getattr(lim, key)
                if cap is not None and counts[what] > cap:
                    violations.append(f"district {a}: {counts[what]} {what} > its share {cap} "
                                      f"({key})")
    return {
        "method": "city limits split before the runs: max_open and max_upgrade by need "
                  "(unserved + overload arrivals under the diagnosis), max_close and "
                  "max_convert by slack (spare capacity at the target), budget by the mean of "
                  "both shares; capped by each district's policy and sites, integer by "
                  "largest remainder; moves count neither as openings nor as closures",
        "checks": checks,
        "violations": violations,
        "repair": repair,
        "overloaded_outlets_after": kpis["after"]["overall"].get("overloaded_outlets"),
        "districts": per,
    }


# --- running every district --------------------------------------------------------------


class RunningTask(NamedTuple):
    """A district task still running: adcode, district name, seconds since it started."""

    adcode: str
    name: str
    elapsed_s: float


@dataclass(frozen=True)
class ProgressEvent:
    """What :func:`plan_all` reports to its ``progress`` callback.

    Attributes
    ----------
    stage
        ``"diagnosis"``, ``"cluster"``, ``"districts"``, ``"merge"`` or ``"done"``.
    done, total, failed
        District tasks finished (failed included) / all / failed so far.
    elapsed_s
        Seconds since :func:`plan_all` started.
    running
        Tasks still running, slowest first (at most 5).
    finished
        Adcode of the district that just finished (``None`` on a heartbeat / stage event).
    message
        One short line (what just happened).
    """

    stage: str
    done: int
    total: int
    failed: int
    elapsed_s: float
    running: tuple[RunningTask, ...] = ()
    finished: str | None = None
    message: str = ""


Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True, eq=False)
class CityPlan:
    """Every district's plan and their merge (see the module docstring).

    Attributes
    ----------
    plan
        The merged city plan (a :class:`~netplan.plan.Plan`: maps and reports take it).
    districts
        adcode -> the district's own plan, for the districts that succeeded.
    failed
        adcode -> reason, for the districts whose run failed.
    limits
        adcode -> the district's share of the city limits.
    run
        Timings, workers, scheduler.
    """

    plan: Plan
    districts: Mapping[str, Plan]
    failed: Mapping[str, str]
    limits: Mapping[str, DistrictLimits]
    run: Mapping[str, Any]

    @property
    def kpis(self) -> dict[str, Any]:
        return self.plan.kpis

    def write(self, out: Path, *, extras: Callable[[Path], None] | None = None) -> Path:
        """Write the city folder atomically (see :func:`write_city_plan`)."""
        return write_city_plan(self, out, extras=extras)


def _size_key(study: Study, *, sites_only: bool = False,
              buffer_m: float = 0.0) -> dict[str, float]:
    """Rough cost of each district's run, for largest-first submission.

    Zones of the model × √(sites + 1): the model grows with its zones (k pairs each) and
    the search with the sites, less than linearly. The model's zones are those within
    ``buffer_m`` of the district (its buffer, as :func:`netplan.planner.build_model` takes
    them); counting only the district's own zones ordered the synthetic city so badly that
    a 4.5 s district started last (makespan on 2 workers 19.2 s vs 17.6 s, measured).
    ``sites_only``: the number of outlets and candidates of each district.
    """
    ads = study.districts["adcode"].astype(str)
    ns = (study.branches["adcode"].astype(str).value_counts()
          .add(study.candidates["adcode"].astype(str).value_counts(), fill_value=0))
    if sites_only:
        return {str(a): float(ns.get(a, 0)) for a in ads}
    zad = study.zones["adcode"].astype(str).to_numpy(dtype=object)
    if buffer_m > 0:
        import shapely

        xy = zone_points(study.zones)
        nz = {}
        for a, geom in zip(ads, study.districts.geometry, strict=True):
            inside = shapely.contains_xy(shapely.buffer(geom, buffer_m), xy[:, 0], xy[:, 1])
            nz[str(a)] = float(np.count_nonzero(inside | (zad == a)))
    else:
        counts = study.zones["adcode"].astype(str).value_counts()
        nz = {str(a): float(counts.get(a, 0)) for a in ads}
    return {str(a): nz[str(a)] * math.sqrt(float(ns.get(a, 0)) + 1.0) for a in ads}


def plan_all(
    study: Study,
    scenario: Scenario,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    coordinate: bool = True,
    adcodes: Sequence[str] | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
    mode: str = "buffer",
    progress: Progress | None = None,
    task_threads: int | None = planner.DISTRICT_THREADS,
) -> CityPlan:
    """Plan every district in parallel on Dask and merge them into one city plan.

    Parameters
    ----------
    study, scenario
        The layers and the city scenario.
    workers
        Worker processes of the embedded ``LocalCluster`` (one thread each; default:
        the number of CPUs, at most the number of districts). Ignored with ``scheduler``.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); the study is sent to
        its workers once (scattered, broadcast).
    year, solver, time_limit_s, mip_gap
        As in :func:`netplan.plan.make_plan`; the time limit applies to each district.
    coordinate
        Split the city limits across districts (:func:`split_limits`); ``False`` gives
        every district the full city limits (the per-district behaviour of ``plan -d``).
    adcodes
        Plan only these districts (the others keep their network); default all.
    locked, forbidden
        Site ids that must stay open / must not open; each district run gets its own.
    mode
        ``"buffer"`` (default): each district with its buffer (:mod:`netplan.planner`);
        ``"partition"``: each district alone, so plans never conflict (see
        :func:`run_district`; measured better and faster on synthetic cities, see
        ``bench/README.md``).
    progress
        Called with a :class:`ProgressEvent` on every finished district and about once a
        second while districts run.
    task_threads
        Solver threads per district task: one by default, matching the one-thread workers
        (None lets HiGHS use every core in each task, which oversubscribes the machine when
        several tasks run at once; kept for measurements).

    Returns
    -------
    CityPlan
        A district that fails (infeasible, no plan in time) is listed in
        ``kpis["failed_districts"]`` and keeps its network; the others are unaffected.

    Notes
    -----
    The local cluster starts worker processes with ``spawn``: a script that calls this
    function must do so under ``if __name__ == "__main__":`` (the ``netplan`` command
    does). Each task is single-threaded (``task_threads``). Every district is submitted
    at once with a priority, largest first, and the scheduler hands a worker its next
    district the moment it is free (no round trip through this process, which only
    gathers results); ``progress`` asks the workers which districts are executing.
    """
    import distributed

    dd: Any = distributed  # untyped third-party API
    t0 = time.perf_counter()
    year = scenario.horizon_year if year is None else year
    names = {check_adcode(a): str(n) for a, n in zip(
        study.districts["adcode"].astype(str), study.districts["name_zh"].astype(str),
        strict=True)}
    todo = sorted(names) if adcodes is None else sorted({check_adcode(a) for a in adcodes})
    unknown = [a for a in todo if a not in names]
    if unknown:
        raise NetplanError(f"districts {unknown} are not in the districts layer; valid adcodes: "
                           f"{', '.join(sorted(names))}")
    n_sites = _size_key(study, sites_only=True)
    skipped = {a: "no outlet and no candidate site: nothing to decide (its zones are served "
                  "as in the diagnosis)" for a in todo if n_sites.get(a, 0.0) == 0}
    todo = [a for a in todo if a not in skipped]
    total = len(todo)
    _check_mode(mode)
    site_ad = dict(zip(study.branches["branch_id"].astype(str),
                       study.branches["adcode"].astype(str), strict=True))
    site_ad.update(zip(study.candidates["candidate_id"].astype(str),
                       study.candidates["adcode"].astype(str), strict=True))
    bad = sorted((set(locked) | set(forbidden)) - set(site_ad))
    if bad:
        raise NetplanError(f"locked/forbidden site ids {bad[:10]} are not outlets or candidates "
                           "of the study; check the ids (branch_id / candidate_id)")

    def emit(stage: str, done: int, failed: int, running: tuple[RunningTask, ...] = (),
             finished: str | None = None, message: str = "") -> None:
        if progress is not None:
            progress(ProgressEvent(stage=stage, done=done, total=total, failed=failed,
                                   elapsed_s=time.perf_counter() - t0, running=running,
                                   finished=finished, message=message))

    limits: dict[str, DistrictLimits] = {}
    if coordinate:
        emit("diagnosis", 0, 0, message="splitting the city limits across districts")
        limits = split_limits(study, scenario, year=year)
    t_split = time.perf_counter()
    size = _size_key(study, buffer_m=scenario.max_dist_km * 1000.0 if mode == "buffer" else 0.0)
    queue = sorted(todo, key=lambda a: (-size.get(a, 0.0), a))

    emit("cluster", 0, 0, message=("connecting to " + scheduler) if scheduler else
         "starting the local Dask cluster")
    cluster: Any = None
    if scheduler:
        try:
            client = dd.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise NetplanError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address "
                "(tcp://host:8786) and that `dask scheduler` runs there, or drop --scheduler "
                "to use a local cluster") from None
    else:
        n = workers if workers is not None else (os.cpu_count() or 1)
        n = max(1, min(int(n), max(total, 1)))
        import dask

        # the scheduler hands a worker its next district when it is free, largest first
        # (saturation 1.0: no task waits on a busy worker while another one idles)
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
            cluster = dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      dashboard_address=None, host="127.0.0.1",
                                      silence_logs=logging.ERROR)
        client = dd.Client(cluster)
    runs: dict[str, DistrictRun] = {}
    try:
        if scheduler:
            try:
                client.wait_for_workers(1, timeout=60)
            except TimeoutError:
                raise NetplanError(f"the Dask scheduler at {scheduler} has no workers after "
                                   "60 s; start workers (`dask worker {scheduler}`) or run "
                                   "without --scheduler") from None
        n_threads = max(1, sum(client.nthreads().values()))
        study_f = client.scatter(study, broadcast=True)
        t_cluster = time.perf_counter()
        ac = dd.as_completed()
        inflight: dict[Any, str] = {}

        def submit(rank: int, ad: str) -> None:
            sc = district_scenario(scenario, limits.get(ad))
            own_l = frozenset(i for i in locked if site_ad[i] == ad)
            own_f = frozenset(i for i in forbidden if site_ad[i] == ad)
            fut = client.submit(run_district, study_f, sc, ad, year=year, solver=solver,
                                time_limit_s=time_limit_s, mip_gap=mip_gap, locked=own_l,
                                forbidden=own_f, mode=mode, threads=task_threads,
                                pure=False, priority=len(queue) - rank,
                                key=f"netplan-district-{ad}-{os.getpid()}-{time.time_ns()}")
            inflight[fut] = ad
            ac.add(fut)

        started: dict[str, float] = {}  # adcode -> when first seen executing on a worker

        def running() -> tuple[RunningTask, ...]:
            # every task is submitted at once; ask the workers which ones execute
            now = time.perf_counter()
            try:
                keys = {k for ks in client.run(_executing_keys).values() for k in ks}
            except Exception:  # a display detail must not fail the run
                keys = set()
            for f, ad in inflight.items():
                if f.key in keys:
                    started.setdefault(ad, now)
            rows = sorted(((now - started[ad], ad) for f, ad in inflight.items()
                           if f.key in keys), reverse=True)[:5]
            return tuple(RunningTask(ad, names.get(ad, ""), round(el, 1)) for el, ad in rows)

        n_failed = 0
        for rank, ad in enumerate(queue):  # largest first: the scheduler runs by priority
            submit(rank, ad)
        emit("districts", 0, 0, running(), message=f"{total} districts on {n_threads} "
                                                    "worker thread(s)")
        last_beat = time.perf_counter()
        while inflight:
            if not ac.has_ready():
                time.sleep(_POLL_S)
                if time.perf_counter() - last_beat >= _HEARTBEAT_S:
                    last_beat = time.perf_counter()
                    emit("districts", len(runs), n_failed, running())
                continue
            for fut in ac.next_batch(block=False):
                ad = inflight.pop(fut)
                run = _collect(fut, ad)
                runs[ad] = run
                n_failed += not run.ok
                fut.release()
                msg = (f"{ad} {names.get(ad, '')}: {run.solver.get('status')} gap "
                       f"{run.solver.get('gap', float('nan')):.2%} in {run.wall_s:.1f} s"
                       if run.ok else f"{ad} {names.get(ad, '')}: FAILED ({run.error})")
                emit("districts", len(runs), n_failed, running(), finished=ad, message=msg)
        t_tasks = time.perf_counter()
        workers_info = {str(k): int(v) for k, v in client.nthreads().items()}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    t_runs = time.perf_counter() - t0
    emit("merge", len(runs), sum(not r.ok for r in runs.values()),
         message="merging the district plans")
    merged = merge_districts(study, scenario, runs, year=year, limits=limits or None,
                             solver=solver, wall_s=t_runs, locked=frozenset(locked),
                             forbidden=frozenset(forbidden), skipped=skipped)
    merged.kpis["merge"]["district_mode"] = mode
    wall = time.perf_counter() - t0
    run_info = {
        **merged.run,
        "mode": "districts",
        "scheduler": scheduler or "LocalCluster",
        "workers": workers_info,
        "split_seconds": round(t_split - t0, 3),
        "cluster_seconds": round(t_cluster - t_split, 3),
        "tasks_seconds": round(t_tasks - t_cluster, 3),
        "districts_seconds": round(t_runs, 3),
        "merge_seconds": round(wall - t_runs, 3),
        "wall_seconds": round(wall, 3),
        "sum_district_seconds": round(sum(r.wall_s for r in runs.values()), 3),
        "sum_district_cpu_seconds": round(sum(r.cpu_s for r in runs.values()), 3),
        "max_worker_peak_rss_mb": _jsonable(round(max(
            (r.peak_rss_mb for r in runs.values()), default=float("nan")), 1)),
        "districts": {ad: r.timing() for ad, r in sorted(runs.items())},
    }
    merged = dataclasses.replace(merged, run=run_info)
    emit("done", len(runs), sum(not r.ok for r in runs.values()),
         message=f"{len(runs)} districts planned and merged in {wall:.1f} s")
    return CityPlan(
        plan=merged,
        districts={ad: r.plan for ad, r in sorted(runs.items()) if r.ok and r.plan is not None},
        failed={ad: r.reason for ad, r in sorted(runs.items()) if not r.ok},
        limits=limits,
        run=run_info,
    )


def _collect(fut: Any, adcode: str) -> DistrictRun:
    """The future's DistrictRun; a crash of the task becomes a failed run."""
    try:
        run = fut.result()
    except Exception as exc:  # a bug or a lost worker must not lose the other districts
        log.error("district %s: task crashed: %s: %s", adcode, type(exc).__name__, exc,
                  exc_info=exc)
        return DistrictRun(adcode=adcode, ok=False, error=type(exc).__name__,
                           reason=f"the task crashed ({type(exc).__name__}: {exc}); this is "
                                  "a bug or a lost worker — rerun with --debug and report it")
    if not isinstance(run, DistrictRun):  # pragma: no cover - defensive
        return DistrictRun(adcode=adcode, ok=False, error="TypeError",
                           reason=f"the task returned {type(run).__name__}")
    return run


# --- whole city vs districts -------------------------------------------------------------


def compare_city(
    study: Study,
    scenario: Scenario,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    year: int | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    city: CityPlan | None = None,
    whole: Plan | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole-city single solve next to the coordinated district plans.

    Runs :func:`plan_all` (unless ``city`` is given) and ``make_plan(adcode=None)``
    (unless ``whole`` is given). Both objectives are the same whole-city objective, so
    ``difference.objective_pct`` is the price of decomposing by district (positive = the
    district plans cost more).

    Returns
    -------
    dict
        ``{"whole_city": {...}, "by_district": {...}, "difference": {...}}``; each side has
        objective, best bound, gap, status, seconds, costs, action counts and the
        overall KPIs after.
    """
    from netplan.planning.plan import make_plan

    year = scenario.horizon_year if year is None else year
    if city is None:
        city = plan_all(study, scenario, workers=workers, scheduler=scheduler, year=year,
                        solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap,
                        progress=progress)
    if whole is None:
        t0 = time.perf_counter()
        whole = make_plan(study, scenario, year=year, adcode=None, solver=solver,
                          time_limit_s=time_limit_s, mip_gap=mip_gap)
        whole_s = time.perf_counter() - t0
    else:
        whole_s = float(whole.run.get("solve_seconds", 0.0)) + float(
            whole.run.get("build_seconds", 0.0))

    def side(p: Plan, seconds: float) -> dict[str, Any]:
        k = p.kpis
        return {
            "status": k["solver"]["status"], "objective": k["solver"]["objective"],
            "best_bound": k["solver"].get("best_bound"), "gap": k["solver"].get("gap"),
            "seconds": round(seconds, 3), "costs": k["costs"], "actions": k["actions"],
            "after": k["after"]["overall"],
        }

    a = side(whole, whole_s)
    b = side(city.plan, float(city.run.get("wall_seconds", 0.0)))
    b["max_district_gap"] = city.kpis["solver"].get("max_district_gap")
    b["failed_districts"] = [f["adcode"] for f in city.kpis.get("failed_districts", [])]
    b["violations"] = city.kpis["coordination"]["violations"]
    oa, ob = a["objective"], b["objective"]
    diff: dict[str, Any] = {
        "objective_cny": None if oa is None or ob is None else round(ob - oa, 2),
        "objective_pct": None if not oa or ob is None else round((ob - oa) / abs(oa) * 100, 4),
        "speedup": (round(a["seconds"] / b["seconds"], 3) if b["seconds"] > 0 else None),
    }
    bound = a.get("best_bound")
    if bound is not None and ob is not None and abs(ob) > 0:
        diff["by_district_gap_to_city_bound"] = round((ob - bound) / abs(ob), 6)
    return {"whole_city": a, "by_district": b, "difference": diff}


# --- files -------------------------------------------------------------------------------


def write_city_plan(city: CityPlan, out: Path, *,
                    extras: Callable[[Path], None] | None = None) -> Path:
    """Write the city folder atomically.

    Layout: the merged plan's files at the top (``plan.gpkg``, ``actions.csv``,
    ``kpis.json``, ``run.json``) and one plan folder per district that succeeded under
    ``districts/<adcode>/`` (adcodes checked to be six digits). ``extras(folder)`` may add
    files (the city map, the report) before the folder appears. The same rules as
    :func:`netplan.plan.write_plan`: ``out`` must be new, empty or a plan folder.
    """
    from netplan.planning.plan import staged_folder

    with staged_folder(out, extras=extras) as tmp:
        write_plan_files(city.plan, tmp)
        for ad, p in sorted(city.districts.items()):
            write_plan(p, tmp / "districts" / check_adcode(ad))
    return Path(out)


def read_city_plan(folder: Path) -> CityPlan:
    """Read a folder written by :func:`write_city_plan` (layers in the metric CRS)."""
    folder = Path(folder)
    merged = read_plan(folder)
    districts: dict[str, Plan] = {}
    sub = folder / "districts"
    if sub.is_dir():
        for d in sorted(sub.iterdir()):
            if d.is_dir() and _ADCODE.fullmatch(d.name):
                districts[d.name] = read_plan(d)
    failed = {str(f["adcode"]): str(f["reason"])
              for f in merged.kpis.get("failed_districts", [])}
    limits = {
        ad: DistrictLimits(adcode=ad, max_open=v["limits"]["max_open"],
                           max_close=v["limits"]["max_close"],
                           budget_cny=v["limits"]["budget_cny"],
                           need_per_h=float(v["limits"]["need_per_h"]),
                           slack_per_h=float(v["limits"]["slack_per_h"]),
                           cap_open=v["limits"].get("cap_open"),
                           cap_close=v["limits"].get("cap_close"))
        for ad, v in merged.kpis.get("districts_run", {}).items() if v.get("limits")
    }
    return CityPlan(plan=merged, districts=districts, failed=failed, limits=limits,
                    run=merged.run)


def _jsonable(x: Any) -> Any:
    if isinstance(x, float | np.floating):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def dumps(obj: Any) -> str:
    """JSON text of a :func:`compare_city` result or a progress-free summary."""
    return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
