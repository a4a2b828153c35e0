"""Readers for published location benchmark instances (J. E. Beasley's OR-Library).

Two formats, both read as a stream of whitespace-separated tokens (numbers may wrap lines):

``pmedN.txt`` (uncapacitated p-median, Beasley 1985)
    ``n_vertices n_edges p``, then ``i j cost`` per undirected edge (1-based). The cost
    matrix is the all-pairs shortest-path matrix of the graph; where an edge appears more
    than once, its LAST occurrence counts (Beasley's note).
``capNN.txt`` (capacitated warehouse location, Beasley 1988)
    ``m n`` (warehouses, customers); m lines ``capacity fixed_cost``; then per customer its
    demand followed by m costs of serving ALL of its demand from each warehouse. In the large
    capa/capb/capc files the capacity is the literal word ``capacity`` (a parameter of the
    instance): pass ``capacity=`` then.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import shortest_path

from netplan._errors import DataNotFoundError, NetplanError
from netplan.optimize.classic import capacitated_facility_location, p_median

__all__ = ["FORMATS", "InstanceResult", "read_orlib_cap", "read_orlib_pmed", "solve_instance"]

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class _Tokens:
    path: Path
    text: list[str]
    line: NDArray[np.int64]

    def where(self, k: int) -> str:
        if k >= len(self.text):
            return f"{self.path}: end of file after token {len(self.text)}"
        return f"{self.path}, line {int(self.line[k])}, token {k + 1} ({self.text[k]!r})"


def _tokens(path: str | Path) -> _Tokens:
    p = Path(path)
    try:
        raw = p.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise DataNotFoundError(f"instance file not found: {p}; check the path.") from None
    except OSError as exc:
        raise NetplanError(f"cannot read instance file {p}: {exc}") from None
    matches = list(_TOKEN.finditer(raw))
    newlines = np.flatnonzero(np.frombuffer(raw.encode("ascii", "replace"), np.uint8) == 10)
    starts = np.array([mt.start() for mt in matches], dtype=np.int64)
    line = (np.searchsorted(newlines, starts) + 1).astype(np.int64)
    return _Tokens(p, [mt.group() for mt in matches], line)


def _numbers(tok: _Tokens, start: int, count: int, what: str) -> NDArray[np.float64]:
    end = start + count
    if end > len(tok.text):
        last_line = int(tok.line[-1]) if len(tok.line) else 0
        raise NetplanError(
            f"{tok.path}: expected {count} numbers for {what} from token {start + 1}, but the "
            f"file ends after {len(tok.text)} tokens (line {last_line}); the file is truncated "
            "or its header counts are wrong.")
    try:
        return np.array(tok.text[start:end], dtype=np.float64)
    except ValueError:
        for k in range(start, end):
            try:
                float(tok.text[k])
            except ValueError:
                raise NetplanError(
                    f"expected a number for {what} at {tok.where(k)}; fix or remove that "
                    "token.") from None
        raise  # pragma: no cover


def _int_header(tok: _Tokens, count: int, what: str) -> list[int]:
    vals = _numbers(tok, 0, count, what)
    if not np.all(vals == np.round(vals)) or (vals < 0).any():
        raise NetplanError(f"{tok.path}, line 1: the header ({what}) must be non-negative "
                           f"integers, got {tok.text[:count]}.")
    return [int(v) for v in vals]


def read_orlib_pmed(path: str | Path) -> tuple[NDArray[np.float64], int]:
    """Read an OR-Library p-median instance (``pmedN.txt``).

    Parameters
    ----------
    path
        The instance file.

    Returns
    -------
    cost
        (n x n) shortest-path distances between all vertices (every vertex is a demand point
        of weight 1 and a candidate site).
    p
        Number of medians to open.

    Raises
    ------
    NetplanError
        Malformed file (says what was expected at which token and line), a vertex id out of
        range, a negative edge cost, or a disconnected graph.
    """
    tok = _tokens(path)
    n, n_edges, p = _int_header(tok, 3, "n_vertices n_edges p")
    edges = _numbers(tok, 3, 3 * n_edges, f"{n_edges} edges 'i j cost'").reshape(-1, 3)
    extra = len(tok.text) - 3 - 3 * n_edges
    if extra:
        raise NetplanError(
            f"{tok.path}: the header announces {n_edges} edges but {extra} more tokens follow "
            f"them (first at {tok.where(3 + 3 * n_edges)}); fix the edge count.")
    ij = edges[:, :2]
    if not np.all(ij == np.round(ij)) or (ij < 1).any() or (ij > n).any():
        k = int(np.flatnonzero(~np.all((ij == np.round(ij)) & (ij >= 1) & (ij <= n), axis=1))[0])
        raise NetplanError(f"edge {k + 1} at {tok.where(3 + 3 * k)}: vertex ids must be integers"
                           f" in 1..{n}.")
    w = edges[:, 2]
    if (w < 0).any() or not np.isfinite(w).all():
        k = int(np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[0])
        raise NetplanError(f"edge {k + 1} at {tok.where(3 + 3 * k + 2)}: costs must be finite "
                           "and >= 0.")
    a = np.minimum(ij[:, 0], ij[:, 1]).astype(np.int64) - 1
    b = np.maximum(ij[:, 0], ij[:, 1]).astype(np.int64) - 1
    loop = a == b
    a, b, w = a[~loop], b[~loop], w[~loop]
    # the LAST occurrence of a repeated edge counts: keep the first of the reversed list
    key = (a * n + b)[::-1]
    _, first_rev = np.unique(key, return_index=True)
    keep = len(key) - 1 - first_rev
    a, b, w = a[keep], b[keep], w[keep]
    # explicit zero-cost edges stay edges: store them as a tiny positive then fix up below
    graph = sp.csr_array((np.where(w == 0, np.finfo(float).tiny, w), (a, b)), shape=(n, n))
    dist = shortest_path(graph, method="D", directed=False)
    if not np.isfinite(dist).all():
        i, j = np.argwhere(~np.isfinite(dist))[0]
        raise NetplanError(f"{tok.path}: the graph is disconnected (no path from vertex {i + 1} "
                           f"to {j + 1}); a p-median instance needs a connected graph.")
    dist[dist < 1e-300] = 0.0
    if p > n or p < 1:
        raise NetplanError(f"{tok.path}, line 1: p = {p} must be between 1 and n = {n}.")
    return np.asarray(dist, dtype=np.float64), p


def read_orlib_cap(
    path: str | Path, *, capacity: float | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Read an OR-Library capacitated warehouse location instance (``capNN.txt``).

    Parameters
    ----------
    path
        The instance file.
    capacity
        Capacity of every warehouse, for files that write the literal word ``capacity``
        instead of a number (capa/capb/capc). Ignored for numeric capacities.

    Returns
    -------
    capacity
        (m,) warehouse capacities.
    fixed_cost
        (m,) fixed cost of opening each warehouse.
    demand
        (n,) customer demands.
    cost
        (n x m) cost of serving ALL of customer i's demand from warehouse j.

    Raises
    ------
    NetplanError
        Malformed file (what was expected at which token and line) or a symbolic capacity
        without ``capacity=``.
    """
    tok = _tokens(path)
    m, n = _int_header(tok, 2, "m n (warehouses, customers)")
    if m == 0 or n == 0:
        raise NetplanError(f"{tok.path}, line 1: m = {m} warehouses and n = {n} customers; "
                           "both must be positive.")
    k = 2
    caps = np.empty(m)
    fixed = np.empty(m)
    for j in range(m):
        if k + 2 > len(tok.text):
            raise NetplanError(f"{tok.path}: expected 'capacity fixed_cost' of warehouse {j + 1}"
                               f" but the file ends ({tok.where(k)}).")
        t = tok.text[k]
        if t.lower() == "capacity":
            if capacity is None:
                raise NetplanError(
                    f"{tok.path}: the capacity of warehouse {j + 1} is the word 'capacity' "
                    f"({tok.where(k)}): this instance leaves capacity as a parameter; pass "
                    "capacity=<number> (CLI: --capacity).")
            caps[j] = float(capacity)
        else:
            caps[j] = _numbers(tok, k, 1, f"the capacity of warehouse {j + 1}")[0]
        fixed[j] = _numbers(tok, k + 1, 1, f"the fixed cost of warehouse {j + 1}")[0]
        k += 2
    need = n * (m + 1)
    body = _numbers(tok, k, need, f"{n} customers x (demand + {m} costs)").reshape(n, m + 1)
    if len(tok.text) > k + need:
        raise NetplanError(
            f"{tok.path}: {len(tok.text) - k - need} tokens follow the last customer (first at "
            f"{tok.where(k + need)}); check the header counts m = {m}, n = {n}.")
    demand = body[:, 0].copy()
    cost = body[:, 1:].copy()
    for name, arr, first in (("capacity", caps, 2), ("fixed cost", fixed, 3)):
        if (arr < 0).any():
            j = int(np.flatnonzero(arr < 0)[0])
            raise NetplanError(f"warehouse {j + 1} has a negative {name} at "
                               f"{tok.where(first + 2 * j - (0 if name == 'capacity' else 1))}.")
    if (demand < 0).any():
        i = int(np.flatnonzero(demand < 0)[0])
        raise NetplanError(f"customer {i + 1} has a negative demand at "
                           f"{tok.where(k + i * (m + 1))}.")
    return caps, fixed, demand, cost


