"""Write the modelled Chengdu-like example study (every file in this folder but this script).

MODELLED DATA, NOT REAL: the district shapes are a 3 x 2 grid of boxes carrying six of
Chengdu's district names and adcodes, the population is a smooth density around the
centre, the ring roads are circles, the 32 outlets and 14 "metro stations" are drawn with a
fixed seed. It exists to show (and test) a study in a user's own formats, as an export
from another city's systems would come:

- ``branches_gcj02.csv``: outlets as GCJ-02 longitude/latitude (an Amap export), Chinese
  headers and Chinese format words; four outlets stand within about 100 m of a district
  border, so that forgetting the GCJ-02 conversion visibly moves them across it;
- ``pop_hex_utm48n.gpkg``: population hexagons in UTM zone 48N (EPSG:32648);
- ``districts_wgs84.geojson``: districts in WGS84 with ``name`` and ``adcode``;
- ``ring_roads_cgcs2000.shp``: rings 1-4 (一环 ... 绕城) in CGCS2000 / 3-degree
  Gauss-Krüger CM 105E (EPSG:4544);
- ``candidates_metro.parquet``: candidate sites (metro stations) as GeoParquet.

Run from the repository root: ``python data/examples/chengdu/make_example.py``. The same
script gives the same layers (a fixed seed; GeoPackage timestamps aside).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
CENTRE = (104.06, 30.66)
LON_EDGES = (103.94, 104.06, 104.14, 104.22)
LAT_EDGES = (30.57, 30.66, 30.75)
# (column, row) -> adcode, name, zone
DISTRICTS = {  # the four central districts meet at the centre
    (0, 1): ("510106", "金牛区", "central"),
    (1, 1): ("510108", "成华区", "central"),
    (2, 1): ("510112", "龙泉驿区", "outer"),
    (0, 0): ("510107", "武侯区", "central"),
    (1, 0): ("510104", "锦江区", "central"),
    (2, 0): ("510116", "双流区", "outer"),
}
RINGS_KM = {1: ("一环路", 2.3), 2: ("二环路", 4.4), 3: ("三环路", 7.2), 4: ("绕城高速", 9.6)}
FORMATS = {"full": ("综合网点", 5, 4), "light": ("轻型网点", 2, 4), "smart": ("智能网点", 6, 10)}
N_BRANCHES = 32
SEED = 2035


def _districts() -> gpd.GeoDataFrame:
    rows = []
    for (i, j), (adcode, name, zone) in sorted(DISTRICTS.items(), key=lambda kv: kv[1][0]):
        box = shapely.box(LON_EDGES[i], LAT_EDGES[j], LON_EDGES[i + 1], LAT_EDGES[j + 1])
        rows.append({"adcode": adcode, "name": name, "zone": zone, "geometry": box})
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def _density(x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
    """Residents per km² at a distance from the centre (modelled)."""
    r = np.hypot(x_km, y_km)
    return 21_000.0 * np.exp(-r / 4.5) + 1_200.0


def _zones(districts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Hexagons of 0.7 km circumradius covering the districts, in UTM 48N."""
    area = districts.to_crs("EPSG:32648").union_all()
    cx, cy = (gpd.GeoSeries([shapely.Point(CENTRE)], crs="EPSG:4326").to_crs("EPSG:32648")
              .iloc[0].coords[0])
    r = 700.0
    w = math.sqrt(3) * r
    minx, miny, maxx, maxy = area.bounds
    cells, pops20, pops10 = [], [], []
    for k, y in enumerate(np.arange(miny, maxy + r, 1.5 * r)):
        for x in np.arange(minx + (w / 2 if k % 2 else 0.0), maxx + w, w):
            if not area.contains(shapely.Point(x, y)):
                continue
            hexagon = shapely.Polygon([(x + r * math.cos(math.radians(30 + 60 * a)),
                                        y + r * math.sin(math.radians(30 + 60 * a)))
                                       for a in range(6)])
            dx, dy = (x - cx) / 1000.0, (y - cy) / 1000.0
            pop20 = float(_density(np.array([dx]), np.array([dy]))[0]) * hexagon.area / 1e6
            growth = 1.05 + 0.25 * min(math.hypot(dx, dy) / 10.0, 1.0)  # outer areas grew more
            cells.append(hexagon)
            pops20.append(round(pop20))
            pops10.append(round(pop20 / growth))
    return gpd.GeoDataFrame({
        "zone_id": [f"H{i:04d}" for i in range(1, len(cells) + 1)],
        "pop_2010": pops10, "pop_2020": pops20,
    }, geometry=cells, crs="EPSG:32648")


