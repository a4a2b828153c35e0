"""A sweep's folder: a plan (or its KPIs) per point, the summary, the trade-off page and curve.

:func:`write_sweep_folder` writes, atomically (one rename, one manifest)::

    points/<label>/         each point's plan folder (netplan.present.folder), or only its
                            kpis.json with ``kpis_only``
    summary.csv             one row per point (netplan.planning.sweep.summary_frame)
    summary.parquet         the same table
    sweep.html              the trade-off curves: cost against each service figure, the
                            first varied key against each; efficient points marked; a click
                            on a point opens its plan's map
    sweep.png               the main curve (yearly cost against counter wait), for documents
    run.json                timings and workers (the only file that differs between runs)

The page is fixed markup and one script of netplan's own; the sweep's figures and labels
enter it only as the JSON block of :func:`netplan.present.page.script_json` and as
escaped text, and the script writes them with ``textContent`` only.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from netplan._io import PLAN_FOLDER, atomic_write_bytes, atomic_write_text, staged_folder
from netplan.planning.sweep import SUMMARY_KPIS, SweepResult, summary_frame
from netplan.present.page import document, script_json
from netplan.present.texts import behaviour_caption, esc, finite

if TYPE_CHECKING:
    from netplan.study.layers import Study

__all__ = ["SWEEP_FILES", "sweep_caption", "sweep_curve_png", "sweep_page", "write_sweep_folder"]

#: The files of a sweep folder besides ``points/``.
SWEEP_FILES: dict[str, str] = {
    "csv": "summary.csv", "parquet": "summary.parquet", "page": "sweep.html",
    "png": "sweep.png", "run": "run.json", "points": "points",
}

#: What each figure of the summary is called on the page and in the PNG.
LABELS: dict[str, str] = {
    "cost_cny_per_year": "Yearly cost after the plan (M CNY: operating + one-off / amortisation)",
    "counter_mean_wait_min": "Counter mean wait at peak (min)",
    "share_customers_wait_over_target": "Customers waiting over the target (%)",
    "unserved_arrivals_per_h": "Unserved customers per peak hour",
}
_SCALE: dict[str, float] = {"cost_cny_per_year": 1e-6, "share_customers_wait_over_target": 100.0}


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _payload(df: pd.DataFrame, result: SweepResult, *, kpis_only: bool) -> dict[str, Any]:
    keys = [a.key for a in result.axes]
    cols = ["point", *keys, "ok", "cost_cny_per_year", *(k for k, _ in SUMMARY_KPIS),
            "efficient", *(f"efficient_{k}" for k, _ in SUMMARY_KPIS)]
    rows = [[_jsonable(df.at[i, c]) if c in df else None for c in cols] for i in df.index]
    return {
        "columns": cols, "rows": rows, "axes": keys, "labels": LABELS, "scale": _SCALE,
        "kpis": [k for k, _ in SUMMARY_KPIS],
        "href": None if kpis_only else f"{SWEEP_FILES['points']}/{{point}}/{PLAN_FOLDER.map}",
    }


def sweep_caption(df: pd.DataFrame) -> str:
    rules = sorted({str(r) for r in df.get("rule", pd.Series(dtype=object)).dropna()})
    if len(rules) != 1:
        return "Service figures from the behaviour model; the rule differs between points."
    pat = df["patience_min"].dropna()
    return behaviour_caption(rules[0], pat.iloc[0] if len(pat) else None)


def _table(df: pd.DataFrame, result: SweepResult) -> str:
    keys = [a.key for a in result.axes]
    head = ["point", *keys, "status", "yearly cost (M CNY)", "counter wait (min)",
            "over target", "unserved /h", "efficient"]
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in df.to_dict("records"):
        cells: list[Any] = [row["point"], *(row[k] for k in keys)]
        if row["ok"]:
            cells += [row["solver_status"], f"{float(row['cost_cny_per_year']) / 1e6:,.2f}",
                      f"{float(row['counter_mean_wait_min']):.2f}",
                      f"{100 * float(row['share_customers_wait_over_target']):.1f} %",
                      f"{float(row['unserved_arrivals_per_h']):,.1f}",
                      "yes" if row["efficient"] else ""]
        else:
            cells += [f"failed: {row['error']}", None, None, None, None, ""]
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.charts{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;border:1px solid #ddd;padding:.5em}
figcaption{font-size:.85em;color:#444;max-width:420px}
svg text{font-size:11px;fill:#333}
circle.pt{cursor:pointer}
table{border-collapse:collapse;margin-top:1em;font-size:.9em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
.note{color:#555;font-size:.9em}
"""



