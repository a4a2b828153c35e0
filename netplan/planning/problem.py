"""From layers and a scenario to a plan: build the MILP, solve it, read the actions back.

Sites are the existing outlets and the candidate sites. Each site gets *options*
(one per format it may run):

- an existing outlet: **keep** (its own counters and terminals, no one-off cost),
  **upgrade** / **convert** into each other format of the scenario (the format's
  servers; one-off ``convert_cny`` of the target format), or no option = **close**
  (one-off ``close_cny`` of its format, saves its operating cost);
- with ``[planning] staffing = true``, a decided outlet also gets **staff** options: its
  current format with ``k = 1 .. staff_extra_counters`` more counters staffed in the peak
  hours (capacity of its own servers plus ``k`` counters, operating cost plus
  :func:`staff_cny_per_year`, no one-off cost, no upgrade/conversion limit). Only the
  current format is staffed: an upgraded or converted outlet runs its new format's
  counters, so staffing and a format change are never combined;
- a candidate: **open** in each format (one-off ``open_cny``).

A **relocation** pairs an existing outlet with a candidate within
``relocation_radius_km``: closing the one and opening the other is then costed as one
move, ``relocate_cny`` of the outlet's format instead of ``close_cny + open_cny``.

Costs are annual CNY: operating cost + one-off costs / ``amortisation_years`` + travel
(annual visits × km × ``cost_cny_per_km``) + unserved visits × penalty. Capacity of an
option is its peak-hour arrivals at the waiting-time target (Erlang C, see
:mod:`netplan.model.service`; with ``[service] max_share_over_target``, at that share of
customers waiting longer than the target), so every planned outlet meets the target at its
planned load. Customers need not follow the model's routing: :mod:`netplan.planning.holds`
tightens the model until the plan holds under the scenario's behaviour rule.

Scope: a whole-city plan decides every site. A single-district plan decides the
district's own sites and keeps, as a **buffer**, the zones of neighbouring districts
within ``max_dist_km`` of its border and the outlets that can serve them (kept as they
are), so customers near a border are neither ignored nor double-served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from netplan import optimize
from netplan._errors import InfeasibleError, NetplanError, ScenarioError
from netplan.model import cost, demand, kpi, service
from netplan.model.scenario import Scenario
from netplan.planning.diagnose import SATURATION_UTILISATION, throughput_per_h, zone_points
from netplan.study.geometry import outside_ring_limit, outside_ring_mask
from netplan.study.inputs import check_model_size
from netplan.study.layers import Study, policy_adcodes

log = logging.getLogger(__name__)

POLICY_DEFAULTS: dict[str, dict[str, int | None]] = {
    "consolidate": {"max_open": 0},
    "expand": {"max_close": 0},
    "renovate": {"max_open": 0, "max_close": 0},
    "hold": {"max_open": 0, "max_close": 0},
    "free": {},
}
"""Limits each district policy implies unless the scenario sets them explicitly."""


@dataclass(frozen=True)
class Sites:
    """All sites of a planning run, existing outlets first, then candidates."""

    site_id: NDArray[Any]
    name: NDArray[Any]
    existing: NDArray[np.bool_]
    format: NDArray[Any]  # current format ('' for candidates)
    counters: NDArray[np.int64]
    terminals: NDArray[np.int64]
    adcode: NDArray[Any]
    ring_zone: NDArray[Any]
    kind: NDArray[Any]  # 'outlet' or the candidate kind
    xy: NDArray[np.float64]
    decide: NDArray[np.bool_]  # inside the planning scope (else kept as is / not opened)

    def __len__(self) -> int:
        return len(self.site_id)


@dataclass(frozen=True)
class Options:
    """One row per (site, format) option."""

    site: NDArray[np.int64]
    format: NDArray[Any]
    counters: NDArray[np.int64]
    terminals: NDArray[np.int64]
    capacity: NDArray[np.float64]
    opex: NDArray[np.float64]
    oneoff: NDArray[np.float64]
    is_current: NDArray[np.bool_]
    staffed: NDArray[np.int64]  # counters staffed in the peak hours beyond the outlet's own


@dataclass(frozen=True)
class Model:
    """Everything needed to solve and to read a solution back."""

    sites: Sites
    options: Options
    zone_index: NDArray[np.int64]  # zones of the study in the model
    zone_xy: NDArray[np.float64]
    zone_pop: NDArray[np.float64]
    zone_arrivals: NDArray[np.float64]
    dist_m: sp.csr_array
    reloc_from: NDArray[np.int64]
    reloc_to: NDArray[np.int64]
    groups: list[str]
    problem: optimize.FacilityProblem


def collect_sites(study: Study, *, decide_adcode: str | None, buffer_m: float) -> Sites:
    """Existing outlets and candidates; with ``decide_adcode``, the district plus its buffer."""
    b, c = study.branches, study.candidates
    bxy, cxy = zone_points(b), zone_points(c)
    b_ad = b["adcode"].to_numpy(dtype=object)
    c_ad = c["adcode"].to_numpy(dtype=object)
    if decide_adcode is None:
        keep_b = np.ones(len(b), dtype=bool)
        keep_c = np.ones(len(c), dtype=bool)
        dec_b = keep_b.copy()
    else:
        area = study.districts.loc[study.districts["adcode"] == decide_adcode].geometry
        near = area.buffer(buffer_m).union_all()
        import shapely

        keep_b = (b_ad == decide_adcode) | shapely.contains_xy(near, bxy[:, 0], bxy[:, 1])
        keep_c = c_ad == decide_adcode
        dec_b = b_ad == decide_adcode
    n_c = int(keep_c.sum())
    return Sites(
        site_id=np.concatenate(
            [
                b["branch_id"].astype(str).to_numpy()[keep_b],
                c["candidate_id"].astype(str).to_numpy()[keep_c],
            ]
        ).astype(object),
        name=np.concatenate(
            [b["name"].astype(str).to_numpy()[keep_b], c["name"].astype(str).to_numpy()[keep_c]]
        ).astype(object),
        existing=np.concatenate([np.ones(int(keep_b.sum()), bool), np.zeros(n_c, bool)]),
        format=np.concatenate(
            [b["format"].astype(str).to_numpy()[keep_b], np.full(n_c, "", dtype=object)]
        ).astype(object),
        counters=np.concatenate(
            [b["counters"].to_numpy(np.int64)[keep_b], np.zeros(n_c, np.int64)]
        ),
        terminals=np.concatenate(
            [b["terminals"].to_numpy(np.int64)[keep_b], np.zeros(n_c, np.int64)]
        ),
        adcode=np.concatenate([b_ad[keep_b], c_ad[keep_c]]).astype(object),
        ring_zone=np.concatenate(
            [
                b["ring_zone"].to_numpy(dtype=object)[keep_b],
                c["ring_zone"].to_numpy(dtype=object)[keep_c],
            ]
        ).astype(object),
        kind=np.concatenate(
            [
                np.full(int(keep_b.sum()), "outlet", dtype=object),
                c["kind"].astype(str).to_numpy()[keep_c],
            ]
        ).astype(object),
        xy=np.vstack([bxy[keep_b], cxy[keep_c]]),
        decide=np.concatenate([dec_b[keep_b], np.ones(n_c, bool)]),
    )


TAG_UPGRADE, TAG_CONVERT = 0, 1
"""Option tags limited by the scenario's ``max_upgrade`` and ``max_convert``."""


