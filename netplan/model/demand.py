"""Demand: zone population for a year, and the peak-hour arrivals it sends to outlets.

Peak-hour arrivals of a zone (both streams together)::

    arrivals_per_h = population * customer_share * visits_per_customer_per_year
                     / business_days_per_year * peak_hour_share

``smart_share`` of them go to smart terminals, the rest to counters (:func:`stream_split`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from netplan._errors import MAX_EXAMPLES, LayerError, NetplanError, ScenarioError
from netplan._types import FloatArray
from netplan.model.scenario import Scenario

__all__ = [
    "CENTRAL_ZONE_WORDS",
    "annual_visits",
    "arrivals_per_h",
    "central_adcodes",
    "pop_column",
    "stream_split",
    "valid_years",
    "zone_population",
]

log = logging.getLogger(__name__)

#: Values of the districts layer's ``zone`` column that mark a central district (used when
#: ``[horizon] central_districts`` is not set).
CENTRAL_ZONE_WORDS: frozenset[str] = frozenset({"core", "central"})

_POP = re.compile(r"^pop_(\d{4})$")


def pop_column(year: int) -> str:
    """The zones' population column of a census or base year: ``pop_<year>``."""
    return f"pop_{int(year)}"


def _pop_years(gdf_zones: Any) -> list[int]:
    """Years of the ``pop_<year>`` columns of a zone table, ascending."""
    return sorted(int(m.group(1)) for c in gdf_zones.columns if (m := _POP.match(str(c))))


def valid_years(scenario: Scenario, gdf_zones: Any = None) -> tuple[int, ...]:
    """Years :func:`zone_population` knows: the zones' ``pop_<year>`` columns, the base year
    (whose column the zones need) and the horizon."""
    have = _pop_years(gdf_zones) if gdf_zones is not None else []
    return tuple(sorted({*have, scenario.base_year, scenario.horizon_year}))


def _column(gdf_zones: Any, col: str, problems: list[str]) -> FloatArray:
    if col not in gdf_zones.columns:
        have = ", ".join(map(str, gdf_zones.columns))
        problems.append(f"column {col!r} is missing (columns: {have})")
        return np.zeros(len(gdf_zones), dtype=np.float64)
    values: FloatArray = np.asarray(
        pd.to_numeric(gdf_zones[col], errors="coerce"), dtype=np.float64
    )
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        rows = ", ".join(str(r) for r in np.asarray(gdf_zones.index)[bad][:5])
        problems.append(
            f"column {col!r} must hold numbers >= 0; {int(bad.sum())} row(s) do not "
            f"(index {rows}{', ...' if bad.sum() > 5 else ''})"
        )
    return values


def central_adcodes(scenario: Scenario, gdf_districts: Any = None) -> frozenset[str]:
    """The adcodes of the central districts that ``horizon.central_population`` lives in.

    ``[horizon] central_districts`` (names or adcodes) when the scenario sets it, else the
    districts whose ``zone`` column is one of :data:`CENTRAL_ZONE_WORDS`, else none.

    Parameters
    ----------
    scenario
        Gives ``central_districts``.
    gdf_districts
        The districts layer (``adcode``, ``name_zh``, optional ``name_en``,
        ``name_pinyin``, ``zone``); without it only adcodes can be resolved.

    Returns
    -------
    frozenset of str

    Raises
    ------
    ScenarioError
        A name or code that is no district of the study (the known names listed).
    """
    names: dict[str, str] = {}
    shown: set[str] = set()
    if gdf_districts is not None and "adcode" in gdf_districts.columns:
        codes = gdf_districts["adcode"].astype(str).str.strip()
        names.update({c: c for c in codes})
        for col in ("name_zh", "name_en", "name_pinyin"):
            if col in gdf_districts.columns:
                text = gdf_districts[col].astype(str).str.strip()
                names.update({n.casefold(): c for n, c in zip(text, codes, strict=True) if n})
                shown.update(n for n in text if n)
        if not scenario.central_districts:
            if "zone" not in gdf_districts.columns:
                return frozenset()
            zone = gdf_districts["zone"].astype(str).str.strip().str.casefold()
            return frozenset(codes[zone.isin(CENTRAL_ZONE_WORDS)])
    out: set[str] = set()
    unknown: list[str] = []
    for key in scenario.central_districts:
        code = names.get(key) or names.get(key.casefold())
        if code is None and not names and key.isdigit() and len(key) == 6:
            code = key  # no districts layer to check against: an adcode as written
        if code is None:
            unknown.append(key)
        else:
            out.add(code)
    if unknown:
        known = sorted(shown)
        raise ScenarioError(
            f"horizon.central_districts of scenario {scenario.name!r} names "
            f"{', '.join(map(repr, unknown[:MAX_EXAMPLES]))}, which "
            f"{'is' if len(unknown) == 1 else 'are'} no district of the study (its districts: "
            f"{', '.join(known[:MAX_EXAMPLES]) or 'none loaded'}"
            f"{', ...' if len(known) > MAX_EXAMPLES else ''}); write district names or adcodes "
            "of the districts layer"
        )
    return frozenset(out)


