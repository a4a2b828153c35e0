"""netplan: plan a bank's branch network from geospatial layers.

Load is balanced across outlets sized to a waiting-time target (Erlang C), customers
travel less, and the plan (keep, open, close, upgrade, convert, relocate) stays within
budget. See the README for the two commands and a worked example.

The public API is importable from here; each name is imported on first use (PEP 562), so
``import netplan`` (and the command line's start) stays cheap::

    import netplan

    study = netplan.load_study()             # the embedded Beijing dataset
    scenario = netplan.load_scenario()       # the default 2035 scenario
    plan = netplan.make_plan(study, scenario, district="东城")
    netplan.write_plan_folder(plan, study, "out/plan-110101")
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netplan.model.scenario import Scenario, load_scenario
    from netplan.optimize import (
        FacilityProblem,
        capacitated_facility_location,
        maximal_covering,
        p_median,
        solve,
        uncapacitated_facility_location,
    )
    from netplan.planning.dask_runner import plan_all
    from netplan.planning.diagnose import diagnose
    from netplan.planning.plan import Plan, make_plan
    from netplan.present.folder import write_plan_folder
    from netplan.study.layers import Study, load_study

try:
    __version__ = version("netplan-branches")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

# Public name -> the module that defines it.
_API: dict[str, str] = {
    "load_study": "netplan.study.layers",
    "Study": "netplan.study.layers",
    "load_scenario": "netplan.model.scenario",
    "Scenario": "netplan.model.scenario",
    "diagnose": "netplan.planning.diagnose",
    "make_plan": "netplan.planning.plan",
    "Plan": "netplan.planning.plan",
    "plan_all": "netplan.planning.dask_runner",
    "write_plan_folder": "netplan.present.folder",
    "FacilityProblem": "netplan.optimize",
    "solve": "netplan.optimize",
    "p_median": "netplan.optimize",
    "capacitated_facility_location": "netplan.optimize",
    "uncapacitated_facility_location": "netplan.optimize",
    "maximal_covering": "netplan.optimize",
}

__all__ = [
    "FacilityProblem",
    "Plan",
    "Scenario",
    "Study",
    "__version__",
    "capacitated_facility_location",
    "diagnose",
    "load_scenario",
    "load_study",
    "make_plan",
    "maximal_covering",
    "p_median",
    "plan_all",
    "solve",
    "uncapacitated_facility_location",
    "write_plan_folder",
]


def __getattr__(name: str) -> object:
    """Import a public name on first access (PEP 562) and keep it in the module."""
    module_name = _API.get(name)
    if module_name is None:
        raise AttributeError(f"module 'netplan' has no attribute {name!r}")
    value: object = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
