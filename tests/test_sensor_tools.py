"""The sensor toolchain: weight export, per-stage intermediates, simulated and real sensor outputs."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import extract_weights
import print_intermediates
import test_scamp_outputs
import test_simulated_scamp
from data_utils import scamp_io
from data_utils.sensor_outputs import group_readouts, read_sensor_outputs, read_simulated_outputs
from model_utils import build_model, set_noise
from model_utils.mosaic import tile
from model_utils.sensor_export import (SensorExportError, check_exportable, gate_threshold_step, sensor_level,
                                       threshold_step)
from training_utils.config import load_config
from training_utils.decoder_finetuning import finetune_decoder, stratified_holdout
from training_utils.model_loading import load_model

CAM_CONFIG = "configs/Cambridge/1cnnPixelRNN/test_cam.json"
LIP_CONFIG = "configs/Lips/1cnnPixelRNN/test_lips.json"
SCAMP_OUTPUTS = "scamp_outputs/cambridge_all_oct2023_r4"


def released_model(reference, config, checkpoint):
    model, _, _ = load_model(load_config(reference / config), str(reference / "checkpoints" / checkpoint))
    set_noise(model, evaluation=False)
    return model


def stored_clip(sequence: Path) -> torch.Tensor:
    """(1, T, 1, 64, 64) frames from a stored clip's 0_binarized_x (0/255 -> +-0.5, whose sign is the frame)."""
    frames = [scamp_io.read_sensor_image(sequence / str(t) / "0_binarized_x.BMP", (64, 64)) for t in range(16)]
    return torch.tensor(np.stack(frames), dtype=torch.float32)[None, :, None] / 255 - 0.5


def stored_stage(sequence: Path, frame: int, stage: str) -> dict:
    pixels = scamp_io.read_sensor_image(sequence / str(frame) / f"{stage}.BMP", scamp_io.STAGE_SHAPES[stage])
    return scamp_io.decode_stage(stage, pixels, 10)


def as_stored(values: torch.Tensor) -> np.ndarray:
    """Model values as an analogue sensor image decodes them (saturating at |v| >= 13 for iw = 10)."""
    return scamp_io.decode_analog(scamp_io.encode_analog(values, 10), 10)


# ----------------------------------------------------------------------------------------------
# Sensor image encodings
# ----------------------------------------------------------------------------------------------
def test_analog_and_binary_encodings_round_trip(tmp_path):
    values = np.array([[-14.0, -13.0, -12.0, -0.5, 0.0, 0.44, 3.0, 12.0, 13.0, 25.0]])
    pixels = scamp_io.encode_analog(values, 10)
    assert pixels.tolist() == [[0, 0, 7, 122, 127, 131, 157, 247, 255, 255]]
    assert scamp_io.decode_analog(pixels, 10).tolist() == [[-13, -13, -12, -0.0, 0, 0, 3, 12, 13, 13]]
    assert scamp_io.encode_binary(np.array([-1.0, 0.0, 1.0])).tolist() == [0, 127, 255]
    assert scamp_io.decode_binary(np.array([0, 127, 255])).tolist() == [-1, 0, 1]
    path = tmp_path / "a" / "x.BMP"
    image = np.arange(64 * 32, dtype=np.int64).reshape(32, 64).astype(np.uint8)
    scamp_io.write_sensor_image(path, image)
    assert np.array_equal(scamp_io.read_sensor_image(path, (32, 64)), image)
    assert [p.name for p in path.parent.iterdir()] == ["x.BMP"]


def test_bad_sensor_images_name_their_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.BMP"):
        scamp_io.read_sensor_image(tmp_path / "missing.BMP")
    scamp_io.write_sensor_image(tmp_path / "small.BMP", np.zeros((8, 8), np.uint8))
    with pytest.raises(scamp_io.SensorImageError, match=r"small\.BMP is 8x8.*expected 256x256"):
        scamp_io.read_sensor_image(tmp_path / "small.BMP", (256, 256))
    (tmp_path / "junk.BMP").write_bytes(b"not an image")
    with pytest.raises(scamp_io.SensorImageError, match="junk.BMP"):
        scamp_io.read_sensor_image(tmp_path / "junk.BMP")


