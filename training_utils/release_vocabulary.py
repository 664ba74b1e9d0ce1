"""The release's config vocabulary (``cnn_type``, ``rnn_type``, ``model_type``, ``train_params``, ...) mapped
onto this project's keys -- the one place that knows the release's names (docs/release_vocabulary.md lists them).

``migrate_release_config`` turns a release config into a partial config of this project; the config
loader merges it with the defaults and validates it like any other.
"""
from __future__ import annotations

import copy

from .errors import ConfigError

RELEASE_DATASETS = {"cambridge": "cambridge", "tulips1": "tulips1", "tulips": "tulips1", "lips": "tulips1"}
RELEASE_SCHEDULERS = {"ReduceLROnPlateau": "plateau", "CosineAnnealingLR": "cosine", "none": "none"}
RELEASE_OPTIMIZERS = {"Adam": "adam", "SGD": "sgd"}
RELEASE_QUANTIZER_KEYS = {
    "cnn_method": "cnn_weights", "cnn_output_quantization": "cnn_output", "rnn_method": "rnn_weights",
    "hidden_quantization": "hidden", "gate_quantization": "gate", "final_conv_method": "final_conv",
    "linear_method": "linear",
}

# cnn_type -> in-pixel encoder
RELEASE_CNN_TYPES = {
    "CNN_k5_single_layer_relu_mp_thresh_quantized": {"type": "binary_cnn"},
    "CNN_k5_two_layer_relu_mp_thresh_quantized": {"type": "two_layer_cnn"},
    "CNN_noise": {"type": "binary_cnn", "noise_std": 0.6},
    "CNN_noise_lip": {"type": "binary_cnn", "noise_std": 0.6, "input_threshold": True},
}
# cnn_type of a camera baseline -> (encoder and read-out, frame size, decoder type or None for model_type's);
# the release ignores rnn_type for these
_RAW = {"encoder": {"type": "frames"}, "readout": {"type": "all_frames"}}
_DIFF = {"encoder": {"type": "frames"}, "readout": {"type": "frame_differences"}}
_EVENT = {"encoder": {"type": "frames"}, "readout": {"type": "last_difference"}}
RELEASE_CAMERAS = {
    "raw_cam": (_RAW, 256, "linear"),
    "raw_cam_2lin": (_RAW, 256, "mlp"),
    "raw_cam_downsampled": (_RAW, 64, "linear"),
    "raw_cam_downsampled_bin_in": ({"encoder": {"type": "frames", "binarize": True}, "readout": {"type": "all_frames"}},
                                   64, "linear"),
    "diff_cam": (_DIFF, 64, "linear"),
    "piotr_event_cam_spatial": (_DIFF, 64, "linear"),
    "diff_cam_2lin": (_DIFF, 64, "mlp"),
    "event_cam": (_EVENT, 64, "linear"),
    "piotr_event_cam": (_EVENT, 64, "linear"),
    "nstd": ({"encoder": {"type": "frames"}, "readout": {"type": "middle_frame"}}, 64, None),
}
# rnn_type -> cell. Where the release has an evident bug, the intended form is built (model_utils/cells.py says which).
_NOISY_PIXELRNN = {"type": "pixelrnn", "learned_threshold": True,
                   "gate_noise_std": 0.6, "output_noise_std": 1.0}
