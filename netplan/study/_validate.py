"""Validation helpers: coerce a column or check geometries, and describe what is wrong.

Each helper returns the cleaned values (or ``None`` when the column is unusable) and a
list of problem lines; nothing raises, so a caller can collect every problem of a layer
and report them at once (see :func:`netplan.study.readers.read_layer`). Rows are named by their
1-based position in the file and, when known, by their id: ``row 3 (branch_id 'B003')``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from netplan._errors import MAX_EXAMPLES, examples, quoted

_MAX_ROWS_SHOWN = 5
_ADCODE = re.compile(r"^\s*(\d{6})(?:\.0*)?\s*$")


class RowNamer:
    """Names rows of one layer in messages: 1-based position plus the id when known."""

    def __init__(self, ids: Sequence[Any] | None, id_col: str) -> None:
        self.ids = list(ids) if ids is not None else None
        self.id_col = id_col

    def one(self, pos: int) -> str:
        label = f"row {pos + 1}"
        if self.ids is not None:
            value = self.ids[pos]
            if not _is_missing(value):
                label += f" ({self.id_col} {_show(value)})"
        return label

    def many(self, positions: Sequence[int] | npt.NDArray[np.intp], *,
             values: Sequence[Any] | None = None, joiner: str = " = ",
             verbatim: bool = False) -> str:
        """``row 3 (id 'a') = -5, row 9 (id 'b') = -1 and 4 more rows``.

        ``values`` are shown quoted when text, unless ``verbatim``.
        """
        shown = []
        for i, p in enumerate(positions[:_MAX_ROWS_SHOWN]):
            text = self.one(int(p))
            if values is not None:
                text += joiner + (_cut(str(values[i])) if verbatim else _show(values[i]))
            shown.append(text)
        return examples(shown, total=len(positions), unit="row")

    def counted(self, positions: Sequence[int] | npt.NDArray[np.intp], *,
                values: Sequence[Any] | None = None) -> str:
        """``2 rows: row 3 (id 'a') = -5, row 9 (id 'b') = -1``: the count, then :meth:`many`."""
        return f"{plural(len(positions), 'row')}: {self.many(positions, values=values)}"


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _cut(text: str) -> str:
    """Text quoted verbatim from the data, cut like :func:`~netplan._errors.quoted` does."""
    return text if len(text) <= 60 else quoted(text)


def _show(value: Any) -> str:
    """A value for a message: text quoted with control characters escaped, long text cut."""
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(float(value))
    return str(value)


def plural(n: int, word: str) -> str:
    """``1 row`` / ``3 rows``."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def _missing_mask(series: pd.Series) -> npt.NDArray[np.bool_]:
    mask = np.array(series.isna().to_numpy(dtype=bool), dtype=bool)
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype(object).map(lambda v: isinstance(v, str) and not v.strip())
        mask |= text.to_numpy(dtype=bool)
    return mask


def coerce_number(
    series: pd.Series,
    column: str,
    rows: RowNamer,
    *,
    integer: bool,
    required: bool = True,
    min_value: float | None = None,
    max_value: float | None = None,
) -> tuple[pd.Series | None, list[str]]:
    """Check and coerce a numeric column.

    Numbers stored as text (``"12"``) and integer-valued floats (``12.0``) are accepted
    and coerced; text that is not a number, missing values (when ``required``), fractions
    in an integer column and values outside ``[min_value, max_value]`` are problems.
    Returns int64 (``integer``) or float64 values, or ``None`` if any problem was found.
    """
    kind = "integer" if integer else "number"
    if min_value is not None and max_value is not None:
        kind += f" in {_num(min_value)}..{_num(max_value)}"
    elif min_value is not None:
        kind += f" ≥ {_num(min_value)}"
    if pd.api.types.is_bool_dtype(series.dtype):
        return None, [f"column '{column}': expected {kind}, found true/false values"]
    missing = _missing_mask(series)
    values, problems = _numbers_of(series, missing, column, kind, rows)
    arr = values.to_numpy(dtype=np.float64)
    problems += _value_problems(arr, missing, column, kind, rows, integer=integer,
                                required=required, bounds=(min_value, max_value))
    if problems:
        return None, problems
    if integer and not missing.any():
        return pd.Series(arr.astype(np.int64), index=series.index, name=series.name), []
    if integer:
        return pd.Series(values, index=series.index, name=series.name).astype("Int64"), []
    return pd.Series(arr, index=series.index, name=series.name), []