def _base_column(gdf_zones: Any, scenario: Scenario) -> str:
    """``pop_<base year>``; a LayerError naming the population columns there are if absent."""
    base = scenario.base_year
    base_col = pop_column(base)
    if base_col not in gdf_zones.columns:
        have = [str(c) for c in gdf_zones.columns if _POP.match(str(c))]
        raise LayerError("zones", [
            f"column {base_col!r}: found no such column; scenario {scenario.name!r} has "
            f"[years] base = {base}, and the zones' population columns are "
            f"{', '.join(have) or 'none'}; set years.base to the year of one of them, or "
            f"name the zones' column of {base} {base_col!r} (in study.toml: [zones] "
            f"columns = {{ {base_col} = \"...\" }})"])
    return base_col


def zone_population(gdf_zones: Any, scenario: Scenario, *, year: int,
                    districts: Any = None) -> FloatArray:
    """Population of every zone in ``year``, in the zones' row order.

    * a year with a ``pop_<year>`` column (the base year ``[years] base`` must have one;
      census years before it may): that column.
    * ``year == scenario.horizon_year``: derived from the horizon totals:

      - zones of the central districts (:func:`central_adcodes`) are scaled by one
        factor so that together they hold ``horizon_central_population``;
      - the other zones together hold ``horizon_total_population -
        horizon_central_population``. When that is more than their base-year total, the
        growth is spread over them in proportion to their positive inflow
        ``max(pop_<base> - pop_<earlier>, 0)`` (growth continues where it happened;
        ``<earlier>`` is the latest ``pop_<year>`` column before the base year), falling
        back to their base-year population when no zone grew or there is no earlier
        column; when it is less (decline), they are scaled down by one factor.

    The horizon totals are properties of the whole city: call this on the city's full zone
    table and slice the result, never on one district's zones.

    Parameters
    ----------
    gdf_zones
        A (Geo)DataFrame with ``pop_<base year>`` (and the columns of other years asked
        for); the horizon also needs ``adcode`` (6-digit strings).
    scenario
        Gives the base and horizon years and the horizon totals.
    year
        One of :func:`valid_years`.
    districts
        The districts layer, to resolve the central districts (see :func:`central_adcodes`).

    Returns
    -------
    numpy.ndarray
        Float population per zone; the horizon sums equal the scenario's totals to
        floating-point precision.

    Raises
    ------
    ScenarioError
        ``year`` is not one of the valid years, or the horizon cannot be placed (no zone in
        or outside the central districts, or no population to scale).
    LayerError
        A needed column is missing or holds negative/missing values.
    """
    years = valid_years(scenario, gdf_zones)
    if isinstance(year, bool) or not isinstance(year, int | np.integer) or int(year) not in years:
        raise ScenarioError(
            f"no population for year {year!r}; valid years are {', '.join(map(str, years))} "
            f"(the zones' pop_<year> columns and horizon {scenario.horizon_year} of scenario "
            f"{scenario.name!r})"
        )
    year = int(year)
    base = scenario.base_year
    problems: list[str] = []
    base_col = _base_column(gdf_zones, scenario)
    if year != scenario.horizon_year:
        pop = _column(gdf_zones, pop_column(year), problems)
        _raise(problems)
        return pop
    earlier = [y for y in _pop_years(gdf_zones) if y < base]
    pop_base = _column(gdf_zones, base_col, problems)
    pop_old = _column(gdf_zones, pop_column(earlier[-1]), problems) if earlier else pop_base
    if "adcode" not in gdf_zones.columns:
        problems.append("column 'adcode' is missing; the horizon year needs each zone's district")
    _raise(problems)
    adcode = gdf_zones["adcode"].astype(str).str.strip().to_numpy()
    codes = central_adcodes(scenario, districts)
    if scenario.horizon_central_population > 0 and not codes:
        raise ScenarioError(
            f"scenario {scenario.name!r} puts {scenario.horizon_central_population:,.0f} "
            "residents in the central districts in the horizon year, but names none: set "
            "[horizon] central_districts = [names or adcodes], give the districts layer a "
            "'zone' column (core / central), or set horizon.central_population = 0"
        )
    central = np.isin(adcode, sorted(codes))
    return _horizon(pop_base, pop_old, central, scenario, codes)


