"""From a dataset to the emulator: ``print_intermediates.py --emulator-clips`` writes the runner's --clips
input (the model's own binarised frames) and weights; the emulator's outputs then score the model's own
predictions."""
import json
from pathlib import Path

import numpy as np
import torch

import print_intermediates
from scamp5 import emulator as se
import test_scamp_outputs
from clip_data_fixtures import make_clip_folder
from data_utils import build_datasets, scamp_io
from model_utils import set_noise
from training_utils.config import load_config
from training_utils.model_loading import load_model
from training_utils.paths import REPO_ROOT

RUN = REPO_ROOT / "pretrained" / "synthetic_pixelrnn"


def clip_folder_config(tmp_path: Path, **data) -> Path:
    """The pretrained synthetic model's config, reading a clip folder (no cache)."""
    raw = json.loads((RUN / "config.json").read_text())
    raw["data"].update(dataset="clip_folder", cache=False, **data)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    return path


def emulator_clips(capsys, config, data, out, *extra):
    argv = ["-c", config, "--weights", RUN / "best.pt", "--data-root", data, "--part", "all", "-sd", out,
            "--noise", "off", "--device", "cpu", "--emulator-clips", *extra]
    code = print_intermediates.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_emulator_clips_are_the_models_binarised_frames_and_the_emulator_scores_its_predictions(
        tmp_path, capsys, scamp5_emulator):
    data = make_clip_folder(tmp_path / "clips", clips=2, frames=20)
    config = clip_folder_config(tmp_path)
    out = tmp_path / "sensor_clips"
    stale = out / "9" / "old_sequence" / "0" / "6_ft_ot.BMP"  # stage images of an earlier run: replaced
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    (out / "classes.json").write_text('{"classes": ["9"]}')
    code, err = emulator_clips(capsys, config, data, out, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["0", "1", "labels.json", "metrics.json", "weights.json"]
    assert json.loads((out / "labels.json").read_text()) == {"0": "a", "1": "b"}
    assert sorted(str(p.relative_to(out)) for p in out.glob("*/*")) == ["0/clip0", "0/clip1", "1/clip0", "1/clip1"]

    cfg = load_config(config)
    model, _, _ = load_model(cfg, str(RUN / "best.pt"))
    set_noise(model, evaluation=False)
    dataset = build_datasets(cfg, str(data), parts=("all",))["all"]
    expected_predictions = {}
    for index in range(len(dataset)):
        clip, label, name = dataset[index]
        with torch.no_grad(), model.tracing() as trace:
            expected_predictions[f"{label}/{name.split('/')[-1]}"] = int(model(clip[None]).argmax(1))
        folder = out / str(label) / name.split("/")[-1]
        for t in range(cfg["data"]["timesteps"]):
            written = scamp_io.read_sensor_image(folder / f"{t}.bmp", (64, 64))
            assert np.array_equal(written, scamp_io.encode_binary(trace["input_binarized"][t][0, 0]))
        assert not (folder / f"{cfg['data']['timesteps']}.bmp").exists()
    exported = json.loads((out / "weights.json").read_text())
    assert exported == se.export_weights(config, RUN / "best.pt", tmp_path / "w.json")
    written_metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(p["predicted"] for p in written_metrics["predictions"]) == sorted(expected_predictions.values())

    se.run_emulator(out / "weights.json", out, tmp_path / "emulated")
    assert test_scamp_outputs.main(["-c", str(config), "--weights", str(RUN / "best.pt"), "-sd",
                                    str(tmp_path / "emulated"), "--split-file", "none", "--out",
                                    str(tmp_path / "scored")]) == 0
    metrics = json.loads((tmp_path / "scored" / "metrics.json").read_text())["all"]
    by_sequence = {p["sequence"]: p["predicted"] for p in metrics["predictions"]}
    assert by_sequence == expected_predictions

    print_intermediates.prepare_output_folder(out, overwrite=True)  # every file above is print_intermediates'
    assert list(out.iterdir()) == []


def test_a_frame_size_the_sensor_cannot_read_is_refused_before_writing(tmp_path, capsys):
    config = clip_folder_config(tmp_path, frame_size=32)
    code, err = emulator_clips(capsys, config, tmp_path / "no_data", tmp_path / "out")
    assert code == 2
    assert err.startswith(f"error: the sensor program reads 64 x 64 frames; {config} has data.frame_size 32")
    assert not (tmp_path / "out").exists()


def test_a_sensor_unit_that_is_not_an_integer_is_refused_before_writing(tmp_path, capsys):
    data = make_clip_folder(tmp_path / "clips", clips=1, frames=16)
    code, err = emulator_clips(capsys, clip_folder_config(tmp_path), data, tmp_path / "out", "-iw", "10.5")
    assert code == 2
    assert err.startswith("error: input white must be an integer in 1..127 (the sensor's analogue unit), got 10.5")
    assert not (tmp_path / "out").exists()


def test_emulator_clips_without_images_is_refused(tmp_path, capsys):
    code, err = emulator_clips(capsys, RUN / "config.json", tmp_path / "no_data", tmp_path / "out", "-si", "false")
    assert code == 2
    assert err.startswith("error: --emulator-clips writes the emulator's frames; -si false writes no images")
    assert not (tmp_path / "out").exists()
