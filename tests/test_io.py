"""netplan._io: atomic files, manifests, staged folders and their locks.

Every refusal leaves the file system as it was: each test hashes every file before and
after (``snapshot``).
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest_reliability import snapshot, temp_leftovers

from netplan import _io
from netplan._errors import NetplanError
from netplan._io import (
    PLAN_FOLDER,
    atomic_path,
    atomic_write_text,
    check_folder_target,
    output_lock,
    read_manifest,
    remove_stale,
    staged_folder,
    unexpected_files,
)

# --- single files ------------------------------------------------------------------------


def test_atomic_write_creates_folders_and_refuses_to_replace_without_force(
    tmp_path: Path,
) -> None:
    out = tmp_path / "deep" / "a.txt"
    assert atomic_write_text(out, "one\n") == out
    assert out.read_text(encoding="utf-8") == "one\n"
    before = snapshot(tmp_path)
    with pytest.raises(NetplanError, match=r"a\.txt exists and netplan does not replace a "
                                           r"file unless asked; pass --force"):
        atomic_write_text(out, "two\n")
    assert snapshot(tmp_path) == before
    atomic_write_text(out, "two\n", force=True)
    assert out.read_text(encoding="utf-8") == "two\n"
    assert temp_leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError], ids=["ctrl-c", "disk full"])
def test_temp_file_removed_when_the_writer_raises(
    error: type[BaseException], tmp_path: Path
) -> None:
    out = tmp_path / "log.csv"
    out.write_text("previous\n", encoding="utf-8")
    before = snapshot(tmp_path)
    with pytest.raises(error), atomic_path(out, force=True) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".csv"
        tmp.write_text("half a fi", encoding="utf-8")
        raise error()
    assert snapshot(tmp_path) == before
    assert temp_leftovers(tmp_path) == []


def test_an_input_is_never_written_even_with_force(tmp_path: Path) -> None:
    data = tmp_path / "study.gpkg"
    data.write_bytes(b"layers")
    before = snapshot(tmp_path)
    with pytest.raises(NetplanError, match=r"is one of this run's inputs .* not even with --force"):
        atomic_write_text(tmp_path / "." / "study.gpkg", "x", force=True, inputs=[data])
    assert snapshot(tmp_path) == before


def test_a_folder_is_never_a_file_output(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(NetplanError, match="is a folder; give a file name"):
        atomic_write_text(tmp_path / "out", "x", force=True)


# --- manifests and plan folders -------------------------------------------------------------


def fill(folder: Path) -> None:
    """What a plan folder's writer would put in a staged folder (a stand-in)."""
    (folder / PLAN_FOLDER.kpis).write_text("{}\n", encoding="utf-8")
    sub = folder / PLAN_FOLDER.districts / "110101"
    sub.mkdir(parents=True)
    (sub / PLAN_FOLDER.kpis).write_text("{}\n", encoding="utf-8")