RELEASE_RNN_TYPES = {
    "rnn_1_qt": {"type": "pixelrnn"},
    "rnn_1_mul_noise_fixed": _NOISY_PIXELRNN,
    "rnn_1_mul_noise": _NOISY_PIXELRNN,
    "pixrnn": {"type": "pixelrnn_interpolation"},
    "pixrnn_binarize_hidden": {"type": "pixelrnn_interpolation"},
    "srnn": {"type": "simple_rnn"},
    "srnno": {"type": "simple_rnn_out"},
    "cgru": {"type": "conv_gru"},
    "cgruo": {"type": "conv_gru"},
    "cmgu": {"type": "mgu"},
    "cmgu_v2": {"type": "mgu_v2"},
    "clstm": {"type": "conv_lstm"},
    "clstmo": {"type": "conv_lstm_out"},
}
# model_type -> decoder (and, for the CNN-only model, the whole-clip read-out)
RELEASE_MODEL_TYPES = {
    "1_lin": {"decoder": {"type": "linear"}},
    "2_lin": {"decoder": {"type": "mlp"}},
    "1_cnn_1_lin": {"decoder": {"type": "conv"}},
    "cnn1_1lin": {"readout": {"type": "all_frames"}, "decoder": {"type": "linear", "normalize": False}},
}
# Release keys that only record a fixed property of the one architecture it had: value accepted -> value.
_RELEASE_FIXED = {
    "cnn_params": {"dr_rate": 0.0, "dilation": 1, "stride": 1, "groups": 1, "bias": False},
    "rnn_params": {"dilation": 1, "stride": 1, "groups": 1, "rnn_num_layers": 1, "rnn_hidden_size": 1, "bias": False},
}
_PIXELRNN_INIT_SCALES = ("out_weight_init_scale", "hidden_weight_init_scale")


# This project's own config keys that were renamed (issue 19: "kernels" meant four things): old -> new.
# Configs and stored run configs (config.json) with an old key still load, with a deprecation note.
RENAMED_KEYS = {
    "model.kernels": "model.compute",                                # the compute path: auto | native | torch
    "model.freeze_binary_kernels": "model.freeze_binary_weights",    # the binary weights keep their signs
}
# model.cell.type values that are whole-clip read-outs, not cells: such a model.cell section is now model.readout
# (model_utils/clip_readouts.py), with a deprecation note.
READOUT_CELL_TYPES = ("single_frame", "all_frames", "frame_differences", "last_difference", "middle_frame")


# The release's command-line flags that this project names otherwise: release flag -> this project's flag.
# They stay accepted (training_utils.cli), with a note on stderr naming the new flag.
RELEASE_FLAGS = {
    "--split": "--part",  # the part of the dataset to evaluate; "split" is data.split, the rule that makes the parts
}


# State-dict key prefixes: the release's (this project's checkpoints carried them too until the model's parts
# were named encoder and cell) -> this project's. Such checkpoints load through ``migrate_state_keys``.
RENAMED_STATE_PREFIXES = {"cnn_model.": "encoder.", "rnn_model.": "cell."}


def migrate_state_keys(state: dict, stage: str = "cell") -> dict:
    """``state`` (a state dict) with the release's key prefixes renamed to this project's; a new dict, the
    same tensors. ``stage``: the model's stage part; for a read-out model (``readout``) the cell's prefixes,
    under which older checkpoints kept its kernel, map to ``readout.``. A key under both names is an error
    (the checkpoint is not one model's)."""
    renames = dict(RENAMED_STATE_PREFIXES)
    if stage != "cell":
        renames = {old: f"{stage}." if now == "cell." else now for old, now in renames.items()} | {"cell.": f"{stage}."}
    out = {}
    for key, value in state.items():
        new = next((now + key[len(old):] for old, now in renames.items() if key.startswith(old)), key)
        if new != key and new in state:
            raise ConfigError(f"checkpoint holds {new!r} under both its name and the release's ({key!r})")
        out[new] = value
    return out


def release_state_key(key: str) -> str:
    """The release's name of one of this project's state-dict keys (for the release's weight text files)."""
    return next((old + key[len(now):] for old, now in RENAMED_STATE_PREFIXES.items() if key.startswith(now)), key)


def renamed_key(key: str) -> str:
    """The current name of a dotted config key (``key`` itself where it was never renamed)."""
    return RENAMED_KEYS.get(key, key)


