"""Helpers for the SCAMP-5 emulator tests and benchmark.

* ``sensor_weights_from_checkpoint``: the ``extract_weights.py --json`` document for a checkpoint
  (kept here until that script lands, then the tests can call it instead).
* ``reference_trace``: a NumPy model of what the PyTorch model computes with noise off
  (docs/PIXELRNN_REFERENCE.md), per frame: encoded mosaic, gate, hidden, o_t.
* ``build_emulator`` / ``run_emulator``: build ``build/scamp5/pixelrnn_emu`` and run it.
* ``write_clip`` / ``read_pgm`` / ``read_bmp_gray``: the runner's file formats.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT / ".." / "shared" / "reference"
BUILD_DIR = REPO_ROOT / "build" / "scamp5"
RUNNER = BUILD_DIR / "pixelrnn_emu"


# ---- weights --------------------------------------------------------------------------------------
def _step_above(threshold: float) -> int:
    """Smallest integer v with v - threshold > 0 (sign(v - t) = +1)."""
    return int(math.floor(threshold)) + 1


def sensor_weights_from_checkpoint(path: Path, input_white: int = 10, input_rnn_white: int = 10) -> dict:
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]

    def kernel(key: str, index: int = 0) -> list:
        w = state[key].detach().float().numpy()
        return np.sign(w[index, 0]).astype(int).tolist()

    conv = state["cnn_model.conv1.weight"].detach().float().numpy()
    thresh1 = float(state["cnn_model.thresh1"].reshape(-1)[0])
    if "rnn_model.rnn_threshold" in state:
        gate_threshold = float(state["rnn_model.rnn_threshold"].reshape(-1)[0])
        gate_step = _step_above(gate_threshold)
    else:  # plain cell: sign(f + 1e-3) -> +1 iff f >= 0
        gate_threshold, gate_step = 0.0, 0
    cnn_step = _step_above(thresh1)
    return {
        "format": "pixelrnn-sensor-weights",
        "version": 1,
        "input_white": input_white,
        "input_rnn_white": input_rnn_white,
        "cnn": {
            "kernels": [np.sign(conv[k, 0]).astype(int).tolist() for k in range(16)],
            "threshold": thresh1,
            "threshold_step": cnn_step,
            "threshold_sensor": cnn_step * input_white,
            "input_threshold": 0.0,
        },
        "rnn": {
            "cell": "pixelrnn",
            "Wfi": kernel("rnn_model.ConvGates_i.weight"),
            "Wfh": kernel("rnn_model.ConvGates_h.weight"),
            "Woi": kernel("rnn_model.Conv_out_i.weight"),
            "Woh": kernel("rnn_model.Conv_out_h.weight"),
            "gate_threshold": gate_threshold,
            "gate_threshold_step": gate_step,
            "gate_threshold_sensor": gate_step * input_rnn_white,
        },
        "decoder": {},
    }


def random_sensor_weights(rng: np.random.Generator, cnn_step: int = 1, gate_step: int = 2) -> dict:
    sign = lambda *shape: np.where(rng.random(shape) < 0.5, -1, 1).astype(int)  # noqa: E731
    return {
        "format": "pixelrnn-sensor-weights",
        "version": 1,
        "input_white": 10,
        "input_rnn_white": 10,
        "cnn": {"kernels": sign(16, 5, 5).tolist(), "threshold": cnn_step - 0.5, "threshold_step": cnn_step,
                "threshold_sensor": cnn_step * 10, "input_threshold": 0.0},
        "rnn": {"cell": "pixelrnn", "Wfi": sign(5, 5).tolist(), "Wfh": sign(5, 5).tolist(),
                "Woi": sign(5, 5).tolist(), "Woh": sign(5, 5).tolist(), "gate_threshold": gate_step - 0.5,
                "gate_threshold_step": gate_step, "gate_threshold_sensor": gate_step * 10},
        "decoder": {},
    }


# ---- NumPy reference of the noise-free model ---------------------------------------------------------
def conv5x5(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """PyTorch conv2d (cross-correlation), padding 2, zero outside; x (H, W), w (5, 5)."""
    h, wd = x.shape
    padded = np.zeros((h + 4, wd + 4), dtype=np.int64)
    padded[2:-2, 2:-2] = x
    out = np.zeros((h, wd), dtype=np.int64)
    for i in range(5):
        for j in range(5):
            out += int(w[i][j]) * padded[i:i + h, j:j + wd]
    return out


def reference_trace(frames: np.ndarray, weights: dict) -> dict:
    """frames: (T, 64, 64) uint8. Returns int arrays (T, 64, 64): encoded, gate, hidden_prev, hidden, output."""
    kernels = np.array(weights["cnn"]["kernels"])
    cnn_step = weights["cnn"]["threshold_step"]
    gate_step = weights["rnn"]["gate_threshold_step"]
    wfi, wfh, woi, woh = (np.array(weights["rnn"][k]) for k in ("Wfi", "Wfh", "Woi", "Woh"))
    h = np.ones((64, 64), dtype=np.int64)
    trace = {k: [] for k in ("encoded", "gate", "hidden_prev", "hidden", "output")}
    for frame in frames:
        xb = np.where(frame > 127, 1, -1)
        mosaic = np.zeros((64, 64), dtype=np.int64)
        for k in range(16):
            c = conv5x5(xb, kernels[k])
            p = np.maximum(c, 0).reshape(16, 4, 16, 4).max(axis=(1, 3))
            b = np.where(p >= cnn_step, 1, -1)
            r0, c0 = (k % 4) * 16, (k // 4) * 16
            mosaic[r0:r0 + 16, c0:c0 + 16] = b
        f = conv5x5(mosaic, wfi) + conv5x5(h, wfh)
        g = np.where(f >= gate_step, 1, -1)
        o = conv5x5(mosaic, woi) + conv5x5(h, woh)
        trace["encoded"].append(mosaic)
        trace["gate"].append(g)
        trace["hidden_prev"].append(h)
        h = g * h
        trace["hidden"].append(h)
        trace["output"].append(o)
    return {k: np.stack(v) for k, v in trace.items()}


def sensor_output_image(o_T: np.ndarray, input_rnn_white: int) -> np.ndarray:
    """The 256x256 15_output.BMP content the noise-free sensor writes: o_T at rows/cols 128..191
    encoded clip(o * iw + 127, 0, 255); 127 (o = 0) elsewhere."""
    img = np.full((256, 256), 127, dtype=np.uint8)
    img[128:192, 128:192] = np.clip(o_T * input_rnn_white + 127, 0, 255).astype(np.uint8)
    return img


# ---- files -------------------------------------------------------------------------------------------
def write_pgm(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.asarray(img, dtype=np.uint8)
    path.write_bytes(f"P5\n{img.shape[1]} {img.shape[0]}\n255\n".encode() + img.tobytes())


def read_pgm(path: Path) -> np.ndarray:
    data = Path(path).read_bytes()
    parts = data.split(maxsplit=4)
    if parts[0] != b"P5":
        raise ValueError(f"{path}: not a binary PGM (P5)")
    width, height, maxval = int(parts[1]), int(parts[2]), int(parts[3])
    if maxval != 255:
        raise ValueError(f"{path}: maxval {maxval}, expected 255")
    pixels = data[len(data) - width * height:]
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width)


def read_bmp_gray(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return img if img.ndim == 2 else img[:, :, 1]


def write_clip(root: Path, class_name: str, sequence: str, frames: np.ndarray) -> Path:
    """Frames (T, 64, 64) uint8 as root/class/sequence/<t>.pgm (names 0..T-1: natural order)."""
    seq = root / class_name / sequence
    for t, frame in enumerate(frames):
        write_pgm(seq / f"{t}.pgm", frame)
    return seq


# ---- build and run -------------------------------------------------------------------------------------
def build_emulator() -> Path:
    """Configure and build the runner (incremental); returns its path."""
    if shutil.which("cmake") is None:
        raise FileNotFoundError("cmake is not installed; it is needed to build build/scamp5/pixelrnn_emu")
    subprocess.run(["cmake", "-S", str(REPO_ROOT / "scamp5"), "-B", str(BUILD_DIR), "-DCMAKE_BUILD_TYPE=Release"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(BUILD_DIR), "-j", "2", "--target", "pixelrnn_emu"], check=True,
                   stdout=subprocess.DEVNULL)
    return RUNNER


def run_emulator(weights: Path, clips: Path, out: Path, *, noise: str = "off", seed: int = 0,
                 dump: Path | None = None, extra: list[str] | None = None) -> dict:
    cmd = [str(RUNNER), "--weights", str(weights), "--clips", str(clips), "--out", str(out), "--noise", noise,
           "--seed", str(seed)]
    if dump is not None:
        cmd += ["--dump-intermediates", str(dump)]
    cmd += extra or []
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
    if result.returncode != 0:
        raise RuntimeError(f"pixelrnn_emu failed ({result.returncode}): {result.stderr}")
    return json.loads((out / "emulator_stats.json").read_text())
