"""pixelrnn_emu --chip-model (issue 20): the release's chip program on the emulator equals the independent
numpy rendering (scamp5/release_reference.py) pixel for pixel with no analogue effects, a chip
model's read-out offset shows in the saved file, and a bad chip model ends in exit status 2 naming the key."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scamp5 import emulator as se
from scamp5 import release_reference as ref
from model_utils import build_model, set_noise
from model_utils.sensor_export import sensor_weights
from training_utils.atomic_files import write_json
from training_utils.config import resolve


HEAD = {"format": "pixelrnn-chip-model", "version": 1}


@pytest.fixture
def inputs(tmp_path):
    """weights.json of a random paper model; two 3-frame gray clips (values across the 4-bit levels)."""
    torch.manual_seed(0)
    model = build_model(resolve({"model": {"num_classes": 3}}))
    set_noise(model, evaluation=False)
    write_json(tmp_path / "w.json", sensor_weights(model.eval()))
    rng = np.random.default_rng(1)
    clips = {}
    for cls, seq in (("0", "first"), ("1", "second")):
        # Smooth blobs so that the binarised frames have structure, not salt and pepper.
        base = rng.random((3, 8, 8)) * 255
        frames = np.kron(base, np.ones((8, 8))).astype(np.uint8)
        se.write_clip(tmp_path / "clips", cls, seq, frames)
        clips[f"{cls}/{seq}"] = frames
    return clips


def run(emulator, tmp_path, model: dict | None, out="out", extra=()):
    cmd = [str(emulator), "--weights", str(tmp_path / "w.json"), "--clips", str(tmp_path / "clips"),
           "--out", str(tmp_path / out), *extra]
    if model is not None:
        (tmp_path / "chip.json").write_text(json.dumps(model))
        cmd += ["--chip-model", str(tmp_path / "chip.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stderr


def test_release_program_equals_the_numpy_rendering(scamp5_emulator, tmp_path, inputs):
    code, err = run(scamp5_emulator, tmp_path, dict(HEAD, program="release"))
    assert code == 0, err
    cnn_cells, rnn_cells = ref.load_weights(tmp_path / "w.json")
    for name, frames in inputs.items():
        emulated = ref.read_bmp_green(tmp_path / "out" / name / "2_output.BMP")
        expected = ref.run_clip(list(frames), cnn_cells, rnn_cells)
        assert int((emulated != expected).sum()) == 0, name
        assert len(np.unique(expected[127:191, 128:192])) > 3  # the read-out carries structure
    stats = json.loads((tmp_path / "out" / "emulator_stats.json").read_text())
    assert stats["program"] == "release"


def test_chip_model_readout_offset_reaches_the_saved_file(scamp5_emulator, tmp_path, inputs):
    assert run(scamp5_emulator, tmp_path, dict(HEAD, program="release"), out="exact")[0] == 0
    assert run(scamp5_emulator, tmp_path, dict(HEAD, program="release", readout={"offset": 2}), out="offset")[0] == 0
    for name in inputs:
        exact = ref.read_bmp_green(tmp_path / "exact" / name / "2_output.BMP").astype(int)
        shifted = ref.read_bmp_green(tmp_path / "offset" / name / "2_output.BMP").astype(int)
        assert np.array_equal(shifted, np.clip(exact + 2, 0, 255))


@pytest.mark.parametrize("model,message", [
    (dict(HEAD, program="paper"), "'program' must be \"project\" (the project's program, exact to PyTorch) or "
                                  "\"release\" (the authors' chip program)"),
    (dict(HEAD, program="release", error={"bus_sigma": -1}), "'error.bus_sigma' must be a number 0..50"),
    (dict(HEAD, program="release", analogue_limit="high"), "'analogue_limit' must be a number 1..128"),
])
def test_a_bad_chip_model_is_refused_naming_the_key(scamp5_emulator, tmp_path, inputs, model, message):
    code, err = run(scamp5_emulator, tmp_path, model)
    assert code == 2
    assert err.startswith(f"pixelrnn_emu: error: chip model {tmp_path / 'chip.json'}: " + message), err
    assert not (tmp_path / "out").exists()


def test_chip_model_does_not_combine_with_hardware_noise(scamp5_emulator, tmp_path, inputs):
    code, err = run(scamp5_emulator, tmp_path, dict(HEAD, program="release"), extra=("--noise", "hardware"))
    assert code == 2 and "--chip-model sets the chip's errors" in err


def test_the_fitter_recovers_the_read_out_offsets_the_emulator_was_given(scamp5_emulator, tmp_path, inputs):
    """Synthetic pairs made by the emulator with a known chip model (offset 3 plus an offset map): the
    fitter's offset stage recovers 3, its offset-map stage recovers 3 + map wherever no clip saturates."""
    from benchmarks import fit_chip_model

    rng = np.random.default_rng(7)
    pairs = tmp_path / "pairs"
    for k in range(6):
        base = rng.random((16, 8, 8)) * 255
        frames = np.kron(base, np.ones((8, 8))).astype(np.uint8)
        folder = pairs / "clips" / str(k % 3) / f"s{k}"
        folder.mkdir(parents=True)
        for t, f in enumerate(frames):
            (folder / f"frame_{t:02d}.pgm").write_bytes(b"P5\n64 64\n255\n" + f.tobytes())
    known = np.zeros((256, 256))
    known[130:160, 140:180] = 5.0
    known[170:190, 130:150] = -4.0
    model = dict(HEAD, program="release", readout={"offset": 3, "offset_map": known.tolist()})
    (tmp_path / "known.json").write_text(json.dumps(model))
    done = subprocess.run([str(scamp5_emulator), "--weights", str(tmp_path / "w.json"), "--clips",
                           str(pairs / "clips"), "--out", str(pairs / "chip"), "--chip-model",
                           str(tmp_path / "known.json")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for stage in ("offset", "offset_map"):
        assert fit_chip_model.main(["--pairs", str(pairs), "--out", str(tmp_path / f"{stage}.json"), "--weights",
                                    str(tmp_path / "w.json"), "--folds", "3", "--stage", stage,
                                    "--report", str(tmp_path / f"report_{stage}")]) == 0
    report = json.loads((tmp_path / "report_offset_map" / "report.json").read_text())
    assert list(report["stages"]) == ["exact", "offset", "offset_map", "gain_map"] and report["pairs"] == 6
    assert sorted(report["stages"]["exact"]["per_clip_r"]) == sorted(
        f"{k % 3}/s{k}" for k in range(6))
    assert (tmp_path / "report_offset_map" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "report_offset_map").iterdir()) == ["report.json", "report.md",
                                                                                  "report.png"]
    assert json.loads((tmp_path / "offset.json").read_text())["readout"]["offset"] == 3.0
    fitted = np.array(json.loads((tmp_path / "offset_map.json").read_text())["readout"]["offset_map"])
    names, frames, _ = fit_chip_model.load_pairs(pairs)
    cnn_cells, rnn_cells = ref.load_weights(tmp_path / "w.json")
    sim = np.stack([ref.run_clip_values(f, cnn_cells, rnn_cells) for f in frames]).astype(float) + 128
    unsaturated = ((sim + 3 + known >= 0.5) & (sim + 3 + known <= 254.5)).all(0)
    assert unsaturated.mean() > 0.9
    assert np.abs(fitted - (3 + known))[unsaturated].max() < 1e-6


def test_class_means_replace_each_clip_by_the_other_clips_of_its_class():
    from benchmarks.fit_chip_model import class_means

    names = ["0/a", "0/b", "0/c", "1/a", "2/a"]
    images = np.array([1.0, 2.0, 4.0, 7.0, 9.0])[:, None, None] * np.ones((5, 2, 2))
    means = class_means(images, names)
    # 0/a -> (2 + 4) / 2, 0/b -> (1 + 4) / 2 rounded half up, 0/c -> 1.5 -> 2; a class of one keeps its clip
    assert means[:, 0, 0].tolist() == [3.0, 3.0, 2.0, 7.0, 9.0]
