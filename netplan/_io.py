"""Writing outputs safely: atomic files, staged folders, manifests and locks.

Every file netplan writes goes through this module, so the guarantees hold everywhere:

- **Atomic files** (:func:`atomic_write_bytes`, :func:`atomic_path`): the bytes go to a
  temporary file in the same folder, are flushed to disk, then renamed onto the target;
  the temporary file is removed on any error, a Ctrl-C included.
- **No file netplan did not write is replaced**: an existing file is replaced only with
  ``force`` or when the manifest of the plan folder holding it vouches for it
  (:func:`check_new_file`); a run's own inputs are never written to, even with ``force``.
- **Plan folders** are staged (:func:`staged_folder`): written into a temporary sibling,
  listed with their SHA-256 in a manifest (:data:`PLAN_FOLDER` ``.manifest``), then
  published with one rename. An existing folder is replaced only if its manifest lists
  every file in it, unchanged (:func:`check_folder_target`); netplan recognises its
  folders by that manifest alone, never by file names.
- **Locks** valid across processes and PID namespaces (``fcntl.flock``): a run takes a
  sibling ``.<name>.netplan-lock`` before it works (:func:`output_lock`), and every
  temporary folder holds a locked file while it is written, so that a temporary folder
  left by a killed run is removed only once its lock is free (:func:`remove_stale`).

POSIX only (``fcntl``). This module imports nothing of netplan but its errors.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netplan._errors import NetplanError, examples

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanFolderNames:
    """The names of everything in a plan folder (the one place they are spelled)."""

    gpkg: str = "plan.gpkg"
    actions: str = "actions.csv"
    kpis: str = "kpis.json"
    run: str = "run.json"
    map: str = "map.html"
    report: str = "report.html"
    districts: str = "districts"
    manifest: str = ".netplan-plan.json"


PLAN_FOLDER = PlanFolderNames()
"""File names of a plan folder; a city folder adds ``districts/<adcode>/`` plan folders."""

MANIFEST_FORMAT = "netplan-plan-folder/1"
"""The ``format`` stamp of a manifest; a manifest without it is not netplan's."""

_TMP_LOCK = ".netplan-lock"
"""The lock file inside a temporary folder, held while the folder is written."""

_HELD: dict[Path, int] = {}
"""Output locks this process holds (path -> depth), so that the locks are reentrant."""


# --- single files ------------------------------------------------------------------------


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, force: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path
        The file to write; missing folders are created.
    data
        The bytes.
    force
        Replace an existing file (see :func:`check_new_file`).
    inputs
        Files the run reads; ``path`` may never be one of them.

    Returns
    -------
    Path
        ``path``.
    """
    with atomic_path(path, force=force, inputs=inputs) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    return Path(path)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, force: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`.

    Parameters
    ----------
    path, force, inputs
        As for :func:`atomic_write_bytes`.
    text
        The text, written as UTF-8.

    Returns
    -------
    Path
        ``path``.
    """
    return atomic_write_bytes(path, text.encode("utf-8"), force=force, inputs=inputs)


@contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, force: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix) for a writer to create.

    When the block ends normally the file is flushed to disk and renamed onto ``path``;
    on any exception (KeyboardInterrupt included) it is removed. ``path`` is checked
    first (:func:`check_new_file`).

    Parameters
    ----------
    path, force, inputs
        As for :func:`atomic_write_bytes`.

    Yields
    ------
    Path
        A path that does not exist yet, in the folder of ``path``.
    """
    target = check_new_file(path, force=force, inputs=inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(target.parent)
    if target.name != PLAN_FOLDER.manifest:
        record_in_manifest(target)


def check_new_file(
    path: str | os.PathLike[str], *, force: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """The absolute ``path`` if a file may be written there, else :class:`NetplanError`.

    Refused: one of the run's ``inputs`` (even with ``force``), a folder, and an existing
    file unless ``force`` is given or the manifest of a plan folder around it lists it,
    unchanged (a map or report netplan wrote into its own plan folder).

    Parameters
    ----------
    path
        The file to write.
    force
        Allow replacing an existing file.
    inputs
        Files the run reads.

    Returns
    -------
    Path
        ``path`` made absolute.
    """
    target = Path(path).absolute()
    for src in inputs:
        if _same_file(target, Path(src)):
            raise NetplanError(
                f"{path} is one of this run's inputs ({src}); netplan never writes onto its "
                "inputs, not even with --force; choose another file"
            )
    if target.is_dir():
        raise NetplanError(f"{path} is a folder; give a file name for --out")
    if (target.exists() or target.is_symlink()) and not force and not _vouched(target):
        raise NetplanError(
            f"{path} exists and netplan does not replace a file unless asked; pass --force "
            "to replace it, or choose another file"
        )
    return target


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return a.resolve() == b.resolve()


def _vouched(target: Path) -> bool:
    """True if a plan folder around ``target`` lists it in its manifest, unchanged."""
    for folder in target.parents:
        files = read_manifest(folder)
        if files is not None:
            rel = target.relative_to(folder).as_posix()
            return target.is_file() and files.get(rel) == file_sha256(target)
    return False


def record_in_manifest(path: Path) -> None:
    """After writing ``path`` into a plan folder, update the manifests that hold it.

    A file written into a plan folder (a map or report redrawn later) becomes part of it:
    each enclosing folder with a manifest lists it with its new hash (the file is renamed
    into place first, so a run killed in between leaves a changed file that the next
    plan refuses to replace, never a manifest vouching for bytes it did not see).

    Parameters
    ----------
    path
        A file just written.
    """
    target = Path(path).absolute()
    for folder in target.parents:
        files = read_manifest(folder)
        if files is not None:
            files[target.relative_to(folder).as_posix()] = file_sha256(target)
            _write_manifest_files(folder, files)


# --- manifests ----------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path) -> None:
    """List every file under ``folder`` with its SHA-256 in its manifest.

    Parameters
    ----------
    folder
        A folder netplan has just filled (a temporary plan folder).
    """
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if rel not in (PLAN_FOLDER.manifest, _TMP_LOCK):
                files[rel] = file_sha256(p)
    _write_manifest_files(folder, files)


def _write_manifest_files(folder: Path, files: dict[str, str]) -> None:
    text = json.dumps({"format": MANIFEST_FORMAT, "files": dict(sorted(files.items()))},
                      ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(folder / PLAN_FOLDER.manifest, text, force=True)


def read_manifest(folder: Path) -> dict[str, str] | None:
    """The files (relative path -> SHA-256) a folder's manifest lists; None if it has none.

    Parameters
    ----------
    folder
        Any folder.

    Returns
    -------
    dict or None
        None when there is no manifest or it is not a valid netplan manifest.
    """
    path = Path(folder) / PLAN_FOLDER.manifest
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return None
    files = doc.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return dict(files)


def unexpected_files(folder: Path) -> list[str]:
    """What in ``folder`` netplan did not write, as paths relative to it (sorted).

    Everything is unexpected in a folder without a valid manifest; with one, a file it
    does not list or whose bytes changed, a symbolic link, or a folder holding none of the
    listed files. The manifest itself is expected.

    Parameters
    ----------
    folder
        An existing folder.

    Returns
    -------
    list of str
        Relative POSIX paths; a foreign folder is named, not its contents.
    """
    files = read_manifest(folder) or {}
    dirs = {parent.as_posix() for rel in files for parent in Path(rel).parents}
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in sorted(dirnames):
            rel = (base / name).relative_to(folder).as_posix()
            if (base / name).is_symlink() or rel not in dirs:
                found.append(rel)
                dirnames.remove(name)
        for name in filenames:
            p = base / name
            rel = p.relative_to(folder).as_posix()
            if rel == PLAN_FOLDER.manifest and files:
                continue
            if p.is_symlink() or not p.is_file() or files.get(rel) != file_sha256(p):
                found.append(rel)
    return sorted(found)


def check_folder_target(out: str | os.PathLike[str]) -> Path:
    """The absolute ``out`` if a plan folder may be written there, else NetplanError.

    ``out`` must not exist, be an empty folder, or be a plan folder netplan wrote: a
    valid manifest that lists every file in it, unchanged. Anything else is refused with
    the unexpected files named, and nothing is deleted.

    Parameters
    ----------
    out
        The folder to write.

    Returns
    -------
    Path
        ``out`` made absolute (symbolic links resolved).
    """
    target = Path(out).resolve()
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise NetplanError(
                f"{out} exists and is not a folder; choose another --out (a new or empty "
                "folder, or an earlier plan folder to replace)"
            )
        foreign = unexpected_files(target)
        if foreign:
            raise NetplanError(
                f"{out} exists and is not a plan folder (it holds {examples(foreign)}); "
                f"netplan replaces only a folder it wrote whole (listed in its "
                f"{PLAN_FOLDER.manifest}) and never deletes a file it did not write; "
                "choose a new or empty folder for --out"
            )
    base = target.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise NetplanError(
            f"cannot write the plan folder {out}: {base} is not a folder you may write to; "
            "choose an --out in a writable folder"
        )
    return target


# --- locks --------------------------------------------------------------------------------


def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.netplan-lock")


def _try_lock(path: Path) -> int | None:
    """Open and lock ``path`` (created if missing) without waiting; None if it is held.

    The lock is checked to sit on the file that is at ``path`` now (a releasing run
    removes the file), so that two runs never both hold a lock on different files.
    """
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return None
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the file was removed and replaced meanwhile: lock the new one
    raise NetplanError(f"cannot take the lock {path}: it keeps changing")


def _unlock(fd: int, path: Path) -> None:
    """Remove the lock file, then release the lock (in that order: see :func:`_try_lock`)."""
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


@contextmanager
def output_lock(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the lock of output ``out`` (a sibling ``.<name>.netplan-lock``) for the block.

    Two runs writing the same output: the second stops at once with a clear error. The
    lock is reentrant within a process (the CLI takes it before solving, the writer again).

    Parameters
    ----------
    out
        The output folder or file.

    Yields
    ------
    Path
        ``out`` made absolute (symbolic links resolved).
    """
    target = Path(out).resolve()
    if target in _HELD:
        _HELD[target] += 1
        try:
            yield target
        finally:
            _HELD[target] -= 1
        return
    created = _make_parents(target)
    lock = _lock_path(target)
    fd = _try_lock(lock)
    if fd is None:
        _remove_empty(created)
        raise NetplanError(
            f"another run is writing {out} (it holds {lock}); wait for it to finish or "
            "choose another --out"
        )
    _HELD[target] = 1
    try:
        yield target
    finally:
        del _HELD[target]
        _unlock(fd, lock)
        _remove_empty(created)


