"""The SCAMP-5 emulator running the PixelRNN sensor program equals the PyTorch model (noise off), and
its files go through the sensor toolchain.

Weights reach the runner only through the one exporter (``extract_weights.py --json`` /
``sensor_weights``). For each checkpoint and >= 5 clips, every stage the program shows
(``--dump-intermediates``: 0_binarized_x, 3_thresholded_quantized, 6_ft_ot, 7_forget_gate_x, in the
release's layout) equals, pixel for pixel, what ``data_utils.scamp_io.stage_images`` makes of the
model's own trace, and ``15_output.BMP`` equals o_T in the sensor encoding clip(o * iw + 127, 0, 255)
at rows/columns 128..191 (127 elsewhere). The emulator's output folder is then evaluated by
``test_scamp_outputs.py`` and must give the model's own predictions.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from scamp5 import emulator as se
import test_scamp_outputs
from data_utils import scamp_io
from data_utils.sensor_outputs import read_sensor_outputs
from model_utils import build_model, set_noise
from model_utils.sensor_export import sensor_weights
from training_utils.atomic_files import write_json
from training_utils.config import load_config, resolve
from training_utils.model_loading import load_model
from training_utils.paths import REPO_ROOT

SYNTHETIC_RUN = REPO_ROOT / "pretrained" / "synthetic_pixelrnn"  # best.pt + config.json, trained by train.py
DUMPED_STAGES = ("0_binarized_x", "3_thresholded_quantized", "6_ft_ot", "7_forget_gate_x")
STATE = slice(128, 192)  # display rows/columns of o_T in 15_output.BMP


def generated_clips(n_random: int = 2) -> dict[tuple[str, str], np.ndarray]:
    """Random binary clips of different densities and a bar sweeping right (the motion gestures make),
    under numbered class folders (1..9, the release's) so the toolchain can label them."""
    rng = np.random.default_rng(7)
    clips = {}
    for k in range(n_random):
        density = 0.3 + 0.4 * k / max(1, n_random - 1)
        clips[(str(2 + k), f"random{k}")] = ((rng.random((16, 64, 64)) < density) * 255).astype(np.uint8)
    bar = np.zeros((16, 64, 64), dtype=np.uint8)
    for t in range(16):
        bar[t, 10:50, 3 * t:3 * t + 9] = 255
    clips[("7", "bar")] = bar
    return clips


def sensor_output_image(o_T: torch.Tensor, input_rnn_white: int) -> np.ndarray:
    """15_output.BMP of the noise-free sensor: o_T encoded in the state quadrant, a zero plane (127) elsewhere."""
    image = np.full((256, 256), scamp_io.CENTER, dtype=np.uint8)
    image[STATE, STATE] = scamp_io.encode_analog(o_T, input_rnn_white)
    return image


def run_and_compare(work: Path, model, weights: dict, clips: dict) -> dict:
    """Run the emulator on ``clips`` with ``weights`` and assert every dumped stage and every
    15_output.BMP equal the model's. Returns the model's traces by clip."""
    write_json(work / "weights.json", weights)
    for (cls, seq), frames in clips.items():
        se.write_clip(work / "clips", cls, seq, frames)
    stats = se.run_emulator(work / "weights.json", work / "clips", work / "out", dump=work / "dump")
    assert stats["frames"] == sum(frames.shape[0] for frames in clips.values())
    assert stats["host_frames_served"] == stats["frames"]  # every frame went through the host-fed (4-bit) input
    assert 0 < stats["static_kernel_words"] <= 1024
    iw, iw_rnn = weights["input_white"], weights["input_rnn_white"]
    traces = {}
    for (cls, seq), frames in clips.items():
        trace = traces[(cls, seq)] = se.model_trace(model, frames)
        for t in range(frames.shape[0]):
            expected = scamp_io.stage_images(trace, 0, t, iw, iw_rnn)
            for stage in DUMPED_STAGES:
                emulated = scamp_io.read_sensor_image(work / "dump" / cls / seq / str(t) / f"{stage}.BMP",
                                                      scamp_io.STAGE_SHAPES[stage])
                differing = int((emulated != expected[stage]).sum())
                assert differing == 0, f"{cls}/{seq} frame {t}: {stage} differs on {differing} pixels"
        o_T = trace["output"][-1][0, 0]
        output_file = f"{frames.shape[0] - 1}_output.BMP"  # 15_output.BMP for 16 frames
        written = scamp_io.read_sensor_image(work / "out" / cls / seq / output_file, (256, 256))
        differing = int((written != sensor_output_image(o_T, iw_rnn)).sum())
        assert differing == 0, f"{cls}/{seq}: {output_file} differs from o_T on {differing} pixels"
        assert float(o_T.max() - o_T.min()) > 0  # the comparison is not between constant maps
    return traces


# ----------------------------------------------------------------------------------------------
# The release's noise-trained checkpoint
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cam_run(scamp5_emulator, reference, tmp_path_factory):
    """cam_noise.pt exported by extract_weights.py, run on the 3 released clips + 3 generated ones."""
    config, checkpoint = reference / se.CAM_CONFIG, reference / "checkpoints" / "cam_noise.pt"
    work = tmp_path_factory.mktemp("cam_noise")
    weights = se.export_weights(config, checkpoint, work / "exported.json")
    model, _, _ = load_model(load_config(config), str(checkpoint))
    set_noise(model, evaluation=False)
    clips = {**se.released_cam_clips(reference), **generated_clips()}
    traces = run_and_compare(work, model, weights, clips)
    return SimpleNamespace(work=work, config=config, checkpoint=checkpoint, weights=weights, model=model,
                           clips=clips, traces=traces)


def test_cam_noise_checkpoint_matches_exactly(cam_run):
    # The exporter's decision levels: pooled p >= 1 (thresh1 0.998), even gate sum f >= 2 (0.994).
    assert (cam_run.weights["cnn"]["threshold_step"], cam_run.weights["cnn"]["threshold_sensor"]) == (1, 10)
    assert (cam_run.weights["rnn"]["gate_threshold_step"], cam_run.weights["rnn"]["gate_threshold_sensor"]) == (2, 20)
    assert len(cam_run.clips) >= 5  # run_and_compare asserted every map of every clip in the fixture


def test_emulator_outputs_go_through_test_scamp_outputs(cam_run, tmp_path):
    """pixelrnn_emu --out is a sensor output folder: scamp_io reads its BMPs, and test_scamp_outputs.py
    gives the model's noise-free predictions for exactly the sequences of the split file."""
    names = [f"{cls}/{seq}" for cls, seq in cam_run.clips]
    (tmp_path / "split.json").write_text(json.dumps({"test": names}))
    argv = ["-c", str(cam_run.config), "-sd", str(cam_run.work / "out"), "-iw", "10",
            "--weights", str(cam_run.checkpoint), "--split-file", str(tmp_path / "split.json"),
            "--class-offset", "1", "--out", str(tmp_path / "metrics"), "--device", "cpu"]
    assert test_scamp_outputs.main(argv) == 0
    metrics = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert sorted(metrics) == ["test"]

    expected = {f"{cls}/{seq}": (int(cls) - 1, int(cam_run.traces[(cls, seq)]["logits"].argmax(1)))
                for cls, seq in cam_run.clips}
    got = {p["sequence"]: (p["label"], p["predicted"]) for p in metrics["test"]["predictions"]}
    assert got == expected
    assert metrics["test"]["correct"] == sum(label == predicted for label, predicted in expected.values())
    assert len({predicted for _, predicted in expected.values()}) >= 3  # not one class for every clip

    # The decoder input the toolchain read is the model's o_T as the sensor encodes it.
    readouts = read_sensor_outputs(cam_run.work / "out", 10, class_offset=1)
    for index, name in enumerate(readouts.names):
        o_T = cam_run.traces[tuple(name.split("/"))]["output"][-1][0, 0]
        assert np.array_equal(readouts.values[index, 0],
                              scamp_io.decode_readout(scamp_io.encode_analog(o_T, 10), 10).astype(np.float32))


# ----------------------------------------------------------------------------------------------
# This project's synthetic checkpoint (skips until train.py has produced it)
# ----------------------------------------------------------------------------------------------
def synthetic_clips(cfg: dict, model, data_root: Path, count: int = 6) -> dict[tuple[str, str], np.ndarray]:
    """``count`` generated clips of the config's synthetic dataset, one per class, through the data
    pipeline, binarised by the model's own encoder (the sensor program binarises pixel > 127 of a
    0/255 frame)."""
    from data_utils import build_datasets

    small = json.loads(json.dumps(cfg))
    small["data"].update(cache=False, synthetic={**small["data"].get("synthetic", {}), "clips_per_class": 1})
    dataset = build_datasets(small, data_root=data_root, parts=("all",))["all"]
    clips = {}
    for index in range(min(count, len(dataset))):
        clip, _, name = dataset[index]
        with torch.no_grad():
            binary = model.encoder.binarize_input(clip[:, 0])
        assert set(torch.unique(binary).tolist()) <= {-1.0, 1.0}, f"{name}: a pixel sits exactly on the level"
        cls, seq = name.split("/", 1)
        clips[(cls, seq)] = np.where(binary.numpy() > 0, 255, 0).astype(np.uint8)
    return clips


def test_synthetic_checkpoint_matches_exactly(scamp5_emulator, tmp_path):
    checkpoint, config = SYNTHETIC_RUN / "best.pt", SYNTHETIC_RUN / "config.json"
    if not checkpoint.is_file() or not config.is_file():
        pytest.skip(f"{checkpoint} (with config.json beside it) has not been trained yet")
    cfg = load_config(config)
    model, _, _ = load_model(cfg, str(checkpoint))
    set_noise(model, evaluation=False)
    clips = synthetic_clips(cfg, model, tmp_path / "data")
    assert len(clips) >= 5
    weights = se.export_weights(config, checkpoint, tmp_path / "exported.json")
    run_and_compare(tmp_path, model, weights, clips)


# ----------------------------------------------------------------------------------------------
# Geometry and the runner's contract
# ----------------------------------------------------------------------------------------------
def random_model(seed: int, num_classes: int = 3):
    """A plain-cell model of the default config with seeded random binary kernels, noise off."""
    torch.manual_seed(seed)
    model = build_model(resolve({"model": {"num_classes": num_classes}}))
    set_noise(model, evaluation=False)
    return model.eval()


def best_shift(a: np.ndarray, b: np.ndarray, radius: int = 3) -> tuple[tuple[int, int], dict]:
    """The (dy, dx) maximising agreement of a shifted by (dy, dx) with b (over the overlap)."""
    scores = {}
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            sa = a[max(0, -dy):64 - max(0, dy), max(0, -dx):64 - max(0, dx)]
            sb = b[max(0, dy):64 - max(0, -dy), max(0, dx):64 - max(0, -dx)]
            scores[(dy, dx)] = float((sa == sb).mean())
    return max(scores, key=scores.get), scores


def test_alignment_is_measured_with_an_asymmetric_single_pixel_input(scamp5_emulator, tmp_path):
    """A single +1 pixel at (17, 42): with all -1 CNN kernels and step 24 exactly the 4x4 block whose
    every window contains the pixel fails the threshold, so each channel marks the pixel's block; a
    random (asymmetric) Woi carries it into o_T at pixel resolution. The emulator's maps must align
    with the model's at shift (0, 0), and only there."""
    model = random_model(3)
    with torch.no_grad():
        model.encoder.conv1.weight.fill_(-1.0)
        model.encoder.thresh1.fill_(23.5)  # step 24; x input white 5 = 120 fits the sensor's range
    weights = sensor_weights(model, input_white=5)
    assert (weights["cnn"]["threshold_step"], weights["cnn"]["threshold_sensor"]) == (24, 120)
    frames = np.zeros((16, 64, 64), dtype=np.uint8)
    frames[:, 17, 42] = 255
    traces = run_and_compare(tmp_path, model, weights, {("point", "p"): frames})
    trace = traces[("point", "p")]
    assert int((trace["encoded"][0] == -1).sum()) == 16  # one -1 pooled cell per channel
    dump = tmp_path / "dump" / "point" / "p"
    pairs = []
    for frame, stage, rows in ((0, "3_thresholded_quantized", slice(0, 64)), (15, "6_ft_ot", slice(64, 128))):
        emulated = scamp_io.read_sensor_image(dump / str(frame) / f"{stage}.BMP")[rows]
        pairs.append((emulated, scamp_io.stage_images(trace, 0, frame, 5)[stage][rows]))  # o_T: bottom of 6_ft_ot
    for emulated, expected in pairs:
        shift, scores = best_shift(emulated, expected)
        assert shift == (0, 0), f"emulator map is shifted by {shift} against the model"
        assert scores[(0, 0)] == 1.0
        assert max(v for k, v in scores.items() if k != (0, 0)) < 1.0  # the map is not shift invariant


def test_runner_reports_bad_inputs_by_name(scamp5_emulator, tmp_path):
    import subprocess

    model = random_model(0)
    weights = sensor_weights(model)
    write_json(tmp_path / "w.json", weights)
    frames = ((np.random.default_rng(1).random((2, 64, 64)) < 0.5) * 255).astype(np.uint8)
    se.write_clip(tmp_path / "clips", "a", "s", frames)

    def run(weights_file, *extra):
        r = subprocess.run([str(scamp5_emulator), "--weights", str(weights_file), "--clips", str(tmp_path / "clips"),
                            "--out", str(tmp_path / "o"), *extra], capture_output=True, text=True)
        return r.returncode, r.stderr

    code, err = run(tmp_path / "missing.json")
    assert code != 0 and "missing.json" in err
    too_high = dict(weights, cnn=dict(weights["cnn"], threshold_step=13, threshold_sensor=130))  # > 127
    write_json(tmp_path / "bad.json", too_high)
    code, err = run(tmp_path / "bad.json")
    assert code != 0 and "cnn.threshold_step" in err and "-128..127" in err
    inconsistent = dict(weights, rnn=dict(weights["rnn"], gate_threshold_sensor=weights["rnn"]["gate_threshold_sensor"] + 1))
    write_json(tmp_path / "inconsistent.json", inconsistent)
    code, err = run(tmp_path / "inconsistent.json")
    assert code != 0 and "rnn.gate_threshold_sensor" in err and "gate_threshold_step * input_rnn_white" in err
    scamp_io.write_sensor_image(tmp_path / "clips" / "a" / "s" / "2.bmp", np.zeros((32, 64), dtype=np.uint8))
    code, err = run(tmp_path / "w.json")
    assert code != 0 and "2.bmp" in err and "64x64" in err
    assert not (tmp_path / "o").exists()
    code, err = run(tmp_path / "w.json", "--noise", "loud")
    assert code == 2 and "off or hardware" in err
    # A finished run with --iw-rnn 5 writes the o_T encoding with that white.
    (tmp_path / "clips" / "a" / "s" / "2.bmp").unlink()
    code, err = run(tmp_path / "w.json", "--iw-rnn", "5")
    assert code == 0, err
    o_T = se.model_trace(model, frames)["output"][-1][0, 0]
    written = scamp_io.read_sensor_image(tmp_path / "o" / "a" / "s" / "1_output.BMP", (256, 256))
    assert np.array_equal(written, sensor_output_image(o_T, 5))


def test_runner_checks_every_frame_before_writing_and_leaves_no_partial_out(scamp5_emulator, tmp_path):
    """A bad frame anywhere (here the last frame of the last clip, or an unreadable file) is reported by
    name before any output: --out is not created, an existing --out keeps its files, no staging folder
    stays behind. A good run then publishes every clip's output and the stats."""
    import subprocess

    model = random_model(0)
    write_json(tmp_path / "w.json", sensor_weights(model))
    rng = np.random.default_rng(2)
    for cls, seq in (("1", "first"), ("2", "second")):
        se.write_clip(tmp_path / "clips", cls, seq, ((rng.random((3, 64, 64)) < 0.5) * 255).astype(np.uint8))
    last = tmp_path / "clips" / "2" / "second" / "2.bmp"
    good_last = last.read_bytes()

    def run(out):
        r = subprocess.run([str(scamp5_emulator), "--weights", str(tmp_path / "w.json"), "--clips",
                            str(tmp_path / "clips"), "--out", str(out)], capture_output=True, text=True)
        return r.returncode, r.stderr

    def leftovers():
        return sorted(p.name for p in tmp_path.iterdir() if ".incomplete" in p.name)

    scamp_io.write_sensor_image(last, np.zeros((64, 32), dtype=np.uint8))
    code, err = run(tmp_path / "fresh")
    assert code == 2 and "2.bmp" in err and "64x64" in err
    assert not (tmp_path / "fresh").exists() and leftovers() == []
    code, err = run(str(tmp_path / "fresh") + "/")  # a trailing slash stages beside it too
    assert code == 2 and not (tmp_path / "fresh").exists() and leftovers() == []

    last.write_bytes(b"BM not really a bitmap")
    existing = tmp_path / "existing"
    (existing / "keep").mkdir(parents=True)
    (existing / "keep" / "note.txt").write_text("earlier run")
    code, err = run(existing)
    assert code == 2 and "2.bmp" in err
    assert sorted(p.relative_to(existing).as_posix() for p in existing.rglob("*")) == ["keep", "keep/note.txt"]
    assert leftovers() == []

    last.write_bytes(good_last)
    code, err = run(existing)
    assert code == 0, err
    assert (existing / "keep" / "note.txt").read_text() == "earlier run"
    for cls, seq in (("1", "first"), ("2", "second")):
        assert scamp_io.read_sensor_image(existing / cls / seq / "2_output.BMP", (256, 256)).shape == (256, 256)
    assert json.loads((existing / "emulator_stats.json").read_text())["host_frames_served"] == 6
    assert leftovers() == []


def test_runner_writes_the_device_builds_clip_list_and_host_frames(scamp5_emulator, tmp_path):
    """--write-host-frames: the files the lab host serves to the chip, <class>/<sequence>/<t>.bmp, 256x256,
    the frame tiled 16 times at 17 * (pixel >> 4) (both nibbles = the 4-bit level); the emulated host
    serves the same images. --write-clips-header names them with --host-root."""
    import subprocess

    frame = (np.arange(64 * 64) % 256).astype(np.uint8).reshape(64, 64)
    se.write_clip(tmp_path / "clips", "3", "Set2_3_0004", np.stack([frame, 255 - frame]))
    r = subprocess.run([str(scamp5_emulator), "--clips", str(tmp_path / "clips"), "--write-host-frames",
                        str(tmp_path / "host"), "--write-clips-header", str(tmp_path / "clips.hpp"),
                        "--host-root", "D:/pixelrnn/host"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for t, source in enumerate((frame, 255 - frame)):
        served = scamp_io.read_sensor_image(tmp_path / "host" / "3" / "Set2_3_0004" / f"{t}.bmp", (256, 256))
        expected = np.tile(17 * (source >> 4), (4, 4))
        assert np.array_equal(served, expected)
        assert np.array_equal(served >> 4, served & 15)
    assert 'kRoot = "D:/pixelrnn/host"' in (tmp_path / "clips.hpp").read_text()
    assert '{"3/Set2_3_0004", 2},' in (tmp_path / "clips.hpp").read_text()
