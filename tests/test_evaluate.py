"""`netplan evaluate`: a plan folder re-measured, edited by hand or not, and its refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest_reliability import CliResult, snapshot, write_scenario, write_study

from netplan._errors import NetplanError
from netplan.model.scenario import load_scenario
from netplan.planning.evaluate import SERVICE_KEYS, change_pct
from netplan.planning.evaluate_plan import evaluate_plan
from netplan.study.layers import load_study


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with the tiny study, its scenario and one plan folder ``plan``."""
    work = tmp_path_factory.mktemp("evaluate")
    write_study(work / "study.gpkg")
    write_scenario(work / "tiny.toml")
    mp = pytest.MonkeyPatch()
    try:
        res = _cli(work, mp, "plan", "--data", "study.gpkg", "--scenario", "tiny.toml",
                   "--year", "2020", "--out", "plan", "--json")
    finally:
        mp.undo()
    assert res.code == 0, res.err
    return work


def _cli(work: Path, mp: pytest.MonkeyPatch, *args: str) -> CliResult:
    import sys
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    from netplan import cli

    mp.chdir(work)
    mp.setenv("COLUMNS", "200")
    mp.setattr(sys, "argv", ["netplan", *args])
    o, e = StringIO(), StringIO()
    code: int | str | None = 0
    with redirect_stdout(o), redirect_stderr(e):
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code
    return CliResult(code, o.getvalue(), e.getvalue())


def _copy(planned: Path, tmp_path: Path) -> Path:
    """A copy of the plan folder and the study, to edit."""
    import shutil

    shutil.copytree(planned / "plan", tmp_path / "plan")
    shutil.copy(planned / "study.gpkg", tmp_path / "study.gpkg")
    return tmp_path