def test_staged_folder_writes_a_manifest_of_every_file(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with staged_folder(out) as tmp:
        fill(tmp)
    files = read_manifest(out)
    assert files is not None and sorted(files) == ["districts/110101/kpis.json", "kpis.json"]
    assert unexpected_files(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]  # no lock, no temp left
    check_folder_target(out)  # its own folder may be replaced ...
    with staged_folder(out) as tmp:
        (tmp / "actions.csv").write_text("a\n", encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == [PLAN_FOLDER.manifest, "actions.csv"]


def test_a_changed_or_added_file_makes_the_folder_not_ours(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with staged_folder(out) as tmp:
        fill(tmp)
    (out / "kpis.json").write_text('{"edited": true}\n', encoding="utf-8")
    (out / "districts" / "110101" / "notes.docx").write_bytes(b"mine")
    (out / "mine").mkdir()
    assert unexpected_files(out) == ["districts/110101/notes.docx", "kpis.json", "mine"]
    before = snapshot(tmp_path)
    with pytest.raises(NetplanError, match=r"plan exists and is not a plan folder \(it holds "
                                           r"districts/110101/notes.docx, kpis.json, mine\)"):
        with staged_folder(out) as tmp:
            raise AssertionError("never reached: the target is checked first")
    assert snapshot(tmp_path) == before


def test_names_alone_never_make_a_plan_folder(tmp_path: Path) -> None:
    """kpis.json and districts/ with a user's document: refused, nothing deleted."""
    out = tmp_path / "Documents"
    (out / "districts").mkdir(parents=True)
    (out / "kpis.json").write_text("{}\n", encoding="utf-8")
    (out / "districts" / "thesis.docx").write_bytes(b"years of work")
    before = snapshot(tmp_path)
    with pytest.raises(NetplanError, match=r"\(it holds districts, kpis.json\)"):
        with staged_folder(out):
            pass
    assert snapshot(tmp_path) == before


def test_a_forged_or_broken_manifest_is_not_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    out.mkdir()
    (out / "a.txt").write_text("mine\n", encoding="utf-8")
    manifest = out / PLAN_FOLDER.manifest
    for text in ("not json", json.dumps({"files": {"a.txt": "0" * 64}}), "[]"):
        manifest.write_text(text, encoding="utf-8")
        assert read_manifest(out) is None
        assert unexpected_files(out) == [PLAN_FOLDER.manifest, "a.txt"]


def test_at_most_ten_unexpected_files_are_named(tmp_path: Path) -> None:
    out = tmp_path / "many"
    out.mkdir()
    for k in range(13):
        (out / f"f{k:02d}.txt").write_text("x", encoding="utf-8")
    with pytest.raises(NetplanError, match=r"f09.txt and 3 more\)"):
        check_folder_target(out)


def test_an_empty_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "plan").mkdir()
    with staged_folder(tmp_path / "plan") as tmp:
        fill(tmp)
    assert unexpected_files(tmp_path / "plan") == []


def test_a_failing_writer_leaves_the_previous_folder(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with staged_folder(out) as tmp:
        fill(tmp)
    before = snapshot(tmp_path)
    with pytest.raises(KeyboardInterrupt), staged_folder(out) as tmp:
        (tmp / "kpis.json").write_text("half", encoding="utf-8")
        raise KeyboardInterrupt
    assert snapshot(tmp_path) == before


def test_a_file_written_into_a_plan_folder_joins_its_manifest(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with staged_folder(out) as tmp:
        fill(tmp)
    report = out / "districts" / "110101" / "report.html"
    atomic_write_text(report, "<html>\n")
    atomic_write_text(out / "report.html", "<html>\n")
    atomic_write_text(out / "report.html", "<html>v2\n")  # vouched for: no --force needed
    assert unexpected_files(out) == []
    assert "districts/110101/report.html" in (read_manifest(out) or {})


# --- locks and stale temporary folders --------------------------------------------------------


HOLD = textwrap.dedent("""
    import fcntl, sys, time
    from pathlib import Path
    lock, ready = Path(sys.argv[1]), Path(sys.argv[2])
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        ready.write_text("locked", encoding="utf-8")
        time.sleep(60)
""")


def hold_lock(lock: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """A child process holding ``lock`` (flock) until it is killed."""
    ready = tmp_path / "ready.flag"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(ready)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    ready.unlink()
    return child


def test_a_second_writer_of_the_same_output_stops_at_once(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    child = hold_lock(work / ".plan.netplan-lock", tmp_path)
    try:
        before = snapshot(work)
        with pytest.raises(NetplanError, match=r"another run is writing .*plan \(it holds "):
            with output_lock(work / "plan"):
                pass
        assert snapshot(work) == before
    finally:
        child.kill()
        child.wait()
    with output_lock(work / "plan"), output_lock(work / "plan"):  # free now; reentrant
        assert (work / ".plan.netplan-lock").exists()
    assert list(work.iterdir()) == []


def test_stale_temp_folder_with_a_free_lock_is_removed_a_held_one_kept(tmp_path: Path) -> None:
    target = tmp_path / "plan"
    free = tmp_path / ".plan.4242-dead.tmp"
    held = tmp_path / ".plan.4243-alive.tmp"
    lockless = tmp_path / ".plan.4244-nolock.tmp"
    other = tmp_path / ".planet.4245-other.tmp"  # another output's: not ours to judge
    for folder in (free, held, lockless, other):
        folder.mkdir()
        (folder / "kpis.json").write_text("{}", encoding="utf-8")
    for folder in (free, held, other):
        (folder / ".netplan-lock").touch()
    child = hold_lock(held / ".netplan-lock", tmp_path)
    try:
        with output_lock(target):
            remove_stale(target)
    finally:
        child.kill()
        child.wait()
    assert not free.exists() and not lockless.exists()
    assert held.is_dir() and other.is_dir()


def test_temporary_folder_holds_its_lock_while_written(tmp_path: Path) -> None:
    with staged_folder(tmp_path / "plan") as tmp:
        lock = tmp / ".netplan-lock"
        with open(lock, "a") as fh, pytest.raises(BlockingIOError):
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fill(tmp)
    assert not (tmp_path / "plan" / ".netplan-lock").exists()


def test_interrupted_swap_leaves_a_previous_folder_the_next_run_removes(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with staged_folder(out) as tmp:
        fill(tmp)
    old = tmp_path / ".plan.99-abcd.old"
    out.rename(old)  # as if killed between the two renames of replace_dir
    foreign_old = tmp_path / ".plan.98-beef.old"
    foreign_old.mkdir()
    (foreign_old / "mine.txt").write_text("x", encoding="utf-8")
    with staged_folder(out) as tmp:
        fill(tmp)
    assert not old.exists()
    assert foreign_old.is_dir()  # not vouched for by a manifest: kept


def test_lock_is_taken_on_the_file_at_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """A lock file removed by its releasing owner is not the one a new run locks."""
    lock = tmp_path / ".x.netplan-lock"
    fd = _io._try_lock(lock)
    assert fd is not None
    assert _io._try_lock(lock) is None
    _io._unlock(fd, lock)
    assert not lock.exists()
    fd2 = _io._try_lock(lock)
    assert fd2 is not None and lock.exists()
    _io._unlock(fd2, lock)


def test_a_refused_or_failed_run_leaves_no_folder_it_created(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), staged_folder(tmp_path / "a" / "b" / "plan"):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
