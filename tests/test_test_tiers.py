"""The 'reference' tier: tests that need the release's reference files skip without them, except under
CI=true, where a missing folder stops the run with a message (CI must not pass while testing less)."""
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ONE_REFERENCE_TEST = "test_config.py::test_release_configs_load_and_map_vocabulary"


def run_pytest(tmp_path, ci: str):
    env = {**os.environ, "CI": ci, "PIXELRNN_REFERENCE_DIR": str(tmp_path / "absent")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ONE_REFERENCE_TEST],
                          cwd=TESTS, env=env, capture_output=True, text=True, timeout=300)


def test_a_missing_reference_folder_skips_outside_ci(tmp_path):
    result = run_pytest(tmp_path, "")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout


def test_a_missing_reference_folder_fails_under_ci(tmp_path):
    result = run_pytest(tmp_path, "true")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"CI=true but the reference folder {tmp_path / 'absent'} is missing" in result.stdout + result.stderr


def test_tests_reading_the_reference_folder_are_marked(request):
    items = [item for item in request.session.items if "reference" in item.fixturenames]
    assert all(item.get_closest_marker("reference") for item in items)
