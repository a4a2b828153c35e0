"""No Beijing hard-wiring (issue 14): central districts, population years, the study's name
and CRS, and plan folders that remember their study.

Each silent Beijing fallback of the issue has its case here, with the message that names
the fix. Tiny inputs only: demand tables of a few rows, the tiny study of ``conftest.py``
and the hand-built plan of ``conftest_maps.py`` (no solver).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_maps import tiny_plan, tiny_study
from rich.console import Console

from netplan._errors import LayerError, NetplanError, ScenarioError
from netplan.cli import main
from netplan.model.demand import central_adcodes, pop_column, valid_years, zone_population
from netplan.model.scenario import Scenario, load_scenario
from netplan.planning.diagnose import diagnose
from netplan.planning.plan import read_plan
from netplan.present.folder import plan_study, write_plan_folder
from netplan.present.terminal import render_diagnosis

SC = load_scenario()

DISTRICTS = pd.DataFrame({
    "adcode": ["510104", "510105", "510112"],
    "name_zh": ["锦江区", "青羊区", "龙泉驿区"],
    "name_en": ["Jinjiang", "Qingyang", "Longquanyi"],
    "zone": ["central", "core", "outer"],
})
ZONES = pd.DataFrame({
    "adcode": ["510104", "510105", "510112", "510112"],
    "pop_2015": [100.0, 200.0, 50.0, 150.0],
    "pop_2023": [120.0, 180.0, 100.0, 150.0],
})


def chengdu(central: tuple[str, ...] = ()) -> Scenario:
    """A scenario with base year 2023 and a 1,000-resident horizon, 300 of them central."""
    return SC.replace(base_year=2023, horizon_year=2035, horizon_total_population=1000.0,
                      horizon_central_population=300.0, central_districts=central)


# --- central districts -----------------------------------------------------------------


def test_central_districts_by_name_code_or_zone_column() -> None:
    assert central_adcodes(chengdu(("锦江区", "qingyang")), DISTRICTS) == {"510104", "510105"}
    assert central_adcodes(chengdu(("510112",)), DISTRICTS) == {"510112"}
    # not set: the districts whose zone column says core or central
    assert central_adcodes(chengdu(), DISTRICTS) == {"510104", "510105"}
    pop = zone_population(ZONES, chengdu(("510112",)), year=2035, districts=DISTRICTS)
    assert pop[2:].sum() == pytest.approx(300.0) and pop.sum() == pytest.approx(1000.0)


def test_unknown_central_district_names_the_districts() -> None:
    with pytest.raises(ScenarioError, match=r"central_districts .* names '东城区', which is no "
                                            r"district of the study \(its districts: Jinjiang, "
                                            r"Longquanyi, Qingyang, 锦江区"):
        central_adcodes(chengdu(("东城区",)), DISTRICTS)
    # the Beijing scenario's six adcodes on another city's districts
    with pytest.raises(ScenarioError, match=r"names '110101', .* which are no district"):
        central_adcodes(SC, DISTRICTS)


def test_no_central_districts_names_the_fix() -> None:
    with pytest.raises(ScenarioError, match=r"set \[horizon\] central_districts = \[names or "
                                            r"adcodes\], give the districts layer a 'zone'"):
        zone_population(ZONES, chengdu(), year=2035, districts=DISTRICTS.drop(columns="zone"))


# --- population columns follow [years] -------------------------------------------------


def test_population_columns_follow_the_years() -> None:
    sc = chengdu()
    assert pop_column(2023) == "pop_2023" and valid_years(sc, ZONES) == (2015, 2023, 2035)
    np.testing.assert_array_equal(zone_population(ZONES, sc, year=2023), ZONES["pop_2023"])
    pop = zone_population(ZONES, sc, year=2035, districts=DISTRICTS)
    # central 300 in 2023 stays 300; the others grow 250 -> 700, all where 2015 -> 2023 grew
    np.testing.assert_allclose(pop, [120.0, 180.0, 100.0 + 450.0, 150.0])


def test_missing_base_year_column_names_the_columns_present() -> None:
    with pytest.raises(LayerError, match=r"'pop_2023': found no such column; .*base = 2023, "
                                         r"and the zones' population columns are pop_2015; "
                                         r"set years.base"):
        zone_population(ZONES.drop(columns="pop_2023"), chengdu(), year=2023)


# --- the study's name and CRS ------------------------------------------------------------


def test_diagnosis_total_row_names_the_study(tmp_path: Path) -> None:
    study = dataclasses.replace(tiny_study(tmp_path), name="成都 Chengdu")
    console = Console(record=True, width=200)
    render_diagnosis(console, diagnose(study, SC.replace(districts={})), study, adcode=None)
    text = console.export_text()
    assert "成都 Chengdu" in text and "Beijing" not in text
    assert "inside Ring 2" in text  # ring zones labelled by the rings' names


# --- plan folders remember their study ---------------------------------------------------


def run(args: list[str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``netplan ARGS`` in this process: exit code, stdout + stderr."""
    monkeypatch.setattr(sys, "argv", ["netplan", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    got = capsys.readouterr()
    return code, got.out + got.err


def test_plan_folder_records_its_study_and_refuses_it_changed_or_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    study = dataclasses.replace(tiny_study(tmp_path), crs="EPSG:32651")
    folder = write_plan_folder(tiny_plan(), study, tmp_path / "plan")
    rec = json.loads((folder / "run.json").read_text(encoding="utf-8"))["study"]
    gpkg = (tmp_path / "tiny.gpkg").resolve()
    assert rec["path"] == str(gpkg) and rec["crs"] == "EPSG:32651"
    assert list(rec["sha256"]) == [str(gpkg)] and len(rec["sha256"][str(gpkg)]) == 64
    plan = read_plan(folder)
    assert str(plan.actions.crs) == "EPSG:32651"  # read back in the study's CRS
    again = plan_study(plan)
    assert again is not None and again.source == str(tmp_path / "tiny.gpkg")
    html = (folder / "map.html").read_text(encoding="utf-8")
    assert "~1 km" not in html and "grid cell" not in html
    # the study moves away: an error naming --study, nothing written, no embedded data
    moved = tmp_path / "moved.gpkg"
    os.replace(gpkg, moved)
    code, text = run(["map", str(folder), "--out", str(tmp_path / "m.html")], monkeypatch,
                     capsys)
    assert code == 1 and "tiny.gpkg is missing; pass --study FILE" in " ".join(text.split())
    assert not (tmp_path / "m.html").exists()
    # --study names the study to use instead
    code, text = run(["map", str(folder), "--out", str(tmp_path / "m.html"), "--tiles", "none",
                      "--study", str(moved)], monkeypatch, capsys)
    assert code == 0 and (tmp_path / "m.html").is_file(), text
    # the study changes: refused too
    with open(moved, "ab") as fh:
        fh.write(b"\0")
    os.replace(moved, gpkg)
    with pytest.raises(NetplanError, match=r"tiny.gpkg changed since \(its SHA-256 differs\); "
                                           r"pass --study FILE"):
        plan_study(read_plan(folder))
    code, text = run(["evaluate", str(folder)], monkeypatch, capsys)
    assert code == 1 and "pass --study FILE" in " ".join(text.split())


# --- census columns of any year ---------------------------------------------------------


def _zones_file(tmp_path: Path, pops: dict[str, list[float | None]]) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    cells = [box(104.0 + 0.01 * i, 30.6, 104.01 + 0.01 * i, 30.61) for i in range(2)]
    gdf = gpd.GeoDataFrame({"zone_id": ["z1", "z2"], **pops}, geometry=cells, crs="EPSG:4326")
    path = tmp_path / "zones.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_zones_need_no_2010_or_2020_census(tmp_path: Path) -> None:
    from netplan.study.readers import read_layer

    zones = read_layer(_zones_file(tmp_path, {"pop_2015": [100, 200], "pop_2023": [130, 180]}),
                       "zones")
    assert "pop_2010" not in zones and "pop_2020" not in zones
    assert zones["pop_2023"].tolist() == [130, 180]
    assert zones["inflow"].tolist() == [30, -20]  # the two latest censuses


def test_a_census_column_of_any_year_must_be_complete(tmp_path: Path) -> None:
    from netplan.study.readers import read_layer

    path = _zones_file(tmp_path, {"pop_2023": [130, None]})
    with pytest.raises(LayerError, match=r"column 'pop_2023'.*row 2"):
        read_layer(path, "zones")
