"""Load a whole study; write layers; validate files.

A *layer* is one of the kinds in :data:`~netplan.study.schemas.SCHEMAS` (districts, ring
roads, ring zones, population zones, branches, candidate sites), read and validated by
:func:`~netplan.study.readers.read_layer`. :func:`load_study` reads the six layers of a
study (the embedded Beijing GeoPackage by default, any layer replaceable by a user's file),
reprojects them to the metric CRS and labels zones, branches and candidates with their
district and ring zone. :func:`write_layer` writes a layer; :func:`validate_files` checks
files for the ``netplan layers validate`` command.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from netplan._errors import (
    MAX_EXAMPLES,
    DataNotFoundError,
    LayerError,
    NetplanError,
    examples,
    quoted,
)
from netplan._io import atomic_path, check_new_file
from netplan.study.readers import FORMATS, _coords, _format_of, gpkg_layers, read_layer
from netplan.study.schemas import KINDS, SCHEMAS, STUDY_KINDS, WGS84, schema

# --- writing ---------------------------------------------------------------------------


def write_layer(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str, force: bool = False
) -> Path:
    """Write a layer in WGS84, atomically (a temporary file, then a rename).

    The format follows the extension (see :data:`FORMATS`). In a GeoPackage only the
    named layer is written; the file's other layers are kept. CSV holds point layers
    only, as ``lon``/``lat`` columns. An existing file (in a GeoPackage: an existing layer
    of that name) is replaced only with ``force``.

    Parameters
    ----------
    gdf
        The layer (any CRS; written in WGS84).
    path
        The file.
    layer
        The layer's name (in a GeoPackage) or kind (in messages).
    force
        Replace an existing file or GeoPackage layer.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    p = Path(path)
    fmt = _format_of(p)
    if gdf.crs is None:
        raise NetplanError(
            f"cannot write layer '{layer}' to {p}: it has no CRS; set it with gdf.set_crs(...)"
        )
    out = _wgs84_for_writing(gdf)
    if fmt == "CSV" and not (out.geom_type == "Point").all():
        raise NetplanError(
            f"cannot write layer '{layer}' to {p}: CSV holds points only, and the "
            "layer has other geometries; write a .gpkg or .geojson instead"
        )
    if fmt == "Shapefile":
        check_new_file(p, force=force)
        p.parent.mkdir(parents=True, exist_ok=True)
        _write_shapefile(out, p)
        return p
    existing = fmt == "GeoPackage" and p.is_file()
    if existing and not force and layer in gpkg_layers(p):
        raise NetplanError(
            f"{p} already has a layer '{layer}'; pass --force to replace it, or choose "
            "another file"
        )
    with atomic_path(p, force=force or existing) as tmp:
        if existing:
            shutil.copyfile(p, tmp)
        if fmt == "GeoPackage":
            out.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
        elif fmt == "GeoJSON":
            out.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        elif fmt == "GeoParquet":
            out.to_parquet(tmp, index=False)
        else:  # CSV
            table = pd.DataFrame(out.drop(columns=out.geometry.name))
            table["lon"] = out.geometry.x.to_numpy()
            table["lat"] = out.geometry.y.to_numpy()
            table.to_csv(tmp, index=False)
    return p


