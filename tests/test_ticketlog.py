"""Ticket logs: hourly sums known by hand, batch-independence, errors, calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from netplan._errors import LayerError
from netplan.cli import app
from netplan.model import calibrate as fit_mod
from netplan.model import queuelog, queuelog_gen, ticketlog
from netplan.model.scenario import load_scenario
from netplan.planning import calibration
from netplan.study.layers import Study, load_study

DEFAULT = load_scenario()
#: The truth the ticket log is generated with (as in test_calibrate.py).
TRUTH = DEFAULT.replace(customer_share=0.4, visits_per_customer_per_year=300.0,
                        smart_share=0.5, counter_service_min=10.0, terminal_service_min=3.0,
                        patience_min=60.0,
                        peak_hour_share=round(queuelog_gen.kind_peak_share("office"), 4))


def tiny_tickets() -> pd.DataFrame:
    """Five tickets at A (09:00-10:59), one at B; one gave up. Waits/services by hand."""
    def t(v: list[str | None]) -> pd.Series:
        return pd.Series(pd.to_datetime(v, format="ISO8601"))
    return pd.DataFrame({
        "outlet_id": ["A", "A", "A", "A", "A", "B"],
        "channel": ["counter", "counter", "counter", "terminal", "Counter ", "terminal"],
        "arrival": t(["2024-03-04 09:00", "2024-03-04 09:30", "2024-03-04 09:50",
                      "2024-03-04 09:15", "2024-03-04 10:05:00", "2024-03-04 09:59:59"]),
        "call": t(["2024-03-04 09:10", "2024-03-04 09:32", None,
                   "2024-03-04 09:16:00", "2024-03-04 10:05:00", "2024-03-04 10:01:59"]),
        "end": t(["2024-03-04 09:20", "2024-03-04 09:36", None,
                  "2024-03-04 09:19:00", "2024-03-04 10:17:00", "2024-03-04 10:02:59"]),
    })


def test_tiny_log_sums_to_known_hourly_rows(tmp_path: Path) -> None:
    for name in ("t.parquet", "t.csv"):
        path = tmp_path / name
        if name.endswith(".csv"):
            tiny_tickets().to_csv(path, index=False)
        else:
            tiny_tickets().to_parquet(path, index=False)
        df = queuelog.read_queue_log(path)  # told from the hourly format by its columns
        assert df["outlet_id"].astype(str).tolist() == ["A", "A", "B"]
        assert df["timestamp"].dt.hour.tolist() == [9, 10, 9]  # B's ticket: its arrival hour
        a9 = df.iloc[0]
        assert (a9["arrivals"], a9["counter_arrivals"], a9["terminal_arrivals"]) == (4, 3, 1)
        assert (a9["counter_served"], a9["abandoned"]) == (2, 1)
        assert a9["counter_wait_min"] == pytest.approx(6.0)  # (10 + 2) / 2 called tickets
        assert a9["counter_service_min"] == pytest.approx(7.0)  # (10 + 4) / 2
        assert a9["counter_service_sq_min2"] == pytest.approx(58.0)  # (100 + 16) / 2
        assert a9["terminal_wait_min"] == pytest.approx(1.0)
        assert a9["mean_wait_min"] == pytest.approx(13.0 / 3)
        assert df.iloc[1]["counter_service_min"] == pytest.approx(12.0)
        b9 = df.iloc[2]
        assert (b9["terminal_wait_min"], b9["terminal_service_min"]) == pytest.approx((2.0, 1.0))
        assert np.isnan(b9["counter_wait_min"]) and b9["counter_arrivals"] == 0


def test_abandoned_column_marks_give_ups() -> None:
    t = tiny_tickets()
    t["abandoned"] = [False, True, True, False, False, None]  # ticket 2 called, not there
    df = ticketlog.aggregate_batches([pa.Table.from_pandas(t, preserve_index=False)])
    a9 = df.iloc[0]
    assert (a9["counter_served"], a9["abandoned"]) == (1, 2)
    assert a9["counter_service_min"] == pytest.approx(10.0)


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import write_tiny_gpkg

    return write_tiny_gpkg(tmp_path_factory.mktemp("tickets"))


@pytest.fixture(scope="module")
def study(gpkg: Path) -> Study:
    return load_study(gpkg)


@pytest.fixture(scope="module")
def ticket_file(study: Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    o = calibration.network_outlets(study, TRUTH, year=2020, misfit_share=0.0)
    o["kind"] = "office"
    path = tmp_path_factory.mktemp("tickets") / "tickets.parquet"
    ticketlog.write_ticket_log(
        queuelog_gen.ticket_tables(o, years=1, start="2019-01-01", seed=3, scenario=TRUTH,
                                   reform=None), path)
    return path


def random_tickets(n: int = 40_000, seed: int = 0) -> pa.Table:
    """``n`` random tickets at three outlets over 1000 days, sorted by outlet, a sixth gave up.

    3 outlets x 24,000 hours: a shuffled batch is too scattered to count densely, so both
    ways of summing a batch are used.
    """
    rng = np.random.default_rng(seed)
    outlet = np.sort(rng.integers(0, 3, n))
    arrival = np.datetime64("2024-03-04T09:00:00") + np.sort(
        rng.integers(0, 1_000 * 86_400, n)).astype("timedelta64[s]")
    call = arrival + rng.integers(0, 1_800, n).astype("timedelta64[s]")
    end = call + rng.integers(0, 1_200, n).astype("timedelta64[s]")
    gave = rng.random(n) < 1 / 6
    return pa.table({
        "outlet_id": pa.array(np.array(["O1", "O2", "O3"])[outlet]).dictionary_encode(),
        "channel": pa.array(np.array(["counter", "terminal"])[rng.integers(0, 2, n)]),
        "arrival": pa.array(arrival),
        "call": pa.array(call, mask=gave),
        "end": pa.array(end.astype("datetime64[ms]"), mask=gave),  # another unit
    })


def test_batch_sizes_and_order_give_the_same_sums() -> None:
    table = random_tickets()
    whole = ticketlog.aggregate_batches([table])
    gave = table.column("call").null_count
    assert (whole["arrivals"].sum(), whole["abandoned"].sum()) == (table.num_rows, gave)
    for cut in (1_000, 7_777):
        pd.testing.assert_frame_equal(
            ticketlog.aggregate_batches(table.to_batches(max_chunksize=cut)), whole,
            check_exact=False, rtol=1e-5)
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    pd.testing.assert_frame_equal(
        ticketlog.aggregate_batches(shuffled.to_batches(max_chunksize=5_000)), whole,
        check_exact=False, rtol=1e-5)


@pytest.mark.slow
def test_fit_of_a_ticket_log_recovers_service_and_patience(ticket_file: Path) -> None:
    log_df = queuelog.read_queue_log(ticket_file)
    fit = fit_mod.fit_log(log_df)
    assert fit.counter_service is not None and fit.terminal_service is not None
    assert fit.counter_service.exact and fit.terminal_service.exact
    for got, want in ((fit.counter_service.mean_min, TRUTH.counter_service_min),
                      (fit.terminal_service.mean_min, TRUTH.terminal_service_min),
                      (fit.counter_service.cv, 1.0), (fit.terminal_service.cv, 1.0),
                      (fit.smart_share, TRUTH.smart_share),
                      (fit.patience_min, TRUTH.patience_min),
                      (fit.peak_hour_share, TRUTH.peak_hour_share)):
        assert got is not None and abs(got / want - 1) < 0.05, (got, want)
    # the exact variance differs from the hourly-means estimate of the same tickets
    hourly = log_df.drop(columns=["counter_service_sq_min2", "terminal_service_sq_min2"])
    assert not fit_mod.fit_log(hourly).counter_service.exact  # type: ignore[union-attr]


@pytest.mark.slow
def test_calibration_on_tickets_recovers_known_parameters(ticket_file: Path,
                                                          study: Study) -> None:
    fit = fit_mod.fit_log(queuelog.read_queue_log(ticket_file))
    cal = calibration.calibrate(fit, study, DEFAULT.replace(visits_per_customer_per_year=300.0))
    for name in ("customer_share", "smart_share", "counter_service_min",
                 "terminal_service_min", "patience_min", "peak_hour_share"):
        want = getattr(TRUTH, name)
        assert abs(getattr(cal.scenario, name) / want - 1) < 0.05, (name, want)
    assert cal.summary["flagged"] == 0
    assert "served tickets" in cal.sources["service.counter_service_min"]


def test_bad_schema_and_values_are_named(tmp_path: Path) -> None:
    p = tmp_path / "bad.parquet"
    tiny_tickets().drop(columns=["end"]).assign(arrivals=1).to_parquet(p)
    with pytest.raises(LayerError, match=r"neither an hourly queue log \(missing columns "
                       r"timestamp, mean_wait_min\) nor a ticket log \(missing column end\)"):
        queuelog.read_queue_log(p)
    t = tiny_tickets()
    t["arrival"] = 5
    with pytest.raises(LayerError, match=r"arrival must be a timestamp .* found int64"):
        ticketlog.aggregate_batches([pa.Table.from_pandas(t, preserve_index=False)])
    t = tiny_tickets()
    t.loc[1, "channel"] = "atm"
    t.loc[2, "outlet_id"] = " "
    t.loc[3, "call"] = pd.Timestamp("2024-03-04 09:00")  # before its 09:15 arrival
    t.loc[4, "call"] = None  # end without a call
    with pytest.raises(LayerError) as err:
        ticketlog.aggregate_batches([pa.Table.from_pandas(t, preserve_index=False)])
    msg = str(err.value)
    for part in ("channel must be counter or terminal; got 'atm' in row 2",
                 "outlet_id is empty in row 3", "call is before arrival in row 4",
                 "end is given but call is empty in row 5"):
        assert part in msg, msg
    t = tiny_tickets().assign(abandoned=False)
    with pytest.raises(LayerError, match=r"call is empty but abandoned is false in row 3"):
        ticketlog.aggregate_batches([pa.Table.from_pandas(t, preserve_index=False)])
    rows = [pa.Table.from_pandas(tiny_tickets(), preserve_index=False).slice(0, 0)]
    with pytest.raises(LayerError, match=r"the log has no tickets"):
        ticketlog.aggregate_batches(rows)


def test_row_numbers_count_across_batches() -> None:
    t = tiny_tickets()
    t.loc[5, "channel"] = "atm"
    batches = pa.Table.from_pandas(t, preserve_index=False).to_batches(max_chunksize=4)
    with pytest.raises(LayerError, match=r"got 'atm' in row 6"):
        ticketlog.aggregate_batches(batches)


runner = CliRunner()


def test_cli_analyzes_a_ticket_log_and_refuses_tickets_without_a_study(
        tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    tiny_tickets().to_csv(path, index=False)
    res = runner.invoke(app, ["queue-log", "analyze", str(path), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert (result["outlets_count"], result["arrivals"], result["rows"]) == (2, 6, 3)
    res = runner.invoke(app, ["queue-log", "generate", "--tickets", "--out",
                              str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "--embedded" in res.output
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.slow
def test_cli_generates_and_analyzes_a_ticket_log(gpkg: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    res = runner.invoke(app, ["queue-log", "generate", "--data", str(gpkg), "--tickets",
                              "--years", "1", "--start", "2019-01-01", "--out", str(out)])
    assert res.exit_code == 0, res.output
    first = out.read_bytes()
    res = runner.invoke(app, ["queue-log", "analyze", str(out), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["outlets_count"] == 8 and result["arrivals"] == pq.read_metadata(out).num_rows
    res = runner.invoke(app, ["queue-log", "generate", "--data", str(gpkg), "--tickets",
                              "--years", "1", "--start", "2019-01-01", "--out", str(out),
                              "--force"])
    assert res.exit_code == 0 and out.read_bytes() == first  # same seed, same bytes
