"""Synthetic hourly queue logs, made from the service model and deterministic for a seed.

:func:`generate_channel_log` turns each outlet's arrivals under the network model into a
log with the counter and terminal channels apart (the sample log of the embedded network,
see its docstring; the committed ``netplan/data/samples/queue_log_sample.parquet`` is one).
:func:`generate_log` turns a table of outlets (kind, counters, terminals, typical weekday
peak) into an hourly log in the layout :mod:`netplan.model.queuelog` reads and analyses;
:func:`synthetic_outlets` and :func:`outlets_from_branches` make such tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from netplan._errors import LayerError
from netplan._types import FloatArray
from netplan.model.scenario import Scenario

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["KINDS", "REFORM", "SPRING_FESTIVAL", "generate_channel_log", "generate_log",
           "kind_peak_share", "outlets_from_branches", "synthetic_outlets", "ticket_tables"]

log = logging.getLogger(__name__)

#: Hourly load shapes (weekday, hours 9..16 = 09:00-16:59), peak = 1, and the weekend level
#: per open hour relative to that, for each outlet kind.
KINDS: dict[str, dict[str, Any]] = {
    "office": {  # CBD / office towers: lunchtime peak, empty weekends
        "weekday": (0.45, 0.60, 0.80, 1.00, 0.95, 0.60, 0.50, 0.45),
        "weekend": 0.30,
    },
    "residential": {  # housing estates, retirees: morning peak, busy weekends
        "weekday": (0.95, 1.00, 0.85, 0.65, 0.60, 0.70, 0.75, 0.70),
        "weekend": 1.15,
    },
    "commuter": {  # metro hubs: before and after work
        "weekday": (1.00, 0.75, 0.55, 0.50, 0.50, 0.55, 0.80, 0.95),
        "weekend": 0.50,
    },
    "mixed": {  # mixed-use high street: flat
        "weekday": (0.85, 0.90, 0.90, 0.85, 0.85, 0.90, 0.90, 0.85),
        "weekend": 0.75,
    },
}

_WEEKDAY_HOURS = tuple(range(9, 17))  # 09:00-17:00

_WEEKEND_HOURS = tuple(range(10, 16))  # 10:00-16:00

_WEEKDAY_FACTOR = (1.15, 1.00, 0.97, 0.97, 1.08, 1.0, 1.0)  # Mon..Sun (weekend via KINDS)

_MONTH_FACTOR = (1.05, 0.92, 1.00, 1.00, 0.97, 1.03, 0.95, 0.93, 1.00, 0.95, 1.00, 1.08)

#: Spring Festival (lunar new year's day) by year, for the holiday dip and pre-holiday peak.
SPRING_FESTIVAL = {
    2016: "2016-02-08", 2017: "2017-01-28",
    2018: "2018-02-16", 2019: "2019-02-05", 2020: "2020-01-25", 2021: "2021-02-12",
    2022: "2022-02-01", 2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29",
    2026: "2026-02-17", 2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13",
    2030: "2030-02-03", 2031: "2031-01-23", 2032: "2032-02-11", 2033: "2033-01-31",
    2034: "2034-02-19", 2035: "2035-02-08",
}


def _day_calendar(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One row per day: open?, weekend?, demand factor (week, season, events)."""
    days = pd.date_range(start, end - pd.Timedelta(days=1), freq="D")
    wd = days.day_of_week.to_numpy()
    factor = np.asarray(_WEEKDAY_FACTOR)[wd] * np.asarray(_MONTH_FACTOR)[days.month - 1]
    is_open = np.ones(len(days), dtype=bool)
    # Month end: salaries, bills, loan repayments (last 3 calendar days).
    month_end = (days + pd.Timedelta(days=3)).month != days.month
    factor = np.where(month_end, factor * 1.20, factor)
    # Closed on New Year's Day and the first three days of the National Day holiday.
    closed = ((days.month == 1) & (days.day == 1)) | ((days.month == 10) & (days.day <= 3))
    # Pre-National-Day rush.
    factor = np.where((days.month == 9) & (days.day >= 24), factor * 1.15, factor)
    for year in sorted(set(days.year)):
        sf_s = SPRING_FESTIVAL.get(int(year))
        if sf_s is None:
            continue
        off = (days - pd.Timestamp(sf_s)).days.to_numpy()
        factor = np.where((off >= -10) & (off <= -1), factor * 1.30, factor)  # pre-holiday
        closed = closed | ((off >= 0) & (off <= 2))  # first three days closed
        factor = np.where((off >= 3) & (off <= 7), factor * 0.50, factor)  # holiday dip
    is_open = is_open & ~np.asarray(closed)
    return pd.DataFrame({"date": days, "weekend": wd >= 5, "open": is_open, "factor": factor})


