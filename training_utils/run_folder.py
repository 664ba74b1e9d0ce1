"""A folder that one process at a time writes into (a run folder, a tool's output folder, a clip-cache
folder).

``hold(folder)`` takes an exclusive lock file ``<folder>/.lock`` (``flock``, released by the kernel
when the process dies, however it dies) and keeps it for the body's life; the file names the holder's
PID so that a second process is refused with it. Once the lock is held, temporary files that a killed
writer left (``atomic_files`` names them ``.<name>.<random>.tmp``) are removed: nobody else can be
writing them. A folder that ``hold`` created and that is still empty at the end is removed again, so a
run that fails before writing anything leaves nothing behind.

``claim(folder, tool, option, results)`` is how every tool takes its output folder: the same lock, and a
folder that holds a training run (``last.pt`` / ``best.pt``) is refused to every other tool and mode, so
no tool overwrites a run's ``metrics.json``.

Whether a sweep may reuse a run folder is ``run_reuse`` (it compares configs, so it sits above the config
loader; this module is below everything that writes files).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

from .errors import UserError

LOCK_FILE = ".lock"
TEMPORARY_PATTERN = ".*.tmp"
TRAINING_RUN_FILES = ("last.pt", "best.pt")  # what makes a folder a training run's

_held: dict[Path, int] = {}  # folders this process holds -> nesting depth (hold is re-entrant)


class FolderInUseError(UserError, ValueError):
    """Another process holds the folder's lock (or the lock file cannot be one)."""


class FolderTakenError(UserError, ValueError):
    """The folder holds another tool's results (a training run) that this tool would overwrite."""


def require_folder_path(folder, option: str) -> Path:
    """``folder`` as a Path; a path that exists and is not a folder is refused, naming ``option``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder} is a file, not a folder; give the path of a folder "
                         "(it is created if missing)")
    return folder


def prepare_folder(folder: Path, option: str) -> bool:
    """Create ``folder`` (and parents) unless it exists; True if it was created."""
    require_folder_path(folder, option)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    return created


def remove_stale_temporaries(folder: Path) -> list[Path]:
    removed = []
    for path in sorted(folder.glob(TEMPORARY_PATTERN)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    if removed:
        print(f"removed {len(removed)} temporary file(s) left by an interrupted writer in {folder}",
              file=sys.stderr)
    return removed


def _lock(lock_path: Path, wait: bool, what: str) -> int:
    """An open descriptor of ``lock_path`` holding its exclusive lock."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError:
            raise FolderInUseError(f"{what} {lock_path.parent}: its lock file {lock_path} is a folder, not a file; "
                                   f"nothing of this project makes it: remove it (rmdir {lock_path}) if no process "
                                   "uses the folder, then run again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(f"{what} {lock_path.parent} is in use by process {holder} (lock file "
                                   f"{lock_path}); wait until that process ends or choose another folder") from None
        # The previous holder unlinks the file as it lets go: a lock on that unlinked file locks nothing.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)


@contextlib.contextmanager
def hold(folder, what: str = "run folder", option: str = "--out", wait: bool = False) -> Iterator[Path]:
    """Hold ``folder``'s lock for the body (see the module docstring). ``wait``: wait for another
    holder to finish instead of refusing."""
    folder = Path(folder)
    created = prepare_folder(folder, option)
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    lock_path = folder / LOCK_FILE
    fd = _lock(lock_path, wait, what)
    _held[key] = 1
    try:
        remove_stale_temporaries(folder)
        yield folder
    finally:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()  # while still locked: a waiter then sees a new file (see _lock)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty


def holds_training_run(folder) -> list[str]:
    """The files that make ``folder`` a training run's (empty if it is not one)."""
    folder = Path(folder)
    return [name for name in TRAINING_RUN_FILES if (folder / name).exists()]


@contextlib.contextmanager
def claim(folder, tool: str, option: str, results: Iterable[str] = ()) -> Iterator[Path]:
    """Hold ``folder`` as ``tool``'s output folder (given by ``option``; ``tool`` writes ``results``
    there). The lock is ``hold``'s, the one train runs take; a folder that holds a training run is
    refused unless ``tool`` is "train" (which decides itself whether it resumes or refuses)."""
    what = "run folder" if tool == "train" else "output folder"
    with hold(folder, what=what, option=option) as held:
        present = holds_training_run(held) if tool != "train" else []
        if present:
            results = list(results)
            writes = f"its {', '.join(results)}" if results else "its files"
            raise FolderTakenError(
                f"{option} {held} holds a training run ({', '.join(present)}); {tool} would overwrite {writes}. "
                f"A run folder is written by train.py alone: choose another {option} (a folder inside it will do)")
        yield held