def test_crash_while_writing_leaves_no_file_behind(tmp_path, monkeypatch):
    def crash(self, data):
        with open(self, "wb") as handle:
            handle.write(data[:10])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", crash)
    with pytest.raises(OSError, match="disk full"):
        scamp_io.write_sensor_image(tmp_path / "stage.BMP", np.zeros((64, 64), np.uint8))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# extract_weights
# ----------------------------------------------------------------------------------------------
def test_threshold_steps_are_the_exact_decision_levels():
    for thr in (0.99765, 1.0, 1.5, 0.0, -0.3, 2.0):
        step = threshold_step(thr)
        for p in range(-3, 6):  # integer pooled values
            assert (np.sign(p - thr) > 0) == (p >= step)
    for thr in (0.99412, -1e-3, 2.0, -2.5, 3.1):
        step = gate_threshold_step(thr)
        assert step % 2 == 0
        for f in range(-8, 10, 2):  # the gate sum is even
            assert (np.sign(f - thr) > 0) == (f >= step)
    assert sensor_level(2, 10, "gate") == 20
    with pytest.raises(SensorExportError, match=r"gate = 2 x input white 100 = 200 is outside .*-128\.\.127"):
        sensor_level(2, 100, "gate")


def test_extract_weights_reproduces_release_text_and_writes_json_and_header(reference, tmp_path):
    out_txt, out_hpp, out_json = tmp_path / "cam.txt", tmp_path / "cam.hpp", tmp_path / "cam.json"
    code = extract_weights.main(["-c", str(reference / CAM_CONFIG), "--weights", str(reference / "checkpoints/cam_noise.pt"),
                                 "-sc", "true", "-stf", str(out_txt), "--header", str(out_hpp), "--json", str(out_json)])
    assert code == 0
    assert out_txt.read_bytes() == (reference / "weights_for_scamp/cam_noise_iw10.txt").read_bytes()

    weights = json.loads(out_json.read_text())
    state = torch.load(reference / "checkpoints/cam_noise.pt", map_location="cpu")
    assert weights["format"] == "pixelrnn-sensor-weights" and weights["version"] == 1
    assert weights["cnn"]["kernels"] == state["cnn_model.conv1.weight"][:, 0].int().tolist()
    assert weights["rnn"]["Wfh"] == state["rnn_model.ConvGates_h.weight"][0, 0].int().tolist()
    assert (weights["cnn"]["threshold_step"], weights["cnn"]["threshold_sensor"]) == (1, 10)
    assert (weights["rnn"]["gate_threshold_step"], weights["rnn"]["gate_threshold_sensor"]) == (2, 20)
    assert weights["rnn"]["gate_threshold"] == pytest.approx(0.9941214919090271)
    assert weights["decoder"]["batchnorm"]["running_var"] == pytest.approx(64.15290069580078)
    assert weights["decoder"]["fin_conv"] == -1
    assert np.array_equal(np.array(weights["decoder"]["fc_weight"], np.float32), state["fc.weight"].numpy())

    header = out_hpp.read_text()
    assert "constexpr int kCnnThresholdSensor = 10;" in header
    assert "constexpr int kGateThresholdSensor = 20;" in header
    # Kernel 0 in load order is channel 0, taps bottom row first: the release text's first block.
    first_block = out_txt.read_text().split("\n        {", 1)[1].split("}", 1)[0]
    assert "    {" + ", ".join(first_block.split(",")) + "}," in header


def test_plain_cell_gate_exports_step_zero(reference, tmp_path):
    out_json = tmp_path / "lips.json"
    assert extract_weights.main(["-c", str(reference / LIP_CONFIG), "--weights",
                                 str(reference / "checkpoints/lips_no_noise.pt"), "--json", str(out_json)]) == 0
    rnn = json.loads(out_json.read_text())["rnn"]
    assert (rnn["gate_threshold"], rnn["gate_threshold_step"], rnn["gate_threshold_sensor"]) == (pytest.approx(-1e-3), 0, 0)


