"""The SCAMP-5 emulator runner (``host/pixelrnn_emu.cpp``) driven from Python, for tests and benchmarks.

* ``build_emulator`` / ``run_emulator``: build ``build/scamp5/pixelrnn_emu`` (incrementally) and run it.
* ``export_weights``: the weights JSON the runner loads, written by the one exporter
  (``extract_weights.py --json``, i.e. ``model_utils.sensor_export.sensor_weights``).
* ``write_clip`` / ``released_cam_clips``: clip folders in the runner's layout
  ``<root>/<class>/<sequence>/<t>.bmp`` (64x64 gray BMP through ``data_utils.scamp_io``).
* ``model_trace``: the PyTorch model's own per-frame maps for the same binary frames.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from training_utils.paths import REFERENCE_DIR, REPO_ROOT  # noqa: F401  (REFERENCE_DIR for the callers)

BUILD_DIR = REPO_ROOT / "build" / "scamp5"
RUNNER = BUILD_DIR / "pixelrnn_emu"
CAM_CONFIG = Path("configs") / "Cambridge" / "1cnnPixelRNN" / "test_cam.json"  # relative to the reference folder


# ---- build and run -------------------------------------------------------------------------------------
def build_emulator() -> Path:
    """Configure and build the runner (incremental); returns its path. The test build carries no device
    program, so no weights header is configured (``-DPIXELRNN_WEIGHTS_HEADER=`` clears a stale one)."""
    if shutil.which("cmake") is None:
        raise FileNotFoundError("cmake is not installed; it is needed to build build/scamp5/pixelrnn_emu")
    subprocess.run(["cmake", "-S", str(REPO_ROOT / "scamp5"), "-B", str(BUILD_DIR), "-DCMAKE_BUILD_TYPE=Release",
                    "-DPIXELRNN_WEIGHTS_HEADER=", "-DPIXELRNN_CLIPS_HEADER="], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(BUILD_DIR), "-j", "2", "--target", "pixelrnn_emu"], check=True,
                   stdout=subprocess.DEVNULL)
    return RUNNER


def run_emulator(weights: Path, clips: Path, out: Path, *, noise: str = "off", seed: int = 0,
                 dump: Path | None = None, extra: list[str] | None = None) -> dict:
    """Run the runner; returns its ``emulator_stats.json``. A failed run raises with the runner's stderr."""
    cmd = [str(RUNNER), "--weights", str(weights), "--clips", str(clips), "--out", str(out), "--noise", noise,
           "--seed", str(seed)]
    if dump is not None:
        cmd += ["--dump-intermediates", str(dump)]
    cmd += extra or []
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pixelrnn_emu failed ({result.returncode}): {result.stderr}")
    return json.loads((out / "emulator_stats.json").read_text())


# ---- weights -------------------------------------------------------------------------------------------
def export_weights(config: Path, checkpoint: Path, path: Path, input_white: int = 10) -> dict:
    """``extract_weights.py -c CONFIG --weights CHECKPOINT --json PATH``; returns the written document."""
    import extract_weights

    code = extract_weights.main(["-c", str(config), "--weights", str(checkpoint), "--json", str(path),
                                 "-iw", str(input_white)])
    if code != 0:
        raise RuntimeError(f"extract_weights.py failed ({code}) for {checkpoint}")
    return json.loads(Path(path).read_text())


# ---- clips ---------------------------------------------------------------------------------------------
def write_clip(root: Path, class_name: str, sequence: str, frames: np.ndarray) -> Path:
    """Frames (T, 64, 64) uint8 as ``root/class/sequence/<t>.bmp`` (the runner sorts names naturally)."""
    from data_utils.scamp_io import write_sensor_image

    folder = Path(root) / class_name / sequence
    for t, frame in enumerate(frames):
        write_sensor_image(folder / f"{t}.bmp", np.ascontiguousarray(frame, dtype=np.uint8))
    return folder


def released_cam_clips(reference: Path) -> dict[tuple[str, str], np.ndarray]:
    """The 3 released Cambridge clips (``intermediates/cam10``) as 0/255 binary frames, keyed by
    (class folder 1..9, sequence)."""
    from data_utils.scamp_io import read_sensor_image

    clips = {}
    for sequence in sorted((Path(reference) / "intermediates" / "cam10").glob("*/*")):
        frames = [read_sensor_image(sequence / str(t) / "0_binarized_x.BMP", (64, 64)) for t in range(16)]
        clips[(sequence.parent.name, sequence.name)] = np.stack(frames)
    return clips


# ---- the PyTorch side ------------------------------------------------------------------------------------
def model_trace(model, frames: np.ndarray) -> dict:
    """The model's trace (``model.tracing()``) for binary frames (T, 64, 64) uint8 (pixel > 127 -> +1,
    the sensor program's binarisation), plus ``logits`` (1, classes)."""
    clip = torch.from_numpy(np.where(frames > 127, 1.0, -1.0).astype(np.float32))[None, :, None]
    with torch.no_grad(), model.tracing() as trace:
        logits = model(clip)
    return {**trace, "logits": logits}