def migrate_renamed_keys(given: dict, source: str = "") -> dict:
    """``given`` (a partial config, changed in place and returned) with each old key of ``RENAMED_KEYS``
    moved to its new name, with a FutureWarning naming both; both names given with different values is an error."""
    import warnings

    for old, new in RENAMED_KEYS.items():
        *path, old_name = old.split(".")
        new_name = new.split(".")[-1]
        node = given
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or old_name not in node:
            continue
        value = node.pop(old_name)
        if new_name in node and node[new_name] != value:
            raise ConfigError(f"config{_where(source)} gives both {old} ({value!r}, the old name) and {new} "
                              f"({node[new_name]!r}); keep {new} only")
        node[new_name] = value
        warnings.warn(f"config{_where(source)}: {old} is now {new} (the old name still loads; rename it)",
                      FutureWarning, stacklevel=2)
    return given


def migrate_readout_cells(given: dict, source: str = "") -> dict:
    """``given`` (a partial config, changed in place and returned) with a ``model.cell`` whose type is one of
    ``READOUT_CELL_TYPES`` moved to ``model.readout`` (the cell null), with a FutureWarning."""
    import warnings

    model = given.get("model")
    cell = model.get("cell") if isinstance(model, dict) else None
    if not isinstance(cell, dict) or cell.get("type") not in READOUT_CELL_TYPES:
        return given
    if model.get("readout") is not None:
        raise ConfigError(f"config{_where(source)} gives both model.cell ({cell!r}, a read-out under the old name) "
                          f"and model.readout ({model['readout']!r}); keep model.readout only")
    model["readout"], model["cell"] = model.pop("cell"), None
    warnings.warn(f"config{_where(source)}: model.cell.type {cell['type']!r} is a whole-clip read-out, now "
                  "model.readout.type (the old form still loads; move the section to model.readout)",
                  FutureWarning, stacklevel=2)
    return given


def is_release_config(raw: dict) -> bool:
    return "train_params" in raw or "cnn_type" in raw.get("model", {}) or "rnn_type" in raw.get("model", {})


def _where(source):
    return f" (in {source})" if source else ""


def _choice(table: dict, value, key: str, source: str):
    if value not in table:
        raise ConfigError(f"release config key {key!r}{_where(source)}: {value!r} is not supported; accepted: "
                          + ", ".join(repr(k) for k in table))
    return copy.deepcopy(table[value])


def _model(model: dict, out: dict, source: str) -> None:
    encoder, cell, decoder = out["model"]["encoder"], out["model"]["cell"], out["model"]["decoder"]
    readout = out["model"]["readout"]
    cnn_type, rnn_type = model.pop("cnn_type", None), model.pop("rnn_type", None)
    model_type = model.pop("model_type", None)
    camera = cnn_type in RELEASE_CAMERAS
    if camera:
        parts, frame_size, decoder_type = RELEASE_CAMERAS[cnn_type]
        encoder.update(parts["encoder"])
        readout.update(parts["readout"])
        out["data"]["frame_size"] = frame_size
        decoder.update({"normalize": False, **({"type": decoder_type} if decoder_type else {})})
    elif cnn_type is not None:  # the error lists encoders and cameras alike
        encoder.update(_choice({**RELEASE_CNN_TYPES, **RELEASE_CAMERAS}, cnn_type, "model.cnn_type", source))
    if rnn_type is not None and not camera:
        cell.update(_choice(RELEASE_RNN_TYPES, rnn_type, "model.rnn_type", source))
    if model_type is not None:
        parts = _choice(RELEASE_MODEL_TYPES, model_type, "model.model_type", source)
        decoder.update(parts["decoder"])
        readout.update(parts.get("readout", {}))
        if camera:
            decoder["normalize"] = False
    if readout:  # the release ignores rnn_type and rnn_params for the camera and CNN-only models
        cell.clear()
        out["model"]["cell"] = None
    for group, dest in (("cnn_params", encoder), ("rnn_params", cell)):
        params = model.pop(group, {})
        for key, fixed in _RELEASE_FIXED[group].items():
            if key in params:
                value = params.pop(key)
                if value != fixed:
                    raise ConfigError(f"release config key 'model.{group}.{key}'{_where(source)}: {value!r} is not "
                                      f"supported; accepted: {fixed!r}")
        kernel_size = params.pop("kernel_size", None)
        takes_kernel = dest.get("type") != "frames" if dest is encoder else not readout
        if kernel_size is not None and takes_kernel:
            dest["kernel_size"] = kernel_size
        for key in _PIXELRNN_INIT_SCALES:  # multiply the initial weights; no effect once they are signs
            if key in params:
                value = params.pop(key)
                if dest.get("type") == "pixelrnn":
                    dest[key] = value
        if params:
            raise ConfigError(f"unknown release config key(s) {sorted('model.' + group + '.' + k for k in params)}"
                              f"{_where(source)}")
    if model:
        raise ConfigError(f"unknown release config key(s) {sorted('model.' + k for k in model)}{_where(source)}")


