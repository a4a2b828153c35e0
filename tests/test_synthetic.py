"""Synthetic studies: determinism, schema validity, sizes, files, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal
from typer.testing import CliRunner

from netplan._errors import NetplanError
from netplan.model import demand
from netplan.model.scenario import load_scenario
from netplan.model.synthetic import (
    make_study,
    synthetic_scenario,
    synthetic_scenario_toml,
    write_study,
)
from netplan.study.crs import BEIJING_CRS as METRIC_CRS
from netplan.study.geometry import RING_ZONES
from netplan.study.layers import load_study
from netplan.study.readers import validate_layer
from netplan.study.schemas import STUDY_KINDS

SIZE = (400, 40, 3)


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    return make_study(*SIZE, seed=7)


def test_same_seed_same_study(study) -> None:  # type: ignore[no-untyped-def]
    again = make_study(*SIZE, seed=7)
    for kind in STUDY_KINDS:
        assert_geodataframe_equal(getattr(study, kind), getattr(again, kind))
    assert study.source == again.source


def test_other_seed_other_study(study) -> None:  # type: ignore[no-untyped-def]
    other = make_study(*SIZE, seed=8)
    assert not np.array_equal(study.zones["pop_2020"].to_numpy(),
                              other.zones["pop_2020"].to_numpy())
    assert not study.branches.geometry.geom_equals(other.branches.geometry).all()


@pytest.mark.parametrize("kind", STUDY_KINDS)
def test_layers_pass_validation(study, kind: str) -> None:  # type: ignore[no-untyped-def]
    gdf = getattr(study, kind)
    assert str(gdf.crs) == METRIC_CRS
    out = validate_layer(gdf, kind)
    assert len(out) == len(gdf)


def test_sizes_and_labels(study) -> None:  # type: ignore[no-untyped-def]
    n_zones, n_sites, n_districts = SIZE
    assert len(study.zones) == n_zones
    assert len(study.branches) + len(study.candidates) == n_sites
    assert len(study.districts) == n_districts
    ads = study.districts["adcode"].tolist()
    assert ads == ["910001", "910002", "910003"]
    assert all(re.fullmatch(r"\d{6}", a) for a in ads)
    for kind in ("zones", "branches", "candidates"):
        gdf = getattr(study, kind)
        assert gdf["adcode"].isin(ads).all(), kind
        assert gdf["ring_zone"].isin(RING_ZONES).all(), kind
    assert study.ring_zones["ring_zone"].tolist() == list(RING_ZONES)
    assert set(study.branches["format"]) <= {"full", "light"}
    assert set(study.candidates["kind"]) == {"metro", "cluster"}
    z = study.zones
    assert (z["inflow"] == z["pop_2020"] - z["pop_2010"]).all()
    # districts tile the zones: populations add up
    by_d = z.groupby("adcode")["pop_2020"].sum()
    assert by_d.to_dict() == dict(zip(study.districts["adcode"], study.districts["pop_2020"],
                                      strict=True))
    # the zone cells are 1 km squares
    assert np.allclose(z.geometry.area, 1e6)


def test_population_follows_the_centre_and_grows_outside(study) -> None:  # type: ignore[no-untyped-def]
    z = study.zones
    inner = z["ring_zone"].isin(["inside_2", "2_3"])
    assert z.loc[inner, "pop_2020"].mean() > 5 * z.loc[~inner, "pop_2020"].mean()
    assert z.loc[inner, "inflow"].sum() < 0 < z.loc[~inner, "inflow"].sum()
    assert z["pop_2020"].sum() == pytest.approx(38_000 * len(study.branches), rel=0.01)


def test_write_and_load_round_trip(study, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_study(study, tmp_path / "syn.gpkg")
    back = load_study(path)
    for kind in ("zones", "branches", "candidates"):
        a, b = getattr(study, kind), getattr(back, kind)
        assert a["adcode"].tolist() == b["adcode"].tolist(), kind
        assert a["ring_zone"].tolist() == b["ring_zone"].tolist(), kind
    assert back.zones["pop_2020"].sum() == study.zones["pop_2020"].sum()


def test_synthetic_scenario_places_the_horizon(study, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sc = synthetic_scenario(study, load_scenario())
    assert dict(sc.districts) == {}
    pop = demand.zone_population(study.zones, sc, year=sc.horizon_year)
    assert pop.sum() == pytest.approx(1.1 * study.zones["pop_2020"].sum())
    toml = tmp_path / "s.toml"
    toml.write_text(synthetic_scenario_toml(study), encoding="utf-8")
    from_file = load_scenario(toml)
    assert dict(from_file.districts) == {}
    assert from_file.horizon_total_population == pytest.approx(sc.horizon_total_population,
                                                               abs=1)


@pytest.mark.parametrize(("args", "match"), [
    ((5, 10, 1), "n_zones must be an integer >= 10"),
    ((100, 1, 1), "n_sites must be an integer >= 2"),
    ((100, 10, 26), "too many for 100 zones"),
])
def test_bad_sizes(args: tuple[int, int, int], match: str) -> None:
    with pytest.raises(NetplanError, match=match):
        make_study(*args)


def test_write_needs_gpkg(study, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NetplanError, match=r"write a \.gpkg file"):
        write_study(study, tmp_path / "x.geojson")


def test_cli_synth(tmp_path: Path) -> None:
    from netplan.cli import app

    out = tmp_path / "s.gpkg"
    res = CliRunner().invoke(app, ["synth", "--zones", "200", "--sites", "20", "--districts",
                                   "2", "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert out.is_file() and out.with_suffix(".toml").is_file()
    st = load_study(out)
    assert len(st.zones) == 200 and len(st.districts) == 2
    load_scenario(out.with_suffix(".toml"))