def _wgs84_for_writing(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer in WGS84, LinearRings as LineStrings (GDAL has no LinearRing type)."""
    out = gdf.to_crs(WGS84) if not CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326)) \
        else gdf
    rings = np.asarray(shapely.get_type_id(np.asarray(out.geometry.values)) == 2)
    if rings.any():  # pyogrio crashes writing a LinearRing
        out = out.copy()
        geoms = np.asarray(out.geometry.values, dtype=object)
        geoms[rings] = [shapely.LineString(g.coords) for g in geoms[rings]]
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    return out


def _write_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmpdir:
        tmp = Path(tmpdir) / path.name
        gdf.to_file(tmp, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        for part in sorted(Path(tmpdir).iterdir()):
            os.replace(part, path.with_suffix(part.suffix))


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject a layer to netplan's metric CRS (:data:`netplan.study.geometry.METRIC_CRS`)."""
    from netplan.study.geometry import METRIC_CRS

    if gdf.crs is None:
        raise NetplanError("cannot reproject a layer without CRS; set it with gdf.set_crs(...)")
    return gdf.to_crs(METRIC_CRS)


# --- the study ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Study:
    """The six layers of a study, in the metric CRS.

    ``zones``, ``branches`` and ``candidates`` carry ``adcode`` and ``ring_zone``.
    ``source`` says where the layers came from.
    """

    districts: gpd.GeoDataFrame
    ring_roads: gpd.GeoDataFrame
    ring_zones: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    branches: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    source: str
    layer_sources: Mapping[str, str] = field(default_factory=dict)


def load_study(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, str | os.PathLike[str]] | None = None,
    coords: str = "wgs84",
) -> Study:
    """Read, validate, reproject and label the layers of a study.

    Parameters
    ----------
    path
        A GeoPackage holding the layers ``districts``, ``ring_roads``, ``zones``,
        ``branches``, ``candidates`` (and optionally ``ring_zones``); default the
        embedded Beijing dataset (:func:`netplan._paths.default_gpkg`).
    overrides
        Layer kind → file replacing that layer (e.g. ``{"ring_roads": "osm_rings.gpkg"}``);
        any format :func:`~netplan.study.readers.read_layer` reads. Ring zones are
        recomputed from the ring roads whenever ring roads or districts are replaced (or the
        GeoPackage has none).
    coords
        Coordinate system (``"wgs84"``, ``"gcj02"``, ``"bd09"``) of the override files.
        The GeoPackage is netplan's own format and always read as it declares (WGS84).

    Returns
    -------
    Study
        The six layers in the metric CRS; zones, branches and candidates labelled with
        their district and ring zone.

    Raises
    ------
    LayerError
        With the problems of every failing layer at once (each prefixed by its layer),
        including points and zones outside the union of the districts.
    """
    from netplan._paths import default_gpkg
    from netplan.study import geometry

    gpkg = Path(path) if path is not None else default_gpkg()
    over = {str(k): Path(p) for k, p in (overrides or {}).items()}
    _check_study_files(gpkg, over)
    reader = _StudyReader(gpkg, over, coords)
    layers, sources, derive_zones = reader.read_all()

    metric = {k: to_metric(g) for k, g in layers.items()}
    if derive_zones:
        metric["ring_zones"] = geometry.ring_zones_from_rings(
            metric["ring_roads"], metric["districts"]
        )
        sources["ring_zones"] = "derived from ring_roads"
    for kind in ("zones", "branches", "candidates"):
        metric[kind] = geometry.label_features(
            metric[kind], gdf_districts=metric["districts"], gdf_ring_zones=metric["ring_zones"]
        )
    desc = str(gpkg)
    if over:
        desc += "; " + ", ".join(f"{k} from {p}" for k, p in sorted(over.items()))
    return Study(
        districts=metric["districts"],
        ring_roads=metric["ring_roads"],
        ring_zones=metric["ring_zones"],
        zones=metric["zones"],
        branches=metric["branches"],
        candidates=metric["candidates"],
        source=desc,
        layer_sources=dict(sorted(sources.items())),
    )


_NEEDED: Final = ", ".join(k for k in STUDY_KINDS if k != "ring_zones")
"""The layers a study GeoPackage must hold (ring zones are derived when absent)."""


def _check_study_files(gpkg: Path, over: Mapping[str, Path]) -> None:
    """Raise if an override names an unknown kind or the GeoPackage is missing or no .gpkg."""
    unknown = sorted(set(over) - set(STUDY_KINDS))
    if unknown:
        raise NetplanError(
            f"cannot override layer(s) {', '.join(unknown)}: unknown kind; expected one of "
            f"{', '.join(STUDY_KINDS)}"
        )
    if not gpkg.exists() and set(STUDY_KINDS) - {"ring_zones"} - set(over):
        raise DataNotFoundError(
            f"study GeoPackage not found: {gpkg}; pass an existing .gpkg file holding the "
            f"layers {_NEEDED} (--data FILE), or omit --data to use the embedded dataset"
        )
    if gpkg.exists() and (gpkg.is_dir() or gpkg.suffix.lower() != ".gpkg"):
        what = "a folder" if gpkg.is_dir() else f"a '{gpkg.suffix or '(no extension)'}' file"
        raise NetplanError(
            f"the study must be one GeoPackage (.gpkg) holding the layers {_NEEDED}, but "
            f"{gpkg} is {what}; write your layers into one GeoPackage, each under its "
            "kind's name (gdf.to_file('study.gpkg', layer='branches')), and check it with "
            "`netplan layers validate study.gpkg`"
        )


