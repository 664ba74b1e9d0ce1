"""The SCAMP-5 emulator running the PixelRNN sensor program equals the PyTorch model (noise off).

For each checkpoint and >= 5 clips (3 released Cambridge clips + random + synthetic ones), the
emulator's 15_output.BMP equals the model's o_T in the sensor's 8-bit encoding
clip(o * iw + 127, 0, 255) at rows/columns 128..191 (127 elsewhere) on every pixel, and every
per-frame map (encoded mosaic, gate, hidden state, o_t) is identical.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import scamp5_reference as sr

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC_CHECKPOINT = ROOT / "pretrained" / "synthetic_pixelrnn" / "best.pt"


@pytest.fixture(scope="module")
def emulator():
    try:
        return sr.build_emulator()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def released_clips(reference: Path) -> dict[tuple[str, str], np.ndarray]:
    clips = {}
    for seq_dir in sorted((reference / "intermediates" / "cam10").glob("*/*")):
        frames = [sr.read_bmp_gray(seq_dir / str(t) / "0_binarized_x.BMP") for t in range(16)]
        clips[(seq_dir.parent.name, seq_dir.name)] = np.stack(frames)
    return clips


def generated_clips(n_random: int = 2) -> dict[tuple[str, str], np.ndarray]:
    rng = np.random.default_rng(7)
    clips = {}
    for k in range(n_random):  # random binary frames of different densities
        density = 0.3 + 0.4 * k / max(1, n_random - 1)
        clips[("random", f"r{k}")] = ((rng.random((16, 64, 64)) < density) * 255).astype(np.uint8)
    bar = np.zeros((16, 64, 64), dtype=np.uint8)  # a bar sweeping right, the kind of motion gestures make
    for t in range(16):
        bar[t, 10:50, 3 * t:3 * t + 9] = 255
    clips[("synthetic", "bar")] = bar
    return clips


def model_for(config: Path, checkpoint: Path, num_classes: int):
    from model_utils import build_model
    from training_utils.checkpoints import load_weights
    from training_utils.config import load_config

    model = build_model(load_config(config), num_classes=num_classes)
    load_weights(model, checkpoint)
    return model.eval()  # evaluation: sensor noise off


def model_trace(model, frames: np.ndarray) -> dict[str, np.ndarray]:
    clips = torch.from_numpy(np.where(frames > 127, 1.0, -1.0).astype(np.float32))[None, :, None]
    with torch.no_grad(), model.tracing() as trace:
        model(clips)
    return {k: torch.stack(trace[k])[:, 0, 0].round().to(torch.int64).numpy()
            for k in ("encoded", "gate", "hidden", "output")}


def assert_emulator_equals_model(emulator, tmp_path: Path, model, weights: dict, clips: dict) -> None:
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps(weights))
    for (cls, seq), frames in clips.items():
        sr.write_clip(tmp_path / "clips", cls, seq, frames)
    stats = sr.run_emulator(weights_file, tmp_path / "clips", tmp_path / "out", dump=tmp_path / "dump")
    assert stats["frames"] == 16 * len(clips)
    assert 0 < stats["static_kernel_words"] <= 1024
    iw = weights["input_rnn_white"]
    for (cls, seq), frames in clips.items():
        trace = model_trace(model, frames)
        for t in range(16):
            d = tmp_path / "dump" / cls / seq / str(t)
            for name, stage in (("encoded", "encoded"), ("gate", "gate"), ("hidden", "hidden")):
                emulated = np.where(sr.read_pgm(d / f"{name}.pgm") > 127, 1, -1)
                differing = int((emulated != trace[stage][t]).sum())
                assert differing == 0, f"{cls}/{seq} frame {t}: {name} differs on {differing} pixels"
            o_t = sr.read_pgm(d / "o_t.pgm").astype(np.int64) - 128
            assert np.array_equal(o_t, trace["output"][t]), f"{cls}/{seq} frame {t}: o_t differs"
        written = sr.read_bmp_gray(tmp_path / "out" / cls / seq / "15_output.BMP")
        expected = sr.sensor_output_image(trace["output"][-1], iw)
        assert int((written != expected).sum()) == 0, f"{cls}/{seq}: 15_output.BMP differs from o_T"
        assert np.ptp(trace["output"][-1]) > 0  # the comparison is not between constant maps


def test_cam_noise_checkpoint_matches_exactly(emulator, reference, tmp_path):
    checkpoint = reference / "checkpoints" / "cam_noise.pt"
    model = model_for(ROOT / "configs" / "Cambridge" / "1cnnPixelRNN" / "test_cam.json", checkpoint, 9)
    weights = sr.sensor_weights_from_checkpoint(checkpoint)
    assert weights["cnn"]["threshold_step"] == 1 and weights["rnn"]["gate_threshold_step"] == 1
    clips = {**released_clips(reference), **generated_clips()}
    assert len(clips) >= 5
    assert_emulator_equals_model(emulator, tmp_path, model, weights, clips)


def test_synthetic_checkpoint_matches_exactly(emulator, tmp_path):
    if not SYNTHETIC_CHECKPOINT.is_file():
        pytest.skip(f"{SYNTHETIC_CHECKPOINT} has not been trained yet")
    configs = sorted(SYNTHETIC_CHECKPOINT.parent.glob("*.json"))
    config = next((c for c in configs if "config" in c.name), None)
    if config is None:
        pytest.skip(f"no config beside {SYNTHETIC_CHECKPOINT}")
    checkpoint = torch.load(SYNTHETIC_CHECKPOINT, map_location="cpu", weights_only=False)
    state = checkpoint.get("model", checkpoint)
    model = model_for(config, SYNTHETIC_CHECKPOINT, int(state["fc.weight"].shape[0]))
    weights = sr.sensor_weights_from_checkpoint(SYNTHETIC_CHECKPOINT)
    clips = generated_clips(n_random=4)
    assert len(clips) >= 5
    assert_emulator_equals_model(emulator, tmp_path, model, weights, clips)


def best_shift(a: np.ndarray, b: np.ndarray, radius: int = 3) -> tuple[int, int]:
    """The (dy, dx) maximising agreement of a shifted by (dy, dx) with b (over the overlap)."""
    scores = {}
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            sa = a[max(0, -dy):64 - max(0, dy), max(0, -dx):64 - max(0, dx)]
            sb = b[max(0, dy):64 - max(0, -dy), max(0, dx):64 - max(0, -dx)]
            scores[(dy, dx)] = float((sa == sb).mean())
    return max(scores, key=scores.get), scores


def test_alignment_is_measured_with_an_asymmetric_single_pixel_input(emulator, tmp_path):
    """A single +1 pixel at (17, 42): with all -1 CNN kernels and step 24 exactly the 4x4 block whose
    every window contains the pixel fails the threshold, so each channel marks the pixel's block; an
    asymmetric Woi carries it into o_T at pixel resolution. The emulator's maps must align with the
    model's at shift (0, 0), and only there."""
    rng = np.random.default_rng(3)
    weights = sr.random_sensor_weights(rng, cnn_step=24, gate_step=0)
    weights["input_white"] = 5  # 24 * 5 = 120 fits the sensor's threshold range
    weights["cnn"]["kernels"] = (-np.ones((16, 5, 5), dtype=int)).tolist()
    weights["cnn"]["threshold_sensor"] = 120
    frames = np.zeros((16, 64, 64), dtype=np.uint8)
    frames[:, 17, 42] = 255
    ref = sr.reference_trace(frames, weights)
    weights_file = tmp_path / "weights.json"
    weights_file.write_text(json.dumps(weights))
    sr.write_clip(tmp_path / "clips", "point", "p", frames)
    sr.run_emulator(weights_file, tmp_path / "clips", tmp_path / "out", dump=tmp_path / "dump")
    encoded = np.where(sr.read_pgm(tmp_path / "dump" / "point" / "p" / "0" / "encoded.pgm") > 127, 1, -1)
    o_last = sr.read_pgm(tmp_path / "dump" / "point" / "p" / "15" / "o_t.pgm").astype(np.int64) - 128
    assert (ref["encoded"][0] == -1).sum() == 16  # one -1 pooled cell per channel
    for emulated, expected in ((encoded, ref["encoded"][0]), (o_last, ref["output"][15])):
        shift, scores = best_shift(emulated, expected)
        assert shift == (0, 0), f"emulator map is shifted by {shift} against the model"
        assert scores[(0, 0)] == 1.0
        assert max(v for k, v in scores.items() if k != (0, 0)) < 1.0  # the map is not shift invariant


