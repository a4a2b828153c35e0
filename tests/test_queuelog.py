"""Queue logs: reading and validation, analysis known answers, planted profiles, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from netplan._errors import DataNotFoundError, LayerError
from netplan.cli import app
from netplan.model import queuelog, queuelog_gen
from netplan.model.scenario import load_scenario

SAMPLE = (Path(__file__).resolve().parent.parent / "netplan" / "data" / "samples"
          / "queue_log_sample.parquet")
SC = load_scenario()


def tiny_log() -> pd.DataFrame:
    """Two outlets, one Monday 09:00-11:00, hand-made waits."""
    return pd.DataFrame(
        {
            "outlet_id": ["A", "A", "A", "B", "B", "B"],
            "timestamp": pd.to_datetime(["2024-03-04 09:00", "2024-03-04 10:00",
                                         "2024-03-04 11:00"] * 2),
            "arrivals": [10, 30, 20, 5, 5, 0],
            "mean_wait_min": [2.0, 22.0, 11.0, 0.0, 11.0, None],
        }
    )


# --- reading and validation ----------------------------------------------------------------


def test_read_csv_and_parquet_round_trip(tmp_path: Path) -> None:
    df = queuelog.validate_queue_log(tiny_log())
    for name in ("log.csv", "log.parquet"):
        path = queuelog.write_queue_log(df, tmp_path / name)
        back = queuelog.read_queue_log(path)
        pd.testing.assert_frame_equal(back, df)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    tiny_log().drop(columns=["arrivals", "mean_wait_min"]).to_csv(p, index=False)
    with pytest.raises(LayerError, match=r"missing columns arrivals, mean_wait_min"):
        queuelog.read_queue_log(p)


def test_bad_rows_are_named(tmp_path: Path) -> None:
    df = tiny_log()
    df["timestamp"] = df["timestamp"].astype(str)
    df["arrivals"] = df["arrivals"].astype(float)
    df.loc[1, "timestamp"] = "yesterday-ish"
    df.loc[2, "arrivals"] = -3
    df.loc[4, "arrivals"] = 2.5
    df.loc[3, "mean_wait_min"] = None  # missing wait with 5 arrivals
    p = tmp_path / "bad.csv"
    df.to_csv(p, index=False)
    with pytest.raises(LayerError, match=r"3 problems") as info:
        queuelog.read_queue_log(p)
    msg = str(info.value)
    assert "timestamp is not a date-time in row 2" in msg
    assert "arrivals must be whole numbers >= 0; bad in rows 3, 5" in msg
    assert "mean_wait_min must be a number >= 0 (empty only when arrivals is 0); bad in row 4" \
        in msg
    assert str(p) in msg


def test_duplicates_missing_file_and_unknown_type(tmp_path: Path) -> None:
    df = pd.concat([tiny_log(), tiny_log().iloc[[0]]])
    with pytest.raises(LayerError, match=r"duplicate \(outlet_id, timestamp\) in row 7"):
        queuelog.validate_queue_log(df)
    with pytest.raises(DataNotFoundError, match=r"does not exist"):
        queuelog.read_queue_log(tmp_path / "none.parquet")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(LayerError, match=r"unknown file type"):
        queuelog.read_queue_log(tmp_path / "x.xlsx")


# --- analysis known answers ----------------------------------------------------------------


def test_analyze_tiny_known_answers() -> None:
    r = queuelog.analyze(tiny_log(), target_wait_min=11.0)
    assert r["arrivals"] == 70
    # arrival-weighted mean wait: (10*2 + 30*22 + 20*11 + 5*0 + 5*11 + 0) / 70
    assert r["mean_wait_min"] == pytest.approx(955 / 70, abs=1e-3)
    # only A 10:00 (30 customers) is over 11 min (11.0 is not over)
    assert r["share_over_target_hours"] == pytest.approx(30 / 70, abs=1e-4)
    exp_est = (10 * np.exp(-11 / 2) + 30 * np.exp(-11 / 22) + 20 * np.exp(-1) + 5 * np.exp(-1))
    assert r["share_over_target_exp"] == pytest.approx(exp_est / 70, abs=1e-4)
    assert r["busiest_hours"][0]["hour"] == "10:00"
    assert r["busiest_weekdays"][0]["weekday"] == "Mon"
    # peak-hour share: A 30/60, B 5/10, weighted by daily arrivals -> 0.5
    assert r["peak_hour_share"] == pytest.approx(0.5)
    per = {o["outlet_id"]: o for o in r["outlets"]}
    assert per["A"]["share_over_target_hours"] == pytest.approx(0.5)
    assert per["B"]["share_over_target_hours"] == 0.0
    assert r["portraits"][0]["outlets"] == 2  # fewer than 4 outlets: one portrait
    json.dumps(r, allow_nan=False)


def test_describe_profile_rules() -> None:
    hours = list(range(9, 17))
    lunch = np.array([0.45, 0.6, 0.8, 1.0, 0.95, 0.6, 0.5, 0.45])
    flat = np.ones(8)
    commute = np.array([1.0, 0.75, 0.55, 0.5, 0.5, 0.55, 0.8, 0.95])
    weekend_small = np.r_[0, lunch[1:7] * 0.3, 0]
    assert queuelog.describe_profile(lunch, weekend_small, hours)["label"] == \
        "lunchtime office peak"
    assert queuelog.describe_profile(flat, flat * 0.5, hours)["label"] == "flat all-day"
    assert queuelog.describe_profile(commute, commute * 0.4, hours)["label"] == \
        "morning-and-evening commuter"
    assert queuelog.describe_profile(commute, commute * 1.2, hours)["label"] == \
        "weekend residential"


# --- generation and planted profiles -------------------------------------------------------


def planted_outlets() -> pd.DataFrame:
    kinds = list(queuelog_gen.KINDS) * 6  # 24 outlets, 6 of each kind
    return pd.DataFrame(
        {
            "outlet_id": [f"P{i:02d}" for i in range(len(kinds))],
            "kind": kinds,
            "counters": 5,
            "terminals": 4,
            "arrivals_per_h": np.linspace(25, 60, len(kinds)),
        }
    )


def test_generate_is_deterministic_and_realistic() -> None:
    o = planted_outlets().head(4)
    a = queuelog_gen.generate_log(o, years=1, start="2023-01-01", seed=7, scenario=SC)
    b = queuelog_gen.generate_log(o, years=1, start="2023-01-01", seed=7, scenario=SC)
    c = queuelog_gen.generate_log(o, years=1, start="2023-01-01", seed=8, scenario=SC)
    pd.testing.assert_frame_equal(a, b)
    assert not a["arrivals"].equals(c["arrivals"])
    assert list(a.columns) == list(queuelog.LOG_COLUMNS)
    queuelog.validate_queue_log(a)
    ts = a["timestamp"].dt
    weekend = ts.day_of_week >= 5
    assert set(ts.hour[~weekend]) == set(range(9, 17))
    assert set(ts.hour[weekend]) == set(range(10, 16))
    dates = set(ts.normalize())
    assert pd.Timestamp("2023-01-01") not in dates  # New Year's Day closed
    assert pd.Timestamp("2023-01-22") not in dates  # Spring Festival closed
    assert pd.Timestamp("2023-10-02") not in dates  # National Day closed
    assert (a["arrivals"] >= 0).all() and (a["mean_wait_min"] >= 0).all()
    assert np.isfinite(a["mean_wait_min"]).all()  # saturated hours stay finite


def test_analysis_recovers_planted_profiles() -> None:
    from sklearn.metrics import adjusted_rand_score

    o = planted_outlets()
    log_df = queuelog_gen.generate_log(o, years=1, start="2023-01-01", seed=1, scenario=SC)
    r = queuelog.analyze(log_df)
    got = {x["outlet_id"]: x["portrait"] for x in r["outlets"]}
    truth = dict(zip(o["outlet_id"], o["kind"], strict=True))
    ids = sorted(got)
    assert adjusted_rand_score([truth[i] for i in ids], [got[i] for i in ids]) == 1.0
    expected = {"office": "lunchtime office peak", "residential": "weekend residential",
                "commuter": "morning-and-evening commuter", "mixed": "flat all-day"}
    for oid, kind in truth.items():
        assert got[oid] == expected[kind]
    assert r["portrait_k"]["chosen"] == 4
    assert sorted(p["outlets"] for p in r["portraits"]) == [6, 6, 6, 6]
    # planted calendar: Monday busiest, December above August
    assert r["busiest_weekdays"][0]["weekday"] == "Mon"
    assert r["month_profile"]["Dec"] > r["month_profile"]["Aug"]
    # busier outlets (higher planted peak) wait longer
    waits = [x["mean_wait_min"] for x in sorted(r["outlets"], key=lambda x: x["outlet_id"])]
    assert np.corrcoef(o["arrivals_per_h"], waits)[0, 1] > 0.5


def test_office_only_log_peaks_at_lunch() -> None:
    o = planted_outlets()
    o = o[o["kind"] == "office"]
    r = queuelog.analyze(queuelog_gen.generate_log(o, years=1, seed=2, scenario=SC))
    assert r["busiest_hours"][0]["hour"] == "12:00"


def test_synthetic_and_branch_outlets() -> None:
    s = queuelog_gen.synthetic_outlets(12, seed=3, scenario=SC)
    assert list(s["outlet_id"][:2]) == ["Q001", "Q002"] and len(s) == 12
    assert set(s["kind"]) <= set(queuelog_gen.KINDS)
    pd.testing.assert_frame_equal(s, queuelog_gen.synthetic_outlets(12, seed=3, scenario=SC))
    branches = pd.DataFrame({"branch_id": ["b2", "b1"], "counters": [5, 2], "terminals": [4, 4]})
    b = queuelog_gen.outlets_from_branches(branches, seed=0, scenario=SC)
    assert list(b["outlet_id"]) == ["b1", "b2"]
    with pytest.raises(LayerError, match=r"missing column\(s\) terminals"):
        queuelog_gen.outlets_from_branches(branches.drop(columns="terminals"), scenario=SC)
    with pytest.raises(LayerError, match=r"missing column 'counters'"):
        queuelog_gen.generate_log(s.drop(columns="counters"), scenario=SC)
    with pytest.raises(LayerError, match=r"unknown kind"):
        queuelog_gen.generate_log(s.assign(kind="farm"), scenario=SC)


def test_committed_sample_is_the_embedded_network_with_the_2017_improvement() -> None:
    from netplan.model.calibrate import CHANNEL_COLUMNS, fit_log
    from netplan.study.readers import read_layer

    assert SAMPLE.is_file()
    assert SAMPLE.stat().st_size < 3_000_000
    df = queuelog.read_queue_log(SAMPLE)
    assert set(CHANNEL_COLUMNS) <= set(df.columns)
    from netplan._paths import default_gpkg

    branch_ids = set(read_layer(default_gpkg(), "branches")["branch_id"].astype(str))
    assert df["outlet_id"].nunique() == 40 and set(df["outlet_id"]) <= branch_ids
    assert df["timestamp"].dt.year.unique().tolist() == [2016, 2017, 2018]
    years = {y["year"]: y for y in fit_log(df).by_year}
    assert years[2016]["counter_mean_wait_min"] > 11.0 > years[2017]["counter_mean_wait_min"]
    assert years[2016]["smart_share"] < years[2017]["smart_share"]


# --- CLI -----------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_generate_and_analyze(tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    res = runner.invoke(app, ["queue-log", "generate", "--out", str(out), "--years", "1",
                              "--outlets", "6", "--seed", "4"])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    res = runner.invoke(app, ["queue-log", "analyze", str(out), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["outlets_count"] == 6
    assert {"busiest_hours", "busiest_weekdays", "portraits", "share_over_target_hours",
            "peak_hour_share", "outlets"} <= set(data)
    res = runner.invoke(app, ["queue-log", "analyze", str(out)])
    assert res.exit_code == 0 and "portraits" in res.stdout


def test_cli_analyze_bad_file_is_a_domain_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("outlet_id,timestamp\nA,2024-01-01 09:00\n")
    res = runner.invoke(app, ["queue-log", "analyze", str(p)])
    assert isinstance(res.exception, LayerError)
    assert "arrivals" in str(res.exception)


@pytest.mark.slow
def test_cli_generate_embedded_is_the_network_with_channels(tmp_path: Path) -> None:
    from netplan.model.calibrate import CHANNEL_COLUMNS

    out = tmp_path / "log.parquet"
    res = runner.invoke(app, ["queue-log", "generate", "--embedded", "--out", str(out),
                              "--years", "1", "--outlets", "3"])
    assert res.exit_code == 0, res.output
    df = queuelog.read_queue_log(out)
    assert set(CHANNEL_COLUMNS) <= set(df.columns)
    assert sorted(df["outlet_id"].unique()) == ["B0001", "B0281", "B0562"]
    assert df["timestamp"].min() == pd.Timestamp("2016-01-02 10:00")
    assert (df["counter_arrivals"] + df["terminal_arrivals"] == df["arrivals"]).all()
