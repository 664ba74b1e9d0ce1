import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture
def reference():
    if not REFERENCE.is_dir():
        pytest.skip("../shared/reference is not present")
    return REFERENCE


@pytest.fixture(scope="session")
def scamp5_emulator():
    """build/scamp5/pixelrnn_emu, built once per test session (skips where cmake is missing)."""
    from scamp5_emulator import build_emulator

    try:
        return build_emulator()
    except FileNotFoundError as error:
        pytest.skip(str(error))
