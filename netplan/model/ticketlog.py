"""Ticket logs: one row per ticket, read in batches and summed into the hourly queue log.

A ticket log (Parquet, or CSV with a header) has one row per ticket drawn at an outlet::

    outlet_id   string (plain or dictionary-encoded; integers are read as their text)
    channel     "counter" or "terminal" (case and surrounding spaces ignored)
    arrival     timestamp: when the ticket was drawn (local time; a time zone, if the
                column has one, is converted to that zone's wall clock)
    call        timestamp, or empty: when the customer was called; empty = gave up
    end         timestamp, or empty: when the service ended; empty exactly when call is
    abandoned   bool, optional: true = the customer gave up (call and end are then
                ignored); empty or absent = decided by call (empty call = gave up)

Any timestamp unit is read (seconds to nanoseconds; call and end are taken in the unit of
arrival, text in milliseconds); other columns are ignored. A called ticket needs
``arrival <= call <= end``; every problem of a batch is reported with its row numbers
(counted from 1 over the whole file).

:func:`aggregate_batches` sums the tickets into the hourly per-channel frame that
:func:`netplan.model.calibrate.fit_log` and :func:`netplan.model.queuelog.analyze` read:
one row per outlet and clock hour of arrival that has at least one ticket (an open hour
without a ticket cannot be told from a closed one), with

- ``counter_arrivals``, ``terminal_arrivals``, ``arrivals``: tickets drawn;
- ``counter_served``, ``terminal_served``: tickets called; ``abandoned``: the others;
- ``counter_wait_min``, ``terminal_wait_min``: mean ``call - arrival`` of the called
  tickets (empty when none was called); the wait of a customer who gave up is not in the
  log, so the patience fit of :mod:`netplan.model.calibrate` assumes it is like the
  others'; ``mean_wait_min`` is the same over both channels (0 when none was called);
- ``counter_service_min``, ``terminal_service_min``: mean ``end - call`` of the called
  tickets, and ``counter_service_sq_min2``, ``terminal_service_sq_min2`` the mean of its
  square, so the service-time variance is the tickets' own, not estimated from hourly means.

Reading streams: each batch (a column subset, :meth:`pyarrow.parquet.ParquetFile.iter_batches`
or :func:`pyarrow.csv.open_csv`) becomes integer (outlet, hour, channel) codes and a few
``numpy.bincount`` sums; only those per-cell sums are kept, so memory grows with the
number of outlet-hours, never with the number of tickets. A batch's cells are counted
densely over its own outlets and hour span when that is small (files sorted by outlet or
by time), else through ``numpy.unique``; the result does not depend on how the file is
cut into batches (up to float rounding of the sums).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from netplan._errors import LayerError, examples
from netplan._io import atomic_path

__all__ = ["CHANNELS", "TICKET_COLUMNS", "TICKET_SCHEMA", "aggregate_batches",
           "aggregate_file", "check_schema", "write_ticket_log"]

#: Required columns of a ticket log.
TICKET_COLUMNS: tuple[str, ...] = ("outlet_id", "channel", "arrival", "call", "end")
#: Optional column: the customer gave up.
ABANDONED = "abandoned"
#: The two channels, in code order (0 = counter, 1 = terminal).
CHANNELS: tuple[str, ...] = ("counter", "terminal")
#: The schema :func:`netplan.model.queuelog_gen.ticket_tables` writes.
TICKET_SCHEMA = pa.schema([
    ("outlet_id", pa.dictionary(pa.int32(), pa.string())),
    ("channel", pa.dictionary(pa.int8(), pa.string())),
    ("arrival", pa.timestamp("s")),
    ("call", pa.timestamp("s")),
    ("end", pa.timestamp("s")),
])

_LAYER = "ticket_log"
_DELTA_NONE = {"arrival": "none", "call": "none", "end": "none"}
_TICKS_PER_MIN = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}
_FIX = ("a ticket log needs outlet_id, channel, arrival, call, end (and optionally "
        "abandoned); see netplan.model.ticketlog")

IntArray = npt.NDArray[np.int64]


def _rows(idx: npt.NDArray[np.intp], row0: int) -> str:
    shown = ", ".join(str(row0 + int(i) + 1) for i in idx[:5])
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def _base_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def check_schema(schema: pa.Schema, *, source: str | None = None) -> None:
    """Raise unless ``schema`` has the ticket log's columns with usable types.

    Raises
    ------
    LayerError
        Every missing column and every column of the wrong type, with the fix.
    """
    names = set(schema.names)
    missing = [c for c in TICKET_COLUMNS if c not in names]
    if missing:
        raise LayerError(_LAYER, [
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (found: "
            f"{examples(list(schema.names))}); {_FIX}"], source)
    problems: list[str] = []
    for name in ("outlet_id", "channel"):
        t = _base_type(schema.field(name).type)
        ok = pa.types.is_string(t) or pa.types.is_large_string(t) or (
            name == "outlet_id" and pa.types.is_integer(t))
        if not ok:
            problems.append(f"{name} must be text, found {t}")
    for name in ("arrival", "call", "end"):
        t = schema.field(name).type
        if not (pa.types.is_timestamp(t) or pa.types.is_string(t)
                or pa.types.is_large_string(t) or pa.types.is_null(t)):
            problems.append(f"{name} must be a timestamp (or ISO text like "
                            f"2023-03-01 09:14:05), found {t}")
    if ABANDONED in names and not (pa.types.is_boolean(schema.field(ABANDONED).type)
                                   or pa.types.is_null(schema.field(ABANDONED).type)):
        problems.append(f"abandoned must be true/false, found {schema.field(ABANDONED).type}")
    if problems:
        raise LayerError(_LAYER, problems, source)


def _ticks(arr: pa.Array, unit: str, name: str, row0: int,
           source: str | None) -> tuple[IntArray, npt.NDArray[np.bool_] | None]:
    """A timestamp column as int64 ticks of ``unit`` (wall clock) and its validity.

    The values are a view of the column's buffer where it has that unit already; the
    validity is ``None`` when no value is empty (values under an empty slot are arbitrary).
    """
    if pa.types.is_null(arr.type):
        return np.zeros(len(arr), dtype=np.int64), np.zeros(len(arr), dtype=bool)
    if not pa.types.is_timestamp(arr.type):
        try:
            arr = arr.cast(pa.timestamp(unit))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = arr.slice(0, 1).to_pylist()[0] if len(arr) else None
            raise LayerError(_LAYER, [
                f"{name} is not a date-time in the batch from row {row0 + 1} (e.g. {bad!r}); "
                "write ISO times like 2023-03-01 09:14:05"], source) from None
    if arr.type.tz is not None:
        arr = pc.local_timestamp(arr)
    if arr.type.unit != unit:
        arr = arr.cast(pa.timestamp(unit), safe=False)
    valid = (None if arr.null_count == 0
             else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool))
    values = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr),
                           offset=arr.offset * 8)
    return values, valid


def _codes(arr: pa.Array) -> tuple[IntArray, list[Any], npt.NDArray[np.bool_]]:
    """Dictionary codes, the dictionary's values and the validity of a text column."""
    if not pa.types.is_dictionary(arr.type):
        if pa.types.is_integer(arr.type):
            arr = arr.cast(pa.string())
        arr = pc.dictionary_encode(arr)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.asarray(pc.fill_null(arr.indices, 0).to_numpy(zero_copy_only=False),
                     dtype=np.int64)
    return idx, arr.dictionary.to_pylist(), valid


