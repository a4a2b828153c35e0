"""The city map's size and load time, against the map before this change.

Run: ``python bench/bench_maps.py [PLAN_DIR] [--repeats 3] [--baseline REV]``. Prints a
table and writes ``bench/results/maps.json``.

- The plan: ``PLAN_DIR`` (a folder written by ``netplan plan``), or a fresh default city
  plan made in a temporary folder (a few minutes).
- The maps: this tree's ``plan_map_html`` and the one of git revision ``REV`` (default
  ``HEAD``; the tree as committed, unpacked with ``git archive`` into a temporary folder
  and run in a subprocess), both offline (``tiles="none"``) with the embedded study.
- Load time: headless Chromium (``/usr/bin/chromium`` through Playwright) at 1366×768, every
  request that is not a local file blocked; from navigation start until the map has drawn
  its first frame (``window.netplan`` set, then one animation frame), and for the new map
  until its table of outlets is filled too (``body.netplan-ready``). Pages alternate
  (new, old, new, old, ...) and each figure is the median of ``--repeats``; the main
  thread's script, layout and style seconds (Chrome's ``Performance.getMetrics``) are
  kept too, as they suffer less from a busy machine than wall time.
- Opening view: at that size, how many markers of closures and of the old sites of moves
  are on top at their centre (``elementFromPoint``), and at how many of their centres a
  marker of the same kind shows (covered only by another closure, say).

The machine is shared with other jobs: compare the ratio new / old of one run, not the
seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "maps.json"
CHROMIUM = "/usr/bin/chromium"

_DRAW = """
import sys
from pathlib import Path
import netplan
print(netplan.__file__, file=sys.stderr)
from netplan.planning.plan import read_plan
from netplan.present import maps
from netplan.study.layers import load_study
html = maps.plan_map_html(read_plan(Path(sys.argv[1])), study=load_study(), tiles="none")
Path(sys.argv[2]).write_text(html, encoding="utf-8")
"""

_LOADED = """() => new Promise(done => {
  const wait = () => window.netplan ? requestAnimationFrame(() => done(performance.now()))
                                    : setTimeout(wait, 5);
  wait(); })"""

_READY = """() => new Promise(done => {
  const wait = () => document.body.classList.contains("netplan-ready") ? done(performance.now())
                                                                         : setTimeout(wait, 5);
  wait(); })"""

_ON_TOP = """() => {
  const out = {};
  for (const key of ["close", "relocate_old"]) {
    const els = Array.from(document.querySelectorAll(
      '.netplan-outlet.netplan-icon-' + key + '[data-layer="actions"]'));
    const hits = els.map(el => { const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return hit === null ? null : hit.closest('.netplan-outlet'); });
    const top = hits.filter((h, k) => h === els[k]).length;
    const kind = hits.filter(h => h !== null && h.classList.contains('netplan-icon-' + key));
    out[key] = [top, kind.length, els.length];
  }
  return out; }"""


def draw(pythonpath: Path | None, plan_dir: Path, out: Path) -> None:
    """Write the city map of ``plan_dir`` with the netplan found on ``pythonpath``."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    subprocess.run([sys.executable, "-c", _DRAW, str(plan_dir), str(out)], check=True,
                   env=env, cwd=pythonpath or ROOT)


def baseline_tree(rev: str, into: Path) -> Path:
    """The package as committed at ``rev``, unpacked into ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def load_times(pages: dict[str, Path], repeats: int) -> dict[str, Any]:
    """Median milliseconds to the first drawn frame, and the markers on top, per page."""
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {k: [] for k in pages}
    ready: list[float] = []
    cpu: dict[str, list[float]] = {k: [] for k in pages}
    on_top: dict[str, Any] = {}
    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeats):
            for key, path in pages.items():
                page = browser.new_page(viewport={"width": 1366, "height": 768})

                def block(route: Any) -> None:
                    if route.request.url.startswith("file://"):
                        route.continue_()
                    else:
                        blocked.append(route.request.url)
                        route.abort()

                page.route("**/*", block)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.goto(path.as_uri(), wait_until="commit", timeout=120_000)
                times[key].append(float(page.evaluate(_LOADED)))
                if key == "new":
                    ready.append(float(page.evaluate(_READY)))
                on_top[key] = page.evaluate(_ON_TOP)
                m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
                cpu[key].append(1000 * (m["ScriptDuration"] + m["LayoutDuration"]
                                        + m["RecalcStyleDuration"]))
                page.close()
        browser.close()
    return {"ms": times, "median_ms": {k: statistics.median(v) for k, v in times.items()},
            "main_thread_ms": cpu,
            "main_thread_median_ms": {k: statistics.median(v) for k, v in cpu.items()},
            "new_table_ready_ms": ready, "new_table_ready_median_ms": statistics.median(ready),
            "on_top_at_opening": on_top, "blocked_requests": len(blocked)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("plan_dir", nargs="?", type=Path, help="plan folder (default: plan now)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default="HEAD", help="git revision of the old map")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="netplan-bench-maps-") as tmp:
        folder = Path(tmp)
        plan_dir = args.plan_dir
        if plan_dir is None:
            plan_dir = folder / "plan-city"
            subprocess.run([sys.executable, "-m", "netplan", "plan", "--out", str(plan_dir)],
                           check=True, capture_output=True)
        old_tree = baseline_tree(args.baseline, (folder / "old").resolve())
        pages = {"new": folder / "new.html", "old": folder / "old.html"}
        draw(None, plan_dir.resolve(), pages["new"])
        draw(old_tree, plan_dir.resolve(), pages["old"])
        sizes = {k: p.stat().st_size / 1e6 for k, p in pages.items()}
        loads = load_times(pages, args.repeats)
    med = loads["median_ms"]
    result = {"baseline": args.baseline, "size_mb": sizes, **loads,
              "ratio_size_new_over_old": sizes["new"] / sizes["old"],
              "ratio_load_new_over_old": med["new"] / med["old"],
              "goals": {"size_mb_max": 5.0, "load_s_max": 2.0},
              "machine": "shared 2-core VM, other jobs running"}
    print(f"{'':24}{'new':>10}{'old (' + args.baseline + ')':>16}{'new/old':>10}")
    print(f"{'size (MB)':24}{sizes['new']:>10.2f}{sizes['old']:>16.2f}"
          f"{result['ratio_size_new_over_old']:>10.2f}")
    print(f"{'load, median (ms)':24}{med['new']:>10.0f}{med['old']:>16.0f}"
          f"{result['ratio_load_new_over_old']:>10.2f}")
    cm = loads["main_thread_median_ms"]
    print(f"{'main thread (ms)':24}{cm['new']:>10.0f}{cm['old']:>16.0f}"
          f"{cm['new'] / cm['old']:>10.2f}")
    print(f"{'new: table filled (ms)':24}{loads['new_table_ready_median_ms']:>10.0f}")
    for key in ("close", "relocate_old"):
        n, o = loads["on_top_at_opening"]["new"][key], loads["on_top_at_opening"]["old"][key]
        print(f"{key + ' on top':24}{f'{n[0]}/{n[2]}':>10}{f'{o[0]}/{o[2]}':>16}")
        print(f"{key + ' kind shows':24}{f'{n[1]}/{n[2]}':>10}{f'{o[1]}/{o[2]}':>16}")
    print(f"blocked requests: {loads['blocked_requests']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
