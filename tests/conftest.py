"""Shared tiny fixtures: a synthetic two-district study near Beijing (WGS84 on disk).

Layout (lon/lat degrees, centre C = (116.40, 39.90)):

- districts: 东城区 110101 = box(116.30, 39.85, 116.40, 39.95) (west half),
  朝阳区 110105 = box(116.40, 39.85, 116.50, 39.95) (east half);
- ring roads 2..6: squares around C with half-sides 0.01, 0.02, 0.03, 0.04, 0.045°;
- zones: 8 cells of 0.05° (4 per district); the inner cells' centres sit 0.025° from C
  (ring zone ``3_4``), the outer cells' centres 0.075° (``outside_6``);
- branches: 8 (2 light), 3 of them outside the 5th ring; candidates: 2.

The known answers are in ``TINY``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from conftest_browser import browser  # noqa: F401 - the browser tests' fixture


@pytest.fixture(autouse=True, scope="session")
def _netplan_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Commands run by the tests keep their caches in a temporary folder, not ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETPLAN_CACHE_DIR", str(tmp_path_factory.mktemp("netplan-cache")))
        mp.delenv("NETPLAN_NO_CACHE", raising=False)
        yield


C_LON, C_LAT = 116.40, 39.90
RING_HALF_DEG = {2: 0.01, 3: 0.02, 4: 0.03, 5: 0.04, 6: 0.045}

# branch_id, lon, lat, format, adcode, ring_zone
BRANCHES = [
    ("b1", 116.395, 39.905, "full", "110101", "inside_2"),
    ("b2", 116.405, 39.895, "light", "110105", "inside_2"),
    ("b3", 116.415, 39.900, "full", "110105", "2_3"),
    ("b4", 116.375, 39.900, "full", "110101", "3_4"),
    ("b5", 116.435, 39.900, "full", "110105", "4_5"),
    ("b6", 116.357, 39.900, "light", "110101", "5_6"),
    ("b7", 116.480, 39.930, "full", "110105", "outside_6"),
    ("b8", 116.320, 39.870, "full", "110101", "outside_6"),
]
# zone_id, minx, miny, adcode, pop_2010, pop_2020, ring_zone
ZONES = [
    ("z1", 116.30, 39.85, "110101", 100, 150, "outside_6"),
    ("z2", 116.35, 39.85, "110101", 200, 180, "3_4"),
    ("z3", 116.30, 39.90, "110101", 300, 330, "outside_6"),
    ("z4", 116.35, 39.90, "110101", 400, 400, "3_4"),
    ("z5", 116.40, 39.85, "110105", 500, 600, "3_4"),
    ("z6", 116.45, 39.85, "110105", 600, 700, "outside_6"),
    ("z7", 116.40, 39.90, "110105", 700, 650, "3_4"),
    ("z8", 116.45, 39.90, "110105", 800, 900, "outside_6"),
]

TINY: dict[str, Any] = {
    "branch_labels": [(b[0], b[4], b[5]) for b in BRANCHES],
    "zone_ring_zones": [z[6] for z in ZONES],
    "outlets": 8,
    "light_outlets": 2,
    "outside_ring": 3,
    "population_2010": 3600,
    "population_2020": 3910,
    "districts": {"110101": (4, 1000, 1060), "110105": (4, 2600, 2850)},
}


def tiny_layers() -> dict[str, gpd.GeoDataFrame]:
    """The synthetic study's layers in WGS84 (fresh copies)."""
    districts = gpd.GeoDataFrame(
        {
            "adcode": ["110101", "110105"],
            "name_zh": ["东城区", "朝阳区"],
            "name_pinyin": ["Dongcheng", "Chaoyang"],
            "name_en": ["Dongcheng District", "Chaoyang District"],
            "zone": ["core", "central"],
            "pop_2010": [1000, 2600],
            "pop_2020": [1060, 2850],
        },
        geometry=[
            shapely.box(116.30, 39.85, 116.40, 39.95),
            shapely.box(116.40, 39.85, 116.50, 39.95),
        ],
        crs="EPSG:4326",
    )
    rings = gpd.GeoDataFrame(
        {
            "ring": list(RING_HALF_DEG),
            "name_zh": [f"{k}环" for k in RING_HALF_DEG],
            "name_en": [f"Ring {k}" for k in RING_HALF_DEG],
            "length_km_published": [float(10 * k) for k in RING_HALF_DEG],
            "length_km": [float(10 * k) for k in RING_HALF_DEG],
            "source": "synthetic",
        },
        geometry=[
            shapely.LineString(
                shapely.box(C_LON - h, C_LAT - h, C_LON + h, C_LAT + h).exterior.coords
            )
            for h in RING_HALF_DEG.values()
        ],
        crs="EPSG:4326",
    )
    zones = gpd.GeoDataFrame(
        {
            "zone_id": [z[0] for z in ZONES],
            "adcode": [z[3] for z in ZONES],
            "pop_2010": [z[4] for z in ZONES],
            "pop_2020": [z[5] for z in ZONES],
            "inflow": [z[5] - z[4] for z in ZONES],
        },
        geometry=[shapely.box(z[1], z[2], z[1] + 0.05, z[2] + 0.05) for z in ZONES],
        crs="EPSG:4326",
    )
    branches = gpd.GeoDataFrame(
        {
            "branch_id": [b[0] for b in BRANCHES],
            "name": [f"Branch {b[0]}" for b in BRANCHES],
            "format": [b[3] for b in BRANCHES],
            "counters": [4 if b[3] == "full" else 1 for b in BRANCHES],
            "terminals": [2] * len(BRANCHES),
            "source": "modelled",
        },
        geometry=shapely.points([(b[1], b[2]) for b in BRANCHES]),
        crs="EPSG:4326",
    )
    candidates = gpd.GeoDataFrame(
        {"candidate_id": ["c1", "c2"], "name": ["Metro A", "Cluster B"],
         "kind": ["metro", "cluster"]},
        geometry=shapely.points([(116.45, 39.92), (116.33, 39.88)]),
        crs="EPSG:4326",
    )
    return {
        "districts": districts,
        "ring_roads": rings,
        "zones": zones,
        "branches": branches,
        "candidates": candidates,
    }


@pytest.fixture
def tiny_expected() -> dict[str, Any]:
    """Known answers of the synthetic study (labels, counts, populations)."""
    return TINY


@pytest.fixture
def tiny() -> dict[str, gpd.GeoDataFrame]:
    """The synthetic study's layers (WGS84 GeoDataFrames), see the module docstring."""
    return tiny_layers()


def write_tiny_gpkg(folder: Path) -> Path:
    """Write the synthetic study to ``folder/tiny.gpkg`` (no ring_zones layer: derived on
    load) unless it is there already; returns its path."""
    path = Path(folder) / "tiny.gpkg"
    if not path.exists():
        for kind, gdf in tiny_layers().items():
            gdf.to_file(path, layer=kind, driver="GPKG", engine="pyogrio")
    return path


@pytest.fixture
def tiny_gpkg(tmp_path: Path) -> Path:
    """A GeoPackage holding the synthetic study (no ring_zones layer: derived on load)."""
    return write_tiny_gpkg(tmp_path)
