"""Bad input of every class, through the command line: a clear message, nothing left behind.

Each row of ``CASES`` builds one bad input on disk (from the tiny synthetic study of
``conftest.py``), runs ``netplan ...`` as the console script does, and checks:

- the exit code (1 for a domain error, 2 for a bad option, 0 where a plan is still
  meaningful and a warning says what is odd);
- one message on stderr that names the problem and the fix (the row's fragments);
- no traceback (only ``--debug`` shows one: see ``test_real_process_exit_codes``);
- nothing written: the working folder (the parent of ``--out``) is byte-for-byte what it
  was, with no output folder and no temporary folder.

A property test then throws random layers at :func:`netplan.layers.read_layer`: it either
returns a valid GeoDataFrame or raises :class:`~netplan._errors.NetplanError`.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import tiny_layers
from conftest_reliability import (
    Layers,
    fold,
    run_cli,
    run_netplan,
    snapshot,
    temp_leftovers,
    write_scenario,
    write_study,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netplan._errors import NetplanError
from netplan.study.readers import read_layer
from netplan.study.schemas import SCHEMAS

# --- building bad inputs -------------------------------------------------------------------


def set_cell(kind: str, col: str, row: int, value: Any) -> Callable[[Layers], None]:
    def mutate(layers: Layers) -> None:
        gdf = layers[kind]
        gdf[col] = gdf[col].astype(object)
        gdf.loc[row, col] = value

    return mutate


def set_geom(kind: str, row: int, geom: Any) -> Callable[[Layers], None]:
    def mutate(layers: Layers) -> None:
        gdf = layers[kind]
        geoms = list(gdf.geometry)
        geoms[row] = geom
        layers[kind] = gdf.set_geometry(gpd.GeoSeries(geoms, crs=gdf.crs))

    return mutate


def drop_column(kind: str, col: str) -> Callable[[Layers], None]:
    def mutate(layers: Layers) -> None:
        layers[kind] = layers[kind].drop(columns=[col])

    return mutate


def polygon_branches(layers: Layers) -> None:
    b = layers["branches"]
    layers["branches"] = b.set_geometry(
        gpd.GeoSeries([shapely.box(p.x, p.y, p.x + 0.001, p.y + 0.001) for p in b.geometry],
                      crs=b.crs))


def no_crs(layers: Layers) -> None:
    layers["branches"] = layers["branches"].set_crs(None, allow_override=True)


def empty_dongcheng(layers: Layers) -> None:
    """Dongcheng (110101, the west half) keeps its polygon but loses everything in it."""
    for kind in ("zones", "branches", "candidates"):
        gdf = layers[kind]
        keep = gdf.geometry.representative_point().x >= 116.40
        layers[kind] = gdf[keep].reset_index(drop=True)


def dongcheng_without_zones(layers: Layers) -> None:
    z = layers["zones"]
    layers["zones"] = z[z["adcode"] != "110101"].reset_index(drop=True)


BOWTIE = shapely.Polygon([(116.30, 39.85), (116.35, 39.90), (116.35, 39.85), (116.30, 39.90)])


@dataclass(frozen=True)
class Case:
    """One bad input: ``make(folder)`` writes it and returns the command's arguments."""

    id: str
    make: Callable[[Path], list[str | Path]]
    code: int
    fragments: tuple[str, ...]


def plan_args(d: Path, data: Path, *extra: str | Path, scenario: Path | None = None
              ) -> list[str | Path]:
    sc = scenario if scenario is not None else write_scenario(d / "tiny.toml")
    return ["plan", "--data", data, "--scenario", sc, "--year", "2020", "--out", "plan", *extra]


def bad_study(mutate: Callable[[Layers], None] | None = None, *extra: str,
              drop: tuple[str, ...] = ()) -> Callable[[Path], list[str | Path]]:
    return lambda d: plan_args(d, write_study(d / "study.gpkg", mutate, drop=drop), *extra)


