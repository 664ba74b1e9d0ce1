"""Atomic file writes: content goes to a temporary file in the destination folder and is moved
into place with ``os.replace``, so a crash never leaves a partial file behind a final name."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _default_file_mode() -> int:
    """What ``open()`` would give a new file under the current umask (mkstemp gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")
