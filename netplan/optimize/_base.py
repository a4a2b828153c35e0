"""What every module of the optimiser shares: tolerances, the seed, argument checks.

The checks turn user arrays into validated, read-only numpy arrays (or a canonical CSR
matrix) and name the argument, what was expected and what came when they refuse one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan._errors import NetplanError
from netplan._types import BoolArray, FloatArray, IntArray

Progress = Callable[[str], None]
"""Receives short status lines while a model is built and solved."""

_TOL: Final = 1e-9
"""Values below this are zero (shares, gaps)."""
_FEAS_TOL: Final = 1e-6
"""Feasibility tolerance when a point is checked against the model's rows and bounds."""
_SEED: Final = 0
"""Solver random seed: same input, same plan."""

# Sentinels for "not given" array fields (identity-checked; never mutated).
_UNSET_F: Final[FloatArray] = np.empty(0, dtype=np.float64)
_UNSET_I: Final[IntArray] = np.empty(0, dtype=np.int64)
_UNSET_B: Final[BoolArray] = np.empty(0, dtype=np.bool_)


def _unset_f() -> FloatArray:
    return _UNSET_F


def _unset_i() -> IntArray:
    return _UNSET_I


def _unset_b() -> BoolArray:
    return _UNSET_B


def _empty_i() -> IntArray:
    return np.empty(0, dtype=np.int64)


def _empty_f() -> FloatArray:
    return np.empty(0, dtype=np.float64)


def _rel_gap(obj: float, bound: float) -> float:
    """Relative gap (obj - bound) / |obj|; 0 within :data:`_TOL`, inf without a bound."""
    if not math.isfinite(bound):
        return math.inf
    diff = obj - bound
    if diff <= _TOL * max(1.0, abs(obj)):
        return 0.0
    return diff / max(abs(obj), 1e-10)


# ------------------------------------------------------------------------------------------
# Validation helpers
# ------------------------------------------------------------------------------------------


def _bad(name: str, what: str) -> NetplanError:
    return NetplanError(f"FacilityProblem.{name}: {what}")


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a.flags.writeable = False
    return a


def _float_vec(
    name: str,
    value: Any,
    n: int,
    *,
    default: float | None = None,
    allow_posinf: bool = False,
    nonneg: bool = False,
) -> FloatArray:
    if value is None or value is _UNSET_F:
        if default is None:
            raise _bad(name, f"is required: a 1-D array of length {n}")
        return _frozen(np.full(n, default, dtype=np.float64))
    try:
        a = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise _bad(name, f"expected numbers, could not convert ({exc})") from None
    if a.ndim == 0 and n >= 0:
        a = np.full(n, float(a), dtype=np.float64)
    if a.shape != (n,):
        raise _bad(name, f"expected shape ({n},), got {a.shape}; pass one value per entry")
    _check_floats(name, a, allow_posinf=allow_posinf, nonneg=nonneg)
    return _frozen(a)


def _check_floats(name: str, a: FloatArray, *, allow_posinf: bool, nonneg: bool) -> None:
    """Refuse NaN, -inf, +inf (unless allowed) and negative entries (when ``nonneg``)."""
    if np.isnan(a).any():
        i = int(np.flatnonzero(np.isnan(a))[0])
        raise _bad(name, f"entry {i} is NaN; give a number")
    if np.isneginf(a).any():
        i = int(np.flatnonzero(np.isneginf(a))[0])
        raise _bad(name, f"entry {i} is -inf; give a finite number")
    if not allow_posinf and np.isposinf(a).any():
        i = int(np.flatnonzero(np.isposinf(a))[0])
        raise _bad(name, f"entry {i} is inf; give a finite number")
    if nonneg and (a < 0).any():
        i = int(np.flatnonzero(a < 0)[0])
        raise _bad(name, f"entry {i} is {a[i]:g}; must be >= 0")


