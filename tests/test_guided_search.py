"""The neighbourhood search guided by the LP relaxation (netplan.optimize.search)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp
from test_rens import _Event

from netplan.optimize import FacilityProblem, solving
from netplan.optimize.build import _build
from netplan.optimize.highs import _check_point, _new_highs, _pass_model, _Raw, _warm_vector
from netplan.optimize.problem import _entry_zones
from netplan.optimize.search import (
    _guided_neighbourhoods,
    _Incumbent,
    _neighbourhoods,
    _ReachesGap,
    _RoundOptions,
    _search,
    _search_rounds,
)


def _two_districts() -> FacilityProblem:
    """Four outlets, two per district, each with one zone of its own that the other outlet
    of its district can also serve. One outlet may close in the whole city. Closing outlet
    1 saves 15 - 5 = 10, closing outlet 3 saves 35 - 5 = 30, closing 0 or 2 loses 100.
    Optimum: close 3, objective 100 + 15 + 100 + 5 = 220."""
    rows = [0, 0, 1, 1, 2, 2, 3, 3]
    cols = [0, 1, 1, 0, 2, 3, 3, 2]
    vals = [0.0, 200.0, 0.0, 5.0, 0.0, 200.0, 0.0, 5.0]
    cost = sp.csr_array((vals, (rows, cols)), shape=(4, 4))
    cost.sort_indices()
    return FacilityProblem(
        demand=np.ones(4), cost=cost, opt_site=np.arange(4), unserved_cost=np.full(4, 1000.0),
        opt_capacity=np.full(4, 10.0), opt_cost=np.array([100.0, 15.0, 100.0, 35.0]),
        opt_oneoff=np.zeros(4), opt_is_current=np.ones(4, bool), site_existing=np.ones(4, bool),
        site_close_cost=np.zeros(4), site_close_oneoff=np.zeros(4),
        site_group=np.array([0, 0, 1, 1]), max_closed=1,
        warm_start=np.array([0, -1, 2, 3]),  # closes outlet 1: 240
    )


def _lp_solution(p: FacilityProblem) -> np.ndarray:
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    _pass_model(h, _build(p), integer=False)
    h.run()
    return np.asarray(h.getSolution().col_value, np.float64)


def _start(p: FacilityProblem) -> tuple[object, _Incumbent]:
    mdl = _build(p)
    v = _warm_vector(p, mdl)
    assert v is not None and _check_point(mdl, v)
    obj = float(mdl.c @ v + mdl.offset)
    assert obj == 240.0
    return mdl, _Incumbent(v, obj, 220.0)


def _opts() -> _RoundOptions:
    return _RoundOptions(deadline=time.perf_counter() + 60, mip_gap=0.0, threads=1,
                         progress=None, zi=_entry_zones(_two_districts()))


def test_compact_neighbourhoods_cannot_move_a_closure_between_districts() -> None:
    """The limit binds city-wide: each district's neighbourhood alone cannot close its
    better outlet without reopening the other district's (fixed outside it)."""
    p = _two_districts()
    mdl, inc = _start(p)
    hoods = _neighbourhoods(p)
    assert [h.tolist() for h in hoods] == [[0, 1], [2, 3]]
    assert _search_rounds(mdl, p, inc, lambda: hoods, _opts()) is False  # stalled
    assert inc.obj == 240.0


def test_the_lp_guided_sets_move_it_and_reach_the_optimum() -> None:
    p = _two_districts()
    mdl, inc = _start(p)
    lp = _lp_solution(p)
    assert _guided_neighbourhoods(mdl, p, inc.v, lp)[0].tolist() == [1, 3]
    _search_rounds(mdl, p, inc, lambda: _guided_neighbourhoods(mdl, p, inc.v, lp), _opts(),
                   label="contested set")
    assert inc.obj == 220.0 and _check_point(mdl, inc.v)
    assert _guided_neighbourhoods(mdl, p, inc.v, lp) == []  # plan and LP now agree


def test_guided_sets_take_the_most_contested_sites_first_within_the_zone_cap() -> None:
    """Known answer: disagreements 0.9 (site 2), 0.5 (sites 0 and 3), 0 (site 1); at most
    two zones per set, each site with one zone of its own and one shared."""
    p = _two_districts()
    mdl = _build(p)
    v = np.zeros(mdl.n_cols)
    lp = np.zeros(mdl.n_cols)
    lp[mdl.y0 + 2] = 0.9
    lp[mdl.z0 + 0] = 0.5
    lp[mdl.y0 + 3] = 0.5
    # site 2 reaches zones 2 and 3; site 0 then zones 0 and 1 (a new set); site 3 zones
    # 2 and 3 (a new set: 0 and 1 are full)
    assert [h.tolist() for h in _guided_neighbourhoods(mdl, p, v, lp, zones=2)] == [
        [2], [0], [3]]
    # site 3's zones are site 2's: it adds none
    assert [h.tolist() for h in _guided_neighbourhoods(mdl, p, v, lp, zones=4)] == [[0, 2, 3]]
    assert [h.tolist() for h in _guided_neighbourhoods(mdl, p, v, lp, size=1)] == [
        [2], [0], [3]]


@pytest.mark.parametrize(("primal", "stops"), [
    (float("inf"), False),  # no plan yet
    (103.0, False),  # (103 - 100) / 103 = 2.9 % of the whole model's bound
    (101.0, True),  # 0.99 %: the whole solve's 1 % is reached
])
def test_a_sub_solve_stops_once_the_whole_solve_reaches_its_gap(primal: float,
                                                                stops: bool) -> None:
    e = _Event(primal, math.inf)  # HiGHS's own gap does not matter here
    _ReachesGap(100.0, 0.01)(e)
    assert e.data_in.user_interrupt is stops


@pytest.mark.parametrize(("rounds_in", "resumed"), [(None, False), (-1.0, True)])
def test_highs_resumes_from_the_plan_once_the_rounds_time_is_up(rounds_in: float | None,
                                                                resumed: bool) -> None:
    """The 240 start, a bound of 220 (the optimum). Without ``rounds_by`` the contested
    sets reach the optimum themselves; with it past, no round runs and HiGHS, resumed from
    the start plan, finds it."""
    p = _two_districts()
    mdl, inc = _start(p)
    lines: list[str] = []
    now = time.perf_counter()
    raw = _Raw("time_limit", inc.v, 220.0, 0.1, "test", bound_source="lp")
    out = _search(mdl, p, raw, deadline=now + 60, mip_gap=1e-6, threads=1,
                  progress=lines.append, guide=_lp_solution(p),
                  rounds_by=None if rounds_in is None else now + rounds_in)
    assert out.status == "optimal" and out.v is not None and _check_point(mdl, out.v)
    assert float(mdl.c @ out.v + mdl.offset) == pytest.approx(220.0)
    assert any("HiGHS resumes" in s for s in lines) is resumed
    assert any(s.startswith("contested set") for s in lines) is not resumed


def test_only_small_models_go_back_to_highs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search's time before HiGHS resumes: 2x the LP stage, at least 1 s, and only on
    models below the integer-column threshold."""
    mdl = _build(_two_districts())
    now = time.perf_counter()
    by = solving._rounds_by(mdl, 3.0)
    assert by is not None and 6.0 <= by - now < 7.0
    by = solving._rounds_by(mdl, 0.1)
    assert by is not None and 1.0 <= by - now < 2.0
    monkeypatch.setattr(solving, "_HIGHS_BELOW_INTEGER", int(mdl.integer.sum()))
    assert solving._rounds_by(mdl, 3.0) is None