def _rings() -> gpd.GeoDataFrame:
    centre = gpd.GeoSeries([shapely.Point(CENTRE)], crs="EPSG:4326").to_crs("EPSG:4544").iloc[0]
    lines = [shapely.LineString(centre.buffer(km * 1000.0, 32).exterior.coords)
             for _, km in RINGS_KM.values()]
    return gpd.GeoDataFrame({"ring": list(RINGS_KM), "name": [n for n, _ in RINGS_KM.values()]},
                            geometry=lines, crs="EPSG:4544")


def _branches(districts: gpd.GeoDataFrame, rng: np.random.Generator) -> pd.DataFrame:
    from netplan.study.coords import wgs84_to_gcj02

    km_lon = 111.32 * math.cos(math.radians(CENTRE[1]))
    pts = []
    while len(pts) < N_BRANCHES - 4:
        r_km = rng.exponential(5.5)
        a = rng.uniform(0, 2 * math.pi)
        lon = CENTRE[0] + r_km * math.cos(a) / km_lon
        lat = CENTRE[1] + r_km * math.sin(a) / 110.57
        if LON_EDGES[0] + 0.005 < lon < LON_EDGES[-1] - 0.005 and \
                LAT_EDGES[0] + 0.005 < lat < LAT_EDGES[-1] - 0.005:
            pts.append((lon, lat))
    # four outlets about 100 m inside a district border, on the side the GCJ-02 offset
    # (east and south here) would push them away from
    pts += [(104.059, 30.700), (104.139, 30.620), (103.990, 30.661), (104.180, 30.661)]
    lon, lat = np.array(pts).T
    where = gpd.sjoin(gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs="EPSG:4326"),
                      districts, predicate="within", how="left")
    fmt = np.array(["full"] * 19 + ["light"] * 9 + ["smart"] * 4)
    rng.shuffle(fmt)
    glon, glat = wgs84_to_gcj02(lon, lat)
    short = {n: n[:-1] for _, (_, n, _) in DISTRICTS.items()}
    names = where["name"].to_numpy()
    return pd.DataFrame({
        "网点编号": [f"CD{i:03d}" for i in range(1, N_BRANCHES + 1)],
        "网点名称": [f"{short[n]}{i}号网点" for i, n in enumerate(names, start=1)],
        "所属区县": names,
        "网点类型": [FORMATS[f][0] for f in fmt],
        "柜台数": [FORMATS[f][1] for f in fmt],
        "智能终端数": [FORMATS[f][2] for f in fmt],
        "经度": np.round(glon, 6),
        "纬度": np.round(glat, 6),
    })


def _candidates() -> gpd.GeoDataFrame:
    """Two metro lines through the centre (east-west and north-south), seven stations each."""
    km_lon = 111.32 * math.cos(math.radians(CENTRE[1]))
    stations, names = [], []
    for line, (dx, dy) in enumerate(((1.0, 0.15), (-0.2, 1.0)), start=1):
        for s in range(-3, 4):
            d = 2.6 * s + 0.9
            stations.append(shapely.Point(CENTRE[0] + d * dx / km_lon, CENTRE[1] + d * dy / 110.57))
            names.append(f"{line}号线第{s + 4}站")
    return gpd.GeoDataFrame({
        "candidate_id": [f"M{i:02d}" for i in range(1, len(stations) + 1)],
        "name": names, "kind": "metro",
    }, geometry=stations, crs="EPSG:4326")


def main(folder: Path = HERE) -> None:
    """Write the example's layer files into ``folder``."""
    rng = np.random.default_rng(SEED)
    districts = _districts()
    zones = _zones(districts)
    pop = zones.assign(adcode=gpd.sjoin(zones.set_geometry(zones.representative_point()),
                                        districts.to_crs(zones.crs), predicate="within",
                                        how="left")["adcode"])
    totals = pop.groupby("adcode")[["pop_2010", "pop_2020"]].sum()
    districts = districts.join(totals, on="adcode")
    districts.to_file(folder / "districts_wgs84.geojson", driver="GeoJSON", engine="pyogrio")
    zones.to_file(folder / "pop_hex_utm48n.gpkg", layer="hexagons", driver="GPKG",
                  engine="pyogrio")
    _rings().to_file(folder / "ring_roads_cgcs2000.shp", engine="pyogrio", encoding="UTF-8")
    _branches(districts, rng).to_csv(folder / "branches_gcj02.csv", index=False)
    _candidates().to_parquet(folder / "candidates_metro.parquet", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
