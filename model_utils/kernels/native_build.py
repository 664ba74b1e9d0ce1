"""Builds and loads the native CPU kernels (``binary_kernels.cpp``) with ``torch.utils.cpp_extension`` and
ninja: the library goes to ``build/native_kernels/<cpu>/pixelrnn_native.so`` in the repository (or to
``$PIXELRNN_NATIVE_BUILD``) and is rebuilt only when the source or the flags change (a load with nothing to
rebuild takes a fraction of a second).

The library is never mapped blind. After each build the size and SHA-256 of the ``.so`` (and what it was
built from) are recorded beside it in ``pixelrnn_native.so.built.json``; before a load the file must match
that record. A library that does not (truncated, zero bytes, overwritten, or built before records were
kept) is deleted and rebuilt under the build folder's lock, or, where it cannot be rebuilt (no compiler, no
ninja, a read-only folder), refused with an error that names the cause and the file to delete. Mapping a
truncated library would kill the process with SIGBUS, with no message at all.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from training_utils.errors import UserError
from training_utils.paths import REPO_ROOT

SOURCE = Path(__file__).with_name("binary_kernels.cpp")
BUILD_ROOT = REPO_ROOT / "build" / "native_kernels"
BUILD_ENV = "PIXELRNN_NATIVE_BUILD"  # the build folder itself (default: BUILD_ROOT/<cpu>)
NAME = "pixelrnn_native"
LIBRARY = f"{NAME}.so"
RECORD = f"{LIBRARY}.built.json"
# -fopenmp: at::parallel_for runs on OpenMP threads (the torch wheel's libgomp) only when compiled with it.
CFLAGS = ["-O3", "-march=native", "-fopenmp"]
LDFLAGS = ["-fopenmp"]
TORCH_PATH = "set model.compute to 'torch' to use the PyTorch path (the same function, slower on CPU)"


class NativeKernelsUnavailable(UserError, RuntimeError):
    """The native kernels could not be built or loaded; the message says why and what to do."""


def _cpu_key() -> str:
    """-march=native code runs only on CPUs with the build machine's features: one build per feature set."""
    features = ""
    try:
        features = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()}-{hashlib.sha256(features.encode()).hexdigest()[:12]}"


def build_folder() -> Path:
    override = os.environ.get(BUILD_ENV)
    return Path(override) if override else BUILD_ROOT / _cpu_key()


def _cpp_extension():
    """torch.utils.cpp_extension, imported with its logger quiet: at import it warns about CUDA on CPU-only
    machines, irrelevant to a CPU build (and, imported later by anyone, it would warn then)."""
    cpp_logger = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_logger.level
    cpp_logger.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension
    finally:
        cpp_logger.setLevel(level)
    return cpp_extension


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inputs() -> dict:
    """What the library is built from: a record with other inputs means the library is out of date."""
    return {"source_sha256": _sha256(SOURCE), "cflags": CFLAGS, "ldflags": LDFLAGS, "torch": torch.__version__,
            "python": platform.python_version()}


def library_mismatch(folder: Path) -> str | None:
    """None if ``folder``'s library is the one its record describes, built from the current inputs; else why
    it may not be loaded. (Also None-safe for a missing library: the reason says it is missing.)"""
    library, record = folder / LIBRARY, folder / RECORD
    if not library.is_file():
        return f"{library} does not exist"
    try:
        recorded = json.loads(record.read_text())
        size, sha256 = int(recorded["size"]), str(recorded["sha256"])
    except FileNotFoundError:
        return f"{library} has no build record ({record.name}): it was not built by this project's loader"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{library}'s build record {record} is unreadable"
    actual = library.stat().st_size
    if actual != size:
        return (f"{library} is {actual} bytes, but {size} bytes were built "
                f"({'empty' if actual == 0 else 'truncated' if actual < size else 'overwritten'})")
    if _sha256(library) != sha256:
        return f"{library} does not have the SHA-256 of the library that was built (overwritten)"
    if recorded.get("inputs") != _inputs():
        return f"{library} was built from another source, flags or torch version"
    return None