def bad_scenario(toml: str, *extra: str, base: bool = True) -> Callable[[Path], list[str | Path]]:
    def make(d: Path) -> list[str | Path]:
        sc = d / "bad.toml"
        if base:
            write_scenario(sc, toml)
        else:
            sc.write_text(toml, encoding="utf-8")
        return plan_args(d, write_study(d / "study.gpkg"), *extra, scenario=sc)

    return make


def garbage(d: Path) -> list[str | Path]:
    (d / "garbage.gpkg").write_bytes(np.random.default_rng(0).bytes(4096))
    return plan_args(d, d / "garbage.gpkg")


def text_file(d: Path) -> list[str | Path]:
    (d / "layers.txt").write_text("district,population\n朝阳,3450000\n", encoding="utf-8")
    return plan_args(d, d / "layers.txt")


def csv_override(d: Path) -> list[str | Path]:
    (d / "branches.csv").write_text(
        "branch_id,name,format,counters,terminals,lon,lat\n"
        "b1,One,full,4,2,116.39,39.90\nb2,Two,full,abc,2,116.41,39.90\n", encoding="utf-8")
    return ["summary", "--data", write_study(d / "study.gpkg"),
            "--override", f"branches={d / 'branches.csv'}"]


def broken_geojson(d: Path) -> list[str | Path]:
    (d / "cand.geojson").write_text('{"type": "FeatureCollection", "features": [{"type":',
                                    encoding="utf-8")
    return ["summary", "--data", write_study(d / "study.gpkg"),
            "--override", f"candidates={d / 'cand.geojson'}"]


def out_is_file(d: Path) -> list[str | Path]:
    args = plan_args(d, write_study(d / "study.gpkg"))
    args[args.index("plan", 1)] = d / "notes.txt"
    (d / "notes.txt").write_text("my notes\n", encoding="utf-8")
    return args


def out_is_foreign_folder(d: Path) -> list[str | Path]:
    args = plan_args(d, write_study(d / "study.gpkg"))
    folder = d / "Documents"
    (folder / "sub").mkdir(parents=True)
    (folder / "budget.xlsx").write_bytes(b"PK\x03\x04 not really")
    (folder / "sub" / "memo.txt").write_text("keep me\n", encoding="utf-8")
    args[args.index("plan", 1)] = folder
    return args


def plan_folder_with_notes(d: Path) -> list[str | Path]:
    args = plan_args(d, write_study(d / "study.gpkg"))
    folder = d / "old-plan"
    folder.mkdir()
    for name in ("kpis.json", "plan.gpkg", "map.html", "notes.txt"):
        (folder / name).write_text("x\n", encoding="utf-8")
    args[args.index("plan", 1)] = folder
    return args


