"""Read one layer from a file and validate it.

:func:`read_layer` reads a layer of one kind of :data:`~netplan.study.schemas.SCHEMAS` from
a GeoPackage, GeoJSON, Shapefile, GeoParquet or CSV file (lon/lat columns, point layers
only), converts GCJ-02 / BD-09 coordinates or any other CRS to WGS84, validates it once and
reports *every* problem at once in one :class:`~netplan._errors.LayerError`;
:func:`validate_layer` checks a frame in memory the same way.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from netplan._errors import DataNotFoundError, LayerError, NetplanError, examples, quoted
from netplan.study import _validate as v
from netplan.study.coords import check_coords, geometry_to_wgs84
from netplan.study.crs import crs_hint, looks_geographic
from netplan.study.inputs import check_file_size, check_rows, is_remote, source_path
from netplan.study.schemas import (
    CENSUS_COLUMN,
    WGS84,
    Column,
    LayerSchema,
    census_column,
    schema,
)

__all__ = ["FORMATS", "gpkg_layers", "read_layer", "validate_layer"]

logger = logging.getLogger(__name__)

FORMATS: Final[dict[str, str]] = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".csv": "CSV",
}
"""File extension → format of the files netplan reads and writes."""
_ACCEPTED = (
    "GeoPackage (.gpkg), GeoJSON (.geojson, .json), Shapefile (.shp), GeoParquet "
    "(.parquet, .geoparquet) and, for point layers, CSV with longitude/latitude columns (.csv)"
)


# --- reading ---------------------------------------------------------------------------


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NetplanError(
            f"cannot read {path}: unknown file type '{path.suffix or '(none)'}'; netplan reads "
            f"{_ACCEPTED}"
        )
    return fmt


def gpkg_layers(
    path: str | os.PathLike[str], *, allow_remote: bool | None = None
) -> list[str]:
    """Names of the layers in a GeoPackage (or any multi-layer file).

    Parameters
    ----------
    path
        The file (see :func:`~netplan.study.inputs.source_path` for URLs).
    allow_remote
        Allow a URL; ``None``: as :func:`~netplan.study.inputs.input_limits` says.

    Returns
    -------
    list of str
        The layer names, in file order.
    """
    import pyogrio

    p = Path(path)
    src = source_path(path, what="GeoPackage", allow_remote=allow_remote)
    if not is_remote(src) and not Path(src).is_file():
        raise DataNotFoundError(f"file not found: {p}")
    try:
        return [str(name) for name in pyogrio.list_layers(src)[:, 0]]
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
    src: str, shown: Path, fmt: str, kind: str, layer: str | None, encoding: str | None
) -> tuple[pd.DataFrame, str | None]:
    """Read the file as it is; returns the frame and the layer name read (GeoPackage).

    ``src`` is what the readers open (see :func:`source_path`), ``shown`` the path as the
    user gave it (for messages). The row count is checked before the rows are read.
    """
    import pyogrio

    if fmt == "CSV":
        return _read_csv(src, shown, kind, encoding), None
    if fmt == "GeoParquet":
        return _read_parquet(src, shown, kind), None
    read_as = _gpkg_layer(src, shown, kind, layer) if fmt == "GeoPackage" else None
    try:
        n = int(pyogrio.read_info(src, layer=read_as)["features"])
        if n >= 0:
            check_rows(n, what=f"{kind} layer", where=str(shown))
        gdf = gpd.read_file(src, layer=read_as, engine="pyogrio", encoding=encoding)
    except NetplanError:
        raise
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise NetplanError(
            f"cannot read {shown} as {fmt} ({_reason(exc)}); the file may be corrupt or not "
            f"a {fmt} file; netplan reads {_ACCEPTED}"
        ) from exc
    except Exception as exc:
        raise NetplanError(
            f"cannot read {shown} as {fmt} ({_reason(exc)}); netplan reads {_ACCEPTED}"
        ) from exc
    if fmt == "Shapefile" and encoding is None:
        _check_dbf_encoding(src, shown, gdf)
    return gdf, read_as


def _gpkg_layer(src: str, shown: Path, kind: str, layer: str | None) -> str:
    """The layer of a GeoPackage to read: ``layer``, else ``kind``, else its only layer."""
    names = gpkg_layers(src, allow_remote=True)  # src is already checked
    read_as = layer or kind
    if read_as not in names:
        if layer is None and len(names) == 1:
            logger.info("%s: no layer %r, reading its only layer %r", shown, kind, names[0])
            return names[0]
        raise NetplanError(
            f"{shown} has no layer {quoted(read_as)}; its layers are "
            f"{examples([quoted(n) for n in names[:10]], total=len(names)) or '(none)'}; pass "
            "the layer name with --layer NAME "
            "(or layer=NAME)"
        )
    return read_as


def _read_csv(src: str, shown: Path, kind: str, encoding: str | None) -> pd.DataFrame:
    """A CSV file as text columns; UTF-8 (with or without BOM), then GB18030 (GBK)."""
    if not is_remote(src):
        with open(src, "rb") as fh:  # an upper bound of the rows, without parsing
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        check_rows(max(lines - 1, 0), what=f"{kind} layer", where=str(shown))
    for enc in (encoding,) if encoding else ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(src, dtype=object, encoding=enc)
        except UnicodeDecodeError:
            continue
        except LookupError:
            raise NetplanError(
                f"cannot read {shown}: unknown encoding {encoding!r} (--encoding); use e.g. "
                "utf-8, gbk or gb18030"
            ) from None
        except Exception as exc:
            raise NetplanError(
                f"cannot read {shown} as CSV ({_reason(exc)}); netplan reads {_ACCEPTED}"
            ) from exc
    what = f"{encoding} text" if encoding else "UTF-8 nor GB18030 text"
    raise NetplanError(
        f"cannot read {shown} as CSV: it is {'not ' if encoding else 'neither '}{what}; save "
        "it as UTF-8 (or pass its encoding with --encoding)"
    )


def _read_parquet(src: str, shown: Path, kind: str) -> pd.DataFrame:
    """A GeoParquet (or plain Parquet) file; rows and uncompressed size checked first."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(src).metadata
        check_rows(int(meta.num_rows), what=f"{kind} layer", where=str(shown))
        if not is_remote(src):
            check_file_size(shown, what=f"{kind} layer (uncompressed)", size=sum(
                int(meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups)
            ))
            check_file_size(shown, what=f"{kind} layer (decoded)", size=_decoded_bytes(src))
        gdf: pd.DataFrame = gpd.read_parquet(src)
        return gdf
    except NetplanError:
        raise
    except ValueError as exc:  # plain Parquet without geometry metadata
        if "geo" not in str(exc).lower():
            raise NetplanError(
                f"cannot read {shown} as GeoParquet ({_reason(exc)}); netplan reads {_ACCEPTED}"
            ) from exc
        try:
            return pd.read_parquet(src)
        except Exception as exc2:
            raise NetplanError(
                f"cannot read {shown} as Parquet ({_reason(exc2)}); netplan reads {_ACCEPTED}"
            ) from exc2
    except Exception as exc:
        raise NetplanError(
            f"cannot read {shown} as GeoParquet ({_reason(exc)}); netplan reads {_ACCEPTED}"
        ) from exc


