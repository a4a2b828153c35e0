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
from netplan.study.crs import AUTO, BEIJING_CRS, metric_crs
from netplan.study.inputs import source_path
from netplan.study.manifest import LayerSpec, read_manifest
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


def to_metric(gdf: gpd.GeoDataFrame, crs: str = BEIJING_CRS) -> gpd.GeoDataFrame:
    """Reproject a layer to a study's metric CRS (default Beijing's, UTM zone 50N)."""
    if gdf.crs is None:
        raise NetplanError("cannot reproject a layer without CRS; set it with gdf.set_crs(...)")
    return gdf.to_crs(crs)


# --- the study ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Study:
    """The six layers of a study, in its metric CRS :attr:`crs`.

    ``zones``, ``branches`` and ``candidates`` carry ``adcode`` and ``ring_zone``.
    ``source`` says where the layers came from; ``name`` is shown to people (maps,
    reports, tables); ``crs`` is the CRS every layer is in and distances are measured in.
    """

    districts: gpd.GeoDataFrame
    ring_roads: gpd.GeoDataFrame
    ring_zones: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    branches: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    source: str
    layer_sources: Mapping[str, str] = field(default_factory=dict)
    name: str = "study"
    crs: str = BEIJING_CRS


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
        A study manifest (``study.toml``, see :mod:`netplan.study.manifest`), or a
        GeoPackage in netplan's schema holding the layers ``districts``, ``ring_roads``,
        ``zones``, ``branches``, ``candidates`` (and optionally ``ring_zones``); default
        the embedded Beijing dataset (:func:`netplan._paths.default_gpkg`).
    overrides
        Layer kind → file replacing that layer (e.g. ``{"ring_roads": "osm_rings.gpkg"}``);
        any format :func:`~netplan.study.readers.read_layer` reads. Ring zones are
        recomputed from the ring roads whenever ring roads or districts are replaced (or the
        study has none).
    coords
        Coordinate system (``"wgs84"``, ``"gcj02"``, ``"bd09"``) of the override files.
        A GeoPackage is netplan's own format and always read as it declares (WGS84); a
        manifest says each layer's system.

    Returns
    -------
    Study
        The six layers in the study's metric CRS (the manifest's ``crs``; ``"auto"``: the
        UTM zone of the study area); zones, branches and candidates labelled with their
        district and ring zone.

    Raises
    ------
    ManifestError
        A manifest with problems (every one listed).
    LayerError
        With the problems of every failing layer at once (each prefixed by its layer),
        including points and zones outside the union of the districts.
    """
    read = read_study_layers(path, overrides=overrides, coords=coords)
    return finish_study(read)


@dataclass(frozen=True)
class StudyLayers:
    """The layers of a study as read and validated, in WGS84, before reprojection."""

    layers: Mapping[str, gpd.GeoDataFrame]
    sources: Mapping[str, str]
    derive_zones: bool
    name: str
    crs: str
    """The metric CRS (``"auto"`` resolved)."""
    source: str


@dataclass(frozen=True)
class StudySources:
    """Where each layer of a study comes from and how to read it (before reading)."""

    src: Path
    specs: Mapping[str, LayerSpec]
    name: str
    crs: str
    """``"auto"`` or a CRS, as the manifest or the GeoPackage's metadata says."""
    derive_zones: bool
    overrides: Mapping[str, Path]


def study_sources(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, str | os.PathLike[str]] | None = None,
    coords: str = "wgs84",
) -> StudySources:
    """The layer files of a study (manifest or GeoPackage) and how to read each.

    Parameters
    ----------
    path, overrides, coords
        As for :func:`load_study`.

    Returns
    -------
    StudySources
        One :class:`~netplan.study.manifest.LayerSpec` per layer to read, the name and CRS.
    """
    from netplan._paths import default_gpkg

    src = Path(path) if path is not None else default_gpkg()
    if src.is_dir() and (src / "study.toml").is_file():
        src = src / "study.toml"  # a study's folder: its manifest
    over = {str(k): Path(p) for k, p in (overrides or {}).items()}
    if src.suffix.lower() == ".toml":
        _check_overrides(over)
        manifest = read_manifest(src)
        specs = dict(manifest.layers)
        name, crs_value = manifest.name, manifest.crs
        derive_zones = "ring_zones" not in specs or bool({"ring_roads", "districts"} & set(over))
    else:
        _check_study_files(src, over)
        in_gpkg = set(gpkg_layers(src)) if src.exists() else set()
        specs = {k: LayerSpec(k, src, layer=k) for k in STUDY_KINDS}
        name, crs_value = _gpkg_identity(src)
        derive_zones = "ring_zones" not in over and (
            "ring_roads" in over or "districts" in over or "ring_zones" not in in_gpkg)
    for kind, file in over.items():
        specs[kind] = LayerSpec(kind, file, coords=coords)
    if derive_zones:
        specs.pop("ring_zones", None)
    return StudySources(src=src, specs=specs, name=name, crs=crs_value,
                        derive_zones=derive_zones, overrides=over)