def _saturating_wait(
    arrivals: FloatArray, counters: npt.NDArray[np.int64], terminals: npt.NDArray[np.int64],
    scenario: Scenario,
) -> FloatArray:
    """Mean wait of an hour: Erlang C below 95% utilisation, plus a fluid backlog term above.

    Above saturation the M/M/c steady state does not exist, but a real hour still ends: the
    backlog grows linearly, adding about half an hour times the relative overload.
    """
    from netplan.model import service

    rho = service.utilisation(arrivals, counters, terminals, scenario=scenario)
    cap = 0.95
    scale = np.where(rho > cap, cap / np.where(rho > 0, rho, 1.0), 1.0)
    w = service.wait_min(arrivals * scale, counters, terminals, scenario=scenario)
    extra = np.where(rho > cap, 30.0 * (rho - cap) / cap, 0.0)
    return np.asarray(w + extra, dtype=np.float64)


def generate_log(
    outlets: pd.DataFrame,
    *,
    years: int = 3,
    start: str = "2022-01-01",
    seed: int = 0,
    scenario: Scenario | None = None,
) -> pd.DataFrame:
    """A realistic synthetic hourly queue log, deterministic for ``seed``.

    Opening hours: 09:00-17:00 on weekdays, 10:00-16:00 at weekends; closed on New Year's
    Day, the first three days of Spring Festival and of National Day. Expected arrivals of
    an hour = the outlet's weekday peak rate x its kind's hourly shape (:data:`KINDS`; the
    weekend level for weekend hours) x a weekday factor (Monday busiest) x a month factor
    (December/January high, summer low) x events (month end +20%, the 10 days before Spring
    Festival +30%, the holiday week after it -50%, the week before National Day +15%).
    Observed arrivals are Poisson around that; the hour's mean wait comes from the service
    model (:func:`netplan.model.service.wait_min` at the observed rate, a fluid backlog term
    above 95% utilisation) with 10% log-normal noise, rounded to 0.1 min.

    Parameters
    ----------
    outlets
        Columns ``outlet_id``, ``arrivals_per_h`` (typical weekday peak-hour arrivals),
        ``counters``, ``terminals``, and optionally ``kind`` (office / residential /
        commuter / mixed; assigned at random from ``seed`` when missing).
    years
        Length of the log in years (>= 1).
    start
        First day (ISO date).
    seed
        Seed of every random draw.
    scenario
        Service times and smart share for the waits (default: :func:`load_scenario`).

    Returns
    -------
    pandas.DataFrame
        ``outlet_id, timestamp, arrivals, mean_wait_min``, sorted by outlet and time.
    """
    from netplan.model.scenario import load_scenario

    _check_request(outlets, years)
    sc = scenario if scenario is not None else load_scenario()
    try:
        t0 = pd.Timestamp(start).normalize()
    except (ValueError, TypeError):
        raise LayerError("outlets", [f"start must be an ISO date, got {start!r}"]) from None

    rng = np.random.default_rng(seed)
    o, kind, peak = _outlet_table(outlets, rng)
    cal = _day_calendar(t0, t0 + pd.DateOffset(years=years))
    cal = cal[cal["open"]].reset_index(drop=True)
    d_idx, hour, weekend = _open_hours(cal)
    stamps = (cal["date"].to_numpy()[d_idx] + hour.astype("timedelta64[h]")).astype(
        "datetime64[ns]"
    )
    day_factor = cal["factor"].to_numpy(dtype=np.float64)[d_idx]

    shape = _load_shape(kind, hour, weekend)
    arrivals = rng.poisson(peak[:, None] * shape * day_factor[None, :]).astype(np.int64)
    del shape
    wait = _hourly_waits(arrivals, o["counters"].to_numpy(dtype=np.int64),
                         o["terminals"].to_numpy(dtype=np.int64), sc)
    noise = rng.lognormal(mean=0.0, sigma=0.10, size=wait.shape)
    wait = np.round(wait * noise, 1).ravel()

    out = pd.DataFrame(
        {
            "outlet_id": np.repeat(o["outlet_id"].to_numpy(), len(hour)),
            "timestamp": np.tile(stamps, len(o)),
            "arrivals": arrivals.ravel(),
            "mean_wait_min": wait,
        }
    )
    log.info("generated %d rows for %d outlets over %d open days", len(out), len(o), len(cal))
    return out