def test_runner_reports_bad_inputs_by_name(emulator, tmp_path):
    import subprocess

    weights = sr.random_sensor_weights(np.random.default_rng(0))
    good = tmp_path / "w.json"
    good.write_text(json.dumps(weights))
    sr.write_clip(tmp_path / "clips", "a", "s", np.zeros((2, 64, 64), dtype=np.uint8))

    def run(*args):
        r = subprocess.run([str(emulator), *map(str, args)], capture_output=True, text=True)
        return r.returncode, r.stderr

    code, err = run("--weights", tmp_path / "missing.json", "--clips", tmp_path / "clips", "--out", tmp_path / "o")
    assert code != 0 and "missing.json" in err
    bad = dict(weights, cnn=dict(weights["cnn"], threshold_step=13))  # 13 * 10 = 130 > 127
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    code, err = run("--weights", tmp_path / "bad.json", "--clips", tmp_path / "clips", "--out", tmp_path / "o")
    assert code != 0 and "cnn.threshold_step" in err and "-128..127" in err
    sr.write_pgm(tmp_path / "clips" / "a" / "s" / "2.pgm", np.zeros((32, 64), dtype=np.uint8))
    code, err = run("--weights", good, "--clips", tmp_path / "clips", "--out", tmp_path / "o")
    assert code != 0 and "2.pgm" in err and "64x64" in err
    code, err = run("--weights", good, "--clips", tmp_path / "clips", "--out", tmp_path / "o", "--noise", "loud")
    assert code == 2 and "off or hardware" in err
    # A finished run with --iw-rnn 5 writes the o_T encoding with that white.
    (tmp_path / "clips" / "a" / "s" / "2.pgm").unlink()
    frames = np.stack([sr.read_pgm(tmp_path / "clips" / "a" / "s" / f"{t}.pgm") for t in range(2)])
    code, err = run("--weights", good, "--clips", tmp_path / "clips", "--out", tmp_path / "o", "--iw-rnn", "5")
    assert code == 0, err
    ref = sr.reference_trace(frames, weights)
    written = sr.read_bmp_gray(tmp_path / "o" / "a" / "s" / "1_output.BMP")
    assert np.array_equal(written, sr.sensor_output_image(ref["output"][-1], 5))