def _make_parents(target: Path) -> list[Path]:
    """Create the missing folders above ``target``; returns them, deepest first."""
    missing = [p for p in target.parents if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove folders this run created if they are still empty (a run that wrote nothing)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (the output is in it) or gone: keep the rest too


@contextmanager
def claim_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Lock ``out`` and check that a plan folder may be written there (before solving).

    Parameters
    ----------
    out
        The output folder.

    Yields
    ------
    Path
        ``out`` made absolute.
    """
    check_folder_target(out)  # a clear refusal first, without creating any folder
    with output_lock(out) as target:
        check_folder_target(out)
        yield target


# --- staged folders -----------------------------------------------------------------------


@contextmanager
def staged_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; on success it replaces ``out`` whole.

    Under the lock of ``out`` (:func:`output_lock`): the target is checked
    (:func:`check_folder_target`), stale temporary folders are removed
    (:func:`remove_stale`), a locked temporary folder is made and yielded; when the block
    ends normally the manifest is written, the target checked again and the folder
    renamed onto it. On any exception the temporary folder is removed.

    Parameters
    ----------
    out
        The plan folder to write.

    Yields
    ------
    Path
        The temporary folder.
    """
    with claim_folder(out) as target:
        remove_stale(target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        tmp.mkdir()
        lock = tmp / _TMP_LOCK
        fd = _try_lock(lock)
        if fd is None:  # pragma: no cover - a fresh random name cannot be locked by anyone
            raise NetplanError(f"cannot lock the temporary folder {tmp}")
        try:
            yield tmp
            write_manifest(tmp)
            check_folder_target(out)  # nothing of the user's arrived meanwhile
            _fsync_tree(tmp)
            lock.unlink()  # a lockless temporary folder is stale: only we hold the out lock
            replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            os.close(fd)


def replace_dir(tmp: Path, out: Path) -> None:
    """Put folder ``tmp`` at ``out``; an existing ``out`` is swapped out, then removed.

    Parameters
    ----------
    tmp
        The complete new folder.
    out
        Where it goes (checked by :func:`check_folder_target` beforehand).
    """
    if out.exists():
        old = out.with_name(f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.old")
        os.replace(out, old)
        try:
            os.replace(tmp, out)
        except BaseException:
            os.replace(old, out)  # put the previous folder back
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    _fsync_dir(out.parent)


def remove_stale(target: Path) -> None:
    """Remove temporary siblings of ``target`` left by killed runs.

    A temporary folder (``.<name>.<pid>-<random>.tmp``) is removed only when its lock can
    be taken (its run is gone) or it has none (its run was killed before it locked it or
    after it released it; the caller holds the lock of ``target``, so no live run of this
    output can be in between). A swapped-out previous folder (``.<name>.<...>.old``) is
    removed only if its manifest still vouches for everything in it.

    Parameters
    ----------
    target
        The output folder, absolute.
    """
    name = re.escape(target.name)
    tmp_name = re.compile(rf"^\.{name}\.\d+-[0-9a-z]+\.tmp$")
    old_name = re.compile(rf"^\.{name}\.\d+-[0-9a-z]+\.old$")
    for path in sorted(target.parent.iterdir()):
        if path.is_symlink() or not path.is_dir():
            continue
        if tmp_name.match(path.name):
            fd = _try_lock(path / _TMP_LOCK) if (path / _TMP_LOCK).exists() else -1
            if fd is None:
                continue  # a run holds it
            try:
                log.info("removing %s, left by an interrupted run", path)
                shutil.rmtree(path, ignore_errors=True)
            finally:
                if fd >= 0:
                    os.close(fd)
        elif old_name.match(path.name) and not unexpected_files(path):
            log.info("removing %s, left by an interrupted run", path)
            shutil.rmtree(path, ignore_errors=True)


# --- small helpers ------------------------------------------------------------------------


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove the temporary %s", path)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            _fsync_file(Path(dirpath) / name)
        _fsync_dir(Path(dirpath))
