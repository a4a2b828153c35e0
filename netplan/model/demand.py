"""Demand: zone population for a year, and the peak-hour arrivals it sends to outlets.

Peak-hour arrivals of a zone (both streams together)::

    arrivals_per_h = population * customer_share * visits_per_customer_per_year
                     / business_days_per_year * peak_hour_share

``smart_share`` of them go to smart terminals, the rest to counters (:func:`stream_split`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from netplan._errors import LayerError, NetplanError, ScenarioError
from netplan._types import FloatArray
from netplan.model.scenario import Scenario

__all__ = [
    "CENSUS_YEAR_2010",
    "CENTRAL_ADCODES",
    "annual_visits",
    "arrivals_per_h",
    "stream_split",
    "valid_years",
    "zone_population",
]

log = logging.getLogger(__name__)


#: The six central districts (城六区): 东城 西城 朝阳 丰台 石景山 海淀.
CENTRAL_ADCODES: frozenset[str] = frozenset(
    {"110101", "110102", "110105", "110106", "110107", "110108"}
)

#: The year of the zones' ``pop_2010`` column (6th census).
CENSUS_YEAR_2010 = 2010


def valid_years(scenario: Scenario) -> tuple[int, ...]:
    """Years :func:`zone_population` knows: 2010, the base year and the horizon year."""
    return tuple(sorted({CENSUS_YEAR_2010, scenario.base_year, scenario.horizon_year}))


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


def zone_population(gdf_zones: Any, scenario: Scenario, *, year: int) -> FloatArray:
    """Population of every zone in ``year``, in the zones' row order.

    * ``year == 2010``: the ``pop_2010`` column (6th census).
    * ``year == scenario.base_year`` (2020): the ``pop_2020`` column (7th census).
    * ``year == scenario.horizon_year`` (2035): derived from the master-plan totals:

      - zones of the six central districts (:data:`CENTRAL_ADCODES`) are scaled by one
        factor so that together they hold ``horizon_central_population``;
      - the other zones together hold ``horizon_total_population -
        horizon_central_population``. When that is more than their 2020 total, the growth
        is spread over them in proportion to their positive inflow
        ``max(pop_2020 - pop_2010, 0)`` (growth continues where it happened), falling back
        to their 2020 population when no zone grew; when it is less (decline), they are
        scaled down by one factor.

    The horizon totals are properties of the whole city: call this on the city's full zone
    table and slice the result, never on one district's zones.

    Parameters
    ----------
    gdf_zones
        A (Geo)DataFrame with ``pop_2020`` and, for 2010 and the horizon, ``pop_2010``; the
        horizon also needs ``adcode`` (6-digit strings).
    scenario
        Gives the base and horizon years and the horizon totals.
    year
        One of :func:`valid_years`.

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
    years = valid_years(scenario)
    if isinstance(year, bool) or not isinstance(year, int | np.integer) or int(year) not in years:
        raise ScenarioError(
            f"no population for year {year!r}; valid years are {', '.join(map(str, years))} "
            f"(2010 census, base year {scenario.base_year}, horizon {scenario.horizon_year} "
            f"of scenario {scenario.name!r})"
        )
    year = int(year)
    problems: list[str] = []
    if year == scenario.base_year:
        pop = _column(gdf_zones, "pop_2020", problems)
        _raise(problems)
        return pop
    if year == CENSUS_YEAR_2010:
        pop = _column(gdf_zones, "pop_2010", problems)
        _raise(problems)
        return pop

    pop20 = _column(gdf_zones, "pop_2020", problems)
    pop10 = _column(gdf_zones, "pop_2010", problems)
    if "adcode" not in gdf_zones.columns:
        problems.append("column 'adcode' is missing; the horizon year needs each zone's district")
    _raise(problems)
    adcode = gdf_zones["adcode"].astype(str).str.strip().to_numpy()
    central = np.isin(adcode, list(CENTRAL_ADCODES))
    return _horizon(pop20, pop10, central, scenario)


def _raise(problems: list[str]) -> None:
    if problems:
        raise LayerError("zones", [*problems, "fix the zones layer (see data/README.md)"])


def _horizon(
    pop20: FloatArray, pop10: FloatArray, central: npt.NDArray[np.bool_], scenario: Scenario
) -> FloatArray:
    target_central = scenario.horizon_central_population
    target_other = scenario.horizon_total_population - target_central
    out = np.zeros_like(pop20)

    c20 = float(pop20[central].sum())
    if target_central > 0:
        if not central.any() or c20 <= 0:
            raise ScenarioError(
                f"scenario {scenario.name!r} puts {target_central:,.0f} residents in the six "
                "central districts in the horizon year, but the zone table has no populated "
                "zone there (adcodes " + ", ".join(sorted(CENTRAL_ADCODES)) + "); pass the "
                "whole city's zones, or set horizon.central_population = 0"
            )
        out[central] = pop20[central] * (target_central / c20)

    other = ~central
    o20 = float(pop20[other].sum())
    if target_other > 0:
        if not other.any():
            raise ScenarioError(
                f"scenario {scenario.name!r} puts {target_other:,.0f} residents outside the six "
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
