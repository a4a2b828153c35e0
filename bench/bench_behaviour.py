"""What the behaviour model costs: evaluating the Beijing network under each rule.

Run: ``python bench/bench_behaviour.py [--repeats 5] [--plan]``. Prints medians and writes
``bench/results/behaviour.json``.

- ``evaluate``: the 562-outlet 2020 network of the embedded study, 16,404 zones, measured
  under ``nearest`` (the greedy spill-over, the baseline) and ``choice`` (logit with the
  congestion equilibrium), each ``--repeats`` times in this process, interleaved; the
  ratio choice / nearest is taken on the medians of the same run.
- ``--plan``: one ``netplan plan`` of the default city (subprocess) and its ``run.json``:
  the whole run's wall time against the scenario's 120 s solver limit, and the seconds its
  behaviour steps took where ``run.json`` records them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "behaviour.json"


def bench_evaluate(repeats: int) -> dict[str, object]:
    """Median seconds of one city evaluation under each rule, and their ratio."""
    from netplan.model.scenario import load_scenario
    from netplan.planning.evaluate import Network, measure_study, zone_points
    from netplan.study.layers import load_study

    study, scenario = load_study(), load_scenario()
    b = study.branches
    net = Network(xy=zone_points(b), counters=b["counters"].to_numpy(np.int64),
                  terminals=b["terminals"].to_numpy(np.int64))
    times: dict[str, list[float]] = {"nearest": [], "choice": []}
    figures: dict[str, object] = {}
    for _ in range(repeats):
        for rule in times:
            t0 = time.perf_counter()
            m = measure_study(study, scenario, net, year=scenario.base_year, rule=rule)
            times[rule].append(time.perf_counter() - t0)
            figures[rule] = dict(m.service)
    med = {rule: statistics.median(ts) for rule, ts in times.items()}
    return {"seconds": times, "median_s": med,
            "ratio_choice_over_nearest": med["choice"] / med["nearest"], "figures": figures}


def bench_plan() -> dict[str, object]:
    """One default city plan in a subprocess: wall time and its run.json."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plan-city"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "netplan", "plan", "--out", str(out)],
                       check=True, capture_output=True)
        wall = time.perf_counter() - t0
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    return {"wall_s": wall, "run": run, "behaviour": kpis.get("behaviour", {})}


def main() -> None:
    """Parse the options, run, print and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--plan", action="store_true", help="also time one default city plan")
    args = ap.parse_args()
    res: dict[str, object] = {"evaluate": bench_evaluate(args.repeats)}
    ev = res["evaluate"]
    assert isinstance(ev, dict)
    print(f"evaluate, city 2020 network, medians of {args.repeats}: "
          f"nearest {ev['median_s']['nearest']:.2f} s, choice {ev['median_s']['choice']:.2f} s "
          f"(choice / nearest = {ev['ratio_choice_over_nearest']:.2f}x)")
    if args.plan:
        res["plan"] = plan = bench_plan()
        print(f"netplan plan (default city): {plan['wall_s']:.1f} s wall; run.json {plan['run']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