@pytest.mark.parametrize("quantizer", ["full", "ternary_ste"])
def test_extract_weights_refuses_non_binary_kernels(tmp_path, quantizer, capsys):
    config = {"model": {"quantizers": {"cnn_weights": quantizer}, "num_classes": 3}}
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    cfg = load_config(tmp_path / "cfg.json")
    torch.manual_seed(0)
    model = build_model(cfg)
    with torch.no_grad():
        model.encoder.conv1.weight.mul_(0.3)  # ternary: some kernels fall into the zero band
    torch.save({"model": model.state_dict()}, tmp_path / "model.pt")
    with pytest.raises(SensorExportError, match="encoder.conv1 is not binary"):
        check_exportable(model)
    code = extract_weights.main(["-c", str(tmp_path / "cfg.json"), "--weights", str(tmp_path / "model.pt"),
                                 "-sc", "true", "-stf", str(tmp_path / "out.txt"), "--json", str(tmp_path / "out.json")])
    assert code == 2 and "not binary" in capsys.readouterr().err
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "out.json").exists()


def test_only_pixelrnn_cell_is_exportable(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"model": {"cell": {"type": "conv_gru"}, "num_classes": 3}}))
    with pytest.raises(SensorExportError, match="only the pixelrnn cell"):
        check_exportable(build_model(load_config(tmp_path / "cfg.json")))


# ----------------------------------------------------------------------------------------------
# print_intermediates
# ----------------------------------------------------------------------------------------------
def test_lips_intermediates_decode_to_the_stored_values(reference, tmp_path):
    model = released_model(reference, LIP_CONFIG, "lips_no_noise.pt")
    sequence = reference / "intermediates/lip10/2/Don1"
    batches = [(stored_clip(sequence), torch.tensor([1]), ["2/Don1"])]
    metrics = print_intermediates.write_intermediates(model, batches, ["1", "2", "3", "4"], tmp_path, 10)
    assert (metrics["correct"], metrics["total"]) == (1, 1)
    ours = tmp_path / "2" / "Don1"
    compared = 0
    for frame in range(16):
        for stage in scamp_io.STAGE_FILES[1:]:
            stored = stored_stage(sequence, frame, stage)
            written = stored_stage(ours, frame, stage)
            for key in stored:
                assert np.array_equal(written[key], stored[key]), (frame, stage, key)
                compared += stored[key].size
    assert compared == 16 * (5 * 64 * 64 + 256 * 256 + 128 * 128 + 128 * 64)  # every pixel of stages 0_binarized_x..7
    for name in ("convweights.BMP", "rnnweights.BMP"):
        assert np.array_equal(scamp_io.read_sensor_image(tmp_path / name),
                              scamp_io.read_sensor_image(reference / "intermediates/lip10" / name))
    assert json.loads((tmp_path / "classes.json").read_text()) == {"classes": ["1", "2", "3", "4"]}

    # test_simulated_scamp reads what we wrote: o_T of frame 15, label through classes.json.
    readouts = read_simulated_outputs(tmp_path, 10, 15)
    assert readouts.labels == [1] and readouts.names == ["2/Don1"]
    with torch.no_grad():
        expected = model.encode(batches[0][0])[0, 0].numpy()
    unsaturated = np.abs(expected) < 12.7
    assert unsaturated.mean() > 0.9 and np.array_equal(readouts.values[0, 0][unsaturated], expected[unsaturated])
    assert np.allclose(readouts.values[0, 0], np.clip(expected, -12.7, 12.8))