def _decoded_bytes(src: str) -> int:
    """Bytes of the text and binary columns of a Parquet file once decoded, read cheaply.

    A repeated value is stored once in a Parquet dictionary: a file of a few kilobytes can
    decode to gigabytes (one large polygon on every row). The columns are read as
    dictionaries (one copy of each value plus an index per row) and the lengths summed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = [f.name for f in pq.ParquetFile(src).schema_arrow
             if pa.types.is_binary(f.type) or pa.types.is_string(f.type)
             or pa.types.is_large_binary(f.type) or pa.types.is_large_string(f.type)]
    if not names:
        return 0
    pf = pq.ParquetFile(src, read_dictionary=names)
    total = 0
    for i in range(pf.num_row_groups):
        for column in pf.read_row_group(i, columns=names).columns:
            for chunk in column.chunks:
                if not isinstance(chunk, pa.DictionaryArray):
                    total += int(chunk.nbytes)
                    continue
                lengths = pc.binary_length(chunk.dictionary).fill_null(0).to_numpy(
                    zero_copy_only=False)
                if len(lengths):
                    idx = chunk.indices.fill_null(0).to_numpy(zero_copy_only=False)
                    total += int(lengths[idx].sum())
    return total


def _check_dbf_encoding(src: str, shown: Path, gdf: pd.DataFrame) -> None:
    """Refuse non-ASCII text of a Shapefile that does not say its encoding (no .cpg).

    GDAL then reads the bytes as ISO-8859-1, which turns GBK or UTF-8 text into mojibake.
    """
    base = Path(src)
    if any(base.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return
    for col in gdf.columns:
        if not pd.api.types.is_string_dtype(gdf[col].dtype):
            continue
        text = next((x for x in gdf[col] if isinstance(x, str) and not x.isascii()), None)
        if text is None:
            continue
        guesses = []
        for enc in ("gbk", "utf-8"):
            try:
                guesses.append(f"as {enc.upper()} it reads {text.encode('latin-1').decode(enc)!r}")
            except (UnicodeError, LookupError):
                continue
        guess = f" ({'; '.join(guesses)})" if guesses else ""
        raise NetplanError(
            f"cannot read {shown}: column '{col}' holds non-ASCII text and the Shapefile does "
            f"not say its encoding (no {base.with_suffix('.cpg').name}), so it would read as "
            f"mojibake {text!r}{guess}; add a {base.with_suffix('.cpg').name} file holding the "
            "encoding (GBK or UTF-8) next to the .shp, or pass --encoding gbk (encoding='gbk')"
        )


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
            f"{examples(list(map(str, df.columns)))}; name them with --lon-col/--lat-col "
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


# long: the public reader's docstring documents each of its options; the body is short
def read_layer(  # noqa: PLR0913 - public entry point, options keyword-only
    path: str | os.PathLike[str],
    kind: str,
    *,
    layer: str | None = None,
    coords: str = "wgs84",
    lon_col: str = "lon",
    lat_col: str = "lat",
    crs: str | None = None,
    study_area: shapely.Geometry | None = None,
    encoding: str | None = None,
    allow_remote: bool | None = None,
    columns: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
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
    encoding
        Text encoding (``"gbk"`` ...) of a file that does not say (Shapefile without .cpg, CSV).
    allow_remote
        Read a URL; ``None``: as :func:`~netplan.study.inputs.input_limits` says (no).
    columns
        netplan column → the file's column (a study manifest's ``columns``), renamed
        before validation.
    values
        netplan column → {the file's value → netplan's value} (``values.format``), mapped
        before validation; other values are kept.

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
        The file cannot be read (corrupt, wrong format, unknown extension, missing layer,
        unknown text encoding), is a URL not allowed, or is above the caps of
        :func:`~netplan.study.inputs.input_limits` (file size, rows).
    LayerError
        The layer has problems; ``problems`` lists all of them (missing or mistyped
        columns, missing/duplicate ids, invalid/empty/wrong-type geometries, missing CRS,
        negative or missing populations, coordinates out of range, features outside
        the study area).
    """
    sch = schema(kind)
    p = Path(path)
    src = source_path(path, what=f"{kind} layer", allow_remote=allow_remote)
    if not is_remote(src):
        _check_size(Path(src), p, kind)
    coords = _coords(coords)
    fmt = _format_of(p)
    raw, layer_read = _read_raw(src, p, fmt, kind, layer, encoding)
    source = f"{p}" + (f", layer '{layer_read}'" if layer_read and layer_read != kind else "")
    raw, problems = _mapped(raw, columns or {}, values or {})
    if problems:
        raise LayerError(kind, problems, source=source)
    gdf, problems = _validate_frame(
        raw, sch, fmt=fmt, coords=coords, lon_col=lon_col, lat_col=lat_col, crs=crs,
        study_area=study_area,
    )
    if problems:
        raise LayerError(kind, problems, source=source)
    assert gdf is not None
    logger.debug("read %s (%d features) from %s", kind, len(gdf), source)
    return gdf


