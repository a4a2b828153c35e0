"""The study manifest (``study.toml``): a user's own files, described once.

A manifest names the study, its metric CRS and one table per layer kind::

    name = "成都 Chengdu"
    crs = "auto"                      # or "EPSG:4544"
    [branches]
    path = "branches_gcj02.csv"       # relative to the manifest
    coords = "gcj02"                  # wgs84 | gcj02 | bd09 (lon/lat files)
    lon = "经度"
    lat = "纬度"
    columns = { branch_id = "网点编号", format = "网点类型" }
    values.format = { "综合网点" = "full" }

:func:`read_manifest` parses and checks it, listing every problem at once;
:func:`netplan.study.layers.load_study` reads the layers it names.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from netplan._errors import NetplanError, examples, printable, quoted
from netplan.study.coords import COORD_SYSTEMS, check_coords
from netplan.study.inputs import input_limits, source_path
from netplan.study.schemas import SCHEMAS, STUDY_KINDS

__all__ = [
    "EXTRA_COLUMNS", "LAYER_KEYS", "OPTIONAL_KINDS", "REQUIRED_KINDS", "LayerSpec", "Manifest",
    "ManifestError", "read_manifest",
]

REQUIRED_KINDS: Final = ("districts", "zones", "branches")
"""Layer tables a manifest must have."""
OPTIONAL_KINDS: Final = ("ring_roads", "ring_zones", "candidates")
"""Layer tables a manifest may leave out (no rings; no candidate sites)."""
LAYER_KEYS: Final = ("path", "layer", "coords", "lon", "lat", "crs", "encoding", "columns",
                     "values")
"""Keys of a layer table."""
EXTRA_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "branches": ("district",), "candidates": ("district",),
}
"""Columns a manifest may map beyond the schema: a point's own district, checked against
its location by ``netplan study check``."""
_TOP_KEYS: Final = ("name", "crs", *STUDY_KINDS)


class ManifestError(NetplanError):
    """A manifest is unreadable or has problems; ``problems`` lists all of them."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:10]
        more = f"\n  - and {len(problems) - 10:,} more" if len(problems) > 10 else ""
        lines = "\n".join(f"  - {printable(p)}" for p in shown)
        n = len(problems)
        super().__init__(f"study manifest {path} has {n} problem{'s' if n != 1 else ''}:\n"
                         f"{lines}{more}")


@dataclass(frozen=True)
class LayerSpec:
    """How to read one layer: its file and how its columns and values map to netplan's."""

    kind: str
    path: Path
    layer: str | None = None
    coords: str = "wgs84"
    lon: str = "lon"
    lat: str = "lat"
    crs: str | None = None
    encoding: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    """netplan column → the file's column."""
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """netplan column → {file value → netplan value}."""


@dataclass(frozen=True)
class Manifest:
    """A parsed, checked ``study.toml``."""

    path: Path
    name: str
    crs: str
    layers: Mapping[str, LayerSpec]


def read_manifest(path: str | Path) -> Manifest:
    """Parse and check a study manifest; every problem is reported at once.

    Parameters
    ----------
    path
        The ``study.toml`` file; layer paths in it are relative to its folder.

    Returns
    -------
    Manifest
        Name, CRS (``"auto"`` or as written) and one :class:`LayerSpec` per layer table.

    Raises
    ------
    DataNotFoundError
        The manifest does not exist.
    ManifestError
        The manifest is not TOML, or has unknown keys, missing tables or keys, wrong
        types, or names layer files that do not exist.
    """
    p = Path(path)
    data = _load_toml(p)
    problems: list[str] = []
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        problems.append(f"unknown key(s) {examples([quoted(k) for k in unknown])}; a manifest "
                        f"holds {', '.join(_TOP_KEYS)}")
    name = data.get("name", p.parent.name or p.stem)
    if not isinstance(name, str) or not name.strip():
        problems.append(f"name: expected the study's name as text (name = \"成都 Chengdu\"), "
                        f"found {quoted(name)}")
        name = p.stem
    crs = data.get("crs", "auto")
    if not isinstance(crs, str) or not crs.strip():
        problems.append(f"crs: expected \"auto\" or a CRS such as \"EPSG:4544\", found "
                        f"{quoted(crs)}")
        crs = "auto"
    missing = [k for k in REQUIRED_KINDS if k not in data]
    if missing:
        problems.append(f"missing table(s) {', '.join(f'[{k}]' for k in missing)}; a study "
                        "needs its districts, zones and branches, each with path = \"FILE\"")
    layers: dict[str, LayerSpec] = {}
    for kind in STUDY_KINDS:
        if kind in data:
            spec, found = _layer_spec(kind, data[kind], p.parent)
            problems += found
            if spec is not None:
                layers[kind] = spec
    if problems:
        raise ManifestError(p, problems)
    return Manifest(path=p, name=name.strip(), crs=crs.strip(), layers=layers)


