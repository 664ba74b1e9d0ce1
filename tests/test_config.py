import json

import pytest
import torch

from model_utils import build_model
from training_utils.config import KEYS, ConfigError, dumps, get, load_config, markdown_table, resolve
from training_utils.paths import REPO_ROOT


def test_release_configs_load_and_map_vocabulary(reference):
    cfg = load_config(reference / "configs/Cambridge/1cnnPixelRNN/cam_noise.json")
    assert cfg["data"]["dataset"] == "cambridge" and cfg["data"]["timesteps"] == 16
    assert cfg["model"]["encoder"]["noise_std"] == 0.6 and cfg["model"]["encoder"]["layers"] == 1
    cell = cfg["model"]["cell"]
    assert (cell["type"], cell["learned_threshold"], cell["gate_noise_std"], cell["output_noise_std"]) == \
        ("pixelrnn", True, 0.6, 1.0)
    assert cfg["train"]["scheduler"] == "plateau" and cfg["train"]["lr"] == 1e-4 and cfg["train"]["batch_size"] == 1
    assert cfg["weights"].endswith("cam_noise_seed_321.pt") and cfg["seed"] == 321
    lips = load_config(reference / "configs/Lips/1cnnPixelRNN/lip_noise.json")
    assert lips["model"]["encoder"]["input_threshold"] is True and lips["data"]["dataset"] == "tulips1"


