"""What a study holds, per district and per ring zone: outlets, population, inflow.

:func:`summarize` returns plain JSON-ready numbers (the ``netplan summary`` command prints
them as tables or JSON): outlets (full-service, light, total, by format), the share
outside a chosen ring, the census population of every ``pop_<year>`` column, inflow
(between the last two census years) and residents per outlet. District figures come
from the districts layer (census totals); ring-zone figures from the population zones
(each zone counted in the ring zone of its representative point).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from netplan.study.layers import Study, resolve_district

logger = logging.getLogger(__name__)


_POP = re.compile(r"^pop_(\d{4})$")


def _pop_years(*layers: pd.DataFrame) -> list[int]:
    """Years of the ``pop_<year>`` columns that every layer has, ascending."""
    sets = [{int(m.group(1)) for c in g.columns if (m := _POP.match(str(c)))} for g in layers]
    return sorted(set.intersection(*sets)) if sets else []


def _outlet_counts(branches: pd.DataFrame, outside_ring: int | None) -> dict[str, Any]:
    from netplan.study.geometry import outside_ring_mask

    n = len(branches)
    fmt = branches["format"].astype(str)
    out: dict[str, Any] = {
        "outlets": n,
        "full_outlets": int((fmt == "full").sum()),
        "light_outlets": int((fmt == "light").sum()),
    }
    if outside_ring is not None:
        outside = int(outside_ring_mask(branches["ring_zone"].to_numpy(), outside_ring).sum())
        out["outlets_outside_ring"] = outside
        out["share_outside_ring"] = round(outside / n, 4) if n else None
    return out


def _population(table: pd.DataFrame, years: list[int], outlets: int) -> dict[str, Any]:
    """Population of each year (sums of ``table``'s columns), inflow, residents per outlet."""
    pops = {y: int(table[f"pop_{y}"].sum()) for y in years}
    last = pops[years[-1]] if years else None
    return {
        **{f"population_{y}": p for y, p in pops.items()},
        "inflow": pops[years[-1]] - pops[years[-2]] if len(years) > 1 else None,
        "residents_per_outlet": round(last / outlets, 1) if outlets and last is not None
        else None,
    }


def summarize(study: Study, *, adcode: str | None = None,
              outside_ring: int | None = None) -> dict[str, Any]:
    """Outlets and population of a study, overall, per district and per ring zone.

    Parameters
    ----------
    study
        A loaded study (:func:`netplan.study.layers.load_study`).
    adcode
        Restrict everything to one district: an adcode or any name
        :func:`netplan.study.layers.resolve_district` accepts.
    outside_ring
        Count the outlets outside this ring (a scenario's ``planning.outside_ring``); the
        figures are left out when ``None`` or when the study has no such ring.

    Returns
    -------
    dict
        ``scope``, ``source``, ``branch_sources`` (count per value of the branches'
        ``source``, e.g. ``{"modelled": 562}``), ``outlets``, ``full_outlets``,
        ``light_outlets``, ``outlets_by_format``, ``outside_ring``,
        ``outlets_outside_ring``, ``share_outside_ring``, ``population_<year>`` (each census
        year both layers hold), ``inflow`` (last year - the one before), ``residents_per_outlet``,
        ``n_districts``, ``districts`` (one dict per district,
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

    from netplan.study.geometry import rings_of

    if outside_ring not in rings_of(study.ring_zones["ring_zone"]):
        outside_ring = None
    years = _pop_years(districts, zones)
    district_rows = _district_rows(districts, branches, years, outside_ring)
    ring_rows = _ring_rows(study, branches, zones, years, outside_ring)
    totals = _outlet_counts(branches, outside_ring)
    if years:
        zone_pop, district_pop = (int(g[f"pop_{years[-1]}"].sum()) for g in (zones, districts))
        if zone_pop != district_pop:
            logger.warning(
                "zones hold %d residents (%d) but the districts %d; ring-zone populations "
                "do not add up to the district totals", zone_pop, years[-1], district_pop,
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
        "outside_ring": outside_ring,
        **totals,
        "outlets_by_format": {str(k): int(n) for k, n in sorted(formats.items())},
        **_population(districts, years, totals["outlets"]),
        "n_districts": len(district_rows),
        "districts": district_rows,
        "ring_zones": ring_rows,
    }
    unlabelled = int(branches["adcode"].isna().sum())
    if unlabelled:
        result["outlets_outside_districts"] = unlabelled
    return result


def _district_rows(districts: pd.DataFrame, branches: pd.DataFrame, years: list[int],
                   outside_ring: int | None) -> list[dict[str, Any]]:
    """One row per district (in the order given): names, outlets, census population."""
    rows = []
    for k, rec in enumerate(districts.to_dict("records")):
        code = str(rec["adcode"])
        counts = _outlet_counts(branches[branches["adcode"] == code], outside_ring)
        rows.append({
            "adcode": code,
            "name_zh": str(rec["name_zh"]),
            "name_en": str(rec.get("name_en", "")),
            "zone": str(rec.get("zone", "")),
            **counts,
            **_population(districts.iloc[k:k + 1], years, counts["outlets"]),
        })
    return rows


def _ring_rows(study: Study, branches: pd.DataFrame, zones: pd.DataFrame, years: list[int],
               outside_ring: int | None) -> list[dict[str, Any]]:
    """One row per ring zone, innermost first: outlets and the population of its zones."""
    from netplan.study.geometry import ring_zone_order

    rows = []
    n_all = len(branches)
    for rz in ring_zone_order(study.ring_zones["ring_zone"]):
        in_rz = branches[branches["ring_zone"] == rz]
        counts = _outlet_counts(in_rz, outside_ring)
        rows.append({
            "ring_zone": rz,
            **counts,
            "share_of_outlets": round(counts["outlets"] / n_all, 4) if n_all else None,
            **_population(zones[zones["ring_zone"] == rz], years, counts["outlets"]),
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
    pops = [k for k in result if k.startswith("population_")]
    ring = result.get("outside_ring")
    cols = [
        ("outlets", "outlets", _fmt_int),
        ("full_outlets", "full", _fmt_int),
        ("light_outlets", "light", _fmt_int),
        *([("share_outside_ring", f">ring {ring}", _fmt_share)] if ring is not None else []),
        *[(k, k.replace("population_", "pop "), _fmt_int) for k in pops],
        ("inflow", "inflow", _fmt_int),
        ("residents_per_outlet", "res/outlet", _fmt_int),
    ]
    zone_based = {*pops, "inflow"}
    ring_cols = [
        *[c for c in cols if c[0] != "share_outside_ring"][:3],
        ("share_of_outlets", "% of outlets", _fmt_share),
        *[c for c in cols if c[0] != "share_outside_ring"][3:],
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
                total: Any = sum(r[key] or 0 for r in rows)
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
