"""Read, validate and write netplan's layers; load a whole study.

A *layer* is one of the kinds in :data:`SCHEMAS` (districts, ring roads, ring zones,
population zones, branches, candidate sites). :func:`read_layer` reads it from a
GeoPackage, GeoJSON, Shapefile, GeoParquet or CSV file (lon/lat columns, point layers
only), converts GCJ-02 / BD-09 coordinates or any other CRS to WGS84, validates it once
and reports *every* problem at once in one :class:`~netplan._errors.LayerError`.
:func:`load_study` reads the six layers of a study (the embedded Beijing GeoPackage by
default, any layer replaceable by a user's file), reprojects them to the metric CRS and
labels zones, branches and candidates with their district and ring zone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from netplan._errors import DataNotFoundError, LayerError, NetplanError
from netplan.study import _validate as v
from netplan.study.coords import check_coords, geometry_to_wgs84

logger = logging.getLogger(__name__)

WGS84: Final = "EPSG:4326"

# --- the schema table: kind → id column, columns with dtypes, geometry types -----------


@dataclass(frozen=True)
class Column:
    """One attribute column of a layer.

    ``dtype`` is ``"str"``, ``"int"``, ``"float"`` or ``"adcode"`` (6-digit text). An
    optional column that is absent is filled with ``default`` (``None`` means it is
    derived, see :func:`read_layer`).
    """

    name: str
    dtype: str
    required: bool = True
    min_value: float | None = None
    max_value: float | None = None
    default: Any = None


@dataclass(frozen=True)
class LayerSchema:
    """What a layer kind must hold."""

    kind: str
    id: Column
    columns: tuple[Column, ...]
    geometry: tuple[str, ...]
    unique_ids: bool = True

    @property
    def points(self) -> bool:
        return self.geometry == ("Point",)

    def describe(self) -> str:
        cols = ", ".join(
            f"{c.name} ({c.dtype}{'' if c.required else ', optional'})"
            for c in (self.id, *self.columns)
        )
        return f"{self.kind}: {cols}; geometry {' or '.join(self.geometry)}"


_POLY: Final = ("Polygon", "MultiPolygon")
SCHEMAS: Final[dict[str, LayerSchema]] = {
    s.kind: s
    for s in (
        LayerSchema(
            "districts",
            Column("adcode", "adcode"),
            (
                Column("name_zh", "str"),
                Column("name_pinyin", "str", required=False, default=""),
                Column("name_en", "str", required=False, default=""),
                Column("zone", "str", required=False, default=""),
                Column("pop_2010", "int", min_value=0),
                Column("pop_2020", "int", min_value=0),
            ),
            _POLY,
        ),
        LayerSchema(
            "ring_roads",
            Column("ring", "int", min_value=2, max_value=6),
            (
                Column("name_zh", "str", required=False, default=""),
                Column("name_en", "str", required=False, default=""),
                Column("length_km_published", "float", required=False, default=np.nan),
                Column("length_km", "float", required=False),  # derived from the line
                Column("source", "str", required=False, default="user"),
            ),
            ("LineString", "MultiLineString"),
            unique_ids=False,  # a ring may come in several pieces (an OpenStreetMap extract)
        ),
        LayerSchema("ring_zones", Column("ring_zone", "str"), (), _POLY),
        LayerSchema(
            "zones",
            Column("zone_id", "str"),
            (
                Column("adcode", "adcode", required=False),  # derived by load_study
                Column("pop_2010", "int", min_value=0),
                Column("pop_2020", "int", min_value=0),
                Column("inflow", "int", required=False),  # derived: pop_2020 - pop_2010
            ),
            _POLY,
        ),
        LayerSchema(
            "branches",
            Column("branch_id", "str"),
            (
                Column("name", "str", required=False, default=""),
                Column("format", "str"),
                Column("counters", "int", min_value=1),
                Column("terminals", "int", min_value=1),
                Column("source", "str", required=False, default="user"),
            ),
            ("Point",),
        ),
        LayerSchema(
            "candidates",
            Column("candidate_id", "str"),
            (
                Column("name", "str", required=False, default=""),
                Column("kind", "str", required=False, default="user"),
            ),
            ("Point",),
        ),
    )
}
"""Every layer kind netplan reads, in one place."""

KINDS: Final[tuple[str, ...]] = tuple(SCHEMAS)
STUDY_KINDS: Final[tuple[str, ...]] = (
    "districts", "ring_roads", "ring_zones", "zones", "branches", "candidates",
)
_RINGS: Final = (2, 3, 4, 5, 6)

FORMATS: Final[dict[str, str]] = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".csv": "CSV",
}
_ACCEPTED = (
    "GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp), GeoParquet "
    "(.parquet, .geoparquet) and, for point layers, CSV with longitude/latitude columns (.csv)"
)


def schema(kind: str) -> LayerSchema:
    """The :class:`LayerSchema` of ``kind``; unknown kinds raise NetplanError."""
    try:
        return SCHEMAS[kind]
    except KeyError:
        raise NetplanError(
            f"unknown layer kind {kind!r}; expected one of {', '.join(KINDS)}"
        ) from None


# --- reading ---------------------------------------------------------------------------


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NetplanError(
            f"cannot read {path}: unknown file type '{path.suffix or '(none)'}'; netplan reads "
            f"{_ACCEPTED}"
        )
    return fmt


def gpkg_layers(path: str | os.PathLike[str]) -> list[str]:
    """Names of the layers in a GeoPackage (or any multi-layer file)."""
    import pyogrio

    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"file not found: {p}")
    try:
        return [str(name) for name in pyogrio.list_layers(p)[:, 0]]
    except Exception as exc:
        raise NetplanError(
            f"cannot read {p} as GeoPackage ({_reason(exc)}); the file is corrupt or not a "
            f"GeoPackage: export it again; netplan reads {_ACCEPTED}"
        ) from exc


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # GDAL's advice to prefix the path with a driver name does not apply to netplan
    text = re.sub(r";? ?It might help to specify the correct driver explicitly.*$", "", text)
    return text[:300] if text else type(exc).__name__


def _read_raw(
    path: Path, fmt: str, kind: str, layer: str | None
) -> tuple[pd.DataFrame, str | None]:
    """Read the file as it is; returns the frame and the layer name read (GeoPackage)."""
    import pyogrio

    if fmt == "CSV":
        # UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK, common in China)
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return pd.read_csv(path, dtype=object, encoding=encoding), None
            except UnicodeDecodeError:
                continue
            except Exception as exc:
                raise NetplanError(
                    f"cannot read {path} as CSV ({_reason(exc)}); netplan reads {_ACCEPTED}"
                ) from exc
        raise NetplanError(
            f"cannot read {path} as CSV: it is neither UTF-8 nor GB18030 text; save it as UTF-8"
        )
    if fmt == "GeoParquet":
        try:
            return gpd.read_parquet(path), None
        except ValueError as exc:  # plain Parquet without geometry metadata
            if "geo" not in str(exc).lower():
                raise NetplanError(
                    f"cannot read {path} as GeoParquet ({_reason(exc)}); netplan reads {_ACCEPTED}"
                ) from exc
            try:
                return pd.read_parquet(path), None
            except Exception as exc2:
                raise NetplanError(
                    f"cannot read {path} as Parquet ({_reason(exc2)}); netplan reads {_ACCEPTED}"
                ) from exc2
        except Exception as exc:
            raise NetplanError(
                f"cannot read {path} as GeoParquet ({_reason(exc)}); netplan reads {_ACCEPTED}"
            ) from exc
    read_as = None  # GeoJSON, Shapefile: one layer per file
    if fmt == "GeoPackage":
        names = gpkg_layers(path)
        read_as = layer or kind
        if read_as not in names:
            if layer is None and len(names) == 1:
                logger.info("%s: no layer %r, reading its only layer %r", path, kind, names[0])
                read_as = names[0]
            else:
                raise NetplanError(
                    f"{path} has no layer '{read_as}'; its layers are "
                    f"{', '.join(names) or '(none)'}; pass the layer name with --layer NAME "
                    "(or layer=NAME)"
                )
    try:
        gdf = gpd.read_file(path, layer=read_as, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise NetplanError(
            f"cannot read {path} as {fmt} ({_reason(exc)}); the file may be corrupt or not "
            f"a {fmt} file; netplan reads {_ACCEPTED}"
        ) from exc
    except Exception as exc:
        raise NetplanError(
            f"cannot read {path} as {fmt} ({_reason(exc)}); netplan reads {_ACCEPTED}"
        ) from exc
    return gdf, read_as


def _points_from_columns(
    df: pd.DataFrame, rows: v.RowNamer, *, lon_col: str, lat_col: str
) -> tuple[np.ndarray, list[str]]:
    """Point geometries from lon/lat columns (missing or bad values give None)."""
    problems: list[str] = []
    missing_cols = [c for c in (lon_col, lat_col) if c not in df.columns]
    if missing_cols:
        problems.append(
            f"columns: expected longitude/latitude columns '{lon_col}' and '{lat_col}', "
            f"missing {', '.join(repr(c) for c in missing_cols)}; found columns "
            f"{', '.join(map(str, df.columns))}; name them with --lon-col/--lat-col "
            "(lon_col=/lat_col=)"
        )
        return np.full(len(df), None, dtype=object), problems
    xy = []
    for col in (lon_col, lat_col):
        values, found = v.coerce_number(df[col], col, rows, integer=False)
        problems += found
        xy.append(
            values.to_numpy(dtype=np.float64) if values is not None
            else pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        )
    ok = np.isfinite(xy[0]) & np.isfinite(xy[1])
    geoms = np.full(len(df), None, dtype=object)
    geoms[ok] = shapely.points(xy[0][ok], xy[1][ok])
    return geoms, problems


def read_layer(
    path: str | os.PathLike[str],
    kind: str,
    *,
    layer: str | None = None,
    coords: str = "wgs84",
    lon_col: str = "lon",
    lat_col: str = "lat",
    crs: str | None = None,
    study_area: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Read one layer, validate it and return it in WGS84 (EPSG:4326).

    Parameters
    ----------
    path
        A GeoPackage, GeoJSON, Shapefile, GeoParquet or CSV file (CSV and plain Parquet:
        point layers with columns ``lon_col``/``lat_col``).
    kind
        The layer kind, a key of :data:`SCHEMAS` (``"branches"``, ``"zones"`` ...).
    layer
        Layer name inside a GeoPackage; defaults to ``kind`` (or the file's only layer).
    coords
        ``"wgs84"`` (default), ``"gcj02"`` (Amap/Gaode, Tencent) or ``"bd09"`` (Baidu): the
        system of longitude/latitude coordinates; only meaningful for geographic
        coordinates. Files in a projected CRS are simply reprojected.
    lon_col, lat_col
        Coordinate columns of CSV / plain Parquet files.
    crs
        CRS to assume when the file declares none (CSV: default WGS84). A file that
        declares a CRS is never overridden.
    study_area
        A WGS84 polygon; features outside it (points not covered by it, polygons and
        lines not touching it) are problems.

    Returns
    -------
    geopandas.GeoDataFrame
        The id column, the schema columns (coerced: integer-valued floats to int, adcode
        to 6-digit text; optional columns filled), any extra columns of the file, and the
        geometry, in file order, in EPSG:4326.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    NetplanError
        The file cannot be read (corrupt, wrong format, unknown extension, missing layer).
    LayerError
        The layer has problems; ``problems`` lists all of them (missing or mistyped
        columns, missing/duplicate ids, invalid/empty/wrong-type geometries, missing CRS,
        negative or missing populations, coordinates out of range, features outside
        the study area).
    """
    sch = schema(kind)
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"{kind} layer file not found: {p}")
    coords = _coords(coords)
    fmt = _format_of(p)
    raw, layer_read = _read_raw(p, fmt, kind, layer)
    source = f"{p}" + (f", layer '{layer_read}'" if layer_read and layer_read != kind else "")
    gdf, problems = _validate_frame(
        raw, sch, fmt=fmt, coords=coords, lon_col=lon_col, lat_col=lat_col, crs=crs,
        study_area=study_area,
    )
    if problems:
        raise LayerError(kind, problems, source=source)
    assert gdf is not None
    logger.debug("read %s (%d features) from %s", kind, len(gdf), source)
    return gdf


