"""Fit a scenario to a queue log under the behaviour model, and make logs of the network.

:func:`calibrate` takes the figures of a log (:func:`netplan.model.calibrate.fit_log`) and a
study and returns a scenario whose demand, service and patience reproduce the log:

- ``peak_hour_share``, ``smart_share``, the service minutes of both channels and
  ``patience_min`` are the log's own figures;
- arrivals identify ``customer_share x visits_per_customer_per_year / business_days``
  only: the scenario's visit rate and business days are kept and ``customer_share`` is
  fitted so that the outlets' business-day arrivals under the behaviour model
  (:func:`netplan.planning.evaluate.measure_study`, the scenario's rule; an outlet's
  modelled peak-hour load over the peak-hour share) add up to the observed ones. Under
  ``choice`` the catchments move with the load, so the fit is repeated until the totals
  agree to 0.1%. Outlets whose logs disagree with the model by more than ``tolerance``
  (ratio) are flagged and left out of the fit.

:func:`network_outlets` turns the modelled arrivals of the current network into the outlet
table of :func:`netplan.model.queuelog_gen.generate_channel_log` (the sample log).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from netplan._errors import LayerError
from netplan._types import FloatArray
from netplan.model.calibrate import LogFit
from netplan.model.queuelog_gen import KINDS
from netplan.model.scenario import Scenario, scenario_to_dict
from netplan.planning.evaluate import Measured, Network, measure_study, zone_points
from netplan.study.layers import Study

__all__ = ["Calibration", "calibrate", "calibrated_toml", "current_network", "network_outlets"]

#: Chance of each outlet kind by ring zone (office-heavy centre, residential fringe).
_KIND_BY_RING: dict[str, tuple[float, float, float, float]] = {  # office, resid, commut, mixed
    "inside_2": (0.45, 0.15, 0.20, 0.20),
    "2_3": (0.40, 0.20, 0.20, 0.20),
    "3_4": (0.25, 0.30, 0.25, 0.20),
    "4_5": (0.20, 0.35, 0.25, 0.20),
    "5_6": (0.10, 0.50, 0.20, 0.20),
    "outside_6": (0.05, 0.60, 0.15, 0.20),
}


def current_network(study: Study) -> Network:
    """The study's branches as a :class:`~netplan.planning.evaluate.Network`."""
    b = study.branches
    return Network(xy=zone_points(b), counters=b["counters"].to_numpy(dtype=np.int64),
                   terminals=b["terminals"].to_numpy(dtype=np.int64))


def network_outlets(study: Study, scenario: Scenario, *, year: int, seed: int = 0,
                    misfit_share: float = 0.02) -> pd.DataFrame:
    """The outlets of the current network with their modelled peak-hour arrivals.

    Each branch gets a kind drawn by its ring zone (:data:`_KIND_BY_RING`) and its
    peak-hour load under the scenario's behaviour rule. A share ``misfit_share`` of the
    outlets (seeded) gets 0.4x or 2.2x that load, planted disagreements that calibration
    must flag (column ``planted``).

    Parameters
    ----------
    study, scenario
        The layers and the scenario the arrivals are measured under.
    year
        Population year.
    seed
        Seed of the kinds and the planted disagreements.
    misfit_share
        Share of outlets given a planted disagreement, in [0, 0.5].

    Returns
    -------
    pandas.DataFrame
        ``outlet_id, kind, counters, terminals, arrivals_per_h, planted``.
    """
    if not 0 <= misfit_share <= 0.5:
        raise LayerError("outlets", [f"misfit_share must be in [0, 0.5], got {misfit_share!r}"])
    m = measure_study(study, scenario, current_network(study), year=year)
    b = study.branches
    rng = np.random.default_rng(seed)
    rings = b["ring_zone"].astype(str).to_numpy()
    kinds = np.asarray(list(KINDS))
    u = rng.random(len(b))
    kind = [kinds[int(np.searchsorted(np.cumsum(_KIND_BY_RING.get(r, (0.25,) * 4)), x))]
            for r, x in zip(rings, u, strict=True)]
    factor = np.ones(len(b))
    planted = rng.random(len(b)) < misfit_share
    factor[planted] = np.where(rng.random(int(planted.sum())) < 0.5, 0.4, 2.2)
    return pd.DataFrame({
        "outlet_id": b["branch_id"].astype(str).to_numpy(),
        "kind": kind,
        "counters": b["counters"].to_numpy(dtype=np.int64),
        "terminals": b["terminals"].to_numpy(dtype=np.int64),
        "arrivals_per_h": np.round(m.load * factor, 3),
        "planted": planted,
    })


@dataclass(frozen=True)
class Calibration:
    """A scenario fitted to a queue log, with the fit per outlet.

    Attributes
    ----------
    scenario : Scenario
        The fitted scenario.
    sources : dict
        ``"table.key"`` -> where its value came from, for every fitted value.
    outlets : pandas.DataFrame
        Per outlet of the log: ``outlet_id, portrait, observed_per_day, modelled_per_day,
        ratio, observed_peak_wait_min, modelled_peak_wait_min, flag``.
    summary : dict
        Error measures, flags, fit iterations, the rule, the population year.
    """

    scenario: Scenario
    sources: dict[str, str]
    outlets: pd.DataFrame
    summary: dict[str, Any]


