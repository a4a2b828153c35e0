"""The embedded Beijing dataset netplan/data/beijing.gpkg: the figures it promises.

Reads the GeoPackage directly (geopandas/pyogrio), not through netplan.layers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from scipy.spatial import cKDTree

from netplan.study.crs import BEIJING_CRS as METRIC_CRS
from netplan.study.geometry import RING_ZONES, label_features, outside_ring_mask

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "data" / "build_beijing.py"
GPKG = REPO / "netplan" / "data" / "beijing.gpkg"
LAYERS = ("districts", "ring_roads", "ring_zones", "zones", "branches", "candidates")
COLUMNS = {
    "districts": ["adcode", "name_zh", "name_pinyin", "name_en", "zone", "pop_2010", "pop_2020"],
    "ring_roads": ["ring", "name_zh", "name_en", "length_km_published", "length_km", "source"],
    "ring_zones": ["ring_zone"],
    "zones": ["zone_id", "adcode", "pop_2010", "pop_2020", "inflow"],
    "branches": ["branch_id", "name", "format", "counters", "terminals", "source"],
    "candidates": ["candidate_id", "name", "kind"],
}
CENSUS_2010 = 19_612_368
CENSUS_2020 = 21_893_095
INFLOW_DISTRICTS = ["110111", "110112", "110113", "110114", "110115"]


@pytest.fixture(scope="module")
def raw() -> dict[str, gpd.GeoDataFrame]:
    """The layers as stored (WGS84)."""
    return {name: gpd.read_file(GPKG, layer=name) for name in LAYERS}


@pytest.fixture(scope="module")
def metric(raw: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """The layers in the metric CRS; zones, branches and candidates labelled."""
    out = {k: v.to_crs(METRIC_CRS) for k, v in raw.items()}
    for k in ("zones", "branches", "candidates"):
        out[k] = label_features(
            out[k].rename(columns={"adcode": "adcode_stored"}),
            gdf_districts=out["districts"],
            gdf_ring_zones=out["ring_zones"],
        )
    return out


def test_layers_columns_and_crs(raw: dict[str, gpd.GeoDataFrame]) -> None:
    assert sorted(pyogrio.list_layers(GPKG)[:, 0]) == sorted(LAYERS)
    for name, gdf in raw.items():
        assert gdf.crs is not None and gdf.crs.to_epsg() == 4326, name
        assert list(gdf.columns) == [*COLUMNS[name], "geometry"], name
        assert gdf.geometry.is_valid.all(), name
    assert GPKG.stat().st_size < 8e6


def test_districts_census(raw: dict[str, gpd.GeoDataFrame]) -> None:
    d = raw["districts"]
    assert len(d) == 16 and d["adcode"].is_unique
    assert d["adcode"].str.fullmatch(r"1101\d\d").all()
    assert int(d["pop_2010"].sum()) == CENSUS_2010
    assert int(d["pop_2020"].sum()) == CENSUS_2020
    assert set(d["zone"]) == {"core", "central", "outer"}
    area_km2 = d.to_crs(METRIC_CRS).area.sum() / 1e6
    assert area_km2 == pytest.approx(16_406, rel=0.01)


def test_ring_lengths(metric: dict[str, gpd.GeoDataFrame]) -> None:
    r = metric["ring_roads"].sort_values("ring")
    assert r["ring"].tolist() == [2, 3, 4, 5, 6]
    drawn_km = r.length.to_numpy() / 1000
    np.testing.assert_allclose(drawn_km, r["length_km_published"], rtol=0.03)
    np.testing.assert_allclose(drawn_km, r["length_km"], atol=0.01)
    np.testing.assert_allclose(r["length_km_published"], [32.7, 48.3, 65.3, 98.58, 187.6])
    assert r["source"].str.contains("schematic").all()


def test_rings_closed_nested_not_crossing(metric: dict[str, gpd.GeoDataFrame]) -> None:
    lines = metric["ring_roads"].sort_values("ring").geometry.tolist()
    assert all(g.geom_type == "LineString" and g.is_closed and g.is_simple for g in lines)
    polys = [shapely.Polygon(g.coords) for g in lines]
    for inner, outer, a, b in zip(polys, polys[1:], lines, lines[1:], strict=False):
        assert inner.within(outer)
        assert not a.intersects(b)


def test_ring_zones_cover_beijing_without_overlap(metric: dict[str, gpd.GeoDataFrame]) -> None:
    rz = metric["ring_zones"]
    assert rz["ring_zone"].tolist() == list(RING_ZONES)
    beijing = shapely.union_all(metric["districts"].geometry.values)
    union = shapely.union_all(rz.geometry.values)
    assert union.area == pytest.approx(beijing.area, rel=1e-6)
    assert rz.area.sum() == pytest.approx(union.area, rel=1e-6)  # no overlap
    assert shapely.symmetric_difference(union, beijing).area < 1e-6 * beijing.area


def test_zone_sums_match_census_exactly(raw: dict[str, gpd.GeoDataFrame]) -> None:
    z, d = raw["zones"], raw["districts"].set_index("adcode")
    assert z["zone_id"].is_unique and z["zone_id"].str.fullmatch(r"Z\d{6}").all()
    assert (z["pop_2010"] >= 0).all() and (z["pop_2020"] >= 0).all()
    assert ((z["pop_2010"] > 0) | (z["pop_2020"] > 0)).all()
    assert (z["inflow"] == z["pop_2020"] - z["pop_2010"]).all()
    sums = z.groupby("adcode")[["pop_2010", "pop_2020"]].sum()
    pd.testing.assert_frame_equal(
        sums.sort_index(), d[["pop_2010", "pop_2020"]].sort_index(), check_names=False
    )
    assert int(z["pop_2010"].sum()) == CENSUS_2010
    assert int(z["pop_2020"].sum()) == CENSUS_2020


def test_zones_are_km_cells_in_their_district(metric: dict[str, gpd.GeoDataFrame]) -> None:
    z = metric["zones"]
    np.testing.assert_allclose(z.area.to_numpy(), 1e6, rtol=1e-3)
    # The stored district is the one containing the cell's centre.
    assert (z["adcode"] == z["adcode_stored"]).all()


def test_population_is_dasymetric(metric: dict[str, gpd.GeoDataFrame]) -> None:
    z = metric["zones"]
    # Dense centre, near-empty mountains: inside the 2nd ring cells are far denser.
    mean_by_ring = z.groupby("ring_zone")["pop_2020"].mean()
    assert mean_by_ring["inside_2"] > 10 * mean_by_ring["outside_6"]
    # The old city lost residents, the inflow districts gained.
    assert z.loc[z["ring_zone"] == "inside_2", "inflow"].sum() < 0
    assert z.loc[z["adcode"].isin(INFLOW_DISTRICTS), "inflow"].sum() > 2_500_000


def test_branches_counts_and_formats(raw: dict[str, gpd.GeoDataFrame]) -> None:
    b = raw["branches"]
    assert len(b) == 562
    assert (b["format"] == "light").sum() == 70 and (b["format"] == "full").sum() == 492
    assert b["branch_id"].tolist() == [f"B{i:04d}" for i in range(1, 563)]
    assert (b["source"] == "modelled").all()
    assert b["name"].str.match(r"Branch \d{4} [A-Za-z]+").all()
    full, light = b[b["format"] == "full"], b[b["format"] == "light"]
    assert full["counters"].between(4, 7).mean() > 0.8
    assert full["terminals"].between(3, 6).all()
    assert light["counters"].between(1, 2).all() and light["terminals"].between(3, 6).all()
    assert (b["counters"] >= 1).all() and (b["terminals"] >= 1).all()


def test_branches_placement(metric: dict[str, gpd.GeoDataFrame]) -> None:
    b = metric["branches"]
    assert b["adcode"].notna().all()  # never outside Beijing
    xy = np.column_stack([b.geometry.x, b.geometry.y])
    nearest, _ = cKDTree(xy).query(xy, k=2)
    assert nearest[:, 1].min() >= 140.0
    share = outside_ring_mask(b["ring_zone"], 5).mean()
    assert 0.28 <= share <= 0.36


def test_branches_tell_the_before_story(metric: dict[str, gpd.GeoDataFrame]) -> None:
    b, z = metric["branches"], metric["zones"]
    avg = CENSUS_2020 / len(b)
    old_pop = z.loc[z["ring_zone"] == "inside_2", "pop_2020"].sum()
    old = old_pop / (b["ring_zone"] == "inside_2").sum()
    assert old < 0.5 * avg  # the old city is over-served
    per_district = z.groupby("adcode")["pop_2020"].sum() / b.groupby("adcode").size()
    assert (per_district[INFLOW_DISTRICTS] > 1.5 * avg).all()  # the fringe is under-served
    inflow_total = z.loc[z["adcode"].isin(INFLOW_DISTRICTS), "pop_2020"].sum()
    assert inflow_total / b["adcode"].isin(INFLOW_DISTRICTS).sum() > 1.5 * avg


def test_candidates(metric: dict[str, gpd.GeoDataFrame]) -> None:
    c, b = metric["candidates"], metric["branches"]
    assert c["candidate_id"].is_unique
    assert set(c["kind"]) == {"metro", "cluster"}
    metro, cluster = c[c["kind"] == "metro"], c[c["kind"] == "cluster"]
    assert metro["candidate_id"].str.fullmatch(r"M\d{3}").all()
    assert cluster["candidate_id"].str.fullmatch(r"C\d{3}").all()
    assert 300 <= len(metro) <= 410
    assert 100 <= len(cluster) <= 200
    assert c["adcode"].notna().all()
    # Clusters sit where the network is thin: mostly outside the 5th ring.
    assert outside_ring_mask(cluster["ring_zone"], 5).mean() > 0.6
    xy = np.column_stack([c.geometry.x, c.geometry.y])
    assert cKDTree(xy).query(xy, k=2)[0][:, 1].min() >= 95.0
    bxy = np.column_stack([b.geometry.x, b.geometry.y])
    assert cKDTree(bxy).query(xy)[0].min() >= 95.0


def test_rebuild_reproduces_the_committed_file(
    raw: dict[str, gpd.GeoDataFrame], tmp_path: Path
) -> None:
    """Deterministic build: rebuilding gives the committed layers (and the same bytes)."""
    out = tmp_path / "beijing.gpkg"
    subprocess.run(
        [sys.executable, str(BUILD), "--out", str(out), "--quiet"],
        check=True,
        timeout=300,
    )
    for name in LAYERS:
        new = gpd.read_file(out, layer=name)
        pd.testing.assert_frame_equal(
            pd.DataFrame(new.drop(columns="geometry")),
            pd.DataFrame(raw[name].drop(columns="geometry")),
        )
        assert new.geometry.geom_equals_exact(raw[name].geometry, tolerance=1e-9).all(), name
    assert out.read_bytes() == GPKG.read_bytes()