def change_kind(
    servers_after: NDArray[np.int64], servers_before: NDArray[np.int64]
) -> NDArray[Any]:
    """``"upgrade"`` where an outlet gains servers in its new format, else ``"convert"``."""
    return np.where(servers_after > servers_before, "upgrade", "convert").astype(object)


def site_actions(
    sites: Sites,
    *,
    option_is_current: NDArray[np.bool_],
    chosen: NDArray[np.int64],
    servers_after: NDArray[np.int64],
    moved_to: NDArray[Any],
    moved_from: NDArray[Any],
    option_staffed: NDArray[np.int64] | None = None,
) -> NDArray[Any]:
    """The action name of each site under a solution (``""``: a candidate left unopened).

    Parameters
    ----------
    sites
        The model's sites.
    option_is_current
        Per option: whether it is the outlet's current format.
    chosen
        Per site: the chosen option (``-1`` = not open).
    servers_after
        Per site: counters plus terminals after the plan.
    moved_to, moved_from
        Per site: the id of the site it moves to / came from (``""`` if none).
    option_staffed
        Per option: counters staffed in the peak hours beyond the outlet's own (a chosen
        option with some is ``staff``); ``None``: no staffed options.

    Returns
    -------
    ndarray of str
        One name of :data:`netplan.planning.actions.ACTION_NAMES` (or ``""``) per site.
    """
    s = sites
    is_open = chosen >= 0
    change = change_kind(servers_after, s.counters + s.terminals)
    action = np.full(len(s), "", dtype=object)
    for j in range(len(s)):
        if s.existing[j]:
            if moved_to[j]:
                action[j] = "relocate"
            elif not is_open[j]:
                action[j] = "close"
            elif option_is_current[chosen[j]]:
                action[j] = "keep"
            elif option_staffed is not None and option_staffed[chosen[j]] > 0:
                action[j] = "staff"
            else:
                action[j] = change[j]
        elif is_open[j] and not moved_from[j]:
            action[j] = "open"
    return action


