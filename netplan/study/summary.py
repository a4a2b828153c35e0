"""What a study holds, per district and per ring zone: outlets, population, inflow.

:func:`summarize` returns plain JSON-ready numbers (the ``netplan summary`` command prints
them as tables or JSON): outlets (full-service, light, total, by format), the share
outside the 5th ring, census population 2010 and 2020, inflow (2020 - 2010) and
residents per outlet. District figures come from the districts layer (census totals);
ring-zone figures from the population zones (each zone counted in the ring zone of its
representative point).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from netplan.study.layers import Study, resolve_district

logger = logging.getLogger(__name__)


def _outlet_counts(branches: pd.DataFrame) -> dict[str, Any]:
    from netplan.study.geometry import OUTSIDE_RING5

    n = len(branches)
    fmt = branches["format"].astype(str)
    outside = int(branches["ring_zone"].isin(list(OUTSIDE_RING5)).sum())
    return {
        "outlets": n,
        "full_outlets": int((fmt == "full").sum()),
        "light_outlets": int((fmt == "light").sum()),
        "outlets_outside_ring5": outside,
        "share_outside_ring5": round(outside / n, 4) if n else None,
    }


def _population(pop_2010: int, pop_2020: int, outlets: int) -> dict[str, Any]:
    return {
        "population_2010": pop_2010,
        "population_2020": pop_2020,
        "inflow": pop_2020 - pop_2010,
        "residents_per_outlet": round(pop_2020 / outlets, 1) if outlets else None,
    }


def summarize(study: Study, *, adcode: str | None = None) -> dict[str, Any]:
    """Outlets and population of a study, overall, per district and per ring zone.

    Parameters
    ----------
    study
        A loaded study (:func:`netplan.study.layers.load_study`).
    adcode
        Restrict everything to one district: an adcode or any name
        :func:`netplan.study.layers.resolve_district` accepts.

    Returns
    -------
    dict
        ``scope``, ``source``, ``branch_sources`` (count per value of the branches'
        ``source``, e.g. ``{"modelled": 562}``), ``outlets``, ``full_outlets``,
        ``light_outlets``, ``outlets_by_format``, ``outlets_outside_ring5``,
        ``share_outside_ring5``, ``population_2010``, ``population_2020``, ``inflow``,
        ``residents_per_outlet``, ``n_districts``, ``districts`` (one dict per district,
        sorted by adcode, with ``adcode``, ``name_zh``, ``name_en``, ``zone`` and the
        same figures) and ``ring_zones`` (one dict per ring zone, innermost first, with
        ``share_of_outlets`` too).
    """
    districts = study.districts.sort_values("adcode", kind="stable")
    branches = study.branches
    zones = study.zones
    scope: dict[str, Any] = {"adcode": None, "name_zh": None, "name_en": None}
    if adcode is not None:
        code = resolve_district(adcode, districts)
        districts = districts[districts["adcode"] == code]
        branches = branches[branches["adcode"] == code]
        zones = zones[zones["adcode"] == code]
        rec = districts.iloc[0]
        scope = {"adcode": code, "name_zh": str(rec["name_zh"]), "name_en": str(rec["name_en"])}

    district_rows = _district_rows(districts, branches)
    ring_rows = _ring_rows(branches, zones)
    totals = _outlet_counts(branches)
    pop_2010 = int(districts["pop_2010"].sum())
    pop_2020 = int(districts["pop_2020"].sum())
    zone_2020 = int(zones["pop_2020"].sum())
    if zone_2020 != pop_2020:
        logger.warning(
            "zones hold %d residents (2020) but the districts %d; ring-zone populations "
            "do not add up to the district totals", zone_2020, pop_2020,
        )
    formats = branches["format"].astype(str).value_counts()
    sources = (
        branches["source"].astype(str).value_counts() if "source" in branches.columns
        else pd.Series(dtype=np.int64)
    )
    result: dict[str, Any] = {
        "scope": scope,
        "source": study.source,
        "branch_sources": {str(k): int(n) for k, n in sorted(sources.items())},
        **totals,
        "outlets_by_format": {str(k): int(n) for k, n in sorted(formats.items())},
        **_population(pop_2010, pop_2020, totals["outlets"]),
        "n_districts": len(district_rows),
        "districts": district_rows,
        "ring_zones": ring_rows,
    }
    unlabelled = int(branches["adcode"].isna().sum())
    if unlabelled:
        result["outlets_outside_districts"] = unlabelled
    return result


def _district_rows(districts: pd.DataFrame, branches: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per district (in the order given): names, outlets, census population."""
    rows = []
    for rec in districts.to_dict("records"):
        code = str(rec["adcode"])
        counts = _outlet_counts(branches[branches["adcode"] == code])
        rows.append({
            "adcode": code,
            "name_zh": str(rec["name_zh"]),
            "name_en": str(rec.get("name_en", "")),
            "zone": str(rec.get("zone", "")),
            **counts,
            **_population(int(rec["pop_2010"]), int(rec["pop_2020"]), counts["outlets"]),
        })
    return rows


