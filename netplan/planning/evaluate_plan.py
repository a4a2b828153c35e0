"""Re-evaluate a plan folder, perhaps with an ``actions.csv`` a person edited by hand.

The networks are rebuilt from the study and the folder: the zones and the demand year of
the plan (its ``zones_kpi`` layer and ``kpis.json``), the scenario echoed in ``kpis.json``,
and one network per side:

* *before*: the outlets the plan decided on (``actions.csv``) and those it kept as they
  were around its district (``sites_after`` rows out of scope), with their servers today;
* *after*: the same, each row of ``actions.csv`` applied: ``keep`` the outlet as it is,
  ``close`` it, ``open`` the candidate in ``format_after``, ``upgrade``/``convert`` the
  outlet to ``format_after``, ``relocate`` it (the outlet closes, ``relocation_target``
  opens in the outlet's ``format_before``), ``staff`` it (its own servers plus the
  ``staffed_counters`` column's counters staffed in the peak hours).

Both are measured by :func:`netplan.planning.evaluate.measure` under the scenario's
behaviour rule (or another one), exactly as the plan measured them, so an unchanged
folder gives back its ``kpis.json`` behaviour figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from netplan._errors import NetplanError
from netplan._io import PLAN_FOLDER
from netplan.model.behaviour import behaviour_of
from netplan.model.scenario import Scenario, scenario_from_dict
from netplan.planning import actions
from netplan.planning.contract import OverCapacity, ServiceKpis
from netplan.planning.evaluate import (
    SERVICE_KEYS,
    Measured,
    Network,
    change_pct,
    measure,
    study_zones,
    zone_points,
)
from netplan.planning.plan import read_plan
from netplan.study.layers import Study

__all__ = ["PlanEvaluation", "evaluate_plan"]

_COLUMNS: tuple[str, ...] = ("site_id", "action", "format_before", "format_after",
                             "relocation_target")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class PlanEvaluation:
    """A plan folder's networks before and after, measured under one behaviour rule.

    Attributes
    ----------
    scope : str
        ``"city"`` or the planned district's adcode.
    year : int
        Demand year.
    target_wait_min, patience_min : float
        The scenario's waiting target and the customers' mean patience.
    before, after : ServiceKpis
        The bank's service figures of the two networks.
    over_capacity : list of OverCapacity
        Outlets above their capacity at the target after the plan.
    """

    scope: str
    year: int
    target_wait_min: float
    patience_min: float
    before: ServiceKpis
    after: ServiceKpis
    over_capacity: list[OverCapacity]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the headline keys of *after*, then ``before`` and ``after`` in full."""
        return {
            **{k: self.after[k] for k in SERVICE_KEYS},  # type: ignore[literal-required]
            "scope": self.scope,
            "year": self.year,
            "change_pct": change_pct(self.before, self.after),
            "holds": not self.over_capacity,
            "over_capacity": self.over_capacity,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class _Sites:
    """Every outlet and candidate of the study, outlets first (the planner's order)."""

    ids: NDArray[Any]
    existing: NDArray[np.bool_]
    adcode: NDArray[Any]
    xy: NDArray[np.float64]
    counters: NDArray[np.int64]
    terminals: NDArray[np.int64]
    index: dict[str, int]


def _study_sites(study: Study) -> _Sites:
    b, c = study.branches, study.candidates
    ids = np.concatenate([b["branch_id"].astype(str).to_numpy(),
                          c["candidate_id"].astype(str).to_numpy()]).astype(object)
    return _Sites(
        ids=ids,
        existing=np.concatenate([np.ones(len(b), bool), np.zeros(len(c), bool)]),
        adcode=np.concatenate([b["adcode"].to_numpy(dtype=object),
                               c["adcode"].to_numpy(dtype=object)]).astype(object),
        xy=np.vstack([zone_points(b), zone_points(c)]),
        counters=np.concatenate([b["counters"].to_numpy(np.int64), np.zeros(len(c), np.int64)]),
        terminals=np.concatenate([b["terminals"].to_numpy(np.int64),
                                  np.zeros(len(c), np.int64)]),
        index={str(s): k for k, s in enumerate(ids)},
    )


def _cell(v: object) -> str:
    """A text cell as the plan wrote it (the apostrophe before a formula-like text removed)."""
    s = "" if v is None else str(v).strip()
    return s[1:] if s.startswith("'") and s[1:].startswith(_FORMULA_START) else s


def _read_actions(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise NetplanError(f"{path} is missing; a plan folder holds the actions.csv that "
                           "`netplan plan` wrote")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise NetplanError(f"{path} is not a readable CSV file ({exc}); save it as UTF-8 "
                           "CSV with the columns netplan wrote") from None
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise NetplanError(f"{path} lacks the column(s) {', '.join(missing)}; keep the columns "
                           "netplan wrote and edit only the action cells")
    return df


def _servers(fmt: str, scenario: Scenario) -> tuple[int, int] | None:
    f = scenario.formats.get(fmt)
    return None if f is None else (f.counters, f.terminals)


# long: one branch per action name, each with its own checks
def _apply(df: pd.DataFrame, sites: _Sites, scenario: Scenario, after: dict[int, tuple[int, int]],
           where: str) -> list[str]:
    """Set the servers after the plan of every row's sites; return the problems found."""
    problems: list[str] = []
    known = ", ".join(actions.ACTION_NAMES)
    seen: dict[str, int] = {}
    for k, row in enumerate(df.to_dict("records")):
        line = f"{where} row {k + 1} (line {k + 2})"
        sid, act = _cell(row["site_id"]), _cell(row["action"])
        j = sites.index.get(sid)
        if sid in seen:
            problems.append(f"{line}: site id {sid!r} has a row already (row {seen[sid]}); "
                            "give each site one row")
            continue
        seen[sid] = k + 1
        if j is None:
            problems.append(f"{line}: site id {sid!r} is not an outlet or candidate of the "
                            "study; use the ids netplan wrote (or --data with the plan's study)")
            continue
        if act not in actions.ACTION_NAMES:
            problems.append(f"{line}: unknown action {act!r} for {sid}; use one of {known}")
            continue
        if (act == "open") == bool(sites.existing[j]):
            what = "a candidate" if act == "open" else "an existing outlet"
            problems.append(f"{line}: {act} needs {what}, {sid} is not one")
            continue
        if act == "keep":
            after[j] = (int(sites.counters[j]), int(sites.terminals[j]))
        elif act == "staff":  # its own servers and the counters staffed at peak
            extra = _cell(row.get("staffed_counters"))
            if not extra.isdigit() or int(extra) < 1:
                problems.append(f"{line}: staff needs staffed_counters >= 1 for {sid}, got "
                                f"{extra!r}")
            else:
                after[j] = (int(sites.counters[j]) + int(extra), int(sites.terminals[j]))
        elif act == "close":
            after[j] = (0, 0)
        elif act == "relocate":
            target = _cell(row["relocation_target"])
            t = sites.index.get(target)
            srv = _servers(_cell(row["format_before"]), scenario)
            if t is None or sites.existing[t]:
                problems.append(f"{line}: relocation target {target!r} of {sid} is not a "
                                "candidate site of the study")
            elif srv is None:
                problems.append(f"{line}: format_before {_cell(row['format_before'])!r} of "
                                f"{sid} is not a format of the scenario")
            else:
                after[j], after[t] = (0, 0), srv
        else:
            fmt = _cell(row["format_after"])
            srv = _servers(fmt, scenario)
            if srv is None:
                problems.append(f"{line}: format_after {fmt!r} of {sid} is not a format of the "
                                f"scenario ({', '.join(scenario.formats)})")
            else:
                after[j] = srv
    return problems


def _report(problems: list[str], path: Path) -> None:
    if not problems:
        return
    shown = problems[:10]
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    raise NetplanError(f"{path} has {len(problems)} problem(s):\n"
                       + "\n".join(f"  - {p}" for p in shown) + more
                       + "\nFix the rows (or rewrite the folder with `netplan plan`); "
                         "nothing was written")


def _zone_index(study: Study, zone_ids: Any, folder: Path) -> NDArray[np.int64]:
    pos = {str(z): k for k, z in enumerate(study.zones["zone_id"].astype(str))}
    ids = [str(z) for z in zone_ids]
    unknown = [z for z in ids if z not in pos]
    if unknown:
        raise NetplanError(f"{folder}: {len(unknown)} zone(s) of the plan are not in the study "
                           f"(e.g. {', '.join(unknown[:10])}); pass the plan's study with --data")
    return np.asarray([pos[z] for z in ids], dtype=np.int64)


def evaluate_plan(folder: Path, study: Study, *, rule: str | None = None) -> PlanEvaluation:
    """Measure a plan folder's before and after networks (see the module docstring).

    Parameters
    ----------
    folder : Path
        A folder ``netplan plan`` wrote; its ``actions.csv`` may have been edited.
    study : Study
        The study the plan was made with (metric CRS, labelled).
    rule : str, optional
        A behaviour rule other than the plan scenario's (``nearest`` or ``choice``).

    Returns
    -------
    PlanEvaluation

    Raises
    ------
    NetplanError
        The folder is not a plan folder, or ``actions.csv`` has unknown actions, site ids,
        relocation targets or formats (every row named), or the study lacks the plan's
        zones.
    """
    folder = Path(folder)
    plan = read_plan(folder)
    scenario = scenario_from_dict(dict(plan.kpis["scenario"]), source=str(folder))
    sites = _study_sites(study)
    df = _read_actions(folder / PLAN_FOLDER.actions)
    after: dict[int, tuple[int, int]] = {}
    problems = _apply(df, sites, scenario, after, PLAN_FOLDER.actions)
    kept = plan.sites_after[~plan.sites_after["in_scope"].astype(bool)]
    for sid, c, t in zip(kept["site_id"].astype(str), kept["counters"], kept["terminals"],
                         strict=True):
        j = sites.index.get(sid)
        if j is None:
            problems.append(f"sites_after: site id {sid!r} is not in the study; pass the "
                            "plan's study with --data")
        else:
            after[j] = (int(c), int(t))
    _report(problems, folder / PLAN_FOLDER.actions)
    rows = np.asarray(sorted(after), dtype=np.int64)
    before_net = Network(xy=sites.xy[rows], counters=sites.counters[rows],
                         terminals=sites.terminals[rows])
    after_net = Network(xy=sites.xy[rows],
                        counters=np.asarray([after[j][0] for j in rows], np.int64),
                        terminals=np.asarray([after[j][1] for j in rows], np.int64))
    scope, year = str(plan.kpis["scope"]), int(plan.kpis["year"])
    zxy, _, arrivals = study_zones(study, scenario, year=year)
    zi = _zone_index(study, plan.zones_kpi["zone_id"], folder)
    mask = zmask = None
    if scope != "city":
        mask = np.asarray(sites.adcode[rows].astype(str) == scope)
        zmask = np.asarray(study.zones["adcode"].astype(str).to_numpy()[zi] == scope)
    beh = behaviour_of(scenario, rule=rule)
    b, a = (measure(zone_xy=zxy[zi], zone_arrivals=arrivals[zi], network=net,
                    scenario=scenario, behaviour=beh, site_mask=mask, zone_mask=zmask)
            for net in (before_net, after_net))
    return PlanEvaluation(scope=scope, year=year, target_wait_min=scenario.target_wait_min,
                          patience_min=beh.patience_min, before=b.service, after=a.service,
                          over_capacity=_over(a, sites.ids[rows], mask))


def _over(m: Measured, ids: NDArray[Any], mask: NDArray[np.bool_] | None) -> list[OverCapacity]:
    scope = np.ones(len(ids), bool) if mask is None else mask
    over = np.flatnonzero(scope & (m.capacity > 0) & (m.load > m.capacity * (1 + 1e-9)))
    return [{"site_id": str(ids[j]), "load_per_h": round(float(m.load[j]), 2),
             "capacity_per_h": round(float(m.capacity[j]), 2), "reason": None} for j in over]
