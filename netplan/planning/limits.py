"""The city limits shared across districts ("一区一策" within one city budget).

The scenario's city limits (``max_open``, ``max_close``, ``max_upgrade``,
``max_convert``, ``budget_cny``) are split across districts before they are planned
(:func:`split_limits`), from the diagnosis of the current network
(:func:`netplan.planning.diagnose.diagnose`) at the plan's demand year:

- *need* of a district = peak-hour arrivals of its zones left unserved + arrivals above
  the capacity at the waiting target of its outlets (overload);
- *slack* = spare capacity at the target of its outlets that are under it.

``max_open`` and ``max_upgrade`` are shared in proportion to need, ``max_close`` and
``max_convert`` in proportion to slack, ``budget_cny`` in proportion to the mean of the
need and slack shares (by outlet count where the city has neither). Shares are capped by
what a district can use — its policy's own limit (explicit or implied, e.g.
``consolidate`` opens nothing) and its number of candidates / outlets — and what a cap
cuts off is redistributed to the others (water-filling); counts are made integer by
largest remainder (ties by adcode), the budget is shared in whole yuan. So the district
limits never add up to more than the city's, and a plan merged from the districts meets
them by construction. ``min_share_outside_ring`` is a city-level ratio and is not split.

A single-district plan (:func:`netplan.planning.plan.make_plan` with ``district``) runs
with its share, as each district of a district-by-district plan does.

The split needs the whole city measured under the behaviour rule, which costs more than
planning a small district, so it is computed once and kept (:func:`split_limits`):

- in memory, for a process that plans many districts (the last :data:`MEMORY_ENTRIES`);
- on disk, only inside a :func:`split_cache` block (the command line opens one unless
  ``--no-cache`` or ``NETPLAN_NO_CACHE=1``): one small JSON file
  ``split-limits-<key>.json`` in :func:`default_cache_dir` (``$NETPLAN_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/netplan``, else ``~/.cache/netplan``).

The key is the SHA-256 of what the split reads: the districts, zones, branches and
candidates layers as loaded (every column and geometry, the CRS), the whole scenario
(its settings, not where it was read from), the year, and netplan's own source code and
numpy / scipy versions, so a changed study, scenario, year or netplan misses the cache.
netplan writes only files of that name there, never replaces one (a file it cannot read
is left alone and the split computed afresh) and never deletes any; removing the folder
is always safe.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from netplan._errors import NetplanError
from netplan.model.scenario import Scenario
from netplan.planning import problem as planner
from netplan.planning.contract import DistrictLimitsInfo
from netplan.study.layers import Study, policy_adcodes, resolve_district

__all__ = [
    "DistrictLimits",
    "apportion",
    "check_adcode",
    "default_cache_dir",
    "district_scenario",
    "district_scope",
    "split_cache",
    "split_key",
    "split_limits",
]

log = logging.getLogger(__name__)

ADCODE = re.compile(r"\d{6}")
"""A district adcode: six digits (also safe as a folder name)."""


def check_adcode(adcode: str) -> str:
    """``adcode`` if it is six digits (safe as a folder name), else NetplanError."""
    text = str(adcode)
    if not ADCODE.fullmatch(text):
        raise NetplanError(
            f"district adcode {adcode!r} is not six digits; the districts layer (column "
            "'adcode') must hold 6-digit codes such as 110105 — fix the layer"
        )
    return text


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

    def as_dict(self) -> DistrictLimitsInfo:
        """The limits as written in ``kpis["districts_run"]``."""
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
    codes = policy_adcodes(scenario.districts, study.districts)
    for key, pol in scenario.districts.items():
        ad = codes[str(key)]
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
        A :class:`netplan.planning.diagnose.Diagnosis` already computed for ``year``
        (optional; then nothing is cached).

    Returns
    -------
    dict
        adcode -> :class:`DistrictLimits`, in adcode order. Kept in memory and, inside a
        :func:`split_cache` block, on disk (see the module docstring): the same split as
        computing it afresh.
    """
    year = scenario.horizon_year if year is None else year
    if diagnosis is not None:
        return _split(study, scenario, year, diagnosis)
    key = split_key(study, scenario, year)
    with _MEMORY_LOCK:
        hit = _MEMORY.get(key)
    folder = _CACHE_DIR.get()
    if hit is None and folder is not None:
        hit = _read_cached(folder, key)
    if hit is None:
        hit = _split(study, scenario, year, None)
        if folder is not None:
            _write_cached(folder, key, hit)
    with _MEMORY_LOCK:
        _MEMORY[key] = hit
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > MEMORY_ENTRIES:
            _MEMORY.popitem(last=False)
    return dict(hit)


