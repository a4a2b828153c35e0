"""Where the embedded dataset lives.

The Beijing dataset is shipped in the repository's ``data/`` folder (next to the
package). ``NETPLAN_DATA`` overrides the folder, for installs that are not editable.
"""

from __future__ import annotations

import os
from pathlib import Path

from netplan._errors import DataNotFoundError

_REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    """Return the folder holding the embedded dataset (``$NETPLAN_DATA`` or ``<repo>/data``)."""
    env = os.environ.get("NETPLAN_DATA")
    path = Path(env) if env else _REPO_DATA
    if not path.is_dir():
        raise DataNotFoundError(
            f"the netplan data folder {path} does not exist; install netplan from its "
            "repository with `pip install -e .` or set NETPLAN_DATA to the folder that "
            "holds beijing.gpkg"
        )
    return path


def default_gpkg() -> Path:
    """Path of the embedded Beijing GeoPackage (``data/beijing.gpkg``)."""
    path = data_dir() / "beijing.gpkg"
    if not path.is_file():
        raise DataNotFoundError(
            f"the embedded dataset {path} is missing; rebuild it with "
            "`python data/build_beijing.py`"
        )
    return path


def default_scenario() -> Path:
    """Path of the default scenario (``data/scenarios/beijing-2035.toml``)."""
    path = data_dir() / "scenarios" / "beijing-2035.toml"
    if not path.is_file():
        raise DataNotFoundError(f"the default scenario {path} is missing")
    return path
