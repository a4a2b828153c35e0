"""A district plan's start stays cheap: what it imports, and the two replacements that keep
heavy packages out of it with the same numbers.

``netplan plan --district X`` imports the command line, the planner and the plan folder's
writers. None of them may import matplotlib (only drawing the report's images does),
scikit-learn or mapclassify (the map's classes are one ``numpy.searchsorted``), scipy.stats
(Erlang A's Poisson weights come from scipy.special) or Dask (only ``--district all``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from netplan.model import erlang_a
from netplan.present.zones import SCALES, classify

REPO = Path(__file__).resolve().parent.parent

#: What a district plan imports before it draws anything (see cli/planning.py ``plan``).
PLAN_MODULES = ("netplan.cli", "netplan.model.scenario", "netplan.study.layers",
                "netplan.planning.plan", "netplan.planning.limits", "netplan.present.terminal",
                "netplan.present.folder", "netplan.present.maps", "netplan.present.report",
                "netplan._io")
#: Packages that must not be among them: each costs 0.3-1.3 s at every start.
HEAVY = ("matplotlib", "sklearn", "mapclassify", "folium", "scipy.stats", "dask",
         "distributed")


def test_plan_entry_points_import_no_heavy_package() -> None:
    code = ("import importlib, sys\n"
            f"for m in {PLAN_MODULES!r}:\n"
            "    importlib.import_module(m)\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"heavy imports on a plan's start: {done.stdout}"


def test_classify_known_answer() -> None:
    # upper-inclusive: v <= 1 -> 0, 1 < v <= 2 -> 1, 2 < v <= 5 -> 2, above -> 3; NaN -> -1
    values = [-3.0, 1.0, 1.0000001, 2.0, 4.9, 5.0, 7.0, float("nan"), float("inf")]
    assert classify(values, [1, 2, 5]) == [0, 0, 1, 1, 2, 2, 3, -1, -1]
    assert classify([float("nan")], [1, 2]) == [-1]
    assert classify([], [1, 2]) == []


def test_classify_is_mapclassify_user_defined() -> None:
    mapclassify = pytest.importorskip("mapclassify")
    rng = np.random.default_rng(7)
    for name, scale in SCALES.items():
        breaks = np.asarray(scale.breaks, dtype=np.float64)
        span = float(breaks[-1] - breaks[0]) or 1.0
        values = np.concatenate([
            rng.uniform(breaks[0] - span, breaks[-1] + span, 500), breaks,
            np.nextafter(breaks, np.inf), np.nextafter(breaks, -np.inf)])
        for v in (values, values[values <= breaks[-1]], values[:1]):
            expected = mapclassify.UserDefined(v, bins=list(scale.breaks)).yb.tolist()
            assert classify(v, scale.breaks) == expected, name


def test_poisson_weights_are_scipy_stats_bit_for_bit() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    means = np.concatenate([[1e-9, 1e-3, 0.5, 1.0, 2.0, 10.0, 100.0, 1000.0],
                            rng.uniform(0, 5, 40), rng.uniform(5, 2000, 40)])
    q = 1 - 1e-12
    for mean in means:
        last = erlang_a._poisson_last(q, float(mean))
        assert last == int(stats.poisson.ppf(q, mean)), mean
        k = np.arange(last + 2)
        got = erlang_a._poisson_pmf(k, float(mean))
        assert got.tobytes() == stats.poisson.pmf(k, mean).tobytes(), mean