class _StudyReader:
    """Reads the layers of one study, collecting the problems of every layer."""

    def __init__(self, gpkg: Path, over: Mapping[str, Path], coords: str) -> None:
        self.gpkg, self.over, self.coords = gpkg, over, coords
        self.in_gpkg = set(gpkg_layers(gpkg)) if gpkg.exists() else set()
        self.errors: list[LayerError] = []
        self.layers: dict[str, gpd.GeoDataFrame] = {}
        self.sources: dict[str, str] = {}

    def read_all(self) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, str], bool]:
        """The layers read (WGS84), their sources, and whether ring zones are to be derived.

        Districts come first: their union is the study area the points and zones must lie in.
        """
        self.read("districts", None)
        area = (
            shapely.union_all(np.asarray(self.layers["districts"].geometry.values))
            if "districts" in self.layers else None
        )
        if area is not None:
            area = shapely.buffer(area, 0)
        for kind in ("ring_roads", "zones", "branches", "candidates"):
            self.read(kind, area if kind in ("zones", "branches", "candidates") else None)
        derive_zones = (
            "ring_zones" not in self.over
            and ("ring_roads" in self.over or "districts" in self.over
                 or "ring_zones" not in self.in_gpkg)
        )
        if not derive_zones:
            self.read("ring_zones", None)
        self.check_shared_ids()
        if self.errors:
            raise _combine(self.errors, str(self.gpkg))
        return self.layers, self.sources, derive_zones

    def check_shared_ids(self) -> None:
        """An id used by a branch and a candidate site is a problem (a plan names sites by id)."""
        if "branches" not in self.layers or "candidates" not in self.layers:
            return
        branch_ids = set(self.layers["branches"]["branch_id"])
        shared = sorted(branch_ids & set(self.layers["candidates"]["candidate_id"]))
        if shared:
            self.errors.append(LayerError("candidates", [
                f"column 'candidate_id': expected ids that no branch uses (a plan names every "
                f"site by its id), found {len(shared):,} id{'s' if len(shared) != 1 else ''} "
                f"also in branch_id of the branches layer ({self.sources['branches']}): "
                f"{examples([repr(x)[:60] for x in shared[:MAX_EXAMPLES]], total=len(shared))}; "
                "rename those candidates (or branches)"], self.sources["candidates"]))

    def read(self, kind: str, area: shapely.Geometry | None) -> None:
        """Read one layer (from its override file, else the GeoPackage); keep its problems."""
        src = self.over.get(kind, self.gpkg)
        try:
            self.layers[kind] = read_layer(
                src, kind, layer=None if kind in self.over else kind,
                coords=self.coords if kind in self.over else "wgs84", study_area=area,
            )
            self.sources[kind] = str(src)
        except LayerError as exc:
            self.errors.append(exc)
        except NetplanError as exc:
            if kind not in self.over and kind not in self.in_gpkg:
                self.errors.append(LayerError(kind, [
                    f"layer missing from {self.gpkg}: no layer '{kind}' (its layers: "
                    f"{examples(sorted(self.in_gpkg)) or 'none'}); add the layer under that "
                    f"name (a study needs {_NEEDED}; ring_zones is derived when absent)"],
                    str(self.gpkg)))
            else:
                self.errors.append(LayerError(kind, [str(exc)], str(src)))


def parse_overrides(items: Sequence[str]) -> dict[str, Path]:
    """``["ring_roads=osm.gpkg"]`` → ``{"ring_roads": Path("osm.gpkg")}`` (CLI helper)."""
    result: dict[str, Path] = {}
    for item in items:
        kind, sep, file = item.partition("=")
        kind = kind.strip()
        if not sep or not kind or not file.strip():
            raise NetplanError(
                f"--override {item!r}: expected KIND=FILE, e.g. ring_roads=osm_rings.gpkg; "
                f"kinds: {', '.join(STUDY_KINDS)}"
            )
        if kind not in STUDY_KINDS:
            raise NetplanError(
                f"--override {item!r}: unknown layer kind {kind!r}; expected one of "
                f"{', '.join(STUDY_KINDS)}"
            )
        result[kind] = Path(file.strip())
    return result