def _int_vec(
    name: str, value: Any, n: int | None, *, default: int | None = None, lo: int | None = None,
    hi: int | None = None,
) -> IntArray:
    if value is None or value is _UNSET_I:
        if default is None or n is None:
            raise _bad(name, "is required: a 1-D integer array")
        return _frozen(np.full(n, default, dtype=np.int64))
    a0 = np.asarray(value)
    if a0.size and not (np.issubdtype(a0.dtype, np.integer) or a0.dtype == np.bool_):
        if not np.issubdtype(a0.dtype, np.floating) or not np.all(np.isfinite(a0)) or not np.all(
            a0 == np.round(a0)
        ):
            raise _bad(name, f"expected integers, got dtype {a0.dtype}")
    a = np.array(a0, dtype=np.int64, copy=True).reshape(-1) if a0.ndim <= 1 else None
    if a is None or (n is not None and a.shape != (n,)):
        raise _bad(name, f"expected shape ({n},), got {a0.shape}")
    if lo is not None and a.size and a.min() < lo:
        i = int(np.argmin(a))
        raise _bad(name, f"entry {i} is {a[i]}; must be >= {lo}")
    if hi is not None and a.size and a.max() > hi:
        i = int(np.argmax(a))
        raise _bad(name, f"entry {i} is {a[i]}; must be <= {hi}")
    return _frozen(a)


def _bool_vec(name: str, value: Any, n: int, *, default: bool = False) -> BoolArray:
    if value is None or value is _UNSET_B:
        return _frozen(np.full(n, default, dtype=np.bool_))
    a0 = np.asarray(value)
    if a0.shape != (n,):
        raise _bad(name, f"expected shape ({n},), got {a0.shape}")
    if a0.dtype != np.bool_:
        if not np.isin(a0, (0, 1)).all():
            raise _bad(name, "expected booleans (True/False or 0/1)")
    return _frozen(a0.astype(np.bool_, copy=True))


def _as_csr(name: str, cost: Any) -> Any:
    """Canonical CSR copy of ``cost`` that keeps explicit zeros (they are allowed pairs)."""
    if sp.issparse(cost):
        n, m, row, col, data = _sparse_triplets(name, cost)
    else:
        n, m, row, col, data = _dense_triplets(name, cost)
    if data.size and not np.isfinite(data).all():
        k = int(np.flatnonzero(~np.isfinite(data))[0])
        raise _bad(
            name,
            f"entry (zone {row[k]}, site {col[k]}) is {data[k]}; stored costs must be finite "
            "(leave a pair out of the sparse matrix to forbid it)",
        )
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    out = sp.csr_array((data, col, indptr), shape=(n, m))
    out.data.flags.writeable = False
    return out


def _sparse_triplets(
    name: str, cost: Any,
) -> tuple[int, int, IntArray, IntArray, FloatArray]:
    """Shape and (row, col, value) of a sparse matrix, sorted by row then column."""
    coo = sp.coo_array(cost)
    n, m = coo.shape
    row = np.asarray(coo.row, dtype=np.int64)
    col = np.asarray(coo.col, dtype=np.int64)
    data = np.asarray(coo.data, dtype=np.float64)
    order = np.lexsort((col, row))
    row, col, data = row[order], col[order], data[order]
    if row.size > 1:
        dup = (row[1:] == row[:-1]) & (col[1:] == col[:-1])
        if dup.any():
            k = int(np.flatnonzero(dup)[0])
            raise _bad(
                name,
                f"pair (zone {row[k]}, site {col[k]}) is stored more than once; store each "
                "allowed (zone, site) pair once",
            )
    return n, m, row, col, data


def _dense_triplets(
    name: str, cost: Any,
) -> tuple[int, int, IntArray, IntArray, FloatArray]:
    """Shape and (row, col, value) of every entry of a dense 2-D matrix, row by row."""
    try:
        dense = np.asarray(cost, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _bad(name, f"expected a scipy.sparse matrix or a 2-D array ({exc})") from None
    if dense.ndim != 2:
        raise _bad(name, f"expected a 2-D (zones x sites) matrix, got {dense.ndim}-D")
    n, m = dense.shape
    row = np.repeat(np.arange(n, dtype=np.int64), m)
    col = np.tile(np.arange(m, dtype=np.int64), n)
    data = dense.ravel().copy()
    return n, m, row, col, data