def _fixed_values(fit: LogFit, scenario: Scenario) -> tuple[dict[str, Any], dict[str, str]]:
    """Scenario fields measured straight from the log, and where each came from."""
    w = f"{fit.window[0]}..{fit.window[1]}"
    values: dict[str, Any] = {"peak_hour_share": fit.peak_hour_share}
    sources = {"demand.peak_hour_share":
               f"queue log {w}: busiest weekday hour's share, weighted over outlets"}
    if fit.smart_share is not None:
        values["smart_share"] = fit.smart_share
        sources["demand.smart_share"] = f"queue log {w}: terminal_arrivals / arrivals"
    for ch in ("counter", "terminal"):
        sf = getattr(fit, f"{ch}_service")
        if sf is not None:
            values[f"{ch}_service_min"] = sf.mean_min
            how = ("served tickets, CV from their own times" if sf.exact
                   else "hourly means weighted by customers")
            sources[f"service.{ch}_service_min"] = (
                f"queue log {w}: mean of {sf.hours} {how} "
                f"(service-time CV {sf.cv:.2f}; 1 = exponential)")
    if fit.patience_min is not None:
        values["patience_min"] = min(max(fit.patience_min, 1.0), 10_080.0)
        sources["behaviour.patience_min"] = (
            f"queue log {w}: sum(arrivals x wait) / customers who gave up (Erlang A)")
    return values, sources


def _model_per_day(m: Measured, rows: np.ndarray, peak_share: float) -> FloatArray:
    return np.asarray(m.load[rows] / peak_share, dtype=np.float64)


# long: the fixed-point fit and the per-outlet report, one step per block
def calibrate(fit: LogFit, study: Study, scenario: Scenario, *, year: int | None = None,
              tolerance: float = 1.5, max_iter: int = 8) -> Calibration:
    """Fit ``scenario`` to a queue log's figures under the behaviour model.

    Parameters
    ----------
    fit
        :func:`netplan.model.calibrate.fit_log` of the log.
    study
        The layers whose branches the log's outlet ids name.
    scenario
        The starting scenario (rule, visit rate, business days, travel are kept).
    year
        Population year (default the scenario's base year).
    tolerance
        An outlet is flagged when observed / modelled arrivals is above ``tolerance`` or
        below its inverse (> 1).
    max_iter
        Fits of the customer share at most.

    Returns
    -------
    Calibration

    Raises
    ------
    LayerError
        No outlet of the log is a branch of the study.
    """
    yr = scenario.base_year if year is None else year
    branch_ids = study.branches["branch_id"].astype(str).to_numpy()
    pos = {b: i for i, b in enumerate(branch_ids)}
    log_ids = np.asarray(fit.outlet_ids, dtype=object)
    known = np.array([i in pos for i in fit.outlet_ids], dtype=bool)
    if not known.any():
        raise LayerError("queue_log", [
            f"none of the log's {len(log_ids)} outlet ids is a branch of the study (e.g. "
            f"{', '.join(map(str, log_ids[:3]))}); use the study the log was recorded for"])
    rows = np.array([pos[i] for i in log_ids[known]], dtype=np.int64)
    observed = fit.business_day[known]
    values, sources = _fixed_values(fit, scenario)
    sc = scenario.replace(name=f"{scenario.name}-calibrated", **values)
    net = current_network(study)
    use = np.ones(len(rows), dtype=bool)
    history: list[float] = []
    m = measure_study(study, sc, net, year=yr)
    for _ in range(max_iter):
        modelled = _model_per_day(m, rows, sc.peak_hour_share)
        ratio = float(observed[use].sum() / max(modelled[use].sum(), 1e-12))
        history.append(round(ratio, 5))
        share = min(sc.customer_share * ratio, 1.0)
        sc = sc.replace(customer_share=round(share, 6))
        m = measure_study(study, sc, net, year=yr)
        modelled = _model_per_day(m, rows, sc.peak_hour_share)
        r = observed / np.maximum(modelled, 1e-12)
        use = (r <= tolerance) & (r >= 1 / tolerance)
        if abs(ratio - 1) < 1e-3 or not use.any():
            break
    sources["demand.customer_share"] = (
        f"fitted: outlets' business-day arrivals under rule {m.behaviour.rule!r} match the "
        f"log's ({int(use.sum())} of {len(rows)} outlets within x{tolerance:g}); only "
        "customer_share x visits / business days is identified, the last two are kept")
    table = _outlet_fit(fit, known, rows, observed, m, sc, tolerance)
    summary = _summary(table, fit, history, m.behaviour.rule, yr, int((~known).sum()))
    return Calibration(scenario=sc, sources=sources, outlets=table, summary=summary)


