"""`netplan study init|check|build`, one test per validation gap of issue 14, and the
modelled Chengdu example run end to end (slow)."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest_reliability import fold, run_cli, snapshot, write_scenario
from test_manifest import MANIFEST, foreign_study

from netplan.study.crosscheck import check_study
from netplan.study.manifest import read_manifest

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "chengdu"
FORMATS = ("full", "light", "smart")


def problems(path: Path, formats: tuple[str, ...] | None = FORMATS) -> list[str]:
    report = check_study(path, formats=formats, scenario_name="scenario 'test'")
    return [f"[{f.layer}] {f.text}" for f in report.findings if f.severity == "problem"]


def test_a_good_study_has_no_problem(tmp_path: Path) -> None:
    report = check_study(foreign_study(tmp_path), formats=FORMATS)
    assert report.ok, report.findings
    assert report.crs == "EPSG:32650" and report.features["branches"] == 10


# --- the validation gaps of issue 14, each with its message and fix ------------------------


def test_gap_format_words_the_scenario_does_not_define(tmp_path: Path) -> None:
    path = foreign_study(tmp_path)
    csv = tmp_path / "branches_gcj02.csv"
    table = pd.read_csv(csv, dtype=object)
    table.loc[2, "网点类型"] = "社区网点"
    table.to_csv(csv, index=False)
    [found] = problems(path)
    assert "column 'format': '社区网点' (1 branch) not defined by scenario 'test'" in found
    assert "values.format in [branches] of the manifest" in found
    assert "define [formats.<name>] in the scenario" in found


def test_gap_overlapping_districts(tmp_path: Path) -> None:
    path = foreign_study(tmp_path)
    geo = tmp_path / "districts_wgs84.geojson"
    d = gpd.read_file(geo)
    d.loc[1, "geometry"] = shapely.box(116.38, 39.85, 116.50, 39.95)  # 朝阳 reaches into 东城
    geo.unlink()
    d.to_file(geo, driver="GeoJSON")
    found = [p for p in problems(path) if "overlapping" in p]
    assert len(found) == 1
    shared = re.search(r"东城区 \(110101\) and 朝阳区 \(110105\) share ([\d.]+) km²", found[0])
    assert shared is not None
    expected = 0.02 * 111.32 * math.cos(math.radians(39.9)) * 0.1 * 111.0  # 0.02° x 0.1°
    assert float(shared.group(1)) == pytest.approx(expected, rel=0.02)
    assert "Fix the polygons so that every place lies in one district" in found[0]


def test_gap_branch_district_column_disagrees_with_its_location(tmp_path: Path) -> None:
    path = foreign_study(tmp_path)
    csv = tmp_path / "branches_gcj02.csv"
    table = pd.read_csv(csv, dtype=object)
    table.loc[table["网点编号"] == "b3", "所属区县"] = "东城"  # b3 lies in 朝阳区
    table.to_csv(csv, index=False)
    [found] = problems(path)
    assert "1 point lies in another district than its own district column says: b3 says " \
           "东城区 but lies in 朝阳区, 1,2" in found  # 0.015° east of the border: ~1.28 km
    assert "correct the coordinates" in found and "or the district column" in found


def test_gap_unconverted_gcj02(tmp_path: Path) -> None:
    path = foreign_study(tmp_path, MANIFEST.replace('coords = "gcj02"\n', ""))
    found = [p for p in problems(path) if "coordinates: read as WGS84" in p]
    assert len(found) == 1, problems(path)
    assert "3 of 10 points disagree with their district column" in found[0]  # b1, b9, b10
    assert "read as GCJ02 only 0 do" in found[0]
    assert 'set coords = "gcj02" in [branches] of the manifest' in found[0]
    report = check_study(path, formats=FORMATS)
    hint = [f.text for f in report.findings if f.severity == "warning"]
    assert any("branches_gcj02.csv says GCJ02 in its name" in h for h in hint)


@pytest.mark.slow
def test_gap_converted_twice_is_caught_too(tmp_path: Path) -> None:
    """The opposite mistake: WGS84 points declared as GCJ-02."""
    path = foreign_study(tmp_path)
    csv = tmp_path / "branches_gcj02.csv"
    table = pd.read_csv(csv, dtype=object)
    from netplan.study.coords import gcj02_to_wgs84

    lon, lat = gcj02_to_wgs84(table["经度"].astype(float), table["纬度"].astype(float))
    table["经度"], table["纬度"] = lon, lat  # now WGS84, still declared gcj02
    table.to_csv(csv, index=False)
    # only b2 crosses the border (too few for the fit test): its district column names it
    [found] = problems(path)
    assert "1 point lies in another district than its own district column says: b2 says " \
           "朝阳区 but lies in 东城区" in found
    assert '(coords = "gcj02" now: are they GCJ-02 or BD-09?)' in found


def test_gap_shapefile_without_prj_in_metres(tmp_path: Path) -> None:
    path = foreign_study(tmp_path)
    (tmp_path / "rings_cgcs2000.prj").unlink()
    found = [p for p in problems(path) if p.startswith("[ring_roads]")]
    text = " ".join(found)
    assert "try EPSG:4326" not in text and "--crs EPSG:4326" not in text
    assert "are metres" in text and "not EPSG:4326" in text
    guess = [p for p in found if "holds metres, not degrees, and says no CRS; its coordinates "
             "fall inside the districts" in p]
    assert len(guess) == 1 and "EPSG:4548 (CGCS2000 / 3-degree Gauss-Krüger CM 117E" in guess[0]
    assert 'set crs = "EPSG:' in guess[0] and "in [ring_roads] of the manifest" in guess[0]


def test_a_broken_manifest_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "study.toml"
    path.write_text('[branches]\npath = "x.csv"\n', encoding="utf-8")
    found = problems(path)
    assert any("missing table(s) [districts], [zones]" in p for p in found)
    assert any("file not found" in p for p in found)


# --- the commands --------------------------------------------------------------------------


def test_check_command_exit_codes_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    good = foreign_study(tmp_path / "good")
    scenario = write_scenario(tmp_path / "tiny.toml")  # no Beijing district policies
    res = run_cli(["study", "check", good, "-s", scenario], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert "OK 小城 Tiny; distances in EPSG:32650: 2 districts, 5 ring_roads" in fold(res.out)
    bad = foreign_study(tmp_path / "bad", MANIFEST.replace('coords = "gcj02"\n', ""))
    res = run_cli(["study", "check", bad, "--json"], cwd=tmp_path, monkeypatch=monkeypatch,
                  capsys=capsys)
    assert res.code == 1
    data = json.loads(res.out)
    assert data["ok"] is False and data["name"] == "小城 Tiny"
    assert any('set coords = \\"gcj02\\"' in json.dumps(p) for p in data["problems"])


def test_init_drafts_a_manifest_and_never_overwrites(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    foreign_study(tmp_path / "city")
    (tmp_path / "city" / "study.toml").unlink()
    res = run_cli(["study", "init", "city"], cwd=tmp_path, monkeypatch=monkeypatch,
                  capsys=capsys)
    assert res.code == 0, res.err
    draft = tmp_path / "city" / "study.toml"
    text = draft.read_text(encoding="utf-8")
    assert 'coords = "gcj02"   # guess: the file or column names say gcj02' in text
    assert 'lon = "经度"   # guess' in text
    assert 'values.format = { "综合网点" = "full", "轻型网点" = "light" }   # guess' in text
    assert 'crs = "EPSG:32650"   # guess: the file has no CRS' not in text  # rings have a .prj
    m = read_manifest(draft)
    assert set(m.layers) == {"branches", "zones", "districts", "ring_roads", "candidates"}
    assert m.layers["branches"].columns["counters"] == "柜台数"
    assert m.layers["districts"].columns["name_zh"] == "name"
    assert check_study(draft, formats=FORMATS).ok
    before = snapshot(tmp_path)
    res = run_cli(["study", "init", "city"], cwd=tmp_path, monkeypatch=monkeypatch,
                  capsys=capsys)
    assert res.code == 2 and "study.toml exists; netplan study never replaces a file" in \
        res.message
    assert snapshot(tmp_path) == before


def test_init_guesses_the_crs_of_a_file_without_one(tmp_path: Path) -> None:
    from netplan.study.detect import draft_manifest

    foreign_study(tmp_path)
    (tmp_path / "rings_cgcs2000.prj").unlink()
    text, _ = draft_manifest(tmp_path, tmp_path / "draft.toml")
    assert "# guess: the file has no CRS;" in text and "puts it inside the districts" in text


@pytest.mark.slow
def test_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    path = foreign_study(tmp_path / "city")
    res = run_cli(["study", "build", path, "--out", "tiny.gpkg"], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    before = snapshot(tmp_path)
    res = run_cli(["study", "build", path, "--out", "tiny.gpkg"], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 2 and "tiny.gpkg exists; netplan study never replaces a file" in \
        res.message
    res = run_cli(["study", "build", path, "--out", path], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 2 and "a built study is a GeoPackage" in res.message
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_summary_and_diagnose_take_a_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = foreign_study(tmp_path / "city")
    res = run_cli(["summary", "--study", path, "--json"], cwd=tmp_path,
                  monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err
    assert json.loads(res.out)["outlets"] == 10
    scenario = write_scenario(tmp_path / "tiny.toml")
    res = run_cli(["diagnose", "--data", path, "--scenario", scenario, "--json"],
                  cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 0, res.err


# --- the modelled Chengdu example, end to end ----------------------------------------------


def copy_example(tmp_path: Path) -> Path:
    folder = tmp_path / "chengdu"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("make_example.py"))
    return folder


def test_example_study_is_small_and_checks_clean() -> None:
    size = sum(p.stat().st_size for p in EXAMPLE.iterdir() if p.is_file())
    assert size < 1_000_000
    report = check_study(EXAMPLE / "study.toml", formats=FORMATS)
    assert report.ok, report.findings
    assert report.crs == "EPSG:32648" and report.features["branches"] == 32
    assert report.features["ring_roads"] == 4


@pytest.mark.slow
def test_example_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_example(tmp_path)
    study, scenario = folder / "study.toml", folder / "chengdu-2035.toml"
    args = ["--study", study, "--scenario", scenario]
    for cmd in (["study", "check", study, "--scenario", scenario], ["diagnose", *args],
                ["plan", *args, "--district", "锦江", "--out", "plan-jj"],
                ["plan", *args, "--out", "plan-city"],
                ["map", "plan-city", "--study", study, "--out", "city.html"],
                ["map", "plan-city", "--out", "recorded.html"]):  # the plan's own study
        res = run_cli(cmd, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert res.code == 0, (cmd, res.err)
        if cmd[0] == "diagnose":  # the study's own name and ring names, no Beijing
            text = fold(res.out)
            assert "成都 Chengdu (modelled example)" in text and "inside 一环路" in text
            assert "Beijing" not in text
    kpis = json.loads((tmp_path / "plan-city" / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["after"]["overall"]["outlets"] > 0
    for page in ("city.html", "recorded.html"):
        text = (tmp_path / page).read_text(encoding="utf-8")
        assert "Beijing" not in text and "锦江区" in text


def test_init_reads_english_headers_and_baidu_names(tmp_path: Path) -> None:
    from netplan.study.detect import draft_manifest

    (tmp_path / "outlets_baidu.csv").write_text(
        "ID,Name,Type,Counters,Terminals,Lng,Lat\nA1,One,综合网点,4,2,116.41,39.91\n",
        encoding="utf-8")
    text, notes = draft_manifest(tmp_path, tmp_path / "study.toml")
    assert notes[0] == 'outlets_baidu.csv: branches (from the name "outlets_baidu.csv")'
    assert "no file found for districts, zones: add its table by hand" in notes
    assert 'coords = "bd09"   # guess: the file or column names say bd09' in text
    assert ('columns = { branch_id = "ID", name = "Name", format = "Type", counters = '
            '"Counters", terminals = "Terminals" }') in text
    assert 'lon = "Lng"' in text and 'values.format = { "综合网点" = "full" }' in text


def test_scenario_policies_must_name_districts_of_the_study(tmp_path: Path) -> None:
    path = foreign_study(tmp_path)
    report = check_study(path, formats=FORMATS, district_keys=("东城区", "西城区"))
    [found] = [f.text for f in report.findings if f.layer == "scenario"]
    assert "[districts.西城区] names no district of the study" in found
    assert "give your study's own with --scenario" in found


def test_a_csv_in_metres_gets_a_crs_guess(tmp_path: Path) -> None:
    """x/y columns in UTM metres read as lon/lat: no 'try EPSG:4326', the CRS that fits."""
    from pyproj import Transformer

    path = foreign_study(tmp_path, MANIFEST.replace('coords = "gcj02"\nlon = "经度"\nlat = "纬度"',
                                                    'lon = "x"\nlat = "y"'))
    csv = tmp_path / "branches_gcj02.csv"
    table = pd.read_csv(csv, dtype=object)
    from netplan.study.coords import gcj02_to_wgs84

    lon, lat = gcj02_to_wgs84(table["经度"].astype(float), table["纬度"].astype(float))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(lon, lat)
    table.drop(columns=["经度", "纬度"]).assign(x=x.round(2), y=y.round(2)).to_csv(csv, index=False)
    found = [p for p in problems(path) if "holds metres, not degrees" in p]
    assert len(found) == 1 and 'set crs = "EPSG:32650" in [branches]' in found[0]
    from netplan.study.detect import draft_manifest

    text, _ = draft_manifest(tmp_path, tmp_path / "draft.toml")
    assert 'crs = "EPSG:32650"   # guess: the file has no CRS' in text
