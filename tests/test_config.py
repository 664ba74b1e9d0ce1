import json

import pytest

from training_utils.config import ConfigError, load_config, resolve


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
