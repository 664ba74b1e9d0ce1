"""Test tiers and session fixtures.

Tests that read the release's reference files (released checkpoints, stored intermediates, sensor
outputs, split files) take the ``reference`` fixture and are marked ``reference``; they skip where the
folder is absent. Under ``CI=true`` an absent folder fails the run instead, so CI never passes while
testing less. The folder is ``../shared/reference`` beside the checkout (``$PIXELRNN_REFERENCE_DIR``
overrides it)."""
import os
from pathlib import Path

import pytest

from helpers import REFERENCE_DIR, mounted_tmpfs


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    marked = []
    for item in items:
        if "reference" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.reference)
        if item.get_closest_marker("reference"):
            marked.append(item)
    if marked and _ci() and not REFERENCE_DIR.is_dir():
        pytest.exit(f"CI=true but the reference folder {REFERENCE_DIR} is missing: {len(marked)} tests marked "
                    "'reference' need it (the release's checkpoints, intermediates and sensor outputs). Put it at "
                    "../shared/reference beside the checkout or set PIXELRNN_REFERENCE_DIR; outside CI they skip.",
                    returncode=3)


@pytest.fixture(scope="session")
def reference() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"the reference folder {REFERENCE_DIR} is not present")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def scamp5_emulator():
    """build/scamp5/pixelrnn_emu, built once per test session (skips where cmake is missing)."""
    from scamp5.emulator import build_emulator

    try:
        return build_emulator()
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs at ``tmp_path/small_disk``: a disk that fills up (skipped where it cannot be mounted)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    with mounted_tmpfs(mount):
        yield mount
