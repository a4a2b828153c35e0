"""Benchmark netplan's optimiser against spopt, and time the city-size bank model.

Not part of the test suite. Needs the ``bench`` extra (``pip install -e .[bench]`` -> spopt).

    python bench/bench_optimize.py                  # p-median vs spopt + bank model
    python bench/bench_optimize.py pmedian --repeats 3 --spopt-repeats 3 --spopt-solver cbc
    python bench/bench_optimize.py bank --bank-time-limit 300
    python bench/bench_optimize.py beijing --repeats 3     # the default Beijing plan model

Every run of every solver happens in its own subprocess, which reports its own wall time,
objective, peak RSS (``ru_maxrss``: the honest whole-process figure, imports included) plus
the peak RSS of its own children (CBC is a separate executable: "footprint" = python peak +
solver child peak), its RSS just before building the model (the import baseline) and the
tracemalloc peak of the build + solve (Python allocations only). Medians over the repeats
are printed as a table and written with every raw run to ``bench/results/optimize.json``.

p-median instance: 2,000 zones and 150 candidate sites drawn around 12 cluster centres in a
100 x 100 square (seeded), Euclidean cost, unit weights, p = 60. spopt builds the textbook
dense model (300,000 assignment variables) in PuLP; netplan solves it exactly with the
k-nearest sparse model (see ``netplan.optimize.classic._knearest_exact``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _rss_mb() -> float:
    """Current resident set size of this process in MB (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child_peak_mb() -> float:
    """Peak RSS of the largest finished child (CBC runs as a separate process)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def pmedian_instance(n: int = 2000, m: int = 150, seed: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 100, (12, 2))
    zones = centres[rng.integers(0, 12, n)] + rng.normal(0, 6, (n, 2))
    sites = centres[rng.integers(0, 12, m)] + rng.normal(0, 8, (m, 2))
    return np.sqrt(((zones[:, None, :] - sites[None, :, :]) ** 2).sum(-1))


# ------------------------------------------------------------------------------------------
# workers (one solver run per process)
# ------------------------------------------------------------------------------------------


def worker_pmedian(
    tool: str, spopt_solver: str, p: int, time_limit: float | None
) -> dict[str, Any]:
    if tool == "netplan":
        from netplan.optimize import p_median
    else:
        import pulp
        from spopt.locate import PMedian
    cost = pmedian_instance()
    n = cost.shape[0]
    base = _rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    if tool == "netplan":
        res = p_median(cost, p, time_limit_s=time_limit, threads=1)
        obj, status, opened = res.objective, res.status, res.open.tolist()
        extra = {"gap": res.gap, "rounds": res.rounds, "solve_s": res.seconds,
                 "build_s": res.build_seconds, "nonzeros": res.solution.n_nonzeros}
    else:
        model = PMedian.from_cost_matrix(cost, np.ones(n), p)
        t_build = time.perf_counter() - t0
        if spopt_solver == "highs":
            solver = pulp.HiGHS(msg=False, threads=1, timeLimit=time_limit)
        else:
            solver = pulp.PULP_CBC_CMD(msg=False, threads=1, timeLimit=time_limit)
        model = model.solve(solver)
        obj = float(pulp.value(model.problem.objective))
        status = pulp.LpStatus[model.problem.status]
        opened = sorted(int(j) for j in range(cost.shape[1])
                        if (model.fac_vars[j].value() or 0) > 0.5)
        extra = {"build_s": t_build, "solve_s": time.perf_counter() - t0 - t_build}
    wall = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tool": tool if tool == "netplan" else f"spopt+{spopt_solver}", "wall_s": wall,
            "objective": obj, "status": status, "open": opened, "rss_peak_mb": _peak_mb(),
            "child_rss_peak_mb": _child_peak_mb(), "footprint_mb": _peak_mb() + _child_peak_mb(),
            "rss_before_build_mb": base, "tracemalloc_peak_mb": traced_peak / 2**20, **extra}


def bank_instance(n: int = 20_000, m_existing: int = 560, m_cand: int = 340, k: int = 8,
                  seed: int = 7) -> Any:
    """A synthetic city: 20k zones, 560 branches + 340 candidates, 3 formats, 16 districts."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    from netplan.optimize import FacilityProblem

    rng = np.random.default_rng(seed)
    m = m_existing + m_cand
    centres = rng.uniform(-20, 20, (30, 2))
    zones = centres[rng.integers(0, 30, n)] + rng.normal(0, 4, (n, 2))  # km
    pop = rng.lognormal(7, 0.8, n)
    arrivals = pop * 0.00065  # peak-hour arrivals per zone (~20k/h city-wide)
    existing_xy = zones[rng.choice(n, m_existing, replace=False)]
    existing_xy = existing_xy + rng.normal(0, 0.3, (m_existing, 2))
    cand_xy = zones[rng.choice(n, m_cand, replace=False)] + rng.normal(0, 0.3, (m_cand, 2))
    sites = np.vstack([existing_xy, cand_xy])
    dist, idx = cKDTree(sites).query(zones, k=k)
    rows = np.repeat(np.arange(n), k)
    travel = (arrivals[:, None] * dist * 2.0).ravel()  # cost units: arrivals x km x weight
    cost = sp.csr_array((travel, (rows, idx.ravel())), shape=(n, m))
    formats_cap = np.array([25.0, 45.0, 70.0])  # light, full, flagship: arrivals/h at 11 min
    formats_cost = np.array([60.0, 100.0, 150.0])
    formats_oneoff = np.array([1.0, 3.0, 5.0])
    opt_site = np.repeat(np.arange(m), 3)
    fmt = np.tile(np.arange(3), m)
    existing = np.arange(m) < m_existing
    current_fmt = rng.choice(3, m_existing, p=[0.15, 0.75, 0.10])
    is_current = existing[opt_site] & (fmt == np.r_[current_fmt, np.zeros(m_cand, int)][opt_site])
    oneoff = np.where(is_current, 0.0, formats_oneoff[fmt] * np.where(existing[opt_site], 0.5, 1.0))
    opt_cost = formats_cost[fmt] + 0.1 * oneoff
    r = np.hypot(sites[:, 0], sites[:, 1])
    outside = r > 12
    group = np.minimum((np.arctan2(sites[:, 1], sites[:, 0]) + np.pi) / (2 * np.pi) * 16, 15)
    group = group.astype(np.int64)
    # relocations: each existing site in the dense core may move to its 2 nearest candidates
    core = np.flatnonzero(existing & (r < 8))
    d2, j2 = cKDTree(cand_xy).query(existing_xy[core], k=2)
    rf = np.repeat(core, 2)
    rt = m_existing + j2.ravel()
    ok = d2.ravel() < 5
    return FacilityProblem(
        demand=arrivals, cost=cost, opt_site=opt_site, unserved_cost=arrivals * 200.0,
        opt_capacity=formats_cap[fmt], opt_cost=opt_cost, opt_oneoff=oneoff,
        opt_is_current=is_current, site_existing=existing, site_close_cost=np.full(m, 20.0),
        site_close_oneoff=np.where(existing, 0.5, 0.0), site_group=group, site_outside=outside,
        group_max_new=np.full(16, 6), group_max_closed=np.full(16, 5), max_new=60,
        max_closed=40, budget=250.0, min_share_outside=0.3,
        reloc_from=rf[ok], reloc_to=rt[ok], reloc_saving=np.full(int(ok.sum()), 10.0),
        reloc_saving_oneoff=np.full(int(ok.sum()), 0.5), balance_weight=5.0,
        balance_threshold=0.85, warm_start=None,
    ), is_current


def worker_bank(time_limit: float, threads: int | None, search: bool = True) -> dict[str, Any]:
    from dataclasses import replace

    from netplan.optimize import model_size, solve

    t0 = time.perf_counter()
    prob, _ = bank_instance()
    prob = replace(prob, warm_start=prob.current_options())
    t_inst = time.perf_counter() - t0
    size = model_size(prob)
    lines: list[str] = []
    sol = solve(prob, time_limit_s=time_limit, threads=threads, progress=lines.append,
                search=search)
    return {
        "tool": "netplan-bank" if search else "netplan-bank-highs-alone",
        "instance_s": t_inst, "build_s": sol.build_seconds,
        "solve_s": sol.seconds, "status": sol.status, "objective": sol.objective,
        "best_bound": sol.best_bound, "gap": sol.gap, "rows": size.rows, "cols": size.cols,
        "nonzeros": size.nonzeros, "integers": size.integers,
        "n_cost_pairs": int(prob.cost.nnz), "n_reloc": int(prob.reloc_from.size),
        "open": int(sol.open_sites.size), "relocated": int(sol.relocated.sum()),
        "unserved_share": float((sol.unserved_share * prob.demand).sum() / prob.demand.sum()),
        "rss_peak_mb": _peak_mb(), "progress": lines,
    }


def worker_beijing(district: str | None, time_limit: float, search: bool) -> dict[str, Any]:
    """The default Beijing plan model (the embedded beijing.gpkg + beijing-2035.toml),
    whole city or one district with its share of the city limits, as `netplan plan` builds
    it; solved with the scenario's gap and the given time limit."""
    from netplan.model.scenario import load_scenario
    from netplan.optimize import solve
    from netplan.planning.limits import district_scenario, split_limits
    from netplan.planning.problem import build_model
    from netplan.study.layers import load_study, resolve_district

    sc = load_scenario()
    study = load_study()
    year = sc.horizon_year
    adcode = resolve_district(district, study.districts) if district else None
    t0 = time.perf_counter()
    if adcode is not None:
        sc = district_scenario(sc, split_limits(study, sc, year=year)[adcode])
    model = build_model(study, sc, year=year, adcode=adcode)
    build = time.perf_counter() - t0
    lines: list[str] = []
    t1 = time.perf_counter()
    sol = solve(model.problem, time_limit_s=time_limit, mip_gap=sc.mip_gap, search=search,
                progress=lines.append)
    wall = time.perf_counter() - t1
    hand = [x for x in lines if x.startswith("HiGHS handed over")]
    return {
        "tool": "netplan" if search else "netplan-no-search", "scope": adcode or "city",
        "build_s": build, "solve_s": wall, "status": sol.status, "objective": sol.objective,
        "best_bound": sol.best_bound, "gap": sol.gap, "search_s": sol.search_seconds,
        "search_gain": sol.search_gain, "handover": hand[0] if hand else "",
        "zones": int(model.problem.n_zones), "sites": int(model.problem.n_sites),
        "options": int(model.problem.n_opts), "rows": sol.n_rows, "cols": sol.n_cols,
        "rss_peak_mb": _peak_mb(), "mip_gap_target": sc.mip_gap, "time_limit_s": time_limit,
    }


def bench_beijing(repeats: int, time_limit: float, district: str) -> dict[str, Any]:
    """City with the search (repeats), city without it (1 run, the peer), a district."""
    plan = [("city", True)] * repeats + [("city", False)] + [(district, True)] * repeats
    runs: dict[str, list[dict[str, Any]]] = {}
    for scope, search in plan:
        argv = ["beijing", "--time-limit", str(time_limit)]
        if scope != "city":
            argv += ["--district", scope]
        if not search:
            argv += ["--no-search"]
        res = _run(argv)
        key = f"{res['scope']}{'' if search else ' (HiGHS alone)'}"
        runs.setdefault(key, []).append(res)
        print(f"  {key:24} build {res['build_s']:5.2f} s, solve {res['solve_s']:6.1f} s, "
              f"{res['status']:10} objective {res['objective']:,.0f}, bound "
              f"{res['best_bound']:,.0f}, gap {res['gap']:.3%}, peak {res['rss_peak_mb']:,.0f} MB",
              flush=True)
    keys = ("build_s", "solve_s", "objective", "best_bound", "gap", "rss_peak_mb")
    summary = {k: {x: float(statistics.median(r[x] for r in v)) for x in keys}
               for k, v in runs.items()}
    return {"summary": summary, "runs": runs, "time_limit_s": time_limit}


# ------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------


def _run(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_pmedian(
    repeats: int, spopt_repeats: int, spopt_solvers: list[str], p: int,
    time_limit: float | None,
) -> dict[str, Any]:
    tools = ["netplan", *[f"spopt+{s}" for s in spopt_solvers]]
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    tl = [] if time_limit is None else ["--time-limit", str(time_limit)]
    for r in range(max(repeats, spopt_repeats)):
        for tool in tools:
            if r >= (repeats if tool == "netplan" else spopt_repeats):
                continue
            argv = ["pmedian", "netplan"] if tool == "netplan" else [
                "pmedian", "spopt", "--spopt-solver", tool.split("+")[1]]
            res = _run([*argv, "--p", str(p), *tl])
            runs[tool].append(res)
            print(f"  run {r + 1} {res['tool']:>12}: {res['wall_s']:8.2f} s, footprint "
                  f"{res['footprint_mb']:7.1f} MB (python {res['rss_peak_mb']:.1f} + solver "
                  f"child {res['child_rss_peak_mb']:.1f}), objective {res['objective']:.6f}",
                  flush=True)

    keys = ("wall_s", "footprint_mb", "rss_peak_mb", "child_rss_peak_mb", "rss_before_build_mb",
            "tracemalloc_peak_mb", "objective")
    summary = {t: {k: float(statistics.median(x[k] for x in runs[t])) for k in keys}
               for t in tools}
    net = summary["netplan"]
    ratios = {}
    for t in tools[1:]:
        o = summary[t]
        ratios[t] = {
            "time": o["wall_s"] / net["wall_s"],
            "footprint": o["footprint_mb"] / net["footprint_mb"],
            "growth": (o["footprint_mb"] - o["rss_before_build_mb"])
            / max(1e-9, net["footprint_mb"] - net["rss_before_build_mb"]),
            "tracemalloc": o["tracemalloc_peak_mb"] / net["tracemalloc_peak_mb"],
            "objective_rel_diff": abs(o["objective"] - net["objective"]) / abs(o["objective"]),
            "same_open_sites": all(x["open"] == runs["netplan"][0]["open"] for x in runs[t]),
        }
    return {"summary": summary, "ratios": ratios, "runs": runs,
            "repeats": {"netplan": repeats, "spopt": spopt_repeats}}


def _print_pmedian(res: dict[str, Any]) -> None:
    s, r = res["summary"], res["ratios"]
    tools = list(s)
    print("\np-median 2,000 zones x 150 sites, p = 60 (medians; ratio = spopt / netplan)")
    head = f"{'':30}" + "".join(f"{t:>14}" for t in tools) + "".join(
        f"{'ratio ' + t.split('+')[1]:>12}" for t in tools[1:])
    print(head)
    rows = [
        ("wall time (s)", "wall_s", "time"),
        ("footprint: peak RSS (MB)", "footprint_mb", "footprint"),
        ("  of which python process", "rss_peak_mb", None),
        ("  of which solver child", "child_rss_peak_mb", None),
        ("RSS after imports (MB)", "rss_before_build_mb", None),
        ("peak RSS - imports (MB)", None, "growth"),
        ("tracemalloc peak (MB)", "tracemalloc_peak_mb", "tracemalloc"),
        ("objective", "objective", None),
    ]
    for label, key, rk in rows:
        vals = "".join(
            f"{(s[t][key] if key else s[t]['footprint_mb'] - s[t]['rss_before_build_mb']):14.3f}"
            for t in tools)
        rat = "".join(f"{r[t][rk]:11.1f}x" if rk else f"{'':12}" for t in tools[1:])
        print(f"{label:30}{vals}{rat}")
    for t in tools[1:]:
        print(f"{t}: same open sites as netplan: {r[t]['same_open_sites']}; objective rel. "
              f"diff {r[t]['objective_rel_diff']:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what")
    for name in ("all", "pmedian", "bank", "beijing"):
        sp_ = sub.add_parser(name)
        sp_.add_argument("--repeats", type=int, default=3, help="netplan runs")
        sp_.add_argument("--spopt-repeats", type=int, default=1,
                         help="runs per spopt solver (each takes minutes)")
        sp_.add_argument("--spopt-solver", default="highs,cbc",
                         help="comma list of PuLP solvers for spopt: highs, cbc")
        sp_.add_argument("--p", type=int, default=60)
        sp_.add_argument("--time-limit", type=float, default=None,
                         help="p-median runs (default: none, solve to optimality)")
        sp_.add_argument("--bank-time-limit", type=float, default=300.0,
                         help="bank model (default 300 s)")
        sp_.add_argument("--threads", type=int, default=None, help="bank model threads")
        sp_.add_argument("--beijing-time-limit", type=float, default=120.0,
                         help="Beijing plan model (default 120 s, the scenario's)")
        sp_.add_argument("--district", default="Chaoyang", help="district of the Beijing run")
    w = sub.add_parser("_worker")
    w.add_argument("kind", choices=("pmedian", "bank", "beijing"))
    w.add_argument("tool", nargs="?", default="netplan")
    w.add_argument("--spopt-solver", default="highs")
    w.add_argument("--p", type=int, default=60)
    w.add_argument("--time-limit", type=float, default=None)
    w.add_argument("--threads", type=int, default=None)
    w.add_argument("--district", default=None)
    w.add_argument("--no-search", action="store_true")
    args = ap.parse_args()
    if args.what == "_worker":
        if args.kind == "pmedian":
            res = worker_pmedian(args.tool, args.spopt_solver, args.p, args.time_limit)
        elif args.kind == "beijing":
            res = worker_beijing(args.district, args.time_limit or 120.0, not args.no_search)
        else:
            res = worker_bank(args.time_limit or 300.0, args.threads, not args.no_search)
        print(json.dumps(res))
        return
    what = args.what or "all"
    if args.what is None:
        args = ap.parse_args(["all"])
    out: dict[str, Any] = {
        "command": " ".join(["python", "bench/bench_optimize.py", *sys.argv[1:]]),
        "python": sys.version.split()[0], "machine": platform.platform(),
        "cpus": __import__("os").cpu_count(),
    }
    if what in ("all", "pmedian"):
        solvers = [x.strip() for x in args.spopt_solver.split(",") if x.strip()]
        print(f"p-median: netplan x {args.repeats} vs spopt+{'/'.join(solvers)} x "
              f"{args.spopt_repeats}, one subprocess per run", flush=True)
        res = bench_pmedian(args.repeats, args.spopt_repeats, solvers, args.p, args.time_limit)
        _print_pmedian(res)
        out["pmedian"] = res
    if what in ("all", "bank"):
        tl = args.bank_time_limit
        print(f"\nbank model 20,000 zones x 900 sites x 3 formats, k = 8 (time limit {tl:g} s)",
              flush=True)
        argv = ["bank", "--time-limit", str(tl)]
        if args.threads is not None:
            argv += ["--threads", str(args.threads)]
        bank = _run(argv)
        alone = _run([*argv, "--no-search"])  # the peer: the same solve, HiGHS alone
        print(f"  {'':16} {'netplan':>16} {'HiGHS alone':>16}")
        for key in ("rows", "cols", "integers", "nonzeros", "n_cost_pairs", "n_reloc",
                    "build_s", "solve_s", "status", "objective", "best_bound", "gap", "open",
                    "relocated", "unserved_share", "rss_peak_mb"):
            cells = [f"{r[key]:,.4f}" if isinstance(r[key], float) else f"{r[key]:,}"
                     if isinstance(r[key], int) else str(r[key]) for r in (bank, alone)]
            print(f"  {key:16} {cells[0]:>16} {cells[1]:>16}")
        bank["highs_alone"] = alone
        out["bank"] = bank
    if what in ("all", "beijing"):
        tl = args.beijing_time_limit
        print(f"\nBeijing default plan model (time limit {tl:g} s), {args.repeats} runs with the"
              " neighbourhood search, 1 with HiGHS alone, then a district", flush=True)
        out["beijing"] = bench_beijing(args.repeats, tl, args.district)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "optimize.json"
    if path.exists() and what != "all":  # keep the other sections of an earlier run
        old = json.loads(path.read_text())
        out = {**old, **out, "commands": {**old.get("commands", {}), what: out["command"]}}
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
