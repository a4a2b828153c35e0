"""What an hourly queue log says about demand and service: the figures a scenario is fitted to.

:func:`fit_log` reads a validated queue log (:mod:`netplan.model.queuelog`) column-wise
(integer codes and ``numpy.bincount``, never a Python loop over rows) and measures, over
the last ``window_days`` of the log (the current state):

- each outlet's hourly arrival profile on an average weekday (shares of the day, summing
  to 1) and at weekends (relative to the weekday), its arrivals on an average open weekday
  (*business-day arrivals*), its peak-hour share and its counter wait in its busiest hour;
- the outlet portraits (k-means, :func:`netplan.model.queuelog.outlet_portraits`) and the
  arrival-weighted peak-hour share of each;
- with the optional per-channel columns (``counter_arrivals``, ``terminal_arrivals``,
  ``counter_service_min``, ``terminal_service_min``, ``counter_wait_min``,
  ``terminal_wait_min``, ``abandoned``): the terminal share, the service-time distribution
  of each channel and the mean patience. A log summed from tickets
  (:mod:`netplan.model.ticketlog`) also has ``counter_served``, ``terminal_served`` (the
  customers whose service times the hour's means are over) and ``counter_service_sq_min2``,
  ``terminal_service_sq_min2`` (the hour's mean squared service time).

Service times: a row holds the mean of the hour's ``n`` service times, so its variance is
``sigma^2 / n``; the ticket-level mean is the ``n``-weighted mean and ``sigma^2`` the mean
of ``n (m - mean)^2`` over the hours (``n`` the served customers when logged, else the
arrivals). With the mean squares the variance is exact instead:
``sum(n q) / sum(n) - mean^2``. A coefficient of variation near 1 is the exponential
service the M/M/c model assumes.

Patience: in an Erlang A queue the customers who give up are ``theta`` times the mean
queue length, so ``patience = sum(arrivals x mean wait) / sum(given up)`` (the waits of all
ticketed customers, served or not, as :mod:`netplan.model.erlang_a` defines them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from netplan._errors import LayerError
from netplan._types import FloatArray
from netplan.model import queuelog

__all__ = ["CHANNEL_COLUMNS", "TICKET_SUM_COLUMNS", "LogFit", "ServiceFit", "fit_log"]

#: Optional per-channel columns of a queue log that calibration uses when present.
CHANNEL_COLUMNS: tuple[str, ...] = (
    "counter_arrivals", "terminal_arrivals", "counter_service_min", "terminal_service_min",
    "counter_wait_min", "terminal_wait_min", "abandoned",
)
#: Optional columns of a log summed from tickets (:mod:`netplan.model.ticketlog`): the
#: customers served per channel and the hour's mean squared service time.
TICKET_SUM_COLUMNS: tuple[str, ...] = (
    "counter_served", "terminal_served", "counter_service_sq_min2", "terminal_service_sq_min2",
)


@dataclass(frozen=True)
class ServiceFit:
    """Service times of one channel fitted from hourly means.

    Attributes
    ----------
    mean_min : float
        Mean service time per customer, minutes.
    cv : float
        Coefficient of variation of a customer's service time (1 = exponential).
    hours : int
        Hours with customers that the fit used.
    exact : bool
        The variance is the customers' own (per-ticket mean squares), not estimated from
        the spread of hourly means.
    """

    mean_min: float
    cv: float
    hours: int
    exact: bool = False


@dataclass(frozen=True)
class LogFit:
    """The figures of a queue log's fit window (per-outlet arrays follow ``outlet_ids``).

    Attributes
    ----------
    outlet_ids : tuple of str
        Outlets of the log, sorted.
    hours : tuple of int
        Hours of day the log has.
    weekday_profile : ndarray
        ``(outlets, hours)`` share of an average weekday's arrivals in each hour.
    weekend_profile : ndarray
        ``(outlets, hours)`` mean weekend-day arrivals per hour over business-day arrivals.
    business_day : ndarray
        Arrivals on an average open weekday.
    peak_share : ndarray
        Busiest weekday hour's share of the day.
    peak_wait_min : ndarray
        Observed wait in that hour (counter wait when logged, else the mean wait).
    portrait : tuple of str
        Portrait label of each outlet.
    portraits : tuple of dict
        Per portrait: ``label``, ``outlets``, ``peak_hour_share``.
    peak_hour_share : float
        Business-day weighted mean of ``peak_share``.
    weekday_equivalent_days : float
        Arrivals per year over business-day arrivals (open days counted at their load).
    smart_share, patience_min : float or None
        Terminal share of arrivals; mean patience (``None`` without the columns).
    counter_service, terminal_service : ServiceFit or None
        Service-time fits (``None`` without the columns).
    window : tuple of str
        First and last day of the fit window.
    by_year : tuple of dict
        Per calendar year of the whole log: arrivals, terminal share, mean counter wait.
    """

    outlet_ids: tuple[str, ...]
    hours: tuple[int, ...]
    weekday_profile: FloatArray
    weekend_profile: FloatArray
    business_day: FloatArray
    peak_share: FloatArray
    peak_wait_min: FloatArray
    portrait: tuple[str, ...]
    portraits: tuple[dict[str, Any], ...]
    peak_hour_share: float
    weekday_equivalent_days: float
    smart_share: float | None
    patience_min: float | None
    counter_service: ServiceFit | None
    terminal_service: ServiceFit | None
    window: tuple[str, str]
    by_year: tuple[dict[str, Any], ...]


def _col(df: pd.DataFrame, name: str) -> FloatArray:
    return np.asarray(pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64))


def _service_fit(n: FloatArray, m: FloatArray, sq: FloatArray | None = None) -> ServiceFit | None:
    """Mean and CV from hourly means ``m`` of ``n`` times (and mean squares ``sq``)."""
    ok = (n > 0) & np.isfinite(m) & (np.isfinite(sq) if sq is not None else True)
    if ok.sum() < 2:
        return None
    n, m = n[ok], m[ok]
    mean = float(np.dot(n, m) / n.sum())
    if sq is not None:
        var = max(float(np.dot(n, sq[ok]) / n.sum()) - mean**2, 0.0)
    else:
        var = float(np.mean(n * (m - mean) ** 2))
    return ServiceFit(round(mean, 4), round(math.sqrt(var) / mean, 4), int(ok.sum()),
                      exact=sq is not None)


def _check_channels(df: pd.DataFrame) -> list[str]:
    """The channel columns present; raise when they contradict the arrivals."""
    present = [c for c in (*CHANNEL_COLUMNS, *TICKET_SUM_COLUMNS) if c in df.columns]
    problems: list[str] = []
    for c in present:
        v = _col(df, c)
        if (v < 0).any() or (np.isinf(v)).any():
            problems.append(f"{c} must be >= 0 and finite")
    if {"counter_arrivals", "terminal_arrivals"} <= set(present):
        split = _col(df, "counter_arrivals") + _col(df, "terminal_arrivals")
        bad = int((split != df["arrivals"].to_numpy(dtype=np.float64)).sum())
        if bad:
            problems.append(f"counter_arrivals + terminal_arrivals differs from arrivals in "
                            f"{bad} rows; the channels must add up to the arrivals")
    if problems:
        raise LayerError("queue_log", problems)
    return present


# long: one pass of bincounts over the log's columns, each step a few lines
def fit_log(log_df: pd.DataFrame, *, window_days: int = 365, k_range: tuple[int, int] = (3, 6),
            random_state: int = 0) -> LogFit:
    """Fit a validated queue log (see the module docstring).

    Parameters
    ----------
    log_df
        As :func:`netplan.model.queuelog.read_queue_log` returns it.
    window_days
        The last days of the log the fit uses (>= 28).
    k_range, random_state
        Portrait clustering (:func:`netplan.model.queuelog.outlet_portraits`).

    Returns
    -------
    LogFit

    Raises
    ------
    LayerError
        Channel columns that are negative or do not add up, or a window without weekdays.
    """
    if not isinstance(window_days, int) or window_days < 28:
        raise LayerError("queue_log", [f"window_days must be an integer >= 28, got "
                                       f"{window_days!r}"])
    present = _check_channels(log_df)
    by_year = _by_year(log_df, present)
    ts = log_df["timestamp"]
    end = ts.max().normalize() + pd.Timedelta(days=1)
    df = log_df[ts >= end - pd.Timedelta(days=window_days)]
    codes, uniques = pd.factorize(df["outlet_id"].astype(str), sort=True)
    n_out = len(uniques)
    t = df["timestamp"].dt
    hour = t.hour.to_numpy(dtype=np.int64)
    hours = np.unique(hour)
    h_idx = np.searchsorted(hours, hour)
    day = (df["timestamp"].to_numpy().astype("datetime64[D]")).astype(np.int64)
    day = day - day.min()
    weekend = t.day_of_week.to_numpy() >= 5
    arr = df["arrivals"].to_numpy(dtype=np.float64)
    cell = codes * len(hours) + h_idx
    size = n_out * len(hours)
    # open days per outlet, weekday and weekend apart
    n_days = int(day.max()) + 1
    seen = np.bincount(codes * n_days + day, minlength=n_out * n_days).reshape(n_out, n_days) > 0
    day_we = np.zeros(n_days, dtype=bool)
    day_we[day[weekend]] = True
    wd_days = seen[:, ~day_we].sum(axis=1).astype(np.float64)
    we_days = seen[:, day_we].sum(axis=1).astype(np.float64)
    if (wd_days == 0).any():
        raise LayerError("queue_log", ["an outlet has no weekday in the fit window; the log "
                                       "needs weekdays to fit a business day"])
    wd_sum = np.bincount(cell[~weekend], arr[~weekend], minlength=size).reshape(n_out, -1)
    we_sum = np.bincount(cell[weekend], arr[weekend], minlength=size).reshape(n_out, -1)
    business_day = wd_sum.sum(axis=1) / wd_days
    safe = np.where(business_day > 0, business_day, 1.0)
    wd_prof = wd_sum / wd_days[:, None] / safe[:, None]
    we_prof = we_sum / np.maximum(we_days, 1.0)[:, None] / safe[:, None]
    peak_share = wd_prof.max(axis=1)
    peak_h = np.argmax(wd_prof, axis=1)
    wait_name = "counter_wait_min" if "counter_wait_min" in present else "mean_wait_min"
    w_arr = _col(df, "counter_arrivals") if wait_name == "counter_wait_min" else arr
    in_peak = ~weekend & (h_idx == peak_h[codes])
    wsum = np.bincount(codes[in_peak], (w_arr * np.nan_to_num(_col(df, wait_name)))[in_peak],
                       minlength=n_out)
    asum = np.bincount(codes[in_peak], w_arr[in_peak], minlength=n_out)
    peak_wait = np.where(asum > 0, wsum / np.maximum(asum, 1e-12), 0.0)
    labels, portraits = queuelog.outlet_portraits(
        [str(u) for u in uniques], wd_prof, we_prof, hours.tolist(), k_range=k_range,
        random_state=random_state)
    lab = np.asarray(labels, dtype=object)
    described = tuple(
        {"label": p["label"], "outlets": p["outlets"],
         "peak_hour_share": round(float(np.average(peak_share[lab == p["label"]],
                                                   weights=business_day[lab == p["label"]]
                                                   + 1e-12)), 4)}
        for p in portraits
    )
    span_years = (int(day.max()) + 1) / 365.25
    channels = _channel_fits(df, present, arr)
    total_bd = float(business_day.sum())
    return LogFit(
        outlet_ids=tuple(str(u) for u in uniques),
        hours=tuple(int(h) for h in hours),
        weekday_profile=wd_prof,
        weekend_profile=we_prof,
        business_day=business_day,
        peak_share=peak_share,
        peak_wait_min=peak_wait,
        portrait=tuple(labels),
        portraits=described,
        peak_hour_share=round(float(np.dot(peak_share, business_day) / max(total_bd, 1e-12)),
                              4),
        weekday_equivalent_days=round(float(arr.sum() / span_years / max(total_bd, 1e-12)), 2),
        window=(str(df["timestamp"].min().date()), str(df["timestamp"].max().date())),
        by_year=by_year,
        **channels,
    )


def _channel_fits(df: pd.DataFrame, present: list[str], arr: FloatArray) -> dict[str, Any]:
    """Terminal share, service fits and patience from the channel columns present."""
    has = set(present)
    smart = None
    if "terminal_arrivals" in has and arr.sum() > 0:
        smart = round(float(_col(df, "terminal_arrivals").sum() / arr.sum()), 4)
    fits: dict[str, ServiceFit | None] = {"counter_service": None, "terminal_service": None}
    for ch in ("counter", "terminal"):
        if {f"{ch}_arrivals", f"{ch}_service_min"} <= has:
            n = f"{ch}_served" if f"{ch}_served" in has else f"{ch}_arrivals"
            sq = f"{ch}_service_sq_min2"
            fits[f"{ch}_service"] = _service_fit(_col(df, n), _col(df, f"{ch}_service_min"),
                                                 _col(df, sq) if sq in has else None)
    patience = None
    if "abandoned" in has:
        gave_up = float(_col(df, "abandoned").sum())
        if {"counter_wait_min", "terminal_wait_min", "counter_arrivals",
                "terminal_arrivals"} <= has:
            waited = float(np.nansum(_col(df, "counter_arrivals") * _col(df, "counter_wait_min"))
                           + np.nansum(_col(df, "terminal_arrivals")
                                       * _col(df, "terminal_wait_min")))
        else:
            waited = float(np.nansum(arr * _col(df, "mean_wait_min")))
        if gave_up > 0:
            patience = round(waited / gave_up, 2)
    return {"smart_share": smart, "patience_min": patience, **fits}


def _by_year(df: pd.DataFrame, present: list[str]) -> tuple[dict[str, Any], ...]:
    """Arrivals, terminal share and mean counter wait per calendar year of the whole log."""
    year = df["timestamp"].dt.year.to_numpy()
    arr = df["arrivals"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"year": year, "arrivals": arr,
                          "wait_x": arr * np.nan_to_num(_col(df, "mean_wait_min"))})
    if {"counter_arrivals", "counter_wait_min", "terminal_arrivals"} <= set(present):
        ca = _col(df, "counter_arrivals")
        frame["counter"] = ca
        frame["cwait_x"] = ca * np.nan_to_num(_col(df, "counter_wait_min"))
        frame["terminal"] = _col(df, "terminal_arrivals")
    g = frame.groupby("year", sort=True).sum()
    rows: list[dict[str, Any]] = []
    for y, r in zip(g.index.tolist(), g.to_dict("records"), strict=True):
        a = float(r["arrivals"])
        row: dict[str, Any] = {"year": int(y), "arrivals": int(a),
                               "mean_wait_min": round(float(r["wait_x"]) / a, 3) if a else 0.0}
        if "counter" in r:
            c = float(r["counter"])
            row["smart_share"] = round(float(r["terminal"]) / a, 4) if a else None
            row["counter_mean_wait_min"] = round(float(r["cwait_x"]) / c, 3) if c else 0.0
        rows.append(row)
    return tuple(rows)
