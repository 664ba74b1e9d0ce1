"""The native library is never mapped blind (issue 18, bad items 1 and 2): a truncated or empty
``pixelrnn_native.so`` is rebuilt by itself and the run succeeds; where it cannot be rebuilt (no compiler,
a read-only build folder) the run ends in ``error: ...`` with the cause, its own advice and the file to
delete, exit status 2, and no run folder. Every case runs train.py in a subprocess on a copy of the build
folder (``$PIXELRNN_NATIVE_BUILD``): mapping a truncated library kills the process with SIGBUS."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clip_data_fixtures import make_clip_folder
from helpers import mounted_tmpfs
from model_utils.kernels.native_build import BUILD_ENV, LIBRARY, RECORD, build_folder, load_native_kernels
from training_utils.paths import REPO_ROOT


@pytest.fixture(scope="module")
def built():
    load_native_kernels()  # the repository's build (a no-op when up to date); its record is written
    return build_folder()


@pytest.fixture
def setup(tmp_path, built):
    """A copy of the built folder, a tiny clip dataset and a config for it."""
    folder = tmp_path / "native"
    shutil.copytree(built, folder, symlinks=True, ignore=shutil.ignore_patterns(".lock", "lock"))
    clips = make_clip_folder(tmp_path / "clips", clips=4, frames=2)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"data": {"dataset": "clip_folder", "frame_size": 16, "timesteps": 2,
                                           "cache": False,
                                           "split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25}},
                                  "train": {"epochs": 1, "batch_size": 2}}))
    return folder, clips, config


def train(tmp_path, setup, kernels, run="run", **env):
    folder, clips, config = setup
    environment = {**os.environ, BUILD_ENV: str(folder), **env}
    return subprocess.run([sys.executable, "train.py", "-c", str(config), "--data-root", str(clips), "--set",
                           f"model.compute={kernels}", "--out", str(tmp_path / run)],
                          cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=600)


def truncate(library: Path, size: int) -> int:
    built_size = library.stat().st_size
    data = library.read_bytes()[:size]
    library.write_bytes(data)  # as `head -c 5000` of it written back: a newer file that ninja calls up to date
    return built_size


def test_truncated_library_would_crash_the_process_if_mapped(setup):
    library = setup[0] / LIBRARY
    truncate(library, 5000)
    raw = subprocess.run([sys.executable, "-c", f"import torch; torch.ops.load_library({str(library)!r})"],
                         capture_output=True, text=True, timeout=120)
    assert raw.returncode != 0  # SIGBUS (-7) where the loader maps past the end of the file
    assert raw.returncode in (-signal.SIGBUS, -signal.SIGSEGV, 1), raw


@pytest.mark.parametrize("size,kernels,state", [(5000, "native", "truncated"), (5000, "auto", "truncated"),
                                                (0, "auto", "empty"), (0, "native", "empty")])
def test_a_damaged_library_is_rebuilt_by_itself_and_the_run_succeeds(tmp_path, setup, size, kernels, state):
    folder = setup[0]
    library = folder / LIBRARY
    built_size = truncate(library, size)
    done = train(tmp_path, setup, kernels)
    assert done.returncode == 0, done.stderr
    assert f"native kernels: {library} is {size} bytes, but {built_size} bytes were built ({state}); rebuilding it" \
        in done.stderr
    assert "using the PyTorch path" not in done.stderr  # auto did not fall back: it rebuilt
    record = json.loads((folder / RECORD).read_text())
    assert library.stat().st_size == record["size"] > 5000
    assert (tmp_path / "run" / "metrics.json").is_file() and not (tmp_path / "run" / ".lock").exists()
    again = train(tmp_path, setup, kernels, run="run2")  # the rebuilt library loads as it is
    assert again.returncode == 0 and "rebuilding" not in again.stderr, again.stderr


def test_a_damaged_library_that_cannot_be_rebuilt_is_refused_naming_the_file(tmp_path, setup):
    library = setup[0] / LIBRARY
    built_size = truncate(library, 5000)
    done = train(tmp_path, setup, "native", CXX=str(tmp_path / "no-compiler" / "c++"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {library} is 5000 bytes, but {built_size} bytes were built (truncated), "
                                  "so it is not loaded; it cannot be rebuilt: no C++ compiler: ")
    assert f"or delete {library} yourself." in done.stderr and "Traceback" not in done.stderr
    assert "set model.compute to 'torch'" in done.stderr
    assert not (tmp_path / "run").exists() and library.stat().st_size == 5000


def test_no_compiler_and_no_library_with_native_kernels_is_one_error_line(tmp_path, setup):
    shutil.rmtree(setup[0])
    done = train(tmp_path, setup, "native", CXX="no-such-compiler")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: the native kernels cannot be built: no C++ compiler: 'no-such-compiler' "
                                  "($CXX) is not on PATH.")
    assert not (tmp_path / "run").exists()
    # auto: a warning naming the same cause, then the PyTorch path
    done = train(tmp_path, setup, "auto", CXX="no-such-compiler")
    assert done.returncode == 0, done.stderr
    assert "using the PyTorch path. the native kernels cannot be built: no C++ compiler" in done.stderr


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into: a read-only tmpfs as root, else a folder without write permission."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    with mounted_tmpfs(folder, "ro,size=64k"):  # as root, only a read-only mount refuses writes
        yield folder


def test_read_only_build_folder_gets_its_own_advice(tmp_path, setup, read_only):
    folder = read_only / "native"
    done = train(tmp_path, (folder, *setup[1:]), "native")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: the native kernels cannot be built: the build folder {folder} is not "
                                  "writable (")
    assert f"set ${BUILD_ENV} to a writable folder" in done.stderr and "compiler" not in done.stderr
    assert not (tmp_path / "run").exists()