def test_cam_stages_recomputed_from_stored_inputs_match(reference):
    """Noise-trained model, noise off: each stage that does not pass a noisy threshold, recomputed by the
    model's own modules from the stored input of that stage, equals the stored one on every pixel."""
    model = released_model(reference, CAM_CONFIG, "cam_noise.pt")
    encoder, cell = model.encoder, model.cell
    sequences = sorted((reference / "intermediates/cam10").glob("*/*"))
    assert len(sequences) == 3
    with torch.no_grad():
        for sequence in sequences:
            for frame in range(16):
                xb = torch.tensor(stored_stage(sequence, frame, "0_binarized_x")["input_binarized"]).float()[None, None]
                conv = encoder.conv1(xb)
                assert np.array_equal(as_stored(tile(conv)[0, 0]), scamp_io.decode_analog(scamp_io.read_sensor_image(
                    sequence / str(frame) / "1_conv1.BMP"), 10))
                stored_conv = torch.tensor(stored_stage(sequence, frame, "1_conv1")["conv"])[None].float()
                pooled = F.max_pool2d(F.relu(stored_conv), encoder.pool[0])  # saturation commutes with relu/max
                assert np.array_equal(pooled[0].numpy(), stored_stage(sequence, frame, "2_conv1post")["pooled"])
                x = torch.tensor(stored_stage(sequence, frame, "3_thresholded_quantized")["encoded"]).float()[None, None]
                h = torch.tensor(stored_stage(sequence, frame, "4_hidden")["hidden_prev"]).float()[None, None]
                sums = stored_stage(sequence, frame, "5_fi_fh_oi_oh")
                for key, module, source in (("fi", cell.ConvGates_i, x), ("fh", cell.ConvGates_h, h),
                                            ("oi", cell.Conv_out_i, x), ("oh", cell.Conv_out_h, h)):
                    assert np.array_equal(as_stored(module(source)[0, 0]), sums[key]), (sequence.name, frame, key)
                gate = torch.tensor(stored_stage(sequence, frame, "7_forget_gate_x")["gate"]).float()
                next_h = stored_stage(sequence, frame, "6_ft_ot")["hidden"]
                assert np.array_equal((gate * h[0, 0]).numpy(), next_h)
                if frame < 15:
                    assert np.array_equal(next_h, stored_stage(sequence, frame + 1, "4_hidden")["hidden_prev"])


def test_print_intermediates_needs_overwrite_for_a_non_empty_folder(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty; pass --overwrite"):
        print_intermediates.prepare_output_folder(tmp_path, overwrite=False)
    with pytest.raises(ValueError, match=r"holds 1 file\(s\) that print_intermediates does not write: old.txt;"):
        print_intermediates.prepare_output_folder(tmp_path, overwrite=True)
    assert (tmp_path / "old.txt").is_file()
    print_intermediates.prepare_output_folder(tmp_path / "new", overwrite=False)
    assert (tmp_path / "new").is_dir()


def test_print_intermediates_command_line(reference, tmp_path):
    pytest.importorskip("data_utils", reason="data_utils")
    import data_utils
    if not hasattr(data_utils, "build_datasets"):
        pytest.skip("data_utils.build_datasets is not available on this branch yet")
    clips = tmp_path / "clips"
    for digit in "1234":  # the tulips1 layout needs all four classes; the stored lip clip stands in for each
        (clips / digit / "Don1").mkdir(parents=True)
        for t in range(16):
            shutil.copyfile(reference / f"intermediates/lip10/2/Don1/{t}/0_binarized_x.BMP",
                            clips / digit / "Don1" / f"{t:02d}.bmp")
    config = json.loads((reference / LIP_CONFIG).read_text())
    config["data"] = {"cache": False}
    (tmp_path / "lips.json").write_text(json.dumps(config))
    sd = tmp_path / "out"
    argv = ["-c", str(tmp_path / "lips.json"), "-sd", str(sd), "-iw", "10", "-si", "true",
            "--weights", str(reference / "checkpoints/lips_no_noise.pt"), "--data-root", str(clips),
            "--part", "all", "--noise", "off", "--device", "cpu"]
    assert print_intermediates.main(argv) == 0
    metrics = json.loads((sd / "metrics.json").read_text())
    assert [p["predicted"] for p in metrics["predictions"]] == [1, 1, 1, 1]  # the same clip four times
    assert metrics["correct"] == 1
    stored = stored_stage(reference / "intermediates/lip10/2/Don1", 15, "6_ft_ot")
    written = stored_stage(sd / "2" / "Don1", 15, "6_ft_ot")
    assert all(np.array_equal(stored[k], written[k]) for k in stored)
    assert print_intermediates.main(argv) == 2  # non-empty now


# ----------------------------------------------------------------------------------------------
# test_simulated_scamp
# ----------------------------------------------------------------------------------------------
def test_simulated_scamp_reports_every_setting(reference, tmp_path):
    out = tmp_path / "sim"
    argv = ["-c", str(reference / CAM_CONFIG), "-sdd", str(reference / "intermediates/cam10"), "-iw", "10",
            "--weights", str(reference / "checkpoints/cam_noise.pt"), "--out", str(out),
            "--read-noise-std", "0", "3", "--clip", "both", "--seed", "5"]
    assert test_simulated_scamp.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary) == ["noise0", "noise0_clip", "noise3", "noise3_clip"]
    clean = json.loads((out / "noise0" / "metrics.json").read_text())
    assert [p["label"] for p in clean["predictions"]] == [0, 4, 8]  # folders 1, 5, 9
    assert clean["correct"] == 3  # the stored noisy o_T of these clips decodes to the right class
    pixels = np.array([[0.0, 127.0, 255.0]])
    a = test_simulated_scamp.noisy_pixels(pixels, 3.0, True, 7)
    assert np.array_equal(a, test_simulated_scamp.noisy_pixels(pixels, 3.0, True, 7))
    assert a.min() >= 0 and a.max() <= 255 and np.array_equal(a, np.round(a))
    assert not np.array_equal(test_simulated_scamp.noisy_pixels(pixels, 3.0, False, 7), pixels)


