"""Scale benchmark: district, city and nation-size synthetic studies, Dask speed-up, spopt.

Not part of the test suite. Every measurement runs in its own subprocess (so peak memory is
per measurement); results are printed as tables and written to ``bench/results/scale.json``
(each subcommand updates its own section).

    python bench/bench_scale.py sizes                       # district + city sizes
    python bench/bench_scale.py sizes --sizes nation --timeout 3600
    python bench/bench_scale.py speedup --repeats 3         # city size, 1 vs 2 Dask workers
    python bench/bench_scale.py spopt                       # p-median, netplan vs spopt

Instances come from :func:`netplan.synthetic.make_study` (seed 0) with the default scenario
adapted by :func:`netplan.synthetic.synthetic_scenario` and its city limits scaled to the
network (Beijing's 60 openings, 40 closures, 40 conversions and 600 M CNY for 562 outlets),
demand of the horizon year, HiGHS, the scenario's 1 % gap and time limit per solve.

Sizes (zones x sites, districts):

=========  ===================  =========  ==============================================
district   2,000 x 150          1          one solve (``make_plan``, the whole study)
city       20,000 x 900         16         ``plan_all`` on 2 Dask workers (+ ``--whole``:
                                           the single whole-city solve)
nation     200,000 x 5,000      100        ``plan_all`` on 2 Dask workers
=========  ===================  =========  ==============================================

Memory: ``ru_maxrss`` of the driver process and of every Dask worker process (reported by
each district task), summed (driver + workers) as the total footprint.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OUT_JSON = RESULTS / "scale.json"

SIZES: dict[str, tuple[int, int, int]] = {
    "district": (2_000, 150, 1),
    "city": (20_000, 900, 16),
    "nation": (200_000, 5_000, 100),
}
BEIJING_OUTLETS = 562


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scenario(study: Any) -> Any:
    from netplan.model.scenario import load_scenario
    from netplan.model.synthetic import synthetic_scenario

    sc = synthetic_scenario(study, load_scenario())
    f = len(study.branches) / BEIJING_OUTLETS
    assert sc.budget_cny is not None
    # Beijing's 32 % of outlets outside the 5th ring is a Beijing target; on a synthetic
    # study with scaled limits it can be infeasible (district size), and district runs do not
    # enforce it anyway, so it is off here for every mode alike.
    scaled = {key: None if getattr(sc, key) is None else max(1, round(getattr(sc, key) * f))
              for key in ("max_open", "max_close", "max_upgrade", "max_convert")}
    return sc.replace(**scaled, budget_cny=round(sc.budget_cny * f),
                      min_share_outside_ring=None)


# ------------------------------------------------------------------------------------------
# workers (one measurement per process)
# ------------------------------------------------------------------------------------------


def worker_single(size: str, seed: int) -> dict[str, Any]:
    """One whole-study solve (make_plan(adcode=None) in steps, to time each)."""
    from netplan.model.synthetic import make_study
    from netplan.planning import problem as planner
    from netplan.planning.plan import plan_from_solution

    n, m, d = SIZES[size]
    t0 = time.perf_counter()
    study = make_study(n, m, d, seed=seed)
    sc = _scenario(study)
    t_gen = time.perf_counter() - t0
    year = sc.horizon_year
    t1 = time.perf_counter()
    model = planner.build_model(study, sc, year=year)
    t_model = time.perf_counter() - t1
    sol = planner.solve_model(model, time_limit_s=sc.time_limit_s, mip_gap=sc.mip_gap)
    t2 = time.perf_counter()
    plan = plan_from_solution(study, sc, model, sol, year=year, adcode=None)
    t_plan = time.perf_counter() - t2
    return {
        "size": size, "mode": "single solve", "zones": n, "sites": m, "districts": d,
        "generate_s": t_gen, "model_s": t_model, "matrix_build_s": sol.build_seconds,
        "solve_s": sol.seconds, "plan_s": t_plan,
        "wall_s": time.perf_counter() - t0, "status": sol.status,
        "objective": sol.objective, "best_bound": sol.best_bound, "gap": sol.gap,
        "rows": sol.n_rows, "cols": sol.n_cols, "nonzeros": sol.n_nonzeros,
        "actions": plan.counts, "driver_peak_mb": _peak_mb(), "workers_peak_mb": 0.0,
        "total_peak_mb": _peak_mb(),
    }


def worker_districts(size: str, seed: int, workers: int, write: bool, mode: str,
                     task_threads: int | None = 1) -> dict[str, Any]:
    """plan_all on a LocalCluster with ``workers`` processes (``task_threads`` solver threads
    per district task; None = HiGHS' default, every core)."""
    from netplan.model.synthetic import make_study
    from netplan.planning.dask_runner import plan_all

    n, m, d = SIZES[size]
    t0 = time.perf_counter()
    study = make_study(n, m, d, seed=seed)
    sc = _scenario(study)
    t_gen = time.perf_counter() - t0
    city = plan_all(study, sc, workers=workers, mode=mode, task_threads=task_threads)
    t_write = None
    if write:
        with tempfile.TemporaryDirectory(prefix="netplan-bench-") as tmp:
            tw = time.perf_counter()
            city.write(Path(tmp) / "city")
            t_write = time.perf_counter() - tw
    k = city.kpis
    runs = {ad: {**v, **city.run["districts"].get(ad, {})} for ad, v in k["districts_run"].items()}
    per_worker: dict[str, float] = {}
    for r in runs.values():
        w, rss = r.get("worker", ""), r.get("peak_rss_mb")
        if w and rss is not None:
            per_worker[w] = max(per_worker.get(w, 0.0), float(rss))
    gaps = [r["gap"] for r in runs.values() if r.get("ok") and r.get("gap") is not None]
    statuses: dict[str, int] = {}
    for r in runs.values():
        key = r.get("status", "failed") if r.get("ok") else "failed"
        statuses[key] = statuses.get(key, 0) + 1
    solve = [r.get("solve_s", 0.0) for r in runs.values() if r.get("ok")]
    return {
        "size": size, "mode": f"plan_all {mode}, {workers} worker(s)", "workers": workers,
        "zones": n, "sites": m, "districts": d, "generate_s": t_gen,
        **{key: city.run[key] for key in ("split_seconds", "cluster_seconds", "tasks_seconds",
                                          "merge_seconds", "wall_seconds",
                                          "sum_district_seconds", "sum_district_cpu_seconds")},
        "district_seconds": {ad: [r.get("wall_s"), r.get("cpu_s")] for ad, r in runs.items()},
        "write_s": t_write, "sum_solve_s": sum(solve), "max_solve_s": max(solve, default=0.0),
        "objective": k["solver"]["objective"], "max_district_gap": max(gaps, default=None),
        "city_bound": k["solver"]["best_bound"], "city_gap": k["solver"]["gap"],
        "city_bound_detail": {key: v for key, v in k["coordination"].get("city_bound", {}).items()
                              if key != "linking_rows"},
        "objective_as_routed": k["merge"].get("objective_as_routed"),
        "districts_within_1pct": sum(g <= 0.01 + 1e-9 for g in gaps), "statuses": statuses,
        "failed": len(k["failed_districts"]), "violations": k["coordination"]["violations"],
        "repair": k["coordination"]["repair"], "actions": k["actions"],
        "driver_peak_mb": _peak_mb(), "workers_peak_mb": sum(per_worker.values()),
        "total_peak_mb": _peak_mb() + sum(per_worker.values()),
        "max_model_zones": max((r.get("model_zones", 0) for r in runs.values()), default=0),
        "off_target": {ad: {key: r.get(key) for key in (
            "ok", "status", "gap", "objective", "best_bound", "solve_s", "model_zones",
            "model_sites", "error", "reason")}
            for ad, r in runs.items() if not r.get("ok") or (r.get("gap") or 0) > 0.01},
    }


def worker_pmedian(tool: str, n: int, m: int, seed: int, time_limit: float) -> dict[str, Any]:
    """p-median on a synthetic study's geometry: zones -> outlets + candidates, p = outlets."""
    import numpy as np

    from netplan.model.synthetic import make_study
    from netplan.planning.diagnose import zone_points

    study = make_study(n, m, 1, seed=seed)
    z = zone_points(study.zones) / 1000.0
    s = np.vstack([zone_points(study.branches), zone_points(study.candidates)]) / 1000.0
    cost = np.sqrt(((z[:, None, :] - s[None, :, :]) ** 2).sum(-1))
    w = study.zones["pop_2020"].to_numpy(np.float64) / 1000.0
    p = len(study.branches)
    t0 = time.perf_counter()
    if tool == "netplan":
        from netplan.optimize import p_median

        res = p_median(cost, p, weights=w, time_limit_s=time_limit, threads=1)
        obj, status, gap = res.objective, res.status, res.gap
    else:
        import pulp
        from spopt.locate import PMedian

        model = PMedian.from_cost_matrix(cost, w, p)
        model = model.solve(pulp.HiGHS(msg=False, threads=1, timeLimit=time_limit))
        obj = float(pulp.value(model.problem.objective))
        status, gap = pulp.LpStatus[model.problem.status], None
    return {"tool": tool, "zones": n, "sites": m, "p": p, "wall_s": time.perf_counter() - t0,
            "objective": obj, "status": status, "gap": gap, "peak_mb": _peak_mb()}


# ------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------


def _run(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s", "args": args}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                else f"exit {proc.returncode}", "args": args}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _save(section: str, payload: Any, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {}
    data[section] = {"command": command, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                     "machine": {"python": platform.python_version(),
                                 "platform": platform.platform(),
                                 "cpus": __import__("os").cpu_count()},
                     "results": payload}
    OUT_JSON.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _fmt(x: Any, key: str = "") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if "gap" in key or "diff" in key:
            return f"{x:.3%}"
        if "ratio" in key:
            return f"{x:.2f}"
        return f"{x:,.0f}" if abs(x) >= 1e5 else f"{x:,.1f}"
    text = str(x)
    return text if len(text) <= 60 else text[:57] + "..."



def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> None:
    widths = [max(len(h), *(len(_fmt(r.get(k), k)) for r in rows)) for k, h in cols]
    print("  ".join(h.rjust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r.get(k), k).rjust(w)
                        for (k, _), w in zip(cols, widths, strict=True)))


def cmd_sizes(ns: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    for size in ns.sizes.split(","):
        if size == "district":
            args = ["single", size, str(ns.seed)]
        else:
            args = ["districts", size, str(ns.seed), str(ns.workers), str(int(ns.write))]
        for mode in (ns.mode.split(",") if size != "district" else [""]):
            print(f"[{size}] {' '.join(args)} {mode} ...", flush=True)
            res = _run([*args, mode] if mode else args, ns.timeout)
            res.setdefault("size", size)
            rows.append(res)
        if ns.whole and size == "city":
            print("[city] whole-city single solve ...", flush=True)
            rows.append({**_run(["single", size, str(ns.seed)], ns.timeout), "size": size})
    _table(rows, [("size", "size"), ("mode", "mode"), ("generate_s", "gen s"),
                  ("model_s", "model s"), ("solve_s", "solve s"), ("tasks_seconds", "tasks s"),
                  ("merge_seconds", "merge s"), ("wall_s", "wall s"),
                  ("wall_seconds", "plan_all s"), ("objective", "objective"),
                  ("gap", "gap"), ("max_district_gap", "max d. gap"),
                  ("city_bound", "city bound"), ("city_gap", "city gap"),
                  ("total_peak_mb", "peak MB"), ("error", "error")])
    for r in rows:
        if "repair" in r:
            print(f"{r['size']} {r['mode']}: repair {r['repair']}; violations "
                  f"{r.get('violations')}")
    _save(f"sizes:{ns.sizes}", rows, " ".join(sys.argv))


def cmd_speedup(ns: argparse.Namespace) -> None:
    """1 vs 2 workers, one solver thread per task (the default), interleaved repeats; plus
    1 worker whose tasks let HiGHS use every core: the best one-worker run, the fairer peer."""
    configs = {"1": (1, "1"), "2": (2, "1"), "1-auto": (1, "auto")}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in configs}
    for rep in range(ns.repeats):
        for key, (w, tt) in configs.items():
            print(f"[speedup] {ns.size}, {w} worker(s), solver threads per task {tt}, repeat "
                  f"{rep + 1}/{ns.repeats} ...", flush=True)
            res = _run(["districts", ns.size, str(ns.seed), str(w), "0", ns.mode, tt],
                       ns.timeout)
            runs[key].append(res)
            print(f"    plan_all {res.get('wall_seconds')} s, tasks {res.get('tasks_seconds')} s,"
                  f" task CPU {res.get('sum_district_cpu_seconds')} s", flush=True)
    summary: dict[str, Any] = {}
    for key in ("wall_seconds", "tasks_seconds", "sum_district_cpu_seconds"):
        if not all(key in r for v in runs.values() for r in v):
            continue
        med = {k: statistics.median(r[key] for r in v) for k, v in runs.items()}
        summary[key] = {"1_worker": med["1"], "2_workers": med["2"],
                        "1_worker_highs_all_cores": med["1-auto"],
                        "speedup": med["1"] / med["2"],
                        "speedup_vs_best_1_worker": min(med["1"], med["1-auto"]) / med["2"]}
    for key, val in summary.items():
        print(f"{key}: 1 worker {val['1_worker']:.1f} s (HiGHS on all cores: "
              f"{val['1_worker_highs_all_cores']:.1f} s), 2 workers {val['2_workers']:.1f} s, "
              f"speed-up {val['speedup']:.2f}x, vs the best 1-worker run "
              f"{val['speedup_vs_best_1_worker']:.2f}x (medians of {ns.repeats})")
    _save(f"speedup:{ns.size}", {"summary": summary, "runs": runs}, " ".join(sys.argv))


def cmd_spopt(ns: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    for spec in ns.sizes.split(","):
        n, m = (int(v) for v in spec.split("x"))
        pair = {}
        for tool in ("netplan", "spopt"):
            print(f"[spopt] {tool} {n} x {m} ...", flush=True)
            pair[tool] = _run(["pmedian", tool, str(n), str(m), str(ns.seed),
                               str(ns.time_limit)], ns.timeout)
        a, b = pair["netplan"], pair["spopt"]
        row = {"zones": n, "sites": m, "netplan_s": a.get("wall_s"), "spopt_s": b.get("wall_s"),
               "netplan_obj": a.get("objective"), "spopt_obj": b.get("objective"),
               "netplan_mb": a.get("peak_mb"), "spopt_mb": b.get("peak_mb"),
               "netplan_status": a.get("status"), "spopt_status": b.get("status"),
               "error": a.get("error") or b.get("error")}
        if a.get("wall_s") and b.get("wall_s"):
            row["time_ratio"] = b["wall_s"] / a["wall_s"]
            row["mem_ratio"] = b["peak_mb"] / a["peak_mb"]
            row["obj_rel_diff"] = (b["objective"] - a["objective"]) / abs(a["objective"])
        rows.append(row)
    _table(rows, [("zones", "zones"), ("sites", "sites"), ("netplan_s", "netplan s"),
                  ("spopt_s", "spopt s"), ("time_ratio", "spopt/netplan time"),
                  ("netplan_mb", "netplan MB"), ("spopt_mb", "spopt MB"),
                  ("mem_ratio", "mem ratio"), ("obj_rel_diff", "obj rel diff"),
                  ("spopt_status", "spopt status"), ("error", "error")])
    _save("spopt", rows, " ".join(sys.argv))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        kind, *rest = sys.argv[2:]
        if kind == "single":
            out = worker_single(rest[0], int(rest[1]))
        elif kind == "districts":
            tt = rest[5] if len(rest) > 5 else "1"
            out = worker_districts(rest[0], int(rest[1]), int(rest[2]), bool(int(rest[3])),
                                   rest[4], None if tt == "auto" else int(tt))
        else:
            out = worker_pmedian(rest[0], int(rest[1]), int(rest[2]), int(rest[3]),
                                 float(rest[4]))
        print(json.dumps(out, default=str))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("sizes", help="build/solve time, memory, objective, gap per size")
    a.add_argument("--sizes", default="district,city")
    a.add_argument("--workers", type=int, default=2)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--timeout", type=float, default=3600.0)
    a.add_argument("--whole", action="store_true", help="city: also the whole-city solve")
    a.add_argument("--write", action="store_true", help="also time writing the city folder")
    a.add_argument("--mode", default="buffer,partition", help="district modes to run")
    b = sub.add_parser("speedup", help="1 vs 2 Dask workers (medians)")
    b.add_argument("--size", default="city")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--mode", default="buffer")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--timeout", type=float, default=3600.0)
    c = sub.add_parser("spopt", help="p-median: netplan vs spopt (needs the bench extra)")
    c.add_argument("--sizes", default="2000x150,5000x300")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--time-limit", type=float, default=600.0)
    c.add_argument("--timeout", type=float, default=1800.0)
    ns = ap.parse_args()
    {"sizes": cmd_sizes, "speedup": cmd_speedup, "spopt": cmd_spopt}[ns.cmd](ns)


if __name__ == "__main__":
    main()
