"""What calibration costs: `netplan calibrate` on three years of queue logs of 562 outlets.

Run: ``python bench/bench_calibrate.py [--repeats 3] [--log LOG.parquet]``. Prints medians
and writes ``bench/results/calibrate.json``.

The log is the full modelled log of the embedded network (``netplan queue-log generate
--embedded``: 562 outlets, 2016-2018, one row per outlet and opening hour with the two
channels apart, about 4.5 M rows standing for about 100 M tickets); it is generated once
into a temporary folder unless ``--log`` names one. queuelog.py's format is *hourly
aggregated rows*, not one row per ticket. Every run is its own subprocess, so its peak RSS
(``ru_maxrss``, imports included) is its own: read and validate the log (pyarrow into
pandas), fit it (:func:`netplan.model.calibrate.fit_log`: bincounts over integer codes,
k-means portraits) and fit the scenario under the behaviour model
(:func:`netplan.planning.calibration.calibrate`). The baseline, run in the same child, is a
bare ``pandas.read_parquet`` of the same file: the ratio says what the work costs beyond
reading the bytes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "calibrate.json"


def child(log: Path) -> None:
    """One timed calibration; prints a JSON line."""
    import pandas as pd

    from netplan.model import calibrate as fit_mod
    from netplan.model import queuelog
    from netplan.model.scenario import load_scenario
    from netplan.planning.calibration import calibrate
    from netplan.study.layers import load_study

    t0 = time.perf_counter()
    raw = pd.read_parquet(log)
    t_base = time.perf_counter() - t0
    rows = len(raw)
    tickets = int(raw["arrivals"].sum())
    del raw
    study, scenario = load_study(), load_scenario()
    t0 = time.perf_counter()
    df = queuelog.read_queue_log(log)
    t1 = time.perf_counter()
    fit = fit_mod.fit_log(df)
    t2 = time.perf_counter()
    cal = calibrate(fit, study, scenario)
    t3 = time.perf_counter()
    print(json.dumps({
        "rows": rows, "tickets": tickets, "baseline_read_s": t_base,
        "read_validate_s": t1 - t0, "fit_log_s": t2 - t1, "calibrate_s": t3 - t2,
        "total_s": t3 - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "customer_share": cal.scenario.customer_share, "flagged": cal.summary["flagged"],
    }))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--log", type=Path)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        log = args.log
        if log is None:
            log = Path(tmp) / "log.parquet"
            subprocess.run([sys.executable, "-m", "netplan", "queue-log", "generate",
                            "--embedded", "--out", str(log)], check=True, capture_output=True)
        runs = []
        for _ in range(args.repeats):
            res = subprocess.run([sys.executable, __file__, "--child", str(log)], check=True,
                                 capture_output=True, text=True)
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs)
           for k in ("baseline_read_s", "read_validate_s", "fit_log_s", "calibrate_s",
                     "total_s", "peak_rss_mb")}
    result = {"rows": runs[0]["rows"], "tickets": runs[0]["tickets"], "runs": runs,
              "median": med, "ratio_total_over_read": med["total_s"] / med["baseline_read_s"],
              "machine": "shared 2-core VM, other engineers' jobs running"}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{result['rows']:,} hourly rows ({result['tickets']:,} tickets), "
          f"{args.repeats} runs, medians:")
    for k, v in med.items():
        print(f"  {k:18s} {v:10.2f}")
    print(f"  total / bare read  {result['ratio_total_over_read']:10.1f}x")


if __name__ == "__main__":
    main()
