"""The study manifest (study.toml): parsing, column and value mapping, loading, building.

``foreign_study`` writes the tiny study (conftest) the way another city's systems export
it: branches as a GCJ-02 CSV with Chinese headers and Chinese format words, zones as a
projected GeoPackage (UTM 50N) under another layer name, districts as WGS84 GeoJSON with
``name``, ring roads as a Shapefile in CGCS2000 Gauss-Krüger (EPSG:4548), candidates as
GeoParquet. Two extra branches (b9, b10) stand within 300 m west of the district border,
so that a forgotten GCJ-02 conversion moves them across it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import TINY, tiny_layers

from netplan._errors import LayerError, NetplanError
from netplan.study.coords import wgs84_to_gcj02
from netplan.study.layers import STUDY_META, load_study, read_study_meta
from netplan.study.manifest import ManifestError, read_manifest
from netplan.study.readers import read_layer

FORMAT_WORDS = {"full": "综合网点", "light": "轻型网点"}
EXTRA_BRANCHES = [("b9", 116.397, 39.930), ("b10", 116.398, 39.860)]  # 东城区, near 116.40

MANIFEST = """\
name = "小城 Tiny"
crs = "auto"

[branches]
path = "branches_gcj02.csv"
coords = "gcj02"
lon = "经度"
lat = "纬度"
values.format = { "综合网点" = "full", "轻型网点" = "light" }
[branches.columns]  # a table works as well as the inline { ... } of the issue
branch_id = "网点编号"
name = "网点名称"
format = "网点类型"
counters = "柜台数"
terminals = "智能终端数"
district = "所属区县"

[zones]
path = "grid_utm50n.gpkg"
layer = "grid"

[districts]
path = "districts_wgs84.geojson"
columns = { name_zh = "name" }

[ring_roads]
path = "rings_cgcs2000.shp"

[candidates]
path = "metro.parquet"
"""


def branches_table(layers: dict[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """The branches as an Amap export: GCJ-02 lon/lat, Chinese headers and format words."""
    b = layers["branches"]
    lon = np.r_[b.geometry.x.to_numpy(), [x for _, x, _ in EXTRA_BRANCHES]]
    lat = np.r_[b.geometry.y.to_numpy(), [y for _, _, y in EXTRA_BRANCHES]]
    glon, glat = wgs84_to_gcj02(lon, lat)
    ids = [*b["branch_id"], *(i for i, _, _ in EXTRA_BRANCHES)]
    fmts = [*b["format"], "full", "full"]
    district = {r[0]: ("东城区" if r[4] == "110101" else "朝阳区") for r in TINY_BRANCHES}
    return pd.DataFrame({
        "网点编号": ids,
        "网点名称": [f"{i}支行" for i in ids],
        "所属区县": [district.get(i, "东城区") for i in ids],
        "网点类型": [FORMAT_WORDS[f] for f in fmts],
        "柜台数": [4 if f == "full" else 1 for f in fmts],
        "智能终端数": 2,
        "经度": np.round(glon, 7),
        "纬度": np.round(glat, 7),
    })


TINY_BRANCHES = [(b[0], None, None, None, b[1]) for b in TINY["branch_labels"]]


def foreign_study(folder: Path, manifest: str = MANIFEST) -> Path:
    """Write the tiny study in foreign formats and its manifest; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    layers = tiny_layers()
    branches_table(layers).to_csv(folder / "branches_gcj02.csv", index=False)
    layers["zones"].drop(columns=["adcode", "inflow"]).to_crs("EPSG:32650").to_file(
        folder / "grid_utm50n.gpkg", layer="grid", driver="GPKG", engine="pyogrio")
    layers["districts"].rename(columns={"name_zh": "name"})[
        ["adcode", "name", "pop_2010", "pop_2020", "geometry"]].to_file(
        folder / "districts_wgs84.geojson", driver="GeoJSON", engine="pyogrio")
    layers["ring_roads"][["ring", "name_zh", "geometry"]].to_crs("EPSG:4548").to_file(
        folder / "rings_cgcs2000.shp", engine="pyogrio", encoding="UTF-8")
    layers["candidates"].to_parquet(folder / "metro.parquet", index=False)
    path = folder / "study.toml"
    path.write_text(manifest, encoding="utf-8")
    return path


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """The manifest of the tiny study in foreign formats."""
    return foreign_study(tmp_path / "city")


# --- parsing -------------------------------------------------------------------------------


def test_manifest_parses_every_key(foreign: Path) -> None:
    m = read_manifest(foreign)
    assert m.name == "小城 Tiny" and m.crs == "auto"
    b = m.layers["branches"]
    assert b.path == foreign.parent / "branches_gcj02.csv" and b.coords == "gcj02"
    assert (b.lon, b.lat) == ("经度", "纬度")
    assert b.columns["counters"] == "柜台数" and b.values["format"]["轻型网点"] == "light"
    assert m.layers["zones"].layer == "grid"
    assert set(m.layers) == {"branches", "zones", "districts", "ring_roads", "candidates"}


