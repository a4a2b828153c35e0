"""netplan.layers: reading every format, validation messages, load_study, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from netplan._errors import DataNotFoundError, LayerError, NetplanError
from netplan.cli import app
from netplan.study import coords
from netplan.study.layers import (
    infer_kind,
    load_study,
    resolve_district,
    to_metric,
    validate_files,
    write_layer,
)
from netplan.study.readers import read_layer
from netplan.study.schemas import SCHEMAS

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def problems_of(excinfo: pytest.ExceptionInfo[LayerError]) -> str:
    return "\n".join(excinfo.value.problems)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".parquet", ".csv"])
def test_round_trip_of_every_format(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame],
                                    suffix: str) -> None:
    branches = tiny["branches"]
    path = write_layer(branches, tmp_path / f"branches{suffix}", layer="branches")
    back = read_layer(path, "branches")
    assert back.crs == "EPSG:4326"
    assert back["branch_id"].tolist() == branches["branch_id"].tolist()
    assert back["counters"].dtype == np.int64
    assert back["format"].tolist() == branches["format"].tolist()
    np.testing.assert_allclose(
        shapely.get_coordinates(back.geometry.values),
        shapely.get_coordinates(branches.geometry.values), atol=1e-9,
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_round_trip_of_polygon_layers(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame],
                                      suffix: str) -> None:
    path = write_layer(tiny["zones"], tmp_path / f"zones{suffix}", layer="zones")
    back = read_layer(path, "zones")
    assert back["pop_2020"].tolist() == tiny["zones"]["pop_2020"].tolist()
    assert back["adcode"].tolist() == tiny["zones"]["adcode"].tolist()
    expected = tiny["zones"].geometry.normalize()
    assert back.geometry.normalize().geom_equals_exact(expected, tolerance=1e-9).all()


def test_write_layer_keeps_other_geopackage_layers_and_writes_wgs84(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    path = tmp_path / "study.gpkg"
    write_layer(tiny["districts"], path, layer="districts")
    write_layer(to_metric(tiny["branches"]), path, layer="branches")  # metric in, WGS84 out
    import pyogrio

    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["branches", "districts"]
    assert gpd.read_file(path, layer="branches").crs.to_epsg() == 4326
    back = read_layer(path, "branches")
    assert back.geometry.x.iloc[0] == pytest.approx(116.395, abs=1e-9)
    # rewriting a layer replaces it, only when asked
    with pytest.raises(NetplanError, match="already has a layer 'branches'; pass --force"):
        write_layer(tiny["branches"].iloc[:3], path, layer="branches")
    write_layer(tiny["branches"].iloc[:3], path, layer="branches", force=True)
    assert len(read_layer(path, "branches")) == 3
    assert len(read_layer(path, "districts")) == 2


def test_write_layer_turns_linear_rings_into_lines(tmp_path: Path) -> None:
    rings = gpd.GeoDataFrame({"ring": [2]}, geometry=[shapely.box(0, 0, 1, 1).exterior],
                             crs="EPSG:4326")
    path = write_layer(rings, tmp_path / "rings.gpkg", layer="ring_roads")
    assert gpd.read_file(path).geom_type.tolist() == ["LineString"]


def test_csv_with_other_coordinate_column_names(tmp_path: Path) -> None:
    path = tmp_path / "outlets.csv"
    path.write_text(
        "branch_id,format,counters,terminals,x,y\nB1,full,3,2,116.4,39.9\n", encoding="utf-8"
    )
    gdf = read_layer(path, "branches", lon_col="x", lat_col="y")
    assert gdf.geometry.iloc[0].equals(shapely.Point(116.4, 39.9))
    assert gdf["source"].tolist() == ["user"] and gdf["name"].tolist() == [""]


def test_csv_in_gbk_is_read(tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    path.write_bytes("branch_id,name,format,counters,terminals,lon,lat\n"
                     "B1,朝阳支行,full,3,2,116.4,39.9\n".encode("gbk"))
    assert read_layer(path, "branches")["name"].tolist() == ["朝阳支行"]


def test_safe_coercions(tmp_path: Path) -> None:
    path = tmp_path / "zones.geojson"
    gdf = gpd.GeoDataFrame(
        {
            "zone_id": [1.0, 2.0],  # ids as floats
            "adcode": [110105, 110105.0],  # adcode as numbers
            "pop_2010": [10.0, 20.0],  # int-like floats
            "pop_2020": ["15", " 25 "],  # numbers as text
        },
        geometry=[
            shapely.box(116.4, 39.9, 116.41, 39.91), shapely.box(116.41, 39.9, 116.42, 39.91)
        ],
        crs="EPSG:4326",
    )
    gdf.to_file(path, driver="GeoJSON")
    zones = read_layer(path, "zones")
    assert zones["zone_id"].tolist() == ["1", "2"]
    assert zones["adcode"].tolist() == ["110105", "110105"]
    assert zones["pop_2010"].dtype == np.int64 and zones["pop_2020"].tolist() == [15, 25]
    assert zones["inflow"].tolist() == [5, 5]


def test_gcj02_input_is_converted(tmp_path: Path) -> None:
    pairs = pd.read_csv(DATA / "metro_gcj02_wgs84_pairs.csv", dtype={"station_id": str})
    table = pd.DataFrame({
        "candidate_id": pairs["station_id"], "name": pairs["name_zh"], "kind": "metro",
        "lon": pairs["lon_gcj02"], "lat": pairs["lat_gcj02"],
    })
    path = tmp_path / "stations.csv"
    table.to_csv(path, index=False)
    gdf = read_layer(path, "candidates", coords="gcj02")
    assert gdf["candidate_id"].tolist() == pairs["station_id"].tolist()
    np.testing.assert_allclose(gdf.geometry.x, pairs["lon_wgs84"], atol=1e-6)
    np.testing.assert_allclose(gdf.geometry.y, pairs["lat_wgs84"], atol=1e-6)
    # BD-09 input: the same points expressed in BD-09 come back to WGS84 as well
    blon, blat = coords.gcj02_to_bd09(pairs["lon_gcj02"], pairs["lat_gcj02"])
    table["lon"], table["lat"] = blon, blat
    table.to_csv(path, index=False)
    gdf = read_layer(path, "candidates", coords="bd09")
    np.testing.assert_allclose(gdf.geometry.x, pairs["lon_wgs84"], atol=1e-6)


def test_projected_input_is_reprojected(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    path = tmp_path / "branches.parquet"
    to_metric(tiny["branches"]).to_parquet(path)
    gdf = read_layer(path, "branches")
    np.testing.assert_allclose(gdf.geometry.x, tiny["branches"].geometry.x, atol=1e-8)


def test_read_layer_picks_the_only_layer_of_a_geopackage(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    path = tmp_path / "mine.gpkg"
    tiny["branches"].to_file(path, layer="outlets", driver="GPKG")
    assert len(read_layer(path, "branches")) == 8
    assert len(read_layer(path, "branches", layer="outlets")) == 8


def test_ring_roads_length_is_filled_from_the_line(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    rings = tiny["ring_roads"][["ring", "geometry"]]
    path = tmp_path / "osm_rings.geojson"
    rings.to_file(path, driver="GeoJSON")
    gdf = read_layer(path, "ring_roads")
    # ring 2: a square of half-side 0.01° → perimeter ≈ 4 × (1.70 + 2.22) km
    assert gdf["length_km"].iloc[0] == pytest.approx(7.8, abs=0.2)
    assert gdf["source"].tolist() == ["user"] * 5


# --- every class of bad input ------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"branches layer file not found: .*nope\.gpkg"):
        read_layer(tmp_path / "nope.gpkg", "branches")


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"this is not a GeoPackage")
    with pytest.raises(NetplanError, match=r"cannot read .*broken\.gpkg as GeoPackage.*GeoJSON"):
        read_layer(path, "branches")
    path = tmp_path / "broken.geojson"
    path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(NetplanError, match=r"cannot read .*broken\.geojson as GeoJSON"):
        read_layer(path, "branches")
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 garbage")
    with pytest.raises(NetplanError, match=r"cannot read .*broken\.parquet as GeoParquet"):
        read_layer(path, "branches")


def test_unknown_format_and_kind(tmp_path: Path) -> None:
    path = tmp_path / "branches.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(NetplanError, match=r"unknown file type '\.xlsx'.*GeoPackage \(\.gpkg\)"):
        read_layer(path, "branches")
    with pytest.raises(NetplanError, match=r"unknown layer kind 'shops'.*branches"):
        read_layer(path, "shops")


def test_missing_geopackage_layer_lists_the_layers(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    path = tmp_path / "two.gpkg"
    tiny["branches"].to_file(path, layer="a", driver="GPKG")
    tiny["branches"].to_file(path, layer="b", driver="GPKG")
    with pytest.raises(NetplanError,
                       match=r"has no layer 'branches'; its layers are 'a', 'b'; .*--layer"):
        read_layer(path, "branches")


def test_missing_column(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    path = tmp_path / "branches.geojson"
    tiny["branches"].drop(columns=["counters"]).to_file(path, driver="GeoJSON")
    with pytest.raises(LayerError, match="layer 'branches'") as exc:
        read_layer(path, "branches")
    assert exc.value.problems == [
        "column 'counters': expected an integer column, found no such column (columns present: "
        "branch_id, name, format, terminals, source)"
    ]


def test_population_as_text_names_column_type_value_and_row(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    zones = tiny["zones"].astype({"pop_2020": object})
    zones.loc[2, "pop_2020"] = "many"
    path = tmp_path / "zones.gpkg"
    zones.to_file(path, layer="zones", driver="GPKG")
    with pytest.raises(LayerError) as exc:
        read_layer(path, "zones")
    assert problems_of(exc) == (
        "column 'pop_2020': expected integer in 0..2000000000, found text in 1 row: "
        "row 3 (zone_id 'z3') = 'many'"
    )


def test_duplicate_ids_are_named(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    branches = tiny["branches"]
    branches.loc[1, "branch_id"] = "b1"
    branches.loc[5, "branch_id"] = "b5"
    path = tmp_path / "branches.parquet"
    branches.to_parquet(path)
    with pytest.raises(LayerError) as exc:
        read_layer(path, "branches")
    assert problems_of(exc) == (
        "column 'branch_id': expected unique ids, found 2 duplicated ids: "
        "'b1' (rows 1, 2); 'b5' (rows 5, 6)"
    )


def test_invalid_empty_and_wrong_type_geometries(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    zones = tiny["zones"]
    bowtie = shapely.Polygon([(116.30, 39.85), (116.35, 39.90), (116.35, 39.85), (116.30, 39.90)])
    zones.loc[1, "geometry"] = bowtie
    zones.loc[3, "geometry"] = None
    zones.loc[4, "geometry"] = shapely.Point(116.42, 39.87)
    path = tmp_path / "zones.gpkg"
    zones.to_file(path, layer="zones", driver="GPKG")
    with pytest.raises(LayerError) as exc:
        read_layer(path, "zones")
    text = problems_of(exc)
    assert "expected Polygon or MultiPolygon, found no geometry (null or empty) in 1 row: " \
        "row 4 (zone_id 'z4')" in text
    assert "expected Polygon or MultiPolygon, found Point in 1 row: row 5 (zone_id 'z5')" in text
    assert "found 1 invalid one (repair with shapely.make_valid" in text
    assert "row 2 (zone_id 'z2') = 'Self-intersection" in text
    assert len(exc.value.problems) == 3


def test_missing_crs_says_how_to_fix(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    path = tmp_path / "branches.shp"
    tiny["branches"].to_file(path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(LayerError, match="branches") as exc:
        read_layer(path, "branches")
    assert "CRS: expected a coordinate reference system, found none" in problems_of(exc)
    assert "--crs EPSG:4326" in problems_of(exc) and ".set_crs" in problems_of(exc)
    # and the fix works
    assert len(read_layer(path, "branches", crs="EPSG:4326")) == 8
    # GeoParquet without CRS too
    pq = tmp_path / "branches.parquet"
    tiny["branches"].set_crs(None, allow_override=True).to_parquet(pq)
    with pytest.raises(LayerError, match="found none"):
        read_layer(pq, "branches")


def test_negative_and_missing_population(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    zones = tiny["zones"].astype({"pop_2010": float})
    zones.loc[0, "pop_2010"] = -5
    zones.loc[6, "pop_2010"] = np.nan
    zones = zones.drop(columns=["inflow"])
    path = tmp_path / "zones.geojson"
    zones.to_file(path, driver="GeoJSON")
    with pytest.raises(LayerError) as exc:
        read_layer(path, "zones")
    assert exc.value.problems == [
        "column 'pop_2010': expected integer in 0..2000000000, found missing values (empty or "
        "NaN) in 1 row: "
        "row 7 (zone_id 'z7')",
        "column 'pop_2010': expected integer in 0..2000000000, found values below 0 in 1 row: "
        "row 1 (zone_id 'z1') = -5",
    ]


def test_fractional_counters(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    branches = tiny["branches"].astype({"counters": float})
    branches.loc[0, "counters"] = 2.5
    branches.loc[1, "terminals"] = 0
    with pytest.raises(LayerError) as exc:
        read_layer(write_layer(branches, tmp_path / "b.gpkg", layer="branches"), "branches")
    assert exc.value.problems == [
        "column 'counters': expected integer in 1..1000, found fractions in 1 row: "
        "row 1 (branch_id 'b1') = 2.5",
        "column 'terminals': expected integer in 1..1000, found values below 1 in 1 row: "
        "row 2 (branch_id 'b2') = 0",
    ]


def test_coordinates_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    path.write_text(
        "branch_id,format,counters,terminals,lon,lat\n"
        "B1,full,3,2,116.4,39.9\n"
        "B2,full,3,2,200.0,39.9\n"
        "B3,full,3,2,39.9,116.4\n"
        "B4,full,3,2,east,39.9\n"
        "B5,full,3,2,,39.9\n",
        encoding="utf-8",
    )
    with pytest.raises(LayerError) as exc:
        read_layer(path, "branches")
    assert exc.value.problems == [
        "column 'lon': expected number, found text in 1 row: row 4 (branch_id 'B4') = 'east'",
        "column 'lon': expected number, found missing values (empty or NaN) in 1 row: "
        "row 5 (branch_id 'B5')",
        "geometry: expected Point, found no geometry (null or empty) in 2 rows: "
        "row 4 (branch_id 'B4'), row 5 (branch_id 'B5')",
        "coordinates: expected longitude in [-180, 180], found 1 row outside it: "
        "row 2 (branch_id 'B2') = 200.0",
        "coordinates: expected latitude in [-90, 90], found 1 row outside it "
        "(are longitude and latitude swapped?): row 3 (branch_id 'B3') = 116.4",
    ]


def test_features_outside_the_study_area_are_named(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    branches = tiny["branches"]
    branches.loc[2, "geometry"] = shapely.Point(117.5, 40.5)
    path = tmp_path / "branches.gpkg"
    branches.to_file(path, layer="branches", driver="GPKG")
    area = shapely.union_all(tiny["districts"].geometry.values)
    with pytest.raises(LayerError) as exc:
        read_layer(path, "branches", study_area=area)
    assert problems_of(exc).startswith(
        "study area: expected every feature inside the study area (the union of the districts), "
        "found 1 feature that lies outside it (lon, lat): row 3 (branch_id 'b3') at "
        "(117.500000, 40.500000)"
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "branches.csv"
    path.write_text(
        "branch_id,format,counters,lon,lat\n"
        "B1,full,three,116.4,39.9\n"
        "B1,full,2,116.4,95\n",
        encoding="utf-8",
    )
    with pytest.raises(LayerError, match=r"layer 'branches' \(.*branches\.csv\) has 4 problems"):
        read_layer(path, "branches")


def test_gcj02_for_a_projected_file_is_a_problem(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    path = tmp_path / "branches.gpkg"
    to_metric(tiny["branches"]).to_file(path, layer="branches", driver="GPKG")
    with pytest.raises(LayerError, match="coords='gcj02' applies to longitude/latitude only"):
        read_layer(path, "branches", coords="gcj02")
    with pytest.raises(NetplanError, match="unknown coordinate system 'mars'"):
        read_layer(path, "branches", coords="mars")


def test_csv_cannot_hold_polygons(tmp_path: Path) -> None:
    path = tmp_path / "zones.csv"
    path.write_text("zone_id,pop_2010,pop_2020,lon,lat\nz1,1,2,116.4,39.9\n", encoding="utf-8")
    with pytest.raises(LayerError, match=r"only point layers.*Polygon or MultiPolygon"):
        read_layer(path, "zones")


def test_ring_roads_must_close_and_be_complete(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    rings = tiny["ring_roads"].iloc[:4].copy()  # no 6th ring
    rings.loc[0, "geometry"] = shapely.LineString(
        [(116.39, 39.89), (116.41, 39.89), (116.41, 39.91)]
    )
    path = tmp_path / "ring_roads.geojson"
    rings.to_file(path, driver="GeoJSON")
    with pytest.raises(LayerError) as exc:
        read_layer(path, "ring_roads")
    # any ring numbers are fine (issue 14): no 6th ring is no problem
    assert exc.value.problems == [
        "geometry: expected ring 2 to be a closed line (or lines that together close a loop), "
        "found lines that enclose no area: row 1 (ring 2)",
    ]


def test_inconsistent_inflow(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    zones = tiny["zones"]
    zones.loc[0, "inflow"] = 7
    path = write_layer(zones, tmp_path / "zones.gpkg", layer="zones")
    with pytest.raises(LayerError, match=r"'inflow': expected pop_2020 - pop_2010.*row 1 .* = 7"):
        read_layer(path, "zones")


def test_schema_table_covers_every_kind() -> None:
    assert set(SCHEMAS) == {"districts", "ring_roads", "ring_zones", "zones", "branches",
                            "candidates"}
    assert SCHEMAS["branches"].id.name == "branch_id" and SCHEMAS["branches"].points
    assert "pop_2020 (int, a census: the years the scenario uses)" in SCHEMAS["zones"].describe()


# --- load_study ----------------------------------------------------------------------------


def test_load_study_labels_and_reprojects(tiny_gpkg: Path, tiny_expected: dict[str, Any]
                                          ) -> None:
    study = load_study(tiny_gpkg)
    for gdf in (study.districts, study.ring_roads, study.ring_zones, study.zones,
                study.branches, study.candidates):
        assert gdf.crs.to_epsg() == 32650
    labels = list(zip(study.branches["branch_id"], study.branches["adcode"],
                      study.branches["ring_zone"], strict=True))
    assert labels == tiny_expected["branch_labels"]
    assert study.zones["ring_zone"].tolist() == tiny_expected["zone_ring_zones"]
    assert study.candidates["adcode"].tolist() == ["110105", "110101"]
    assert study.ring_zones["ring_zone"].tolist()[0] == "inside_2"
    assert study.layer_sources["ring_zones"] == "derived from ring_roads"
    assert str(tiny_gpkg) in study.source


def test_load_study_override_replaces_a_layer(
    tmp_path: Path, tiny_gpkg: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    # the user's rings: the 2nd ring twice as large, so b3 (0.015° from the centre) is inside
    rings = tiny["ring_roads"][["ring", "geometry"]].copy()
    rings.loc[0, "geometry"] = shapely.LineString(
        shapely.box(116.38, 39.88, 116.42, 39.92).exterior.coords
    )
    rings = rings.iloc[[0, 1, 2, 3, 4]]
    path = tmp_path / "osm_rings.geojson"
    rings.to_file(path, driver="GeoJSON")
    study = load_study(tiny_gpkg, overrides={"ring_roads": path})
    zones = dict(zip(study.branches["branch_id"], study.branches["ring_zone"], strict=True))
    assert zones["b3"] == "inside_2"
    assert f"ring_roads from {path}" in study.source


def test_load_study_gcj02_override(tmp_path: Path, tiny_gpkg: Path,
                                   tiny: dict[str, gpd.GeoDataFrame]) -> None:
    b = tiny["branches"]
    lon, lat = coords.wgs84_to_gcj02(b.geometry.x, b.geometry.y)
    table = pd.DataFrame(b.drop(columns="geometry"))
    table["lon"], table["lat"] = lon, lat
    path = tmp_path / "amap_outlets.csv"
    table.to_csv(path, index=False)
    study = load_study(tiny_gpkg, overrides={"branches": path}, coords="gcj02")
    assert study.branches["ring_zone"].tolist() == load_study(tiny_gpkg).branches[
        "ring_zone"].tolist()


def test_load_study_reports_problems_of_every_layer(
    tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]
) -> None:
    path = tmp_path / "bad.gpkg"
    layers = dict(tiny)
    layers["branches"].loc[0, "geometry"] = shapely.Point(118.0, 41.0)  # outside
    layers["zones"].loc[0, "pop_2020"] = -1
    for kind, gdf in layers.items():
        gdf.to_file(path, layer=kind, driver="GPKG")
    with pytest.raises(LayerError, match="layer 'study'") as exc:
        load_study(path)
    text = problems_of(exc)
    assert "zones: column 'pop_2020': expected integer in 0..2000000000, found values below " \
        "0" in text
    assert "branches: study area: expected every feature inside the study area" in text
    assert "row 1 (branch_id 'b1') at (118.000000, 41.000000)" in text


def test_load_study_missing_layer_and_file(tmp_path: Path,
                                           tiny: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(DataNotFoundError, match="study GeoPackage not found"):
        load_study(tmp_path / "none.gpkg")
    path = tmp_path / "partial.gpkg"
    for kind in ("districts", "ring_roads", "zones", "branches"):
        tiny[kind].to_file(path, layer=kind, driver="GPKG")
    with pytest.raises(LayerError, match=r"(?s)layer 'candidates'.*layer missing from"):
        load_study(path)
    with pytest.raises(NetplanError, match=r"cannot override layer.*shops"):
        load_study(path, overrides={"shops": path})


# --- resolve_district ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["110105", "朝阳区", "朝阳", "chaoyang", "Chaoyang", "CHAOYANG DISTRICT",
             " Chaoyang District ", "chao-yang"],
)
def test_resolve_district(tiny: dict[str, gpd.GeoDataFrame], name: str) -> None:
    assert resolve_district(name, tiny["districts"]) == "110105"


def test_resolve_district_unknown_lists_valid_names(tiny: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(NetplanError, match=r"district 'Haidian' matches no district; .*"
                       r"110101 东城区 \(Dongcheng District\); 110105 朝阳区"):
        resolve_district("Haidian", tiny["districts"])


# --- validate_files and the CLI --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("branches.csv", "branches"), ("my-outlets.geojson", "branches"),
     ("beijing_ring_roads.shp", "ring_roads"), ("osm_rings.gpkg", "ring_roads"),
     ("ring_zones.parquet", "ring_zones"), ("beijing_districts_wgs84.geojson", "districts"),
     ("stations.csv", None), ("zones_and_branches.gpkg", None)],
)
def test_infer_kind(name: str, kind: str | None) -> None:
    assert infer_kind(name) == kind


def test_validate_files_whole_geopackage(tiny_gpkg: Path) -> None:
    reports = validate_files([tiny_gpkg])
    assert [(r.layer, r.kind, r.n_features, r.ok) for r in reports] == [
        ("districts", "districts", 2, True), ("ring_roads", "ring_roads", 5, True),
        ("zones", "zones", 8, True), ("branches", "branches", 8, True),
        ("candidates", "candidates", 2, True),
    ]


def test_cli_validate_ok_and_problems(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    good = write_layer(tiny["branches"], tmp_path / "branches.geojson", layer="branches")
    bad = tmp_path / "outlets.csv"
    bad.write_text("branch_id,format,counters,terminals,lon,lat\nB1,full,x,2,116.4,39.9\n"
                   "B1,full,1,2,116.4,39.9\n", encoding="utf-8")
    result = runner.invoke(app, ["layers", "validate", str(good)])
    assert result.exit_code == 0, result.output
    assert f"OK {good}: 8 features" in result.output
    result = runner.invoke(app, ["layers", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"OK {good}: 8 features" in result.output
    assert "FAIL" in result.output and "(branches): 2 problems" in result.output
    assert "column 'counters': expected integer in 1..1000, found text in 1 row: row 1 " \
        "(branch_id 'B1') = 'x'" in result.output
    assert "expected unique ids, found 1 duplicated id: 'B1' (rows 1, 2)" in result.output


def test_cli_validate_kind_options(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    path = write_layer(tiny["candidates"], tmp_path / "stations.geojson", layer="c")
    result = runner.invoke(app, ["layers", "validate", str(path)])
    assert result.exit_code == 1
    assert "cannot tell the layer kind from the file name 'stations.geojson'; pass --kind" in \
        result.output
    result = runner.invoke(app, ["layers", "validate", str(path), "--kind", "candidates"])
    assert result.exit_code == 0 and "OK" in result.output
    result = runner.invoke(app, ["layers", "validate", str(path), "--kind", "shops"])
    assert isinstance(result.exception, NetplanError)
    gpkg = tmp_path / "mine.gpkg"
    tiny["districts"].to_file(gpkg, layer="districts", driver="GPKG")
    tiny["branches"].to_file(gpkg, layer="my outlets", driver="GPKG")
    tiny["branches"].to_file(gpkg, layer="notes", driver="GPKG")
    result = runner.invoke(app, ["layers", "validate", str(gpkg)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "[my outlets]: 8 features" in result.output
    assert "SKIP" in result.output and "[notes]" in result.output
    result = runner.invoke(app, ["layers", "validate", str(gpkg), "--layer", "notes", "--kind",
                                 "branches", "--within", str(gpkg)])
    assert result.exit_code == 0, result.output


def test_cli_validate_within_and_coords(tmp_path: Path, tiny: dict[str, gpd.GeoDataFrame]) -> None:
    districts = write_layer(tiny["districts"], tmp_path / "districts.geojson", layer="d")
    b = tiny["branches"]
    lon, lat = coords.wgs84_to_gcj02(b.geometry.x, b.geometry.y)
    table = pd.DataFrame(b.drop(columns="geometry"))
    table["lon"], table["lat"] = lon, lat
    table.loc[7, "lon"] = 116.2  # west of the study area
    path = tmp_path / "branches.csv"
    table.to_csv(path, index=False)
    result = runner.invoke(app, ["layers", "validate", str(path), "--coords", "gcj02",
                                 "--within", str(districts)])
    assert result.exit_code == 1
    assert "1 feature that lies outside it" in result.output and "row 8 (branch_id 'b8')" in \
        result.output


def test_python_m_netplan_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "branches.csv"
    bad.write_text("branch_id,format,counters,terminals,lon,lat\nB1,full,1,2,116.4,99\n",
                   encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "netplan", "layers", "validate", str(bad)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "expected latitude in [-90, 90]" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "netplan", "summary", "--data", str(tmp_path / "none.gpkg")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "study GeoPackage not found" in proc.stderr
