"""Rings of any numbering: ring zones, labels, the ring-share limit and its KPI (issue 14).

Known answers on concentric squares (geometry) and on the tiny two-district study of
``conftest.py`` (rings 2..6, three of eight outlets outside ring 5).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from netplan._errors import LayerError, ScenarioError
from netplan.model.scenario import Scenario, load_scenario, scenario_from_dict
from netplan.planning.plan import make_plan
from netplan.planning.problem import build_model
from netplan.present import texts
from netplan.study.geometry import (
    label_features,
    outside_ring_limit,
    outside_ring_mask,
    ring_zone_ids,
    ring_zone_order,
    ring_zones_from_rings,
    rings_of,
)
from netplan.study.layers import Study, load_study

X0, Y0, KM = 450_000.0, 4_420_000.0, 1000.0
UTM50 = "EPSG:32650"


def square(h_km: float) -> shapely.LineString:
    return shapely.LineString(shapely.box(X0 - h_km * KM, Y0 - h_km * KM,
                                          X0 + h_km * KM, Y0 + h_km * KM).exterior.coords)


AREA = gpd.GeoDataFrame({"adcode": ["510104"]},
                        geometry=[shapely.box(X0 - 6 * KM, Y0 - 6 * KM, X0 + 6 * KM,
                                              Y0 + 6 * KM)], crs=UTM50)


def test_chengdu_numbering_rings_1_to_4() -> None:
    # 一环..绕城 as rings 1..4: squares of half-side 1..4 km in a 12 km square
    rings = gpd.GeoDataFrame({"ring": [3, 1, 4, 2]}, geometry=[square(3), square(1), square(4),
                                                              square(2)], crs=UTM50)
    zones = ring_zones_from_rings(rings, AREA)
    assert list(zones["ring_zone"]) == ["inside_1", "1_2", "2_3", "3_4", "outside_4"]
    np.testing.assert_allclose(zones.area.to_numpy() / KM**2, [4, 12, 20, 28, 144 - 64])
    assert rings_of(zones["ring_zone"]) == (1, 2, 3, 4)
    assert outside_ring_mask(zones["ring_zone"].to_numpy(), 3).tolist() == [
        False, False, False, True, True]


def test_one_ring_and_no_ring() -> None:
    one = ring_zones_from_rings(
        gpd.GeoDataFrame({"ring": [7]}, geometry=[square(2)], crs=UTM50), AREA)
    assert list(one["ring_zone"]) == ["inside_7", "outside_7"]
    assert one.area.sum() == pytest.approx(144 * KM**2)
    none = ring_zones_from_rings(
        gpd.GeoDataFrame({"ring": []}, geometry=gpd.GeoSeries([], crs=UTM50), crs=UTM50), AREA)
    assert list(none["ring_zone"]) == ["all"] and none.area.sum() == pytest.approx(144 * KM**2)
    assert rings_of(none["ring_zone"]) == () and ring_zone_ids([]) == ("all",)
    assert not outside_ring_mask(["all", None, "x"], 1).any()


def test_bad_ring_numbers_are_named() -> None:
    rings = gpd.GeoDataFrame({"ring": [0, 2]}, geometry=[square(1), square(2)], crs=UTM50)
    with pytest.raises(LayerError, match=r"positive whole numbers.*renumber them"):
        ring_zones_from_rings(rings, AREA)


def test_labels_come_from_the_ring_names() -> None:
    names = {1: "一环路", 2: "二环路"}
    assert texts.ring_zone_label("inside_1", names) == "inside 一环路"
    assert texts.ring_zone_label("1_2", names) == "一环路 – 二环路"
    assert texts.ring_zone_label("outside_2", names) == "outside 二环路"
    assert texts.ring_zone_label("4_5") == "rings 4–5"
    assert texts.ring_zone_label("outside_6") == "outside ring 6"
    assert texts.ring_zone_label("inside_2", short=True) == "< 2"
    assert texts.ring_zone_label("all") == "whole area"
    assert ring_zone_order(["outside_4", "all", "1_2", "inside_1", None]) == [
        "all", "inside_1", "1_2", "outside_4"]


# --- the scenario keys ---------------------------------------------------------------------


def test_old_key_is_read_with_a_note_naming_the_new_keys(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        s = scenario_from_dict({"planning": {"min_share_outside_ring5": 0.25}})
    assert (s.outside_ring, s.min_share_outside_ring) == (5, 0.25)
    assert "write outside_ring = 5 and min_share_outside_ring = 0.25" in caplog.text
    with pytest.raises(ScenarioError, match=r"old name of outside_ring = 5 and "
                                            r"min_share_outside_ring; give only the new keys"):
        scenario_from_dict({"planning": {"min_share_outside_ring5": 0.2,
                                         "min_share_outside_ring": 0.3}})


def test_a_ring_the_study_lacks_is_named_with_the_rings_it_has() -> None:
    with pytest.raises(ScenarioError, match=r"outside_ring = 7, but the study's ring roads are "
                                            r"rings 2, 3, 4, 5, 6; set planning.outside_ring"):
        outside_ring_limit(["inside_2", "2_3", "3_4", "4_5", "5_6", "outside_6"], 7, 0.3)
    assert outside_ring_limit(["all"], 7, 0.3) is None  # no rings: the constraint is off
    assert outside_ring_limit(["inside_2", "outside_6"], 7, None) is None


# --- planning ------------------------------------------------------------------------------


def busy(**changes: object) -> Scenario:
    """The default scenario with demand scaled up to the tiny study (as in test_plan)."""
    base: dict[str, object] = dict(
        customer_share=0.9, visits_per_customer_per_year=250.0, max_dist_km=30.0,
        budget_cny=None, max_open=None, max_close=None, districts={}, time_limit_s=60.0,
        mip_gap=1e-6)
    base.update(changes)
    return load_scenario().replace(**base)


def ringless(study: Study) -> Study:
    """The study without ring roads: one ring zone, ``all``."""
    empty = study.ring_roads.iloc[0:0]
    rz = ring_zones_from_rings(empty, study.districts)
    relabel = {k: label_features(getattr(study, k), gdf_districts=study.districts,
                                 gdf_ring_zones=rz) for k in ("zones", "branches", "candidates")}
    return dataclasses.replace(study, ring_roads=empty, ring_zones=rz, **relabel)


def test_ringless_study_builds_without_the_ring_share(tiny_gpkg: Path) -> None:
    study = load_study(tiny_gpkg)
    sc = busy(min_share_outside_ring=0.99)
    with_rings = build_model(study, sc, year=2020, adcode=None).problem
    assert with_rings.min_share_outside == 0.99
    assert with_rings.site_outside.sum() == 3 + 2  # 3 outlets and both candidates
    without = build_model(ringless(study), sc, year=2020, adcode=None).problem
    assert without.min_share_outside is None and not without.site_outside.any()
    with pytest.raises(ScenarioError, match=r"outside_ring = 9, but the study's ring roads "
                                            r"are rings 2, 3, 4, 5, 6"):
        build_model(study, busy(outside_ring=9), year=2020, adcode=None)


@pytest.mark.slow
def test_ringless_study_plans_with_the_ring_share_off(tiny_gpkg: Path) -> None:
    study = load_study(tiny_gpkg)
    free = make_plan(study, busy(min_share_outside_ring=None), year=2020)
    plan = make_plan(ringless(study), busy(min_share_outside_ring=0.99), year=2020)
    # 99% outside ring 5 would force openings on the ring study; without rings it is off
    assert plan.actions["action"].tolist() == free.actions["action"].tolist()
    assert set(plan.actions["ring_zone"]) == {"all"}
    assert plan.kpis["after"]["overall"]["share_outlets_outside_ring"] is None
    assert list(plan.kpis["after"]["ring_zones"]) == ["all"]
    # the ring study measures its share outside ring 5 (3 of 8 today) under the new key
    assert free.kpis["before"]["overall"]["share_outlets_outside_ring"] == 0.375
    assert free.kpis["scenario"]["planning"]["outside_ring"] == 5
    rows, _ = texts.plan_kpi_rows(free.kpis, 11.0, texts.ring_names(study))
    assert "Outlets outside Ring 5" in [r.label for r in rows]