def _raise(problems: list[str]) -> None:
    if problems:
        raise LayerError("zones", [*problems, "fix the zones layer (see data/README.md)"])


def _horizon(
    pop20: FloatArray, pop10: FloatArray, central: npt.NDArray[np.bool_], scenario: Scenario,
    codes: frozenset[str],
) -> FloatArray:
    target_central = scenario.horizon_central_population
    target_other = scenario.horizon_total_population - target_central
    out = np.zeros_like(pop20)

    c20 = float(pop20[central].sum())
    if target_central > 0:
        if not central.any() or c20 <= 0:
            raise ScenarioError(
                f"scenario {scenario.name!r} puts {target_central:,.0f} residents in the "
                "central districts in the horizon year, but the zone table has no populated "
                "zone there (adcodes " + ", ".join(sorted(codes)) + "); pass the whole "
                "city's zones, or check horizon.central_districts, or set "
                "horizon.central_population = 0"
            )
        out[central] = pop20[central] * (target_central / c20)

    other = ~central
    o20 = float(pop20[other].sum())
    if target_other > 0:
        if not other.any():
            raise ScenarioError(
                f"scenario {scenario.name!r} puts {target_other:,.0f} residents outside the "
                "central districts in the horizon year, but the zone table has no zone there; "
                "pass the whole city's zones"
            )
        growth = target_other - o20
        if growth >= 0:
            inflow = np.clip(pop20[other] - pop10[other], 0.0, None)
            weights = inflow if inflow.sum() > 0 else pop20[other]
            if weights.sum() <= 0:  # nobody lives outside the centre yet: spread evenly
                weights = np.ones(int(other.sum()), dtype=np.float64)
            out[other] = pop20[other] + growth * weights / weights.sum()
        else:
            if o20 <= 0:  # pragma: no cover - growth < 0 implies o20 > 0
                raise ScenarioError("cannot scale down an empty population")
            out[other] = pop20[other] * (target_other / o20)
            log.info("horizon: population outside the centre declines by %.0f", -growth)
    log.debug(
        "horizon %d: central %.0f -> %.0f, other %.0f -> %.0f",
        scenario.horizon_year, c20, out[central].sum(), o20, out[other].sum(),
    )
    return out


def _as_array(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if np.any(~np.isfinite(arr) | (arr < 0)):
        raise NetplanError(
            f"{name} must be finite numbers >= 0; {int((~np.isfinite(arr) | (arr < 0)).sum())} "
            "value(s) are not (check the zones' population columns)"
        )
    return arr


def annual_visits(population: Any, scenario: Scenario) -> FloatArray:
    """Outlet visits per year: ``population * customer_share * visits_per_customer_per_year``."""
    pop = _as_array(population, "population")
    return np.asarray(
        pop * scenario.customer_share * scenario.visits_per_customer_per_year, dtype=np.float64
    )


def arrivals_per_h(population: Any, scenario: Scenario) -> FloatArray:
    """Peak-hour arrivals (both streams): annual visits / business days * peak-hour share."""
    visits = annual_visits(population, scenario)
    return np.asarray(
        visits / scenario.business_days_per_year * scenario.peak_hour_share, dtype=np.float64
    )


def stream_split(arrivals: Any, scenario: Scenario) -> tuple[FloatArray, FloatArray]:
    """Split arrivals into ``(counter, terminal)`` streams by ``scenario.smart_share``."""
    lam = _as_array(arrivals, "arrivals")
    s = scenario.smart_share
    return np.asarray(lam * (1.0 - s), dtype=np.float64), np.asarray(lam * s, dtype=np.float64)
