"""A budget sweep on a 2-worker Dask LocalCluster against the same points one by one.

Run (the issue's measurement, the whole city, 9 points, medians of 3)::

    python bench/bench_sweep.py --points 9 --repeats 3

A reduced, district-level version (what fits a shared machine)::

    python bench/bench_sweep.py --district 110101 --points 9 --repeats 3 --time-limit 30

Each repeat runs both modes, interleaved, each in a fresh subprocess (so the peak memory
of one run is not the high-water mark of an earlier one):

- ``in-process``: ``run_sweep(..., in_process=True)``, the points one by one in one process;
  its peak memory is that process's peak RSS;
- ``dask``: ``run_sweep(..., workers=2)``, a new 2-worker LocalCluster (start-up included
  in the wall time); its peak memory is the largest peak RSS of a worker process.

The points are ``planning.budget_cny`` from 300 M to 700 M CNY (the default scenario, the
horizon year). The speed-up is the ratio of the two modes' median wall times in the same
run; both modes' summaries are compared point by point (objectives equal = the same plans).
Writes ``bench/results/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.json"


def one_run(mode: str, district: str | None, points: int, time_limit: float | None) -> None:
    """Run one sweep in this process and print its figures as one JSON line."""
    from netplan.model.scenario import load_scenario
    from netplan.planning.sweep import parse_vary, run_sweep, summary_frame
    from netplan.study.layers import load_study

    study, sc = load_study(), load_scenario()
    axes = [parse_vary(f"planning.budget_cny=300e6:700e6:{points}")]
    t0 = time.perf_counter()
    res = run_sweep(study, sc, axes, district=district, time_limit_s=time_limit,
                    in_process=mode == "in-process", workers=2)
    wall = time.perf_counter() - t0
    df = summary_frame(res)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak = own if mode == "in-process" else res.run["max_worker_peak_rss_mb"]
    print(json.dumps({"mode": mode, "wall_s": wall, "peak_mb": peak, "client_peak_mb": own,
                      "failed": int((~df["ok"]).sum()),
                      "objective": [None if o != o else o for o in df["objective"]],
                      "gap": [None if g != g else g for g in df["gap"]],
                      "point_s": res.run["point_seconds"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--district", default=None, help="Plan one district at every point.")
    ap.add_argument("--points", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=None,
                    help="Seconds per point (default: the scenario's 120 s).")
    ap.add_argument("--one", choices=("in-process", "dask"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one_run(args.one, args.district, args.points, args.time_limit)
        return
    runs: dict[str, list[dict[str, Any]]] = {"in-process": [], "dask": []}
    for rep in range(args.repeats):
        for mode in runs:
            cmd = [sys.executable, __file__, "--one", mode, "--points", str(args.points)]
            if args.district:
                cmd += ["--district", args.district]
            if args.time_limit is not None:
                cmd += ["--time-limit", str(args.time_limit)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
            print(f"repeat {rep + 1} {mode}: {runs[mode][-1]['wall_s']:.1f} s, peak "
                  f"{runs[mode][-1]['peak_mb']:.0f} MB", flush=True)
    med = {m: {"wall_s": statistics.median(r["wall_s"] for r in rs),
               "peak_mb": statistics.median(r["peak_mb"] for r in rs)} for m, rs in runs.items()}
    same = all(a["objective"] == b["objective"]
               for a, b in zip(runs["in-process"], runs["dask"], strict=True))
    doc = {"district": args.district, "points": args.points, "repeats": args.repeats,
           "time_limit_s": args.time_limit, "median": med,
           "speedup": med["in-process"]["wall_s"] / med["dask"]["wall_s"],
           "same_objectives": same, "runs": runs,
           "note": "2 cores shared with other processes while measured"}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: doc[k] for k in ("median", "speedup", "same_objectives")}, indent=2))


if __name__ == "__main__":
    main()