@pytest.mark.parametrize(("text", "message"), [
    ("name = 1\n", r"name: expected the study's name as text"),
    ("colour = 1\n", r"unknown key\(s\) 'colour'; a manifest holds name, crs"),
    ("", r"missing table\(s\) \[districts\], \[zones\], \[branches\]"),
    ('[branches]\npath = "nope.csv"\n', r"\[branches\] path: file not found: .*nope.csv; the "
                                        r"path is relative to the manifest's folder"),
    ('[branches]\ncoords = "gcj-2"\n', r"\[branches\] coords: expected one of wgs84, gcj02, bd09"),
    ('[branches]\ncolumns = { counter = "柜台" }\n',
     r"'counter' is not a column of branches; the keys are netplan's names"),
    ('[branches]\ncolumns = { name = "x", format = "x" }\n',
     r"header\(s\) 'x' are mapped to more than one column"),
    ('[branches]\nvalues.format = "full"\n', r"values.format: expected \{ \"your value\""),
    ('[branches]\nlayer = 3\n', r"\[branches\] layer: expected text"),
    ("[branches\n", r"not valid TOML"),
])
def test_manifest_problems_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_manifest_lists_every_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text('crs = 4\n[branches]\ncoords = "x"\n', encoding="utf-8")
    with pytest.raises(ManifestError) as exc:
        read_manifest(path)
    assert len(exc.value.problems) == 4  # crs, missing tables, no path, coords


# --- mapping -------------------------------------------------------------------------------


def test_columns_and_values_are_mapped(foreign: Path) -> None:
    spec = read_manifest(foreign).layers["branches"]
    gdf = read_layer(spec.path, "branches", coords="gcj02", lon_col="经度", lat_col="纬度",
                     columns=spec.columns, values=spec.values)
    assert list(gdf["branch_id"][:2]) == ["b1", "b2"]
    assert list(gdf["format"][:2]) == ["full", "light"]
    assert gdf["district"][0] == "东城区"
    # GCJ-02 converted back to the WGS84 points written (1e-7° rounding of the CSV)
    assert abs(gdf.geometry.x[0] - 116.395) < 1e-6 and abs(gdf.geometry.y[0] - 39.905) < 1e-6


def test_mapping_names_a_missing_header(foreign: Path) -> None:
    spec = read_manifest(foreign).layers["branches"]
    cols = {**spec.columns, "counters": "柜台"}
    with pytest.raises(LayerError, match=r"columns.counters = '柜台' name\(s\) no column of the "
                                         r"file \(its columns: 网点编号, .*fix the header"):
        read_layer(spec.path, "branches", lon_col="经度", lat_col="纬度", columns=cols)


# --- loading and building ----------------------------------------------------------------


def test_load_study_reads_a_manifest_of_foreign_files(foreign: Path) -> None:
    study = load_study(foreign)
    assert study.name == "小城 Tiny" and study.crs == "EPSG:32650"  # auto: UTM 50N at 116.4°E
    assert all(g.crs == "EPSG:32650" for g in (study.zones, study.branches, study.ring_roads))
    labels = {r.branch_id: (r.adcode, r.ring_zone) for r in study.branches.itertuples()}
    for bid, adcode, ring_zone in TINY["branch_labels"]:
        assert labels[bid] == (adcode, ring_zone)
    assert len(study.zones) == len(TINY["zone_ring_zones"]) and len(study.candidates) == 2
    assert study.layer_sources["zones"].endswith("grid_utm50n.gpkg")


def test_manifest_crs_names_the_metric_crs(tmp_path: Path) -> None:
    path = foreign_study(tmp_path, MANIFEST.replace('crs = "auto"', 'crs = "EPSG:4548"'))
    assert load_study(path).crs == "EPSG:4548"
    path.write_text(MANIFEST.replace('crs = "auto"', 'crs = "EPSG:4326"'), encoding="utf-8")
    with pytest.raises(NetplanError, match=r"not a projected CRS in metres.*crs = \"auto\""):
        load_study(path)


def test_build_freezes_the_study_with_its_name_and_crs(foreign: Path, tmp_path: Path) -> None:
    from netplan.study.build import build_study

    out = tmp_path / "tiny.gpkg"
    build_study(foreign, out)
    assert read_study_meta(out) == ("小城 Tiny", "EPSG:32650")
    again = load_study(out)
    first = load_study(foreign)
    assert again.name == first.name and again.crs == first.crs
    assert list(again.branches["format"]) == list(first.branches["format"])
    assert np.allclose(shapely.get_coordinates(again.branches.geometry.values),
                       shapely.get_coordinates(first.branches.geometry.values), atol=1e-3)
    assert STUDY_META not in {k for k in again.layer_sources}
    before = out.read_bytes()
    with pytest.raises(NetplanError, match="exists and netplan does not replace"):
        build_study(foreign, out)
    assert out.read_bytes() == before
    with pytest.raises(NetplanError, match=r"ending in \.gpkg"):
        build_study(foreign, tmp_path / "tiny.sqlite")
    assert not (tmp_path / "tiny.sqlite").exists()


def test_a_plain_geopackage_gets_its_stem_and_auto_crs(tiny_gpkg: Path) -> None:
    study = load_study(tiny_gpkg)
    assert (study.name, study.crs) == ("tiny", "EPSG:32650")


@pytest.mark.slow
def test_a_manifest_without_rings_or_candidates(tmp_path: Path) -> None:
    text = MANIFEST.split("[ring_roads]")[0]  # no [ring_roads], no [candidates]
    path = foreign_study(tmp_path / "city", text)
    study = load_study(path)
    assert study.ring_roads.empty and study.candidates.empty
    assert len(study.ring_zones) == 1 and study.branches["ring_zone"].nunique() == 1
    assert study.layer_sources["candidates"] == "none (not in the manifest)"
    from netplan.study.build import build_study

    again = load_study(build_study(path, tmp_path / "built.gpkg"))
    assert again.ring_roads.empty and again.candidates.empty and len(again.branches) == 10


def test_a_study_folder_means_its_manifest(foreign: Path) -> None:
    from netplan.study.layers import study_files

    assert load_study(foreign.parent).name == "小城 Tiny"
    files = study_files(foreign.parent)
    assert foreign in files and foreign.parent / "metro.parquet" in files
