"""Counters to open at every outlet, hour by hour, under the behaviour model.

An outlet's arrivals in an hour are its business-day arrivals under the behaviour model
(its modelled peak-hour load, :func:`netplan.planning.evaluate.measure_study` or a plan's
``sites_after`` layer, over the scenario's ``peak_hour_share``) times its hourly profile
from a queue log (:func:`netplan.model.calibrate.fit_log`; outlets without a log take the
log's mean profile). Booked visits (``[demand] booking_share``) move from busy into quiet
hours (:func:`book`). The counter share (``1 - smart_share``) of each hour's arrivals is
staffed with the fewest counters whose Erlang C mean wait meets the target
(:func:`netplan.model.queueing.servers_for_target`), or whose ``P(wait > target)`` is at
most ``max_share_over``, up to the counters installed (hours needing more are *short*:
only building relieves them). Each hour's figures are those of the behaviour model's
queue (Erlang A with the scenario's patience) at the counters opened.

Staff hours are compared with a flat roster (each outlet staffs its busiest hour's
counters all day) and with a pool of floaters shared by nearby outlets
(:mod:`netplan.planning.floaters`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from netplan._errors import NetplanError
from netplan._types import FloatArray, IntArray
from netplan.model import queueing
from netplan.model.erlang_a import erlang_a
from netplan.model.scenario import Scenario
from netplan.planning.floaters import assign_pool, pools

if TYPE_CHECKING:
    from netplan.model.calibrate import LogFit
    from netplan.planning.plan import Plan
    from netplan.study.layers import Study

__all__ = ["DATE_PROFILES", "Outlets", "Staffing", "book", "counters_needed", "hourly_arrivals",
           "log_profiles", "network_outlets", "plan_outlets", "staff"]

#: Day types a roster is made for.
DATE_PROFILES: tuple[str, ...] = ("weekday", "weekend")


@dataclass(frozen=True)
class Outlets:
    """The outlets to staff and their arrivals under the behaviour model.

    Attributes
    ----------
    outlet_id : ndarray of str
    xy : ndarray
        ``(n, 2)`` metric coordinates.
    counters : ndarray
        Counters installed (the most that can open).
    peak_load : ndarray
        Modelled peak-hour arrivals (both channels).
    rule : str
        The behaviour rule the loads were measured under.
    """

    outlet_id: Any
    xy: FloatArray
    counters: IntArray
    peak_load: FloatArray
    rule: str


def hourly_arrivals(outlets: Outlets, profiles: dict[str, FloatArray], mean_profile: FloatArray,
                    scenario: Scenario) -> FloatArray:
    """``(outlets, hours)`` arrivals per hour: business-day arrivals x the hourly profile.

    Parameters
    ----------
    outlets
        The outlets and their modelled peak-hour loads.
    profiles
        Outlet id -> arrivals per hour over business-day arrivals (from a log).
    mean_profile
        The profile of an outlet without a log.
    scenario
        Its ``peak_hour_share`` turns a peak-hour load into business-day arrivals.

    Returns
    -------
    ndarray
    """
    per_day = outlets.peak_load / scenario.peak_hour_share
    prof = np.vstack([profiles.get(str(i), mean_profile) for i in outlets.outlet_id])
    return np.asarray(per_day[:, None] * prof, dtype=np.float64)


def book(arrivals: FloatArray, share: float, cap: float) -> FloatArray:
    """Move the booked share of each outlet's visits from busy into quiet hours.

    ``share`` of every hour's arrivals book ahead; they are placed, water-filling, into
    the hours with the fewest unbooked arrivals, no hour above ``cap`` x the day's mean
    hourly arrivals. Booked visits that find no room keep their own hour. The day's total
    is unchanged; ``share = 0`` returns the arrivals unchanged.

    Parameters
    ----------
    arrivals
        ``(outlets, hours)``.
    share
        Share of visits booked, in [0, 1].
    cap
        Fill limit of an hour, a multiple of the day's mean hourly arrivals (> 0).

    Returns
    -------
    ndarray
        ``(outlets, hours)``.
    """
    x = np.asarray(arrivals, dtype=np.float64)
    if share <= 0:
        return x.copy()
    base = (1.0 - share) * x
    booked = share * x.sum(axis=1)
    top = cap * x.mean(axis=1)
    room = np.clip(top[:, None] - base, 0.0, None).sum(axis=1)
    placed = np.minimum(booked, room)
    lo, hi = base.min(axis=1), np.maximum(top, base.min(axis=1))
    for _ in range(60):  # bisection on the water level, all outlets at once
        mid = (lo + hi) / 2
        fill = np.clip(np.minimum(mid, top)[:, None] - base, 0.0, None).sum(axis=1)
        low = fill < placed
        lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
    level = np.minimum(hi, top)
    add = np.clip(level[:, None] - base, 0.0, None)
    scale = np.divide(placed, add.sum(axis=1), out=np.zeros_like(placed),
                      where=add.sum(axis=1) > 0)
    left = np.divide(booked - placed, booked, out=np.zeros_like(booked), where=booked > 0)
    return np.asarray(base + add * scale[:, None] + share * x * left[:, None], np.float64)


def _servers_for_tail(lam: float, service_min: float, target: float, share: float) -> int:
    """Fewest servers with the Erlang C ``P(wait > target)`` at most ``share``."""
    a = lam * service_min / 60.0
    c = max(1, math.floor(a) + 1)
    while c <= queueing.MAX_SERVERS:
        tail = queueing.erlang_c(c, a) * math.exp(-(c / service_min - lam / 60.0) * target)
        if tail <= share:
            return c
        c += 1
    raise NetplanError(f"no number of counters up to {queueing.MAX_SERVERS} meets "
                       f"P(wait > {target:g} min) <= {share:g} at {lam:.1f} arrivals/h")


def counters_needed(counter_arrivals: FloatArray, service_min: float, target_wait_min: float,
                    *, max_share_over: float | None = None) -> IntArray:
    """Fewest counters per cell whose Erlang C wait meets the target (0 without arrivals).

    Parameters
    ----------
    counter_arrivals
        Counter arrivals per hour, any shape.
    service_min, target_wait_min
        Mean counter service time and the waiting-time target, minutes.
    max_share_over
        If given, the criterion is ``P(wait > target) <= max_share_over`` instead of the
        mean wait.

    Returns
    -------
    ndarray
        Counters, shaped like ``counter_arrivals``.
    """
    lam = np.asarray(counter_arrivals, dtype=np.float64)
    out = np.zeros(lam.shape, dtype=np.int64)
    for idx, value in np.ndenumerate(lam):
        if value <= 0:
            continue
        out[idx] = (queueing.servers_for_target(float(value), service_min, target_wait_min)
                    if max_share_over is None else
                    _servers_for_tail(float(value), service_min, target_wait_min,
                                      max_share_over))
    return out


@dataclass(frozen=True)
class Staffing:
    """An hourly roster and its staff hours.

    Attributes
    ----------
    roster : pandas.DataFrame
        One row per outlet and hour (see :func:`staff`).
    summary : dict
        Staff hours (installed, flat, hourly, with floaters), short outlet-hours, waits,
        the rule and the booking effect.
    need : ndarray
        ``(outlets, hours)`` counters to open.
    hours : tuple of int
    """

    roster: pd.DataFrame
    summary: dict[str, Any]
    need: IntArray
    hours: tuple[int, ...]


def _hour_figures(lam_c: FloatArray, opened: IntArray, scenario: Scenario,
                  patience_min: float) -> tuple[FloatArray, FloatArray]:
    """Erlang A mean wait and share over the target of every cell at its open counters."""
    wait = np.zeros(lam_c.shape)
    over = np.zeros(lam_c.shape)
    for idx, lam in np.ndenumerate(lam_c):
        if lam <= 0 or opened[idx] <= 0:
            continue
        r = erlang_a(int(opened[idx]), float(lam), scenario.counter_service_min, patience_min,
                     t_min=scenario.target_wait_min)
        wait[idx], over[idx] = r.mean_wait_min, r.share_wait_over
    return wait, over


# long: the roster table, the three staff-hour totals and the floater pools in one place
def staff(outlets: Outlets, arrivals: FloatArray, hours: tuple[int, ...], scenario: Scenario,
          *, floaters: int = 1, travel_km: float = 3.0,
          max_share_over: float | None = None) -> Staffing:
    """Counters to open per outlet and hour, floaters, and staff hours (module docstring).

    Parameters
    ----------
    outlets
        The outlets (ids, places, counters installed, rule).
    arrivals
        ``(outlets, hours)`` arrivals per hour (both channels, bookings applied).
    hours
        Hour of day of each column.
    scenario
        Smart share, counter service time, target, patience.
    floaters
        Floating staff a pool of two or more outlets may employ (>= 0).
    travel_km
        Largest distance between two outlets sharing floaters (> 0).
    max_share_over
        Staff to ``P(wait > target) <= max_share_over`` instead of the mean wait.

    Returns
    -------
    Staffing
        ``roster`` columns: ``outlet_id, hour, arrivals_per_h, counter_arrivals_per_h,
        counters_needed, counters_open, short, own_staff, floaters_in, wait_min,
        share_wait_over_target``.
    """
    lam_c = arrivals * (1.0 - scenario.smart_share)
    need = counters_needed(lam_c, scenario.counter_service_min, scenario.target_wait_min,
                           max_share_over=max_share_over)
    opened = np.minimum(need, outlets.counters[:, None])
    wait, over = _hour_figures(lam_c, opened, scenario, scenario.patience_min)
    pool = pools(outlets.xy, travel_km)
    own = opened.max(axis=1)
    cover = np.zeros_like(opened)
    floater_hours = floaters_used = 0
    for p in np.unique(pool).tolist():
        rows = np.flatnonzero(pool == p)
        if len(rows) < 2 or floaters <= 0:
            continue
        a = assign_pool(opened[rows], floaters)
        own[rows], cover[rows] = a.own, a.cover
        floater_hours += a.used * len(hours)
        floaters_used += a.used
    n_h = len(hours)
    n_o = len(outlets.counters)
    roster = pd.DataFrame({
        "outlet_id": np.repeat(np.asarray(outlets.outlet_id, dtype=object), n_h),
        "hour": np.tile([f"{h:02d}:00" for h in hours], n_o),
        "arrivals_per_h": np.round(arrivals, 3).ravel(),
        "counter_arrivals_per_h": np.round(lam_c, 3).ravel(),
        "counters_needed": need.ravel(),
        "counters_open": opened.ravel(),
        "short": (need > opened).ravel(),
        "own_staff": np.repeat(own, n_h),
        "floaters_in": cover.ravel(),
        "wait_min": np.round(wait, 3).ravel(),
        "share_wait_over_target": np.round(over, 4).ravel(),
    })
    served = float(lam_c.sum())
    short = need > opened
    summary = {
        "rule": outlets.rule,
        "outlets": n_o,
        "hours": [f"{h:02d}:00" for h in hours],
        "staff_hours_installed": int(outlets.counters.sum() * n_h),
        "staff_hours_flat": int(opened.max(axis=1).sum() * n_h),
        "staff_hours_hourly": int(opened.sum()),
        "staff_hours_with_floaters": int(own.sum() * n_h + floater_hours),
        "floater_pools": int(sum(1 for p in np.unique(pool) if (pool == p).sum() >= 2)),
        "floaters_used": floaters_used,
        "short_outlet_hours": int(short.sum()),
        "short_outlets": int(short.any(axis=1).sum()),
        "counter_customers_in_short_hours": round(float(lam_c[short].sum()) / max(served, 1e-12),
                                                  4),
        "counter_mean_wait_min": round(float((wait * lam_c).sum()) / max(served, 1e-12), 3),
        "counter_share_wait_over_target": round(float((over * lam_c).sum()) / max(served, 1e-12),
                                                4),
        "peak_hour_arrivals": round(float(arrivals.sum(axis=0).max()), 2),
    }
    return Staffing(roster=roster, summary=summary, need=need, hours=tuple(hours))


def network_outlets(study: Study, scenario: Scenario, *, year: int) -> Outlets:
    """The current network's branches and their peak-hour loads under the scenario's rule.

    Parameters
    ----------
    study, scenario
        The layers; demand, service and ``[behaviour]``.
    year
        Population year.

    Returns
    -------
    Outlets
    """
    from netplan.planning.calibration import current_network
    from netplan.planning.evaluate import measure_study

    net = current_network(study)
    m = measure_study(study, scenario, net, year=year)
    return Outlets(outlet_id=study.branches["branch_id"].astype(str).to_numpy(), xy=net.xy,
                   counters=net.counters, peak_load=np.asarray(m.load, np.float64),
                   rule=m.behaviour.rule)


def plan_outlets(plan: Plan) -> Outlets:
    """A plan's outlets after it, with their loads under the plan's behaviour rule.

    Parameters
    ----------
    plan
        As :func:`netplan.planning.plan.read_plan` returns it.

    Returns
    -------
    Outlets
    """
    from netplan.planning.evaluate import zone_points

    s = plan.sites_after
    return Outlets(outlet_id=s["site_id"].astype(str).to_numpy(), xy=zone_points(s),
                   counters=s["counters"].to_numpy(dtype=np.int64),
                   peak_load=s["arrivals_per_h"].to_numpy(dtype=np.float64),
                   rule=str(plan.kpis["behaviour"]["rule"]))


def log_profiles(fit: LogFit, date_profile: str) -> tuple[dict[str, FloatArray], FloatArray]:
    """Per outlet of a log, its hourly profile, and the business-day weighted mean profile.

    Parameters
    ----------
    fit
        The log's figures.
    date_profile
        ``weekday`` (an average business day) or ``weekend``.

    Returns
    -------
    tuple
        Outlet id -> arrivals per hour over business-day arrivals, and the mean profile.
    """
    if date_profile not in DATE_PROFILES:
        raise NetplanError(f"date profile {date_profile!r}: use one of "
                           f"{', '.join(DATE_PROFILES)}")
    prof = fit.weekday_profile if date_profile == "weekday" else fit.weekend_profile
    keep = prof.sum(axis=1) > 0
    w = fit.business_day[keep]
    mean = np.average(prof[keep], axis=0, weights=w if w.sum() > 0 else None)
    return ({i: prof[k] for k, i in enumerate(fit.outlet_ids) if keep[k]},
            np.asarray(mean, np.float64))


def roster_for(outlets: Outlets, fit: LogFit, scenario: Scenario, *,
               date_profile: str = "weekday", floaters: int = 1, travel_km: float = 3.0,
               max_share_over: float | None = None) -> Staffing:
    """The roster of ``outlets`` with the log's profiles and the scenario's bookings.

    The summary gains ``date_profile``, ``outlets_with_log`` and ``booking``: the peak
    hour's arrivals (all outlets), the staff hours and the peak-hour share (each outlet's
    busiest hour over its day, summed over outlets: the ``demand.peak_hour_share`` to plan
    with) without bookings and with the scenario's ``booking_share`` and ``booking_cap``.

    Parameters
    ----------
    outlets
        From :func:`network_outlets` or :func:`plan_outlets`.
    fit
        The queue log's figures (hourly profiles).
    scenario
        Service, target, bookings.
    date_profile
        ``weekday`` or ``weekend``.
    floaters, travel_km, max_share_over
        As for :func:`staff`.

    Returns
    -------
    Staffing
        With the scenario's bookings applied.
    """
    profiles, mean = log_profiles(fit, date_profile)
    raw = hourly_arrivals(outlets, profiles, mean, scenario)
    booked = book(raw, scenario.booking_share, scenario.booking_cap)
    opts: dict[str, Any] = {"floaters": floaters, "travel_km": travel_km,
                            "max_share_over": max_share_over}
    result = staff(outlets, booked, fit.hours, scenario, **opts)
    base = result if scenario.booking_share == 0 else staff(outlets, raw, fit.hours, scenario,
                                                             **opts)
    keys = ("peak_hour_arrivals", "staff_hours_hourly", "staff_hours_flat",
            "short_outlet_hours", "counter_mean_wait_min")
    def peak_share(x: FloatArray) -> float:
        return round(float(x.max(axis=1).sum() / max(float(x.sum()), 1e-12)), 4)

    summary = {
        **result.summary,
        "date_profile": date_profile,
        "outlets_with_log": int(sum(str(i) in profiles for i in outlets.outlet_id)),
        "booking": {"share": scenario.booking_share, "cap": scenario.booking_cap,
                    "without": {**{k: base.summary[k] for k in keys},
                                "peak_hour_share": peak_share(raw)},
                    "with": {**{k: result.summary[k] for k in keys},
                             "peak_hour_share": peak_share(booked)}},
    }
    return Staffing(roster=result.roster, summary=summary, need=result.need, hours=result.hours)