def _loads(study: Study, scenario: Scenario, year: int, diagnosis: Any
           ) -> tuple[Any, NDArray[np.float64], Any, NDArray[np.float64], NDArray[np.float64]]:
    """Zone adcodes and unserved arrivals, outlet adcodes, loads and capacities at the
    target: the figures of :func:`~netplan.planning.diagnose.diagnose` the split reads
    (measured alone when no diagnosis is given: the same numbers, without its tables)."""
    if diagnosis is not None:
        z, o = diagnosis.zones, diagnosis.outlets
        return (z["adcode"], np.asarray(z["arrivals_per_h"] * z["unserved_share"], np.float64),
                o["adcode"], o["arrivals_per_h"].to_numpy(np.float64),
                o["capacity_per_h"].to_numpy(np.float64))
    from netplan.model.behaviour import behaviour_of
    from netplan.planning.evaluate import Network, measure, study_zones, zone_points

    branches = study.branches
    zxy, _, arrivals = study_zones(study, scenario, year=year)
    net = Network(xy=zone_points(branches),
                  counters=branches["counters"].to_numpy(dtype=np.int64),
                  terminals=branches["terminals"].to_numpy(dtype=np.int64))
    m = measure(zone_xy=zxy, zone_arrivals=arrivals, network=net, scenario=scenario,
                behaviour=behaviour_of(scenario))
    return (study.zones["adcode"].to_numpy(dtype=object),
            np.asarray(arrivals * m.assignment.unserved_share, np.float64),
            branches["adcode"].to_numpy(dtype=object),
            np.asarray(m.load, np.float64), np.asarray(m.capacity, np.float64))


def _split(study: Study, scenario: Scenario, year: int, diagnosis: Any
           ) -> dict[str, DistrictLimits]:
    """:func:`split_limits` computed afresh."""
    adcodes = sorted(check_adcode(a) for a in study.districts["adcode"].astype(str))
    idx = {a: k for k, a in enumerate(adcodes)}
    n = len(adcodes)

    def by_district(labels: Any, values: Any) -> NDArray[np.float64]:
        g = np.array([idx.get(str(a), -1) for a in labels], dtype=np.int64)
        v = np.asarray(values, dtype=np.float64)
        ok = (g >= 0) & np.isfinite(v)
        return np.bincount(g[ok], weights=v[ok], minlength=n).astype(np.float64)

    zone_ad, unserved_per_h, site_ad, load, cap = _loads(study, scenario, year, diagnosis)
    unserved = by_district(zone_ad, unserved_per_h)
    need = unserved + by_district(site_ad, np.maximum(load - cap, 0.0))
    slack = by_district(site_ad, np.maximum(cap - load, 0.0))
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


def district_scope(study: Study, scenario: Scenario, district: str | None, *,
                   year: int) -> tuple[str | None, Scenario]:
    """The adcode a plan decides (None: the city) and the scenario it plans with.

    Parameters
    ----------
    study, scenario
        The layers and the city's scenario.
    district
        Adcode or name (:func:`netplan.study.layers.resolve_district`), or None.
    year
        Demand year of the limits split (:func:`split_limits`).

    Returns
    -------
    tuple
        ``(adcode, scenario)``: for a district, its adcode and the scenario with its
        share of the city limits (:func:`district_scenario`); else ``(None, scenario)``.
    """
    if district is None:
        return None, scenario
    adcode = resolve_district(district, study.districts)
    return adcode, district_scenario(scenario, split_limits(study, scenario, year=year)[adcode])


# --- the cache of splits --------------------------------------------------------------------

MEMORY_ENTRIES = 8
"""Splits kept in memory (most recently used)."""