def _outlet_fit(fit: LogFit, known: np.ndarray, rows: np.ndarray, observed: FloatArray,
                m: Measured, sc: Scenario, tolerance: float) -> pd.DataFrame:
    """Observed against modelled arrivals and peak-hour waits, per outlet of the log."""
    modelled = _model_per_day(m, rows, sc.peak_hour_share)
    ratio = observed / np.maximum(modelled, 1e-12)
    wait_model = m.evaluation.counter_wait_min[rows]
    flag = np.where(ratio > tolerance, "log busier than the model",
                    np.where(ratio < 1 / tolerance, "log quieter than the model", ""))
    t = pd.DataFrame({
        "outlet_id": np.asarray(fit.outlet_ids, dtype=object)[known],
        "portrait": np.asarray(fit.portrait, dtype=object)[known],
        "observed_per_day": np.round(observed, 2),
        "modelled_per_day": np.round(modelled, 2),
        "ratio": np.round(ratio, 4),
        "observed_peak_wait_min": np.round(fit.peak_wait_min[known], 2),
        "modelled_peak_wait_min": np.round(wait_model, 2),
        "flag": flag,
    })
    unknown = ~known
    if unknown.any():
        extra = pd.DataFrame({
            "outlet_id": np.asarray(fit.outlet_ids, dtype=object)[unknown],
            "portrait": np.asarray(fit.portrait, dtype=object)[unknown],
            "observed_per_day": np.round(fit.business_day[unknown], 2),
            "modelled_per_day": np.nan, "ratio": np.nan,
            "observed_peak_wait_min": np.round(fit.peak_wait_min[unknown], 2),
            "modelled_peak_wait_min": np.nan, "flag": "not a branch of the study",
        })
        t = pd.concat([t, extra], ignore_index=True)
    return t


def _summary(t: pd.DataFrame, fit: LogFit, history: list[float], rule: str, year: int,
             unknown: int) -> dict[str, Any]:
    ok = t["ratio"].notna()
    obs, mod = t.loc[ok, "observed_per_day"], t.loc[ok, "modelled_per_day"]
    fine = ok & (t["flag"] == "")
    wo, wm = t.loc[fine, "observed_peak_wait_min"], t.loc[fine, "modelled_peak_wait_min"]
    flagged = t[t["flag"] != ""]
    return {
        "rule": rule,
        "population_year": year,
        "window": list(fit.window),
        "outlets_in_log": len(fit.outlet_ids),
        "outlets_not_in_study": unknown,
        "fit_ratios": history,
        "arrivals_wape": round(float((obs - mod).abs().sum() / max(obs.sum(), 1e-12)), 4),
        "arrivals_median_abs_log_ratio": round(float(np.median(np.abs(np.log(
            np.maximum(t.loc[ok, "ratio"].to_numpy(float), 1e-12))))), 4) if ok.any() else None,
        "peak_wait_mae_min": round(float((wo - wm).abs().mean()), 3) if fine.any() else None,
        "flagged": len(flagged),
        "flagged_examples": flagged["outlet_id"].head(10).astype(str).tolist(),
        "portraits": list(fit.portraits),
        "peak_hour_share": fit.peak_hour_share,
        "weekday_equivalent_days": fit.weekday_equivalent_days,
        "by_year": list(fit.by_year),
    }


def _toml_value(v: Any) -> str:
    if v is None:
        return '"none"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else '"none"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(x)}"
                               for k, x in v.items()) + "}"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string


def _toml_key(k: str) -> str:
    bare = k.replace("_", "").replace("-", "").isascii() and k.replace("_", "").replace(
        "-", "").isalnum()
    return k if bare else json.dumps(k, ensure_ascii=False)


def calibrated_toml(cal: Calibration, *, log_name: str) -> str:
    """The fitted scenario as a scenario TOML file, each fitted value commented.

    Parameters
    ----------
    cal
        The calibration.
    log_name
        The log's file name (for the header; data, written as a TOML comment line only
        after its line breaks are removed).

    Returns
    -------
    str
        TOML that :func:`netplan.model.scenario.load_scenario` reads back to the scenario.
    """
    d = scenario_to_dict(cal.scenario)
    d.pop("source", None)
    safe_name = " ".join(log_name.split())
    lines = [f"# netplan scenario calibrated from the queue log {safe_name}",
             f"# by `netplan calibrate` under the behaviour rule {cal.summary['rule']!r}; "
             "values without a comment are the starting scenario's.", "",
             f"name = {_toml_value(d.pop('name'))}",
             f"description = {_toml_value(d.pop('description'))}", ""]
    nested = {k: d.pop(k) for k in ("formats", "districts")}
    for section, table in d.items():
        lines.append(f"[{_toml_key(section)}]")
        for key, value in table.items():
            note = cal.sources.get(f"{section}.{key}")
            comment = f"  # {' '.join(note.split())}" if note else ""
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}{comment}")
        lines.append("")
    for section, tables in nested.items():
        if not tables:
            lines.extend([f"[{section}]", ""])
        for name, table in tables.items():
            lines.append(f"[{section}.{_toml_key(name)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items())
            lines.append("")
    return "\n".join(lines)
