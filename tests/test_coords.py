"""netplan.coords: GCJ-02 / BD-09 ↔ WGS84 against published and independent pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from netplan.study import coords

DATA = Path(__file__).parent / "data"

# Outputs of the published reference implementation (wandergis/coordtransform, its README
# test) for the input (116.404, 39.915).
REF_IN = (116.404, 39.915)
REF_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
REF_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
REF_BD09_TO_GCJ02_PUBLISHED = (116.39762729119315, 39.90865673957631)


def test_wgs84_to_gcj02_matches_the_published_formula() -> None:
    lon, lat = coords.wgs84_to_gcj02(*REF_IN)
    assert float(lon) == pytest.approx(REF_WGS84_TO_GCJ02[0], abs=1e-12)
    assert float(lat) == pytest.approx(REF_WGS84_TO_GCJ02[1], abs=1e-12)


def test_gcj02_to_bd09_matches_the_published_formula() -> None:
    lon, lat = coords.gcj02_to_bd09(*REF_IN)
    assert float(lon) == pytest.approx(REF_GCJ02_TO_BD09[0], abs=1e-12)
    assert float(lat) == pytest.approx(REF_GCJ02_TO_BD09[1], abs=1e-12)


def test_bd09_to_gcj02_is_the_exact_inverse_and_close_to_the_published_one() -> None:
    lon, lat = coords.bd09_to_gcj02(*REF_IN)
    # the published one-step inverse is approximate: within 1e-6 of the exact inverse
    assert float(lon) == pytest.approx(REF_BD09_TO_GCJ02_PUBLISHED[0], abs=1e-6)
    assert float(lat) == pytest.approx(REF_BD09_TO_GCJ02_PUBLISHED[1], abs=1e-6)
    back = coords.gcj02_to_bd09(lon, lat)
    assert np.max(np.abs(np.subtract(back, REF_IN))) < 1e-9


def test_bd09_known_pair_beijing_railway_station() -> None:
    # Beijing railway station: GCJ-02 (Amap) 116.42703, 39.90245; BD-09 (Baidu) 116.43351,
    # 39.90851 (both published to 5 decimals, so agreement is to ~1e-5°).
    lon, lat = coords.bd09_to_gcj02(116.43351, 39.90851)
    assert abs(float(lon) - 116.42703) < 1e-5
    assert abs(float(lat) - 39.90245) < 1e-5
    lon, lat = coords.gcj02_to_bd09(116.42703, 39.90245)
    assert abs(float(lon) - 116.43351) < 1e-5
    assert abs(float(lat) - 39.90851) < 1e-5


def test_metro_stations_agree_with_an_independent_converter() -> None:
    pairs = pd.read_csv(DATA / "metro_gcj02_wgs84_pairs.csv")
    assert len(pairs) == 10
    lon, lat = coords.gcj02_to_wgs84(pairs["lon_gcj02"], pairs["lat_gcj02"])
    # the pairs are rounded to 6 decimals: we agree to the rounding (measured 5.0e-7°)
    assert np.max(np.abs(lon - pairs["lon_wgs84"].to_numpy())) < 1e-6
    assert np.max(np.abs(lat - pairs["lat_wgs84"].to_numpy())) < 1e-6
    glon, glat = coords.wgs84_to_gcj02(pairs["lon_wgs84"], pairs["lat_wgs84"])
    assert np.max(np.abs(glon - pairs["lon_gcj02"].to_numpy())) < 1e-6
    assert np.max(np.abs(glat - pairs["lat_gcj02"].to_numpy())) < 1e-6
    # the offset in Beijing is several hundred metres, so the test can fail
    assert np.min(np.abs(pairs["lon_gcj02"] - pairs["lon_wgs84"])) > 4e-3


@settings(max_examples=60, deadline=None)
@given(
    st.floats(min_value=74.0, max_value=135.0), st.floats(min_value=4.0, max_value=53.0)
)
def test_gcj02_round_trip_is_exact(lon: float, lat: float) -> None:
    glon, glat = coords.wgs84_to_gcj02(lon, lat)
    wlon, wlat = coords.gcj02_to_wgs84(glon, glat)
    assert abs(float(wlon) - lon) < 1e-7
    assert abs(float(wlat) - lat) < 1e-7


def test_bd09_round_trip_vectorised() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(115.4, 117.5, 1000)
    lat = rng.uniform(39.4, 41.1, 1000)
    blon, blat = coords.wgs84_to_bd09(lon, lat)
    assert blon.shape == (1000,)
    wlon, wlat = coords.bd09_to_wgs84(blon, blat)
    assert np.max(np.abs(wlon - lon)) < 1e-9
    assert np.max(np.abs(wlat - lat)) < 1e-9


def test_outside_china_gcj02_is_identity() -> None:
    lon = np.array([2.35, -74.0, 151.2])
    lat = np.array([48.86, 40.7, -33.9])
    for f in (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84):
        out_lon, out_lat = f(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)
    assert coords.out_of_china(lon, lat).all()
    assert not coords.out_of_china(116.4, 39.9).any()


def test_nan_in_nan_out() -> None:
    lon, lat = coords.gcj02_to_wgs84([np.nan, 116.4], [39.9, 39.9])
    assert np.isnan(lon[0]) and np.isfinite(lon[1]) and np.isfinite(lat[1])


def test_geometry_to_wgs84_converts_every_vertex() -> None:
    line = shapely.LineString([(116.40, 39.90), (116.45, 39.95)])
    out = coords.geometry_to_wgs84(np.array([line, shapely.Point(116.4, 39.9)]), coords="gcj02")
    expected = np.column_stack(coords.gcj02_to_wgs84([116.40, 116.45], [39.90, 39.95]))
    np.testing.assert_allclose(shapely.get_coordinates(out[0]), expected, atol=1e-12)
    assert coords.geometry_to_wgs84(line, coords="WGS84") is line


def test_unknown_coordinate_system() -> None:
    with pytest.raises(ValueError, match=r"unknown coordinate system 'mars'.*wgs84, gcj02, bd09"):
        coords.check_coords("mars")
    assert coords.check_coords("GCJ-02") == "gcj02"
