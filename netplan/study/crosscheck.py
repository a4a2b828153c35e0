"""``netplan study check``: every layer of a study, and the layers against each other.

:func:`check_study` reads a study (manifest or GeoPackage) the way every command does,
collecting the problems of every layer, and adds what no single layer can show:

- a layer without CRS: which likely CRS puts it inside the districts;
- overlapping districts (zones and branches there would go to one of them silently);
- a point whose own district column disagrees with where it lies;
- format values that the scenario does not define;
- longitude/latitude that fit the districts far better as GCJ-02 or BD-09 (or as WGS84)
  than as the manifest declares them, and file names that say GCJ-02/BD-09 when the
  manifest says WGS84.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan._errors import LayerError, NetplanError, examples, quoted
from netplan.study import coords as cc
from netplan.study.crs import candidate_crs, looks_geographic
from netplan.study.layers import (
    Study,
    StudySources,
    finish_study,
    policy_adcodes,
    read_study_layers,
    resolve_district,
    study_sources,
)
from netplan.study.manifest import LayerSpec, ManifestError
from netplan.study.readers import read_layer

__all__ = ["CheckReport", "Finding", "check_study"]

OVERLAP_MIN_M2: Final = 10_000.0
"""Least overlap of two districts reported (1 ha): digitising slivers are smaller."""
OVERLAP_MIN_SHARE: Final = 0.001
"""... and at least this share of the smaller district."""


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``problem`` (exit 1) or ``warning``."""

    layer: str
    text: str
    severity: str = "problem"


