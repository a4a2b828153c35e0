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
The *ceiling* (``--ceiling-repeats``, default 3) says what any 2-worker engine could reach
on this machine: the middle point's model solved once to the scenario's gap, alone (as
the in-process points run: HiGHS's own threads), then twice at once in two plain processes
(no Dask; one solver thread each, as the sweep's tasks run), as many repeats; ``slowdown``
is the median wall time of a pair over the median alone (two solves share the memory
bandwidth and the last-level cache). With the in-process point times ``t`` (medians over the
repeats), the best 2-worker wall time is at least ``slowdown x`` the best split of the
points over two workers (any schedule), or of the warm-start chains (the chains' points run
one after the other), so the speed-up is at most ``sum(t) / (slowdown x best split)``; both
ceilings are written beside the speed-up (``--ceiling-from FILE``: only the ceiling, for the
point times of an earlier results file).
``--warm`` measures the sweep with warm-start chains (default: every point cold, as
``netplan sweep`` runs it).

Writes ``bench/results/sweep.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.json"


def one_run(mode: str, district: str | None, points: int, time_limit: float | None,
            warm: bool = False) -> None:
    """Run one sweep in this process and print its figures as one JSON line."""
    from netplan.model.scenario import load_scenario
    from netplan.planning.sweep import parse_vary, run_sweep, summary_frame
    from netplan.study.layers import load_study

    study, sc = load_study(), load_scenario()
    axes = [parse_vary(f"planning.budget_cny=300e6:700e6:{points}")]
    t0 = time.perf_counter()
    res = run_sweep(study, sc, axes, district=district, time_limit_s=time_limit,
                    in_process=mode == "in-process", workers=2, warm=warm)
    wall = time.perf_counter() - t0
    df = summary_frame(res)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak = own if mode == "in-process" else res.run["max_worker_peak_rss_mb"]
    print(json.dumps({"mode": mode, "wall_s": wall, "peak_mb": peak, "client_peak_mb": own,
                      "failed": int((~df["ok"]).sum()),
                      "objective": [None if o != o else o for o in df["objective"]],
                      "gap": [None if g != g else g for g in df["gap"]],
                      "point_s": res.run["point_seconds"]}))


def one_point(district: str | None, points: int, time_limit: float | None,
              threads: int | None) -> None:
    """Solve the middle point's model once, cold, to the scenario's gap, in this process
    (a fixed amount of work, unlike a whole point, whose holds loop stops on its time
    shares), on ``threads`` solver threads (None: as ``plan`` runs it); print its wall
    time."""
    from netplan.model.scenario import load_scenario
    from netplan.planning import problem as planner
    from netplan.planning.limits import district_scope
    from netplan.planning.sweep import parse_vary, sweep_points
    from netplan.study.layers import load_study

    study, sc = load_study(), load_scenario()
    pts = sweep_points(sc, [parse_vary(f"planning.budget_cny=300e6:700e6:{points}")])
    adcode, scen = district_scope(study, pts[len(pts) // 2].scenario, district,
                                  year=sc.horizon_year)
    model = planner.build_model(study, scen, year=scen.horizon_year, adcode=adcode)
    t0 = time.perf_counter()
    sol = planner.solve_model(model, time_limit_s=time_limit, mip_gap=scen.mip_gap,
                              threads=planner.solver_threads(adcode, threads))
    print(json.dumps({"wall_s": time.perf_counter() - t0, "objective": sol.objective,
                      "status": sol.status}))


def _best_split(times: list[float], workers: int = 2) -> float:
    """The smallest makespan of ``times`` (indivisible jobs) over ``workers`` workers."""
    best = math.inf
    for assign in itertools.product(range(workers), repeat=len(times)):
        loads = [0.0] * workers
        for t, w in zip(times, assign, strict=True):
            loads[w] += t
        best = min(best, max(loads))
    return best


def ceiling(args: argparse.Namespace, point_s: list[float]) -> dict[str, Any]:
    """The slowdown of two points at once and the speed-up ceilings it implies."""
    from netplan.planning.problem import TASK_THREADS
    from netplan.planning.sweep import parse_vary, start_points

    cmd = [sys.executable, __file__, "--one-point", "--points", str(args.points)]
    if args.district:
        cmd += ["--district", args.district]
    cmd += ["--time-limit", str(args.ceiling_time_limit)]
    alone: list[float] = []
    pairs: list[float] = []
    for rep in range(args.ceiling_repeats):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        alone.append(json.loads(out.strip().splitlines()[-1])["wall_s"])
        # as the sweep's tasks run: one solver thread each (its in-process points: HiGHS's own)
        pair = [*cmd, "--threads", str(TASK_THREADS)]
        procs = [subprocess.Popen(pair, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        walls = [json.loads(p.communicate()[0].strip().splitlines()[-1])["wall_s"]
                 for p in procs]
        pairs.append(max(walls))
        print(f"ceiling repeat {rep + 1}: alone {alone[-1]:.1f} s, two at once "
              f"{walls[0]:.1f} / {walls[1]:.1f} s", flush=True)
    slow = statistics.median(pairs) / statistics.median(alone)
    starts = start_points([parse_vary(f"planning.budget_cny=300e6:700e6:{args.points}")])
    chains: list[float] = []
    for k, j in enumerate(starts):
        if j is None or not args.warm:
            chains.append(point_s[k])
        else:
            chains[-1] += point_s[k]
    total = sum(point_s)
    return {"alone_s": alone, "pair_max_s": pairs, "slowdown": slow,
            "any_schedule": total / (slow * _best_split(point_s)),
            "warm_chains": total / (slow * _best_split(chains)),
            "chains_s": chains}


def ceiling_only(args: argparse.Namespace) -> None:
    """The ceiling of an earlier run (``--ceiling-from``), measured now; written to --out."""
    doc = json.loads(args.ceiling_from.read_text(encoding="utf-8"))
    args.points, args.district = doc["points"], doc["district"]
    args.warm = bool(doc.get("warm", not doc.get("cold", False)))
    runs = doc["runs"]["in-process"]
    point_s = [statistics.median(float(r["point_s"][k]) for r in runs)
               for k in runs[0]["point_s"]]
    res = {"from": str(args.ceiling_from), "speedup_measured": doc["speedup"],
           "warm": args.warm, "note": args.note, "ceiling": ceiling(args, point_s)}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(res["ceiling"], indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--district", default=None, help="Plan one district at every point.")
    ap.add_argument("--points", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=None,
                    help="Seconds per point (default: the scenario's 120 s).")
    ap.add_argument("--warm", action="store_true",
                    help="Points start from their neighbour's plan (netplan sweep --warm).")
    ap.add_argument("--ceiling-repeats", type=int, default=3,
                    help="Repeats of the one-point-alone / two-at-once measurement (0: skip).")
    ap.add_argument("--ceiling-time-limit", type=float, default=900.0,
                    help="Time limit of the ceiling's point (high: it stops on its gap).")
    ap.add_argument("--note", default="2 cores shared with other processes while measured")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--one", choices=("in-process", "dask"), help=argparse.SUPPRESS)
    ap.add_argument("--one-point", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ceiling-from", type=Path, default=None,
                    help="Only the ceiling, with the in-process point times of this earlier "
                         "results file (its points, district and warm setting).")
    args = ap.parse_args()
    if args.ceiling_from is not None:
        ceiling_only(args)
        return
    if args.one:
        one_run(args.one, args.district, args.points, args.time_limit, args.warm)
        return
    if args.one_point:
        one_point(args.district, args.points, args.time_limit, args.threads)
        return
    runs: dict[str, list[dict[str, Any]]] = {"in-process": [], "dask": []}
    for rep in range(args.repeats):
        for mode in runs:
            cmd = [sys.executable, __file__, "--one", mode, "--points", str(args.points)]
            if args.district:
                cmd += ["--district", args.district]
            if args.time_limit is not None:
                cmd += ["--time-limit", str(args.time_limit)]
            if args.warm:
                cmd += ["--warm"]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
            print(f"repeat {rep + 1} {mode}: {runs[mode][-1]['wall_s']:.1f} s, peak "
                  f"{runs[mode][-1]['peak_mb']:.0f} MB", flush=True)
    med = {m: {"wall_s": statistics.median(r["wall_s"] for r in rs),
               "peak_mb": statistics.median(r["peak_mb"] for r in rs)} for m, rs in runs.items()}
    same = all(a["objective"] == b["objective"]
               for a, b in zip(runs["in-process"], runs["dask"], strict=True))
    doc: dict[str, Any] = {
        "district": args.district, "points": args.points, "repeats": args.repeats,
        "warm": args.warm, "time_limit_s": args.time_limit, "median": med,
        "speedup": med["in-process"]["wall_s"] / med["dask"]["wall_s"],
        "same_objectives": same, "runs": runs, "note": args.note}
    if args.ceiling_repeats > 0:
        point_s = [statistics.median(float(r["point_s"][k]) for r in runs["in-process"])
                   for k in runs["in-process"][0]["point_s"]]
        doc["ceiling"] = ceiling(args, point_s)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: doc[k] for k in ("median", "speedup", "same_objectives", "ceiling")
                      if k in doc}, indent=2))


if __name__ == "__main__":
    main()
