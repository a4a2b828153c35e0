"""The branch-network MILP on plain arrays, and the classic location problems through it.

netplan's optimiser is one capacitated facility-location model with the side constraints a
bank's network plan needs (budget, openings and closures per district, locked and forbidden
sites, relocations, a minimum share of outlets outside a ring, an optional load-balance
term). It takes numpy / scipy.sparse arrays only (no geometry) and solves with HiGHS directly
(the matrix is built with numpy and handed over in one call) or through PuLP (CBC, HiGHS,
Gurobi, CPLEX ... whatever PuLP can drive).

p-median, capacitated and uncapacitated facility location and maximal covering are special
cases solved by the same core: :func:`p_median`, :func:`capacitated_facility_location`,
:func:`uncapacitated_facility_location`, :func:`maximal_covering`.

Modules, bottom up: ``_base`` (tolerances, argument checks), ``problem`` (the input and
output types), ``build`` (the sparse model and its formulation), ``precheck`` (obvious
infeasibilities), ``lagrange_side`` and ``lagrange`` (the Lagrangian bound of the
assignment rows, plans from its multipliers and site fixing), ``highs`` and
``pulp_backend`` (the solvers), ``search`` (the neighbourhood search after HiGHS),
``infeasible`` (the diagnosis), ``solving`` (:func:`solve`), ``classic`` (the classic
problems) and ``instances`` (OR-Library files).
"""

from __future__ import annotations

from netplan.optimize.build import model_size
from netplan.optimize.classic import (
    ClassicResult,
    capacitated_facility_location,
    maximal_covering,
    p_median,
    uncapacitated_facility_location,
)
from netplan.optimize.problem import FacilityProblem, ModelSize, Solution
from netplan.optimize.solving import check_settings, solve

__all__ = [
    "ClassicResult",
    "FacilityProblem",
    "ModelSize",
    "Solution",
    "capacitated_facility_location",
    "check_settings",
    "maximal_covering",
    "model_size",
    "p_median",
    "solve",
    "uncapacitated_facility_location",
]
