"""netplan.summary and `netplan summary`: a tiny synthetic study, then the embedded data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netplan._errors import NetplanError
from netplan.cli import app
from netplan.study.layers import load_study
from netplan.study.summary import summarize

runner = CliRunner()
REPO_GPKG = Path(__file__).resolve().parent.parent / "netplan" / "data" / "beijing.gpkg"


def test_summary_of_the_tiny_study(tiny_gpkg: Path, tiny_expected: dict[str, Any]) -> None:
    expected = tiny_expected
    result = summarize(load_study(tiny_gpkg), outside_ring=5)
    assert result["outlets"] == expected["outlets"]
    assert result["light_outlets"] == expected["light_outlets"]
    assert result["full_outlets"] == expected["outlets"] - expected["light_outlets"]
    assert result["outlets_outside_ring"] == expected["outside_ring"]
    assert result["share_outside_ring"] == pytest.approx(3 / 8)
    assert result["population_2010"] == expected["population_2010"]
    assert result["population_2020"] == expected["population_2020"]
    assert result["inflow"] == 310
    assert result["residents_per_outlet"] == round(3910 / 8, 1)
    assert result["branch_sources"] == {"modelled": 8}
    assert result["outlets_by_format"] == {"full": 6, "light": 2}
    by_code = {d["adcode"]: d for d in result["districts"]}
    for code, (outlets, p10, p20) in expected["districts"].items():
        assert (by_code[code]["outlets"], by_code[code]["population_2010"],
                by_code[code]["population_2020"]) == (outlets, p10, p20)
    assert by_code["110101"]["share_outside_ring"] == 0.5
    assert by_code["110105"]["name_zh"] == "朝阳区"
    rings = {r["ring_zone"]: r for r in result["ring_zones"]}
    assert list(rings) == ["inside_2", "2_3", "3_4", "4_5", "5_6", "outside_6"]
    assert [r["outlets"] for r in rings.values()] == [2, 1, 1, 1, 1, 2]
    assert rings["3_4"]["population_2020"] == 180 + 400 + 600 + 650
    assert rings["outside_6"]["inflow"] == 50 + 30 + 100 + 100
    assert rings["2_3"]["residents_per_outlet"] == 0.0
    assert rings["inside_2"]["share_of_outlets"] == 0.25
    json.dumps(result, allow_nan=False)  # JSON-ready


def test_summary_of_one_district(tiny_gpkg: Path) -> None:
    result = summarize(load_study(tiny_gpkg), adcode="Dongcheng", outside_ring=5)
    assert result["scope"] == {"adcode": "110101", "name_zh": "东城区",
                               "name_en": "Dongcheng District"}
    assert (result["outlets"], result["light_outlets"]) == (4, 1)
    assert (result["population_2010"], result["population_2020"]) == (1000, 1060)
    assert result["share_outside_ring"] == 0.5
    assert [d["adcode"] for d in result["districts"]] == ["110101"]
    assert sum(r["outlets"] for r in result["ring_zones"]) == 4
    assert sum(r["population_2020"] for r in result["ring_zones"]) == 1060


def test_summary_unknown_district(tiny_gpkg: Path) -> None:
    with pytest.raises(NetplanError, match="district 'Atlantis' matches no district"):
        summarize(load_study(tiny_gpkg), adcode="Atlantis")


def test_cli_summary_json_and_tables(tiny_gpkg: Path) -> None:
    result = runner.invoke(app, ["summary", "--data", str(tiny_gpkg), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["outlets"] == 8 and data["n_districts"] == 2
    result = runner.invoke(app, ["summary", "--data", str(tiny_gpkg), "-d", "朝阳"],
                           env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "朝阳区 (110105): per district" in result.output
    assert "per ring zone" in result.output and "outside_6" in result.output
    assert "branches: 4 modelled" in result.output
    result = runner.invoke(app, ["summary", "--data", str(tiny_gpkg), "-d", "nowhere"])
    assert isinstance(result.exception, NetplanError)


def test_cli_summary_override(tmp_path: Path, tiny_gpkg: Path) -> None:
    result = runner.invoke(app, ["summary", "--data", str(tiny_gpkg), "--override", "shops=x"])
    assert isinstance(result.exception, NetplanError)
    assert "unknown layer kind 'shops'" in str(result.exception)
    result = runner.invoke(app, ["summary", "--data", str(tiny_gpkg), "--override", "oops"])
    assert "expected KIND=FILE" in str(result.exception)


@pytest.mark.skipif(not REPO_GPKG.is_file(),
                    reason="netplan/data/beijing.gpkg is absent: build it with "
                    "data/build_beijing.py")
def test_must_show_figures_of_the_embedded_dataset() -> None:
    result = runner.invoke(app, ["summary", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["outlets"] == 562
    assert data["light_outlets"] == 70
    assert 0.28 <= data["share_outside_ring"] <= 0.36
    assert data["population_2010"] == 19_612_368
    assert data["population_2020"] == 21_893_095
    assert data["branch_sources"] == {"modelled": 562}
    districts = data["districts"]
    assert len(districts) == 16 and data["n_districts"] == 16
    for key in ("outlets", "light_outlets", "outlets_outside_ring", "population_2010",
                "population_2020", "inflow"):
        assert sum(d[key] for d in districts) == data[key], key
        assert sum(r[key] for r in data["ring_zones"]) == data[key], key
    # the old city is dense, the inflow districts grew
    by_code = {d["adcode"]: d for d in districts}
    for code in ("110112", "110115", "110114", "110113", "110111"):
        assert by_code[code]["inflow"] > 0
        assert by_code[code]["residents_per_outlet"] > by_code["110101"]["residents_per_outlet"]