def read_study_layers(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, str | os.PathLike[str]] | None = None,
    coords: str = "wgs84",
) -> StudyLayers:
    """Read and validate the layers of a study in WGS84 (see :func:`load_study`).

    Parameters
    ----------
    path, overrides, coords
        As for :func:`load_study`.

    Returns
    -------
    StudyLayers
        The layers, where each came from, the study's name and metric CRS.
    """
    srcs = study_sources(path, overrides=overrides, coords=coords)
    reader = _StudyReader(srcs.src, srcs.specs)
    layers, sources = reader.read_all()
    area = (reader.districts_union if reader.districts_union is not None
            else shapely.union_all(np.asarray(layers["districts"].geometry.values)))
    desc = str(srcs.src)
    if srcs.overrides:
        desc += "; " + ", ".join(f"{k} from {p}" for k, p in sorted(srcs.overrides.items()))
    return StudyLayers(layers=layers, sources=sources, derive_zones=srcs.derive_zones,
                       name=srcs.name, crs=metric_crs(srcs.crs, area), source=desc)


def study_files(path: str | os.PathLike[str]) -> list[Path]:
    """The layer files a study manifest names (none for a GeoPackage or a bad manifest).

    Parameters
    ----------
    path
        A study manifest or GeoPackage.

    Returns
    -------
    list of pathlib.Path
        Files that no output may replace (the manifest's problems are reported on loading).
    """
    manifest = Path(path) / "study.toml" if Path(path).is_dir() else Path(path)
    if manifest.suffix.lower() != ".toml":
        return []
    try:
        return sorted({manifest, *(s.path for s in read_manifest(manifest).layers.values())})
    except NetplanError:
        return []


def finish_study(read: StudyLayers) -> Study:
    """The study from its layers as read (:func:`read_study_layers`): reprojected to its CRS,
    ring zones derived, features labelled."""
    from netplan.study import geometry

    metric = {k: to_metric(g, read.crs) for k, g in read.layers.items()}
    sources = dict(read.sources)
    if read.derive_zones:
        metric["ring_zones"] = geometry.ring_zones_from_rings(
            metric["ring_roads"], metric["districts"]
        )
        sources["ring_zones"] = "derived from ring_roads"
    for kind in ("zones", "branches", "candidates"):
        metric[kind] = geometry.label_features(
            metric[kind], gdf_districts=metric["districts"], gdf_ring_zones=metric["ring_zones"]
        )
    return Study(
        districts=metric["districts"],
        ring_roads=metric["ring_roads"],
        ring_zones=metric["ring_zones"],
        zones=metric["zones"],
        branches=metric["branches"],
        candidates=metric["candidates"],
        source=read.source,
        layer_sources=dict(sorted(sources.items())),
        name=read.name,
        crs=read.crs,
    )


BEIJING_NAME: Final = "北京 Beijing"
"""The name of the embedded study."""
STUDY_META: Final = "netplan_study"
"""The GeoPackage table in which `netplan study build` records a study's name and CRS."""


def _gpkg_identity(gpkg: Path) -> tuple[str, str]:
    """A GeoPackage study's name and CRS: its metadata table, the embedded one's, or guesses."""
    from netplan._paths import default_gpkg

    meta = read_study_meta(gpkg)
    if meta is not None:
        return meta
    try:
        embedded = gpkg.exists() and gpkg.resolve() == default_gpkg().resolve()
    except DataNotFoundError:
        embedded = False
    return (BEIJING_NAME, BEIJING_CRS) if embedded else (gpkg.stem, AUTO)


def read_study_meta(gpkg: Path) -> tuple[str, str] | None:
    """``(name, crs)`` recorded in a GeoPackage by ``netplan study build``, if any.

    Parameters
    ----------
    gpkg
        The GeoPackage.

    Returns
    -------
    tuple of str, or None
        The name and CRS; ``None`` if the file has no (valid) metadata table.
    """
    import pyogrio

    if not gpkg.is_file() or STUDY_META not in gpkg_layers(gpkg):
        return None
    try:
        table = pyogrio.read_dataframe(source_path(gpkg, what="GeoPackage"), layer=STUDY_META,
                                       read_geometry=False)
        meta = dict(zip(table["key"].astype(str), table["value"].astype(str), strict=True))
    except Exception as exc:
        raise NetplanError(f"{gpkg}: cannot read its table '{STUDY_META}' ({exc}); build the "
                           "study again with `netplan study build`") from None
    if not meta.get("name") or not meta.get("crs"):
        return None
    return meta["name"], meta["crs"]