def _coords(coords: str) -> str:
    try:
        return check_coords(coords)
    except ValueError as exc:
        raise NetplanError(f"{exc} (--coords / coords=)") from None


def validate_layer(
    gdf: pd.DataFrame,
    kind: str,
    *,
    coords: str = "wgs84",
    study_area: shapely.Geometry | None = None,
) -> gpd.GeoDataFrame:
    """Validate an in-memory layer like :func:`read_layer` does; returns it in WGS84."""
    sch = schema(kind)
    out, problems = _validate_frame(
        gdf, sch, fmt="GeoDataFrame", coords=_coords(coords), lon_col="lon", lat_col="lat",
        crs=None, study_area=study_area,
    )
    if problems:
        raise LayerError(kind, problems)
    assert out is not None
    return out


def _validate_frame(
    raw: pd.DataFrame,
    sch: LayerSchema,
    *,
    fmt: str,
    coords: str,
    lon_col: str,
    lat_col: str,
    crs: str | None,
    study_area: shapely.Geometry | None,
) -> tuple[gpd.GeoDataFrame | None, list[str]]:
    problems: list[str] = []
    df = pd.DataFrame(raw).reset_index(drop=True)
    raw_ids = df[sch.id.name].tolist() if sch.id.name in df.columns else None
    rows = v.RowNamer(raw_ids, sch.id.name)

    # geometry (and CRS)
    file_crs: CRS | None
    if isinstance(raw, gpd.GeoDataFrame) and raw.geometry.name in raw.columns:
        geoms = np.asarray(raw.geometry.values, dtype=object)
        file_crs = raw.crs
        df = df.drop(columns=[raw.geometry.name])
    else:
        if not sch.points:
            return None, [
                f"{fmt} input holds no geometry column, and only point layers can be built "
                f"from '{lon_col}'/'{lat_col}' columns; {sch.kind} need "
                f"{' or '.join(sch.geometry)} geometries: use GeoPackage, GeoJSON, Shapefile "
                "or GeoParquet"
            ]
        geoms, found = _points_from_columns(df, rows, lon_col=lon_col, lat_col=lat_col)
        problems += found
        file_crs = CRS.from_user_input(crs or WGS84)
        df = df.drop(columns=[c for c in (lon_col, lat_col) if c in df.columns])
    if file_crs is None:
        if crs is not None:
            file_crs = CRS.from_user_input(crs)
        else:
            problems.append(
                "CRS: expected a coordinate reference system, found none (the file does not "
                "say what its coordinates are); set it: `netplan layers validate --crs "
                "EPSG:4326 ...`, read_layer(..., crs='EPSG:4326'), or gdf.set_crs('EPSG:4326') "
                "before writing the file (or add the .prj of a Shapefile)"
            )
    if coords != "wgs84" and file_crs is not None and not file_crs.is_geographic:
        problems.append(
            f"CRS: coords='{coords}' applies to longitude/latitude only, but the layer is in "
            f"the projected CRS {file_crs.to_string()}; drop --coords (coords=) for projected "
            "files"
        )

    # single-part multi points become points (safe)
    if sch.points:
        multi = np.array(
            [g is not None and g.geom_type == "MultiPoint" and len(g.geoms) == 1 for g in geoms],
            dtype=bool,
        )
        if multi.any():
            geoms = geoms.copy()
            geoms[multi] = [g.geoms[0] for g in geoms[multi]]
    usable, found = v.geometry_problems(geoms, rows, allowed=sch.geometry)
    problems += found

    # columns
    out = pd.DataFrame(index=df.index)
    for col in (sch.id, *sch.columns):
        if col.name not in df.columns:
            if col.required or col is sch.id:
                problems.append(
                    f"column '{col.name}': expected {_dtype_word(col)} column, found no such "
                    f"column (columns present: {', '.join(map(str, df.columns)) or 'none'})"
                )
            elif col.default is not None:
                out[col.name] = col.default
            continue
        values, found = _coerce(df[col.name], col, rows, is_id=col is sch.id)
        problems += found
        if values is not None:
            out[col.name] = values
    if sch.id.name in out.columns and sch.unique_ids:
        problems += v.duplicate_ids(out[sch.id.name], sch.id.name)

    # kind-specific checks and derived columns
    problems += _kind_checks(sch, out, geoms, usable, rows)

    # to WGS84, coordinate ranges, study area
    projectable = file_crs is not None and (coords == "wgs84" or file_crs.is_geographic)
    if file_crs is not None and projectable:
        if file_crs.is_geographic:  # check the coordinates as given, before any conversion
            problems += v.lonlat_range_problems(geoms, usable, rows)
            usable = usable & _in_range(geoms)
        wgs = _to_wgs84(geoms, usable, file_crs, coords)
        if not file_crs.is_geographic:
            problems += v.lonlat_range_problems(wgs, usable, rows)
        if study_area is not None:
            problems += _outside_problems(wgs, usable & _in_range(wgs), rows, study_area, sch)
        geoms = wgs
    if problems:
        return None, problems

    extra = [c for c in df.columns if c not in out.columns]
    for c in extra:
        out[c] = df[c]
    gdf = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
    if sch.kind == "ring_roads":
        gdf = _fill_ring_lengths(gdf)
    return gdf.reset_index(drop=True), []