def migrate_release_config(raw: dict, source: str = "") -> dict:
    """Map the release's config vocabulary onto this project's keys (returns a partial config)."""
    raw = copy.deepcopy(raw)
    out: dict = {"data": {}, "model": {"encoder": {}, "cell": {}, "readout": {}, "decoder": {}, "quantizers": {}},
                 "train": {}}
    model = raw.pop("model", {})
    train = raw.pop("train_params", {})

    for key, dest in (("name", "name"), ("seed", "seed"), ("path2weights", "weights"),
                      ("save_dir", "out_dir"), ("log_dir", "log_dir"), ("data_root", "data_root")):
        if key in raw:
            out[dest] = raw.pop(key)
    if "dataset" in raw:
        out["data"]["dataset"] = _choice(RELEASE_DATASETS, str(raw.pop("dataset")).lower(), "dataset", source)
    if "task" in raw:
        task = raw.pop("task")
        if task != "temporal":
            raise ConfigError(f"release config key 'task'{_where(source)}: {task!r} is not supported; accepted: 'temporal'")
    if "timesteps" in raw:
        out["data"]["timesteps"] = raw.pop("timesteps")
    if "batch_size" in raw:
        out["train"]["batch_size"] = raw.pop("batch_size")
    if "max_pool" in raw:
        if raw.pop("max_pool") not in (1, True):
            raise ConfigError(f"release config key 'max_pool'{_where(source)}: only 1 (max pooling on) is supported")
    _model(model, out, source)
    for section in ("encoder", "cell", "readout", "decoder"):
        if out["model"][section] == {}:  # a null cell stays: the read-out replaces it
            del out["model"][section]

    for key, dest in (("num_epochs", "epochs"), ("lr", "lr")):
        if key in train:
            out["train"][dest] = train.pop(key)
    if "lr_scheduler" in train:
        out["train"]["scheduler"] = _choice(RELEASE_SCHEDULERS, train.pop("lr_scheduler"),
                                            "train_params.lr_scheduler", source)
    if "optimizer" in train:
        out["train"]["optimizer"] = _choice(RELEASE_OPTIMIZERS, train.pop("optimizer"), "train_params.optimizer", source)
    if "loss" in train:
        out["train"]["loss"] = train.pop("loss")
    if "num_classes" in train:
        value = train.pop("num_classes")
        out["model"]["num_classes"] = None if value == "all" else value
    for key, site in RELEASE_QUANTIZER_KEYS.items():
        if key in train:
            out["model"]["quantizers"][site] = train.pop(key)
    for key, fixed in (("dropout", 0.0), ("duplicate_first_frame", False)):
        if key in train:
            value = train.pop(key)
            if value != fixed:
                raise ConfigError(f"release config key 'train_params.{key}'{_where(source)}: {value!r} is not "
                                  f"supported; accepted: {fixed!r}")
    if train:
        raise ConfigError(f"unknown release config key(s) {sorted('train_params.' + k for k in train)}{_where(source)}")
    # Anything left at the top level is either one of ours (e.g. 'noise') or unknown; the loader decides.
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out