_NEEDED: Final = ", ".join(k for k in STUDY_KINDS if k != "ring_zones")
"""The layers a study GeoPackage must hold (ring zones are derived when absent)."""


def _check_overrides(over: Mapping[str, Path]) -> None:
    unknown = sorted(set(over) - set(STUDY_KINDS))
    if unknown:
        raise NetplanError(
            f"cannot override layer(s) {', '.join(unknown)}: unknown kind; expected one of "
            f"{', '.join(STUDY_KINDS)}"
        )


def _check_study_files(gpkg: Path, over: Mapping[str, Path]) -> None:
    """Raise if an override names an unknown kind or the GeoPackage is missing or no .gpkg."""
    _check_overrides(over)
    if not gpkg.exists() and set(STUDY_KINDS) - {"ring_zones"} - set(over):
        raise DataNotFoundError(
            f"study GeoPackage not found: {gpkg}; pass --study FILE: a study manifest "
            f"(study.toml, drafted by `netplan study init DIR`) or a .gpkg file holding the "
            f"layers {_NEEDED}, or omit --data / --study to use the embedded dataset"
        )
    if gpkg.exists() and (gpkg.is_dir() or gpkg.suffix.lower() != ".gpkg"):
        what = "a folder" if gpkg.is_dir() else f"a '{gpkg.suffix or '(no extension)'}' file"
        raise NetplanError(
            f"a study is a manifest (study.toml) or one GeoPackage (.gpkg) holding the layers "
            f"{_NEEDED}, but {gpkg} is {what}; describe your files in a study.toml "
            f"(`netplan study init {gpkg.parent if gpkg.is_file() else gpkg}` drafts one), "
            "or write your layers into one GeoPackage, each under its kind's name, and check "
            "it with `netplan layers validate study.gpkg`"
        )


_EMPTY: Final[dict[str, str]] = {"ring_roads": "ring", "candidates": "candidate_id"}
"""Layers a manifest may leave out: they are then empty (no rings; no candidate sites)."""


class _StudyReader:
    """Reads the layers of one study, collecting the problems of every layer."""

    def __init__(self, src: Path, specs: Mapping[str, LayerSpec]) -> None:
        self.src, self.specs = src, specs
        self.errors: list[LayerError] = []
        self.layers: dict[str, gpd.GeoDataFrame] = {}
        self.sources: dict[str, str] = {}
        #: The union of the districts (WGS84), computed once by :meth:`read_all`.
        self.districts_union: shapely.Geometry | None = None

    def read_all(self) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, str]]:
        """The layers read (WGS84) and their sources.

        Districts come first: their union is the study area the points and zones must lie in.
        """
        self.read("districts", None)
        area = None
        if "districts" in self.layers:
            self.districts_union = shapely.union_all(
                np.asarray(self.layers["districts"].geometry.values))
            area = shapely.buffer(self.districts_union, 0)
        for kind in ("ring_roads", "zones", "branches", "candidates", "ring_zones"):
            if kind in self.specs:
                self.read(kind, area if kind in ("zones", "branches", "candidates") else None)
            elif kind in _EMPTY:
                self.layers[kind] = _empty_layer(kind)
                self.sources[kind] = "none (not in the manifest)"
        self.check_shared_ids()
        if self.errors:
            raise _combine(self.errors, str(self.src))
        return self.layers, self.sources

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
        """Read one layer as its spec says; keep its problems."""
        spec = self.specs[kind]
        try:
            self.layers[kind] = read_layer(
                spec.path, kind, layer=spec.layer, coords=spec.coords, lon_col=spec.lon,
                lat_col=spec.lat, crs=spec.crs, study_area=area, encoding=spec.encoding,
                columns=spec.columns, values=spec.values,
            )
            self.sources[kind] = str(spec.path)
        except LayerError as exc:
            self.errors.append(exc)
        except NetplanError as exc:
            in_gpkg = spec.layer is not None and spec.path == self.src and spec.path.exists()
            if in_gpkg and kind not in gpkg_layers(spec.path):
                self.errors.append(LayerError(kind, [
                    f"layer missing from {self.src}: no layer '{kind}' (its layers: "
                    f"{examples(sorted(gpkg_layers(spec.path))) or 'none'}); add the layer "
                    f"under that name (a study needs {_NEEDED}; ring_zones is derived when "
                    "absent)"], str(self.src)))
            else:
                self.errors.append(LayerError(kind, [str(exc)], str(spec.path)))


def _empty_layer(kind: str) -> gpd.GeoDataFrame:
    """An empty layer of ``kind`` with its schema's columns, in WGS84."""
    sch = SCHEMAS[kind]
    cols = {c.name: pd.Series([], dtype=object) for c in (sch.id, *sch.columns)}
    return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


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


_SKIP: Final = frozenset({"layer_styles", STUDY_META})