def _in_range(geoms: np.ndarray) -> np.ndarray:
    """True where a geometry's bounds are finite longitude/latitude."""
    ok = np.zeros(len(geoms), dtype=bool)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if present.any():
        b = shapely.bounds(geoms[present])
        with np.errstate(invalid="ignore"):
            ok[present] = (
                np.isfinite(b).all(axis=1) & (b[:, 0] >= -180) & (b[:, 2] <= 180)
                & (b[:, 1] >= -90) & (b[:, 3] <= 90)
            )
    return ok


def _to_wgs84(geoms: np.ndarray, usable: np.ndarray, file_crs: CRS, coords: str) -> np.ndarray:
    out = np.full(len(geoms), None, dtype=object)
    if not usable.any():
        return out
    good = gpd.GeoSeries(geoms[usable], crs=file_crs)
    if not file_crs.equals(CRS.from_epsg(4326)):
        with np.errstate(all="ignore"):
            good = good.to_crs(WGS84)
    converted = geometry_to_wgs84(np.asarray(good.values, dtype=object), coords=coords)
    out[usable] = np.asarray(converted, dtype=object)
    # keep unusable geometries as they were (they are reported anyway)
    out[~usable] = geoms[~usable]
    return out


def _outside_problems(
    geoms: np.ndarray, usable: np.ndarray, rows: v.RowNamer, area: shapely.Geometry,
    sch: LayerSchema,
) -> list[str]:
    if not usable.any():
        return []
    shapely.prepare(area)
    inside = np.ones(len(geoms), dtype=bool)
    if sch.points:
        inside[usable] = shapely.covers(area, geoms[usable])
    else:
        inside[usable] = shapely.intersects(area, geoms[usable])
    if inside.all():
        return []
    pos = np.flatnonzero(~inside)
    where = [
        f"({g.x:.6f}, {g.y:.6f})" if g.geom_type == "Point"
        else f"near ({g.centroid.x:.4f}, {g.centroid.y:.4f})"
        for g in geoms[pos]
    ]
    what = "lie" if sch.points else "do not touch it and lie"
    if len(pos) == 1:
        what = "lies" if sch.points else "does not touch it and lies"
    return [
        f"study area: expected every feature inside the study area (the union of the "
        f"districts), found {v.plural(len(pos), 'feature')} that {what} outside it (lon, lat): "
        + rows.many(pos, values=where, joiner=" at ", verbatim=True)
        + "; fix their coordinates (are they GCJ-02/BD-09? use --coords) or drop them"
    ]