def _mapped(
    raw: pd.DataFrame, columns: Mapping[str, str], values: Mapping[str, Mapping[str, str]]
) -> tuple[pd.DataFrame, list[str]]:
    """The file's columns renamed to netplan's and its values mapped (a manifest's mapping)."""
    if not columns and not values:
        return raw, []
    geom = raw.geometry.name if isinstance(raw, gpd.GeoDataFrame) else None
    present = [str(c) for c in raw.columns if c != geom]
    missing = [f"columns.{ours} = {quoted(yours)}" for ours, yours in columns.items()
               if yours not in present]
    if missing:
        return raw, [
            f"column mapping: {examples(missing)} name(s) no column of the file (its columns: "
            f"{examples(present) or 'none'}); fix the header in the manifest's [layer] columns"
        ]
    clash = [ours for ours, yours in columns.items() if ours != yours and ours in present
             and ours not in columns.values()]
    out = raw.drop(columns=clash).rename(columns={y: o for o, y in columns.items()})
    for col, mapping in values.items():
        if col in out.columns:
            out[col] = [mapping.get(str(x).strip(), x) if isinstance(x, str) else x
                        for x in out[col]]
    return out, []


def _check_size(src: Path, shown: Path, kind: str) -> None:
    """Refuse a missing layer file, or one above the size cap (a Shapefile with its .dbf)."""
    if not src.exists():
        raise DataNotFoundError(f"{kind} layer file not found: {shown}")
    if not src.is_file():
        return  # a folder: the reader says what is wrong
    size = src.stat().st_size
    if src.suffix.lower() == ".shp":
        dbf = [src.with_suffix(s) for s in (".dbf", ".DBF") if src.with_suffix(s).is_file()]
        size += dbf[0].stat().st_size if dbf else 0
    check_file_size(shown, what=f"{kind} layer", size=size)