class _Sums:
    """Per-cell sums of the batches seen so far (see the module docstring)."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.ids: dict[str, int] = {}
        self.parts: list[dict[str, npt.NDArray[Any]]] = []
        self.rows = 0

    def _outlets(self, arr: pa.Array, row0: int, problems: list[str]) -> IntArray:
        idx, values, valid = _codes(arr)
        lut = np.empty(max(len(values), 1), dtype=np.int64)
        empty = np.zeros(len(lut), dtype=bool)
        for k, v in enumerate(values):
            name = "" if v is None else str(v).strip()
            empty[k] = name == ""
            lut[k] = self.ids.setdefault(name, len(self.ids)) if name else -1
        bad = ~valid | empty[idx]
        if bad.any():
            problems.append(f"outlet_id is empty in {_rows(np.flatnonzero(bad), row0)}")
        return lut[idx]

    @staticmethod
    def _channels(arr: pa.Array, row0: int, problems: list[str]) -> IntArray:
        idx, values, valid = _codes(arr)
        known = {c: k for k, c in enumerate(CHANNELS)}
        lut = np.array([known.get(str(v).strip().lower(), -1) if v is not None else -1
                        for v in values] or [-1], dtype=np.int64)
        ch = lut[idx]
        bad = ~valid | (ch < 0)
        if bad.any():
            first = arr.filter(pa.array(bad)).slice(0, 1).to_pylist()[0]
            problems.append(f"channel must be counter or terminal; got {first!r} in "
                            f"{_rows(np.flatnonzero(bad), row0)}")
        return ch

    # long: the checks and the per-cell sums of one batch, one step per block
    def add(self, batch: pa.RecordBatch) -> None:
        """Check one batch and add its tickets to the sums."""
        row0, n = self.rows, batch.num_rows
        self.rows += n
        if n == 0:
            return
        problems: list[str] = []
        oc = self._outlets(batch.column("outlet_id"), row0, problems)
        ch = self._channels(batch.column("channel"), row0, problems)
        t = batch.schema.field("arrival").type
        unit = t.unit if pa.types.is_timestamp(t) else "ms"
        a, a_ok = _ticks(batch.column("arrival"), unit, "arrival", row0, self.source)
        call, call_ok = _ticks(batch.column("call"), unit, "call", row0, self.source)
        end, end_ok = _ticks(batch.column("end"), unit, "end", row0, self.source)
        gave = np.zeros(n, dtype=bool) if call_ok is None else ~call_ok
        if ABANDONED in batch.schema.names:
            ab = batch.column(ABANDONED)
            flag = np.asarray(pc.fill_null(ab, False).to_numpy(zero_copy_only=False), bool)
            known = np.asarray(ab.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            said_served = known & ~flag & gave
            if said_served.any():
                problems.append(f"call is empty but abandoned is false in "
                                f"{_rows(np.flatnonzero(said_served), row0)}; give the call "
                                "time or mark the ticket abandoned")
            gave = gave | flag
        served = ~gave
        wait = call - a
        svc = end - call
        checks = [
            (a_ok is not None and ~a_ok, "arrival is empty"),
            (end_ok is not None and served & ~end_ok, "end is empty for a called ticket"),
            (end_ok is not None and call_ok is not None and ~call_ok & end_ok,
             "end is given but call is empty"),
            (served & (wait < 0), "call is before arrival"),
            (served & (svc < 0), "end is before call"),
        ]
        for mask, what in checks:
            if mask is not False and np.any(mask):
                problems.append(f"{what} in {_rows(np.flatnonzero(mask), row0)}")
        if problems:
            raise LayerError(_LAYER, problems, self.source)
        per_min = _TICKS_PER_MIN[unit]
        if gave.any():
            wait = np.where(served, wait, 0)
            svc = np.where(served, svc, 0)
        self.parts.append(self._cells(oc, a // (60 * per_min), ch, served,
                                      wait.astype(np.float64), svc.astype(np.float64),
                                      per_min))

    def _cells(self, oc: IntArray, hour: IntArray, ch: IntArray,
               served: npt.NDArray[np.bool_], wait: npt.NDArray[np.float64],
               svc: npt.NDArray[np.float64], per_min: int) -> dict[str, npt.NDArray[Any]]:
        """Sums per (outlet, hour) of one batch, a column per channel (times in minutes)."""
        h0 = int(hour.min())
        span = int(hour.max()) - h0 + 1
        present = np.bincount(oc, minlength=len(self.ids)) > 0
        outlets = np.flatnonzero(present)
        size = len(outlets) * span
        if size <= max(2 * len(oc), 1 << 16):  # dense over the batch's own outlets x hours
            local = (np.cumsum(present) - 1)[oc] if len(outlets) > 1 else 0
            idx = ((local * span + (hour - h0)) * 2 + ch).astype(np.intp)
            cnt = np.bincount(idx, minlength=2 * size).reshape(size, 2)
            rows = np.flatnonzero(cnt.any(axis=1))
            cnt = cnt[rows]
            out_code = outlets[rows // span]
            out_hour = rows % span + h0
        else:  # scattered batch: sort its keys
            rows, inv = np.unique(oc * span + (hour - h0), return_inverse=True)
            idx = (inv * 2 + ch).astype(np.intp)
            size = len(rows)
            cnt = np.bincount(idx, minlength=2 * size).reshape(size, 2)
            out_code = rows // span
            out_hour = rows % span + h0
            rows = np.arange(size)

        def total(w: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
            out = np.asarray(np.bincount(idx, w, minlength=2 * size), dtype=np.float64)
            return out.reshape(size, 2)[rows]

        return {
            "outlet": out_code.astype(np.int32),
            "hour": out_hour.astype(np.int32),
            "n": cnt.astype(np.int32),
            "served": total(served).astype(np.int32),
            "wait": total(wait) / per_min,
            "svc": total(svc) / per_min,
            "svc2": total(svc * svc) / (per_min * per_min),
        }

    def frame(self) -> pd.DataFrame:
        """The hourly per-channel frame (see the module docstring), sorted by outlet, time."""
        if not self.parts or self.rows == 0:
            raise LayerError(_LAYER, ["the log has no tickets"], self.source)
        names = list(self.ids)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        parts, self.parts = self.parts, []
        cols: dict[str, npt.NDArray[Any]] = {}
        for k in list(parts[0]):  # one column at a time, freeing the parts' copies
            cols[k] = np.concatenate([part.pop(k) for part in parts])
        del parts
        h0 = int(cols["hour"].min())
        span = int(cols["hour"].max()) - h0 + 1
        key = rank[cols.pop("outlet")] * span + (cols.pop("hour") - h0)
        if not bool((key[1:] >= key[:-1]).all()):
            # timsort: near-linear on a sorted file's batches (a cell cut by a batch edge
            # comes back out of order), n log n on a shuffled one
            by_key = np.argsort(key, kind="stable")
            key = key[by_key]
            for k in list(cols):
                cols[k] = cols.pop(k)[by_key]
            del by_key
        new = np.empty(len(key), dtype=bool)
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
        if not new.all():  # the same outlet-hour in several batches: add them up
            first = np.flatnonzero(new)
            dup = np.flatnonzero(~new)
            into = (np.cumsum(new) - 1)[dup]
            key = key[first]
            for k in list(cols):
                v = cols.pop(k)
                cols[k] = v[first]
                np.add.at(cols[k], into, v[dup])
            del v
        del new
        return _hourly(key, cols, span, h0, [names[i] for i in order])


def _hourly(key: IntArray, sums: dict[str, npt.NDArray[Any]], span: int, h0: int,
            ids: list[str]) -> pd.DataFrame:
    """The hourly frame from sorted unique (outlet, hour) keys and their per-channel sums
    (``(rows, 2)`` arrays, emptied on the way)."""
    frame: dict[str, Any] = {
        "outlet_id": pd.Categorical.from_codes((key // span).astype(np.int32),
                                               categories=pd.Index(ids, dtype=object)),
        "timestamp": ((key % span + h0) * 3600).astype("datetime64[s]").astype(
            "datetime64[ns]"),
    }
    n, served, wait = sums.pop("n"), sums.pop("served"), sums.pop("wait")
    both = served.sum(axis=1)
    frame["arrivals"] = n.sum(axis=1, dtype=np.int32)
    frame["mean_wait_min"] = wait.sum(axis=1) / np.maximum(both, 1)
    frame.update({f"{c}_arrivals": n[:, k].astype(np.int32)
                  for k, c in enumerate(CHANNELS)})
    with np.errstate(invalid="ignore", divide="ignore"):
        per_served = 1.0 / np.where(served > 0, served, np.nan)
        means = {name: (sums.pop(name) * per_served).astype(np.float32)
                 for name in ("svc", "svc2")}
        wait_mean = (wait * per_served).astype(np.float32)
    for k, c in enumerate(CHANNELS):
        frame[f"{c}_served"] = served[:, k].astype(np.int32)
        frame[f"{c}_wait_min"] = np.ascontiguousarray(wait_mean[:, k])
        frame[f"{c}_service_min"] = np.ascontiguousarray(means["svc"][:, k])
        frame[f"{c}_service_sq_min2"] = np.ascontiguousarray(means["svc2"][:, k])
    frame["abandoned"] = (frame["arrivals"] - both).astype(np.int32)
    del n, served, wait, both, per_served, means, wait_mean
    return pd.DataFrame(frame)


def aggregate_batches(batches: Iterable[pa.RecordBatch | pa.Table], *,
                      source: str | None = None) -> pd.DataFrame:
    """Sum ticket batches into the hourly per-channel frame (see the module docstring).

    Parameters
    ----------
    batches
        Record batches (or tables) with the ticket log's columns, in file order (row
        numbers in errors count across them from 1).
    source
        The file, for error messages.

    Returns
    -------
    pandas.DataFrame
        Sorted by outlet and hour; the columns of the module docstring.

    Raises
    ------
    LayerError
        A wrong schema or bad values (which, and in which rows), or no tickets.
    """
    sums = _Sums(source)
    checked = False
    for item in batches:
        for batch in (item.to_batches() if isinstance(item, pa.Table) else [item]):
            if not checked:
                check_schema(batch.schema, source=source)
                checked = True
            sums.add(batch)
    return sums.frame()


def _file_batches(path: Path, *, batch_rows: int, source: str) -> Iterator[pa.RecordBatch]:
    """The file's ticket columns in batches (Parquet or CSV)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        check_schema(schema, source=source)
        cols = [c for c in (*TICKET_COLUMNS, ABANDONED) if c in schema.names]
        text = [c for c in ("outlet_id", "channel")
                if pa.types.is_string(_base_type(schema.field(c).type))]
        pf = pq.ParquetFile(path, read_dictionary=text, pre_buffer=False)  # no cached bytes
        yield from pf.iter_batches(batch_size=batch_rows, columns=cols)
        return
    import pyarrow.csv as pcsv

    names = _csv_header(path)
    types = {c: pa.timestamp("ms") for c in ("arrival", "call", "end")}
    types.update(outlet_id=pa.dictionary(pa.int32(), pa.string()),
                 channel=pa.dictionary(pa.int32(), pa.string()))
    if ABANDONED in names:
        types[ABANDONED] = pa.bool_()
    check_schema(pa.schema([(c, types.get(c, pa.string())) for c in names]), source=source)
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=1 << 24),
        convert_options=pcsv.ConvertOptions(
            column_types=types, include_columns=[c for c in names if c in types],
            strings_can_be_null=True))
    yield from reader