def _load_toml(p: Path) -> dict[str, Any]:
    from netplan._errors import DataNotFoundError

    src = Path(source_path(p, what="study manifest", allow_remote=False))
    if not src.is_file():
        raise DataNotFoundError(f"study manifest not found: {p}")
    cap = input_limits().max_scenario_bytes
    if src.stat().st_size > cap:
        raise ManifestError(p, [f"the file is larger than {cap // 1024:,} KB; a manifest is a "
                                "few lines (raise the cap with --max-scenario-kb)"])
    try:
        return tomllib.loads(src.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(p, ["the file is not UTF-8 text; save it as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(p, [f"not valid TOML ({exc}); quote Chinese keys and values "
                                "(\"综合网点\" = \"full\")"]) from None


def _layer_spec(kind: str, table: object, folder: Path) -> tuple[LayerSpec | None, list[str]]:
    """One layer table checked: its spec, or ``None`` and the problems."""
    where = f"[{kind}]"
    if not isinstance(table, dict):
        return None, [f"{where}: expected a table with path = \"FILE\", found {quoted(table)}"]
    problems: list[str] = []
    unknown = sorted(set(table) - set(LAYER_KEYS))
    if unknown:
        problems.append(f"{where}: unknown key(s) {examples([quoted(k) for k in unknown])}; a "
                        f"layer table holds {', '.join(LAYER_KEYS)}")
    text: dict[str, str | None] = {}
    for key in ("path", "layer", "coords", "lon", "lat", "crs", "encoding"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where} {key}: expected text, found {quoted(value)}")
            value = None
        text[key] = value
    path = text["path"]
    if path is None and "path" not in table:
        problems.append(f"{where}: missing path = \"FILE\" (relative to the manifest)")
    elif path is not None and not (folder / path).exists():
        problems.append(f"{where} path: file not found: {folder / path}; the path is relative "
                        "to the manifest's folder")
    coords = text["coords"] or "wgs84"
    try:
        coords = check_coords(coords)
    except ValueError:
        problems.append(f"{where} coords: expected one of {', '.join(COORD_SYSTEMS)}, found "
                        f"{quoted(coords)}")
    columns, found = _columns(kind, table.get("columns", {}))
    problems += found
    values, found = _values(kind, table.get("values", {}))
    problems += found
    if problems or path is None:
        return None, problems
    return LayerSpec(
        kind=kind, path=folder / path, layer=text["layer"], coords=coords,
        lon=text["lon"] or "lon", lat=text["lat"] or "lat", crs=text["crs"],
        encoding=text["encoding"], columns=columns, values=values,
    ), []


def _known_columns(kind: str) -> tuple[str, ...]:
    sch = SCHEMAS[kind]
    return (sch.id.name, *(c.name for c in sch.columns), *EXTRA_COLUMNS.get(kind, ()))


def _columns(kind: str, table: object) -> tuple[dict[str, str], list[str]]:
    where = f"[{kind}] columns"
    if not isinstance(table, dict):
        return {}, [f"{where}: expected a table {{ netplan_column = \"your column\" }}, found "
                    f"{quoted(table)}"]
    known = _known_columns(kind)
    problems = []
    bad = sorted(k for k in table if k not in known)
    if bad:
        problems.append(f"{where}: {examples([quoted(k) for k in bad])} is not a column of "
                        f"{kind}; the keys are netplan's names ({', '.join(known)}), the values "
                        "your file's headers")
    wrong = sorted(k for k, v in table.items() if not isinstance(v, str) or not v)
    if wrong:
        problems.append(f"{where}: expected your file's header as text for "
                        f"{examples([quoted(k) for k in wrong])}")
    targets = [v for v in table.values() if isinstance(v, str)]
    twice = sorted({v for v in targets if targets.count(v) > 1})
    if twice:
        problems.append(f"{where}: the header(s) {examples([quoted(v) for v in twice])} are "
                        "mapped to more than one column; map each header once")
    return ({str(k): str(v) for k, v in table.items()} if not problems else {}), problems


def _values(kind: str, table: object) -> tuple[dict[str, dict[str, str]], list[str]]:
    where = f"[{kind}] values"
    if not isinstance(table, dict):
        return {}, [f"{where}: expected tables values.<column> = {{ \"yours\" = \"netplan's\" "
                    f"}}, found {quoted(table)}"]
    known = _known_columns(kind)
    problems: list[str] = []
    out: dict[str, dict[str, str]] = {}
    for col, mapping in table.items():
        if col not in known:
            problems.append(f"{where}.{col}: not a column of {kind} ({', '.join(known)})")
            continue
        if not isinstance(mapping, dict) or not all(
                isinstance(v, str) for v in mapping.values()):
            problems.append(f"{where}.{col}: expected {{ \"your value\" = \"netplan value\" }} "
                            f"with text values, found {quoted(mapping)}")
            continue
        out[str(col)] = {str(k): v for k, v in mapping.items()}
    return out, problems
