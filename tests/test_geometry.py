"""netplan.geometry: ring zones from ring roads, and district / ring labels (known answers)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from netplan._errors import LayerError
from netplan.study.crs import BEIJING_CRS as METRIC_CRS
from netplan.study.geometry import (
    RING_ZONES,
    label_features,
    outside_ring_mask,
    ring_zones_from_rings,
)

# A synthetic city near Beijing (UTM 50N metres) so reprojection to WGS84 is meaningful.
X0, Y0 = 450_000.0, 4_420_000.0
KM = 1000.0


def square_ring(h_km: float) -> shapely.LineString:
    """Closed square line of half-side h_km around (X0, Y0)."""
    return shapely.LineString(shapely.box(X0 - h_km * KM, Y0 - h_km * KM,
                                          X0 + h_km * KM, Y0 + h_km * KM).exterior.coords)


@pytest.fixture
def rings() -> gpd.GeoDataFrame:
    # Concentric squares of half-side 1..5 km for rings 2..6 (rows deliberately shuffled).
    order = [4, 2, 6, 3, 5]
    return gpd.GeoDataFrame(
        {"ring": order}, geometry=[square_ring(k - 1) for k in order], crs=METRIC_CRS
    )


@pytest.fixture
def districts() -> gpd.GeoDataFrame:
    # West and east halves of a 12 km x 12 km square.
    return gpd.GeoDataFrame(
        {"adcode": ["110001", "110002"]},
        geometry=[
            shapely.box(X0 - 6 * KM, Y0 - 6 * KM, X0, Y0 + 6 * KM),
            shapely.box(X0, Y0 - 6 * KM, X0 + 6 * KM, Y0 + 6 * KM),
        ],
        crs=METRIC_CRS,
    )


def test_constants() -> None:
    assert METRIC_CRS == "EPSG:32650"
    assert RING_ZONES == ("inside_2", "2_3", "3_4", "4_5", "5_6", "outside_6")
    assert outside_ring_mask(list(RING_ZONES), 5).tolist() == [False] * 4 + [True] * 2


def test_ring_zones_known_areas(
    rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    zones = ring_zones_from_rings(rings, districts)
    assert list(zones["ring_zone"]) == list(RING_ZONES)
    assert zones.crs == rings.crs
    # Square annuli: (2h)^2 - (2(h-1))^2 km2; outside_6 = 144 - 100.
    expected = [4.0, 12.0, 20.0, 28.0, 36.0, 44.0]
    np.testing.assert_allclose(zones.area.to_numpy() / KM**2, expected, rtol=1e-9)
    union = shapely.union_all(zones.geometry.values)
    assert union.area == pytest.approx(144 * KM**2)
    # No overlap: the areas add up to the area of the union.
    assert zones.area.sum() == pytest.approx(union.area)


def test_ring_zones_clipped_to_districts(rings: gpd.GeoDataFrame) -> None:
    # A study area smaller than ring 6: 5_6 is clipped, outside_6 is empty.
    small = gpd.GeoDataFrame(
        {"adcode": ["110001"]},
        geometry=[shapely.box(X0 - 4.5 * KM, Y0 - 4.5 * KM, X0 + 4.5 * KM, Y0 + 4.5 * KM)],
        crs=METRIC_CRS,
    )
    zones = ring_zones_from_rings(rings, small).set_index("ring_zone")
    assert zones.loc["5_6"].geometry.area == pytest.approx((81 - 64) * KM**2)
    assert zones.loc["outside_6"].geometry.is_empty


def test_ring_zones_from_split_lines_and_other_crs(
    rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    # Ring 4 given as two open halves (as in an OSM extract) and districts in WGS84.
    coords = np.asarray(square_ring(2).coords)
    halves = [shapely.LineString(coords[:3]), shapely.LineString(coords[2:])]
    split = gpd.GeoDataFrame(
        {"ring": [2, 3, 4, 4, 5, 6]},
        geometry=[square_ring(1), square_ring(1.5), *halves, square_ring(3), square_ring(5)],
        crs=METRIC_CRS,
    )
    zones = ring_zones_from_rings(split, districts.to_crs("EPSG:4326"))
    np.testing.assert_allclose(
        zones.area.to_numpy() / KM**2, [4.0, 5.0, 7.0, 20.0, 64.0, 44.0], rtol=1e-6
    )


def test_ring_zones_disjoint_even_if_rings_cross(districts: gpd.GeoDataFrame) -> None:
    # Ring 3 pokes out of ring 4 on the east: zones still do not overlap.
    crossing = gpd.GeoDataFrame(
        {"ring": [2, 3, 4, 5, 6]},
        geometry=[
            square_ring(1),
            shapely.LineString(shapely.box(X0 - 2 * KM, Y0 - 2 * KM, X0 + 3.5 * KM,
                                           Y0 + 2 * KM).exterior.coords),
            square_ring(3),
            square_ring(4),
            square_ring(5),
        ],
        crs=METRIC_CRS,
    )
    zones = ring_zones_from_rings(crossing, districts)
    union = shapely.union_all(zones.geometry.values)
    assert zones.area.sum() == pytest.approx(union.area)
    assert union.area == pytest.approx(144 * KM**2)


def test_ring_zones_of_any_rings(rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> None:
    # Without ring 4 the zone between rings 3 and 5 is one zone, 3_5.
    zones = ring_zones_from_rings(rings[rings["ring"] != 4], districts)
    assert list(zones["ring_zone"]) == ["inside_2", "2_3", "3_5", "5_6", "outside_6"]
    np.testing.assert_allclose(zones.area.to_numpy() / KM**2, [4.0, 12.0, 48.0, 36.0, 44.0])


def test_ring_zones_missing_column(rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> None:
    with pytest.raises(LayerError, match="column 'ring' is missing"):
        ring_zones_from_rings(rings.rename(columns={"ring": "name"}), districts)


def test_ring_zones_open_ring(rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> None:
    opened = rings.copy()
    coords = np.asarray(square_ring(2).coords)[:-1]  # drop the closing vertex
    opened.loc[opened["ring"] == 3, "geometry"] = shapely.LineString(coords)
    with pytest.raises(LayerError, match="ring 3: its lines do not enclose any area"):
        ring_zones_from_rings(opened, districts)


def test_ring_zones_needs_crs(rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> None:
    no_crs = gpd.GeoDataFrame(rings.drop(columns="geometry"), geometry=list(rings.geometry))
    with pytest.raises(LayerError, match="has no CRS"):
        ring_zones_from_rings(no_crs, districts)


@pytest.fixture
def features() -> gpd.GeoDataFrame:
    # Points along the x axis at 0.5, -1.5, 2.5, -3.5, 4.5, 5.5 km, one outside (9 km),
    # and a polygon straddling two districts whose representative point is in the east.
    xs = [0.5, -1.5, 2.5, -3.5, 4.5, 5.5, 9.0]
    geoms = [shapely.Point(X0 + x * KM, Y0) for x in xs]
    geoms.append(shapely.box(X0 - 0.2 * KM, Y0 + 2.2 * KM, X0 + 2.8 * KM, Y0 + 2.8 * KM))
    return gpd.GeoDataFrame(
        {"name": list("abcdefgh")}, geometry=geoms, crs=METRIC_CRS,
        index=[7, 7, 3, 2, 1, 0, 9, 8],  # non-unique, unsorted index is kept
    )


EXPECTED_ADCODE = ["110002", "110001", "110002", "110001", "110002", "110002", None, "110002"]
EXPECTED_RING = ["inside_2", "2_3", "3_4", "4_5", "5_6", "outside_6", None, "3_4"]


def test_label_features_known_answers(
    features: gpd.GeoDataFrame, rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    zones = ring_zones_from_rings(rings, districts)
    before = features.copy()
    out = label_features(features, gdf_districts=districts, gdf_ring_zones=zones)
    assert list(out["adcode"]) == EXPECTED_ADCODE
    assert list(out["ring_zone"]) == EXPECTED_RING
    assert out["adcode"].iloc[6] is None and out["ring_zone"].iloc[6] is None
    assert list(out.index) == list(features.index)
    assert list(out["name"]) == list("abcdefgh")
    # The input is not modified.
    assert "adcode" not in features.columns
    assert features.equals(before)


def test_label_features_in_wgs84(
    features: gpd.GeoDataFrame, rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    zones = ring_zones_from_rings(rings, districts)
    out = label_features(features.to_crs("EPSG:4326"), gdf_districts=districts,
                         gdf_ring_zones=zones)
    assert out.crs == "EPSG:4326"
    assert list(out["adcode"]) == EXPECTED_ADCODE
    assert list(out["ring_zone"]) == EXPECTED_RING


def test_label_features_boundary_takes_first(
    rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    zones = ring_zones_from_rings(rings, districts)
    on_border = gpd.GeoDataFrame(geometry=[shapely.Point(X0, Y0 + 5.5 * KM)], crs=METRIC_CRS)
    out = label_features(on_border, gdf_districts=districts, gdf_ring_zones=zones)
    assert out["adcode"].tolist() == ["110001"]
    out = label_features(on_border, gdf_districts=districts.iloc[::-1], gdf_ring_zones=zones)
    assert out["adcode"].tolist() == ["110002"]


def test_label_features_overwrites_and_empty(
    features: gpd.GeoDataFrame, rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    zones = ring_zones_from_rings(rings, districts)
    stale = features.assign(adcode="999999", ring_zone="nowhere")
    out = label_features(stale, gdf_districts=districts, gdf_ring_zones=zones)
    assert list(out["adcode"]) == EXPECTED_ADCODE
    empty = label_features(features.iloc[:0], gdf_districts=districts, gdf_ring_zones=zones)
    assert len(empty) == 0 and {"adcode", "ring_zone"} <= set(empty.columns)


def test_label_features_errors(
    features: gpd.GeoDataFrame, rings: gpd.GeoDataFrame, districts: gpd.GeoDataFrame
) -> None:
    zones = ring_zones_from_rings(rings, districts)
    with pytest.raises(LayerError, match="column 'adcode' is missing"):
        label_features(features, gdf_districts=districts.rename(columns={"adcode": "code"}),
                       gdf_ring_zones=zones)
    with pytest.raises(LayerError, match="column 'ring_zone' is missing"):
        label_features(features, gdf_districts=districts,
                       gdf_ring_zones=zones.rename(columns={"ring_zone": "z"}))
    no_crs = gpd.GeoDataFrame(geometry=list(features.geometry))
    with pytest.raises(LayerError, match="has no CRS") as info:
        label_features(no_crs, gdf_districts=districts, gdf_ring_zones=zones)
    assert info.value.layer == "features"
