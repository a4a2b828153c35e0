"""Shared by the what-if tests: the tiny study and one small budget sweep, made once.

The sweep's plans serve the stress tests too (a plan folder of its middle point), so the
default suite solves them once.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from conftest import write_tiny_gpkg

from netplan.model.scenario import Scenario, load_scenario
from netplan.planning.sweep import SweepResult, parse_vary, run_sweep
from netplan.study.layers import Study, load_study

# Few customers: every plan holds at once (one solve per point), and the budget decides
# how many idle outlets can be closed (a full one costs 0.8 M CNY to close).
QUIET = dict(customer_share=0.05, max_dist_km=30.0, budget_cny=None, max_open=None,
             max_close=None, min_share_outside_ring=None, districts={}, time_limit_s=60.0,
             mip_gap=1e-6)

_TMP = tempfile.TemporaryDirectory(prefix="netplan-whatif-")  # removed at exit


def quiet(**changes: object) -> Scenario:
    """The default scenario with few customers and no limits but the ones given."""
    return load_scenario().replace(**{**QUIET, **changes})


@functools.cache
def tiny_gpkg() -> Path:
    """The tiny study as a GeoPackage (conftest's layers)."""
    return write_tiny_gpkg(Path(_TMP.name))


@functools.cache
def tiny_study() -> Study:
    """The tiny study, loaded once."""
    return load_study(tiny_gpkg())


@functools.cache
def budget_sweep() -> SweepResult:
    """Three budgets (0, 1.2 M, 2.4 M CNY) on the tiny study, in this process."""
    return run_sweep(tiny_study(), quiet(), [parse_vary("planning.budget_cny=0:2.4e6:3")],
                     year=2020, in_process=True)