@dataclass(frozen=True)
class CheckReport:
    """What ``netplan study check`` found."""

    source: str
    name: str | None
    crs: str | None
    features: Mapping[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        """No problem (warnings allowed)."""
        return not any(f.severity == "problem" for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data."""
        return {
            "source": self.source, "name": self.name, "crs": self.crs, "ok": self.ok,
            "features": dict(self.features),
            "problems": [{"layer": f.layer, "text": f.text} for f in self.findings
                         if f.severity == "problem"],
            "warnings": [{"layer": f.layer, "text": f.text} for f in self.findings
                         if f.severity == "warning"],
        }


def check_study(
    path: str | Path | None, *, formats: Collection[str] | None = None,
    district_keys: Collection[str] = (), scenario_name: str = "the scenario",
) -> CheckReport:
    """Check a study's layers one by one and against each other.

    Parameters
    ----------
    path
        A study manifest (``study.toml``) or a GeoPackage; ``None``: the embedded study.
    formats
        The outlet formats the scenario defines; ``None`` skips that check.
    district_keys
        The keys of the scenario's ``[districts.<key>]`` policies; each must name one
        district of the study.
    scenario_name
        How messages name the scenario.

    Returns
    -------
    CheckReport
        Every problem and warning found; ``ok`` when there is no problem.
    """
    try:
        srcs = study_sources(path)
    except ManifestError as exc:
        return CheckReport(str(path), None, None,
                           findings=tuple(Finding("manifest", p) for p in exc.problems))
    except NetplanError as exc:
        return CheckReport(str(path), None, None, findings=(Finding("study", str(exc)),))
    findings: list[Finding] = []
    findings += _name_hints(srcs)
    try:
        read = read_study_layers(path)
    except LayerError as exc:
        findings += _layer_findings(exc)
        findings += _crs_guesses(srcs, exc)
        findings += _coords_fit(srcs, None)
        return CheckReport(str(srcs.src), srcs.name, None, findings=tuple(findings))
    try:
        study = finish_study(read)
    except LayerError as exc:
        findings += _layer_findings(exc)
        return CheckReport(str(srcs.src), srcs.name, read.crs, findings=tuple(findings))
    findings += _overlapping_districts(study)
    findings += _district_column(study, srcs)
    if formats is not None:
        findings += _unknown_formats(study, srcs, formats, scenario_name)
    try:
        policy_adcodes(district_keys, study.districts)
    except NetplanError as exc:
        findings.append(Finding("scenario", (
            f"{scenario_name}: {exc}; a scenario's [districts] table replaces the default "
            "(Beijing) policies: give your study's own with --scenario")))
    findings += _coords_fit(srcs, study)
    features = {k: len(getattr(study, k)) for k in
                ("districts", "ring_roads", "ring_zones", "zones", "branches", "candidates")}
    return CheckReport(str(srcs.src), study.name, study.crs, features, tuple(findings))


def _layer_findings(exc: LayerError) -> list[Finding]:
    if exc.layer != "study":
        return [Finding(exc.layer, p) for p in exc.problems]
    out = []
    for p in exc.problems:  # "<layer> (<source>): <problem>" or "<layer>: <problem>"
        layer, _, text = p.partition(": ")
        out.append(Finding(layer.split(" (")[0], text or p))
    return out


# --- file names that say GCJ-02 / BD-09 ------------------------------------------------

_NAME_HINTS: Final = (
    ("gcj02", re.compile(r"gcj|amap|gaode|autonavi|tencent|高德|火星|腾讯", re.I)),
    ("bd09", re.compile(r"bd-?09|baidu|百度", re.I)),
)


def _name_hints(srcs: StudySources) -> list[Finding]:
    out = []
    for kind, spec in srcs.specs.items():
        if spec.coords != "wgs84" or (spec.path.suffix.lower() == ".gpkg" and spec.layer == kind):
            continue
        words = " ".join([spec.path.name, spec.lon, spec.lat])
        for system, pattern in _NAME_HINTS:
            if pattern.search(words):
                out.append(Finding(kind, (
                    f"{spec.path.name} says {system.upper()} in its name or columns, but the "
                    f"manifest reads it as WGS84 (coords = \"wgs84\", the default); if it comes "
                    f"from {'Amap/Tencent' if system == 'gcj02' else 'Baidu'}, set coords = "
                    f"\"{system}\" in [{kind}] of the manifest (forgetting it shifts every "
                    "point by a few hundred metres)"), "warning"))
                break
    return out


# --- layers without CRS ------------------------------------------------------------------

def _crs_guesses(srcs: StudySources, exc: LayerError) -> list[Finding]:
    """Layers without a CRS, or with metres read as degrees: the CRSs that fit the districts."""
    text = str(exc)
    spec_d = srcs.specs.get("districts")
    if ("found none" not in text and "expected longitude in" not in text) or spec_d is None:
        return []
    try:
        districts = _read_plain(spec_d, "districts")
    except NetplanError:
        return []
    area = shapely.union_all(np.asarray(districts.geometry.values))
    out = []
    for kind, spec in srcs.specs.items():
        xy = None if kind == "districts" else _stored_xy(spec)
        if xy is None or len(xy) == 0 or looks_geographic(_bounds(xy)):
            continue
        fits = candidate_crs(xy, area)
        if fits:
            named = examples([f"{code} ({desc}, {share:.0%} inside)" for code, desc, share in fits])
            out.append(Finding(kind, (
                f"{spec.path.name} holds metres, not degrees, and says no CRS; its coordinates "
                f"fall inside the districts as {named}; set crs = \"{fits[0][0]}\" in [{kind}] "
                "of the manifest (or add the .prj); when several fit, ask the data's source "
                "which grid it uses")))
        else:
            out.append(Finding(kind, (
                f"{spec.path.name} holds metres, not degrees, and none of the usual CRSs of "
                "this area (its UTM zone, CGCS2000 Gauss-Krüger) puts it inside the districts; "
                f"ask the data's source for its CRS and set crs = \"EPSG:...\" in [{kind}]")))
    return out


def _bounds(xy: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = np.nanmin(xy, axis=0), np.nanmax(xy, axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def _stored_xy(spec: LayerSpec) -> np.ndarray | None:
    """A sample of a layer's coordinates as stored, if it declares no CRS (else ``None``)."""
    if spec.crs is not None:
        return None
    try:
        if spec.path.suffix.lower() == ".csv":
            table = pd.read_csv(spec.path, nrows=2000, dtype=object, encoding=spec.encoding)
            xy = np.column_stack([pd.to_numeric(table[spec.lon], errors="coerce"),
                                  pd.to_numeric(table[spec.lat], errors="coerce")])
            return np.asarray(xy[np.isfinite(xy).all(axis=1)], dtype=np.float64)
        raw = gpd.read_file(spec.path, layer=spec.layer, engine="pyogrio", rows=2000)
    except Exception:  # the layer's own problems are reported already
        return None
    if not isinstance(raw, gpd.GeoDataFrame) or raw.crs is not None:
        return None
    return np.asarray(shapely.get_coordinates(np.asarray(raw.geometry.values))[::10])


def _read_plain(spec: LayerSpec, kind: str, coords: str | None = None) -> gpd.GeoDataFrame:
    """A layer read as its spec says (no study area), in WGS84."""
    return read_layer(spec.path, kind, layer=spec.layer, coords=coords or spec.coords,
                      lon_col=spec.lon, lat_col=spec.lat, crs=spec.crs, encoding=spec.encoding,
                      columns=spec.columns, values=spec.values)


# --- districts ---------------------------------------------------------------------------

def _district_label(rec: Mapping[str, object]) -> str:
    return f"{rec.get('name_zh') or ''} ({rec['adcode']})".strip()


def _overlapping_districts(study: Study) -> list[Finding]:
    d = study.districts.reset_index(drop=True)
    geoms = np.asarray(d.geometry.values)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    pairs = []
    records = d.to_dict("records")
    for i, j in zip(left[keep], right[keep], strict=True):
        area = float(shapely.area(shapely.intersection(geoms[i], geoms[j])))
        smaller = min(float(shapely.area(geoms[i])), float(shapely.area(geoms[j])))
        if area > OVERLAP_MIN_M2 and area > OVERLAP_MIN_SHARE * smaller:
            pairs.append(f"{_district_label(records[i])} and {_district_label(records[j])} "
                         f"share {area / 1e6:,.2f} km²")
    if not pairs:
        return []
    return [Finding("districts", (
        f"overlapping districts: {examples(pairs, sep='; ')}; a zone or branch there is given "
        "to the first of them in file order, silently. Fix the polygons so that every place "
        "lies in one district (e.g. QGIS Vector > Geometry Tools > Check Validity, or clip "
        "one by the other)"))]


def _district_column(study: Study, srcs: StudySources) -> list[Finding]:
    """Points whose own ``district`` column disagrees with the district they lie in."""
    out = []
    for kind, id_col in (("branches", "branch_id"), ("candidates", "candidate_id")):
        gdf = getattr(study, kind)
        if "district" not in gdf.columns or gdf.empty:
            continue
        said = _said_adcodes(gdf["district"], study.districts)
        unknown = [f"{gdf[id_col].iloc[i]} ({quoted(v)})" for i, v in enumerate(gdf["district"])
                   if said[i] is None and isinstance(v, str) and v.strip()]
        if unknown:
            out.append(Finding(kind, (
                f"column 'district': {v_count(len(unknown), 'value')} name no district of the "
                f"study: {examples(unknown)}; write a name or adcode of the districts layer")))
        wrong = [i for i, a in enumerate(said) if a is not None and a != gdf["adcode"].iloc[i]]
        if not wrong:
            continue
        names = dict(zip(study.districts["adcode"], study.districts["name_zh"], strict=True))
        geoms = study.districts.set_index("adcode").geometry
        rows = []
        for i in wrong:
            own = said[i]
            gap = float(geoms[own].distance(gdf.geometry.iloc[i]))
            rows.append(f"{gdf[id_col].iloc[i]} says {names.get(own, own)} but lies in "
                        f"{names.get(gdf['adcode'].iloc[i], gdf['adcode'].iloc[i])}, "
                        f"{gap:,.0f} m from it")
        coords = srcs.specs[kind].coords if kind in srcs.specs else "wgs84"
        out.append(Finding(kind, (
            f"{v_count(len(wrong), 'point')} {'lies' if len(wrong) == 1 else 'lie'} in another "
            f"district than {'its' if len(wrong) == 1 else 'their'} own district column says: "
            f"{examples(rows, sep='; ')}; correct the coordinates (coords = "
            f"\"{coords}\" now: are they GCJ-02 or BD-09?) or the district column")))
    return out


def v_count(n: int, word: str) -> str:
    """``1 point`` / ``3 points``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _said_adcodes(values: pd.Series, districts: pd.DataFrame) -> list[str | None]:
    cache: dict[str, str | None] = {}
    out: list[str | None] = []
    for v in values:
        key = str(v).strip() if isinstance(v, str | int) else ""
        if key not in cache:
            try:
                cache[key] = resolve_district(key, districts) if key else None
            except NetplanError:
                cache[key] = None
        out.append(cache[key])
    return out


# --- formats -----------------------------------------------------------------------------

def _unknown_formats(study: Study, srcs: StudySources, formats: Collection[str],
                     scenario_name: str) -> list[Finding]:
    counts = study.branches["format"].astype(str).value_counts()
    unknown = sorted(f for f in counts.index if f not in set(formats))
    if not unknown:
        return []
    shown = [f"{quoted(f)} ({v_count(int(counts[f]), 'branch')})" for f in unknown]
    mapped = "values.format in [branches] of the manifest" if srcs.src.suffix == ".toml" \
        else "the branches' format column"
    example = ", ".join(f'"{f}" = "{sorted(formats)[0]}"' for f in unknown[:2])
    return [Finding("branches", (
        f"column 'format': {examples(shown)} not defined by {scenario_name} (it defines "
        f"{', '.join(sorted(formats))}); map them to a defined format in {mapped} "
        f"(values.format = {{ {example} }}), or define [formats.<name>] in the scenario"))]


# --- GCJ-02 / BD-09 by fit ------------------------------------------------------------------

_FORWARD: Final = {"wgs84": None, "gcj02": cc.wgs84_to_gcj02, "bd09": cc.wgs84_to_bd09}
_INVERSE: Final = {"wgs84": None, "gcj02": cc.gcj02_to_wgs84, "bd09": cc.bd09_to_wgs84}


def _coords_fit(srcs: StudySources, study: Study | None) -> list[Finding]:
    """Point layers whose coordinates fit the districts far better in another system."""
    spec_d = srcs.specs.get("districts")
    if spec_d is None:
        return []
    try:
        districts = study.districts.to_crs("EPSG:4326") if study is not None else \
            _read_plain(spec_d, "districts")
    except NetplanError:
        return []
    out = []
    for kind in ("branches", "candidates"):
        spec = srcs.specs.get(kind)
        if spec is None or (spec.path == srcs.src and spec.layer == kind
                            and spec.path.suffix.lower() == ".gpkg"):
            continue  # netplan's own GeoPackage is WGS84 by definition
        try:
            gdf = _read_plain(spec, kind)
        except NetplanError:
            continue
        finding = _fit_finding(kind, spec, gdf, districts)
        if finding is not None:
            out.append(finding)
    return out


def _fit_finding(kind: str, spec: LayerSpec, gdf: gpd.GeoDataFrame,
                 districts: gpd.GeoDataFrame) -> Finding | None:
    if gdf.empty:
        return None
    lon, lat = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    forward = _FORWARD[spec.coords]
    given = (lon, lat) if forward is None else forward(lon, lat)  # as the file holds them
    said = _said_adcodes(gdf["district"], districts) if "district" in gdf.columns else None
    scores = {}
    for system, inverse in _INVERSE.items():
        x, y = given if inverse is None else inverse(*given)
        scores[system] = _misfits(np.asarray(x), np.asarray(y), districts, said)
    declared = scores[spec.coords]
    best = min(scores, key=lambda s: (scores[s], s != spec.coords))
    if best == spec.coords or declared - scores[best] < 2 or scores[best] > declared / 2:
        return None
    what = "disagree with their district column or lie outside the districts" if said \
        else "lie outside the districts"
    return Finding(kind, (
        f"coordinates: read as {spec.coords.upper()} (coords = \"{spec.coords}\"), "
        f"{declared:,} of {len(gdf):,} points {what}; read as {best.upper()} only "
        f"{scores[best]:,} do. The file is likely {best.upper()}: set coords = \"{best}\" in "
        f"[{kind}] of the manifest (an offset of a few hundred metres moves points between "
        "districts and changes every distance figure)"))


def _misfits(x: np.ndarray, y: np.ndarray, districts: gpd.GeoDataFrame,
             said: list[str | None] | None) -> int:
    pts = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs="EPSG:4326")
    joined = gpd.sjoin(pts, districts[["adcode", "geometry"]], predicate="within", how="left")
    first = joined[~joined.index.duplicated(keep="first")]["adcode"].to_numpy(dtype=object)
    bad = pd.isna(first)
    if said is not None:
        bad = bad | np.array([s is not None and s != a for s, a in zip(said, first, strict=True)])
    return int(np.asarray(bad).sum())