def _combine(errors: Sequence[LayerError], source: str) -> LayerError:
    if len(errors) == 1:
        return errors[0]
    problems = [
        f"{e.layer}{f' ({e.source})' if e.source and e.source != source else ''}: {p}"
        for e in errors
        for p in e.problems
    ]
    return LayerError("study", problems, source=source)


# --- districts by name -------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-'’]+", "", str(text)).casefold()


def resolve_district(name: str, gdf_districts: pd.DataFrame) -> str:
    """The adcode of a district given by adcode or name.

    Accepts the adcode (``"110105"``), the Chinese name with or without its suffix
    (``朝阳区``, ``朝阳``), pinyin (``chaoyang``) or English (``Chaoyang``,
    ``Chaoyang District``), case-, space- and hyphen-insensitive.

    Raises
    ------
    NetplanError
        If no district matches; the message lists the valid names.
    """
    key = _norm(name)
    table: dict[str, set[str]] = {}
    for rec in gdf_districts.to_dict("records"):
        code = str(rec["adcode"])
        names = {code}
        zh = str(rec.get("name_zh") or "")
        if zh:
            names |= {zh, re.sub(r"(区|县|市)$", "", zh)}
        for col in ("name_pinyin", "name_en"):
            text = str(rec.get(col) or "")
            if text:
                names |= {text, re.sub(r"\s+(district|county|qu|xian)$", "", text, flags=re.I)}
        for n in names:
            if n:
                table.setdefault(_norm(n), set()).add(code)
    if key and key in table and len(table[key]) == 1:
        return next(iter(table[key]))
    valid = examples([
        f"{r['adcode']} {r.get('name_zh', '')} ({r.get('name_en') or r.get('name_pinyin') or ''})"
        for r in gdf_districts.sort_values("adcode").head(MAX_EXAMPLES).to_dict("records")
    ], total=len(gdf_districts), sep="; ", unit="district")
    what = "is ambiguous" if key in table else "matches no district"
    raise NetplanError(
        f"district {quoted(name)} {what}; give an adcode, a Chinese, pinyin or English name: "
        f"{valid}"
    )


def policy_adcodes(keys: Iterable[str], gdf_districts: pd.DataFrame) -> dict[str, str]:
    """The adcode of each district-policy key; two keys naming one district are refused.

    ``[districts.Chaoyang]`` and ``[districts.110105]`` name the same district; merging
    them silently would apply one and drop the other, so both keys are named instead.

    Parameters
    ----------
    keys
        The keys of the scenario's ``[districts.<key>]`` tables.
    gdf_districts
        The study's districts (``adcode`` and the name columns).

    Returns
    -------
    dict
        Key → adcode, in the order of ``keys``.

    Raises
    ------
    NetplanError
        A key names no district, or several keys name the same district.
    """
    out: dict[str, str] = {}
    for key in map(str, keys):
        try:
            out[key] = resolve_district(key, gdf_districts)
        except NetplanError as exc:
            raise NetplanError(f"[districts.{key}] names no district of the study ({exc}); "
                               "fix or remove that table") from None
    by_code: dict[str, list[str]] = {}
    for key, code in out.items():
        by_code.setdefault(code, []).append(key)
    clashes = [
        f"{' and '.join(f'[districts.{k}]' for k in ks)} (both {code})"
        for code, ks in sorted(by_code.items()) if len(ks) > 1
    ]
    if clashes:
        raise NetplanError(
            f"district policies name the same district twice: {examples(clashes, sep='; ')}; "
            "keep one table per district (by adcode or by name, not both)"
        )
    return out


# --- validating files (the `netplan layers validate` command) ----------------------------


