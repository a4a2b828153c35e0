"""Staffing by the hour: Erlang C by hand, the floater MILP by enumeration, bookings, the CLI."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from netplan._errors import NetplanError
from netplan.cli import app
from netplan.model import queuelog, queuelog_gen
from netplan.model.calibrate import LogFit
from netplan.model.scenario import load_scenario
from netplan.planning import floaters, staffing
from netplan.present.roster import heatmap_html

SC = load_scenario()


def hand_counters(lam: float, service_min: float, target: float) -> int:
    """Fewest servers with the Erlang C mean wait <= target, straight from the formula."""
    if lam <= 0:
        return 0
    a = lam * service_min / 60.0
    c = math.floor(a) + 1
    while True:
        top = a**c / math.factorial(c) * c / (c - a)
        c_prob = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
        if c_prob * service_min / (c - a) <= target:
            return c
        c += 1


def one_outlet(peak_load: float, counters: int = 30) -> staffing.Outlets:
    return staffing.Outlets(outlet_id=np.array(["A"]), xy=np.zeros((1, 2)),
                            counters=np.array([counters]), peak_load=np.array([peak_load]),
                            rule="choice")


def test_single_outlet_matches_a_hand_erlang_c_computation_hour_by_hour() -> None:
    profile = np.array([0.10, 0.14, 0.12, 0.17, 0.15, 0.10, 0.10, 0.12])  # a weekday, sums 1
    hours = tuple(range(9, 17))
    outlet = one_outlet(60.0)
    arrivals = staffing.hourly_arrivals(outlet, {"A": profile}, profile, SC)
    np.testing.assert_allclose(arrivals[0], 60.0 / SC.peak_hour_share * profile)
    result = staffing.staff(outlet, arrivals, hours, SC, floaters=0)
    lam_c = arrivals[0] * (1 - SC.smart_share)
    want = [hand_counters(x, SC.counter_service_min, SC.target_wait_min) for x in lam_c]
    assert result.need[0].tolist() == want
    assert result.roster["counters_open"].tolist() == want
    assert len(set(want)) > 1  # the hours differ: a real hour-by-hour roster
    s = result.summary
    assert s["staff_hours_hourly"] == sum(want)
    assert s["staff_hours_flat"] == max(want) * len(hours)
    assert s["short_outlet_hours"] == 0


def test_tail_criterion_and_short_hours() -> None:
    lam = np.array([[30.0]])
    n = staffing.counters_needed(lam, 12.0, 11.0, max_share_over=0.2)[0, 0]
    a = 30.0 * 12.0 / 60.0

    def tail(c: int) -> float:
        top = a**c / math.factorial(c) * c / (c - a)
        cw = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
        return cw * math.exp(-(c / 12.0 - 30.0 / 60.0) * 11.0)

    assert tail(n) <= 0.2 < tail(n - 1)
    outlet = one_outlet(60.0, counters=2)
    arrivals = np.full((1, 3), 40.0)
    r = staffing.staff(outlet, arrivals, (9, 10, 11), SC, floaters=0)
    assert r.roster["short"].all() and (r.roster["counters_open"] == 2).all()
    assert r.summary["short_outlet_hours"] == 3


def enumerate_pool(need: np.ndarray, offered: int) -> int:
    """Smallest staff per day (own + floaters, each all day) by trying every option."""
    n_h = need.shape[1]
    best = None
    for own in itertools.product(*(range(int(r.max()) + 1) for r in need)):
        gap = np.maximum(need - np.array(own)[:, None], 0).sum(axis=0).max()
        if gap <= offered:
            total = (sum(own) + int(gap)) * n_h
            best = total if best is None else min(best, total)
    assert best is not None
    return best


@pytest.mark.parametrize("offered", [0, 1, 2])
def test_floater_milp_matches_enumeration_on_a_three_outlet_toy(offered: int) -> None:
    need = np.array([[3, 1, 1, 2, 1],
                     [1, 3, 1, 1, 2],
                     [2, 1, 3, 1, 1]])
    a = floaters.assign_pool(need, offered)
    assert (a.own.sum() + a.used) * need.shape[1] == enumerate_pool(need, offered)
    assert (a.own[:, None] + a.cover >= need).all()
    assert (a.cover.sum(axis=0) <= a.used).all() and a.used <= offered
    for h in range(need.shape[1]):  # the numbered floaters are the cover
        at = a.floater_at[:, h]
        assert np.bincount(at[at >= 0], minlength=3).tolist() == a.cover[:, h].tolist()


def test_pools_keep_every_pair_within_the_travel_limit() -> None:
    xy = np.array([[0, 0], [1500, 0], [2900, 0], [10_000, 0], [10_500, 0]], dtype=float)
    p = floaters.pools(xy, 3.0)
    assert p.tolist() == [0, 0, 0, 1, 1]
    assert floaters.pools(xy, 2.0).tolist()[:3] in ([0, 0, 1], [0, 1, 1])


def test_booking_zero_changes_nothing_and_booking_flattens_the_peak() -> None:
    x = np.array([[10.0, 40.0, 30.0, 5.0], [8.0, 8.0, 8.0, 8.0]])
    assert np.array_equal(staffing.book(x, 0.0, 1.0), x)
    b = staffing.book(x, 0.3, 1.0)
    np.testing.assert_allclose(b.sum(axis=1), x.sum(axis=1))
    assert b[0].max() < x[0].max() and b[0].min() > x[0].min()
    np.testing.assert_allclose(b[1], x[1])  # a flat day has no quieter hour
    assert b[0, 3] <= x[0].mean() + 1e-9  # the cap: no hour filled above the mean
    outlet = one_outlet(60.0)
    prof = np.array([0.2, 0.3, 0.3, 0.2])
    fit = _fit_stub(prof)
    plain = staffing.roster_for(outlet, fit, SC, floaters=0)
    direct = staffing.staff(outlet, staffing.hourly_arrivals(outlet, {"A": prof}, prof, SC),
                            fit.hours, SC, floaters=0)
    pd.testing.assert_frame_equal(plain.roster, direct.roster)
    assert plain.summary["booking"]["with"] == plain.summary["booking"]["without"]


def _fit_stub(prof: np.ndarray) -> LogFit:
    one = np.array([1.0])
    return LogFit(outlet_ids=("A",), hours=(9, 10, 11, 12), weekday_profile=prof[None, :],
                  weekend_profile=prof[None, :] * 0.5, business_day=one, peak_share=one,
                  peak_wait_min=one, portrait=("p",), portraits=(), peak_hour_share=0.3,
                  weekday_equivalent_days=300.0, smart_share=None, patience_min=None,
                  counter_service=None, terminal_service=None, window=("a", "b"), by_year=())


def test_heatmap_carries_ids_as_json_data_only() -> None:
    evil = "</script><img src=x onerror=alert(1)>"
    outlet = staffing.Outlets(outlet_id=np.array([evil]), xy=np.zeros((1, 2)),
                              counters=np.array([5]), peak_load=np.array([20.0]), rule="choice")
    r = staffing.staff(outlet, np.array([[10.0, 30.0]]), (9, 10), SC, floaters=0)
    html = heatmap_html(r)
    assert evil not in html and "<img" not in html
    assert "\\u003c/script\\u003e\\u003cimg" in html


def test_bad_date_profile_is_refused() -> None:
    with pytest.raises(NetplanError, match=r"date profile 'holiday': use one of weekday"):
        staffing.log_profiles(_fit_stub(np.ones(4) / 4), "holiday")


runner = CliRunner()


@pytest.mark.slow
def test_cli_staff_writes_roster_heatmap_and_summary(tiny_gpkg: Path, tmp_path: Path) -> None:
    o = pd.DataFrame({"outlet_id": [f"b{i}" for i in range(1, 9)], "kind": "office",
                      "counters": 5, "terminals": 4, "arrivals_per_h": 20.0})
    log_path = tmp_path / "log.parquet"
    queuelog.write_queue_log(queuelog_gen.generate_channel_log(o, years=1, scenario=SC),
                             log_path)
    out = tmp_path / "staff"
    args = ["staff", "--data", str(tiny_gpkg), "--queue-log", str(log_path), "--out", str(out)]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["outlets"] == 8 and summary["outlets_with_log"] == 8
    assert summary["staff_hours_hourly"] <= summary["staff_hours_flat"]
    roster = pd.read_csv(out / "roster.csv")
    assert len(roster) == 8 * 8 and (out / "heatmap.html").is_file()
    res = runner.invoke(app, [*args, "--date-profile", "holiday"])
    assert res.exit_code == 2 and "weekday" in res.output
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    res = runner.invoke(app, [*args[:-1], str(foreign)])
    assert res.exit_code == 1 and (foreign / "notes.txt").read_text() == "keep"
