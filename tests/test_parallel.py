"""Per-district plans on Dask, their merge, and the split of the city limits."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest_reliability import run_cli, snapshot, write_scenario, write_study

from netplan._errors import NetplanError
from netplan._io import PLAN_FOLDER
from netplan.model import kpi
from netplan.model.scenario import DistrictPolicy, Scenario, load_scenario
from netplan.model.synthetic import make_study, synthetic_scenario
from netplan.planning import problem as planner
from netplan.planning.city import CityPlan, merge_districts, objective_of, read_city_plan
from netplan.planning.city_bound import METHOD_LP
from netplan.planning.dask_runner import ProgressEvent, check_scheduler, compare_city, plan_all
from netplan.planning.district import DistrictRun, run_district
from netplan.planning.limits import apportion, check_adcode, district_scenario, split_limits
from netplan.planning.plan import make_plan

YEAR = 2020
LOCKED = frozenset({"B000001"})  # an outlet of 910001
FORBIDDEN = frozenset({"C000008"})  # a candidate of 910002
ACTION_COLS = ["site_id", "action", "format_after", "relocation_target"]


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    return make_study(450, 48, 3, seed=13)


@pytest.fixture(scope="module")
def scenario(study) -> Scenario:  # type: ignore[no-untyped-def]
    return synthetic_scenario(study, load_scenario()).replace(
        max_open=6, max_close=5, budget_cny=40_000_000.0)


# --- apportioning ------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "weights", "caps", "expected"), [
    (10, [1, 1, 1], None, [4, 3, 3]),  # ties: lower index first
    (10, [3, 1, 0], [2, None, None], [2, 8, 0]),  # cap cuts, the rest flows on
    (5, [0, 0, 0], None, [2, 2, 1]),  # no weights: equal shares
    (9, [1, 1], [2, 3], [2, 3]),  # caps below the total
    (7, [5, 0, 1], [0, None, None], [0, 0, 7]),  # zero weight gets nothing while others can
    (6, [2, 1, 1], [1, 1, -1], [1, 1, 4]),  # negative cap = none
    (0, [1, 2], None, [0, 0]),
])
def test_apportion_known_answers(total: int, weights: list[float], caps: Any,
                                 expected: list[int]) -> None:
    got = apportion(total, weights, caps)
    assert got.tolist() == expected


def test_apportion_largest_remainder() -> None:
    # quotas 4.2, 2.8, 3.0 -> floors 4, 2, 3, the unit left goes to the largest remainder
    assert apportion(10, [4.2, 2.8, 3.0]).tolist() == [4, 3, 3]


@pytest.mark.parametrize(("args", "match"), [
    ((-1, [1.0]), "non-negative integer"),
    ((3, [1.0, -2.0]), "weights must be finite"),
    ((3, [1.0, np.nan]), "weights must be finite"),
])
def test_apportion_bad_input(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(NetplanError, match=match):
        apportion(*args)


def test_apportion_caps_length() -> None:
    with pytest.raises(NetplanError, match="2 caps for 3 weights"):
        apportion(3, [1, 1, 1], [1, 1])


@pytest.mark.parametrize("bad", ["../etc", "11010", "1101055", "abcdef", "11010a"])
def test_check_adcode_rejects_unsafe(bad: str) -> None:
    with pytest.raises(NetplanError, match="is not six digits"):
        check_adcode(bad)


# --- splitting the city limits -----------------------------------------------------------


def test_split_limits_sum_and_policy(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    sc = scenario.replace(districts={"910001": DistrictPolicy("consolidate")})
    lim = split_limits(study, sc, year=YEAR)
    assert sorted(lim) == ["910001", "910002", "910003"]
    assert lim["910001"].max_open == 0  # consolidate opens nothing
    assert sum(v.max_open or 0 for v in lim.values()) == 6
    assert sum(v.max_close or 0 for v in lim.values()) == 5
    assert sum(v.budget_cny or 0 for v in lim.values()) == 40_000_000
    # conversions (40 by default) cannot exceed the outlets there are
    assert sc.max_convert == 40 and sc.max_upgrade is None
    assert sum(v.max_convert or 0 for v in lim.values()) == min(40, len(study.branches))
    assert all(v.max_upgrade is None for v in lim.values())
    n_cand = study.candidates["adcode"].value_counts()
    n_out = study.branches["adcode"].value_counts()
    for ad, v in lim.items():
        assert (v.max_open or 0) <= n_cand.get(ad, 0)
        assert (v.max_close or 0) <= n_out.get(ad, 0)
        assert v.need_per_h >= 0 and v.slack_per_h >= 0


def test_split_limits_none_stays_none(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    lim = split_limits(study, scenario.replace(max_open=None, budget_cny=None), year=YEAR)
    assert all(v.max_open is None and v.budget_cny is None for v in lim.values())
    assert all(v.max_close is not None for v in lim.values())


# --- one district, the objective, the merge (in process) ---------------------------------


def test_objective_of_matches_the_solver(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    model = planner.build_model(study, scenario, year=YEAR, adcode="910002")
    sol = planner.solve_model(model)
    dist = np.asarray(model.dist_m[sol.assign_zone, sol.assign_site]).ravel()
    asg = kpi.Assignment(zone=sol.assign_zone, site=sol.assign_site, share=sol.assign_share,
                         dist_m=dist, unserved_share=sol.unserved_share)
    got = objective_of(model, scenario, site_option=sol.site_option, relocated=sol.relocated,
                       assignment=asg)
    assert got == pytest.approx(sol.objective, rel=1e-9)


@pytest.fixture(scope="module")
def runs(study, scenario: Scenario) -> dict[str, DistrictRun]:  # type: ignore[no-untyped-def]
    lim = split_limits(study, scenario, year=YEAR)
    return {ad: run_district(study, district_scenario(scenario, lim[ad]), ad, year=YEAR)
            for ad in lim}


def test_run_district_failure_is_returned(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    sc = scenario.replace(districts={"910002": DistrictPolicy("free", min_outlets=999)})
    run = run_district(study, sc, "910002", year=YEAR)
    assert not run.ok and run.plan is None
    assert run.error == "InfeasibleError"
    assert "999" in run.reason or "min" in run.reason


def test_merge_is_consistent(study, scenario: Scenario, runs) -> None:  # type: ignore[no-untyped-def]
    merged = merge_districts(study, scenario, runs, year=YEAR,
                             limits=split_limits(study, scenario, year=YEAR))
    k = merged.kpis
    assert k["solver"]["status"] == "merged" and k["failed_districts"] == []
    assert k["merge"]["method"] == "recomputed"
    assert k["coordination"]["violations"] == [] or all(
        v.startswith("min_share_outside_ring") for v in k["coordination"]["violations"])
    # actions of the merged plan = each district's actions for its own sites
    for ad, r in runs.items():
        own = merged.actions[merged.actions["adcode"] == ad][ACTION_COLS]
        assert r.plan is not None
        mine = r.plan.actions[ACTION_COLS]
        pd.testing.assert_frame_equal(own.sort_values("site_id").reset_index(drop=True),
                                      mine.sort_values("site_id").reset_index(drop=True))
    # every zone's demand is served or unserved, once, and never at a closed site
    z = merged.zones_kpi
    assert len(z) == len(study.zones) and z["in_scope"].all()
    served = merged.assignment.groupby("zone_id")["share"].sum()
    total = served.reindex(z["zone_id"]).fillna(0).to_numpy() + z["unserved_after"].to_numpy()
    assert np.allclose(total, 1.0, atol=1e-3)
    assert set(merged.assignment["site_id"]) <= set(merged.sites_after["site_id"])
    # under the customers' own choice, the behaviour block lists the outlets above capacity
    beh = k["behaviour"]
    over = set(merged.sites_after.loc[merged.sites_after["utilisation"] > 1 + 1e-6, "site_id"])
    assert {o["site_id"] for o in beh["over_capacity"]} == over and beh["holds"] == (not over)
    assert merged.kpis["after"]["overall"]["overloaded_outlets"] == len(over)
    rep = k["coordination"]["repair"]
    assert rep["closed_outlet_arrivals_per_h"] + rep["overload_arrivals_per_h"] == pytest.approx(
        rep["moved_arrivals_per_h"] + rep["unserved_arrivals_per_h"], abs=1e-2)
    # counts and spend add up over the districts
    for key in ("open", "close", "relocate", "keep"):
        assert k["actions"][key] == sum(r.plan.counts[key] for r in runs.values())
    assert k["costs"]["oneoff_spend_cny"] == pytest.approx(
        sum(r.plan.kpis["costs"]["oneoff_spend_cny"] for r in runs.values()), abs=2)
    # the objective is the whole-city model's value of the merged decisions (their best
    # routing), at most what the districts' own routing of the zones costs
    assert k["solver"]["objective"] <= k["merge"]["objective_as_routed"]
    # (on this fixture strictly: 87.9 M against 95.5 M CNY when written)
    assert k["solver"]["objective"] < 0.98 * k["merge"]["objective_as_routed"]
    json.dumps(k, allow_nan=False)


def test_merge_skipped_district(study, scenario: Scenario, runs) -> None:  # type: ignore[no-untyped-def]
    part = {ad: r for ad, r in runs.items() if ad != "910003"}
    merged = merge_districts(study, scenario, part, year=YEAR,
                             skipped={"910003": "nothing to decide"})
    k = merged.kpis
    assert k["failed_districts"] == []
    assert k["skipped_districts"] == [{"adcode": "910003", "reason": "nothing to decide"}]
    rows = merged.actions[merged.actions["adcode"] == "910003"]
    assert (rows["action"] == "keep").all() and len(rows) > 0
    missing = merge_districts(study, scenario, part, year=YEAR)  # not skipped: failed
    assert [f["reason"] for f in missing.kpis["failed_districts"]] == ["not run"]


@pytest.mark.slow
def test_plan_all_skips_districts_without_sites(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    bare = dataclasses.replace(
        study, branches=study.branches[study.branches["adcode"] != "910002"],
        candidates=study.candidates[study.candidates["adcode"] != "910002"])
    cp = plan_all(bare, scenario, workers=1, year=YEAR)
    assert [d["adcode"] for d in cp.kpis["skipped_districts"]] == ["910002"]
    assert cp.kpis["failed_districts"] == [] and sorted(cp.districts) == ["910001", "910003"]


@pytest.mark.slow  # ~25 s: every district run with the behaviour loop (.ci/run runs it)
def test_partition_mode_never_conflicts(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    lim = split_limits(study, scenario, year=YEAR)
    runs = {ad: run_district(study, district_scenario(scenario, lim[ad]), ad, year=YEAR,
                             mode="partition") for ad in lim}
    assert all(r.ok for r in runs.values())
    for ad, r in runs.items():  # a district alone: only its own zones and sites
        assert r.plan is not None and set(r.plan.zones_kpi["adcode"]) == {ad}
        assert set(r.plan.sites_after["adcode"]) <= {ad}
        assert r.plan.kpis["year"] == YEAR
    merged = merge_districts(study, scenario, runs, year=YEAR, limits=lim)
    rep = merged.kpis["coordination"]["repair"]
    assert rep["conflict_pairs"] == 0 and rep["overload_arrivals_per_h"] == 0
    assert rep["unserved_arrivals_per_h"] == 0


def test_partition_keeps_the_city_horizon(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    # horizon demand is placed on the whole city, then the district is cut out
    from netplan.model import demand

    horizon = scenario.horizon_year
    run = run_district(study, scenario, "910002", year=horizon, mode="partition")
    assert run.ok and run.plan is not None and run.plan.kpis["year"] == horizon
    pop = demand.zone_population(study.zones, scenario, year=horizon)
    own = (study.zones["adcode"] == "910002").to_numpy()
    assert run.plan.zones_kpi["population"].sum() == pytest.approx(pop[own].sum(), abs=len(pop))


def test_unknown_mode(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NetplanError, match="unknown district mode 'x'"):
        run_district(study, scenario, "910002", year=YEAR, mode="x")


@pytest.mark.slow  # ~25 s: every district run with the behaviour loop (.ci/run runs it)
def test_compare_city(study, scenario: Scenario, runs) -> None:  # type: ignore[no-untyped-def]
    sc = scenario.replace(min_share_outside_ring=None)
    lim = split_limits(study, sc, year=YEAR)
    merged = merge_districts(study, sc, runs, year=YEAR, limits=lim)
    city = CityPlan(plan=merged, districts={}, failed={}, limits=lim, run={"wall_seconds": 2.0})
    whole = make_plan(study, sc, year=YEAR, mip_gap=0.05)
    res = compare_city(study, sc, city=city, whole=whole, year=YEAR)
    a, b, d = res["whole_city"], res["by_district"], res["difference"]
    assert a["solved"]["objective"] == whole.kpis["solver"]["objective"]
    assert b["objective"] == merged.kpis["solver"]["objective"]
    # both valued on the whole-city model as built: neither beats its optimum, and the
    # whole plan's value is its decisions with the best routing (at most its solved
    # objective, which the behaviour loop's tightening only raises)
    raw = planner.solve_model(planner.build_model(study, sc, year=YEAR), mip_gap=0.01)
    assert a["objective"] >= raw.best_bound - 1e-6 * raw.objective
    assert b["objective"] >= raw.best_bound - 1e-6 * raw.objective
    assert a["objective"] <= a["solved"]["objective"] + 1e-6 * raw.objective
    assert d["objective_cny"] == pytest.approx(b["objective"] - a["objective"], abs=0.02)
    assert d["objective_pct"] == pytest.approx(d["objective_cny"] / a["objective"] * 100,
                                               abs=1e-3)
    assert b["violations"] == [] and b["failed_districts"] == []
    json.dumps(res, allow_nan=False)


# --- the real thing: a LocalCluster with two worker processes ----------------------------


@pytest.fixture(scope="module")
def city(study, scenario: Scenario) -> tuple[CityPlan, list[ProgressEvent], Scenario]:  # type: ignore[no-untyped-def]
    # district 910003 is made infeasible by its policy (hold, yet no outlet may remain);
    # the others must not be lost
    sc = scenario.replace(districts={"910003": DistrictPolicy("hold", max_outlets=0)})
    events: list[ProgressEvent] = []
    cp = plan_all(study, sc, workers=2, year=YEAR, locked=LOCKED, forbidden=FORBIDDEN,
                  progress=events.append)
    return cp, events, sc


def test_plan_all_equals_sequential(study, city) -> None:  # type: ignore[no-untyped-def]
    cp, _, sc = city
    assert sorted(cp.districts) == ["910001", "910002"]
    assert len(cp.run["workers"]) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in cp.run["workers"])
    ad_of = dict(zip(study.branches["branch_id"], study.branches["adcode"], strict=True))
    ad_of.update(zip(study.candidates["candidate_id"], study.candidates["adcode"], strict=True))
    assert ad_of["B000001"] == "910001" and ad_of["C000008"] == "910002"
    for ad, p in cp.districts.items():
        # the library's single-district plan runs with the same share of the city limits
        seq = make_plan(study, sc, district=ad, year=YEAR,
                        locked=frozenset(i for i in LOCKED if ad_of[i] == ad),
                        forbidden=frozenset(i for i in FORBIDDEN if ad_of[i] == ad))
        pd.testing.assert_frame_equal(p.actions[ACTION_COLS].reset_index(drop=True),
                                      seq.actions[ACTION_COLS].reset_index(drop=True))
        assert p.kpis["solver"]["objective"] == pytest.approx(seq.kpis["solver"]["objective"])
        merged = cp.plan.actions[cp.plan.actions["adcode"] == ad]
        assert merged[ACTION_COLS].sort_values("site_id").reset_index(drop=True).equals(
            p.actions[ACTION_COLS].sort_values("site_id").reset_index(drop=True))


def test_plan_all_reports_a_city_bound(city) -> None:  # type: ignore[no-untyped-def]
    cp, _, _ = city
    s, cb = cp.kpis["solver"], cp.kpis["coordination"]["city_bound"]
    # 910003's policy (hold, no outlet) leaves the whole-city model without a plan
    assert cb["stop"] == "infeasible" and cb["blocks"] == 3
    assert s["best_bound"] is None and s["gap"] is None


def test_merge_reports_a_city_bound(study, scenario: Scenario, runs) -> None:  # type: ignore[no-untyped-def]
    lim = split_limits(study, scenario, year=YEAR)
    merged = merge_districts(study, scenario, runs, year=YEAR, limits=lim, bound_s=3.0)
    s, cb = merged.kpis["solver"], merged.kpis["coordination"]["city_bound"]
    # a model this small: the whole-city LP relaxation first, then the district MIP blocks
    assert cb["bound"] is not None and cb["method"] == METHOD_LP and cb["blocks"] == 3
    assert cb["lp_bound"] is not None and cb["bound"] >= cb["lp_bound"]
    assert s["best_bound"] == cb["bound"] <= s["objective"]
    assert s["gap"] is not None and s["gap"] >= 0


def test_locked_and_forbidden(city) -> None:  # type: ignore[no-untyped-def]
    cp, _, _ = city
    act = cp.plan.actions.set_index("site_id")["action"]
    assert act["B000001"] not in ("close", "relocate")
    assert "C000008" not in set(cp.plan.sites_after["site_id"])


def test_plan_all_unknown_site(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NetplanError, match="not outlets or candidates of the study"):
        plan_all(study, scenario, locked=frozenset({"nope"}), workers=1)


def test_failed_district_keeps_its_network(study, city) -> None:  # type: ignore[no-untyped-def]
    cp, _, _ = city
    k = cp.kpis
    assert [f["adcode"] for f in k["failed_districts"]] == ["910003"]
    assert k["failed_districts"][0]["error"] == "InfeasibleError"
    assert "910003" in cp.failed and k["solver"]["status"] == "merged_with_failures"
    rows = cp.plan.actions[cp.plan.actions["adcode"] == "910003"]
    n_out = int((study.branches["adcode"] == "910003").sum())
    assert len(rows) == n_out and (rows["action"] == "keep").all()
    assert rows["reason"].str.startswith("unchanged: the plan of district 910003 failed").all()
    assert k["districts_run"]["910003"]["ok"] is False


def test_progress_events(city) -> None:  # type: ignore[no-untyped-def]
    _, events, _ = city
    stages = [e.stage for e in events]
    assert stages[0] == "diagnosis" and stages[-1] == "done"
    finished = [e for e in events if e.finished]
    assert [e.done for e in finished] == [1, 2, 3]
    assert all(e.total == 3 for e in events)
    assert finished[-1].failed == 1
    assert any("FAILED" in e.message for e in finished)
    for e in events:
        el = [r.elapsed_s for r in e.running]
        assert el == sorted(el, reverse=True) and len(el) <= 2


def test_city_folder_round_trip(city, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cp, _, _ = city
    out = cp.write(tmp_path / "city")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([PLAN_FOLDER.manifest, "actions.csv", "districts", "kpis.json",
                            "plan.gpkg", "run.json"])
    assert sorted(p.name for p in (out / "districts").iterdir()) == ["910001", "910002"]
    back = read_city_plan(out)
    assert sorted(back.districts) == ["910001", "910002"]
    assert back.failed.keys() == {"910003"}
    assert back.limits["910001"].max_open == cp.limits["910001"].max_open
    assert back.plan.counts == cp.plan.counts
    kp = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kp["coordination"]["checks"]["max_open"]["limit"] == 6
    # timings go to run.json only, so identical runs give identical kpis.json
    text = json.dumps(kp["districts_run"])
    assert "wall_s" not in text and "solve_s" not in text and "worker" not in text
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert {"wall_s", "cpu_s", "worker"} <= set(run["districts"]["910001"])


def test_plan_all_unknown_district(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NetplanError, match="not in the districts layer"):
        plan_all(study, scenario, adcodes=["999999"], workers=1)


@pytest.mark.slow
def test_plan_all_on_a_scheduler_address(study, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        cp = plan_all(study, scenario, scheduler=cluster.scheduler_address, year=YEAR,
                      adcodes=["910002"])
    assert list(cp.districts) == ["910002"]
    assert [f["reason"] for f in cp.kpis["failed_districts"]] == ["not run", "not run"]


@pytest.mark.slow  # ~55 s: a real cluster, a SIGKILLed worker, Dask's retry (.ci/run runs it)
def test_a_killed_worker_does_not_lose_the_run(tmp_path: Path) -> None:
    """SIGKILL one of two worker processes while districts run: the nanny restarts it,
    Dask re-runs its task, and every district still ends up in the merged plan."""
    import os
    import signal

    from distributed import LocalCluster

    big = make_study(3000, 160, 3, seed=5)
    sc = synthetic_scenario(big, load_scenario())
    killed: list[int] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster:

        def kill_once(ev: ProgressEvent) -> None:
            if not killed and ev.running:
                nanny = next(iter(cluster.workers.values()))
                pid = nanny.process.process.pid  # type: ignore[union-attr]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        cp = plan_all(big, sc, scheduler=cluster.scheduler_address, year=YEAR,
                      progress=kill_once)
    assert killed, "no district was running when the progress events came"
    assert not cp.failed
    with_sites = sorted(set(big.branches["adcode"]) | set(big.candidates["adcode"]))
    assert sorted(cp.districts) == with_sites


# --- --scheduler: a malformed address or a scheduler that does not answer fails fast ----------


@pytest.mark.parametrize("address", [
    "tcp://10.0.0.5:8786", "tls://sched.example.org:8786", "ws://[::1]:8786", "127.0.0.1:8786",
    "ucx://h:1", "inproc://10.0.0.5/1234/1",
])
def test_check_scheduler_accepts(address: str) -> None:
    check_scheduler(address)


@pytest.mark.parametrize("address", [
    "foo", "tcp://foo", "tcp://:8786", "http//x:1", "tcp://h:0", "tcp://h:99999", "tcp://h:port",
    "tcp://a b:1", "inproc://",
])
def test_check_scheduler_refuses(address: str) -> None:
    with pytest.raises(NetplanError, match=r"is not a Dask scheduler address; give tcp://host:port"):
        check_scheduler(address)


def plan_all_args(tmp_path: Path, scheduler: str) -> list[str | Path]:
    return ["plan", "--data", write_study(tmp_path / "study.gpkg"), "--scenario",
            write_scenario(tmp_path / "tiny.toml"), "--year", "2020", "--out", "plan",
            "--district", "all", "--scheduler", scheduler]


def test_cli_malformed_scheduler_is_a_usage_error_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["plan", "--data", tmp_path / "missing.gpkg", "--district", "all",
            "--scheduler", "foo"]
    t0 = time.monotonic()
    res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert res.code == 2
    assert time.monotonic() - t0 < 5
    assert "--scheduler" in res.message and "give tcp://host:port" in res.message
    assert "Traceback" not in res.err and "missing.gpkg" not in res.err  # nothing loaded
    assert list(tmp_path.iterdir()) == []


@contextmanager
def loopback_server(kind: str) -> Iterator[int]:
    """A TCP server on 127.0.0.1 (a free port) that says nothing, or answers HTTP requests;
    it lives for the block only."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            if kind == "http":
                conn.settimeout(15)
                try:
                    if conn.recv(65536):
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(20)
        for conn in conns:
            conn.close()
        srv.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["closed", "silent", "http"])
def test_cli_scheduler_that_does_not_answer(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing listening, a server that says nothing, an HTTP server: exit 1 within ~12 s."""
    with ExitStack() as stack:
        port = free_port() if kind == "closed" else stack.enter_context(loopback_server(kind))
        address = f"tcp://127.0.0.1:{port}"
        args = plan_all_args(tmp_path, address)
        before = snapshot(tmp_path)
        t0 = time.monotonic()
        res = run_cli(args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        took = time.monotonic() - t0
    assert res.code == 1, res.err
    assert took < 12.5
    assert "Traceback" not in res.err
    assert address in res.message and "dask scheduler" in res.message
    expected = ("Connection refused" if kind == "closed"
                else "did not answer Dask's handshake within 10 s")
    assert expected in res.message
    assert snapshot(tmp_path) == before