def test_overrides_parse_json_and_bare_strings(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": {"lr": 0.01}}))
    cfg = load_config(path, ["train.lr=0.5", "data.dataset=cambridge", "model.encoder.pool=[2, 2]",
                             "model.encoder.layers=2"])
    assert cfg["train"]["lr"] == 0.5 and cfg["data"]["dataset"] == "cambridge"
    assert cfg["model"]["encoder"]["pool"] == [2, 2]


@pytest.mark.parametrize("raw,message", [
    ({"trian": {}}, r"unknown config key 'trian'.*accepted keys at top level:.*train"),
    ({"train": {"lr": "fast"}}, r"'train.lr'.*must be a number > 0, got 'fast'"),
    ({"model": {"cell": {"type": "lstm"}}}, r"'model.cell.type'.*one of .*'conv_lstm'.*'pixelrnn'.*got 'lstm'"),
    ({"model": {"cell": {"type": "mgu", "learned_threshold": True}}},
     r"unknown config key 'model.cell.learned_threshold'.*for cell 'mgu'; accepted keys: type, kernel_size"),
    ({"model": {"encoder": {"channels": 15}}}, r"'model.encoder'.*channels must be a square integer.*got 15"),
    ({"model": {"encoder": {"threshold_init": "high"}}},
     r"'model.encoder.threshold_init'.*must be a number or null, got 'high'"),
    ({"model": {"decoder": {"type": "mlp", "hidden": 1.5}}}, r"'model.decoder.hidden'.*must be an integer, got 1.5"),
    ({"recipe": "fast"}, r"'recipe'.*one of 'paper', 'project', got 'fast'"),
    ({"model": {"quantizers": {"gate": "tanh"}}}, r"'model.quantizers.gate'.*unknown quantizer 'tanh'"),
    ({"data": {"split_fractions": {"train": 0.5, "val": 0.1, "test": 0.1}}}, r"sum to 1"),
    ({"model": {"encoder": {"layers": 2}}}, r"one pool size per layer; got layers 2, pool \[4\]"),
    ({"data": {"frame_size": 30}}, r"config keys 'data.frame_size' 30 and 'model.encoder.pool' \[4\] \(in x.json\) do not "
                                   r"fit: .*max-pools 30 x 30 maps by 4"),
    ({"model": {"decoder": {"type": "mlp", "hidden": 0}}}, r"config key 'model.decoder' \(in x.json\): hidden must be >= 1"),
    ({"model": {"encoder": {"layers": 2, "pool": [2, 2]}, "compute": "native"}},  # refused at load time, not at the first batch
     r"config key 'model.compute' \(in x.json\): .*'native' but the encoder: binary_cnn's second layer"),
    ({"model": {"cnn_type": "CNN_big"}, "train_params": {}}, r"'model.cnn_type'.*'CNN_big' is not supported"),
    ({"train_params": {"lr_schedular": 1}}, r"unknown release config key.*lr_schedular"),
])
def test_bad_configs_name_key_value_and_accepted(raw, message):
    with pytest.raises(ConfigError, match=message):
        resolve(raw, source="x.json")


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr'.*accepted keys at train:.*lr"):
        resolve({}, ["train.lrr=1"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        resolve({}, ["train.lr"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)


def release_config(reference, **model):
    raw = json.loads((reference / "configs/Cambridge/1cnnPixelRNN/cam.json").read_text())
    raw["model"].update(model)
    return raw


@pytest.mark.parametrize("rnn_type, cell", [
    ("srnn", "simple_rnn"), ("srnno", "simple_rnn_out"), ("cgru", "conv_gru"), ("cgruo", "conv_gru"),
    ("cmgu", "mgu"), ("cmgu_v2", "mgu_v2"), ("clstm", "conv_lstm"), ("clstmo", "conv_lstm_out"),
    ("pixrnn", "pixelrnn_interpolation"), ("pixrnn_binarize_hidden", "pixelrnn_interpolation")])
def test_release_configs_naming_the_baseline_cells_load_and_train(reference, rnn_type, cell):
    cfg = resolve(release_config(reference, rnn_type=rnn_type))
    assert cfg["model"]["cell"]["type"] == cell and cfg["model"]["cell"]["kernel_size"] == 5
    model = build_model(cfg, 9)
    assert model.cell.registry_name == cell
    assert_one_training_step(model, cfg["data"]["frame_size"], "cell.")


def assert_one_training_step(model, frame_size: int, prefix: str) -> None:
    """A train step on two random clips of four frames gives every kernel under ``prefix`` a finite gradient,
    and some of them a nonzero one."""
    torch.manual_seed(0)
    clips = torch.randn(2, 4, 1, frame_size, frame_size)
    torch.nn.functional.cross_entropy(model.train()(clips), torch.tensor([0, 1])).backward()
    grads = [p.grad for name, p in model.named_parameters() if name.startswith(prefix) and p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("model, encoder, cell, decoder, frame_size", [
    ({"cnn_type": "CNN_k5_two_layer_relu_mp_thresh_quantized"}, "two_layer_cnn", "pixelrnn", ("linear", True), 64),
    ({"model_type": "2_lin"}, "binary_cnn", "pixelrnn", ("mlp", True), 64),
    ({"model_type": "1_cnn_1_lin"}, "binary_cnn", "pixelrnn", ("conv", True), 64),
    ({"model_type": "cnn1_1lin"}, "binary_cnn", "all_frames", ("linear", False), 64),
    ({"cnn_type": "raw_cam"}, "frames", "all_frames", ("linear", False), 256),
    ({"cnn_type": "raw_cam", "model_type": "2_lin"}, "frames", "all_frames", ("mlp", False), 256),
    ({"cnn_type": "raw_cam_downsampled_bin_in"}, "frames", "all_frames", ("linear", False), 64),
    ({"cnn_type": "diff_cam_2lin"}, "frames", "frame_differences", ("mlp", False), 64),
    ({"cnn_type": "piotr_event_cam"}, "frames", "last_difference", ("linear", False), 64),
    ({"cnn_type": "nstd", "model_type": "2_lin"}, "frames", "middle_frame", ("mlp", False), 64),
])
def test_release_model_and_camera_types_map_onto_components(reference, model, encoder, cell, decoder, frame_size):
    cfg = resolve(release_config(reference, **model))
    m = cfg["model"]
    stage = m["readout"] if m["readout"] is not None else m["cell"]  # the cameras map to model.readout
    assert (m["encoder"]["type"], stage["type"], (m["decoder"]["type"], m["decoder"]["normalize"])) == \
        (encoder, cell, decoder)
    assert (m["cell"] is None) == (cell != "pixelrnn")
    assert cfg["data"]["frame_size"] == frame_size
    if model.get("cnn_type") == "raw_cam_downsampled_bin_in":
        assert m["encoder"]["binarize"] is True
    assert_one_training_step(build_model(cfg, 9), frame_size, "fc.")


def test_paper_recipe_presets_every_key_and_explicit_keys_win(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"recipe": "paper", "data": {"dataset": "tulips1"}, "train": {"batch_size": 4},
                                "model": {"cell": {"type": "pixelrnn", "learned_threshold": True}}}))
    cfg = load_config(path, ["noise.eval=false"])
    assert cfg["train"]["batch_size"] == 4 and cfg["noise"]["eval"] is False  # given in the file / by --set
    assert (cfg["data"]["augment"]["per_frame"], cfg["data"]["augment"]["translate"], cfg["data"]["frame_sampling"]) \
        == (True, 6, "release")  # tulips1: the release's +-10 % of 64 px, drawn per frame
    assert (cfg["model"]["freeze_binary_weights"], cfg["model"]["encoder"]["threshold_init"],
            cfg["model"]["cell"]["threshold_init"]) == (True, None, 1.0)
    assert (cfg["train"]["scheduler"], cfg["train"]["plateau_monitor"], cfg["train"]["loss_reduction"],
            cfg["noise"]["selection"]) == ("plateau", "min val_loss", "sum", True)
    project = load_config(path, ["recipe=project"])
    assert project == resolve({"data": {"dataset": "tulips1"}, "train": {"batch_size": 4},
                               "model": {"cell": {"type": "pixelrnn", "learned_threshold": True}}})
    # a preset key the chosen component does not take is skipped; noise-trained CNNs start at 1.0
    mgu = resolve({"recipe": "paper", "data": {"dataset": "cambridge"},
                   "model": {"encoder": {"noise_std": 0.6}, "cell": {"type": "mgu"}}})
    assert "threshold_init" not in mgu["model"]["cell"] and mgu["model"]["encoder"]["threshold_init"] == 1.0
    assert mgu["data"]["augment"]["translate"] == 0  # the release gave the noise-trained Cambridge CNN no shift


def test_every_fixed_key_is_declared_with_a_default_its_rule_accepts():
    cfg = resolve({})
    assert cfg["model"]["readout"] is None  # no read-out: the section is null, its type's default
    for dotted, key in KEYS.items():
        assert (None if dotted == "model.readout.type" else get(cfg, dotted)) == key.default, dotted
        assert key.rule.check(key.default), f"{dotted}: its default {key.default!r} breaks its own rule"
        assert key.help and "\n" not in key.help, f"{dotted}: help must be one line"
    assert (cfg["train"]["lr"], cfg["model"]["quantizers"]["linear"], cfg["model"]["cell"]["type"]) == \
        (1e-3, "full", "pixelrnn")
    assert list(cfg["model"]["quantizers"]) == ["cnn_weights", "cnn_output", "rnn_weights", "hidden", "gate",
                                                "final_conv", "linear"]  # the sites the model builds quantizers for


def test_docs_list_every_fixed_key_with_its_default():
    docs = (REPO_ROOT / "docs" / "configs.md").read_text(encoding="utf-8")
    assert markdown_table() in docs, ("docs/configs.md's key table differs from training_utils/config.py's KEYS: "
                                      "paste the output of `python -m training_utils.config --markdown` into it")
    for dotted, key in KEYS.items():
        assert f"| `{dotted}` | `{json.dumps(key.default)}` |" in docs, dotted
    assert "| `train.lr` | `0.001` | a number > 0 |" in docs


def test_a_readout_replaces_the_cell_and_old_readout_cells_migrate_with_a_note():
    cfg = resolve({"model": {"readout": {"type": "single_frame", "kernel_size": 3}}})
    assert cfg["model"]["cell"] is None and cfg["model"]["readout"] == {"type": "single_frame", "kernel_size": 3}
    assert resolve(json.loads(dumps(cfg))) == cfg  # a stored run config loads as it is
    with pytest.warns(FutureWarning, match=r"model.cell.type 'middle_frame' is a whole-clip read-out, now "
                                           r"model.readout.type"):
        old = resolve({"model": {"cell": {"type": "middle_frame"}}})
    assert old["model"]["cell"] is None and old["model"]["readout"] == {"type": "middle_frame"}
    with pytest.warns(FutureWarning, match="model.readout.type"):
        assert resolve({}, ["model.cell.type=all_frames"])["model"]["readout"] == {"type": "all_frames"}
    back = resolve(json.loads(dumps(cfg)), ["model.readout=null", "model.cell.type=mgu"])
    assert back["model"]["readout"] is None and back["model"]["cell"]["type"] == "mgu"


@pytest.mark.parametrize("model, message", [
    ({"cell": {"type": "mgu"}, "readout": {"type": "all_frames"}},
     r"gives both model.cell \({'type': 'mgu'}\) and model.readout \({'type': 'all_frames'}\).*set the other to null"),
    ({"cell": {"type": "all_frames"}, "readout": {"type": "middle_frame"}},
     r"gives both model.cell .*a read-out under the old name.*keep model.readout only"),
    ({"cell": None}, r"model.cell is null and no model.readout is given"),
    ({"readout": {"kernel_size": 3}}, r"'model.readout.type' is null but model.readout gives \['kernel_size'\]"),
    ({"readout": {"type": "pixelrnn"}}, r"'model.readout.type'.*null or one of 'all_frames'.*got 'pixelrnn'"),
    ({"cell": None, "readout": {"type": "middle_frame", "kernel_size": 3}},
     r"unknown config key 'model.readout.kernel_size'.*for readout 'middle_frame'; accepted keys: type"),
])
def test_the_stage_sections_errors_name_the_keys(model, message):
    with pytest.raises(ConfigError, match=message):
        resolve({"model": model})