# --- validating ------------------------------------------------------------------------


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
    """The layer checked against its schema, in WGS84, or ``None`` and every problem.

    Problems come in this order: geometry columns and CRS, geometries, attribute columns
    and ids, the kind's own checks, coordinate ranges and the study area.
    """
    df = pd.DataFrame(raw).reset_index(drop=True)
    raw_ids = df[sch.id.name].tolist() if sch.id.name in df.columns else None
    rows = v.RowNamer(raw_ids, sch.id.name)
    has_geometry = isinstance(raw, gpd.GeoDataFrame) and raw.geometry.name in raw.columns
    if not has_geometry and not sch.points:
        return None, [
            f"{fmt} input holds no geometry column, and only point layers can be built "
            f"from '{lon_col}'/'{lat_col}' columns; {sch.kind} need "
            f"{' or '.join(sch.geometry)} geometries: use GeoPackage, GeoJSON, Shapefile "
            "or GeoParquet"
        ]
    geoms, file_crs, df, problems = _geometry_and_crs(
        raw, df, rows, lon_col=lon_col, lat_col=lat_col, crs=crs, coords=coords
    )
    if sch.points:
        geoms = _single_points(geoms)
    usable, found = v.geometry_problems(geoms, rows, allowed=sch.geometry)
    problems += found
    out, found = _columns(df, sch, rows)
    problems += found
    problems += _kind_checks(sch, out, geoms, usable, rows)
    # to WGS84, coordinate ranges, study area
    if file_crs is not None and (coords == "wgs84" or file_crs.is_geographic):
        geoms, found = _projected(geoms, usable, file_crs, coords, rows,
                                  study_area=study_area, sch=sch)
        problems += found
    if problems:
        return None, problems

    extra = [c for c in df.columns if c not in out.columns]
    for c in extra:
        out[c] = df[c]
    gdf = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
    if sch.kind == "ring_roads":
        gdf = _fill_ring_lengths(gdf)
    return gdf.reset_index(drop=True), []