def staff_cny_per_year(extra_counters: Any, scenario: Scenario) -> NDArray[np.float64]:
    """Annual cost of staffing ``extra_counters`` more counters in the peak hours.

    ``extra × planning.staff_hours_per_day × demand.business_days_per_year ×
    planning.staff_hour_cny`` (vectorised).
    """
    per_counter = (scenario.staff_hours_per_day * scenario.business_days_per_year
                   * scenario.staff_hour_cny)
    return np.asarray(extra_counters, dtype=np.float64) * per_counter


def build_options(sites: Sites, scenario: Scenario) -> Options:
    """Options per site (see module docstring); sites outside the scope keep their format."""
    fmts = scenario.formats
    unknown = sorted({f for f in sites.format[sites.existing] if f not in fmts})
    if unknown:
        raise NetplanError(
            f"outlets have formats {unknown} that the scenario does not define; add a "
            f"[formats.<name>] table for each to the scenario (defined: {sorted(fmts)})"
        )
    fmt_cap = {
        f: float(service.capacity_per_h(np.array([v.counters]), np.array([v.terminals]),
                                        scenario=scenario)[0])
        for f, v in fmts.items()
    }
    rows: list[tuple[int, str, int, int, float, float, float, bool, int]] = []
    own_c, own_t = np.maximum(sites.counters, 1), np.maximum(sites.terminals, 1)
    own_cap = np.asarray(service.capacity_per_h(own_c, own_t, scenario=scenario), np.float64)
    for j in range(len(sites)):
        if sites.existing[j]:
            f0 = str(sites.format[j])
            c0, t0 = int(sites.counters[j]), int(sites.terminals[j])
            opex0 = fmts[f0].opex_cny_per_year
            rows.append((j, f0, c0, t0, float(own_cap[j]), opex0, 0.0, True, 0))
            if not sites.decide[j]:
                continue
            rows += _staffed_rows(j, f0, (c0, t0), (int(own_c[j]), int(own_t[j])), opex0,
                                  scenario)
            rows += [(j, f, v.counters, v.terminals, fmt_cap[f], v.opex_cny_per_year,
                      v.convert_cny, False, 0) for f, v in fmts.items() if f != f0]
        elif sites.decide[j]:
            rows += [(j, f, v.counters, v.terminals, fmt_cap[f], v.opex_cny_per_year,
                      v.open_cny, False, 0) for f, v in fmts.items()]
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    return Options(
        site=np.asarray(cols[0], dtype=np.int64),
        format=np.asarray(cols[1], dtype=object),
        counters=np.asarray(cols[2], dtype=np.int64),
        terminals=np.asarray(cols[3], dtype=np.int64),
        capacity=np.asarray(cols[4], dtype=np.float64),
        opex=np.asarray(cols[5], dtype=np.float64),
        oneoff=np.asarray(cols[6], dtype=np.float64),
        is_current=np.asarray(cols[7], dtype=bool),
        staffed=np.asarray(cols[8], dtype=np.int64),
    )