_MEMORY: OrderedDict[str, dict[str, DistrictLimits]] = OrderedDict()
_MEMORY_LOCK = threading.Lock()

_CACHE_DIR: ContextVar[Path | None] = ContextVar("netplan_split_cache", default=None)

CACHE_FORMAT = "netplan-split-limits/1"
"""Written in every cache file and part of every key."""


def default_cache_dir() -> Path | None:
    """netplan's cache folder, or ``None`` when ``NETPLAN_NO_CACHE`` is set (not ``0``).

    ``$NETPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/netplan``, else ``~/.cache/netplan``.
    """
    if os.environ.get("NETPLAN_NO_CACHE", "").strip() not in ("", "0"):
        return None
    own = os.environ.get("NETPLAN_CACHE_DIR", "").strip()
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "netplan"


@contextmanager
def split_cache(folder: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, :func:`split_limits` reads and writes its cache files in
    ``folder`` (``None``: no files, memory only; outside any block too).

    Parameters
    ----------
    folder
        The cache folder, e.g. :func:`default_cache_dir`; created when first written.
    """
    token = _CACHE_DIR.set(None if folder is None else Path(folder))
    try:
        yield
    finally:
        _CACHE_DIR.reset(token)


@functools.cache
def _code_digest() -> str:
    """SHA-256 of netplan's own source files and the numpy / scipy versions."""
    import scipy

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"{np.__version__}|{scipy.__version__}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _layer_digest(h: Any, name: str, gdf: Any) -> None:
    import pandas as pd
    import shapely

    geom = gdf.geometry.name
    h.update(f"{name}|{list(map(str, gdf.columns))}|{list(map(str, gdf.dtypes))}".encode())
    h.update(pd.util.hash_pandas_object(gdf.drop(columns=geom), index=True)
             .to_numpy().tobytes())
    h.update(b"".join(shapely.to_wkb(gdf.geometry.to_numpy(), hex=False, include_srid=False)))


def split_key(study: Study, scenario: Scenario, year: int) -> str:
    """The cache key of a split: SHA-256 of what it reads (see the module docstring).

    Parameters
    ----------
    study, scenario, year
        As for :func:`split_limits` (``year`` resolved).

    Returns
    -------
    str
        64 hex digits.
    """
    from netplan.model.scenario import scenario_to_dict

    h = hashlib.sha256(f"{CACHE_FORMAT}|{_code_digest()}|{int(year)}|{study.crs}".encode())
    for name in ("districts", "zones", "branches", "candidates"):
        _layer_digest(h, name, getattr(study, name))
    settings = {k: v for k, v in scenario_to_dict(scenario).items() if k != "source"}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _cache_file(folder: Path, key: str) -> Path:
    return folder / f"split-limits-{key}.json"


def _read_cached(folder: Path, key: str) -> dict[str, DistrictLimits] | None:
    """The split kept under ``key``, or ``None`` (missing, unreadable or not netplan's)."""
    path = _cache_file(folder, key)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != CACHE_FORMAT or raw.get("key") != key:
            raise ValueError("not this key's split")
        names = {f.name for f in dataclasses.fields(DistrictLimits)}
        out = {}
        for ad, row in raw["limits"].items():
            if set(row) != names or row["adcode"] != ad:
                raise ValueError(f"bad row {ad}")
            out[check_adcode(ad)] = DistrictLimits(**row)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, NetplanError) as exc:
        log.warning("ignoring the cached split %s (%s); computing it afresh", path, exc)
        return None
    log.debug("city limits split read from %s", path)
    return out


def _write_cached(folder: Path, key: str, limits: dict[str, DistrictLimits]) -> None:
    """Keep ``limits`` under ``key``; a failure only costs the next run the split."""
    from netplan._io import atomic_write_text

    path = _cache_file(folder, key)
    text = json.dumps({"format": CACHE_FORMAT, "key": key,
                       "limits": {a: dataclasses.asdict(v) for a, v in limits.items()}},
                      ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    try:
        atomic_write_text(path, text)
    except (OSError, NetplanError) as exc:
        log.warning("could not keep the city limits split in %s (%s)", path, exc)