FORMATS: tuple[str, ...] = ("orlib-pmed", "orlib-cap")


@dataclass(frozen=True)
class InstanceResult:
    """Outcome of :func:`solve_instance` (``open`` are 0-based site indices)."""

    instance: str
    format: str
    n_zones: int
    n_sites: int
    objective: float
    best_bound: float
    gap: float
    status: str
    seconds: float
    build_seconds: float
    solver: str
    backend: str
    open: tuple[int, ...]
    p: int | None = None
    bound_source: str = "highs"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dict (non-finite numbers become None)."""

        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        return {
            "instance": self.instance,
            "format": self.format,
            "status": self.status,
            "objective": num(self.objective),
            "best_bound": num(self.best_bound),
            "bound_source": self.bound_source,
            "gap": num(self.gap),
            "seconds": round(self.seconds, 4),
            "build_seconds": round(self.build_seconds, 4),
            "solver": self.solver,
            "backend": self.backend,
            "n_zones": self.n_zones,
            "n_sites": self.n_sites,
            "p": self.p,
            "open": list(self.open),
        }


def solve_instance(
    path: str | Path,
    *,
    fmt: str,
    solver: str = "highs",
    backend: str | None = None,
    time_limit_s: float | None = None,
    single_source: bool = False,
    capacity: float | None = None,
    lagrange: bool | None = None,
) -> InstanceResult:
    """Read a benchmark instance and solve it with netplan's optimiser.

    Parameters
    ----------
    path
        Instance file.
    fmt
        ``"orlib-pmed"`` (p-median) or ``"orlib-cap"`` (capacitated facility location).
    solver, time_limit_s
        As in :func:`netplan.optimize.solve`; the time limit counts reading the file.
    backend
        ``"direct"`` or ``"pulp"``; None = direct for HiGHS, pulp for any other solver.
    single_source
        orlib-cap only: each customer served by one warehouse.
    capacity
        orlib-cap only: warehouse capacity for files that leave it symbolic.
    lagrange
        As in :func:`netplan.optimize.solve`.

    Returns
    -------
    InstanceResult
        ``seconds`` is the solve's wall clock after reading the file (a ``time_limit_s``
        bounds it).
    """
    if fmt not in FORMATS:
        raise NetplanError(f"unknown instance format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if backend is None:
        backend = "direct" if solver.lower() == "highs" else "pulp"
    p: int | None = None
    t_in = time.perf_counter()
    if fmt == "orlib-pmed":
        if single_source:
            raise NetplanError("--single-source applies to orlib-cap instances only (p-median "
                               "assignments are single-source already).")
        cost, p = read_orlib_pmed(path)
        t0 = time.perf_counter()
        res = p_median(cost, p, solver=solver, backend=backend,
                       time_limit_s=_left(time_limit_s, t_in), lagrange=lagrange)
    else:
        caps, fixed, demand, cost = read_orlib_cap(path, capacity=capacity)
        t0 = time.perf_counter()
        res = capacitated_facility_location(
            cost, demand, caps, fixed, single_source=single_source, solver=solver,
            backend=backend, time_limit_s=_left(time_limit_s, t_in), lagrange=lagrange)
    wall = time.perf_counter() - t0
    return InstanceResult(
        instance=Path(path).name, format=fmt, n_zones=int(cost.shape[0]),
        n_sites=int(cost.shape[1]), objective=res.objective, best_bound=res.best_bound,
        gap=res.gap, status=res.status, seconds=wall, build_seconds=res.build_seconds,
        solver=res.solver, backend=res.backend, open=tuple(int(j) for j in res.open), p=p,
        bound_source=res.solution.bound_source,
    )


def _left(time_limit_s: float | None, since: float) -> float | None:
    """What is left of a time limit counted from ``since`` (reading the file counts)."""
    if time_limit_s is None:
        return None
    return max(time_limit_s - (time.perf_counter() - since), 0.01)