def _staffed_rows(j: int, fmt: str, servers: tuple[int, int], servers_cap: tuple[int, int],
                  opex: float, scenario: Scenario
                  ) -> list[tuple[int, str, int, int, float, float, float, bool, int]]:
    """The staffed options of a decided outlet in its current format (none unless
    ``planning.staffing``): its own servers with ``k = 1 .. staff_extra_counters`` more
    counters staffed in the peak hours, at :func:`staff_cny_per_year` more a year."""
    if not scenario.staffing:
        return []
    k = np.arange(1, scenario.staff_extra_counters + 1, dtype=np.int64)
    cap = np.asarray(service.capacity_per_h(servers_cap[0] + k, np.full(len(k), servers_cap[1]),
                                            scenario=scenario), np.float64)
    cost = opex + staff_cny_per_year(k, scenario)
    return [(j, fmt, servers[0] + int(kk), servers[1], float(c), float(o), 0.0, False, int(kk))
            for kk, c, o in zip(k, cap, cost, strict=True)]


def _group_limits(
    scenario: Scenario, groups: list[str], study: Study
) -> dict[str, NDArray[np.int64]]:
    """Per-district limits from the scenario's district policies (-1 = no limit)."""
    idx = {g: k for k, g in enumerate(groups)}
    lim = {
        name: np.full(len(groups), -1, dtype=np.int64)
        for name in ("min_sites", "max_sites", "max_new", "max_closed")
    }
    try:  # two keys naming one district are refused, not merged
        codes = policy_adcodes(scenario.districts, study.districts)
    except NetplanError as exc:
        raise ScenarioError(
            f"scenario {scenario.name}: {exc} (an empty [districts] table means no district "
            "policies)"
        ) from None
    for key, pol in scenario.districts.items():
        ad = codes[str(key)]
        if ad not in idx:
            continue
        g = idx[ad]
        implied = POLICY_DEFAULTS.get(pol.policy, {})
        for src, dst in (
            ("min_outlets", "min_sites"),
            ("max_outlets", "max_sites"),
            ("max_open", "max_new"),
            ("max_close", "max_closed"),
        ):
            val = getattr(pol, src)
            if val is None:
                val = implied.get(src)
            if val is not None:
                lim[dst][g] = int(val)
    return lim


RELOCATION_CANDIDATES = 3
"""How many of an outlet's nearest candidate sites (within the radius) it may move to."""


