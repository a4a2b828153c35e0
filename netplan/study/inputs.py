"""Where input files may come from and how large they may be.

Every reader of netplan (layers, studies, scenarios, plan folders) opens its files through
:func:`source_path`: a local path is made absolute (symbolic links resolved) before it
reaches GDAL, pyarrow or pandas, so that a local folder named like ``http:host:port`` is
read from disk and never fetched; a path that only names a remote resource (``https://``,
``s3:``, ``/vsicurl/`` ...) is refused unless remote reading is allowed.

:class:`InputLimits` holds the caps checked *before* a file is read whole (file size, rows
per layer, scenario size); :func:`input_limits` returns the caps in force and
:func:`set_input_limits` changes them for the process (the CLI's ``--max-file-mb``,
``--max-rows``, ``--max-scenario-kb`` and ``--allow-url``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netplan._errors import NetplanError

__all__ = [
    "InputLimits",
    "check_file_size",
    "check_model_size",
    "check_rows",
    "input_limits",
    "is_remote",
    "set_input_limits",
    "source_path",
]


@dataclass(frozen=True)
class InputLimits:
    """Caps on the inputs netplan reads (generous: a nation-size study fits).

    Attributes
    ----------
    max_file_bytes
        Largest layer file (a Shapefile: its ``.shp`` and ``.dbf`` together; a GeoParquet:
        also its uncompressed size).
    max_rows
        Most features in one layer.
    max_scenario_bytes
        Largest scenario TOML file.
    max_model_bytes
        Largest planning model, as :func:`check_model_size` estimates it before building.
    allow_remote
        Read layers from URLs (``https://``, ``s3://``, ``/vsicurl/`` ...) through GDAL.
    """

    max_file_bytes: int = 2 * 1024**3
    max_rows: int = 5_000_000
    max_scenario_bytes: int = 1024**2
    max_model_bytes: int = 16 * 1024**3
    allow_remote: bool = False


_CURRENT: list[InputLimits] = [InputLimits()]

_RAISE: Final[dict[str, str]] = {
    "max_file_bytes": "--max-file-mb N (set_input_limits(InputLimits(max_file_bytes=...)))",
    "max_rows": "--max-rows N (set_input_limits(InputLimits(max_rows=...)))",
    "max_scenario_bytes": (
        "--max-scenario-kb N (set_input_limits(InputLimits(max_scenario_bytes=...)))"
    ),
    "max_model_bytes": "set_input_limits(InputLimits(max_model_bytes=...))",
}
"""How to raise each cap, as the messages say it."""


def input_limits() -> InputLimits:
    """The caps in force (:class:`InputLimits` defaults unless changed).

    Returns
    -------
    InputLimits
        The current caps.
    """
    return _CURRENT[0]


def set_input_limits(limits: InputLimits) -> InputLimits:
    """Put ``limits`` in force for this process; returns the caps they replace.

    Parameters
    ----------
    limits
        The new caps; every size and count must be positive.

    Returns
    -------
    InputLimits
        The previous caps (to restore them).
    """
    for name in ("max_file_bytes", "max_rows", "max_scenario_bytes", "max_model_bytes"):
        value = getattr(limits, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise NetplanError(f"input limit {name} must be a positive integer, got {value!r}")
    previous = _CURRENT[0]
    _CURRENT[0] = limits
    return previous


# --- local paths ------------------------------------------------------------------------

_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")
"""A URL scheme (``http:``, ``s3:``, ``zip+https:`` ...), two letters at least."""


def is_remote(path: str | os.PathLike[str]) -> bool:
    """True if GDAL, pyarrow or pandas would read ``path`` as anything but a local file.

    Parameters
    ----------
    path
        A path as the user gave it.

    Returns
    -------
    bool
        ``path`` starts with a URL scheme or a GDAL virtual file system (``/vsi...``).
    """
    text = os.fspath(path)
    return bool(_SCHEME.match(text)) or text.startswith("/vsi")


def source_path(
    path: str | os.PathLike[str], *, what: str, allow_remote: bool | None = None
) -> str:
    """The path to hand to a reader: a local file made absolute, or an allowed URL.

    A path naming an existing local file or folder is read from disk, whatever it looks
    like (a folder named ``http:127.0.0.1:80`` too). A URL-like path (see
    :func:`is_remote`) that names nothing local is refused unless remote reading is
    allowed; then it is returned unchanged.

    Parameters
    ----------
    path
        The path as the user gave it.
    what
        What is read, for the message (``"branches layer"``, ``"scenario"``).
    allow_remote
        Allow URLs; ``None``: as :func:`input_limits` says (default no); ``False``: never
        (the message then does not suggest ``--allow-url``).

    Returns
    -------
    str
        The absolute local path (symbolic links resolved), or the URL when allowed.

    Raises
    ------
    NetplanError
        ``path`` names a remote resource and remote reading is not allowed.
    """
    allow = input_limits().allow_remote if allow_remote is None else allow_remote
    text = os.fspath(path)
    local = Path(text).resolve()
    if not is_remote(text) and not is_remote(str(local)):
        return str(local)
    if not is_remote(str(local)) and (local.exists() or local.is_symlink()):
        return str(local)  # a local file or folder that merely looks like a URL
    if allow:
        return text
    hint = (", or pass --allow-url (allow_remote=True) to let GDAL fetch it"
            if allow_remote is None else "")
    raise NetplanError(
        f"cannot read the {what} {text!r}: it looks like a URL or a GDAL virtual file "
        "(scheme: or /vsi... prefix) and netplan reads local files only; download the file "
        f"and pass its local path{hint}"
    )


# --- sizes ------------------------------------------------------------------------------


def _size_text(n: float) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n):,} bytes"


def check_file_size(
    path: Path, *, what: str, size: int | None = None, cap: str = "max_file_bytes"
) -> None:
    """Refuse a file larger than the cap ``cap`` of :func:`input_limits`, before reading it.

    Parameters
    ----------
    path
        The local file.
    what
        What it is, for the message.
    size
        Its size in bytes if known otherwise (default: the file's size on disk).
    cap
        ``"max_file_bytes"`` or ``"max_scenario_bytes"``.

    Raises
    ------
    NetplanError
        The file is larger than the cap; the message names the cap and how to raise it.
    """
    limit = int(getattr(input_limits(), cap))
    n = path.stat().st_size if size is None else size
    if n > limit:
        raise NetplanError(
            f"the {what} {path} is {_size_text(n)}, above netplan's limit of "
            f"{_size_text(limit)} ({cap}); check that it is the right file, or raise the "
            f"limit with {_RAISE[cap]}"
        )


def check_rows(n: int, *, what: str, where: str) -> None:
    """Refuse a layer of more than ``max_rows`` features, before reading it whole.

    Parameters
    ----------
    n
        Its number of features (from the file's metadata).
    what, where
        The layer and its file, for the message.

    Raises
    ------
    NetplanError
        ``n`` exceeds the cap; the message names the cap and how to raise it.
    """
    limit = input_limits().max_rows
    if n > limit:
        raise NetplanError(
            f"the {what} in {where} has {n:,} features, above netplan's limit of {limit:,} "
            f"rows per layer (max_rows); check that it is the right file, or raise the limit "
            f"with {_RAISE['max_rows']}"
        )


# --- the planning model -----------------------------------------------------------------

_BYTES_PER_NONZERO: Final = 400
"""Memory per constraint-matrix entry of a planning model, all copies included (the
sparse matrices netplan builds and the solver's own): a deliberately high estimate."""


def check_model_size(*, n_zones: int, n_sites: int, k_nearest: int, n_formats: int) -> int:
    """Estimate a planning model's memory before building it; refuse one above the cap.

    The model has one assignment variable per zone and each of its ``k_nearest`` sites,
    one option per site and format (plus keeping it as it is); every assignment enters
    about three constraints, every option about four.

    Parameters
    ----------
    n_zones, n_sites
        Zones and sites (outlets and candidates) in the model.
    k_nearest
        Sites each zone may be assigned to (``travel.k_nearest``).
    n_formats
        Outlet formats of the scenario.

    Returns
    -------
    int
        The estimate, in bytes.

    Raises
    ------
    NetplanError
        The estimate exceeds ``max_model_bytes`` of :func:`input_limits`.
    """
    pairs = n_zones * min(k_nearest, max(n_sites, 1))
    options = n_sites * (n_formats + 1)
    estimate = (3 * pairs + 4 * options) * _BYTES_PER_NONZERO
    limit = input_limits().max_model_bytes
    if estimate > limit:
        raise NetplanError(
            f"the planning model would need about {_size_text(estimate)} of memory "
            f"({n_zones:,} zones x {min(k_nearest, n_sites):,} nearest sites, {n_sites:,} "
            f"sites x {n_formats + 1} options), above netplan's limit of {_size_text(limit)} "
            "(max_model_bytes); plan one district at a time (--district), lower "
            f"travel.k_nearest, use coarser zones, or raise the limit with "
            f"{_RAISE['max_model_bytes']}"
        )
    return estimate
