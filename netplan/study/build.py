"""``netplan study build``: a study frozen into one GeoPackage in netplan's own schema.

:func:`build_study` reads a study (a manifest with its files in any format, coordinate
system and column names), validates it like every command does, and writes its layers under
their kind's names in WGS84, with the derived ring zones and a table ``netplan_study``
holding the study's name and metric CRS, so that the file loads as the same study anywhere
(``--study study.gpkg``). The file is written to a temporary name and renamed at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from netplan._errors import NetplanError
from netplan._io import atomic_path
from netplan.study.layers import (
    STUDY_META,
    _wgs84_for_writing,
    finish_study,
    read_study_layers,
    study_sources,
)
from netplan.study.schemas import STUDY_KINDS, WGS84

__all__ = ["META_FORMAT", "build_study"]

META_FORMAT = "netplan-study/1"
"""The ``format`` row of the metadata table."""


def build_study(
    path: str | os.PathLike[str], out: str | os.PathLike[str],
    *, inputs: tuple[Path, ...] = (),
) -> Path:
    """Write a study as one GeoPackage in netplan's schema, atomically.

    Parameters
    ----------
    path
        A study manifest (``study.toml``) or a GeoPackage.
    out
        The ``.gpkg`` to write; it must not exist (netplan never replaces a file it did not
        write) and must not be one of the study's files.
    inputs
        Further files that must not be written over.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    NetplanError
        ``out`` is no ``.gpkg``, exists or is an input; or the study has problems (every
        problem listed, nothing written).
    """
    target = Path(out)
    if target.suffix.lower() != ".gpkg":
        raise NetplanError(f"--out {target}: a built study is a GeoPackage; give a file name "
                           "ending in .gpkg")
    srcs = study_sources(path)
    files = {Path(path), *(s.path for s in srcs.specs.values()), *inputs}
    read = read_study_layers(path)
    study = finish_study(read)
    meta = pd.DataFrame({"key": ["format", "name", "crs"],
                         "value": [META_FORMAT, study.name, study.crs]})
    with atomic_path(target, inputs=sorted(files)) as tmp:
        for kind in STUDY_KINDS:
            gdf = read.layers[kind] if kind in read.layers else getattr(study, kind).to_crs(WGS84)
            _wgs84_for_writing(gdf).to_file(tmp, layer=kind, driver="GPKG", engine="pyogrio")
        import pyogrio

        pyogrio.write_dataframe(meta, tmp, layer=STUDY_META, driver="GPKG")
    return target