def relocation_pairs(
    sites: Sites, options: Options, site_locked: NDArray[np.bool_], scenario: Scenario
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(from site, to site, option opened at the target) of every allowed move.

    A decided outlet may move to its nearest candidates within the relocation radius; the
    move keeps the outlet's format (a format change is an upgrade/conversion decision).
    """
    from scipy.spatial import cKDTree

    ex = np.flatnonzero(sites.existing & sites.decide & ~site_locked)
    ca = np.flatnonzero(~sites.existing & sites.decide)
    opt_of = {(int(j), str(f)): k for k, (j, f) in enumerate(zip(options.site, options.format,
                                                                  strict=True))}
    r_from: list[int] = []
    r_to: list[int] = []
    r_opt: list[int] = []
    if len(ca) and len(ex):
        kk = min(RELOCATION_CANDIDATES, len(ca))
        dist, idx = cKDTree(sites.xy[ca]).query(
            sites.xy[ex], k=kk, distance_upper_bound=scenario.relocation_radius_km * 1000.0)
        dist = np.asarray(dist).reshape(len(ex), kk)
        idx = np.asarray(idx).reshape(len(ex), kk)
        for row, j in enumerate(ex):
            for d, c in zip(dist[row], idx[row], strict=True):
                k = int(ca[c]) if np.isfinite(d) else -1
                o = opt_of.get((k, str(sites.format[j])), -1)
                if o >= 0:
                    r_from.append(int(j))
                    r_to.append(k)
                    r_opt.append(o)
    return (np.asarray(r_from, np.int64), np.asarray(r_to, np.int64),
            np.asarray(r_opt, np.int64))


# long: half of it is the FacilityProblem call, one keyword per array of the formulation
def build_model(
    study: Study,
    scenario: Scenario,
    *,
    year: int,
    adcode: str | None = None,
    locked: frozenset[str] = frozenset(),
    forbidden: frozenset[str] = frozenset(),
) -> Model:
    """Build the planning MILP for the whole city (``adcode=None``) or one district.

    Parameters
    ----------
    study, scenario
        The layers (metric CRS, labelled) and the scenario.
    year, adcode
        Demand year; the district to plan, with its buffer (see the module docstring).
    locked, forbidden
        Site ids that must stay open / must not open.

    Returns
    -------
    Model
    """
    buffer_m = scenario.max_dist_km * 1000.0
    sites = collect_sites(study, decide_adcode=adcode, buffer_m=buffer_m)
    zone_index, zxy, pop = _model_zones(study, scenario, year=year, adcode=adcode,
                                        buffer_m=buffer_m)
    if adcode is not None:  # something to decide, and customers (or a warning)
        _check_scope(study, sites, study.zones, adcode)
    check_model_size(n_zones=len(zone_index), n_sites=len(sites),  # before building it
                     k_nearest=scenario.k_nearest, n_formats=len(scenario.formats)
                     + (scenario.staff_extra_counters if scenario.staffing else 0))
    arrivals = np.asarray(demand.arrivals_per_h(pop, scenario), dtype=np.float64)
    visits = np.asarray(demand.annual_visits(pop, scenario), dtype=np.float64)
    dist = _site_distances(zxy, sites, scenario, buffer_m=buffer_m)
    options = build_options(sites, scenario)
    groups, site_group, lim = _site_groups(study, scenario, sites, adcode)
    close_oneoff = _close_oneoff(sites, scenario)
    site_locked, site_forbidden = _site_status(sites, locked, forbidden)
    reloc_from, reloc_to, reloc_opt = relocation_pairs(sites, options, site_locked, scenario)
    saving_oneoff = _relocation_savings(sites, reloc_from, scenario)
    amort = scenario.amortisation_years
    problem = optimize.FacilityProblem(  # the formulation: see netplan.optimize
        demand=arrivals,
        cost=_travel_cost(dist, visits, scenario),
        unserved_cost=visits * scenario.unserved_penalty_cny_per_visit,
        opt_site=options.site,
        opt_capacity=options.capacity,
        opt_cost=options.opex + options.oneoff / amort,
        opt_oneoff=options.oneoff,
        opt_is_current=options.is_current,
        site_existing=sites.existing,
        site_close_cost=close_oneoff / amort,
        site_close_oneoff=close_oneoff,
        site_locked=site_locked,
        site_forbidden=site_forbidden,
        site_group=site_group,
        site_outside=outside_ring_mask(sites.ring_zone, scenario.outside_ring),
        group_min_sites=lim["min_sites"],
        group_max_sites=lim["max_sites"],
        group_max_new=lim["max_new"],
        group_max_closed=lim["max_closed"],
        **_option_tags(sites, options, scenario),
        max_new=scenario.max_open,
        max_closed=scenario.max_close,
        budget=scenario.budget_cny,
        min_share_outside=None if adcode is not None else outside_ring_limit(
            study.ring_zones["ring_zone"], scenario.outside_ring, scenario.min_share_outside_ring),
        reloc_from=reloc_from,
        reloc_to=reloc_to,
        reloc_to_option=reloc_opt,
        reloc_saving=saving_oneoff / amort,
        reloc_saving_oneoff=saving_oneoff,
        balance_weight=scenario.balance_weight,
        balance_threshold=scenario.balance_threshold,
        warm_start=_current_options(sites, options),
    )
    log.info("model: %d zones, %d sites, %d options, %d pairs, %d relocation pairs",
             len(zone_index), len(sites), len(options.site), dist.nnz, len(reloc_from))
    return Model(sites=sites, options=options, zone_index=zone_index, zone_xy=zxy,
                 zone_pop=pop, zone_arrivals=arrivals, dist_m=dist, reloc_from=reloc_from,
                 reloc_to=reloc_to, groups=groups, problem=problem)


def _close_oneoff(sites: Sites, scenario: Scenario) -> NDArray[np.float64]:
    """One-off cost of closing each site (its format's ``close_cny``; 0 for candidates)."""
    return np.array([scenario.formats[f].close_cny if e else 0.0
                     for f, e in zip(sites.format, sites.existing, strict=True)],
                    dtype=np.float64)


def _current_options(sites: Sites, options: Options) -> NDArray[np.int64]:
    """Each site's current option (``-1`` for candidates): the network as it is."""
    warm = np.full(len(sites), -1, dtype=np.int64)
    cur = np.flatnonzero(options.is_current)
    warm[options.site[cur]] = cur
    return warm


def _model_zones(study: Study, scenario: Scenario, *, year: int, adcode: str | None,
                 buffer_m: float
                 ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Index, demand point and population of the model's zones (a district: with its buffer)."""
    zones = study.zones
    pop_all = np.asarray(demand.zone_population(zones, scenario, year=year,
                                                districts=study.districts), dtype=np.float64)
    zxy_all = zone_points(zones)
    if adcode is None:
        zone_index = np.arange(len(zones), dtype=np.int64)
    else:
        import shapely

        area = study.districts.loc[study.districts["adcode"] == adcode].geometry
        near = area.buffer(buffer_m).union_all()
        inside = shapely.contains_xy(near, zxy_all[:, 0], zxy_all[:, 1])
        zone_index = np.flatnonzero(inside | (zones["adcode"].to_numpy(dtype=object) == adcode))
    return zone_index, zxy_all[zone_index], pop_all[zone_index]


def _site_distances(zxy: NDArray[np.float64], sites: Sites, scenario: Scenario, *,
                    buffer_m: float) -> sp.csr_array:
    """Sparse distances: k nearest existing outlets ∪ k nearest candidates, within reach."""
    ex = np.flatnonzero(sites.existing)
    ca = np.flatnonzero(~sites.existing)
    d_ex, d_ca = (
        cost.knn_dist_m(
            zxy,
            sites.xy[idx],
            k=scenario.k_nearest,
            max_dist_m=buffer_m,
            detour_factor=scenario.detour_factor,
        ).tocoo()
        for idx in (ex, ca)
    )
    dist = sp.csr_array(
        (
            np.concatenate([d_ex.data, d_ca.data]),
            (np.concatenate([d_ex.row, d_ca.row]), np.concatenate([ex[d_ex.col], ca[d_ca.col]])),
        ),
        shape=(len(zxy), len(sites)),
    )
    dist.sort_indices()
    return dist


def _site_groups(study: Study, scenario: Scenario, sites: Sites, adcode: str | None
                 ) -> tuple[list[str], NDArray[np.int64], dict[str, NDArray[np.int64]]]:
    """District groups (adcodes), each decided site's group, and the groups' limits."""
    groups = sorted(study.districts["adcode"].astype(str))
    gidx = {g: k for k, g in enumerate(groups)}
    site_group = np.array(
        [
            gidx.get(str(a), -1) if d else -1
            for a, d in zip(sites.adcode, sites.decide, strict=True)
        ],
        np.int64,
    )
    lim = _group_limits(scenario, groups, study)
    if adcode is not None:  # a district run decides only its own sites: others' limits go
        other = np.array([g != adcode for g in groups])
        for arr in lim.values():
            arr[other] = -1
    return groups, site_group, lim


def _site_status(sites: Sites, locked: frozenset[str], forbidden: frozenset[str]
                 ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which sites must stay open (locked, or kept outside the scope) and may not open."""
    ids = sites.site_id.astype(str)
    unknown = sorted((set(locked) | set(forbidden)) - set(ids))
    if unknown:
        raise NetplanError(
            f"locked/forbidden site ids {unknown[:10]} are not outlets or candidates of this "
            "run; check the ids (branch_id / candidate_id) and the district"
        )
    site_locked = np.isin(ids, sorted(locked)) | (sites.existing & ~sites.decide)
    return site_locked, np.isin(ids, sorted(forbidden))


def _relocation_savings(sites: Sites, reloc_from: NDArray[np.int64], scenario: Scenario
                        ) -> NDArray[np.float64]:
    """One-off saving of each move: ``close + open - relocate`` of the outlet's format."""
    fmts = scenario.formats
    saving = np.array(
        [fmts[f].close_cny + fmts[f].open_cny - fmts[f].relocate_cny
         for f in sites.format[reloc_from]],
        dtype=np.float64,
    )
    return np.maximum(saving, 0.0)


class _TagArgs(TypedDict):
    """The option-tag arguments of :class:`netplan.optimize.FacilityProblem`."""

    opt_tag: NDArray[np.int64]
    tag_max: NDArray[np.int64]


def _option_tags(sites: Sites, options: Options, scenario: Scenario) -> _TagArgs:
    """Each option's tag (upgrade, conversion, or -1) and the scenario's limit per tag."""
    changed = sites.existing[options.site] & ~options.is_current & (options.staffed == 0)
    kind = change_kind(
        options.counters + options.terminals,
        sites.counters[options.site] + sites.terminals[options.site],
    )
    opt_tag = np.where(changed, np.where(kind == "upgrade", TAG_UPGRADE, TAG_CONVERT), -1)
    tag_max = np.array(
        [
            -1 if scenario.max_upgrade is None else scenario.max_upgrade,
            -1 if scenario.max_convert is None else scenario.max_convert,
        ],
        np.int64,
    )
    return {"opt_tag": opt_tag.astype(np.int64), "tag_max": tag_max}


def _travel_cost(dist: sp.csr_array, visits: NDArray[np.float64], scenario: Scenario
                 ) -> sp.csr_array:
    """Annual travel cost of each (zone, site) pair: visits × km × cost per km."""
    coo = dist.tocoo()
    travel = sp.csr_array(
        (visits[coo.row] * coo.data / 1000.0 * scenario.travel_cost_cny_per_km, (coo.row, coo.col)),
        shape=dist.shape,
    )
    travel.sort_indices()
    return travel


def _check_scope(study: Study, sites: Sites, zones: Any, adcode: str) -> None:
    """A district plan must have something to decide; warn when it has no customers."""
    row = study.districts.loc[study.districts["adcode"] == adcode].iloc[0]
    label = f"{row.get('name_zh', '')} ({adcode})".strip()
    if not sites.decide.any():
        raise NetplanError(
            f"district {label} has no outlet and no candidate site, so a plan of it has "
            "nothing to decide; check that the branches and candidates layers cover it, add "
            "candidate sites there, or plan the whole city (omit --district)"
        )
    if not (zones["adcode"].to_numpy(dtype=object) == adcode).any():
        log.warning(
            "district %s has no population zone: its outlets are planned for the customers "
            "of neighbouring districts within reach only; check the zones layer", label)


TASK_THREADS: int = 1
"""Solver threads of a one-district solve (``plan --district X``) and of a Dask task on a
worker per core (a district, a sweep point).

The local cluster starts one worker thread per core, so one solver thread per task keeps
each task on its own core instead of two HiGHS thread pools fighting over both (two city
points at once: 1.29x slower each with HiGHS's own threads, 1.04x with one, see
``bench/README.md``); on a district it also gives the same plan in a task as in a single
run."""


def solver_threads(adcode: str | None, threads: int | None = None) -> int | None:
    """Solver threads of a plan: ``threads`` if given, else :data:`TASK_THREADS` for one
    district (``adcode``) and None (HiGHS's own choice, every core) for the city."""
    if threads is not None or adcode is None:
        return threads
    return TASK_THREADS


def solve_model(
    model: Model,
    *,
    solver: str = "highs",
    time_limit_s: float | None = None,
    mip_gap: float | None = None,
    progress: Callable[[str], None] | None = None,
    threads: int | None = None,
    deadline: float | None = None,
) -> optimize.Solution:
    """Solve the model's MILP (HiGHS directly by default; other solvers through PuLP).

    ``threads``: solver threads (None = the solver's default, all cores). District runs use
    :data:`TASK_THREADS`. ``deadline``: as in :func:`netplan.optimize.solve`.
    """
    backend = "direct" if solver == "highs" else "pulp"
    kw: dict[str, Any] = {
        "solver": solver,
        "backend": backend,
        "time_limit_s": time_limit_s,
        "progress": progress,
        "threads": threads,
        "deadline": deadline,
    }
    if mip_gap is not None:
        kw["mip_gap"] = mip_gap
    try:
        return optimize.solve(model.problem, **kw)
    except InfeasibleError as exc:
        raise explain_infeasible(exc, model) from None


_POLICY_NOTE = ("; policies imply limits: consolidate max_open = 0, expand max_close = 0, "
                "renovate and hold both 0")
_SCENARIO_TERMS: tuple[tuple[str, str], ...] = (
    (r"\(group_min_sites, group_max_sites\)", "(min_outlets, max_outlets of [districts.<name>])"),
    (r"\(group_max_new, group_max_closed\)",
     f"(max_open, max_close of [districts.<name>]{_POLICY_NOTE})"),
    (r"\(max_new, max_closed\)", "(planning.max_open, planning.max_close)"),
    (r"\(opt_tag, tag_max\)", "(planning.max_upgrade, planning.max_convert)"),
    (r"\(site_locked, site_forbidden\)", "(--lock, --forbid)"),
    (r"\(budget\)", "(planning.budget_cny)"),
    (r"\braise the budget\b", "raise planning.budget_cny"),
    (r"\bgroup_min_sites\b", "min_outlets of [districts.<name>]"),
    (r"\bgroup_max_sites\b", "max_outlets of [districts.<name>]"),
    (r"\bgroup_max_new\b", f"max_open of [districts.<name>]{_POLICY_NOTE}"),
    (r"\bgroup_max_closed\b", f"max_close of [districts.<name>]{_POLICY_NOTE}"),
    (r"\bmax_new\b", "planning.max_open"),
    (r"\bmax_closed\b", "planning.max_close"),
    (r"\bmin_share_outside\b", "planning.min_share_outside_ring"),
    (r"\bthe group\b", "the district"),
)
"""Optimizer parameter names → the scenario keys / CLI options that set them."""


def explain_infeasible(exc: InfeasibleError, model: Model) -> InfeasibleError:
    """The optimizer's infeasibility message in the planner's terms.

    Group and site numbers become district adcodes and site ids; the optimizer's parameter
    names become the scenario keys and CLI options that set them. ``family`` is kept.
    """
    import re

    text = str(exc)
    groups, ids = model.groups, model.sites.site_id

    def district(m: re.Match[str]) -> str:
        g = int(m.group(1))
        return f"district {groups[g]}" if 0 <= g < len(groups) else m.group(0)

    def site(m: re.Match[str]) -> str:
        j = int(m.group(1))
        return f"site {ids[j]!r}" if 0 <= j < len(ids) else m.group(0)

    text = re.sub(r"\bgroup (\d+)", district, text)
    text = re.sub(r"\bsite (\d+)", site, text)
    for pattern, words in _SCENARIO_TERMS:
        text = re.sub(pattern, words, text)
    family = exc.family or "unknown"
    return InfeasibleError(
        f"no plan satisfies the scenario (constraint family '{family}'): {text}", exc.family
    )


def before_assignment(model: Model, scenario: Scenario) -> kpi.Assignment:
    """The current network's assignment under the diagnosis rule (nearest, then spill)."""
    s = model.sites
    room = np.where(
        s.existing,
        throughput_per_h(
            np.maximum(s.counters, 1),
            np.maximum(s.terminals, 1),
            scenario=scenario,
            utilisation=SATURATION_UTILISATION,
        ),
        0.0,
    )
    return kpi.assign_nearest_with_spill(
        _existing_only(model.dist_m, s.existing), model.zone_arrivals, room
    )


def _existing_only(dist: sp.csr_array, mask: NDArray[np.bool_]) -> sp.csr_array:
    coo = dist.tocoo()
    keep = mask[coo.col]
    out = sp.csr_array((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=dist.shape)
    out.sort_indices()
    return out