def _edit(folder: Path, change: dict[str, dict[str, str]],
          extra: list[dict[str, str]] | None = None) -> None:
    """Rewrite actions.csv with some cells changed (by site id) and rows added."""
    path = folder / "actions.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    for r in rows:
        r.update(change.get(r["site_id"], {}))
    rows += [{**dict.fromkeys(fields, ""), **e} for e in extra or []]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_an_unchanged_plan_gives_back_its_figures(planned: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(planned, monkeypatch, "evaluate", "plan", "--data", "study.gpkg", "--json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    beh = json.loads((planned / "plan" / "kpis.json").read_text(encoding="utf-8"))["behaviour"]
    assert got["after"] == beh["after"] and got["before"] == beh["before"]
    assert {k: got[k] for k in SERVICE_KEYS} == {k: beh["after"][k] for k in SERVICE_KEYS}
    assert got["holds"] == beh["holds"]
    assert [o["site_id"] for o in got["over_capacity"]] == [
        o["site_id"] for o in beh["over_capacity"]]
    # the other rule gives the plan's side-by-side figures
    res = _cli(planned, monkeypatch, "evaluate", "plan", "--data", "study.gpkg", "--rule",
               "nearest", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["after"] == beh["nearest"]["after"]


def test_the_table_names_the_rule(planned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(planned, monkeypatch, "evaluate", "plan", "--data", "study.gpkg")
    assert res.code == 0, res.err
    text = " ".join(res.out.split())
    assert "Counter mean wait at peak" in text and "rule “choice”" in text
    assert "Mean wait, counter and terminal blended" in text


def test_an_edited_plan_changes_the_figures(planned: Path, tmp_path: Path) -> None:
    work = _copy(planned, tmp_path)
    study = load_study(work / "study.gpkg")
    base = evaluate_plan(work / "plan", study)
    # the first outlet the plan changes is kept as it is, the relocation undone
    rows = list(csv.DictReader((work / "plan" / "actions.csv").open(encoding="utf-8")))
    changed = next(r["site_id"] for r in rows if r["action"] in {"upgrade", "convert", "close"})
    moved = [r["site_id"] for r in rows if r["action"] == "relocate"]
    _edit(work / "plan", {sid: {"action": "keep"} for sid in [changed, *moved]})
    edited = evaluate_plan(work / "plan", study)
    assert edited.before == base.before
    assert edited.after != base.after
    assert edited.after["counter_mean_wait_min"] != base.after["counter_mean_wait_min"]
    # closing every outlet but the opened ones leaves fewer outlets
    _edit(work / "plan", {r["site_id"]: {"action": "close"} for r in rows
                          if r["kind"] == "outlet"})
    fewer = evaluate_plan(work / "plan", study)
    assert fewer.after["outlets"] == sum(r["action"] == "open" for r in rows)


@pytest.mark.parametrize(("change", "extra", "fragments"), [
    ({"b1": {"action": "enlarge"}}, [],
     ["actions.csv row 1 (line 2): unknown action 'enlarge' for b1"]),
    ({}, [{"site_id": "b99", "action": "keep"}],
     ["(line {line}): site id 'b99' is not an outlet or candidate of the study"]),
    ({"b8": {"action": "relocate", "relocation_target": "c77"}}, [],
     ["row 8 (line 9): relocation target 'c77' of b8 is not a candidate site"]),
    ({"b2": {"action": "upgrade", "format_after": "mega"}}, [],
     ["row 2 (line 3): format_after 'mega' of b2 is not a format of the scenario"]),
    ({"b3": {"action": "open"}}, [], ["row 3 (line 4): open needs a candidate, b3 is not one"]),
    ({}, [{"site_id": "b1", "action": "close"}],
     ["row {row} (line {line}): site id 'b1' has a row already (row 1)"]),
])
def test_a_malformed_edit_is_refused(planned: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     change: dict[str, dict[str, str]],
                                     extra: list[dict[str, str]], fragments: list[str]) -> None:
    work = _copy(planned, tmp_path)
    with (work / "plan" / "actions.csv").open(encoding="utf-8", newline="") as f:
        added = len(list(csv.DictReader(f))) + 1  # the first added row's number
    _edit(work / "plan", change, extra)
    before = snapshot(work)
    res = _cli(work, monkeypatch, "evaluate", "plan", "--data", "study.gpkg", "--json")
    assert res.code == 1, res.err
    assert "Traceback" not in res.err and res.out == ""
    text = " ".join(res.err.split())
    for fragment in fragments:
        fragment = fragment.format(row=added, line=added + 1)
        assert fragment in text, text
    assert "nothing was written" in text
    assert snapshot(work) == before


def test_a_district_plan_gives_back_its_figures(planned: Path, tmp_path: Path) -> None:
    from netplan.planning.plan import make_plan

    study = load_study(planned / "study.gpkg")
    sc = load_scenario(planned / "tiny.toml")
    folder = make_plan(study, sc, year=2020, district="110101").write(tmp_path / "d")
    got = evaluate_plan(folder, study)
    beh = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))["behaviour"]
    assert (got.before, got.after) == (beh["before"], beh["after"])
    assert got.scope == "110101"


def test_a_bad_rule_is_a_usage_error(planned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(planned)
    res = _cli(planned, monkeypatch, "evaluate", "plan", "--rule", "fastest")
    assert res.code == 2
    assert "unknown rule 'fastest'; use one of choice, nearest" in " ".join(res.err.split())
    assert snapshot(planned) == before


def test_a_folder_that_is_no_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NetplanError, match=r"is not a plan folder: plan\.gpkg, kpis\.json "
                                           r"missing"):
        evaluate_plan(tmp_path, load_study(None))


def test_change_pct_from_zero_is_none() -> None:
    sc = load_scenario()
    assert sc.behaviour_rule == "choice"
    b = {"counter_mean_wait_min": 0.0, "share_customers_wait_over_target": 0.5}
    a = {"counter_mean_wait_min": 3.0, "share_customers_wait_over_target": 0.25}
    assert change_pct(b, a) == {"counter_mean_wait_min": None,  # type: ignore[arg-type]
                                "share_customers_wait_over_target": -50.0}


def test_the_behaviour_table_is_validated_with_key_paths(tmp_path: Path) -> None:
    from netplan._errors import ScenarioError

    p = tmp_path / "s.toml"
    p.write_text('[behaviour]\npatience_min = 0\nspeed_kmh = "fast"\nqueue = 3\n',
                 encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"(?s)behaviour\.patience_min must be in "
                                            r"\(0, 10080\], got 0.*behaviour\.speed_kmh must "
                                            r"be a number, got 'fast'.*unknown key "
                                            r"behaviour\.queue"):
        load_scenario(p)
    p.write_text('[behaviour]\nrule = "fastest"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"behaviour\.rule must be one of choice, nearest, "
                                            r"got 'fastest'"):
        load_scenario(p)
    p.write_text('[behaviour]\nrule = "nearest"\npatience_min = 45\n', encoding="utf-8")
    sc = load_scenario(p)
    assert (sc.behaviour_rule, sc.patience_min, sc.speed_kmh) == ("nearest", 45.0, 15.0)


@pytest.mark.parametrize("rule", ["nearest", "choice"])
def test_diagnose_takes_the_rule(planned: Path, monkeypatch: pytest.MonkeyPatch,
                                 rule: str) -> None:
    res = _cli(planned, monkeypatch, "diagnose", "--data", "study.gpkg", "--scenario",
               "tiny.toml", "--rule", rule, "--json")
    assert res.code == 0, res.err
    got = json.loads(res.out)
    assert got["rule"] == rule == got["service"]["rule"]


def test_diagnose_defaults_to_the_scenarios_rule(planned: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    res = _cli(planned, monkeypatch, "diagnose", "--data", "study.gpkg", "--scenario",
               "tiny.toml", "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["rule"] == load_scenario(planned / "tiny.toml").behaviour_rule


def test_diagnose_refuses_a_bad_rule(planned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(planned)
    res = _cli(planned, monkeypatch, "diagnose", "--data", "study.gpkg", "--rule", "fastest")
    assert res.code == 2
    assert "unknown rule 'fastest'; use one of choice, nearest" in " ".join(res.err.split())
    assert snapshot(planned) == before
