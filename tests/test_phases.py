"""Phased plans by a rolling horizon on a toy: irreversible actions, spend per phase."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest_reliability import run_cli, snapshot
from conftest_whatif import tiny_study

from netplan._errors import NetplanError, ScenarioError
from netplan.model import demand
from netplan.model.scenario import Scenario, load_scenario, scenario_from_dict
from netplan.planning.phases import PhasedPlan, phase_population, plan_phases
from netplan.study.layers import Study

# few customers: idle outlets close as far as each phase's budget allows
TOY = dict(customer_share=0.05, max_dist_km=30.0, budget_cny=None, max_open=None,
           max_close=None, min_share_outside_ring=None, districts={}, time_limit_s=60.0,
           mip_gap=1e-6, horizon_total_population=4500.0, horizon_central_population=4500.0,
           central_districts=("110101", "110105"))


def toy(**changes: object) -> Scenario:
    return load_scenario().replace(**{**TOY, **changes})


@pytest.fixture
def study() -> Study:
    return tiny_study()


@pytest.fixture(scope="module")
def phased() -> PhasedPlan:
    sc = toy(phases={"2030": {"budget_cny": 2e6, "max_open": 1},
                     "2025": {"budget_cny": 1e6}})
    return plan_phases(tiny_study(), sc)


def test_a_closed_site_never_reopens(phased: PhasedPlan) -> None:
    years = [ph.year for ph in phased.phases]
    assert years == [2025, 2030]
    closed_by: set[str] = set()
    opened_by: set[str] = set()
    for ph in phased.phases:
        acts = ph.plan.actions
        open_now = set(ph.plan.sites_after["site_id"].astype(str))
        assert not closed_by & open_now  # closed earlier: never open again
        assert opened_by <= open_now  # opened earlier: still open
        assert closed_by <= ph.forbidden
        cand = ph.study.candidates.set_index("candidate_id")
        assert all(cand.loc[s, "kind"] == "closed outlet" for s in closed_by)
        closed_by |= set(acts.loc[acts["action"].isin(["close", "relocate"]), "site_id"])
        opened_by |= set(ph.plan.sites_after.loc[
            ph.plan.sites_after["action"].isin(["open", "relocate"]), "site_id"])
    assert closed_by  # the toy does close outlets, so the rule was exercised


def test_spend_and_actions_per_phase(phased: PhasedPlan) -> None:
    spend = phased.spend()
    assert spend["year"].tolist() == [2025, 2030]
    assert spend["budget_cny"].tolist() == [1e6, 2e6]
    assert (spend["oneoff_spend_cny"] <= spend["budget_cny"]).all()
    assert spend["open"].tolist()[1] <= 1  # the phase's own limit
    assert (spend["status"] == "optimal").all() and spend["gap"].notna().all()
    acts = phased.actions()
    assert acts.columns[0] == "year" and "keep" not in set(acts["action"])
    per_year = acts.groupby("year")["action"].count().reindex([2025, 2030], fill_value=0)
    counts = spend[["open", "close", "upgrade", "convert", "relocate"]].sum(axis=1)
    assert per_year.tolist() == counts.tolist()
    # each phase is measured on its own year's demand
    assert [ph.plan.kpis["year"] for ph in phased.phases] == [2025, 2030]


def test_phase_population_follows_the_path(study: Study) -> None:
    sc = toy()
    base = study.zones[demand.pop_column(2020)].to_numpy(np.float64)
    horizon = demand.zone_population(study.zones, sc, year=2035, districts=study.districts)
    assert np.allclose(phase_population(study, sc, 2035), horizon)
    assert np.allclose(phase_population(study, sc, 2025), base + (horizon - base) / 3)
    assert phase_population(study, sc, 2030).sum() == pytest.approx(
        base.sum() + 2 * (4500.0 - base.sum()) / 3)


def test_bad_phases(study: Study) -> None:
    with pytest.raises(NetplanError, match=r"no \[phases.<year>\] tables"):
        plan_phases(study, toy())
    with pytest.raises(NetplanError, match=r"phase year\(s\) \[2040\] must lie after "
                                           r"years.base \(2020\) and at most at years.horizon"):
        plan_phases(study, toy(phases={"2040": {}}))
    with pytest.raises(ScenarioError, match=r"unknown key phases.2030.budget; did you mean "
                                            r"'budget_cny'\?"):
        scenario_from_dict({"phases": {"2030": {"budget": 1}}})
    with pytest.raises(ScenarioError, match=r"phases.soon: a phase is named by its year"):
        scenario_from_dict({"phases": {"soon": {}}})


def test_cli_without_phases_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(tmp_path)
    res = run_cli(["phases", "--out", "out"], cwd=tmp_path, monkeypatch=monkeypatch,
                  capsys=capsys)
    assert res.code == 1 and "no [phases.<year>] tables" in res.err
    assert snapshot(tmp_path) == before


def test_phase_files(phased: PhasedPlan, tmp_path: Path) -> None:
    from netplan.planning.phases import PHASE_FILES, write_phase_files

    write_phase_files(phased, tmp_path)
    spend = pd.read_csv(tmp_path / PHASE_FILES["spend"])
    assert spend["year"].tolist() == [2025, 2030]
    acts = pd.read_csv(tmp_path / PHASE_FILES["actions"])
    assert acts.columns[0] == "year" and len(acts) == len(phased.actions())
