"""Atomic file writes: content goes to a temporary file in the destination folder and is moved
into place with ``os.replace``, so a crash never leaves a partial file behind a final name.

A write that fails because the device is full (``ENOSPC``, or a quota: ``EDQUOT``) raises
``DiskFullError``, which says so and names the file and the free space; the temporary file is removed.
Temporary files are named ``.<name>.<random><suffix>.tmp``; ``run_folder`` removes those a killed
writer left.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _default_file_mode() -> int:
    """What ``open()`` would give a new file under the current umask (mkstemp gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class DiskFullError(OSError):
    """No space left on the device (or quota) while writing a file; the message names both."""


def disk_full_error(path, err: OSError) -> DiskFullError:
    folder = Path(path).parent
    try:
        free = f"{shutil.disk_usage(folder).free} bytes free there"
    except OSError:
        free = "free space unknown"
    return DiskFullError(err.errno, f"no space left on the device holding {folder} ({free}): {Path(path).name} "
                                    "was not written; free some disk space or choose a folder on another device",
                         str(path))


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; on success it replaces ``destination``.

    The temporary file is removed if the body raises. ``suffix`` keeps an extension for writers
    that insist on one (``np.save`` adds ``.npy``, ``cv2.imwrite`` picks the format by it).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=suffix + ".tmp",
                                         dir=destination.parent)
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        os.chmod(temp_path, _default_file_mode())
        yield temp_path
        os.replace(temp_path, destination)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS and not isinstance(err, DiskFullError):
            raise disk_full_error(destination, err) from None
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_png(fig, destination: str | os.PathLike) -> None:
    """A matplotlib figure as a PNG at ``destination``, written atomically (laid out first, closed after)."""
    import matplotlib.pyplot as plt  # only the report tools draw figures

    fig.tight_layout()
    with atomic_path(destination) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
