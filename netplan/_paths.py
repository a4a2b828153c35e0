"""Where the embedded dataset lives.

The Beijing dataset ships inside the package (``netplan/data/``: ``beijing.gpkg``,
``scenarios/beijing-2035.toml``, ``samples/``) and is found through
:mod:`importlib.resources`, so any install (editable or from a wheel) finds it from any
working folder. ``NETPLAN_DATA`` overrides the folder (it must then hold ``beijing.gpkg``
and ``scenarios/beijing-2035.toml``), e.g. to plan with a rebuilt dataset.
"""

from __future__ import annotations

import atexit
import functools
import os
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

from netplan._errors import DataNotFoundError

__all__ = ["data_dir", "default_gpkg", "default_scenario"]

# A real folder for GDAL and for reading files; a zipped install extracts it once, and the
# extracted copy is removed when the interpreter exits.
_FILES = ExitStack()
atexit.register(_FILES.close)


@functools.cache
def _packaged_data() -> Path:
    return _FILES.enter_context(as_file(files("netplan") / "data"))


def data_dir() -> Path:
    """Return the folder holding the embedded dataset.

    Returns
    -------
    Path
        ``$NETPLAN_DATA`` when set, else the package's ``netplan/data`` folder.

    Raises
    ------
    DataNotFoundError
        The folder does not exist.
    """
    env = os.environ.get("NETPLAN_DATA")
    path = Path(env) if env else _packaged_data()
    if not path.is_dir():
        raise DataNotFoundError(
            f"the netplan data folder {path} does not exist; set NETPLAN_DATA to a folder "
            "that holds beijing.gpkg and scenarios/, or unset it to use the embedded data"
        )
    return path


def default_gpkg() -> Path:
    """Path of the embedded Beijing GeoPackage (``beijing.gpkg`` in :func:`data_dir`)."""
    path = data_dir() / "beijing.gpkg"
    if not path.is_file():
        raise DataNotFoundError(
            f"the embedded dataset {path} is missing; rebuild it with "
            "`python data/build_beijing.py` in netplan's repository"
        )
    return path


def default_scenario() -> Path:
    """Path of the default scenario (``scenarios/beijing-2035.toml`` in :func:`data_dir`)."""
    path = data_dir() / "scenarios" / "beijing-2035.toml"
    if not path.is_file():
        raise DataNotFoundError(f"the default scenario {path} is missing")
    return path