def _not_writable(folder: Path) -> str | None:
    """None if files can be created in ``folder`` (created if missing), else the OS's reason."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def _build_obstacle(folder: Path) -> str | None:
    """Why the library cannot be built in ``folder`` (each cause with its own advice), or None."""
    reason = _not_writable(folder)
    if reason is not None:
        return (f"the build folder {folder} is not writable ({reason}); the native kernels are built there on "
                f"first use. Make it writable or set ${BUILD_ENV} to a writable folder; or {TORCH_PATH}.")
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        return (f"no C++ compiler: {cxx!r}{' ($CXX)' if 'CXX' in os.environ else ''} is not on PATH. The native "
                f"kernels ({SOURCE.name}) are built on first use with a C++17 compiler with OpenMP (e.g. g++) and "
                f"ninja; install one or {TORCH_PATH}.")
    if not _cpp_extension().is_ninja_available():
        return (f"ninja is not installed (it is in requirements.txt: pip install ninja); the native kernels are "
                f"built with it on first use. Install it or {TORCH_PATH}.")
    return None


def _refusal(folder: Path, mismatch: str | None, obstacle: str) -> str:
    if mismatch is None or not (folder / LIBRARY).exists():
        return f"the native kernels cannot be built: {obstacle}"
    return (f"{mismatch}, so it is not loaded; it cannot be rebuilt: {obstacle} Once that is fixed, the next run "
            f"rebuilds it; or delete {folder / LIBRARY} yourself.")


def _build_and_load(folder: Path, mismatch: str | None) -> None:
    """Under the build folder's lock: delete a library that fails its record, build, load, record."""
    from training_utils import run_folder
    from training_utils.atomic_files import write_json

    library, record = folder / LIBRARY, folder / RECORD
    with run_folder.hold(folder, what="native kernels' build folder", option=f"${BUILD_ENV}", wait=True):
        mismatch = library_mismatch(folder)  # another process may have rebuilt it meanwhile
        if mismatch is None:
            torch.ops.load_library(str(library))
            return
        if library.exists():
            if "does not exist" not in mismatch and "another source" not in mismatch:
                print(f"native kernels: {mismatch}; rebuilding it", file=sys.stderr)
            library.unlink()  # ninja would call a newer, damaged file up to date and load it
        with contextlib.suppress(FileNotFoundError):
            record.unlink()
        cpp_extension = _cpp_extension()
        cpp_logger = logging.getLogger("torch.utils.cpp_extension")
        level = cpp_logger.level
        cpp_logger.setLevel(logging.ERROR)
        try:
            cpp_extension.load(name=NAME, sources=[str(SOURCE)], extra_cflags=CFLAGS, extra_ldflags=LDFLAGS,
                               build_directory=str(folder), is_python_module=False, verbose=False)
        finally:
            cpp_logger.setLevel(level)
        write_json(record, {"size": library.stat().st_size, "sha256": _sha256(library), "inputs": _inputs()})


_failure: str | None = None
_loaded = False


def load_native_kernels() -> None:
    """Build (if needed), verify and load the ``torch.ops.pixelrnn_native`` operators, once per process.
    Raises NativeKernelsUnavailable (the same one on every later call) if that fails."""
    global _failure, _loaded
    if _loaded:
        return
    if _failure is not None:
        raise NativeKernelsUnavailable(_failure)
    _cpp_extension()  # quiet now, whoever imports it later
    folder = build_folder()
    mismatch = library_mismatch(folder)
    try:
        if mismatch is None:  # the recorded library: no compiler or write access needed
            torch.ops.load_library(str(folder / LIBRARY))
        else:
            obstacle = _build_obstacle(folder)
            if obstacle is not None:
                _failure = _refusal(folder, mismatch, obstacle)
                raise NativeKernelsUnavailable(_failure)
            _build_and_load(folder, mismatch)
    except NativeKernelsUnavailable:
        raise
    except Exception as error:  # the compiler, ninja or the loader: the cause is in its message
        _failure = (f"building the native kernels ({SOURCE.name}, torch {torch.__version__}) in {folder} failed: "
                    f"{type(error).__name__}: {str(error).strip()[-2000:]}\nThey need a C++17 compiler with OpenMP "
                    f"and ninja (requirements.txt); or {TORCH_PATH}.")
        raise NativeKernelsUnavailable(_failure) from error
    _loaded = True
