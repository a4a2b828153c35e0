"""Checks before solving: the obvious infeasibilities, reported with their numbers.

Each check reads the problem's arrays only (no model, no solver) and raises
:class:`~netplan._errors.InfeasibleError` naming the constraint family at fault, so the
common mistakes get a precise message at once instead of a solver's diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netplan._errors import InfeasibleError
from netplan._types import BoolArray, IntArray
from netplan.optimize.problem import FacilityProblem, block_capacity


@dataclass(frozen=True, eq=False)
class _Sites:
    """What every check needs to know about the sites."""

    has_opt: BoolArray
    openable: BoolArray  # has an option and is not forbidden
    forced_closed: BoolArray  # existing but cannot open
    n_rows_per_zone: IntArray
    must: BoolArray  # zones that must be served


def _more(n: int, what: str) -> str:
    """``what`` with the number of further cases, when there are any."""
    return what.format(n - 1) if n > 1 else ""


def _precheck(p: FacilityProblem) -> None:
    """Raise :class:`InfeasibleError` for the infeasibilities visible in the data."""
    has_opt = np.bincount(p.opt_site, minlength=p.n_sites) > 0
    openable = has_opt & ~p.site_forbidden
    s = _Sites(has_opt=has_opt, openable=openable,
               forced_closed=p.site_existing & ~openable,
               n_rows_per_zone=np.diff(p.cost.indptr), must=np.isposinf(p.unserved_cost))
    _check_site_status(p, s)
    _check_reachable(p, s)
    _check_n_sites(p, s)
    for g in range(p.n_groups):
        _check_group(p, s, g)
    _check_changes(p, s)
    _check_budget(p)
    _check_outside(p, s)
    if s.must.any():
        _check_capacity(p, s)


def _check_site_status(p: FacilityProblem, s: _Sites) -> None:
    fam = "site_status"
    both = p.site_locked & p.site_forbidden
    if both.any():
        j = np.flatnonzero(both)
        raise InfeasibleError(
            f"site {j[0]} is both locked (must open) and forbidden (must not open)"
            f"{_more(j.size, ' (and {} more such sites)')}; "
            "unlock or un-forbid it.", fam)
    lno = p.site_locked & ~s.has_opt
    if lno.any():
        j = np.flatnonzero(lno)
        raise InfeasibleError(
            f"site {j[0]} is locked (must open) but has no option to run"
            f"{_more(j.size, ' (and {} more such sites)')}; add an option "
            "for it (opt_site) or unlock it.", fam)


def _check_reachable(p: FacilityProblem, s: _Sites) -> None:
    lonely = s.must & (s.n_rows_per_zone == 0)
    if lonely.any():
        i = np.flatnonzero(lonely)
        raise InfeasibleError(
            f"zone {i[0]} has no allowed site (no stored entry in its row of cost) and may not "
            f"be left unserved (unserved_cost = inf)"
            f"{_more(i.size, '; {} more zones are in the same case')}. Allow "
            "more sites for it (a larger radius or k) or give it a finite unserved_cost.",
            "unserved")


def _check_n_sites(p: FacilityProblem, s: _Sites) -> None:
    if p.n_sites_exact is None:
        return
    n_open_max = int(s.openable.sum())
    n_locked = int(p.site_locked.sum())
    if p.n_sites_exact > n_open_max:
        raise InfeasibleError(
            f"n_sites_exact = {p.n_sites_exact} sites must open but only {n_open_max} of "
            f"the {p.n_sites} sites can open (not forbidden, with an option); lower "
            "n_sites_exact or allow more sites.", "n_sites_exact")
    if p.n_sites_exact < n_locked:
        raise InfeasibleError(
            f"n_sites_exact = {p.n_sites_exact} but {n_locked} sites are locked open; raise "
            "n_sites_exact or unlock sites.", "n_sites_exact")


def _check_group(p: FacilityProblem, s: _Sites, g: int) -> None:
    in_g = p.site_group == g
    locked, existing = p.site_locked, p.site_existing
    n_g, open_g, lock_g = int(in_g.sum()), int((in_g & s.openable).sum()), int(
        (in_g & locked).sum())
    gmin, gmax = int(p.group_min_sites[g]), int(p.group_max_sites[g])
    if gmin > open_g:
        raise InfeasibleError(
            f"group {g} needs at least {gmin} open sites but only {open_g} of its {n_g} "
            "sites can open (not forbidden, with an option); lower group_min_sites or add "
            "candidate sites to the group.", "group_sites")
    if 0 <= gmax < lock_g:
        raise InfeasibleError(
            f"group {g} allows at most {gmax} open sites but {lock_g} of its sites are "
            "locked open; raise group_max_sites or unlock sites.", "group_sites")
    gnew = int(p.group_max_new[g])
    lock_new = int((in_g & locked & ~existing).sum())
    if 0 <= gnew < lock_new:
        raise InfeasibleError(
            f"group {g} allows at most {gnew} new sites but {lock_new} new sites in it are "
            "locked open; raise group_max_new or unlock them.", "group_changes")
    gcl = int(p.group_max_closed[g])
    fc = int((in_g & s.forced_closed).sum())
    if 0 <= gcl < fc:
        raise InfeasibleError(
            f"group {g} allows at most {gcl} closed sites but {fc} existing sites in it "
            "must close (forbidden or without an option); raise group_max_closed.",
            "group_changes")


def _check_changes(p: FacilityProblem, s: _Sites) -> None:
    lock_new = int((p.site_locked & ~p.site_existing).sum())
    if p.max_new is not None and p.max_new < lock_new:
        raise InfeasibleError(
            f"max_new = {p.max_new} but {lock_new} new sites are locked open; raise max_new or "
            "unlock them.", "max_changes")
    fc = int(s.forced_closed.sum())
    if p.max_closed is not None and p.max_closed < fc:
        raise InfeasibleError(
            f"max_closed = {p.max_closed} but {fc} existing sites must close (forbidden or "
            "without an option); raise max_closed.", "max_changes")


def _check_budget(p: FacilityProblem) -> None:
    """The cheapest spend per site, ignoring all other constraints, with every relocation
    saving all it can, must fit the budget."""
    if p.budget is None:
        return
    big = np.full(p.n_sites, np.inf)
    np.minimum.at(big, p.opt_site, p.opt_oneoff)
    close = np.where(p.site_existing, p.site_close_oneoff, 0.0)
    none_ok = ~p.site_locked
    site_min = np.where(none_ok, np.minimum(big, close), big)
    site_min = np.where(p.site_forbidden, close, site_min)
    lower = float(site_min.sum() - np.clip(p.reloc_saving_oneoff, 0, None).sum())
    if lower > p.budget + 1e-9 * max(1.0, abs(p.budget)):
        raise InfeasibleError(
            f"the budget is {p.budget:,.6g} but even the cheapest choice at every site "
            f"(locked sites open, forbidden sites closed) spends {lower:,.6g}; raise the "
            "budget or relax locked/forbidden sites.", "budget")


def _check_outside(p: FacilityProblem, s: _Sites) -> None:
    if p.min_share_outside is None or p.min_share_outside <= 0:
        return
    n_out = int((s.openable & p.site_outside).sum())
    must_open = int(p.site_locked.sum()) > 0 or (p.n_sites_exact or 0) > 0 or bool(
        (p.group_min_sites > 0).any())
    if n_out == 0 and must_open:
        raise InfeasibleError(
            f"min_share_outside = {p.min_share_outside:.1%} but no site outside the 5th "
            "ring can open while some sites must open; add outside candidates or lower "
            "min_share_outside.", "min_share_outside")


def _check_capacity(p: FacilityProblem, s: _Sites) -> None:
    """Zones that must be served fit in the largest capacity they can reach (single
    sourcing) and, together, in all the capacity there is."""
    must = s.must
    demand_must = float(p.demand[must].sum())
    best_cap = np.full(p.n_sites, 0.0)
    np.maximum.at(best_cap, p.opt_site, p.opt_capacity)
    if p.n_blocks > 1:  # each block must fit on its own (block_capacity: the largest)
        demand_must = float(np.bincount(p.zone_block[must], weights=p.demand[must]).max(
            initial=0.0))
        np.maximum.at(best_cap, p.opt_site, block_capacity(p).max(axis=0))
    if p.single_source:
        zi = np.repeat(np.arange(p.n_zones), s.n_rows_per_zone)
        zone_cap = np.zeros(p.n_zones)
        np.maximum.at(zone_cap, zi, np.where(s.openable, best_cap, 0.0)[p.cost.indices])
        short = must & (p.demand > zone_cap * (1 + 1e-12))
        if short.any():
            i = np.flatnonzero(short)
            raise InfeasibleError(
                f"zone {i[0]} has demand {p.demand[i[0]]:,.6g} but with single sourcing the "
                f"largest capacity among its allowed sites is {zone_cap[i[0]]:,.6g}"
                f"{_more(i.size, '; {} more zones are in the same case')}"
                ". Allow split sourcing, larger formats, or a finite unserved_cost.",
                "unserved")
    total_cap = float(best_cap[s.openable].sum())
    if demand_must > total_cap * (1 + 1e-9):
        raise InfeasibleError(
            f"zones that must be served (unserved_cost = inf) have demand {demand_must:,.6g}"
            f" but all sites together offer at most {total_cap:,.6g}; give those zones a "
            "finite unserved_cost or add capacity.", "unserved")