@dataclass(frozen=True)
class LayerReport:
    """The outcome of validating one layer of one file."""

    path: str
    layer: str | None
    kind: str | None
    n_features: int | None
    problems: tuple[str, ...] = ()
    note: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return self.path + (f" [{self.layer}]" if self.layer else "")


_KIND_WORDS: Final[dict[str, str]] = {
    "districts": "districts", "district": "districts",
    "zones": "zones", "zone": "zones", "grid": "zones", "population": "zones",
    "branches": "branches", "branch": "branches", "outlets": "branches", "outlet": "branches",
    "candidates": "candidates", "candidate": "candidates",
    "rings": "ring_roads", "ringroads": "ring_roads",
}


def infer_kind(name: str) -> str | None:
    """Guess the layer kind from a layer or file name (``my_branches.csv`` → branches)."""
    stem = Path(name).name.lower()
    for suffix in FORMATS:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"[^a-z0-9]+", "_", stem)
    found = set()
    for compound in ("ring_roads", "ring_zones"):
        if compound in stem:
            found.add(compound)
            stem = stem.replace(compound, "_")
    found |= {_KIND_WORDS[t] for t in stem.split("_") if t in _KIND_WORDS}
    return found.pop() if len(found) == 1 else None


def validate_files(  # noqa: PLR0913 - public entry point, options keyword-only
    paths: Iterable[str | os.PathLike[str]],
    *,
    kind: str | None = None,
    layer: str | None = None,
    coords: str = "wgs84",
    crs: str | None = None,
    lon_col: str = "lon",
    lat_col: str = "lat",
    within: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
) -> list[LayerReport]:
    """Validate files; one :class:`LayerReport` per layer checked, problems collected.

    The kind comes from ``kind``, else from the GeoPackage layer name or the file name.
    A GeoPackage without ``layer`` and ``kind`` has every layer named like a kind
    checked. ``within`` is a districts file whose union is the study area. ``encoding``
    is the text encoding of files that do not say theirs (see
    :func:`~netplan.study.readers.read_layer`).
    """
    if kind is not None:
        schema(kind)
    _coords(coords)
    area = None
    if within is not None:
        area = shapely.union_all(np.asarray(read_layer(within, "districts").geometry.values))
    reports: list[LayerReport] = []
    for raw_path in paths:
        p = Path(raw_path)
        targets: list[tuple[str | None, str | None]] = []  # (layer, kind)
        try:
            is_gpkg = _format_of(p) == "GeoPackage" if p.exists() else False
            if is_gpkg and layer is None and kind is None:
                names = [n for n in gpkg_layers(p) if n not in _SKIP]
                targets = [(n, n if n in SCHEMAS else infer_kind(n)) for n in names]
                if any(k is not None for _, k in targets):
                    for n, k in targets:
                        if k is None:
                            reports.append(LayerReport(
                                str(p), n, None, None,
                                note="skipped: not a netplan layer (pass --layer and --kind)",
                            ))
                    targets = [(n, k) for n, k in targets if k is not None]
            elif is_gpkg:
                targets = [(layer, kind or infer_kind(layer or ""))]
            else:
                targets = [(None, kind or infer_kind(p.name))]
        except NetplanError as exc:
            reports.append(LayerReport(str(p), layer, kind, None, (str(exc),)))
            continue
        if not targets:
            reports.append(LayerReport(str(p), None, None, None, ("the file holds no layers",)))
        for lyr, knd in targets:
            if knd is None:
                what = f"layer '{lyr}'" if lyr else f"file name '{p.name}'"
                reports.append(LayerReport(str(p), lyr, None, None, (
                    f"cannot tell the layer kind from the {what}; pass --kind "
                    f"({'|'.join(KINDS)})",
                )))
                continue
            try:
                gdf = read_layer(p, knd, layer=lyr, coords=coords, crs=crs, lon_col=lon_col,
                                 lat_col=lat_col, study_area=area, encoding=encoding)
                reports.append(LayerReport(str(p), lyr, knd, len(gdf)))
            except LayerError as exc:
                reports.append(LayerReport(str(p), lyr, knd, None, tuple(exc.problems)))
            except NetplanError as exc:
                reports.append(LayerReport(str(p), lyr, knd, None, (str(exc),)))
    return reports


_SKIP: Final = frozenset({"layer_styles"})