def _check_request(outlets: pd.DataFrame, years: int) -> None:
    """Raise if ``outlets`` misses a column or ``years`` is not a whole number >= 1."""
    problems = [f"missing column {col!r}"
                for col in ("outlet_id", "arrivals_per_h", "counters", "terminals")
                if col not in outlets.columns]
    if not isinstance(years, int) or isinstance(years, bool) or years < 1:
        problems.append(f"years must be an integer >= 1, got {years!r}")
    if problems:
        raise LayerError("outlets", problems)


def _outlet_table(
    outlets: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, list[str], FloatArray]:
    """The outlets sorted by id, the kind of each (drawn when absent) and its weekday peak."""
    o = outlets.copy()
    o["outlet_id"] = o["outlet_id"].astype(str)
    o = o.sort_values("outlet_id", kind="stable").reset_index(drop=True)
    if o["outlet_id"].duplicated().any():
        raise LayerError("outlets", ["outlet_id values must be unique"])
    kinds_all = list(KINDS)
    if "kind" in o.columns:
        kind = o["kind"].astype(str).str.lower().to_numpy()
        unknown = sorted(set(kind) - set(kinds_all))
        if unknown:
            raise LayerError("outlets", [f"unknown kind(s) {unknown}; use {kinds_all}"])
    else:
        kind = rng.choice(np.asarray(kinds_all), size=len(o))
    peak = pd.to_numeric(o["arrivals_per_h"], errors="coerce").to_numpy(dtype=np.float64)
    if np.any(~np.isfinite(peak) | (peak < 0)):
        raise LayerError("outlets", ["arrivals_per_h must be numbers >= 0"])
    return o, [str(k) for k in kind], peak


def _load_shape(
    kind: list[str], hour: npt.NDArray[np.int64], weekend: npt.NDArray[np.bool_]
) -> FloatArray:
    """Expected load of each outlet (row) in each open hour (column), relative to its peak."""
    shape = np.zeros((len(kind), len(hour)))
    h_pos = hour - _WEEKDAY_HOURS[0]
    for j, k in enumerate(kind):
        spec = KINDS[k]
        prof = np.asarray(spec["weekday"], dtype=np.float64)[h_pos]
        shape[j] = np.where(weekend, prof * float(spec["weekend"]), prof)
    return shape