def _dtype_word(col: Column) -> str:
    return {
        "str": "a text", "int": "an integer", "float": "a number", "adcode": "a 6-digit adcode",
    }[col.dtype]


def _coerce(
    series: pd.Series, col: Column, rows: v.RowNamer, *, is_id: bool
) -> tuple[pd.Series | None, list[str]]:
    required = col.required or is_id
    if col.dtype == "adcode":
        return v.coerce_adcode(series, col.name, rows, required=required)
    if col.dtype == "str":
        return v.coerce_text(series, col.name, rows, required=required,
                             default=col.default if isinstance(col.default, str) else "")
    return v.coerce_number(
        series, col.name, rows, integer=col.dtype == "int", required=required,
        min_value=col.min_value, max_value=col.max_value,
    )


def _kind_checks(
    sch: LayerSchema, out: pd.DataFrame, geoms: np.ndarray, usable: np.ndarray,
    rows: v.RowNamer,
) -> list[str]:
    problems: list[str] = []
    if sch.kind == "zones" and {"pop_2010", "pop_2020"} <= set(out.columns):
        inflow = out["pop_2020"] - out["pop_2010"]
        if "inflow" in out.columns:
            # missing inflow values are derived like an absent column (NA compares as equal)
            bad = np.asarray((out["inflow"] != inflow).fillna(False), dtype=bool)
            if not bad.any():
                out["inflow"] = inflow
            else:
                pos = np.flatnonzero(bad)
                problems.append(
                    "column 'inflow': expected pop_2020 - pop_2010, found other values in "
                    f"{v.plural(len(pos), 'row')}: "
                    + rows.many(pos, values=out["inflow"].iloc[pos].tolist())
                    + "; drop the column to have it computed"
                )
        else:
            out["inflow"] = inflow
    if sch.kind == "zones" and "adcode" not in out.columns:
        out["adcode"] = pd.Series(None, index=out.index, dtype=object)
    if sch.kind == "ring_roads" and "ring" in out.columns:
        present = set(out["ring"].dropna().astype(int))
        missing = [k for k in _RINGS if k not in present]
        if missing:
            problems.append(
                f"column 'ring': expected the rings {', '.join(map(str, _RINGS))}, found no line "
                f"for ring {', '.join(map(str, missing))}"
            )
        for k in sorted(present):
            sel = usable & (out["ring"] == k).to_numpy(dtype=bool)
            if not sel.any():
                continue
            faces = shapely.polygonize(shapely.get_parts(shapely.union_all(geoms[sel])))
            if shapely.is_empty(faces) or shapely.area(faces) <= 0:
                pos = np.flatnonzero(sel)
                problems.append(
                    f"geometry: expected ring {k} to be a closed line (or lines that together "
                    f"close a loop), found lines that enclose no area: {rows.many(pos)}"
                )
    if sch.kind == "ring_roads" and "length_km" not in out.columns:
        out["length_km"] = np.nan  # filled from the geometry once in WGS84 (see below)
    return problems