def _geometry_and_crs(
    raw: pd.DataFrame,
    df: pd.DataFrame,
    rows: v.RowNamer,
    *,
    lon_col: str,
    lat_col: str,
    crs: str | None,
    coords: str,
) -> tuple[np.ndarray, CRS | None, pd.DataFrame, list[str]]:
    """The geometries, their CRS, the attribute columns left and the problems found.

    Geometries come from the frame's geometry column, else (point layers) from the
    ``lon_col``/``lat_col`` columns; the CRS is the one the input declares, else ``crs``.
    """
    problems: list[str] = []
    file_crs: CRS | None
    if isinstance(raw, gpd.GeoDataFrame) and raw.geometry.name in raw.columns:
        geoms = np.asarray(raw.geometry.values, dtype=object)
        file_crs = raw.crs
        df = df.drop(columns=[raw.geometry.name])
    else:
        geoms, found = _points_from_columns(df, rows, lon_col=lon_col, lat_col=lat_col)
        problems += found
        file_crs = CRS.from_user_input(crs or WGS84)
        df = df.drop(columns=[c for c in (lon_col, lat_col) if c in df.columns])
    if file_crs is None:
        if crs is not None:
            file_crs = CRS.from_user_input(crs)
        else:
            problems.append(_no_crs_problem(geoms))
    if coords != "wgs84" and file_crs is not None and not file_crs.is_geographic:
        problems.append(
            f"CRS: coords='{coords}' applies to longitude/latitude only, but the layer is in "
            f"the projected CRS {file_crs.to_string()}; drop --coords (coords=) for projected "
            "files"
        )
    return geoms, file_crs, df, problems


def _no_crs_problem(geoms: np.ndarray) -> str:
    """The missing-CRS problem, with a guess from the size of the coordinates."""
    present = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(present) == 0:
        return ("CRS: expected a coordinate reference system, found none; set it "
                "(crs = \"EPSG:...\" in study.toml, --crs, or the .prj of a Shapefile)")
    bounds = [float(b) for b in shapely.total_bounds(present)]
    code = "EPSG:4326" if looks_geographic(bounds) else "EPSG:..."
    return (
        f"CRS: expected a coordinate reference system, found none (the file does not say "
        f"what its coordinates are); {crs_hint(bounds)}. Set it: crs = \"{code}\" in the "
        f"layer's table of study.toml, `netplan layers validate --crs {code} ...`, "
        f"read_layer(..., crs='{code}'), gdf.set_crs('{code}') before writing the file, or "
        "add the .prj of a Shapefile; `netplan study check` tries the likely CRSs against "
        "the districts"
    )


def _single_points(geoms: np.ndarray) -> np.ndarray:
    """Single-part multi points as points (safe); other geometries as they are."""
    multi = np.array(
        [g is not None and g.geom_type == "MultiPoint" and len(g.geoms) == 1 for g in geoms],
        dtype=bool,
    )
    if not multi.any():
        return geoms
    geoms = geoms.copy()
    geoms[multi] = [g.geoms[0] for g in geoms[multi]]
    return geoms