def sweep_page(result: SweepResult, df: pd.DataFrame, *, kpis_only: bool) -> str:
    """The trade-off page of a sweep (fixed markup, data as one JSON block).

    Parameters
    ----------
    result
        The sweep.
    df
        Its :func:`~netplan.planning.sweep.summary_frame`.
    kpis_only
        No plan folders were written: points are not links.

    Returns
    -------
    str
        The HTML document; the same sweep gives the same bytes.
    """
    n_ok = int(df["ok"].sum())
    varied = ", ".join(a.key for a in result.axes)
    body = "".join((
        f"<h1>Sweep over {esc(varied)}</h1>",
        f"<p>{n_ok} of {len(df)} points planned",
        f"{'' if result.district is None else ', district ' + esc(result.district)}. "
        "Filled points are efficient: no other point is as cheap and at least as good on "
        "the figure; the line joins them. "
        f"{'' if kpis_only else 'Click a point to open its plan map.'}</p>",
        f"<p class=\"note\">{esc(sweep_caption(df))} Cost is the operating cost after the plan "
        "plus its one-off spend spread over the scenario's amortisation years.</p>",
        '<div id="charts" class="charts"></div>',
        _table(df, result),
        f'<script type="application/json" id="sweep-data">'
        f"{script_json(_payload(df, result, kpis_only=kpis_only))}</script>",
    ))
    script = resources.files("netplan.present").joinpath("templates", "sweep.js").read_text(
        encoding="utf-8")
    return document(title=f"netplan sweep: {varied}", css=_CSS, body_html=body, script=script)


def _point_label(point: str, value: Any) -> str:
    v = finite(value)
    if v is None:
        return point
    return f"{point} ({v / 1e6:,.4g} M)" if abs(v) >= 1e6 else f"{point} ({v:g})"


def sweep_curve_png(df: pd.DataFrame, axis: str | None = None) -> bytes:
    """The main trade-off curve as a PNG: yearly cost against the counter mean wait.

    Parameters
    ----------
    df
        A :func:`~netplan.planning.sweep.summary_frame`.
    axis
        The first varied key: each point is labelled with its value.

    Returns
    -------
    bytes
        PNG bytes (no timestamp: the same table gives the same bytes).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ok = df[df["ok"].astype(bool)].sort_values("cost_cny_per_year")
    x = ok["cost_cny_per_year"].to_numpy(np.float64) / 1e6
    y = ok["counter_mean_wait_min"].to_numpy(np.float64)
    eff = ok["efficient_counter_mean_wait_min"].to_numpy(bool)
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.add_subplot()
    ax.plot(x[eff], y[eff], "-", color="#1f77b4", label="efficient points")
    ax.scatter(x[eff], y[eff], color="#1f77b4", zorder=3)
    ax.scatter(x[~eff], y[~eff], facecolors="white", edgecolors="#1f77b4", zorder=3,
               label="dominated points")
    values = ok[axis] if axis is not None and axis in ok else [None] * len(ok)
    for xi, yi, lab, v in zip(x, y, ok["point"].astype(str), values, strict=True):
        ax.annotate(_point_label(lab, v), (xi, yi), textcoords="offset points", xytext=(4, 4),
                    fontsize=8)
    if axis is not None:
        ax.text(0.01, 0.01, f"points labelled with {axis}", transform=ax.transAxes, fontsize=7)
    ax.set_xlabel(LABELS["cost_cny_per_year"], fontsize=8)
    ax.set_ylabel(LABELS["counter_mean_wait_min"])
    ax.set_title(sweep_caption(df), fontsize=7, wrap=True)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _finite_tree(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float made ``None`` (JSON has neither)."""
    if isinstance(obj, dict):
        return {k: _finite_tree(v) for k, v in obj.items()}
    if isinstance(obj, float):
        return finite(obj)
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False, sort_keys=False) + "\n"


def write_sweep_folder(
    result: SweepResult,
    study: Study | None,
    out: str | os.PathLike[str],
    *,
    kpis_only: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write a sweep's folder atomically (see the module docstring): all of it, or none.

    Parameters
    ----------
    result
        A finished sweep.
    study
        The study (district names and outlines in each plan's map), or None.
    out
        The folder: new, empty, or a folder netplan wrote (its manifest vouches for it).
    kpis_only
        Write each point's ``kpis.json`` only, not its plan folder.
    progress
        Called with a short message before each stage.

    Returns
    -------
    Path
        ``out``.
    """
    from netplan.present.folder import write_plan_folder

    df = summary_frame(result)
    with staged_folder(out) as tmp:
        points = tmp / SWEEP_FILES["points"]
        points.mkdir()
        for run in result.runs:
            if run.plan is None:
                continue
            if progress:
                progress(f"writing point {run.label}")
            if kpis_only:
                (points / run.label).mkdir()
                atomic_write_text(points / run.label / PLAN_FOLDER.kpis, _dumps(run.plan.kpis))
            else:
                write_plan_folder(run.plan, study, points / run.label)
        df.to_csv(tmp / SWEEP_FILES["csv"], index=False, encoding="utf-8")
        df.to_parquet(tmp / SWEEP_FILES["parquet"], index=False)
        atomic_write_text(tmp / SWEEP_FILES["page"], sweep_page(result, df, kpis_only=kpis_only))
        first = result.axes[0].key if result.axes else None
        atomic_write_bytes(tmp / SWEEP_FILES["png"], sweep_curve_png(df, first))
        run_info = {**result.run,
                    "failed": {r.label: r.reason for r in result.runs if not r.ok}}
        atomic_write_text(tmp / SWEEP_FILES["run"], _dumps(_finite_tree(run_info)))
    return Path(out)
