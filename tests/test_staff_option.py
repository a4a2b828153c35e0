"""Staffing as an option against upgrading (``[planning] staffing``, action ``staff``).

The toy: the tiny study with demand scaled up so that its two light outlets (one counter
each) are over capacity, and every other relief barred (no openings, closures,
conversions or moves). Without staffing the plan upgrades both to ``full``; with staffing
one more counter staffed in the peak hours relieves each, at ``staff_cny_per_year(1)``
instead of the upgrade's operating and amortised one-off cost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netplan._errors import ScenarioError
from netplan.model.scenario import Scenario, load_scenario, scenario_from_dict
from netplan.planning import actions
from netplan.planning import problem as planner
from netplan.planning.evaluate_plan import evaluate_plan
from netplan.planning.plan import Plan, make_plan
from netplan.study.layers import Study, load_study

LIGHT = ["b2", "b6"]  # the tiny study's light outlets: 1 counter, 2 terminals


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    from conftest import write_tiny_gpkg

    return load_study(write_tiny_gpkg(tmp_path_factory.mktemp("staff")))


def toy(**changes: object) -> Scenario:
    """The light outlets overloaded; only upgrading (or staffing) can relieve them."""
    base: dict[str, object] = dict(
        customer_share=0.12, visits_per_customer_per_year=250.0, max_dist_km=30.0,
        budget_cny=None, max_open=0, max_close=0, max_convert=0, relocation_radius_km=0.0,
        min_share_outside_ring=None, districts={}, time_limit_s=60.0, mip_gap=1e-6,
        unserved_penalty_cny_per_visit=5000.0)
    base.update(changes)
    return load_scenario().replace(**base)


def _objective(plan: Plan) -> float:
    obj = plan.kpis["solver"]["objective"]
    assert obj is not None
    return float(obj)


def _by_site(plan: Plan, col: str) -> dict[str, object]:
    a = plan.actions
    return dict(zip(a["site_id"], a[col], strict=True))


def test_staffing_is_cheaper_than_upgrading(study: Study) -> None:
    off, on = toy(), toy(staffing=True)
    p_off, p_on = make_plan(study, off, year=2020), make_plan(study, on, year=2020)
    act_off, act_on = _by_site(p_off, "action"), _by_site(p_on, "action")
    assert sorted(s for s, a in act_off.items() if a == "upgrade") == LIGHT
    assert sorted(s for s, a in act_on.items() if a == "staff") == LIGHT
    assert set(act_on.values()) == {"keep", "staff"}
    # one counter more each: the light outlet keeps its format and gains one counter
    staffed = _by_site(p_on, "staffed_counters")
    assert all(staffed[s] == (1 if s in LIGHT else 0) for s in staffed)
    assert _by_site(p_on, "format_after")["b2"] == "light"
    one = float(planner.staff_cny_per_year(1, on))
    assert one == pytest.approx(on.staff_hours_per_day * on.business_days_per_year
                                * on.staff_hour_cny)
    assert _by_site(p_on, "staff_cny_per_year")["b2"] == pytest.approx(one)
    # the known answer: each outlet saves the upgrade (opex gap + amortised conversion)
    # less one staffed counter; the routing is the same, so travel cancels
    full, light = on.formats["full"], on.formats["light"]
    upgrade = (full.opex_cny_per_year - light.opex_cny_per_year
               + full.convert_cny / on.amortisation_years)
    saved = _objective(p_off) - _objective(p_on)
    assert saved == pytest.approx(2 * (upgrade - one), abs=1.0)
    assert p_on.kpis["actions"]["staff"] == 2 and p_on.kpis["actions"]["upgrade"] == 0
    assert p_on.kpis["behaviour"]["holds"] is True
    # the plan's operating cost after includes the staffing
    assert p_on.kpis["costs"]["opex_after_cny_per_year"] == pytest.approx(
        p_on.kpis["costs"]["opex_before_cny_per_year"] + 2 * one, abs=1)
    reason = _by_site(p_on, "reason")["b2"]
    assert str(reason).startswith("1 more counter(s) staffed in the peak hours")


def test_upgrading_wins_when_staffing_is_dearer(study: Study) -> None:
    # one staffed counter a year costs more than an upgrade's annual cost
    sc = toy(staffing=True, staff_hour_cny=3000.0)
    full, light = sc.formats["full"], sc.formats["light"]
    upgrade = (full.opex_cny_per_year - light.opex_cny_per_year
               + full.convert_cny / sc.amortisation_years)
    assert float(planner.staff_cny_per_year(1, sc)) > upgrade
    act = _by_site(make_plan(study, sc, year=2020), "action")
    assert sorted(s for s, a in act.items() if a == "upgrade") == LIGHT
    assert "staff" not in act.values()


def test_staffing_off_changes_nothing(study: Study) -> None:
    off = toy()
    assert off.staffing is False  # the default
    model = planner.build_model(study, off, year=2020)
    assert not model.options.staffed.any()
    # staffed options that are never worth it leave the plan exactly as without them
    dear = toy(staffing=True, staff_hour_cny=1e6)
    with_opts = planner.build_model(study, dear, year=2020)
    plain = with_opts.options.staffed == 0
    assert plain.sum() == len(model.options.site)
    for f in ("site", "format", "counters", "terminals", "capacity", "opex", "oneoff",
              "is_current"):
        assert np.array_equal(getattr(with_opts.options, f)[plain],
                              getattr(model.options, f)), f
    # two staffed options (staff_extra_counters = 2) per decided outlet
    assert int((~plain).sum()) == 2 * int((model.sites.existing & model.sites.decide).sum())
    p_off, p_dear = make_plan(study, off, year=2020), make_plan(study, dear, year=2020)
    assert _objective(p_off) == pytest.approx(_objective(p_dear), rel=1e-9)
    assert p_off.actions.drop(columns="geometry").equals(p_dear.actions.drop(columns="geometry"))


def test_kpis_after_count_the_staffed_counters(study: Study, tmp_path: Path) -> None:
    sc = toy(staffing=True)
    plan = make_plan(study, sc, year=2020)
    s = plan.sites_after.set_index("site_id")
    for sid in LIGHT:
        assert s.loc[sid, "counters"] == 2 and s.loc[sid, "staffed_counters"] == 1
    after = plan.kpis["behaviour"]["after"]
    # `netplan evaluate` of the unchanged folder rebuilds the network with the staffed
    # counters (the staffed_counters column) and gives back the plan's own figures
    folder = plan.write(tmp_path / "plan")
    ev = evaluate_plan(folder, study)
    for key in ("counter_mean_wait_min", "mean_wait_min", "overloaded_outlets"):
        assert ev.after[key] == after[key], key
    assert after["overloaded_outlets"] == 0
    # without them (staff rows turned into keep) the light outlets are over capacity again
    csv = folder / "actions.csv"
    csv.write_text(csv.read_text(encoding="utf-8").replace(",staff,", ",keep,"),
                   encoding="utf-8")
    bare = evaluate_plan(folder, study)
    assert bare.after["overloaded_outlets"] == 2
    assert bare.after["counter_mean_wait_min"] > after["counter_mean_wait_min"] + 1.0
    assert sorted(o["site_id"] for o in bare.over_capacity) == LIGHT


def test_district_plans_merge_with_their_staffing(study: Study) -> None:
    from netplan.planning.city import merge_districts
    from netplan.planning.district import run_district
    from netplan.planning.limits import district_scenario, split_limits

    sc = toy(staffing=True)
    lim = split_limits(study, sc, year=2020)
    runs = {ad: run_district(study, district_scenario(sc, lim[ad]), ad, year=2020)
            for ad in lim}
    merged = merge_districts(study, sc, runs, year=2020, limits=lim)
    staff = merged.actions[merged.actions["action"] == "staff"]
    assert sorted(staff["site_id"]) == sorted(
        sid for r in runs.values() if r.plan is not None
        for sid, a in zip(r.plan.actions["site_id"], r.plan.actions["action"], strict=True)
        if a == "staff")
    assert len(staff) > 0 and (staff["staffed_counters"] > 0).all()
    s = merged.sites_after.set_index("site_id")
    for sid, extra in zip(staff["site_id"], staff["staffed_counters"], strict=True):
        assert s.loc[sid, "staffed_counters"] == extra
        assert s.loc[sid, "counters"] == 1 + extra  # the light outlets' one counter


def test_registry_and_keys() -> None:
    staff = actions.action("staff")
    assert staff.changes_network and staff in actions.by_priority()
    assert "staff" in actions.markers()
    sc = scenario_from_dict({"planning": {"staffing": True, "staff_extra_counters": 3}})
    assert sc.staffing is True and sc.staff_extra_counters == 3
    assert scenario_from_dict({"planning": {"staffing": "false"}}).staffing is False
    with pytest.raises(ScenarioError, match=r"planning\.staffing must be true or false"):
        scenario_from_dict({"planning": {"staffing": 1}})
    with pytest.raises(ScenarioError, match=r"planning\.staff_extra_counters must be in"):
        scenario_from_dict({"planning": {"staff_extra_counters": 0}})
    with pytest.raises(ScenarioError, match=r"planning\.staff_hours_per_day must be in"):
        scenario_from_dict({"planning": {"staff_hours_per_day": 0}})