def _columns(
    df: pd.DataFrame, sch: LayerSchema, rows: v.RowNamer
) -> tuple[pd.DataFrame, list[str]]:
    """The id and schema columns, coerced (optional ones filled), and the problems found."""
    problems: list[str] = []
    out = pd.DataFrame(index=df.index)
    for col in (sch.id, *sch.columns):
        if col.name not in df.columns:
            if col.required or col is sch.id:
                problems.append(
                    f"column '{col.name}': expected {_dtype_word(col)} column, found no such "
                    f"column (columns present: {examples(list(map(str, df.columns))) or 'none'})"
                )
            elif col.default is not None:
                out[col.name] = col.default
            continue
        values, found = _coerce(df[col.name], col, rows, is_id=col is sch.id)
        problems += found
        if values is not None:
            out[col.name] = values
    if sch.kind in ("zones", "districts"):  # every census column, not only the schema's
        known = {c.name for c in (sch.id, *sch.columns)}
        for name in sorted(str(c) for c in df.columns if CENSUS_COLUMN.match(str(c))):
            if name not in known:
                values, found = _coerce(df[name], census_column(name), rows, is_id=False)
                problems += found
                if values is not None:
                    out[name] = values
    if sch.id.name in out.columns and sch.unique_ids:
        problems += v.duplicate_ids(out[sch.id.name], sch.id.name)
    return out, problems


def _projected(
    geoms: np.ndarray,
    usable: np.ndarray,
    file_crs: CRS,
    coords: str,
    rows: v.RowNamer,
    *,
    study_area: shapely.Geometry | None,
    sch: LayerSchema,
) -> tuple[np.ndarray, list[str]]:
    """The geometries in WGS84, with the coordinate-range and study-area problems."""
    problems: list[str] = []
    if file_crs.is_geographic:  # check the coordinates as given, before any conversion
        problems += v.lonlat_range_problems(geoms, usable, rows)
        usable = usable & _in_range(geoms)
    wgs = _to_wgs84(geoms, usable, file_crs, coords)
    if not file_crs.is_geographic:
        problems += v.lonlat_range_problems(wgs, usable, rows)
    if study_area is not None:
        problems += _outside_problems(wgs, usable & _in_range(wgs), rows, study_area, sch)
    return wgs, problems


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
    required = col.required or is_id or col.complete
    if col.dtype == "adcode":
        return v.coerce_adcode(series, col.name, rows, required=required)
    if col.dtype == "str":
        return v.coerce_text(series, col.name, rows, required=required,
                             default=col.default if isinstance(col.default, str) else "")
    return v.coerce_number(
        series, col.name, rows, integer=col.dtype == "int", required=required,
        min_value=col.min_value, max_value=col.max_value,
    )


_NOT_EMPTY: Final = frozenset({"districts", "zones"})
"""Kinds a study cannot do without (no districts: no study area; no zones: no demand)."""


def _kind_checks(
    sch: LayerSchema, out: pd.DataFrame, geoms: np.ndarray, usable: np.ndarray,
    rows: v.RowNamer,
) -> list[str]:
    problems: list[str] = []
    if sch.kind in _NOT_EMPTY and len(out) == 0:
        problems.append(
            f"rows: expected at least one feature, found none (an empty layer); a study "
            f"needs its {sch.kind}: check that you exported the right layer"
        )
    years = sorted(str(c) for c in out.columns if CENSUS_COLUMN.match(str(c)))
    if sch.kind == "zones" and len(years) >= 2:
        old_col, new_col = years[-2], years[-1]  # pop_<year> sorts by year
        inflow = out[new_col] - out[old_col]
        if "inflow" in out.columns:
            # missing inflow values are derived like an absent column (NA compares as equal)
            bad = np.asarray((out["inflow"] != inflow).fillna(False), dtype=bool)
            if not bad.any():
                out["inflow"] = inflow
            else:
                pos = np.flatnonzero(bad)
                problems.append(
                    f"column 'inflow': expected {new_col} - {old_col}, found other values in "
                    f"{v.plural(len(pos), 'row')}: "
                    + rows.many(pos, values=out["inflow"].iloc[pos].tolist())
                    + "; drop the column to have it computed"
                )
        else:
            out["inflow"] = inflow
    if sch.kind == "zones" and "adcode" not in out.columns:
        out["adcode"] = pd.Series(None, index=out.index, dtype=object)
    if sch.kind == "ring_roads" and "ring" in out.columns:
        present = set(out["ring"].dropna().astype(int))  # any ring numbers: one, four or none
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
