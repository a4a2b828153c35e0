"""Demand: population by year, horizon totals, arrivals and the stream split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from netplan._errors import LayerError, NetplanError, ScenarioError
from netplan.model.demand import (
    annual_visits,
    arrivals_per_h,
    central_adcodes,
    stream_split,
    valid_years,
    zone_population,
)
from netplan.model.scenario import load_scenario

SC = load_scenario()


def zones() -> pd.DataFrame:
    """Six zones: three central (two districts), three outer (one shrank, two grew)."""
    return pd.DataFrame(
        {
            "zone_id": ["c1", "c2", "c3", "o1", "o2", "o3"],
            "adcode": ["110101", "110105", "110105", "110112", "110115", "110109"],
            "pop_2010": [3_000_000, 4_000_000, 5_000_000, 1_000_000, 2_000_000, 500_000],
            "pop_2020": [2_500_000, 4_200_000, 4_300_000, 3_000_000, 2_500_000, 400_000],
        }
    )


CENTRAL_ADCODES = frozenset({"110101", "110102", "110105", "110106", "110107", "110108"})


def test_central_adcodes() -> None:
    """The Beijing scenario names the six central districts (城六区) by adcode."""
    assert central_adcodes(SC) == CENTRAL_ADCODES


def test_census_years_return_the_columns() -> None:
    z = zones()
    np.testing.assert_array_equal(zone_population(z, SC, year=2010), z["pop_2010"].to_numpy())
    np.testing.assert_array_equal(zone_population(z, SC, year=2020), z["pop_2020"].to_numpy())
    assert zone_population(z, SC, year=2020).dtype == np.float64


def test_horizon_hits_the_master_plan_totals() -> None:
    z = zones()
    pop = zone_population(z, SC, year=2035)
    central = z["adcode"].isin(CENTRAL_ADCODES).to_numpy()
    assert pop.sum() == pytest.approx(23_000_000, rel=1e-12)
    assert pop[central].sum() == pytest.approx(10_850_000, rel=1e-12)
    # central zones scaled by one factor (11.0 M in 2020 -> 10.85 M)
    np.testing.assert_allclose(pop[central] / z["pop_2020"].to_numpy()[central],
                               10_850_000 / 11_000_000, rtol=1e-12)
    # outer growth 12.15 M - 5.9 M = 6.25 M, spread by positive inflow 2.0 M : 0.5 M : 0
    np.testing.assert_allclose(pop[~central], [3_000_000 + 5_000_000, 2_500_000 + 1_250_000,
                                               400_000], rtol=1e-12)


def test_horizon_fallback_pro_rata_without_inflow() -> None:
    z = zones()
    z["pop_2010"] = z["pop_2020"] + 1  # nobody grew
    pop = zone_population(z, SC, year=2035)
    outer = ~z["adcode"].isin(CENTRAL_ADCODES).to_numpy()
    p20 = z["pop_2020"].to_numpy()[outer]
    np.testing.assert_allclose(pop[outer], p20 + (12_150_000 - p20.sum()) * p20 / p20.sum(),
                               rtol=1e-12)
    assert pop.sum() == pytest.approx(23_000_000, rel=1e-12)


def test_horizon_decline_scales_down() -> None:
    sc = SC.replace(horizon_total_population=14_000_000)  # outer 3.15 M < 5.9 M today
    pop = zone_population(zones(), sc, year=2035)
    outer = ~zones()["adcode"].isin(CENTRAL_ADCODES).to_numpy()
    assert pop[outer].sum() == pytest.approx(3_150_000, rel=1e-12)
    assert (pop >= 0).all()


def test_horizon_on_a_larger_synthetic_grid() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    adcodes = np.array([*sorted(CENTRAL_ADCODES), "110109", "110111", "110112", "110113"])
    z = pd.DataFrame({"adcode": rng.choice(adcodes, n),
                      "pop_2010": rng.integers(0, 5000, n), "pop_2020": rng.integers(0, 5000, n)})
    pop = zone_population(z, SC, year=2035)
    assert pop.sum() == pytest.approx(23_000_000, rel=1e-12)
    assert pop[z["adcode"].isin(CENTRAL_ADCODES).to_numpy()].sum() == pytest.approx(
        10_850_000, rel=1e-12)
    assert (pop >= 0).all()


def test_unknown_year_lists_the_valid_ones() -> None:
    assert valid_years(SC, zones()) == (2010, 2020, 2035)
    with pytest.raises(ScenarioError, match=r"year 2030; valid years are 2010, 2020, 2035"):
        zone_population(zones(), SC, year=2030)


def test_bad_zone_tables() -> None:
    with pytest.raises(LayerError, match=r"'pop_2020': found no such column.*base = 2020"):
        zone_population(zones().drop(columns="pop_2020"), SC, year=2035)
    with pytest.raises(LayerError, match=r"'adcode' is missing"):
        zone_population(zones().drop(columns="adcode"), SC, year=2035)
    bad = zones()
    bad.loc[2, "pop_2020"] = -5
    with pytest.raises(LayerError, match=r"'pop_2020' must hold numbers >= 0.*index 2"):
        zone_population(bad, SC, year=2020)
    outer_only = zones()[~zones()["adcode"].isin(CENTRAL_ADCODES)]
    with pytest.raises(ScenarioError, match=r"no populated zone there"):
        zone_population(outer_only, SC, year=2035)


def test_arrivals_known_value_and_split() -> None:
    # 1 M residents x 0.22 x 6 visits / 250 days x 0.18 = 950.4 arrivals in the peak hour
    assert arrivals_per_h(1_000_000, SC) == pytest.approx(950.4, rel=1e-12)
    assert annual_visits(1_000_000, SC) == pytest.approx(1_320_000, rel=1e-12)
    lam = arrivals_per_h(np.array([0.0, 1e5, 2e5]), SC)
    counter, terminal = stream_split(lam, SC)
    np.testing.assert_allclose(counter + terminal, lam)
    np.testing.assert_allclose(terminal, 0.6 * lam)
    with pytest.raises(NetplanError, match=r"population must be finite numbers >= 0"):
        arrivals_per_h(np.array([1.0, np.nan]), SC)
