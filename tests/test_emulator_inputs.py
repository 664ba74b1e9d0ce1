"""The SCAMP-5 emulator runner's inputs (issue 18): a clip with a missing frame, a weights file whose
thresholds, types or cell do not fit the sensor program, an --out that is a file and a full disk each end
in ``pixelrnn_emu: error: ...`` naming the cause, exit status 2, before any clip runs where they can be
known then, and with no output and no staging folder left."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from scamp5 import emulator as se
from model_utils import build_model, set_noise
from model_utils.sensor_export import sensor_weights
from training_utils.atomic_files import write_json
from training_utils.config import resolve


@pytest.fixture
def inputs(tmp_path):
    """weights.json of a random paper model and two 3-frame clips."""
    torch.manual_seed(0)
    model = build_model(resolve({"model": {"num_classes": 3}}))
    set_noise(model, evaluation=False)
    weights = sensor_weights(model.eval())
    write_json(tmp_path / "w.json", weights)
    rng = np.random.default_rng(1)
    for cls, seq in (("0", "first"), ("1", "second")):
        se.write_clip(tmp_path / "clips", cls, seq, ((rng.random((3, 64, 64)) < 0.5) * 255).astype(np.uint8))
    return weights


def run(emulator, tmp_path, weights="w.json", out="out"):
    done = subprocess.run([str(emulator), "--weights", str(tmp_path / weights), "--clips", str(tmp_path / "clips"),
                           "--out", str(tmp_path / out)], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stderr


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if ".incomplete" in p.name)


def test_a_clip_with_a_missing_frame_is_refused(scamp5_emulator, tmp_path, inputs):
    (tmp_path / "clips" / "1" / "second" / "1.bmp").unlink()  # a gap: frames 0 and 2
    code, err = run(scamp5_emulator, tmp_path)
    assert code == 2
    assert err.startswith(f"pixelrnn_emu: error: sequence {tmp_path / 'clips' / '1' / 'second'} lacks frame 1 (its "
                          "frames are numbered 0..2); add it or remove the clip")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    (tmp_path / "clips" / "1" / "second" / "2.bmp").rename(tmp_path / "clips" / "1" / "second" / "1.bmp")
    code, err = run(scamp5_emulator, tmp_path)  # the last frame missing: 2 frames where the others have 3
    assert code == 2
    assert err.startswith(f"pixelrnn_emu: error: clips under {tmp_path / 'clips'} have different frame counts: 1 clip(s) "
                          "have 3 frames; other counts: 1/second (2 frames); a frame is missing or extra.")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("section,key,value,message", [
    ("cnn", "threshold", 2.5, "'cnn.threshold' is 2.5, whose step is 3, but cnn.threshold_step is {step}"),
    ("cnn", "threshold", "abc", "'cnn.threshold' must be a number (the CNN threshold in model units)"),
    ("cnn", "threshold_step", "abc", "'cnn.threshold_step' must be an integer"),
    ("rnn", "gate_threshold", "x", "'rnn.gate_threshold' must be a number"),
    ("rnn", "cell", "conv_gru", "'rnn.cell' must be \"pixelrnn\", the only cell the sensor program runs, found "
                               "\"conv_gru\""),
])
def test_weights_that_do_not_fit_the_sensor_program_are_refused(scamp5_emulator, tmp_path, inputs, section, key,
                                                                value, message):
    bad = dict(inputs, **{section: dict(inputs[section], **{key: value})})
    if key == "threshold" and value == 2.5:
        bad["cnn"]["threshold_step"] = 1  # 2.5's step is 3
        bad["cnn"]["threshold_sensor"] = inputs["input_white"]
    write_json(tmp_path / "bad.json", bad)
    code, err = run(scamp5_emulator, tmp_path, weights="bad.json")
    assert code == 2
    assert err.startswith(f"pixelrnn_emu: error: {tmp_path / 'bad.json'}: " + message.format(step=1)), err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_an_out_that_is_a_file_is_refused_before_any_clip_runs(scamp5_emulator, tmp_path, inputs):
    (tmp_path / "taken").write_text("a file")
    code, err = run(scamp5_emulator, tmp_path, out="taken")
    assert code == 2
    assert err == (f"pixelrnn_emu: error: --out {tmp_path / 'taken'} is a file, not a folder; give the path of a "
                   "folder (it is created if missing)\n")
    assert (tmp_path / "taken").read_text() == "a file" and leftovers(tmp_path) == []


def test_an_out_that_holds_a_training_run_is_refused(scamp5_emulator, tmp_path, inputs):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"weights")
    code, err = run(scamp5_emulator, tmp_path, out="run")
    assert code == 2
    assert err == (f"pixelrnn_emu: error: --out {tmp_path / 'run'} holds a training run (best.pt); choose another "
                   "--out (a folder inside it will do)\n")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt"] and leftovers(tmp_path) == []


def test_a_full_disk_is_named_as_such(scamp5_emulator, tmp_path, inputs, small_disk):
    code, err = run(scamp5_emulator, tmp_path, out="small_disk/out")
    assert code == 2
    assert err.startswith("pixelrnn_emu: error: no space left on the device holding ")
    assert "was not written; free some disk space or choose a folder on another device" in err
    assert "short write" not in err and list(small_disk.iterdir()) == []