# ----------------------------------------------------------------------------------------------
# test_scamp_outputs
# ----------------------------------------------------------------------------------------------
def test_released_finetuned_decoder_scores_708_of_720(reference, tmp_path):
    out = tmp_path / "run"
    code = test_scamp_outputs.main(["-c", str(reference / "configs/Cambridge/1cnnPixelRNN/test_cam_finetuned.json"),
                                    "-sd", str(reference / SCAMP_OUTPUTS), "-iw", "10",
                                    "--weights", str(reference / "checkpoints/cam_noise_finetuned.pt"),
                                    "--split-file", str(reference / "splits/cambridge_paper.json"), "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics) == ["train"]  # the 90 test sequences have no outputs on disk
    assert (metrics["train"]["correct"], metrics["train"]["total"]) == (708, 720)
    assert len(metrics["train"]["missing_sequences"]["test"]) == 90


def test_scamp_outputs_bad_inputs_are_named(reference, tmp_path):
    root = tmp_path / "outputs"
    for name in ("0/Set1_1_0000", "0/Set1_1_0001", "1/Set1_2_0000"):
        (root / name).mkdir(parents=True)
        shutil.copyfile(reference / SCAMP_OUTPUTS / name / "15_output.BMP", root / name / "15_output.BMP")
    readouts = read_sensor_outputs(root, 10)
    assert readouts.labels == [0, 0, 1] and readouts.values.shape == (3, 1, 64, 64)
    present, missing, unlisted = group_readouts(readouts, {"train": ["Set1_1_0000", "Set1_2_0000", "Set9_9_0009"],
                                                           "test": ["Set1_3_0003"]})
    assert present == {"train": [0, 2]}
    assert missing == {"train": ["Set9_9_0009"], "test": ["Set1_3_0003"]}
    assert unlisted == ["0/Set1_1_0001"]

    (root / "1/Set1_2_0001").mkdir()
    with pytest.raises(FileNotFoundError, match=r"1/Set1_2_0001/15_output\.BMP"):
        read_sensor_outputs(root, 10)
    scamp_io.write_sensor_image(root / "1/Set1_2_0001/15_output.BMP", np.zeros((64, 64), np.uint8))
    with pytest.raises(scamp_io.SensorImageError, match=r"Set1_2_0001/15_output\.BMP is 64x64"):
        read_sensor_outputs(root, 10)


def test_stratified_holdout_is_seeded_and_per_class():
    labels = [0] * 20 + [1] * 10 + [2] * 3
    kept, held = stratified_holdout(labels, 0.2, seed=3)
    assert sorted(kept + held) == list(range(33)) and not set(kept) & set(held)
    assert [sum(labels[i] == c for i in held) for c in range(3)] == [4, 2, 1]
    assert (kept, held) == stratified_holdout(labels, 0.2, seed=3)
    assert held != stratified_holdout(labels, 0.2, seed=4)[1]
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_holdout(labels, 1.5, seed=0)


def finetuning_problem(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"model": {"num_classes": 3}}))
    torch.manual_seed(0)
    model = build_model(load_config(tmp_path / "cfg.json"))
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 12)
    values = rng.normal(0, 1, (36, 1, 64, 64)).astype(np.float32)
    values[:, 0, :8, :8] += labels[:, None, None] * 2.0  # a learnable class signal
    kept, held = stratified_holdout(labels.tolist(), 0.25, seed=0)
    twin = lambda: build_model(load_config(tmp_path / "cfg.json")).eval()
    return model, twin, values, labels, kept, held