CASES: list[Case] = [
    # files
    Case("missing file", lambda d: plan_args(d, d / "nope.gpkg"), 1,
         ("study GeoPackage not found", "nope.gpkg", "omit --data")),
    Case("corrupt file (garbage bytes named .gpkg)", garbage, 1,
         ("cannot read", "garbage.gpkg", "corrupt or not a GeoPackage", "export it again")),
    Case("wrong format (a .txt)", text_file, 1,
         ("layers.txt is a '.txt' file", "one GeoPackage (.gpkg)", "netplan layers validate")),
    Case("--data is a folder", lambda d: plan_args(d, d), 1,
         ("is a folder", "one GeoPackage (.gpkg)")),
    Case("missing layer", bad_study(drop=("candidates",)), 1,
         ("no layer 'candidates'", "add the layer under that name")),
    Case("corrupt GeoJSON override", broken_geojson, 1,
         ("cannot read", "cand.geojson as GeoJSON", "corrupt")),
    Case("--override without KIND=", lambda d: ["summary", "--data", write_study(
        d / "study.gpkg"), "--override", "candidates"], 1,
         ("--override 'candidates': expected KIND=FILE", "ring_roads=osm_rings.gpkg")),
    # columns and values
    Case("missing column", bad_study(drop_column("zones", "pop_2020")), 1,
         ("layer 'zones'", "column 'pop_2020'", "found no such column")),
    Case("mistyped column (population as text)", bad_study(set_cell("zones", "pop_2020", 2,
                                                                     "many")), 1,
         ("column 'pop_2020'", "found text", "zone_id 'z3'", "'many'")),
    Case("mistyped column in a CSV override", csv_override, 1,
         ("branches.csv", "column 'counters'", "found text", "'abc'")),
    Case("duplicate ids", bad_study(set_cell("branches", "branch_id", 3, "b1")), 1,
         ("column 'branch_id'", "expected unique ids", "'b1' (rows 1, 4)")),
    Case("negative population", bad_study(set_cell("zones", "pop_2020", 2, -5)), 1,
         ("column 'pop_2020'", "below 0", "-5")),
    Case("NaN population", bad_study(set_cell("zones", "pop_2020", 2, np.nan)), 1,
         ("column 'pop_2020'", "missing values (empty or NaN)", "zone_id 'z3'")),
    # geometry and coordinates
    Case("invalid geometry (self-intersecting)", bad_study(set_geom("zones", 0, BOWTIE)), 1,
         ("expected valid geometries", "Self-intersection", "make_valid")),
    Case("empty geometry", bad_study(set_geom("zones", 0, shapely.Polygon())), 1,
         ("no geometry (null or empty)", "zone_id 'z1'")),
    Case("wrong geometry type (polygon branches)", bad_study(polygon_branches), 1,
         ("layer 'branches'", "expected Point, found Polygon")),
    Case("no CRS", bad_study(no_crs), 1,
         ("layer 'branches'", "expected a coordinate reference system", "set_crs")),
    Case("coordinates out of range", bad_study(set_geom("branches", 0, shapely.Point(200, 39.9))),
         1, ("expected longitude in [-180, 180]", "branch_id 'b1'", "200.0")),
    Case("outside the study area", bad_study(set_geom("branches", 0,
                                                      shapely.Point(117.5, 39.9))), 1,
         ("inside the study area", "lies outside it", "117.500000", "fix their coordinates")),
    # districts
    Case("empty district (--district with nothing in it)",
         bad_study(empty_dongcheng, "--district", "Dongcheng"), 1,
         ("东城区 (110101)", "no outlet and no candidate site", "omit --district")),
    Case("unknown district", bad_study(None, "--district", "Atlantis"), 1,
         ("'Atlantis' matches no district", "110101 东城区", "Chaoyang")),
    # scenario
    Case("scenario file missing", lambda d: plan_args(d, write_study(d / "study.gpkg"),
                                                      scenario=d / "none.toml"), 1,
         ("none.toml does not exist", "omit the path")),
    Case("scenario not TOML", bad_scenario("[demand\ncustomer_share = ", base=False), 1,
         ("is not valid TOML", "line 1", "Fix the syntax")),
    Case("scenario with unknown keys", bad_scenario("[service]\ntarget_wait = 9\n"), 1,
         ("unknown key service.target_wait", "did you mean 'target_wait_min'")),
    Case("scenario district not in the study", bad_scenario('[districts."西城区"]\n'
                                                            'policy = "consolidate"\n'), 1,
         ("[districts.西城区] names no district", "fix or remove that table")),
    Case("two policies for one district", bad_scenario('[districts.Chaoyang]\npolicy = "expand"\n'
                                                      '[districts.110105]\npolicy = "renovate"\n'),
         1, ("[districts.Chaoyang] and [districts.110105] (both 110105)",
             "keep one table per district")),
    Case("target wait <= 0", bad_scenario("[districts]\n[service]\ntarget_wait_min = 0\n"), 1,
         ("service.target_wait_min must be in [0.1, 1440]",)),
    Case("negative rate", bad_scenario("[districts]\n[service]\ncounter_service_min = -2\n"),
         1, ("service.counter_service_min must be in [0.1, 1440]", "-2")),
    Case("a format with 0 counters", bad_scenario("[districts]\n[formats.light]\ncounters = 0\n"),
         1, ("formats.light.counters must be in [1, 1000]", "got 0")),
    Case("infeasible (district min_outlets above its sites)",
         bad_scenario('[districts."东城区"]\nmin_outlets = 50\n'), 1,
         ("constraint family 'group_sites'", "district 110101 needs at least 50",
          "lower min_outlets")),
    Case("infeasible (found by the solver)",
         bad_scenario("[districts.110105]\nmax_outlets = 1\nmax_close = 0\n"), 1,
         ("constraint family 'group_sites'", "district 110105 needs at most 1", "Loosen")),
    Case("a site both locked and forbidden", bad_study(None, "--lock", "b1", "--forbid", "b1"),
         1, ("constraint family 'site_status'", "site 'b1'", "unlock or un-forbid")),
    Case("unknown --lock id", bad_study(None, "--lock", "zz"), 1,
         ("['zz'] are not outlets or candidates", "check the ids")),
    Case("year without population", lambda d: [
        *plan_args(d, write_study(d / "study.gpkg"))[:-2], "--year", "1990", "--out", "plan"], 1,
         ("no population for year 1990", "valid years are 2010, 2020")),
    # options
    Case("zero time limit", bad_study(None, "--time-limit", "0"), 2,
         ("--time-limit", "positive number of seconds", "omit --time-limit")),
    Case("negative gap", bad_study(None, "--gap", "-0.1"), 2,
         ("--gap", "relative gap in [0, 1)")),
    Case("unknown solver", bad_study(None, "--solver", "gurobi"), 2,
         ("--solver", "unknown solver 'gurobi'", "use highs or cbc")),
    Case("--out is a file", out_is_file, 1,
         ("notes.txt exists and is not a folder", "choose another --out")),
    Case("--out is a folder of other files", out_is_foreign_folder, 1,
         ("Documents exists and is not a plan folder (it holds budget.xlsx, sub)",
          "choose a new or empty folder")),
    Case("--out is a plan folder with a file of the user's", plan_folder_with_notes, 1,
         # no manifest: netplan never recognises a plan folder by its file names
         ("old-plan exists and is not a plan folder (it holds kpis.json, map.html, "
          "notes.txt, plan.gpkg)", "listed in its .netplan-plan.json")),
    # overflow-safe numeric ranges: each a clear message naming the key and its range
    Case("a waiting-time target of 1e-300 minutes",
         bad_scenario("[districts]\n[service]\ntarget_wait_min = 1e-300\n"), 1,
         ("service.target_wait_min must be in [0.1, 1440], got 1e-300",)),
    Case("a district max_open of 1e23", bad_scenario('[districts."东城区"]\nmax_open = 1e23\n'),
         1, ("districts.东城区.max_open must be in [0, 1000000]",)),
    Case("an opex of 1e308", bad_scenario("[districts]\n[formats.full]\n"
                                          "opex_cny_per_year = 1e308\n"), 1,
         ("formats.full.opex_cny_per_year must be in [0, 1e+12], got 1e+308",)),
    # validation gaps
    Case("population of 1e18", bad_study(set_cell("zones", "pop_2020", 0, 10**18)), 1,
         ("layer 'zones'", "column 'pop_2020': expected integer in 0..2000000000, found "
          "values above 2000000000 in 1 row: row 1 (zone_id 'z1') = 1000000000000000000",)),
    Case("an empty zones layer", bad_study(lambda layers: layers.update(
        zones=layers["zones"].iloc[:0])), 1,
         ("layer 'zones'", "expected at least one feature, found none (an empty layer)")),
    Case("a candidate id that is also a branch id",
         bad_study(set_cell("candidates", "candidate_id", 0, tiny_layers()["branches"]
                            ["branch_id"].iloc[0])), 1,
         ("column 'candidate_id': expected ids that no branch uses", "also in branch_id of "
          "the branches layer", "rename those candidates")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_message_and_no_output(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = case.make(tmp_path)
    before = snapshot(tmp_path)
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert "Traceback" not in res.err, res.err
    assert res.code == case.code, res.err
    msg = res.message
    for fragment in case.fragments:
        assert fold(fragment) in msg, f"{fragment!r} not in: {msg}"
    # one paragraph: the message holds no blank line
    tail = res.err[res.err.rindex("error:"):] if "error:" in res.err else res.err
    assert "\n\n" not in tail.strip(), tail
    # nothing written: the folder is as it was, no plan, no temporary folder
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "plan").exists()
    assert temp_leftovers(tmp_path) == []


def test_bad_input_table_covers_every_class() -> None:
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


def test_district_without_zones_still_plans_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Outlets of a district without population still serve their neighbours: plan, warn."""
    args = bad_study(dongcheng_without_zones, "--district", "110101")(tmp_path)
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys, caplog=caplog)
    assert res.code == 0, res.err
    assert "Traceback" not in res.err
    assert "东城区 (110101) has no population zone" in res.log
    assert "check the zones layer" in res.log
    assert (tmp_path / "plan" / "kpis.json").is_file()
    assert temp_leftovers(tmp_path) == []


def test_real_process_exit_codes(tmp_path: Path) -> None:
    """The console script itself: exit codes, no traceback, except with --debug."""
    study = write_study(tmp_path / "study.gpkg")
    missing = run_netplan(["plan", "--data", tmp_path / "nope.gpkg", "--out", "p"],
                          cwd=tmp_path)
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert "error: study GeoPackage not found" in missing.stderr
    solver = run_netplan(["plan", "--data", study, "--solver", "gurobi", "--out", "p"],
                         cwd=tmp_path)
    assert solver.returncode == 2
    assert "Traceback" not in solver.stderr and "unknown solver 'gurobi'" in solver.stderr
    debug = run_netplan(["--debug", "plan", "--data", tmp_path / "nope.gpkg", "--out", "p"],
                        cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "DataNotFoundError" in debug.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.gpkg"]


# --- fuzzing the layer readers --------------------------------------------------------------

CELL = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["", " ", "12", "1.0", "-3", "110105", "=cmd|' /C calc'!A0", "北京",
                     "__import__('os').system('touch PWNED')", "<script>alert(1)</script>",
                     "1e30", 2.0**63, -(2.0**63), 10**19]),
)
COORD = st.one_of(st.floats(116.25, 116.55), st.floats(-1e3, 1e3),
                  st.floats(allow_nan=True, allow_infinity=True))


@st.composite
def geometries(draw: st.DrawFn) -> Any:
    shape = draw(st.sampled_from(["point", "box", "bowtie", "line", "empty", "none", "multi"]))
    x, y = draw(COORD), draw(COORD)
    if shape == "box" and math.isfinite(x) and math.isfinite(y):
        d = draw(st.floats(0.0, 0.05))
        return shapely.box(x, y, x + d, y + d)
    if shape == "bowtie":
        return shapely.Polygon([(x, y), (x + .01, y + .01), (x + .01, y), (x, y + .01)])
    if shape == "line":
        return shapely.LineString([(x, y), (x + 0.01, y)])
    if shape == "empty":
        return shapely.Point() if draw(st.booleans()) else shapely.Polygon()
    if shape == "multi":
        return shapely.MultiPoint([(x, y)])
    if shape == "none":
        return None
    return shapely.Point(x, y)


@st.composite
def mutated_layers(draw: st.DrawFn) -> tuple[str, pd.DataFrame, list[Any], str | None]:
    """A valid tiny layer with 0-3 random mutations (cells, columns, geometries, rows, CRS)."""
    kind = draw(st.sampled_from(["branches", "candidates", "zones", "districts", "ring_roads"]))
    gdf = tiny_layers()[kind]
    df = pd.DataFrame(gdf.drop(columns="geometry")).astype(object)
    geoms: list[Any] = list(gdf.geometry)
    crs: str | None = "EPSG:4326"
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(["cell", "cell", "drop", "geom", "dup", "extra", "crs",
                                     "rows"]))
        if what == "cell" and len(df):
            col = draw(st.sampled_from(list(df.columns)))
            df.iat[draw(st.integers(0, len(df) - 1)), df.columns.get_loc(col)] = draw(CELL)
        elif what == "drop" and len(df.columns):
            df = df.drop(columns=[draw(st.sampled_from(list(df.columns)))])
        elif what == "geom" and len(df):
            geoms[draw(st.integers(0, len(df) - 1))] = draw(geometries())
        elif what == "dup" and len(df):
            i = draw(st.integers(0, len(df) - 1))
            df = pd.concat([df, df.iloc[[i]]], ignore_index=True)
            geoms.append(geoms[i])
        elif what == "extra":
            df["extra"] = pd.Series([draw(CELL) for _ in range(len(df))], dtype=object)
        elif what == "crs":
            crs = draw(st.sampled_from([None, "EPSG:32650", "EPSG:3857"]))
        elif what == "rows":
            k = draw(st.integers(0, len(df)))
            df, geoms = df.iloc[:k].reset_index(drop=True), geoms[:k]
    return kind, df, geoms, crs


def write_any(df: pd.DataFrame, geoms: list[Any], crs: str | None, path: Path, kind: str
              ) -> bool:
    """Write the layer in the format of ``path``; False where the writer itself refuses."""
    if path.suffix == ".csv":
        table = df.copy()
        pts = [g if isinstance(g, shapely.Point) and not g.is_empty else None for g in geoms]
        table["lon"] = [p.x if p is not None else None for p in pts]
        table["lat"] = [p.y if p is not None else None for p in pts]
        table.to_csv(path, index=False)
        return True
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms), crs=crs)
    try:
        if path.suffix == ".parquet":
            gdf.to_parquet(path)
        else:
            driver = "GPKG" if path.suffix == ".gpkg" else "GeoJSON"
            gdf.to_file(path, driver=driver, layer=kind if driver == "GPKG" else None,
                        engine="pyogrio")
    except Exception:  # e.g. pyarrow refuses mixed-type object columns
        return False
    return True


def assert_valid_layer(gdf: Any, kind: str) -> None:
    sch = SCHEMAS[kind]
    assert isinstance(gdf, gpd.GeoDataFrame)
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    assert not gdf.geometry.isna().any() and not gdf.geometry.is_empty.any()
    assert gdf.geometry.is_valid.all()
    assert set(gdf.geom_type) <= set(sch.geometry)
    if len(gdf):
        x0, y0, x1, y1 = gdf.total_bounds
        assert -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90
    ids = gdf[sch.id.name]
    assert not ids.isna().any()
    if sch.unique_ids:
        assert ids.is_unique
    for col in sch.columns:
        if col.dtype == "int" and col.required:
            assert pd.api.types.is_integer_dtype(gdf[col.name]), col.name
            if col.min_value is not None:
                assert (gdf[col.name] >= col.min_value).all(), col.name


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(layer=mutated_layers(), ext=st.sampled_from([".csv", ".geojson", ".gpkg", ".parquet"]))
def test_read_layer_returns_a_valid_layer_or_raises_netplan_error(
    layer: tuple[str, pd.DataFrame, list[Any], str | None], ext: str
) -> None:
    kind, df, geoms, crs = layer
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(d) / f"layer{ext}"
        if not write_any(df, geoms, crs, path, kind):
            return
        cwd = os.getcwd()
        os.chdir(d)  # a layer's text must never run: nothing may appear next to it
        try:
            gdf = read_layer(path, kind)
        except NetplanError:
            return
        finally:
            os.chdir(cwd)
        assert sorted(os.listdir(d)) == [path.name]
        assert_valid_layer(gdf, kind)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=600), ext=st.sampled_from([".csv", ".geojson", ".gpkg",
                                                          ".parquet", ".shp"]),
       kind=st.sampled_from(sorted(SCHEMAS)))
def test_random_bytes_never_crash_the_readers(data: bytes, ext: str, kind: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"layer{ext}"
        path.write_bytes(data)
        try:
            gdf = read_layer(path, kind)
        except NetplanError:
            return
        assert_valid_layer(gdf, kind)