def _numbers_of(
    series: pd.Series, missing: npt.NDArray[np.bool_], column: str, kind: str, rows: RowNamer
) -> tuple[pd.Series, list[str]]:
    """The column as float64 (text parsed; NaN where missing or not a number) and problems."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64"), []
    as_text = series.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
    values = pd.to_numeric(as_text, errors="coerce").astype("float64")
    bad = ~missing & values.isna().to_numpy()
    if not bad.any():
        return values, []
    pos = np.flatnonzero(bad)
    return values, [
        f"column '{column}': expected {kind}, found text in "
        + rows.counted(pos, values=series.iloc[pos].tolist())
    ]


def _value_problems(
    arr: npt.NDArray[np.float64],
    missing: npt.NDArray[np.bool_],
    column: str,
    kind: str,
    rows: RowNamer,
    *,
    integer: bool,
    required: bool,
    bounds: tuple[float | None, float | None],
) -> list[str]:
    """Missing, infinite, too large or fractional (``integer``) and out-of-bounds values."""
    problems: list[str] = []
    if required and missing.any():
        pos = np.flatnonzero(missing)
        problems.append(
            f"column '{column}': expected {kind}, found missing values (empty or NaN) in "
            f"{rows.counted(pos)}"
        )
    inf = np.isinf(arr)
    if inf.any():
        pos = np.flatnonzero(inf)
        problems.append(
            f"column '{column}': expected a finite {kind}, found infinity in "
            f"{rows.counted(pos)}"
        )
    finite = np.isfinite(arr)
    if integer:
        huge = finite & (np.abs(arr) >= 2.0**63)  # would wrap around in int64
        if huge.any():
            pos = np.flatnonzero(huge)
            problems.append(
                f"column '{column}': expected {kind}, found values too large for an integer "
                f"in {rows.counted(pos, values=arr[pos].tolist())}"
            )
            finite = finite & ~huge
        frac = finite & (arr != np.round(arr))
        if frac.any():
            pos = np.flatnonzero(frac)
            problems.append(
                f"column '{column}': expected {kind}, found fractions in "
                f"{rows.counted(pos, values=arr[pos].tolist())}"
            )
    for bound, below in ((bounds[0], True), (bounds[1], False)):
        if bound is None:
            continue
        out = finite & ((arr < bound) if below else (arr > bound))
        if out.any():
            pos = np.flatnonzero(out)
            word = "below" if below else "above"
            problems.append(
                f"column '{column}': expected {kind}, found values {word} {_num(bound)} in "
                f"{rows.counted(pos, values=_nums(arr[pos], integer))}"
            )
    return problems


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _nums(arr: npt.NDArray[Any], integer: bool) -> list[Any]:
    return [int(v) if integer and float(v).is_integer() else float(v) for v in arr]


def coerce_text(
    series: pd.Series,
    column: str,
    rows: RowNamer,
    *,
    required: bool = True,
    default: str = "",
    choices: Sequence[str] | None = None,
) -> tuple[pd.Series | None, list[str]]:
    """Check and coerce a text column: numbers become text (``12.0`` → ``"12"``).

    Missing values are a problem when ``required``, else they become ``default``.
    """
    missing = _missing_mask(series)
    problems: list[str] = []
    if required and missing.any():
        pos = np.flatnonzero(missing)
        problems.append(
            f"column '{column}': expected text, found missing values in "
            f"{rows.counted(pos)}"
        )
    text = series.astype(object).map(_to_text)
    text = text.where(~missing, default)
    if choices is not None:
        bad = ~missing & ~text.isin(list(choices)).to_numpy()
        if bad.any():
            pos = np.flatnonzero(bad)
            problems.append(
                f"column '{column}': expected one of {', '.join(choices)}, found other values in "
                f"{rows.counted(pos, values=text.iloc[pos].tolist())}"
            )
    if problems:
        return None, problems
    return text.astype(object), []


def _to_text(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if np.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return str(value)
    return value if _is_missing(value) else str(value)


def coerce_adcode(
    series: pd.Series, column: str, rows: RowNamer, *, required: bool = True
) -> tuple[pd.Series | None, list[str]]:
    """Check and coerce a Chinese administrative division code to 6-digit text.

    ``110105``, ``110105.0`` and ``"110105"`` all become ``"110105"``.
    """
    missing = _missing_mask(series)
    problems: list[str] = []
    if required and missing.any():
        pos = np.flatnonzero(missing)
        problems.append(
            f"column '{column}': expected a 6-digit adcode, found missing values in "
            f"{rows.counted(pos)}"
        )
    text = series.astype(object).map(_to_text)
    matched = text.map(lambda v: _ADCODE.match(v) if isinstance(v, str) else None)
    bad = ~missing & matched.isna().to_numpy()
    if bad.any():
        pos = np.flatnonzero(bad)
        problems.append(
            f"column '{column}': expected a 6-digit adcode such as '110105', found other values "
            f"in {rows.counted(pos, values=series.iloc[pos].tolist())}"
        )
    if problems:
        return None, problems
    codes = matched.map(lambda m: m.group(1) if m is not None else None)
    return codes.astype(object), []


def duplicate_ids(ids: pd.Series, column: str) -> list[str]:
    """A problem naming the duplicated ids (the first ten, with their rows), if any."""
    dup = np.asarray(ids.duplicated(keep=False).to_numpy(dtype=bool) & ~_is_na(ids))
    if not dup.any():
        return []
    pos = np.flatnonzero(dup)
    codes, uniques = pd.factorize(ids.iloc[pos], sort=False)
    order = sorted(range(len(uniques)), key=lambda k: str(uniques[k]))
    groups = []
    for k in order[:MAX_EXAMPLES]:
        rows = pos[codes == k] + 1
        shown = examples([str(r) for r in rows[:_MAX_ROWS_SHOWN]], total=len(rows))
        groups.append(f"{_show(uniques[k])} (rows {shown})")
    n = len(uniques)
    return [
        f"column '{column}': expected unique ids, found {plural(n, 'duplicated id')}: "
        f"{examples(groups, total=n, sep='; ')}"
    ]


def _is_na(series: pd.Series) -> npt.NDArray[np.bool_]:
    return np.asarray(series.isna().to_numpy(dtype=bool))


def geometry_problems(
    geoms: npt.NDArray[np.object_], rows: RowNamer, *, allowed: Sequence[str]
) -> tuple[npt.NDArray[np.bool_], list[str]]:
    """Problems with null/empty, wrong-type and invalid geometries.

    Returns a mask of the usable geometries and the problem lines.
    """
    problems: list[str] = []
    expected = " or ".join(allowed)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        pos = np.flatnonzero(missing)
        problems.append(
            f"geometry: expected {expected}, found no geometry (null or empty) in "
            f"{rows.counted(pos)}"
        )
    types = np.array(
        [None if m else g.geom_type for g, m in zip(geoms, missing, strict=True)], dtype=object
    )
    wrong = ~missing & ~np.isin(types, list(allowed))
    for found in sorted({str(t) for t in types[wrong]}):
        pos = np.flatnonzero(wrong & (types == found))
        problems.append(
            f"geometry: expected {expected}, found {found} in {rows.counted(pos)}"
        )
    ok = ~missing & ~wrong
    invalid = ok & ~shapely.is_valid(geoms)
    if invalid.any():
        pos = np.flatnonzero(invalid)
        reasons = shapely.is_valid_reason(geoms[pos]).tolist()
        problems.append(
            f"geometry: expected valid geometries, found {plural(len(pos), 'invalid one')} "
            f"(repair with shapely.make_valid or `ogr2ogr -makevalid`): "
            + rows.many(pos, values=reasons)
        )
    return np.asarray(ok & ~invalid), problems


def lonlat_range_problems(
    geoms: npt.NDArray[np.object_], usable: npt.NDArray[np.bool_], rows: RowNamer
) -> list[str]:
    """Problems with coordinates outside lon [-180, 180] / lat [-90, 90] or not finite."""
    if not usable.any():
        return []
    bounds = np.full((len(geoms), 4), np.nan)
    bounds[usable] = shapely.bounds(geoms[usable])
    problems: list[str] = []
    nonfinite = usable & ~np.isfinite(bounds).all(axis=1)
    if nonfinite.any():
        pos = np.flatnonzero(nonfinite)
        problems.append(
            f"coordinates: expected finite longitude/latitude, found non-finite values (the "
            f"coordinates could not be converted to WGS84) in {rows.counted(pos)}"
        )
    with np.errstate(invalid="ignore"):
        bad_lon = usable & ~nonfinite & ((bounds[:, 0] < -180) | (bounds[:, 2] > 180))
        bad_lat = usable & ~nonfinite & ((bounds[:, 1] < -90) | (bounds[:, 3] > 90))
    for mask, name, lo, hi, cols in (
        (bad_lon, "longitude", -180, 180, (0, 2)),
        (bad_lat, "latitude", -90, 90, (1, 3)),
    ):
        if not mask.any():
            continue
        pos = np.flatnonzero(mask)
        values = [
            bounds[p, cols[0]] if bounds[p, cols[0]] < lo else bounds[p, cols[1]] for p in pos
        ]
        hint = ""
        swapped = mask & (np.abs(bounds[:, 0]) <= 90) & (np.abs(bounds[:, 3]) <= 180)
        if name == "latitude" and swapped[mask].all():
            hint = " (are longitude and latitude swapped?)"
        problems.append(
            f"coordinates: expected {name} in [{lo}, {hi}], found {plural(len(pos), 'row')} "
            f"outside it{hint}: {rows.many(pos, values=[round(float(v), 6) for v in values])}"
        )
    return problems