def _fill_ring_lengths(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Geodesic length (km) of ring lines where ``length_km`` is missing."""
    missing = gdf["length_km"].isna().to_numpy()
    if missing.any():
        from pyproj import Geod

        geod = Geod(ellps="WGS84")
        lengths = [geod.geometry_length(g) / 1000.0 for g in gdf.geometry.values[missing]]
        gdf.loc[missing, "length_km"] = np.round(lengths, 3)
    return gdf


# --- writing ---------------------------------------------------------------------------


def write_layer(
    gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], *, layer: str
) -> Path:
    """Write a layer in WGS84, atomically (a temporary file, then a rename).

    The format follows the extension (see :data:`FORMATS`). In a GeoPackage only the
    named layer is replaced; the file's other layers are kept. CSV holds point layers
    only, as ``lon``/``lat`` columns.

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
    out = gdf.to_crs(WGS84) if not CRS.from_user_input(gdf.crs).equals(CRS.from_epsg(4326)) \
        else gdf
    rings = np.asarray(shapely.get_type_id(np.asarray(out.geometry.values)) == 2)
    if rings.any():  # LinearRing: GDAL has no such type (and pyogrio crashes writing it)
        out = out.copy()
        geoms = np.asarray(out.geometry.values, dtype=object)
        geoms[rings] = [shapely.LineString(g.coords) for g in geoms[rings]]
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "Shapefile":
        _write_shapefile(out, p)
        return p
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if fmt == "GeoPackage":
            if p.exists():
                shutil.copyfile(p, tmp)
            else:
                tmp.unlink()
            out.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio")
        elif fmt == "GeoJSON":
            tmp.unlink()
            out.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        elif fmt == "GeoParquet":
            out.to_parquet(tmp, index=False)
        else:  # CSV
            if not (out.geom_type == "Point").all():
                raise NetplanError(
                    f"cannot write layer '{layer}' to {p}: CSV holds points only, and the "
                    "layer has other geometries; write a .gpkg or .geojson instead"
                )
            table = pd.DataFrame(out.drop(columns=out.geometry.name))
            table["lon"] = out.geometry.x.to_numpy()
            table["lat"] = out.geometry.y.to_numpy()
            table.to_csv(tmp, index=False)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


def _write_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmpdir:
        tmp = Path(tmpdir) / path.name
        gdf.to_file(tmp, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
        for part in sorted(Path(tmpdir).iterdir()):
            os.replace(part, path.with_suffix(part.suffix))


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject a layer to netplan's metric CRS (:data:`netplan.geometry.METRIC_CRS`)."""
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
        any format :func:`read_layer` reads. Ring zones are recomputed from the ring roads
        whenever ring roads or districts are replaced (or the GeoPackage has none).
    coords
        Coordinate system (``"wgs84"``, ``"gcj02"``, ``"bd09"``) of the override files.
        The GeoPackage is netplan's own format and always read as it declares (WGS84).

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
    unknown = sorted(set(over) - set(STUDY_KINDS))
    if unknown:
        raise NetplanError(
            f"cannot override layer(s) {', '.join(unknown)}: unknown kind; expected one of "
            f"{', '.join(STUDY_KINDS)}"
        )
    needed = ", ".join(k for k in STUDY_KINDS if k != "ring_zones")
    if not gpkg.exists() and set(STUDY_KINDS) - {"ring_zones"} - set(over):
        raise DataNotFoundError(
            f"study GeoPackage not found: {gpkg}; pass an existing .gpkg file holding the "
            f"layers {needed} (--data FILE), or omit --data to use the embedded dataset"
        )
    if gpkg.exists() and (gpkg.is_dir() or gpkg.suffix.lower() != ".gpkg"):
        what = "a folder" if gpkg.is_dir() else f"a '{gpkg.suffix or '(no extension)'}' file"
        raise NetplanError(
            f"the study must be one GeoPackage (.gpkg) holding the layers {needed}, but "
            f"{gpkg} is {what}; write your layers into one GeoPackage, each under its "
            "kind's name (gdf.to_file('study.gpkg', layer='branches')), and check it with "
            "`netplan layers validate study.gpkg`"
        )
    in_gpkg = set(gpkg_layers(gpkg)) if gpkg.exists() else set()

    errors: list[LayerError] = []
    layers: dict[str, gpd.GeoDataFrame] = {}
    sources: dict[str, str] = {}


    def _read(kind: str, area: shapely.Geometry | None) -> None:
        src = over.get(kind, gpkg)
        try:
            layers[kind] = read_layer(
                src, kind, layer=None if kind in over else kind,
                coords=coords if kind in over else "wgs84", study_area=area,
            )
            sources[kind] = str(src)
        except LayerError as exc:
            errors.append(exc)
        except NetplanError as exc:
            if kind not in over and kind not in in_gpkg:
                errors.append(LayerError(kind, [
                    f"layer missing from {gpkg}: no layer '{kind}' (its layers: "
                    f"{', '.join(sorted(in_gpkg)) or 'none'}); add the layer under that name "
                    f"(a study needs {needed}; ring_zones is derived when absent)"], str(gpkg)))
            else:
                errors.append(LayerError(kind, [str(exc)], str(src)))

    _read("districts", None)
    area = (
        shapely.union_all(np.asarray(layers["districts"].geometry.values))
        if "districts" in layers else None
    )
    if area is not None:
        area = shapely.buffer(area, 0)
    for kind in ("ring_roads", "zones", "branches", "candidates"):
        _read(kind, area if kind in ("zones", "branches", "candidates") else None)
    derive_zones = (
        "ring_zones" not in over
        and ("ring_roads" in over or "districts" in over or "ring_zones" not in in_gpkg)
    )
    if not derive_zones:
        _read("ring_zones", None)
    if errors:
        raise _combine(errors, str(gpkg))

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
    valid = "; ".join(
        f"{r['adcode']} {r.get('name_zh', '')} ({r.get('name_en') or r.get('name_pinyin') or ''})"
        for r in gdf_districts.sort_values("adcode").to_dict("records")
    )
    what = "is ambiguous" if key in table else "matches no district"
    raise NetplanError(
        f"district {name!r} {what}; give an adcode, a Chinese, pinyin or English name: {valid}"
    )


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


def validate_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    kind: str | None = None,
    layer: str | None = None,
    coords: str = "wgs84",
    crs: str | None = None,
    lon_col: str = "lon",
    lat_col: str = "lat",
    within: str | os.PathLike[str] | None = None,
) -> list[LayerReport]:
    """Validate files; one :class:`LayerReport` per layer checked, problems collected.

    The kind comes from ``kind``, else from the GeoPackage layer name or the file name.
    A GeoPackage without ``layer`` and ``kind`` has every layer named like a kind
    checked. ``within`` is a districts file whose union is the study area.
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
                                 lat_col=lat_col, study_area=area)
                reports.append(LayerReport(str(p), lyr, knd, len(gdf)))
            except LayerError as exc:
                reports.append(LayerReport(str(p), lyr, knd, None, tuple(exc.problems)))
            except NetplanError as exc:
                reports.append(LayerReport(str(p), lyr, knd, None, (str(exc),)))
    return reports


_SKIP: Final = frozenset({"layer_styles"})
