"""Builds and loads the native CPU kernels (``binary_kernels.cpp``) with ``torch.utils.cpp_extension`` and
ninja: the library goes to ``build/native_kernels/<cpu>/`` in the repository and is rebuilt only when the
source or the flags change (a load with nothing to rebuild takes a fraction of a second)."""
from __future__ import annotations

import hashlib
import logging
import platform
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("binary_kernels.cpp")
BUILD_ROOT = Path(__file__).resolve().parents[2] / "build" / "native_kernels"
# -fopenmp: at::parallel_for runs on OpenMP threads (the torch wheel's libgomp) only when compiled with it.
CFLAGS = ["-O3", "-march=native", "-fopenmp"]


class NativeKernelsUnavailable(RuntimeError):
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


_failure: str | None = None
_loaded = False


def load_native_kernels() -> None:
    """Build (if needed) and load the ``torch.ops.pixelrnn_native`` operators, once per process.
    Raises NativeKernelsUnavailable (the same one on every later call) if that fails."""
    global _failure, _loaded
    if _loaded:
        return
    if _failure is not None:
        raise NativeKernelsUnavailable(_failure)
    # cpp_extension logs a warning about CUDA on CPU-only machines at import; irrelevant to a CPU build.
    cpp_logger = logging.getLogger("torch.utils.cpp_extension")
    level = cpp_logger.level
    cpp_logger.setLevel(logging.ERROR)
    try:
        from torch.utils import cpp_extension

        build_dir = BUILD_ROOT / _cpu_key()
        build_dir.mkdir(parents=True, exist_ok=True)
        cpp_extension.load(name="pixelrnn_native", sources=[str(SOURCE)], extra_cflags=CFLAGS,
                           extra_ldflags=["-fopenmp"], build_directory=str(build_dir), is_python_module=False,
                           verbose=False)
    except Exception as error:  # compiler, ninja or loader: all mean the same to the caller
        _failure = (f"building the native kernels ({SOURCE.name}, torch {torch.__version__}) failed: "
                    f"{type(error).__name__}: {str(error).strip()[-2000:]}\nThey need a C++17 compiler with "
                    f"OpenMP and ninja (requirements.txt); set model.kernels to 'torch' to use the PyTorch path.")
        raise NativeKernelsUnavailable(_failure) from error
    finally:
        cpp_logger.setLevel(level)
    _loaded = True
