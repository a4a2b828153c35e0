"""Warm starts against cold: time to the 1% gap of a budget sweep's points, same run.

Run (the measurement of ``bench/README.md``, a district, 5 points, medians of 3)::

    nice -n 15 python bench/bench_warm.py --district 110112 --district 110105 \
        --points 5 --repeats 3

Every point of a ``planning.budget_cny`` sweep (300 M to 700 M CNY for the city, the
district's share of it with ``--district``) is planned as ``netplan sweep`` plans it
(:func:`netplan.planning.plan.solve_holding`: the holds loop of several solves) with HiGHS's
gap target at 1 % (``--gap``), in three modes, interleaved in each repeat:

- ``cold``: every solve starts from the current network (``netplan sweep``, its default);
- ``warm``: point k starts from point k-1's plan of the same mode (one chain; point 1
  starts cold in every mode);
- ``warm_rounds``: as ``warm``, and each later solve of the holds loop starts from the
  last round's plan (``solve_holding(warm_rounds=True)``).

Reported per point and mode: the first solve's wall and CPU time to the gap target (the
whole :func:`~netplan.planning.problem.solve_model` call, HiGHS on one thread, until it
stops at 1 %), the CPU time of every solve of the loop, the final objective and gap, and
whether a start was dropped. CPU time is the figure that a shared machine disturbs least.
Medians are over the repeats; the speed-ups compare the modes' sums over points 2..n.
Writes ``bench/results/warm.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "warm.json"
MODES = ("cold", "warm", "warm_rounds")


def _start_of(model: Any, site_option: Any) -> dict[str, str]:
    """A solution as a start: site id -> format of every open site."""
    chosen = np.asarray(site_option, np.int64)
    open_ = np.flatnonzero(chosen >= 0)
    return {str(model.sites.site_id[j]): str(model.options.format[chosen[j]]) for j in open_}


def one_sweep(models: list[Any], scenarios: list[Any], mode: str, *, gap: float,
              time_limit: float | None, threads: int | None) -> list[dict[str, Any]]:
    """Solve every point in ``mode``; per point the figures of the module docstring."""
    from netplan.optimize.highs import START_DROPPED
    from netplan.planning import problem as planner
    from netplan.planning.plan import solve_holding

    real = planner.solve_model
    out: list[dict[str, Any]] = []
    start: dict[str, str] | None = None
    for model, sc in zip(models, scenarios, strict=True):
        lines: list[str] = []
        solves: list[float] = []
        cpu: list[float] = []

        def timed(*a: Any, solves: list[float] = solves, cpu: list[float] = cpu,
                  **kw: Any) -> Any:
            c0, w0 = time.process_time(), time.perf_counter()
            sol = real(*a, **kw)
            cpu.append(time.process_time() - c0)
            solves.append(time.perf_counter() - w0)
            return sol

        planner.solve_model = timed  # type: ignore[assignment]  # the loop's solves, timed
        try:
            t0 = time.perf_counter()
            kept, sol, loop = solve_holding(
                model, sc, solver="highs", time_limit_s=time_limit, mip_gap=gap,
                threads=threads, progress=lines.append, start=start if mode != "cold" else None,
                warm_rounds=mode == "warm_rounds")
            wall = time.perf_counter() - t0
        finally:
            planner.solve_model = real  # type: ignore[assignment]
        out.append({"first_solve_s": solves[0], "solves_s": solves,
                    "first_solve_cpu_s": cpu[0], "solves_cpu_s": cpu,
                    "loop_cpu_s": sum(cpu), "loop_solver_s": loop.seconds, "wall_s": wall,
                    "objective": sol.objective, "gap": sol.gap, "status": sol.status,
                    "rounds": len(loop.overloaded), "kept_round": loop.kept_round,
                    "start_dropped": sum(ln.startswith(START_DROPPED) for ln in lines)})
        start = _start_of(kept, sol.site_option)
    return out


def _models(district: str | None, points: int) -> tuple[list[Any], list[Any], int | None]:
    from netplan.model.scenario import load_scenario
    from netplan.planning import problem as planner
    from netplan.planning.limits import district_scenario, split_limits
    from netplan.planning.sweep import parse_vary, sweep_points
    from netplan.study.layers import load_study

    study, base = load_study(), load_scenario()
    axis = parse_vary(f"planning.budget_cny=300e6:700e6:{points}")
    models, scenarios = [], []
    for p in sweep_points(base, [axis]):
        sc = p.scenario
        if district is not None:
            sc = district_scenario(sc, split_limits(study, sc, year=sc.horizon_year)[district])
        scenarios.append(sc)
        models.append(planner.build_model(study, sc, year=sc.horizon_year, adcode=district))
    return models, scenarios, planner.solver_threads(district)


def _median(runs: list[list[dict[str, Any]]], key: str) -> list[float | None]:
    out: list[float | None] = []
    for k in range(len(runs[0])):
        vals = [r[k][key] for r in runs if r[k][key] is not None]
        out.append(statistics.median(vals) if vals else None)
    return out


def one_scope(district: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """Every repeat of the three modes on one scope (a district, or None: the city)."""
    t0 = time.perf_counter()
    models, scenarios, threads = _models(district, args.points)
    limit = args.time_limit if args.time_limit is not None else scenarios[0].time_limit_s
    modes = tuple(args.modes)
    if args.threads is not None:
        threads = args.threads
    runs: dict[str, list[list[dict[str, Any]]]] = {m: [] for m in modes}
    for rep in range(args.repeats):
        for mode in modes:
            runs[mode].append(one_sweep(models, scenarios, mode, gap=args.gap,
                                        time_limit=limit, threads=threads))
            r = runs[mode][-1]
            print(f"{district or 'city'} repeat {rep + 1} {mode}: first solves "
                  f"{[round(x['first_solve_s'], 2) for x in r]} s (CPU "
                  f"{[round(x['first_solve_cpu_s'], 2) for x in r]} s), loop CPU "
                  f"{sum(x['loop_cpu_s'] for x in r):.1f} s", flush=True)
    med = {m: {key: _median(rs, key) for key in
               ("first_solve_s", "first_solve_cpu_s", "loop_cpu_s", "loop_solver_s", "wall_s",
                "objective", "gap")}
           for m, rs in runs.items()}

    def later(mode: str, key: str) -> float:
        return float(sum(v for v in med[mode][key][1:] if v is not None))

    return {
        "budgets_cny": [sc.budget_cny for sc in scenarios],
        "time_limit_s": limit, "threads": threads, "median": med,
        "speedup_first_solve_points_2_n": {m: later("cold", "first_solve_s")
                                           / later(m, "first_solve_s") for m in modes},
        "speedup_first_solve_cpu_points_2_n": {m: later("cold", "first_solve_cpu_s")
                                               / later(m, "first_solve_cpu_s") for m in modes},
        "speedup_loop_points_2_n": {m: later("cold", "loop_solver_s")
                                    / later(m, "loop_solver_s") for m in modes},
        "speedup_loop_cpu_points_2_n": {m: later("cold", "loop_cpu_s")
                                        / later(m, "loop_cpu_s") for m in modes},
        "same_objectives": {m: med[m]["objective"] == med["cold"]["objective"] for m in modes},
        "runs": runs, "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--district", action="append", default=None,
                    help="Plan one district (adcode; repeatable). Default: the city.")
    ap.add_argument("--points", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gap", type=float, default=0.01)
    ap.add_argument("--time-limit", type=float, default=None,
                    help="Seconds per point's loop (default: the scenario's).")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                    help="Modes to run (cold first: the speed-ups are against it).")
    ap.add_argument("--threads", type=int, default=None,
                    help="HiGHS threads (default: one for a district, HiGHS's own for the city).")
    ap.add_argument("--note", default="2 cores shared with another benchmark and other work "
                    "while measured (run under nice -n 15)", help="How the machine was.")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.modes[0] != "cold":
        ap.error("--modes must start with cold (the speed-ups are against it)")
    doc: dict[str, Any] = {
        "points": args.points, "repeats": args.repeats, "gap_target": args.gap,
        "modes": args.modes, "note": args.note, "scopes": {}}
    for district in args.district or [None]:
        res = one_scope(district, args)
        doc["scopes"][district or "city"] = res
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(json.dumps({k: v for k, v in res.items() if k.startswith(("speedup", "same"))},
                         indent=2), flush=True)


if __name__ == "__main__":
    main()