def test_finetune_trains_only_the_decoder_and_keeps_the_best_epoch(tmp_path):
    model, make_twin, values, labels, kept, held = finetuning_problem(tmp_path)
    sensor_before = [p.detach().clone() for p in model.sensor_parameters()]
    fc_before = model.fc.weight.detach().clone()
    run = lambda m: finetune_decoder(m, values[kept], labels[kept].tolist(), values[held], labels[held].tolist(),
                                     epochs=5, lr=1e-2, batch_size=8, seed=1)
    twin = make_twin()
    twin.load_state_dict(model.state_dict())
    summary = run(model)
    assert all(torch.equal(a, b) for a, b in zip(sensor_before, model.sensor_parameters()))
    assert not torch.equal(fc_before, model.fc.weight)
    accuracies = [h["val_accuracy"] for h in summary["history"]]
    assert summary["best_val_accuracy"] == max(accuracies) and summary["best_val_accuracy"] > accuracies[0]
    assert summary["history"][summary["best_epoch"]]["val_accuracy"] == summary["best_val_accuracy"]
    run(twin)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))


def test_refit_retrains_from_the_start_on_all_outputs_for_the_chosen_epoch_count(tmp_path):
    from training_utils.decoder_finetuning import _train_decoder

    model, twin, values, labels, kept, held = finetuning_problem(tmp_path)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    settings = dict(epochs=6, lr=1e-2, batch_size=8, seed=1)
    summary = finetune_decoder(model, values[kept], labels[kept].tolist(), values[held], labels[held].tolist(),
                               refit=True, **settings)
    assert summary["refit"] and summary["refit_epochs"] == summary["best_epoch"] >= 1
    assert summary["refit_outputs"] == 36
    # The same thing by hand: the pre-finetuning decoder, train + validation outputs, best_epoch epochs.
    by_hand = twin()
    by_hand.load_state_dict(initial)
    _train_decoder(by_hand, np.concatenate([values[kept], values[held]]),
                   labels[kept].tolist() + labels[held].tolist(), summary["best_epoch"], lr=1e-2, batch_size=8,
                   weight_decay=0.0, input_noise_std=0.0, anchor=0.0, seed=1, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), by_hand.state_dict().values()))
    selected = twin()
    selected.load_state_dict(initial)
    finetune_decoder(selected, values[kept], labels[kept].tolist(), values[held], labels[held].tolist(), **settings)
    assert not torch.equal(selected.fc.weight, model.fc.weight)


def test_anchor_keeps_the_decoder_near_its_pre_finetuning_weights(tmp_path):
    model, twin, values, labels, kept, held = finetuning_problem(tmp_path)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    distances = []
    for anchor in (0.0, 1.0):
        trained = twin()
        trained.load_state_dict(initial)
        summary = finetune_decoder(trained, values[kept], labels[kept].tolist(), values[held], labels[held].tolist(),
                                   epochs=4, lr=1e-2, batch_size=8, seed=1, anchor=anchor, refit=True)
        assert summary["anchor"] == anchor
        distances.append(float((trained.fc.weight.detach() - initial["fc.weight"]).norm()))
    assert 0 < distances[1] < 0.5 * distances[0]