def _csv_header(path: Path) -> list[str]:
    """The column names on the first line of a CSV file (``.gz`` read through gzip)."""
    import csv
    import gzip

    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        first = next(csv.reader(f), [])
    return [c.strip() for c in first]


def aggregate_file(path: str | Path, *, batch_rows: int = 1 << 20,
                   source: str | None = None) -> pd.DataFrame:
    """Read a ticket log file in batches and sum it (:func:`aggregate_batches`).

    The caller checks that the file exists and is local
    (:func:`netplan.model.queuelog.read_queue_log` does).

    Raises
    ------
    LayerError
        A wrong schema, bad values, or a file pyarrow cannot read.
    """
    p = Path(path)
    src = source or str(p)
    try:
        return aggregate_batches(_file_batches(p, batch_rows=batch_rows, source=src),
                                 source=src)
    except LayerError:
        raise
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise LayerError(_LAYER, [f"cannot read the file: {reason}"], src) from None


def write_ticket_log(tables: Iterable[pa.Table], path: str | Path, *, force: bool = False,
                     inputs: Sequence[Path] = ()) -> tuple[Path, int]:
    """Write ticket tables as one Parquet file, a row group per table, atomically.

    Times are delta-encoded without compression (about 8.9 bytes a ticket, and quicker to
    read than zstd), ids and channels dictionary-encoded with zstd.

    Parameters
    ----------
    tables
        Tables in :data:`TICKET_SCHEMA` (as
        :func:`netplan.model.queuelog_gen.ticket_tables` yields them); only one is in memory
        at a time.
    path, force, inputs
        As for :func:`netplan.model.queuelog.write_queue_log` (Parquet only).

    Returns
    -------
    tuple
        ``path`` and the number of tickets written.
    """
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.name.lower().endswith((".parquet", ".pq")):
        raise LayerError(_LAYER, [f"a ticket log is written as Parquet; name the file "
                                  f"*.parquet, not {p.name!r}"], str(p))
    rows = 0
    with atomic_path(p, force=force, inputs=inputs) as tmp, pq.ParquetWriter(
            tmp, TICKET_SCHEMA, use_dictionary=["outlet_id", "channel"],
            compression={"outlet_id": "zstd", "channel": "zstd", **_DELTA_NONE},
            column_encoding=dict.fromkeys(_DELTA_NONE, "DELTA_BINARY_PACKED")) as writer:
        for t in tables:
            writer.write_table(t, row_group_size=max(t.num_rows, 1))
            rows += t.num_rows
    return p, rows
