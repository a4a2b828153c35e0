"""The metric CRS of a study ("auto" = its UTM zone) and CRS guesses for files without one."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from netplan._errors import NetplanError
from netplan.study.crs import BEIJING_CRS, candidate_crs, crs_hint, metric_crs, utm_crs_for


@pytest.mark.parametrize(("lon", "lat", "crs"), [
    (104.0, 30.6, "EPSG:32648"),    # Chengdu: zone 48
    (116.4, 39.9, "EPSG:32650"),    # Beijing: zone 50
    (121.5, 31.2, "EPSG:32651"),    # Shanghai: zone 51
    (151.2, -33.9, "EPSG:32756"),   # Sydney: south
    (-180.0, 0.0, "EPSG:32601"),
    (180.0, 10.0, "EPSG:32660"),
])
def test_utm_zone_of_a_point(lon: float, lat: float, crs: str) -> None:
    assert utm_crs_for(lon, lat) == crs


def test_utm_zone_refuses_non_degrees() -> None:
    with pytest.raises(NetplanError, match=r"not a longitude/latitude.*crs = \"EPSG"):
        utm_crs_for(450_000.0, 4_420_000.0)


def test_auto_picks_the_zone_of_the_study_area() -> None:
    chengdu = shapely.box(103.9, 30.5, 104.2, 30.8)
    assert metric_crs("auto", chengdu) == "EPSG:32648"
    assert metric_crs("AUTO", shapely.box(116.2, 39.7, 116.6, 40.1)) == BEIJING_CRS
    assert metric_crs("EPSG:4544", chengdu) == "EPSG:4544"
    with pytest.raises(NetplanError, match="not a projected CRS in metres"):
        metric_crs("EPSG:4326", chengdu)
    with pytest.raises(NetplanError, match="not a CRS pyproj knows"):
        metric_crs("EPSG:nonsense", chengdu)


def test_hint_from_the_size_of_coordinates() -> None:
    assert "EPSG:4326" in crs_hint((103.9, 30.5, 104.2, 30.8)).split(";")[0]
    metres = crs_hint((395_000.0, 3_380_000.0, 420_000.0, 3_400_000.0))
    assert "metres" in metres and "UTM" in metres and "not EPSG:4326" in metres
    assert "try EPSG:4326" not in metres
    zoned = crs_hint((35_395_000.0, 3_380_000.0, 35_420_000.0, 3_400_000.0))
    assert "zone 35" in zoned and "EPSG:4523" in zoned


def test_candidates_that_put_a_layer_inside_the_area() -> None:
    from pyproj import Transformer

    area = shapely.box(103.95, 30.55, 104.20, 30.75)
    lon = np.array([104.0, 104.1, 104.15])
    lat = np.array([30.6, 30.65, 30.7])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4544", always_xy=True).transform(lon, lat)
    codes = [c for c, _, _ in candidate_crs(np.column_stack([x, y]), area)]
    assert "EPSG:4544" in codes and "EPSG:4326" not in codes
    assert [c for c, _, _ in candidate_crs(np.column_stack([lon, lat]), area)] == ["EPSG:4326"]
