"""Hourly queue logs of outlets: read, analyse (peaks, waits, outlet portraits), generate.

A queue log has one row per outlet and opening hour::

    outlet_id (str), timestamp (hour start, local time), arrivals (int >= 0),
    mean_wait_min (float >= 0; may be empty when arrivals is 0)

Extra columns are kept and ignored. CSV and Parquet are read by :func:`read_queue_log`,
which also reads a *ticket log* (one row per ticket, :mod:`netplan.model.ticketlog`): the
format is told by the columns, and tickets are summed into hourly rows as they are read.

:func:`analyze` finds the busiest hours, weekdays and months, measures the peak-hour share
(the scenario's ``demand.peak_hour_share``), the share of customers waiting longer than the
target, per outlet and overall, and clusters outlets into "portraits" by the shape of their
load over the week. :mod:`netplan.model.queuelog_gen` makes realistic synthetic logs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from netplan._errors import DataNotFoundError, LayerError, examples
from netplan._io import atomic_path
from netplan._types import FloatArray
from netplan.study.inputs import check_file_size, source_path

__all__ = [
    "LOG_COLUMNS",
    "analyze",
    "analyze_file",
    "outlet_portraits",
    "read_queue_log",
    "validate_queue_log",
    "write_queue_log",
]

#: Required columns of a queue log.
LOG_COLUMNS: tuple[str, ...] = ("outlet_id", "timestamp", "arrivals", "mean_wait_min")

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- reading and validation --------------------------------------------------------------


def _rows(mask: npt.NDArray[np.bool_]) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 1) for i in idx[:5])
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def validate_queue_log(df: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check a queue log and return a clean copy (typed columns, sorted by outlet and time).

    Rows are numbered from 1 = the first data row (the line after a CSV header).

    Raises
    ------
    LayerError
        Every problem at once: missing columns, unparsable timestamps, negative or
        non-integer arrivals, negative or missing waits (missing is allowed with 0 arrivals),
        duplicate (outlet_id, timestamp) rows, an empty log.
    """
    problems: list[str] = []
    missing = [c for c in LOG_COLUMNS if c not in df.columns]
    if missing:
        problems.append(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(found: {examples(list(map(str, df.columns)))}); a queue log needs "
            f"{', '.join(LOG_COLUMNS)}"
        )
        raise LayerError("queue_log", problems, source)
    if len(df) == 0:
        raise LayerError("queue_log", ["the log has no rows"], source)
    out = df.reset_index(drop=True)

    # Clean the ids once per distinct value (a log has millions of rows, few outlets).
    codes, uniques = pd.factorize(out["outlet_id"], use_na_sentinel=True)
    clean = np.asarray([str(u).strip() for u in uniques] + [""], dtype=object)
    ids = clean[codes]  # code -1 (missing) picks the trailing ""
    bad_id = ids == ""
    if bad_id.any():
        problems.append(f"outlet_id is empty in {_rows(bad_id)}")
    _, id_rank = np.unique(clean.astype(str), return_inverse=True)
    id_key = id_rank[codes]  # lexical rank of each row's cleaned id

    ts = out["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(ts):
        ts_parsed = ts
    else:
        ts_parsed = pd.to_datetime(ts, errors="coerce", format="mixed")
    if isinstance(ts_parsed.dtype, pd.DatetimeTZDtype):
        ts_parsed = ts_parsed.dt.tz_localize(None)
    bad_ts = ts_parsed.isna().to_numpy()
    if bad_ts.any():
        problems.append(
            f"timestamp is not a date-time in {_rows(bad_ts)} (e.g. {ts[bad_ts].iloc[0]!r}); "
            "write ISO times like 2023-03-01 09:00"
        )
    ts_ns = ts_parsed.astype("datetime64[ns]")

    arr = pd.to_numeric(out["arrivals"], errors="coerce").to_numpy(dtype=np.float64)
    bad_a = ~np.isfinite(arr) | (arr < 0) | (np.floor(arr) != arr)
    if bad_a.any():
        problems.append(f"arrivals must be whole numbers >= 0; bad in {_rows(bad_a)}")
    wait = pd.to_numeric(out["mean_wait_min"], errors="coerce").to_numpy(dtype=np.float64)
    nan_w = np.isnan(wait)
    bad_w = (nan_w & ~((arr == 0) & ~bad_a)) | np.isinf(wait) | (wait < 0)
    if bad_w.any():
        problems.append(
            f"mean_wait_min must be a number >= 0 (empty only when arrivals is 0); "
            f"bad in {_rows(bad_w)}"
        )
    if problems:
        raise LayerError("queue_log", problems, source)
    # Sort by (outlet, time) on integer keys; equal neighbours are duplicates.
    t_i8 = ts_ns.to_numpy().astype("datetime64[ns]").view(np.int64)
    order = np.lexsort((t_i8, id_key))
    same = (id_key[order][1:] == id_key[order][:-1]) & (t_i8[order][1:] == t_i8[order][:-1])
    if same.any():
        dup = np.zeros(len(out), dtype=bool)
        dup[order[1:][same]] = True
        raise LayerError("queue_log", [f"duplicate (outlet_id, timestamp) in {_rows(dup)}"],
                         source)
    clean_df = out.iloc[order].reset_index(drop=True)
    clean_df["outlet_id"] = ids[order]
    clean_df["timestamp"] = ts_ns.to_numpy()[order]
    clean_df["arrivals"] = arr[order].astype(np.int64)
    clean_df["mean_wait_min"] = np.where(nan_w, 0.0, wait)[order]
    return clean_df


def _columns(local: Path, name: str) -> list[str]:
    """The column names of a Parquet file's schema or of a CSV file's header line."""
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        return list(pq.read_schema(local).names)
    import csv
    import gzip

    opener: Any = gzip.open if name.endswith(".gz") else open
    with opener(local, "rt", encoding="utf-8-sig", newline="") as f:
        return [c.strip() for c in next(csv.reader(f), [])]


def _log_format(local: Path, p: Path) -> str:
    """``"hourly"`` or ``"tickets"`` by the file's columns; raise naming both formats."""
    from netplan.model.ticketlog import TICKET_COLUMNS

    name = p.name.lower()
    if not name.endswith((".parquet", ".pq", ".csv", ".csv.gz", ".txt")):
        raise LayerError("queue_log", [f"unknown file type {p.suffix!r}; use .csv or .parquet"],
                         str(p))
    try:
        cols = _columns(local, name)
    except Exception as exc:  # pyarrow / gzip / decoding errors: report as a layer problem
        reason = " ".join(str(exc).split())[:300]
        raise LayerError("queue_log", [f"cannot read the file: {reason}"], str(p)) from None
    if set(LOG_COLUMNS) <= set(cols):
        return "hourly"
    if set(TICKET_COLUMNS) <= set(cols):
        return "tickets"

    def lacks(need: tuple[str, ...]) -> str:
        gone = [c for c in need if c not in cols]
        return f"missing column{'s' if len(gone) > 1 else ''} {', '.join(gone)}"

    raise LayerError("queue_log", [
        f"neither an hourly queue log ({lacks(LOG_COLUMNS)}) nor a ticket log "
        f"({lacks(TICKET_COLUMNS)}); found: {examples(cols)}. An hourly log has "
        f"{', '.join(LOG_COLUMNS)}; a ticket log has {', '.join(TICKET_COLUMNS)} "
        "(see netplan.model.ticketlog)"], str(p))


def read_queue_log(path: str | Path) -> pd.DataFrame:
    """Read a queue log from CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``).

    An hourly log (:data:`LOG_COLUMNS`) is read whole and validated; a ticket log
    (:data:`netplan.model.ticketlog.TICKET_COLUMNS`) is read in batches and summed into the
    hourly per-channel rows (:func:`netplan.model.ticketlog.aggregate_file`).

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    NetplanError
        The path is a URL (queue logs are read from local files only), or the file is
        larger than ``max_file_bytes`` of :func:`netplan.study.inputs.input_limits`.
    LayerError
        The file cannot be read, or fails :func:`validate_queue_log`.
    """
    p = Path(path)
    local = source_path(p, what="queue log", allow_remote=False)  # never fetched from a URL
    if not Path(local).is_file():
        raise DataNotFoundError(f"queue log {p} does not exist; pass a CSV or Parquet file")
    check_file_size(p, what="queue log", size=Path(local).stat().st_size)
    if _log_format(Path(local), p) == "tickets":
        from netplan.model.ticketlog import aggregate_file

        return aggregate_file(local, source=str(p))
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            # ids as dictionary -> categorical: millions of rows share a few hundred strings
            try:
                df = pd.read_parquet(local, read_dictionary=["outlet_id"])
            except (KeyError, ValueError):
                df = pd.read_parquet(local)
        elif name.endswith((".csv", ".csv.gz", ".txt")):
            df = pd.read_csv(local, dtype={"outlet_id": "category"})
        else:
            raise LayerError(
                "queue_log",
                [f"unknown file type {p.suffix!r}; use .csv or .parquet"],
                str(p),
            )
    except LayerError:
        raise
    except Exception as exc:  # pyarrow / parser errors: report as a layer problem
        reason = " ".join(str(exc).split())[:300]
        raise LayerError("queue_log", [f"cannot read the file: {reason}"], str(p)) from None
    return validate_queue_log(df, source=str(p))


def write_queue_log(df: pd.DataFrame, path: str | Path, *, force: bool = False,
                    inputs: Sequence[Path] = ()) -> Path:
    """Write a queue log as Parquet (zstd) or CSV, by the file's suffix, atomically.

    Parameters
    ----------
    df
        The log (as :func:`generate_log` returns it).
    path
        The file; ``.parquet``/``.pq`` for Parquet, anything else for CSV.
    force
        Replace an existing file (see :func:`netplan._io.check_new_file`).
    inputs
        Files the run read: ``path`` may not be one of them.

    Returns
    -------
    Path
        ``path``.
    """
    p = Path(path)
    with atomic_path(p, force=force, inputs=inputs) as tmp:
        if p.name.lower().endswith((".parquet", ".pq")):
            df.to_parquet(tmp, index=False, compression="zstd")
        else:
            df.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M")
    return p


# --- analysis ----------------------------------------------------------------------------


def _share_over_exp(wait: FloatArray, target: float) -> FloatArray:
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        share = np.exp(-target / wait)
    return np.where(wait > 0, share, 0.0)


def analyze(
    log_df: pd.DataFrame,
    *,
    target_wait_min: float = 11.0,
    k_range: tuple[int, int] = (3, 6),
    random_state: int = 0,
) -> dict[str, Any]:
    """Analyse an hourly queue log; returns a JSON-serialisable dict.

    Measures
    --------
    ``busiest_hours`` / ``hour_profile``
        Mean arrivals per outlet and open hour, by hour of day (all days), busiest first.
    ``busiest_weekdays`` / ``weekday_profile``
        Mean arrivals per outlet and open day, by weekday.
    ``month_profile``
        Mean arrivals per outlet and open day, by calendar month (seasonality).
    ``peak_hour_share``
        Share of a weekday's arrivals in its busiest hour, from each outlet's *mean* weekday
        profile (not the noisy daily maximum), averaged over outlets weighted by their
        arrivals. This is what the scenario's ``demand.peak_hour_share`` means.
    ``mean_wait_min``
        Arrival-weighted mean of the hourly mean waits.
    ``share_over_target_hours``
        Share of customers who arrived in hours whose mean wait exceeded the target. This is
        the headline figure (also per outlet): simple and assumption-free, but it counts
        everyone in a bad hour and no one in a good one.
    ``share_over_target_exp``
        Estimated share of customers who waited longer than the target, assuming the waits
        within an hour are exponential with the hour's mean, ``P(W > T) = exp(-T / W)``.
        That is the M/M/c wait tail when everyone waits (heavy traffic, Erlang C -> 1); at
        light load, when few customers wait but those wait longer, it is an underestimate.
    ``portraits``
        Outlets clustered by the shape of their week (see below), each cluster described in
        words generated from its centroid, with its outlet count.
    ``outlets``
        One row per outlet: arrivals, daily mean, mean wait, both over-target shares, its
        busiest hour and portrait.

    Portraits
    ---------
    Each outlet's profile is its mean arrivals per hour of day on weekdays, followed by the
    same on weekends, divided by its mean weekday hourly arrivals (so volume does not
    matter, shape does). KMeans (``random_state`` fixed, 10 starts) runs for every ``k`` in
    ``k_range`` (capped at outlets - 1) and the ``k`` with the best silhouette wins. With
    fewer than 4 outlets all form one portrait. Clusters whose centroids get the same words
    (see :func:`describe_profile`) are merged, so every portrait has a distinct label.

    Parameters
    ----------
    log_df
        A queue log (see the module docstring); validated first.
    target_wait_min
        The waiting-time target, minutes (> 0).
    k_range
        Smallest and largest number of portraits to try.
    random_state
        Seed of KMeans.

    Raises
    ------
    LayerError
        The log fails validation.
    """
    if not (isinstance(target_wait_min, int | float) and math.isfinite(target_wait_min)
            and target_wait_min > 0):
        raise LayerError("queue_log", [f"target_wait_min must be a number > 0, got "
                                       f"{target_wait_min!r}"])
    return _analyze_valid(validate_queue_log(log_df), target_wait_min=float(target_wait_min),
                          k_range=k_range, random_state=random_state)


def analyze_file(
    path: str | Path,
    *,
    target_wait_min: float = 11.0,
    k_range: tuple[int, int] = (3, 6),
    random_state: int = 0,
) -> dict[str, Any]:
    """:func:`read_queue_log` then :func:`analyze` (validating once); adds ``source``."""
    if not (isinstance(target_wait_min, int | float) and math.isfinite(target_wait_min)
            and target_wait_min > 0):
        raise LayerError("queue_log", [f"target_wait_min must be a number > 0, got "
                                       f"{target_wait_min!r}"])
    result = _analyze_valid(read_queue_log(path), target_wait_min=float(target_wait_min),
                            k_range=k_range, random_state=random_state)
    return {"source": str(path), **result}


def _analyze_valid(
    df: pd.DataFrame, *, target_wait_min: float, k_range: tuple[int, int], random_state: int
) -> dict[str, Any]:
    t = target_wait_min
    df = _with_calendar(df, t)
    total = float(df["arrivals"].to_numpy(dtype=np.float64).sum())
    # Per outlet-day totals, for the weekday and month profiles and the days per outlet.
    daily = df.groupby(["outlet_id", "date"], sort=True).agg(
        arrivals=("arrivals", "sum"), weekday=("weekday", "first"), month=("month", "first")
    )
    # Per-outlet profile matrix (weekday hours, weekend hours), mean per open day.
    hours = sorted(int(h) for h in df["hour"].unique())
    outlet_ids = sorted(df["outlet_id"].unique())
    wd = _profile(df[~df["weekend"]], hours).reindex(
        index=outlet_ids, columns=hours, fill_value=0.0).to_numpy(float)
    we = _profile(df[df["weekend"]], hours).reindex(
        index=outlet_ids, columns=hours, fill_value=0.0).to_numpy(float)
    peak_hour_share = _peak_hour_share(wd)
    labels, portraits, k_info = _portraits(
        outlet_ids, wd, we, hours, k_range=k_range, random_state=random_state
    )
    outlets = _outlet_rows(df, daily, outlet_ids, labels, [
        f"{hours[int(np.argmax(row))]:02d}:00" if row.sum() > 0 else None for row in wd
    ])
    worst = sorted(outlets, key=lambda o: (-o["share_over_target_hours"], o["outlet_id"]))[:10]
    return {
        "outlets_count": len(outlet_ids),
        "rows": len(df),
        "period": {
            "start": df["timestamp"].min().isoformat(),
            "end": df["timestamp"].max().isoformat(),
            "days": int(df["date"].nunique()),
        },
        "target_wait_min": t,
        "arrivals": int(total),
        "mean_wait_min": round(float(df["wait_x_arr"].sum() / total), 3) if total else 0.0,
        "share_over_target_hours": round(float(df["over_hours"].sum() / total), 4)
        if total else 0.0,
        "share_over_target_exp": round(float(df["over_exp"].sum() / total), 4)
        if total else 0.0,
        "peak_hour_share": None if peak_hour_share is None else round(peak_hour_share, 4),
        **_time_profiles(df, daily),
        "portraits": portraits,
        "portrait_k": k_info,
        "worst_outlets": [
            {k: o[k] for k in ("outlet_id", "share_over_target_hours", "mean_wait_min",
                               "portrait")}
            for o in worst
        ],
        "outlets": outlets,
    }


def _with_calendar(df: pd.DataFrame, target_wait_min: float) -> pd.DataFrame:
    """The log with hour, weekday, month, date, weekend and the per-hour wait measures."""
    df = df.copy(deep=False)
    df["outlet_id"] = df["outlet_id"].astype("category")
    ts = df["timestamp"].dt
    df = df.assign(
        hour=ts.hour.astype(np.int64),
        weekday=ts.day_of_week.astype(np.int64),
        month=ts.month.astype(np.int64),
        date=ts.normalize(),
    )
    df["weekend"] = df["weekday"] >= 5
    arr = df["arrivals"].to_numpy(dtype=np.float64)
    wait = df["mean_wait_min"].to_numpy(dtype=np.float64)
    df["over_hours"] = np.where(wait > target_wait_min, arr, 0.0)
    df["over_exp"] = arr * _share_over_exp(wait, target_wait_min)
    df["wait_x_arr"] = wait * arr
    return df


def _time_profiles(df: pd.DataFrame, daily: pd.DataFrame) -> dict[str, Any]:
    """Busiest hours and weekdays; hour, weekday and month profiles (see :func:`analyze`)."""
    # Hour of day: mean arrivals per outlet-hour open.
    by_hour = df.groupby("hour")["arrivals"].mean()
    by_wd = daily.groupby("weekday")["arrivals"].mean()
    by_month = daily.groupby("month")["arrivals"].mean()
    return {
        "busiest_hours": [
            {"hour": f"{int(h):02d}:00", "mean_arrivals_per_outlet": round(float(v), 3)}
            for h, v in _pairs_of(by_hour.sort_values(ascending=False, kind="stable").head(3))
        ],
        "busiest_weekdays": [
            {"weekday": _WEEKDAYS[int(d)], "mean_arrivals_per_outlet_day": round(float(v), 2)}
            for d, v in _pairs_of(by_wd.sort_values(ascending=False, kind="stable").head(3))
        ],
        "hour_profile": {f"{int(h):02d}:00": round(float(v), 3) for h, v in _pairs_of(by_hour)},
        "weekday_profile": {_WEEKDAYS[int(d)]: round(float(v), 2) for d, v in _pairs_of(by_wd)},
        "month_profile": {_MONTHS[int(m) - 1]: round(float(v), 2)
                          for m, v in _pairs_of(by_month)},
    }


def _peak_hour_share(wd: FloatArray) -> float | None:
    """Arrival-weighted mean over outlets of the busiest hour's share of a weekday."""
    wd_day = wd.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        phs = np.where(wd_day > 0, wd.max(axis=1) / wd_day, np.nan)
    ok = np.isfinite(phs)
    if ok.any() and wd_day[ok].sum() > 0:
        return float(np.average(phs[ok], weights=wd_day[ok]))
    return None


def _outlet_rows(
    df: pd.DataFrame, daily: pd.DataFrame, outlet_ids: list[str], labels: list[str],
    busiest: list[str | None],
) -> list[dict[str, Any]]:
    """One row per outlet: arrivals, daily mean, waits, busiest hour and portrait."""
    per = df.groupby("outlet_id", sort=True).agg(
        arrivals=("arrivals", "sum"),
        hours=("arrivals", "size"),
        wait_x_arr=("wait_x_arr", "sum"),
        over_hours=("over_hours", "sum"),
        over_exp=("over_exp", "sum"),
    ).reindex(outlet_ids)
    days = daily.groupby(level="outlet_id").size().reindex(outlet_ids)
    per_arr = per["arrivals"].to_numpy(dtype=np.float64)
    safe = np.where(per_arr > 0, per_arr, 1.0)
    return [
        {
            "outlet_id": oid,
            "arrivals": int(per_arr[i]),
            "mean_arrivals_per_day": round(float(per_arr[i] / max(int(days.iloc[i]), 1)), 2),
            "mean_wait_min": round(float(per["wait_x_arr"].iloc[i] / safe[i]), 3),
            "share_over_target_hours": round(float(per["over_hours"].iloc[i] / safe[i]), 4),
            "share_over_target_exp": round(float(per["over_exp"].iloc[i] / safe[i]), 4),
            "busiest_hour": busiest[i],
            "portrait": labels[i],
        }
        for i, oid in enumerate(outlet_ids)
    ]


def _pairs_of(series: pd.Series) -> list[tuple[int, float]]:
    """``(int key, float value)`` pairs of a Series with an integer index."""
    keys = series.index.to_numpy(dtype=np.int64)
    return list(zip(keys.tolist(), series.to_numpy(dtype=np.float64).tolist(), strict=True))


def _profile(df: pd.DataFrame, hours: list[int]) -> pd.DataFrame:
    """Mean arrivals per open day, by outlet x hour (0 where never open at that hour)."""
    if df.empty:
        return pd.DataFrame(0.0, index=pd.Index([], name="outlet_id"), columns=hours)
    sums = df.pivot_table(index="outlet_id", columns="hour", values="arrivals",
                          aggfunc="sum", fill_value=0)
    ndays = df.groupby("outlet_id")["date"].nunique()
    return sums.div(ndays, axis=0).astype(float)


def outlet_portraits(
    outlet_ids: list[str],
    weekday: FloatArray,
    weekend: FloatArray,
    hours: list[int],
    *,
    k_range: tuple[int, int] = (3, 6),
    random_state: int = 0,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Cluster outlets into portraits by the shape of their week (see :func:`analyze`).

    Parameters
    ----------
    outlet_ids
        The outlets, one per row of ``weekday`` and ``weekend``.
    weekday, weekend
        ``(outlets, hours)`` mean arrivals per hour of day (any scale per outlet).
    hours
        The hours of day of the columns.
    k_range, random_state
        Numbers of clusters tried; seed of KMeans.

    Returns
    -------
    tuple
        The portrait label of each outlet and the described portraits.
    """
    labels, described, _ = _portraits(outlet_ids, weekday, weekend, hours, k_range=k_range,
                                      random_state=random_state)
    return labels, described


def _portraits(
    outlet_ids: list[str],
    wd: FloatArray,
    we: FloatArray,
    hours: list[int],
    *,
    k_range: tuple[int, int],
    random_state: int,
) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    n = len(outlet_ids)
    scale = wd.mean(axis=1)
    scale = np.where(scale > 0, scale, np.maximum(we.mean(axis=1), 1e-12))
    x = np.hstack([wd, we]) / scale[:, None]
    k_lo, k_hi = k_range
    ks = list(range(max(2, k_lo), min(k_hi, n - 1) + 1))
    scores: dict[int, float] = {}
    if ks:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

        best: tuple[float, int, npt.NDArray[np.int64]] | None = None
        for k in ks:
            km = KMeans(n_clusters=k, random_state=random_state, n_init=10).fit(x)
            lab = np.asarray(km.labels_, dtype=np.int64)
            if len(np.unique(lab)) < 2:
                continue
            score = float(silhouette_score(x, lab))
            scores[k] = round(score, 4)
            if best is None or score > best[0] + 1e-12:
                best = (score, k, lab)
        labels_raw = best[2] if best is not None else np.zeros(n, dtype=np.int64)
        chosen = best[1] if best is not None else 1
    else:
        labels_raw = np.zeros(n, dtype=np.int64)
        chosen = 1
    we_open = we.sum(axis=0) > 0
    # Describe each cluster from its centroid; clusters that read the same to a planner
    # (same label) are merged and described again, until every label is distinct.
    groups = labels_raw.copy()
    while True:
        label_of: dict[int, str] = {}
        for c in np.unique(groups).tolist():
            centroid = x[groups == c].mean(axis=0)
            label_of[int(c)] = describe_profile(
                centroid[: len(hours)], centroid[len(hours):], hours, weekend_open=we_open
            )["label"]
        first: dict[str, int] = {}
        for c in sorted(label_of):
            first.setdefault(label_of[c], c)
        if len(first) == len(label_of):
            break
        groups = np.array([first[label_of[int(c)]] for c in groups], dtype=np.int64)
    clusters = sorted(np.unique(groups).tolist(),
                      key=lambda c: (-int((groups == c).sum()), label_of[int(c)]))
    described: list[dict[str, Any]] = []
    for idx, c in enumerate(clusters):
        members = groups == c
        centroid = x[members].mean(axis=0)
        info = describe_profile(centroid[: len(hours)], centroid[len(hours):], hours,
                                weekend_open=we_open)
        info.update(cluster=idx, outlets=int(members.sum()),
                    examples=[outlet_ids[i] for i in np.flatnonzero(members)[:5]])
        described.append(info)
    labels = [label_of[int(c)] for c in groups]
    return labels, described, {"chosen": chosen, "silhouette": scores}


def describe_profile(
    weekday: FloatArray,
    weekend: FloatArray,
    hours: list[int],
    *,
    weekend_open: npt.NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """Name the shape of a load profile in words a planner uses.

    ``weekday`` and ``weekend`` are mean arrivals by hour of day (any scale; ``hours`` labels
    the positions). Rules, first match wins:

    1. weekend hours at least 85% as busy as weekday hours: "weekend residential";
    2. busiest weekday hour under 1.2x the weekday mean: "flat all-day";
    3. 11:00-13:59 at least 1.15x the mean and the peak inside it: "lunchtime office peak";
    4. first two and last two open hours both >= 1.1x the mean with a quieter middle:
       "morning-and-evening commuter";
    5. first two hours >= 1.1x: "morning peak"; last two: "late-afternoon peak";
    6. otherwise "midday peak".
    """
    wd = np.asarray(weekday, dtype=np.float64)
    we = np.asarray(weekend, dtype=np.float64)
    h = np.asarray(hours)
    open_wd = wd > 0.02 * max(float(wd.max()), 1e-12)
    mean_wd = float(wd[open_wd].mean()) if open_wd.any() else 0.0
    if weekend_open is None:
        weekend_open = we > 0.02 * max(float(we.max()), 1e-12)
    mean_we = float(we[weekend_open].mean()) if weekend_open.any() else 0.0
    ratio_we = mean_we / mean_wd if mean_wd > 0 else 0.0
    ref = mean_wd if mean_wd > 0 else 1.0
    peak_i = int(np.argmax(wd))
    peak_h = int(h[peak_i])
    ptm = float(wd[peak_i]) / ref
    open_hours = h[open_wd]
    first2 = np.isin(h, open_hours[:2])
    last2 = np.isin(h, open_hours[-2:])
    lunch = (h >= 11) & (h <= 13) & open_wd
    middle = open_wd & ~first2 & ~last2

    def rel(mask: npt.NDArray[np.bool_]) -> float:
        return float(wd[mask].mean()) / ref if mask.any() else 0.0

    morning, evening, lunch_r, mid = rel(first2), rel(last2), rel(lunch), rel(middle)
    if ratio_we >= 0.85:
        label = "weekend residential"
        what = (f"weekends as busy as weekdays or busier ({ratio_we:.0%} of the weekday hourly "
                f"level); weekday peak at {peak_h:02d}:00")
    elif ptm < 1.2:
        label = "flat all-day"
        what = f"steady load, the busiest hour only {ptm:.2f}x the day's mean"
    elif lunch_r >= 1.15 and 11 <= peak_h <= 13:
        label = "lunchtime office peak"
        what = (f"weekday peak at {peak_h:02d}:00 ({ptm:.1f}x the mean) when office staff come "
                "in over lunch")
    elif morning >= 1.1 and evening >= 1.1 and mid < min(morning, evening):
        label = "morning-and-evening commuter"
        what = (f"busy at opening ({morning:.1f}x) and before closing ({evening:.1f}x), quiet "
                "at midday")
    elif morning >= 1.1:
        label = "morning peak"
        what = f"busiest right after opening ({morning:.1f}x the mean), tailing off"
    elif evening >= 1.1:
        label = "late-afternoon peak"
        what = f"busiest before closing ({evening:.1f}x the mean)"
    else:
        label = "midday peak"
        what = f"weekday peak at {peak_h:02d}:00 ({ptm:.1f}x the mean)"
    if label != "weekend residential":
        what += f"; weekends at {ratio_we:.0%} of the weekday hourly level"
    return {
        "label": label,
        "description": f"{label}: {what}",
        "weekday_peak_hour": f"{peak_h:02d}:00",
        "peak_to_mean": round(ptm, 3),
        "weekend_to_weekday": round(ratio_we, 3),
        "weekday_profile": {f"{int(hh):02d}:00": round(float(v) / ref, 3)
                            for hh, v in zip(h, wd, strict=True)},
    }