def _open_hours(
    cal: pd.DataFrame,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Every open hour of the open days of ``cal``: its day (row of ``cal``), hour, weekend."""
    slots_d: list[int] = []
    slots_h: list[int] = []
    slots_we: list[bool] = []
    for i, row in enumerate(cal.itertuples(index=False)):
        hrs = _WEEKEND_HOURS if row.weekend else _WEEKDAY_HOURS
        slots_d.extend([i] * len(hrs))
        slots_h.extend(hrs)
        slots_we.extend([bool(row.weekend)] * len(hrs))
    return (np.asarray(slots_d, dtype=np.int64), np.asarray(slots_h, dtype=np.int64),
            np.asarray(slots_we, dtype=bool))


def _hourly_waits(
    arrivals: npt.NDArray[np.int64], counters: npt.NDArray[np.int64],
    terminals: npt.NDArray[np.int64], scenario: Scenario,
) -> FloatArray:
    """Mean wait of every outlet (row) and hour (column) at its observed arrivals."""
    n, hours = arrivals.shape
    wait = np.empty(arrivals.shape, dtype=np.float64)
    for lo in range(0, n, 32):  # blocks of outlets keep the temporaries small
        hi = min(lo + 32, n)
        wait[lo:hi] = _saturating_wait(
            arrivals[lo:hi].astype(np.float64),
            np.broadcast_to(counters[lo:hi, None], (hi - lo, hours)),
            np.broadcast_to(terminals[lo:hi, None], (hi - lo, hours)),
            scenario,
        )
    return wait


def synthetic_outlets(
    n: int = 40, *, seed: int = 0, scenario: Scenario | None = None
) -> pd.DataFrame:
    """``n`` made-up outlets for :func:`generate_log`: ids ``Q001``..., a kind, a format.

    80% ``full`` and 20% ``light`` outlets, each with a weekday peak of 60%-115% of its
    format's capacity at the wait target (so some are overloaded). Deterministic for ``seed``.
    """
    from netplan.model import service
    from netplan.model.scenario import load_scenario

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise LayerError("outlets", [f"the number of outlets must be an integer >= 1, got {n!r}"])
    sc = scenario if scenario is not None else load_scenario()
    rng = np.random.default_rng(seed)
    fmt = np.where(rng.random(n) < 0.8, "full", "light")
    kinds = np.asarray(list(KINDS))[rng.integers(0, len(KINDS), size=n)]
    caps = service.format_capacity_per_h(sc)
    counters = np.array([sc.formats[f].counters for f in fmt], dtype=np.int64)
    terminals = np.array([sc.formats[f].terminals for f in fmt], dtype=np.int64)
    peak = np.array([caps[f] for f in fmt]) * rng.uniform(0.6, 1.15, size=n)
    width = max(3, len(str(n)))
    return pd.DataFrame(
        {
            "outlet_id": [f"Q{i + 1:0{width}d}" for i in range(n)],
            "format": fmt,
            "kind": kinds,
            "counters": counters,
            "terminals": terminals,
            "arrivals_per_h": np.round(peak, 2),
        }
    )


def outlets_from_branches(
    gdf_branches: pd.DataFrame, *, seed: int = 0, scenario: Scenario | None = None
) -> pd.DataFrame:
    """Outlets for :func:`generate_log` from a branches layer (ids, counters, terminals).

    The branches layer carries no observed demand, so each branch gets a synthetic weekday
    peak of 60%-115% of its own capacity at the wait target and a random kind (seeded).
    """
    from netplan.model import service
    from netplan.model.scenario import load_scenario

    missing = [c for c in ("branch_id", "counters", "terminals") if c not in gdf_branches]
    if missing:
        raise LayerError("branches", [f"missing column(s) {', '.join(missing)}"])
    sc = scenario if scenario is not None else load_scenario()
    rng = np.random.default_rng(seed)
    b = pd.DataFrame(gdf_branches[["branch_id", "counters", "terminals"]]).copy()
    b["branch_id"] = b["branch_id"].astype(str)
    b = b.sort_values("branch_id", kind="stable").reset_index(drop=True)
    n = len(b)
    cap = service.capacity_per_h(b["counters"].to_numpy(), b["terminals"].to_numpy(),
                                 scenario=sc)
    kinds = np.asarray(list(KINDS))[rng.integers(0, len(KINDS), size=n)]
    return pd.DataFrame(
        {
            "outlet_id": b["branch_id"],
            "kind": kinds,
            "counters": b["counters"].to_numpy(dtype=np.int64),
            "terminals": b["terminals"].to_numpy(dtype=np.int64),
            "arrivals_per_h": np.round(cap * rng.uniform(0.6, 1.15, size=n), 2),
        }
    )


# --- logs of the network model, with the two channels apart -------------------------------


@dataclass(frozen=True)
class Reform:
    """The modelled before/after of the source case's queue reform (see :data:`REFORM`).

    Attributes
    ----------
    date : str
        First day under the reform (ISO date).
    smart_share_before : float
        Share of arrivals served at smart terminals before it.
    """

    date: str
    smart_share_before: float


#: The 2016 -> 2017 improvement of the source case, as modelled. The article (the bank's
#: Beijing case, summarised in the project's design notes) reports that three years of
#: queue data were analysed, that the average wait was brought under 11 minutes and that
#: 60% of business went through smart channels (card issuance: 20 minutes at a counter,
#: under 5 at a terminal). It gives no 2016 figures: the 40% smart share before 2017 is
#: our assumption, chosen so that counter waits in 2016 sit above the 11-minute target and
#: fall below it once the scenario's smart share (60%) applies from 2017-01-01.
REFORM = Reform(date="2017-01-01", smart_share_before=0.40)


def kind_peak_share(kind: str) -> float:
    """Share of an average weekday's arrivals in the busiest hour of a kind's shape."""
    prof = np.asarray(KINDS[kind]["weekday"], dtype=np.float64)
    return float(prof.max() / prof.sum())


def _day_factor(cal: pd.DataFrame) -> FloatArray:
    """The calendar's demand factor scaled so that the mean open weekday is 1."""
    f = cal["factor"].to_numpy(dtype=np.float64)
    weekday = ~cal["weekend"].to_numpy(dtype=bool)
    return f / float(f[weekday].mean())


def _channel_tables(
    servers: npt.NDArray[np.int64], top: int, service_min: float, patience_min: float,
    target_wait_min: float,
) -> dict[int, tuple[FloatArray, FloatArray]]:
    """Erlang A mean wait and give-up share at 0..top arrivals/h, per distinct server count."""
    from netplan.model.erlang_a import erlang_a_curve

    grid = np.arange(top + 1, dtype=np.float64)
    out: dict[int, tuple[FloatArray, FloatArray]] = {}
    for c in np.unique(servers).tolist():
        w, ab, _ = erlang_a_curve(max(c, 1), service_min, patience_min, t_min=target_wait_min,
                                  arrivals_per_h=grid)
        out[c] = (w, ab)
    return out


def _queue_columns(
    n: npt.NDArray[np.int64], servers: npt.NDArray[np.int64], service_min: float,
    scenario: Scenario, rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Mean service time, mean wait and customers giving up of one channel, per cell."""
    tables = _channel_tables(servers, int(n.max(initial=0)), service_min,
                             scenario.patience_min, scenario.target_wait_min)
    wait = np.zeros(n.shape)
    p_ab = np.zeros(n.shape)
    for c, (w, ab) in tables.items():
        rows = servers == c
        wait[rows] = w[n[rows]]
        p_ab[rows] = ab[n[rows]]
    gave_up = rng.binomial(n, np.clip(p_ab, 0.0, 1.0))
    # the mean of n exponential service times is Gamma(n, s / n)
    served_mean = rng.gamma(np.maximum(n, 1), service_min / np.maximum(n, 1))
    served_mean = np.where(n > 0, np.round(served_mean, 1), np.nan)
    sigma = 0.10  # measurement noise of a wait, mean one
    noise = rng.lognormal(-sigma**2 / 2, sigma, size=n.shape)
    return served_mean, np.round(wait * noise, 1), gave_up.astype(np.int64)


@dataclass(frozen=True)
class _Rates:
    """Expected hourly arrivals of the modelled network (see :func:`generate_channel_log`).

    Attributes
    ----------
    stamps : ndarray
        Start of every open hour (``datetime64[ns]``, local time).
    lam : ndarray
        ``(outlets, hours)`` expected arrivals.
    smart : ndarray
        Share of each hour's arrivals at terminals (the reform applied).
    """

    stamps: npt.NDArray[np.datetime64]
    lam: FloatArray
    smart: FloatArray


def _channel_rates(
    outlets: pd.DataFrame, *, years: int, start: str, scenario: Scenario | None,
    reform: Reform | None, rng: np.random.Generator,
) -> tuple[Scenario, pd.DataFrame, _Rates]:
    """The scenario, the outlets sorted by id, and their hourly rates (no draw is made)."""
    from netplan.model.scenario import load_scenario

    _check_request(outlets, years)
    if "kind" not in outlets.columns:
        raise LayerError("outlets", ["missing column 'kind'"])
    sc = scenario if scenario is not None else load_scenario()
    t0 = pd.Timestamp(start).normalize()
    o, kind, peak = _outlet_table(outlets, rng)
    cal = _day_calendar(t0, t0 + pd.DateOffset(years=years))
    cal = cal[cal["open"]].reset_index(drop=True)
    d_idx, hour, weekend = _open_hours(cal)
    dates = cal["date"].to_numpy()
    stamps = (dates[d_idx] + hour.astype("timedelta64[h]")).astype("datetime64[ns]")
    sums = {k: float(np.sum(KINDS[k]["weekday"])) for k in KINDS}
    shape = _load_shape(kind, hour, weekend) / np.array([sums[k] for k in kind])[:, None]
    daily = peak / sc.peak_hour_share
    lam = daily[:, None] * shape * _day_factor(cal)[d_idx][None, :]
    smart = np.full(len(cal), sc.smart_share)
    if reform is not None:
        smart[dates < np.datetime64(pd.Timestamp(reform.date))] = reform.smart_share_before
    return sc, o, _Rates(stamps=stamps, lam=lam, smart=smart[d_idx])


# long: one vectorised pass over outlets x hours, documented step by step in the docstring
def generate_channel_log(
    outlets: pd.DataFrame,
    *,
    years: int = 3,
    start: str = "2016-01-01",
    seed: int = 0,
    scenario: Scenario | None = None,
    reform: Reform | None = REFORM,
) -> pd.DataFrame:
    """An hourly log with the counter and terminal channels apart (modelled, not observed).

    An outlet's *business-day arrivals* are its modelled peak-hour arrivals divided by the
    scenario's ``peak_hour_share``: the visits the network model sends it on an average
    weekday. Each hour's expected arrivals are that times its kind's hourly shape (the
    :data:`KINDS` weekday shape scaled to sum to 1 over the day; weekends at the kind's
    weekend level) times the calendar of :func:`generate_log` (weekday, month, month end,
    Spring Festival, National Day) scaled so that the mean open weekday is 1. Counts are
    Poisson; each arrival uses a smart terminal with the scenario's ``smart_share``
    (``reform.smart_share_before`` before ``reform.date``), a counter otherwise. Per
    channel and hour: the mean of the customers' exponential service times (scenario's
    service minutes), the Erlang A mean wait and give-up share at the hour's arrivals
    (:mod:`netplan.model.erlang_a`, scenario's patience), the wait with 10% mean-one
    log-normal measurement noise, and the customers giving up (binomial).

    Parameters
    ----------
    outlets
        Columns ``outlet_id``, ``kind`` (:data:`KINDS`), ``counters``, ``terminals`` and
        ``arrivals_per_h`` (modelled peak-hour arrivals of an average weekday).
    years, start, seed
        Length in years, first day, seed of every draw.
    scenario
        Peak-hour share, smart share, service times, patience (default: the default
        scenario).
    reform
        The modelled 2016 -> 2017 change (:data:`REFORM`), or ``None`` for none.

    Returns
    -------
    pandas.DataFrame
        :data:`netplan.model.queuelog.LOG_COLUMNS` then ``counter_arrivals``,
        ``terminal_arrivals``, ``counter_service_min``, ``terminal_service_min``,
        ``counter_wait_min``, ``terminal_wait_min``, ``abandoned``; sorted by outlet, time.
    """
    rng = np.random.default_rng(seed)
    sc, o, r = _channel_rates(outlets, years=years, start=start, scenario=scenario,
                              reform=reform, rng=rng)
    stamps, lam = r.stamps, r.lam
    n = rng.poisson(lam).astype(np.int64)
    n_t = rng.binomial(n, r.smart[None, :]).astype(np.int64)
    n_c = n - n_t
    counters = np.broadcast_to(o["counters"].to_numpy(dtype=np.int64)[:, None], n.shape)
    terminals = np.broadcast_to(o["terminals"].to_numpy(dtype=np.int64)[:, None], n.shape)
    cs, cw, ca = _queue_columns(n_c, counters, sc.counter_service_min, sc, rng)
    ts, tw, ta = _queue_columns(n_t, terminals, sc.terminal_service_min, sc, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        blended = np.where(n > 0, (n_c * cw + n_t * tw) / np.maximum(n, 1), 0.0)
    out = pd.DataFrame(
        {
            "outlet_id": pd.Categorical(np.repeat(o["outlet_id"].to_numpy(), len(stamps))),
            "timestamp": np.tile(stamps, len(o)),
            "arrivals": n.ravel().astype(np.int32),
            "mean_wait_min": np.round(blended, 1).ravel(),
            "counter_arrivals": n_c.ravel().astype(np.int32),
            "terminal_arrivals": n_t.ravel().astype(np.int32),
            "counter_service_min": cs.ravel().astype(np.float32),
            "terminal_service_min": ts.ravel().astype(np.float32),
            "counter_wait_min": cw.ravel().astype(np.float32),
            "terminal_wait_min": tw.ravel().astype(np.float32),
            "abandoned": (ca + ta).ravel().astype(np.int32),
        }
    )
    log.info("generated %d rows for %d outlets", len(out), len(o))
    return out


# --- ticket logs of the network model: one row per ticket ---------------------------------


def _grid_top(lam: FloatArray) -> int:
    """A bound on an hour's count in one channel (Poisson, far in the tail)."""
    peak = float(lam.max(initial=0.0))
    return int(peak + 12.0 * np.sqrt(peak) + 30.0)


# long: one outlet's tickets, drawn step by step as the docstring of ticket_tables says
def _outlet_tickets(
    lam: FloatArray, smart: FloatArray, start_s: npt.NDArray[np.int64],
    tables: tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
    service_min: tuple[float, float], rng: np.random.Generator,
) -> dict[str, npt.NDArray[Any]]:
    """Arrival, channel, call and end (seconds; call/end -1 when the customer gave up)."""
    n = rng.poisson(lam)
    slot = np.repeat(np.arange(len(lam)), n)
    arrival = np.sort(start_s[slot] + rng.integers(0, 3600, size=len(slot)))
    ch = (rng.random(len(slot)) < smart[slot]).astype(np.int8)  # 1 = terminal
    cell = slot * 2 + ch
    count = np.bincount(cell, minlength=2 * len(lam))[cell]
    wait_min = np.empty(len(slot))
    p_ab = np.empty(len(slot))
    svc_min = np.empty(len(slot))
    for c in (0, 1):
        rows = ch == c
        top = len(tables[c][0]) - 1
        wait_min[rows] = tables[c][0][np.minimum(count[rows], top)]
        p_ab[rows] = tables[c][1][np.minimum(count[rows], top)]
        svc_min[rows] = service_min[c]
    gave_up = rng.random(len(slot)) < p_ab
    call = arrival + np.rint(rng.exponential(1.0, len(slot)) * wait_min * 60.0).astype(np.int64)
    end = call + np.rint(rng.exponential(1.0, len(slot)) * svc_min * 60.0).astype(np.int64)
    call[gave_up] = -1
    end[gave_up] = -1
    return {"arrival": arrival, "channel": ch, "call": call, "end": end}


def ticket_tables(
    outlets: pd.DataFrame,
    *,
    years: int = 3,
    start: str = "2016-01-01",
    seed: int = 0,
    scenario: Scenario | None = None,
    reform: Reform | None = REFORM,
) -> Iterator[pa.Table]:
    """The per-ticket log of :func:`generate_channel_log`'s process, one outlet at a time.

    The same hourly rates (kinds, calendar, peak-hour share, the reform) as
    :func:`generate_channel_log`; then, per open hour of an outlet (modelled, not observed):

    - Poisson arrivals, each at a uniform whole second of the hour (sorted);
    - each ticket at a smart terminal with the hour's smart share, else at a counter;
    - per channel, the hour's Erlang A mean wait ``W`` and give-up share ``p`` at its count
      (:mod:`netplan.model.erlang_a`, the scenario's patience, the channel's servers);
    - a ticket gives up with chance ``p`` (``call`` and ``end`` null); otherwise it is
      called after an exponential wait of mean ``W`` (independent of giving up, so the mean
      wait of the called tickets is ``W`` and the Erlang A identity of
      :mod:`netplan.model.calibrate` recovers the patience) and served for an exponential
      time of the channel's mean service minutes; times rounded to whole seconds.

    The waits are not those of one simulated queue (two tickets of a counter may overlap):
    each hour's waits follow the queueing model's mean for that hour.

    Parameters
    ----------
    outlets, years, start, scenario, reform
        As for :func:`generate_channel_log`.
    seed
        Seed: outlet ``i`` (in id order) draws from ``default_rng([seed, i])``, so an
        outlet's tickets do not depend on the others.

    Yields
    ------
    pyarrow.Table
        One outlet's tickets in :data:`netplan.model.ticketlog.TICKET_SCHEMA`, by arrival.
    """
    import pyarrow as pa

    from netplan.model.ticketlog import CHANNELS, TICKET_SCHEMA

    sc, o, r = _channel_rates(outlets, years=years, start=start, scenario=scenario,
                              reform=reform, rng=np.random.default_rng(seed))
    start_s = r.stamps.astype("datetime64[s]").astype(np.int64)
    top = _grid_top(r.lam)
    servers = [o[col].to_numpy(dtype=np.int64) for col in ("counters", "terminals")]
    service = (sc.counter_service_min, sc.terminal_service_min)
    grids = [_channel_tables(servers[c], top, service[c], sc.patience_min,
                             sc.target_wait_min) for c in (0, 1)]
    channel_dict = pa.array(list(CHANNELS), type=pa.string())
    for i, oid in enumerate(o["outlet_id"].tolist()):
        t = _outlet_tickets(r.lam[i], r.smart, start_s,
                            (grids[0][int(servers[0][i])], grids[1][int(servers[1][i])]),
                            service, np.random.default_rng([seed, i]))
        n = len(t["arrival"])
        gave_up = t["call"] < 0
        yield pa.table({
            "outlet_id": pa.DictionaryArray.from_arrays(
                np.zeros(n, dtype=np.int32), pa.array([str(oid)], type=pa.string())),
            "channel": pa.DictionaryArray.from_arrays(t["channel"], channel_dict),
            "arrival": pa.array(t["arrival"], type=pa.timestamp("s")),
            "call": pa.array(t["call"], type=pa.timestamp("s"), mask=gave_up),
            "end": pa.array(t["end"], type=pa.timestamp("s"), mask=gave_up),
        }, schema=TICKET_SCHEMA)
