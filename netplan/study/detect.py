"""``netplan study init``: a draft manifest from the files in a folder, every guess commented.

:func:`draft_manifest` looks at each layer file (GeoPackage layers one by one): its name,
geometry type, columns, CRS and the size of its coordinates, and guesses the layer kind,
netplan's columns among the headers (Chinese or English), the coordinate system of
longitude/latitude files and the CRS of files that do not declare one. Nothing is read in
full (a sample of rows), nothing is changed; the draft is checked with ``netplan study
check``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from netplan._errors import NetplanError, printable
from netplan.study.crs import candidate_crs, crs_hint, looks_geographic
from netplan.study.readers import FORMATS, gpkg_layers
from netplan.study.schemas import SCHEMAS

__all__ = ["LayerGuess", "draft_manifest", "inspect_folder"]

_SAMPLE: Final = 500
"""Rows read from each file to guess from."""

_KIND_WORDS: Final = (
    ("ring_zones", r"ring_?zones?|环线分区"),
    ("ring_roads", r"ring|环路|环线|环|绕城"),
    ("districts", r"district|county|admin|区县|行政区|辖区"),
    ("zones", r"zone|grid|hex|pop|cell|人口|网格|格网|小区"),
    ("branches", r"branch|outlet|bank|网点|支行|营业"),
    ("candidates", r"candidate|metro|station|site|poi|候选|地铁|站点|选址"),
)
"""Layer kind from words of a file or layer name (first match wins)."""

_SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "branch_id": ("branch_id", "id", "code", "网点编号", "网点代码", "编号", "机构号", "机构代码"),
    "candidate_id": ("candidate_id", "id", "site_id", "station_id", "编号", "站点编号", "代码"),
    "zone_id": ("zone_id", "id", "hex_id", "grid_id", "cell_id", "编号", "网格编号"),
    "adcode": ("adcode", "code", "区划代码", "行政区划代码", "代码"),
    "name_zh": ("name_zh", "name", "名称", "区县", "区县名称", "中文名"),
    "name_en": ("name_en", "english", "英文名"),
    "name_pinyin": ("name_pinyin", "pinyin", "拼音"),
    "zone": ("zone", "分区", "圈层"),
    "name": ("name", "网点名称", "名称", "站点名称", "站名"),
    "format": ("format", "type", "kind", "网点类型", "类型", "网点类别"),
    "counters": ("counters", "counter", "柜台数", "柜台", "窗口数", "柜口数"),
    "terminals": ("terminals", "terminal", "智能终端数", "终端数", "智能终端", "自助设备数"),
    "district": ("district", "所属区县", "区县", "所属区", "行政区"),
    "ring": ("ring", "ring_no", "环号", "环", "序号"),
    "kind": ("kind", "type", "类型"),
    "pop_2010": ("pop_2010", "pop2010", "人口2010", "2010人口", "population_2010"),
    "pop_2020": ("pop_2020", "pop2020", "人口2020", "2020人口", "population_2020", "pop", "人口"),
}
"""netplan column → headers it is guessed from, best first (compared case-insensitively)."""
_LON: Final = ("lon", "lng", "longitude", "经度", "x")
_LAT: Final = ("lat", "latitude", "纬度", "y")
_FORMAT_WORDS: Final = (("综合", "full"), ("全功能", "full"), ("full", "full"),
                        ("轻型", "light"), ("社区", "light"), ("light", "light"),
                        ("智能", "smart"), ("smart", "smart"))
_COORD_HINTS: Final = (("gcj02", r"gcj|amap|gaode|高德|火星|腾讯|tencent"),
                       ("bd09", r"bd-?09|baidu|百度"))


@dataclass(frozen=True)
class LayerGuess:
    """What one file (or GeoPackage layer) looks like, and the guesses made from it."""

    path: Path
    layer: str | None
    kind: str | None
    why: str
    columns: Mapping[str, str]
    geom: str | None
    crs: str | None
    bounds: tuple[float, float, float, float] | None
    lonlat: tuple[str, str] | None
    values: Mapping[str, object]
    sample_xy: np.ndarray


def inspect_folder(folder: Path, skip: Sequence[Path] = ()) -> list[LayerGuess]:
    """A :class:`LayerGuess` for each layer file in ``folder`` (not its subfolders).

    Parameters
    ----------
    folder
        The folder.
    skip
        Files to leave out (the manifest being written).

    Returns
    -------
    list of LayerGuess
        In file name order.
    """
    if not folder.is_dir():
        raise NetplanError(f"{folder} is not a folder; give the folder that holds your layer "
                           "files (netplan study init DIR)")
    skipped = {p.resolve() for p in skip}
    guesses = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in FORMATS \
                or path.resolve() in skipped or not path.is_file():
            continue
        layers: list[str | None] = [None]
        if path.suffix.lower() == ".gpkg":
            layers = [n for n in gpkg_layers(path) if n not in ("layer_styles", "netplan_study")]
        for layer in layers:
            guesses.append(_inspect(path, layer))
    return guesses


def _read_sample(path: Path, layer: str | None) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        for enc in ("utf-8-sig", "gb18030"):
            try:
                frame: pd.DataFrame = pd.read_csv(path, dtype=object, nrows=_SAMPLE, encoding=enc)
                return frame
            except UnicodeDecodeError:
                continue
        raise NetplanError(f"cannot read {path}: neither UTF-8 nor GB18030 text")
    if path.suffix.lower() in (".parquet", ".geoparquet"):
        try:
            frame = gpd.read_parquet(path).head(_SAMPLE)
        except ValueError:
            frame = pd.read_parquet(path).head(_SAMPLE)
        return frame
    frame = gpd.read_file(path, layer=layer, engine="pyogrio", rows=_SAMPLE)
    return frame


def _inspect(path: Path, layer: str | None) -> LayerGuess:
    try:
        df = _read_sample(path, layer)
    except Exception as exc:  # a file init cannot read is listed, not fatal
        return LayerGuess(path, layer, None, f"unreadable ({printable(str(exc))[:120]})", {},
                          None, None, None, None, {}, np.empty((0, 2)))
    headers = [str(c) for c in df.columns if c != getattr(df, "_geometry_column_name", None)]
    lonlat = None
    geom = crs = None
    xy = np.empty((0, 2))
    if isinstance(df, gpd.GeoDataFrame):
        geoms = np.asarray(df.geometry.values)
        types = sorted({g.geom_type for g in geoms if g is not None})
        geom = types[0] if types else None
        crs = df.crs.to_string() if df.crs is not None else None
        xy = shapely.get_coordinates(geoms)
    else:
        lon, lat = _pick(headers, _LON), _pick(headers, _LAT)
        if lon and lat:
            lonlat = (lon, lat)
            geom = "Point"
            xy = np.column_stack([pd.to_numeric(df[lon], errors="coerce"),
                                  pd.to_numeric(df[lat], errors="coerce")])
            xy = xy[np.isfinite(xy).all(axis=1)]
    bounds = (tuple(float(b) for b in (*xy.min(axis=0), *xy.max(axis=0)))
              if len(xy) else None)
    kind, why = _guess_kind(path, layer, geom, headers, len(df))
    columns = _guess_columns(kind, headers) if kind else {}
    values = {c: df[h].dropna().astype(str).unique()[:20].tolist() for c, h in columns.items()
              if c in ("format", "district")}
    return LayerGuess(path, layer, kind, why, columns, geom, crs, bounds,  # type: ignore[arg-type]
                      lonlat, values, xy[:: max(1, len(xy) // 200)])


def _pick(headers: Sequence[str], names: Sequence[str]) -> str | None:
    low = {h.strip().casefold(): h for h in headers}
    for n in names:
        if n.casefold() in low:
            return low[n.casefold()]
    return None


def _guess_kind(path: Path, layer: str | None, geom: str | None, headers: Sequence[str],
                n: int) -> tuple[str | None, str]:
    words = f"{path.stem} {layer or ''}".lower()
    for kind, pattern in _KIND_WORDS:
        if re.search(pattern, words) and _fits(kind, geom):
            return kind, f"from the name {json.dumps(path.name, ensure_ascii=False)}"
    if geom in ("LineString", "MultiLineString"):
        return "ring_roads", "lines"
    if geom in ("Polygon", "MultiPolygon"):
        if _pick(headers, ("adcode", "区划代码")) and n <= 100:
            return "districts", "polygons with an adcode column"
        return "zones", f"{n:,}+ polygons" if n >= _SAMPLE else f"{n:,} polygons"
    if geom in ("Point", "MultiPoint"):
        if _pick(headers, _SYNONYMS["counters"]):
            return "branches", "points with a counters column"
        return "candidates", "points without counters"
    return None, "no geometry and no longitude/latitude columns"


def _fits(kind: str, geom: str | None) -> bool:
    allowed = SCHEMAS[kind].geometry
    return geom is None or geom in allowed or geom.removeprefix("Multi") in allowed


def _guess_columns(kind: str, headers: Sequence[str]) -> dict[str, str]:
    sch = SCHEMAS[kind]
    wanted = [sch.id.name, *(c.name for c in sch.columns)]
    if kind in ("branches", "candidates"):
        wanted.append("district")
    used: set[str] = set()
    out: dict[str, str] = {}
    for col in wanted:
        for name in _SYNONYMS.get(col, (col,)):
            hit = _pick([h for h in headers if h not in used], (name,))
            if hit is not None:
                out[col] = hit
                used.add(hit)
                break
    return out


# --- writing the draft --------------------------------------------------------------------

def _q(text: str) -> str:
    """A TOML string (JSON's escapes are valid TOML basic-string escapes)."""
    return json.dumps(text, ensure_ascii=False)


def _c(text: str) -> str:
    """Text for a TOML comment: one line, no control characters."""
    return printable(" ".join(str(text).split()))


def draft_manifest(folder: Path, target: Path) -> tuple[str, list[str]]:
    """A draft ``study.toml`` for the files in ``folder``, and notes on what was guessed.

    Parameters
    ----------
    folder
        The folder holding the layer files.
    target
        Where the manifest will be written (paths in it are relative to its folder).

    Returns
    -------
    tuple of (str, list of str)
        The manifest text and one note per file (kind guessed, or why it was left out).
    """
    guesses = inspect_folder(folder, skip=[target])
    chosen: dict[str, LayerGuess] = {}
    notes = []
    for g in guesses:
        label = g.path.name + (f" [{g.layer}]" if g.layer else "")
        if g.kind is None or g.kind in chosen:
            why = "kind already taken by " + chosen[g.kind].path.name if g.kind else g.why
            notes.append(f"{_c(label)}: left out ({_c(why)})")
            continue
        chosen[g.kind] = g
        notes.append(f"{_c(label)}: {g.kind} ({_c(g.why)})")
    missing = [k for k in ("districts", "zones", "branches") if k not in chosen]
    if missing:
        notes.append(f"no file found for {', '.join(missing)}: add its table by hand")
    area = _area(chosen.get("districts"))
    lines = [
        "# study.toml drafted by `netplan study init`: every guess is marked \"guess\".",
        "# Check each one, then run `netplan study check` on this file.",
        f"name = {_q(folder.resolve().name)}   # guess: the folder's name; shown to people",
        'crs = "auto"   # metric CRS for distances: the study area\'s UTM zone, or "EPSG:4544"',
    ]
    for kind in ("branches", "zones", "districts", "ring_roads", "candidates", "ring_zones"):
        if kind in chosen:
            lines += ["", *_table(chosen[kind], target, area)]
    return "\n".join(lines) + "\n", notes


def _area(districts: LayerGuess | None) -> shapely.Geometry | None:
    if districts is None or districts.crs is None:
        return None
    try:
        gdf = gpd.read_file(districts.path, layer=districts.layer, engine="pyogrio")
        return shapely.union_all(np.asarray(gdf.to_crs("EPSG:4326").geometry.values))
    except Exception:
        return None


def _table(g: LayerGuess, target: Path, area: shapely.Geometry | None) -> list[str]:
    import os

    rel = Path(os.path.relpath(g.path.resolve(), target.resolve().parent)).as_posix()
    lines = [f"[{g.kind}]   # guess: {_c(g.why)}", f"path = {_q(rel)}"]
    if g.layer is not None:
        lines.append(f"layer = {_q(g.layer)}")
    if g.lonlat is not None:
        lines += [f"lon = {_q(g.lonlat[0])}   # guess", f"lat = {_q(g.lonlat[1])}   # guess"]
    degrees = g.bounds is not None and looks_geographic(g.bounds)
    if (g.lonlat is not None and degrees) or (g.crs is not None and "4326" in g.crs):
        lines.append(_coords_line(g))
    if g.crs is None and g.bounds is not None and (g.lonlat is None or not degrees):
        lines.append(_crs_line(g, area))
    renamed = {k: v for k, v in g.columns.items() if k != v}
    if renamed:
        inline = ", ".join(f"{k} = {_q(v)}" for k, v in renamed.items())
        lines.append(f"columns = {{ {inline} }}   # guess: from the headers")
    same = [k for k, v in g.columns.items() if k == v]
    if same:
        lines.append(f"# found under netplan's own names: {', '.join(same)}")
    if "format" in g.values:
        lines.append(_format_line(g.values["format"]))
    return lines


def _coords_line(g: LayerGuess) -> str:
    words = f"{g.path.name} {' '.join(g.lonlat or ())}"
    for system, pattern in _COORD_HINTS:
        if re.search(pattern, words, re.I):
            return f"coords = {_q(system)}   # guess: the file or column names say {system}"
    return ('coords = "wgs84"   # guess: WGS84; Amap/Tencent exports are "gcj02", Baidu '
            '"bd09" (`netplan study check` tests the fit)')


def _crs_line(g: LayerGuess, area: shapely.Geometry | None) -> str:
    assert g.bounds is not None
    fits = candidate_crs(g.sample_xy, area) if area is not None else []
    if fits:
        others = ", ".join(code for code, _, _ in fits[1:4])
        return (f"crs = {_q(fits[0][0])}   # guess: the file has no CRS; {_c(fits[0][1])} puts "
                f"it inside the districts{f' (so do {others})' if others else ''}")
    return f"# crs = \"EPSG:...\"   # the file has no CRS: {_c(crs_hint(g.bounds))}"


def _format_line(found: object) -> str:
    words = [str(w) for w in found] if isinstance(found, list) else []
    mapping, unmapped = {}, []
    for w in words:
        target = next((f for key, f in _FORMAT_WORDS if key in w.casefold()), None)
        if target is None:
            unmapped.append(w)
        elif w != target:
            mapping[w] = target
    if not mapping:
        return "# values.format = { \"yours\" = \"full\" }   # map your format words if needed"
    inline = ", ".join(f"{_q(k)} = {_q(v)}" for k, v in mapping.items())
    rest = f"; not mapped: {_c(', '.join(unmapped))}" if unmapped else ""
    return f"values.format = {{ {inline} }}   # guess{rest}"