def _ring_rows(branches: pd.DataFrame, zones: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per ring zone, innermost first: outlets and the population of its zones."""
    from netplan.study.geometry import RING_ZONES

    rows = []
    n_all = len(branches)
    for rz in RING_ZONES:
        in_rz = branches[branches["ring_zone"] == rz]
        zrz = zones[zones["ring_zone"] == rz]
        counts = _outlet_counts(in_rz)
        rows.append({
            "ring_zone": rz,
            **counts,
            "share_of_outlets": round(counts["outlets"] / n_all, 4) if n_all else None,
            **_population(int(zrz["pop_2010"].sum()), int(zrz["pop_2020"].sum()),
                          counts["outlets"]),
        })
    return rows


def _fmt_int(value: Any) -> str:
    return "-" if value is None else f"{round(value):,}"


def _fmt_share(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def render_summary(console: Any, result: dict[str, Any]) -> None:
    """Print a :func:`summarize` result as two rich tables (per district, per ring zone)."""
    from rich.markup import escape  # names and sources are user text, not markup
    from rich.table import Table

    scope = result["scope"]
    where = f"{scope['name_zh']} ({scope['adcode']})" if scope["adcode"] else "all districts"
    where = escape(where)
    sources = ", ".join(f"{n} {k}" for k, n in result["branch_sources"].items())
    cols = [
        ("outlets", "outlets", _fmt_int),
        ("full_outlets", "full", _fmt_int),
        ("light_outlets", "light", _fmt_int),
        ("share_outside_ring5", ">5th ring", _fmt_share),
        ("population_2010", "pop 2010", _fmt_int),
        ("population_2020", "pop 2020", _fmt_int),
        ("inflow", "inflow", _fmt_int),
        ("residents_per_outlet", "res/outlet", _fmt_int),
    ]
    zone_based = {"population_2010", "population_2020", "inflow"}
    ring_cols = [
        ("share_of_outlets", "% of outlets", _fmt_share) if key == "share_outside_ring5"
        else (key, head, fmt)
        for key, head, fmt in cols
    ]
    for title, first, rows, columns in (
        ("per district", "district", result["districts"], cols),
        ("per ring zone", "ring zone", result["ring_zones"], ring_cols),
    ):
        table = Table(title=f"{where}: {title}", title_justify="left", show_footer=True)
        table.add_column(first, footer="total", no_wrap=True)
        for key, head, fmt in columns:
            # ring-zone populations come from the zones: their total is their own sum
            if first == "ring zone" and key in zone_based:
                total: Any = sum(r[key] for r in rows)
            elif key == "share_of_outlets":
                total = 1.0 if result["outlets"] else None
            else:
                total = result[key]
            table.add_column(head, justify="right", footer=fmt(total))
        for row in rows:
            label = (
                f"{row['name_zh']} {row['adcode']}" if "adcode" in row else row["ring_zone"]
            )
            table.add_row(escape(str(label)), *(fmt(row[key]) for key, _, fmt in columns))
        console.print(table)
    console.print(f"branches: {escape(sources or 'none')} (data: {escape(result['source'])})",
                  highlight=False)
