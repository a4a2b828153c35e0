"""District plans: wall time of ``netplan plan --district X``, against the tree before.

Run: ``nice -n 15 python bench/bench_district.py [--districts 东城,朝阳,通州] [--repeats 3]
[--baseline REV] [--all both|new] [--city N] [--results FILE]``. Prints a table and writes
``bench/results/district.json`` (or ``FILE``).

- *old*: git revision ``REV`` (default ``HEAD``), unpacked with ``git archive`` into a
  temporary folder; *new*: this work tree's package, copied into the temporary folder at
  the start (so files edited meanwhile change neither the runs nor the cache key). Each
  run is its own ``python -m netplan plan --district X --json`` subprocess (imports,
  loading the study, the plan, writing the folder with its map and report); runs
  alternate old, new (no cache), new (cache) per district, and each figure is the median
  of ``--repeats``.
- *new, cache*: the split of the city limits read from the cache folder (a temporary
  ``NETPLAN_CACHE_DIR``, filled by one run before timing), as every district after the
  first is; *new, no cache*: ``--no-cache``, the split computed afresh.
- Same results: for every district the objective, ``actions.csv`` and ``kpis.json``
  (every figure; timings are only in ``run.json``) of old and new must be identical.
- ``--all``: also ``netplan plan --district all --workers 2``, ``--all-repeats`` times
  per tree (alternating), each district task's own seconds from ``run.json`` and the
  city-level figures of ``kpis.json`` (merged objective, city bound and its LP part,
  city gap), medians. A part not run keeps its last figures in the results file.
- Whole process: every run records its wall seconds and its CPU seconds (user + system of
  the child, from ``getrusage``; on a loaded machine the CPU seconds are the steadier
  figure), and ``identical_folder`` compares every file of the old and new folders byte
  for byte (``run.json`` without its timing fields, the folder manifest without
  ``run.json``'s hash). ``--startup N``: also the imports alone (``python -c "import
  netplan.cli, netplan.planning.plan, netplan.present.folder"``), medians of N per tree.
  The children may write bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped) into the
  temporary trees, as an installed package has it; ``--no-bytecode`` keeps the variable.
- ``--city N``: also the whole-city plan (``netplan plan``, the default 120 s), ``N`` times
  per tree (alternating): wall seconds, the behaviour loop's outlets over capacity per
  solve, the solve kept and why the loop stopped, the kept solve's objective, bound and
  gap, and the plan's outlets over capacity and mean wait under the rule; medians.
  The city's solves stop on the clock, so its plans may differ from run to run.
- ``--phases N``: where a district plan's CPU seconds go (imports, study, plan, folder; the
  split read from the cache), measured inside a child per tree, medians of N.

The machine is shared with other jobs: compare old and new of one run, not seconds across
runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "district.json"


def baseline_tree(rev: str, into: Path) -> Path:
    """The package as committed at ``rev``, unpacked into ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def snapshot_tree(src: Path, into: Path) -> Path:
    """A copy of the package of the tree ``src`` (``netplan/``) in ``into``."""
    shutil.copytree(src / "netplan", into / "netplan",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return into


#: Whether the children may write bytecode (``--no-bytecode`` turns it off).
BYTECODE = {"write": True}
#: Timing fields of ``run.json`` (seconds vary from run to run; everything else must not).
TIMING_SUFFIXES = ("seconds", "_s")


def child_cpu_s() -> float:
    """User + system seconds of all waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_child(cmd: list[str], tree: Path, *, cache: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds of one child process with the package of ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("NETPLAN_NO_CACHE", None)
    if BYTECODE["write"]:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cache is not None:
        env["NETPLAN_CACHE_DIR"] = str(cache)
    cpu0, t0 = child_cpu_s(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, child_cpu_s() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} ({tree}) failed:\n{done.stderr}")
    return wall, cpu


def run_plan(tree: Path, args: list[str], out: Path, *, cache: Path | None
             ) -> tuple[float, float]:
    """Wall and CPU seconds of one ``netplan plan`` with the package of ``tree``."""
    return timed_child([sys.executable, "-m", "netplan", "plan", *args, "--out", str(out),
                        "--json"], tree, cache=cache)


def _no_timing(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _no_timing(v) for k, v in obj.items() if not k.endswith(TIMING_SUFFIXES)}
    if isinstance(obj, list):
        return [_no_timing(v) for v in obj]
    return obj


def folder_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a plan folder, ``run.json`` without its timing fields and
    the folder manifest without ``run.json``'s hash (these change at every run)."""
    out: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        data = path.read_bytes()
        if path.name == "run.json":
            data = json.dumps(_no_timing(json.loads(data)), sort_keys=True).encode()
        elif path.name == ".netplan-plan.json":
            manifest = json.loads(data)
            manifest.get("files", {}).pop("run.json", None)
            data = json.dumps(manifest, sort_keys=True).encode()
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def startup_bench(trees: dict[str, Path], repeats: int) -> dict[str, Any]:
    """Wall and CPU seconds of the imports of a district plan alone, medians per tree."""
    code = "import netplan.cli, netplan.planning.plan, netplan.present.folder"
    res: dict[str, Any] = {"command": f'python -c "{code}"'}
    timed_child([sys.executable, "-c", code], trees["new"], cache=None)  # write bytecode
    timed_child([sys.executable, "-c", code], trees["old"], cache=None)
    runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for _ in range(repeats):
        for key in ("old", "new"):
            runs[key].append(timed_child([sys.executable, "-c", code], trees[key], cache=None))
    for key, r in runs.items():
        res[key] = {"wall_s": [w for w, _ in r], "cpu_s": [c for _, c in r],
                    "median_wall_s": statistics.median(w for w, _ in r),
                    "median_cpu_s": statistics.median(c for _, c in r)}
    return res


def outputs(folder: Path) -> dict[str, Any]:
    """What must not change: the objective, actions.csv and kpis.json."""
    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    return {"objective": kpis.get("solver", {}).get("objective"), "kpis": kpis,
            "actions": (folder / "actions.csv").read_bytes()}


def districts_bench(trees: dict[str, Path], names: list[str], repeats: int, tmp: Path
                    ) -> dict[str, Any]:
    """Median seconds per district and tree, and whether old and new plans are identical."""
    cache = tmp / "cache"
    out: dict[str, Any] = {}
    for name in names:
        secs: dict[str, list[float]] = {"old": [], "new_no_cache": [], "new_cache": []}
        cpu: dict[str, list[float]] = {k: [] for k in secs}
        run_plan(trees["new"], ["--district", name], tmp / "warm", cache=cache)
        run_plan(trees["old"], ["--district", name], tmp / "warm-old", cache=None)  # bytecode
        for k in range(repeats):
            for key, tree, extra in (("old", trees["old"], []),
                                     ("new_no_cache", trees["new"], ["--no-cache"]),
                                     ("new_cache", trees["new"], [])):
                folder = tmp / f"{key}-{name}-{k}"
                wall, cpu_s = run_plan(tree, ["--district", name, *extra], folder,
                                       cache=cache if key == "new_cache" else None)
                secs[key].append(wall)
                cpu[key].append(cpu_s)
        a, b, c = (outputs(tmp / f"{key}-{name}-0")
                   for key in ("old", "new_no_cache", "new_cache"))
        fa, fb, fc = (folder_digest(tmp / f"{key}-{name}-0")
                      for key in ("old", "new_no_cache", "new_cache"))
        out[name] = {"s": secs, "median_s": {k: statistics.median(v) for k, v in secs.items()},
                     "cpu_s": cpu,
                     "median_cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
                     "objective": {"old": a["objective"], "new": b["objective"]},
                     "holds_loop_stop": {k: o["kpis"]["behaviour"]["loop"]["stop"]
                                         for k, o in (("old", a), ("new", b))},
                     "identical": a == b == c,
                     "identical_folder": fa == fb == fc,
                     "files_differing": sorted(f for f in fa.keys() | fb.keys() | fc.keys()
                                               if not fa.get(f) == fb.get(f) == fc.get(f))}
    return out


#: The plan's figures under the behaviour rule: name -> path in ``kpis.json``.
AFTER_FIGURES = {
    "overloaded_after": ("behaviour", "after", "overloaded_outlets"),
    "mean_wait_after_min": ("behaviour", "after", "mean_wait_min"),
}

#: City-level figures of a ``--district all`` folder: name -> path in ``kpis.json``.
CITY_FIGURES = {
    "objective": ("solver", "objective"), "city_bound": ("solver", "best_bound"),
    "city_gap": ("solver", "gap"), "max_district_gap": ("solver", "max_district_gap"),
    "lp_bound": ("coordination", "city_bound", "lp_bound"),
    "mip_rounds": ("coordination", "city_bound", "mip_rounds"),
    "lp_rounds": ("coordination", "city_bound", "rounds"),
    **AFTER_FIGURES,
}


def _figures(kpis: dict[str, Any], paths: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The figures at ``paths`` of a ``kpis.json`` (None where it has none)."""
    out: dict[str, Any] = {}
    for name, path in paths.items():
        v: Any = kpis
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        out[name] = v
    return out


def _medians(runs: dict[str, list[dict[str, Any]]], names: tuple[str, ...]
             ) -> dict[str, Any]:
    """Per tree, its runs and the median of each of ``names`` over the runs that have it
    (a figure no run has is left out)."""
    out: dict[str, Any] = {}
    for key, rs in runs.items():
        med = {name: statistics.median(r[name] for r in rs if r[name] is not None)
               for name in names if any(r[name] is not None for r in rs)}
        out[key] = {**med, "runs": rs}
    return out


def all_bench(trees: dict[str, Path], tmp: Path, keys: tuple[str, ...],
              repeats: int = 1) -> dict[str, Any]:
    """``--district all --workers 2`` ``repeats`` times per tree, the trees alternating:
    wall seconds, each task's seconds and the city-level figures (merged objective, city
    bound, its LP part and rounds, city gap), medians."""
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
    digests: dict[str, Any] = {}
    for i in range(repeats):
        for key in keys:
            folder = tmp / f"all-{key}-{i}"
            wall, _ = run_plan(trees[key], ["--district", "all", "--workers", "2"], folder,
                               cache=tmp / "cache-all" if key == "new" else None)
            run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            timing = run.get("districts", {})
            tasks = {ad: t.get("wall_s") for ad, t in timing.items()}
            solves = {ad: t.get("solve_s") for ad, t in timing.items()}
            made = outputs(folder)
            runs[key].append({"wall_s": wall, "task_wall_s": tasks, "task_solve_s": solves,
                              "task_median_s": statistics.median(v for v in tasks.values() if v),
                              "task_max_s": max(v for v in tasks.values() if v),
                              "solve_max_s": max(v for v in solves.values() if v),
                              "solves_over_2s": sum(1 for v in solves.values() if v and v > 2),
                              **_figures(made["kpis"], CITY_FIGURES)})
            digests.setdefault(key, made)
    res = _medians(runs, ("wall_s", "task_median_s", "task_max_s", "solve_max_s",
                          "solves_over_2s", *CITY_FIGURES))
    if len(keys) == 2:
        res["identical"] = digests["old"] == digests["new"]
    return res


#: Figures of a whole-city plan folder: name -> path in ``kpis.json``.
PLAN_FIGURES = {
    "objective": ("solver", "objective"), "bound": ("solver", "best_bound"),
    "gap": ("solver", "gap"), "status": ("solver", "status"),
    "overloaded_per_solve": ("behaviour", "loop", "overloaded_per_iteration"),
    "kept_solve": ("behaviour", "loop", "kept_iteration"),
    "loop_stop": ("behaviour", "loop", "stop"),
    **AFTER_FIGURES,
}


def city_bench(trees: dict[str, Path], tmp: Path, repeats: int) -> dict[str, Any]:
    """The whole-city ``netplan plan`` ``repeats`` times per tree, the trees alternating:
    wall seconds and the plan's figures (:data:`PLAN_FIGURES`), medians of the numbers
    (:func:`_medians`)."""
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for i in range(repeats):
        for key in ("old", "new"):
            folder = tmp / f"city-{key}-{i}"
            wall, cpu = run_plan(trees[key], [], folder, cache=None)
            runs[key].append({"wall_s": wall, "cpu_s": cpu,
                              **_figures(outputs(folder)["kpis"], PLAN_FIGURES)})
    return _medians(runs, ("wall_s", "cpu_s", "objective", "bound", "gap", "kept_solve",
                           *AFTER_FIGURES))


PHASES = ("import netplan.cli", "import the planner", "load_scenario", "load_study",
          "make_plan", "write_plan_folder", "  of which the plan's files", "  of which the map",
          "  of which the report")


def phase_child(district: str, out: Path) -> None:
    """In a child: CPU seconds of each phase of a district plan (as ``netplan plan`` runs
    them, the split from the cache), printed as JSON."""
    cpu: dict[str, float] = {}
    t = time.process_time()

    def mark(name: str) -> None:
        nonlocal t
        now = time.process_time()
        cpu[name], t = now - t, now

    import netplan.cli  # noqa: F401
    mark(PHASES[0])
    from netplan.model.scenario import load_scenario
    from netplan.planning import plan as plan_mod
    from netplan.planning.limits import default_cache_dir, split_cache
    from netplan.present import folder, maps, report
    from netplan.study.layers import load_study, resolve_district
    mark(PHASES[1])

    def timed(mod: Any, name: str, key: str) -> None:
        f = getattr(mod, name)

        def g(*a: Any, **k: Any) -> Any:
            t0 = time.process_time()
            try:
                return f(*a, **k)
            finally:
                cpu[key] = cpu.get(key, 0.0) + time.process_time() - t0
        setattr(mod, name, g)

    timed(folder, "write_plan_files", PHASES[6])
    timed(maps, "plan_map", PHASES[7])
    timed(report, "plan_report", PHASES[8])
    sc = load_scenario(None)
    mark(PHASES[2])
    study = load_study(None)
    mark(PHASES[3])
    with split_cache(default_cache_dir()):
        result = plan_mod.make_plan(study, sc, district=resolve_district(district,
                                                                          study.districts))
        mark(PHASES[4])
        t_folder = time.process_time()
        for key in PHASES[6:]:
            cpu.pop(key, None)
        folder.write_plan_folder(result, study, out)
        cpu[PHASES[5]] = time.process_time() - t_folder
    print(json.dumps(cpu))


def phases_bench(trees: dict[str, Path], district: str, repeats: int, tmp: Path
                 ) -> dict[str, Any]:
    """Median CPU seconds of each phase of a district plan, per tree (split cached)."""
    res: dict[str, Any] = {"district": district}
    for key, tree in trees.items():
        cache = tmp / f"cache-phases-{key}"
        runs: list[dict[str, float]] = []
        for k in range(repeats + 1):  # the first run fills the cache and the bytecode
            env = dict(os.environ, PYTHONPATH=str(tree), NETPLAN_CACHE_DIR=str(cache))
            env.pop("NETPLAN_NO_CACHE", None)
            if BYTECODE["write"]:
                env.pop("PYTHONDONTWRITEBYTECODE", None)
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                   "--phase-child", district, str(tmp / f"phases-{key}-{k}")],
                                  env=env, cwd=tree, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"phases of {district} ({tree}) failed:\n{done.stderr}")
            if k:
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        res[key] = {p: statistics.median(r.get(p, 0.0) for r in runs) for p in PHASES}
        res[key]["total in the child"] = statistics.median(
            sum(r.get(p, 0.0) for p in PHASES[:6]) for r in runs)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--districts", default="东城,朝阳,通州",
                    help="names or adcodes, comma-separated ('' = none: keep the last figures)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default="HEAD", help="git revision of the old tree")
    ap.add_argument("--all", choices=("both", "new"), default=None,
                    help="also --district all --workers 2, with both trees or the new only")
    ap.add_argument("--all-repeats", type=int, default=1, metavar="N",
                    help="runs of --district all per tree (medians of N)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the JSON file written")
    ap.add_argument("--new-tree", type=Path, default=ROOT,
                    help="the new package's tree (default: this work tree)")
    ap.add_argument("--startup", type=int, default=0, metavar="N",
                    help="also time the imports alone, medians of N (0 = not)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE for the children (compile every run)")
    ap.add_argument("--city", type=int, default=0, metavar="N",
                    help="also the whole-city plan, N runs per tree (0 = not)")
    ap.add_argument("--phases", type=int, default=0, metavar="N",
                    help="also the CPU seconds of each phase of the first district, "
                         "medians of N (0 = not)")
    ap.add_argument("--phase-child", nargs=2, metavar=("DISTRICT", "OUT"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase_child:
        phase_child(args.phase_child[0], Path(args.phase_child[1]))
        return
    if args.city < 0:
        ap.error(f"--city {args.city}: give a whole number >= 0")
    if args.all_repeats < 1:
        ap.error(f"--all-repeats {args.all_repeats}: give a whole number >= 1")
    BYTECODE["write"] = not args.no_bytecode
    names = [n.strip() for n in args.districts.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="netplan-bench-district-") as name:
        tmp = Path(name)
        trees = {"old": baseline_tree(args.baseline, tmp / "old"),
                 "new": snapshot_tree(args.new_tree.resolve(), tmp / "new")}
        result: dict[str, Any] = (json.loads(args.results.read_text(encoding="utf-8"))
                                  if args.results.is_file() else {})
        result.update({"baseline": args.baseline, "new_tree": str(args.new_tree),
                       "repeats": args.repeats, "goal_s": 2.0,
                       "machine": "shared 2-core VM, other jobs running, nice -n 15",
                       "bytecode": BYTECODE["write"],
                       "load_average_start": os.getloadavg()})
        if args.startup:
            result["startup"] = startup_bench(trees, args.startup)
        if args.phases and names:
            result["phases_cpu_s"] = phases_bench(trees, names[0], args.phases, tmp)
        if names:
            result["districts"] = districts_bench(trees, names, args.repeats, tmp)
        result["load_average_end"] = os.getloadavg()
        if args.all:
            keys = ("old", "new") if args.all == "both" else ("new",)
            result["all_workers_2"] = all_bench(trees, tmp, keys, args.all_repeats)
        if args.city:
            result["city"] = city_bench(trees, tmp, args.city)
    if "startup" in result:
        st = result["startup"]
        print(f"imports alone, wall (cpu) s: old {st['old']['median_wall_s']:.2f} "
              f"({st['old']['median_cpu_s']:.2f}), new {st['new']['median_wall_s']:.2f} "
              f"({st['new']['median_cpu_s']:.2f})")
    if "phases_cpu_s" in result:
        ph = result["phases_cpu_s"]
        print(f"CPU seconds by phase, {ph['district']} (split cached), old -> new:")
        for p in (*PHASES, "total in the child"):
            print(f"  {p:30}{ph['old'][p]:>6.2f} ->{ph['new'][p]:>6.2f}")
    print(f"{'district':10}{'old':>14}{'new':>14}{'new+cache':>14}  identical  folder")
    for n, r in result.get("districts", {}).items():
        m, c = r["median_s"], r.get("median_cpu_s", {})
        cells = "".join(f"{m[k]:>7.2f} ({c.get(k, float('nan')):.2f})"
                        for k in ("old", "new_no_cache", "new_cache"))
        print(f"{n:10}{cells}  {r['identical']!s:9}  {r.get('identical_folder')}")
    print("seconds: wall (CPU of the child), medians")
    if "all_workers_2" in result:
        a = result["all_workers_2"]
        for key in ("old", "new"):
            if key not in a:
                continue
            r = a[key]
            print(f"--district all, {key}: {r['wall_s']:.1f} s wall, task median "
                  f"{r['task_median_s']:.2f} s, max {r['task_max_s']:.2f} s; solves max "
                  f"{r.get('solve_max_s', float('nan')):.2f} s, over 2 s in "
                  f"{r.get('solves_over_2s', float('nan')):.0f} districts; merged "
                  f"{r.get('objective', float('nan')):,.0f}, city bound "
                  f"{r.get('city_bound', float('nan')):,.0f} (LP part "
                  f"{r.get('lp_bound', float('nan')):,.0f}), city gap "
                  f"{r.get('city_gap', float('nan')):.2%} (medians)")
        print(f"--district all identical: {a.get('identical', 'not compared')}")
    if "city" in result:
        for key in ("old", "new"):
            r = result["city"][key]
            solves = "; ".join(f"{x['overloaded_per_solve']} kept {x['kept_solve']} "
                               f"({x['loop_stop']})" for x in r["runs"])
            print(f"city plan, {key}: {r['wall_s']:.1f} s wall, gap "
                  f"{r.get('gap', float('nan')):.3%}, "
                  f"{r.get('overloaded_after', float('nan')):.0f} outlets over capacity "
                  "after (medians); "
                  f"over capacity per solve: {solves}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")


if __name__ == "__main__":
    main()
