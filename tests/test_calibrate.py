"""Calibration from queue logs: known parameters recovered, disagreements flagged, the TOML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from netplan._errors import DataNotFoundError, LayerError
from netplan.cli import app
from netplan.model import calibrate as fit_mod
from netplan.model import queuelog, queuelog_gen
from netplan.model.scenario import load_scenario
from netplan.planning import calibration
from netplan.study.layers import Study, load_study

DEFAULT = load_scenario()
#: The truth the tiny log is generated with (visits kept: arrivals identify only the product).
TRUTH = DEFAULT.replace(customer_share=0.4, visits_per_customer_per_year=300.0,
                        smart_share=0.5, counter_service_min=10.0, terminal_service_min=3.0,
                        patience_min=60.0,
                        peak_hour_share=round(queuelog_gen.kind_peak_share("office"), 4))


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import write_tiny_gpkg

    return write_tiny_gpkg(tmp_path_factory.mktemp("cal"))


@pytest.fixture(scope="module")
def study(gpkg: Path) -> Study:
    return load_study(gpkg)


@pytest.fixture(scope="module")
def log_df(study: Study) -> pd.DataFrame:
    return queuelog.validate_queue_log(_log(study))


@pytest.fixture(scope="module")
def fit(log_df: pd.DataFrame) -> fit_mod.LogFit:
    return fit_mod.fit_log(log_df)


def _log(study: Study, *, bump: str | None = None) -> pd.DataFrame:
    o = calibration.network_outlets(study, TRUTH, year=2020, misfit_share=0.0)
    o["kind"] = "office"
    if bump is not None:
        o.loc[o["outlet_id"] == bump, "arrivals_per_h"] *= 2.5
    return queuelog_gen.generate_channel_log(o, years=1, start="2019-01-01", seed=3,
                                             scenario=TRUTH, reform=None)


def test_calibration_recovers_known_parameters_within_5_percent(
        study: Study, fit: fit_mod.LogFit) -> None:
    start = DEFAULT.replace(visits_per_customer_per_year=300.0)
    cal = calibration.calibrate(fit, study, start)
    got = cal.scenario
    for name in ("customer_share", "smart_share", "counter_service_min",
                 "terminal_service_min", "patience_min", "peak_hour_share"):
        want = getattr(TRUTH, name)
        assert abs(getattr(got, name) / want - 1) < 0.05, (name, getattr(got, name), want)
    assert cal.summary["flagged"] == 0
    assert set(cal.sources) >= {"demand.customer_share", "service.counter_service_min"}


@pytest.mark.slow
def test_disagreeing_outlet_is_flagged_and_left_out(study: Study) -> None:
    log_df = queuelog.validate_queue_log(_log(study, bump="b3"))
    start = DEFAULT.replace(visits_per_customer_per_year=300.0)
    cal = calibration.calibrate(fit_mod.fit_log(log_df), study, start)
    flagged = cal.outlets[cal.outlets["flag"] != ""]
    assert flagged["outlet_id"].tolist() == ["b3"]
    assert flagged["flag"].iloc[0] == "log busier than the model"
    assert abs(cal.scenario.customer_share / TRUTH.customer_share - 1) < 0.05


def test_written_toml_loads_back_to_the_calibrated_scenario(
        study: Study, fit: fit_mod.LogFit, tmp_path: Path) -> None:
    cal = calibration.calibrate(fit, study, DEFAULT)
    text = calibration.calibrated_toml(cal, log_name="log\nname.parquet")
    assert "# fitted:" in text and "\nname.parquet" not in text
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    back = load_scenario(path)
    for f in ("customer_share", "smart_share", "peak_hour_share", "patience_min",
              "counter_service_min", "formats", "districts", "behaviour_rule"):
        assert getattr(back, f) == getattr(cal.scenario, f), f


def test_log_without_channels_fits_arrivals_only(log_df: pd.DataFrame) -> None:
    fit = fit_mod.fit_log(log_df[list(queuelog.LOG_COLUMNS)])
    assert fit.smart_share is None and fit.counter_service is None and fit.patience_min is None
    assert fit.portraits[0]["label"] == "lunchtime office peak"


def test_bad_logs_are_refused(study: Study, log_df: pd.DataFrame, fit: fit_mod.LogFit) -> None:
    other = dataclasses.replace(fit, outlet_ids=tuple("Z" + i for i in fit.outlet_ids))
    with pytest.raises(LayerError, match=r"none of the log's 8 outlet ids is a branch"):
        calibration.calibrate(other, study, DEFAULT)
    broken = log_df.copy()
    broken.loc[3, "counter_arrivals"] += 1
    with pytest.raises(LayerError, match=r"differs from arrivals in 1 rows"):
        fit_mod.fit_log(broken)
    with pytest.raises(LayerError, match=r"window_days must be an integer >= 28"):
        fit_mod.fit_log(log_df, window_days=7)


runner = CliRunner()


@pytest.mark.slow
def test_cli_calibrate_writes_a_loadable_scenario(log_df: pd.DataFrame, gpkg: Path,
                                                  tmp_path: Path) -> None:
    log_path = tmp_path / "log.parquet"
    queuelog.write_queue_log(log_df, log_path)
    out, fit_csv = tmp_path / "c.toml", tmp_path / "fit.csv"
    args = ["calibrate", "--queue-log", str(log_path), "--data", str(gpkg),
            "--out", str(out), "--fit", str(fit_csv)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert load_scenario(out).name.endswith("-calibrated")
    assert len(pd.read_csv(fit_csv)) == 8
    before = out.read_bytes()
    res = runner.invoke(app, args)  # exists, no --force
    assert res.exit_code == 2 and "exists" in res.output
    assert out.read_bytes() == before
    res = runner.invoke(app, [*args, "--tolerance", "0.5", "--force"])
    assert res.exit_code == 2
    assert out.read_bytes() == before
    np.testing.assert_equal(sorted(pd.read_csv(fit_csv)["outlet_id"]),
                            [f"b{i}" for i in range(1, 9)])


def test_cli_calibrate_missing_log_is_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "c.toml"
    res = runner.invoke(app, ["calibrate", "--queue-log", str(tmp_path / "none.parquet"),
                              "--out", str(out)])
    assert isinstance(res.exception, DataNotFoundError)  # the entry point prints it, exit 1
    assert "does not exist" in str(res.exception)
    assert not out.exists() and list(tmp_path.iterdir()) == []
