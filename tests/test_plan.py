"""The planner end to end on the tiny synthetic study: invariants and known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netplan._errors import NetplanError
from netplan.model.scenario import Scenario, load_scenario
from netplan.planning.plan import Plan, make_plan, read_plan
from netplan.study.layers import Study, load_study


@pytest.fixture
def study(tiny_gpkg: Path) -> Study:
    return load_study(tiny_gpkg)


def busy(**changes: object) -> Scenario:
    """The default scenario with demand scaled up to the tiny study's few thousand people."""
    base = dict(customer_share=0.9, visits_per_customer_per_year=250.0, max_dist_km=30.0,
                budget_cny=None, max_open=None, max_close=None, min_share_outside_ring=None,
                districts={}, time_limit_s=60.0, mip_gap=1e-6)
    base.update(changes)
    return load_scenario().replace(**base)


def test_plan_invariants(study: Study) -> None:
    sc = busy()
    plan = make_plan(study, sc, year=2020)
    acts = plan.actions
    # every existing outlet has exactly one action; candidates appear only when opened
    existing = acts[acts["kind"] == "outlet"]
    assert sorted(existing["site_id"]) == sorted(study.branches["branch_id"])
    assert set(acts["action"]) <= {"keep", "open", "close", "upgrade", "convert", "relocate"}
    assert (acts.loc[acts["kind"] != "outlet", "action"] == "open").all()
    # every zone's shares plus its unserved share add up to one
    shares = plan.assignment.groupby("zone_id")["share"].sum()
    z = plan.zones_kpi.set_index("zone_id")
    total = shares.reindex(z.index, fill_value=0.0) + z["unserved_after"]
    assert np.allclose(total.to_numpy(), 1.0, atol=1e-4)
    # the plan holds when no outlet is above its capacity under the customers' own choice,
    # and the block lists exactly the outlets that are
    after = plan.kpis["after"]["overall"]
    beh = plan.kpis["behaviour"]
    assert beh["rule"] == "choice" and beh["after"]["rule"] == "choice"
    over = set(plan.sites_after.loc[plan.sites_after["utilisation"] > 1 + 1e-6, "site_id"])
    assert {o["site_id"] for o in beh["over_capacity"]} == over
    assert len(over) == after["overloaded_outlets"] == beh["after"]["overloaded_outlets"]
    assert beh["holds"] == (not over)
    assert beh["nearest"]["after"]["rule"] == "nearest"
    # travel and service figures come from the same flows
    assert beh["after"]["outlets"] == after["outlets"]
    assert beh["after"]["unserved_arrivals_per_h"] == pytest.approx(
        after["unserved_arrivals_per_h"], abs=0.02)
    assert plan.kpis["solver"]["status"] == "optimal"
    assert sum(plan.counts.values()) == len(acts)


def test_negligible_demand_keeps_one_outlet(study: Study) -> None:
    # with almost no customers and costly outlets, one outlet within reach of all is best
    plan = make_plan(study, busy(customer_share=0.001, visits_per_customer_per_year=1.0,
                                 unserved_penalty_cny_per_visit=1e6), year=2020)
    assert plan.kpis["after"]["overall"]["outlets"] == 1
    # the survivor may have moved to a candidate (relocation), never as a new opening
    assert plan.counts["open"] == 0
    assert plan.counts["close"] + plan.counts["relocate"] == 8 - plan.counts["keep"] - plan.counts[
        "upgrade"] - plan.counts["convert"]
    assert plan.counts["keep"] + plan.counts["upgrade"] + plan.counts["convert"] + plan.counts[
        "relocate"] == 1


def test_limits_and_locks_are_respected(study: Study) -> None:
    sc = busy(customer_share=0.001, visits_per_customer_per_year=1.0, max_close=3)
    plan = make_plan(study, sc, year=2020, locked=frozenset({"b7"}), forbidden=frozenset({"c1"}))
    acts = plan.actions.set_index("site_id")
    assert acts.loc["b7", "action"] in {"keep", "upgrade", "convert"}
    assert "c1" not in plan.sites_after["site_id"].tolist()
    assert plan.counts["close"] + plan.counts["relocate"] <= 3


def test_plan_folder_round_trips_and_is_byte_stable(study: Study, tmp_path: Path) -> None:
    plan = make_plan(study, busy(), year=2020)
    out = tmp_path / "plans"
    a = plan.write(out / "a")
    b = plan.write(out / "b")
    for name in ("actions.csv", "kpis.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    back = read_plan(a)
    assert isinstance(back, Plan)
    assert back.kpis == json.loads((a / "kpis.json").read_text(encoding="utf-8"))
    assert back.actions["action"].tolist() == plan.actions["action"].tolist()
    # rewriting into an existing folder replaces it whole, leaving no temporary folders
    plan.write(a)
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_district_plan_decides_only_its_own_sites(study: Study) -> None:
    plan = make_plan(study, busy(), year=2020, district="110101")
    assert set(plan.actions["adcode"]) == {"110101"}
    assert plan.kpis["scope"] == "110101"
    assert list(plan.kpis["after"]["districts"]) == ["110101"]
    # the service figures count the district's own outlets only
    assert plan.kpis["behaviour"]["after"]["outlets"] == plan.kpis["after"]["overall"]["outlets"]


def test_nearest_rule_gives_no_side_by_side_block(study: Study) -> None:
    plan = make_plan(study, busy(behaviour_rule="nearest"), year=2020)
    beh = plan.kpis["behaviour"]
    assert beh["rule"] == "nearest" and "nearest" not in beh
    assert plan.kpis["scenario"]["behaviour"]["rule"] == "nearest"


def test_cbc_through_pulp_gives_the_same_plan(study: Study) -> None:
    sc = busy()
    h = make_plan(study, sc, year=2020, solver="highs")
    c = make_plan(study, sc, year=2020, solver="cbc")
    assert h.kpis["solver"]["objective"] == pytest.approx(c.kpis["solver"]["objective"], rel=1e-6)


def test_read_plan_refuses_a_malformed_kpis_file(study: Study, tmp_path: Path) -> None:
    folder = make_plan(study, busy(), year=2020).write(tmp_path / "plan")
    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    del kpis["after"]
    kpis["before"] = {"overall": {}}
    (folder / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    with pytest.raises(NetplanError, match=r"kpis\.json is not a kpis\.json written by netplan "
                                           r"\(missing after; before lacks districts, "
                                           r"ring_zones\)"):
        read_plan(folder)
    (folder / "kpis.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(NetplanError, match=r"kpis\.json is not valid JSON"):
        read_plan(folder)


def test_library_and_cli_give_the_same_district_plan(tmp_path: Path) -> None:
    """``make_plan(district=...)`` splits the city limits as ``netplan plan --district`` does."""
    from typer.testing import CliRunner

    from netplan.cli import app

    study = load_study(None)
    lib = make_plan(study, load_scenario(), district="东城").write(tmp_path / "lib")
    res = CliRunner().invoke(app, ["plan", "--district", "东城", "--out", str(tmp_path / "cli"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    assert (lib / "actions.csv").read_bytes() == (tmp_path / "cli" / "actions.csv").read_bytes()
