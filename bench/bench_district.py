"""District plans: wall time of ``netplan plan --district X``, against the tree before.

Run: ``nice -n 15 python bench/bench_district.py [--districts 东城,朝阳,通州] [--repeats 3]
[--baseline REV] [--all both|new] [--results FILE]``. Prints a table and writes
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
- ``--all``: also ``netplan plan --district all --workers 2`` once per tree, and each
  district task's own seconds from ``run.json``. A part not run keeps its last figures
  in the results file.

The machine is shared with other jobs: compare old and new of one run, not seconds across
runs.
"""

from __future__ import annotations

import argparse
import json
import os
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


def run_plan(tree: Path, args: list[str], out: Path, *, cache: Path | None) -> float:
    """Seconds of one ``netplan plan`` with the package of ``tree``, writing ``out``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("NETPLAN_NO_CACHE", None)
    if cache is not None:
        env["NETPLAN_CACHE_DIR"] = str(cache)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "netplan", "plan", *args, "--out", str(out),
                           "--json"], env=env, cwd=tree, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"netplan plan {' '.join(args)} ({tree}) failed:\n{done.stderr}")
    return seconds


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
        run_plan(trees["new"], ["--district", name], tmp / "warm", cache=cache)
        for k in range(repeats):
            for key, tree, extra in (("old", trees["old"], []),
                                     ("new_no_cache", trees["new"], ["--no-cache"]),
                                     ("new_cache", trees["new"], [])):
                folder = tmp / f"{key}-{name}-{k}"
                secs[key].append(run_plan(tree, ["--district", name, *extra], folder,
                                          cache=cache if key == "new_cache" else None))
        a, b, c = (outputs(tmp / f"{key}-{name}-0")
                   for key in ("old", "new_no_cache", "new_cache"))
        out[name] = {"s": secs, "median_s": {k: statistics.median(v) for k, v in secs.items()},
                     "objective": {"old": a["objective"], "new": b["objective"]},
                     "holds_loop_stop": {k: o["kpis"]["behaviour"]["loop"]["stop"]
                                         for k, o in (("old", a), ("new", b))},
                     "identical": a == b == c}
    return out


def all_bench(trees: dict[str, Path], tmp: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """``--district all --workers 2`` once per tree: wall seconds and each task's seconds."""
    res: dict[str, Any] = {}
    for key in keys:
        folder = tmp / f"all-{key}"
        wall = run_plan(trees[key], ["--district", "all", "--workers", "2"], folder,
                        cache=tmp / "cache-all" if key == "new" else None)
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        timing = run.get("districts", {})
        tasks = {ad: t.get("wall_s") for ad, t in timing.items()}
        res[key] = {"wall_s": wall, "task_wall_s": tasks, "task_timing": timing,
                    "task_median_s": statistics.median(v for v in tasks.values() if v),
                    "task_max_s": max(v for v in tasks.values() if v),
                    "outputs": outputs(folder)}
    if len(keys) == 2:
        res["identical"] = res["old"].pop("outputs") == res["new"].pop("outputs")
    for key in keys:
        res[key].pop("outputs", None)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--districts", default="东城,朝阳,通州",
                    help="names or adcodes, comma-separated ('' = none: keep the last figures)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default="HEAD", help="git revision of the old tree")
    ap.add_argument("--all", choices=("both", "new"), default=None,
                    help="also --district all --workers 2, with both trees or the new only")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the JSON file written")
    ap.add_argument("--new-tree", type=Path, default=ROOT,
                    help="the new package's tree (default: this work tree)")
    args = ap.parse_args()
    names = [n.strip() for n in args.districts.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="netplan-bench-district-") as name:
        tmp = Path(name)
        trees = {"old": baseline_tree(args.baseline, tmp / "old"),
                 "new": snapshot_tree(args.new_tree.resolve(), tmp / "new")}
        result: dict[str, Any] = (json.loads(args.results.read_text(encoding="utf-8"))
                                  if args.results.is_file() else {})
        result.update({"baseline": args.baseline, "new_tree": str(args.new_tree),
                       "repeats": args.repeats, "goal_s": 2.0,
                       "machine": "shared 2-core VM, other jobs running, nice -n 15"})
        if names:
            result["districts"] = districts_bench(trees, names, args.repeats, tmp)
        if args.all:
            keys = ("old", "new") if args.all == "both" else ("new",)
            result["all_workers_2"] = all_bench(trees, tmp, keys)
    print(f"{'district':10}{'old':>9}{'new':>9}{'new+cache':>11}  identical")
    for n, r in result.get("districts", {}).items():
        m = r["median_s"]
        print(f"{n:10}{m['old']:>9.2f}{m['new_no_cache']:>9.2f}{m['new_cache']:>11.2f}"
              f"  {r['identical']}")
    if "all_workers_2" in result:
        a = result["all_workers_2"]
        for key in ("old", "new"):
            if key not in a:
                continue
            print(f"--district all, {key}: {a[key]['wall_s']:.1f} s wall, task median "
                  f"{a[key]['task_median_s']:.2f} s, max {a[key]['task_max_s']:.2f} s")
        print(f"--district all identical: {a.get('identical', 'not compared')}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")


if __name__ == "__main__":
    main()
