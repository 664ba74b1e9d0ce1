"""Config loading: JSON -> migrate the release's vocabulary -> apply ``--set`` overrides -> validate.

A config is a plain nested dict (JSON-serialisable, saved into every run directory). ``DEFAULTS`` below
is the complete schema: every accepted key with its default; ``_RULES`` says what each value may be.
Unknown keys are errors, and every error names the key, the bad value and what is accepted.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

from .quantization import parse_quantizer_spec

REPO_ROOT = Path(__file__).resolve().parents[1]

QUANTIZER_SITES = ("cnn_weights", "cnn_output", "rnn_weights", "hidden", "gate", "final_conv", "linear")

DEFAULTS = {
    "name": "run",
    "seed": 0,
    "device": "auto",
    "data_root": None,      # dataset folder; --data-root > this > $PIXELRNN_DATA_ROOT/<dataset> > data/<dataset>
    "weights": None,        # checkpoint for --eval-only / the sensor tools (release: path2weights)
    "out_dir": "runs",      # parent of run directories (release: save_dir)
    "log_dir": None,        # TensorBoard folder; default <run dir>/tensorboard (release: log_dir)
    "data": {
        "dataset": "synthetic_gestures",
        "split": "seeded",
        "split_fractions": {"train": 0.8, "val": 0.1, "test": 0.1},
        "split_seed": 0,
        "timesteps": 16,
        "frame_sampling": "spread",
        "frame_size": 64,
        "preprocessing": "release",
        "augment": {"translate": 0, "hflip": False, "brightness": 0.0, "fill": "zero"},
        "cache": True,
        "cache_dir": None,
        "num_workers": 0,
        "irregular_clips": "warn",  # clips shorter than timesteps / frames of several sizes: "warn" or "refuse"
        "synthetic": {"clips_per_class": 100, "seed": 0},
    },
    "model": {
        "encoder": {
            "type": "binary_cnn",
            "layers": 1,
            "channels": 16,
            "kernel_size": 5,
            "pool": [4],
            "input_threshold": False,
            "noise_std": 0.0,
            "threshold_init": 0.5,
        },
        "cell": {
            "type": "pixelrnn",
            "kernel_size": 5,
            "learned_threshold": False,
            "gate_noise_std": 0.0,
            "output_noise_std": 0.0,
            "out_weight_init_scale": 1.0,
            "hidden_weight_init_scale": 1.0,
        },
        "decoder": {"type": "linear"},
        "quantizers": {
            "cnn_weights": "tanh_mx", "cnn_output": "tanh_mx", "rnn_weights": "tanh_mx",
            "hidden": "tanh_mx", "gate": "tanh_mx", "final_conv": "tanh_mx", "linear": "full",
        },
        "freeze_binary_kernels": False,
        "num_classes": None,
    },
    "noise": {"eval": False},
    "train": {
        "epochs": 30,
        "batch_size": 32,
        "eval_batch_size": 64,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "momentum": 0.9,
        "scheduler": "cosine",
        "plateau_patience": 5,
        "plateau_factor": 0.5,
        "loss": "cross_entropy",
        "label_smoothing": 0.0,
        "grad_clip": None,
        "monitor": "max val_accuracy",
        "early_stop_patience": None,
    },
}

# Registries the config refers to by name (kept here so validation needs no heavy imports).
DATASETS = ("synthetic_gestures", "synthetic_lips", "cambridge", "tulips1", "clip_folder")
ENCODERS = ("binary_cnn",)
CELLS = ("pixelrnn", "conv_rnn", "conv_gru", "conv_lstm", "mgu", "single_frame")
DECODERS = ("linear",)
OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = ("plateau", "cosine", "none")
LOSSES = ("cross_entropy",)
MONITORS = ("max val_accuracy", "min val_loss")


class ConfigError(ValueError):
    """A config key or value that is not accepted; the message says which and what is."""


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _rule(check, accepted):
    return check, accepted


def _choice(*options):
    return _rule(lambda v: v in options, "one of " + ", ".join(repr(o) for o in options))


def _int_at_least(low):
    return _rule(lambda v: _is_int(v) and v >= low, f"an integer >= {low}")


def _number(low=None, high=None, open_low=False):
    def check(v):
        if not _is_number(v):
            return False
        if low is not None and (v <= low if open_low else v < low):
            return False
        return high is None or v <= high
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if open_low else '>='} {low}")
    if high is not None:
        bounds.append(f"<= {high}")
    return _rule(check, "a number" + (" " + " and ".join(bounds) if bounds else ""))


_BOOL = _rule(lambda v: isinstance(v, bool), "true or false")
_STR = _rule(lambda v: isinstance(v, str) and v != "", "a non-empty string")
_OPT_STR = _rule(lambda v: v is None or (isinstance(v, str) and v != ""), "null or a non-empty string")
_QUANT = _rule(lambda v: parse_quantizer_spec(v) is not None, "a quantizer spec")

_RULES = {
    "name": _STR,
    "seed": _int_at_least(0),
    "device": _rule(lambda v: isinstance(v, str) and (v in ("auto", "cpu", "mps", "cuda") or v.startswith("cuda:")),
                    "'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'"),
    "data_root": _OPT_STR,
    "weights": _OPT_STR,
    "out_dir": _STR,
    "log_dir": _OPT_STR,
    "data.dataset": _choice(*DATASETS),
    "data.split": _STR,
    "data.split_fractions.train": _number(0, 1, open_low=True),
    "data.split_fractions.val": _number(0, 1),
    "data.split_fractions.test": _number(0, 1),
    "data.split_seed": _int_at_least(0),
    "data.timesteps": _int_at_least(1),
    "data.frame_sampling": _choice("spread", "end"),
    "data.frame_size": _rule(lambda v: _is_int(v) and v >= 8 and v % 4 == 0, "an integer >= 8, multiple of 4"),
    "data.preprocessing": _choice("release", "unit"),
    "data.augment.translate": _int_at_least(0),
    "data.augment.hflip": _BOOL,
    "data.augment.brightness": _number(0, 1),
    "data.augment.fill": _choice("zero", "edge"),
    "data.cache": _BOOL,
    "data.cache_dir": _OPT_STR,
    "data.num_workers": _int_at_least(0),
    "data.irregular_clips": _choice("warn", "refuse"),
    "data.synthetic.clips_per_class": _int_at_least(1),
    "data.synthetic.seed": _int_at_least(0),
    "model.encoder.type": _choice(*ENCODERS),
    "model.encoder.layers": _choice(1, 2),
    "model.encoder.channels": _rule(lambda v: _is_int(v) and v >= 1 and int(math.isqrt(v)) ** 2 == v,
                                    "a square integer (the maps are tiled into a square mosaic), e.g. 16"),
    "model.encoder.kernel_size": _rule(lambda v: _is_int(v) and v >= 1 and v % 2 == 1, "an odd integer >= 1"),
    "model.encoder.pool": _rule(lambda v: isinstance(v, list) and len(v) >= 1 and all(_is_int(p) and p >= 1 for p in v),
                                "a list of integer pool sizes, one per encoder layer, e.g. [4] or [2, 2]"),
    "model.encoder.input_threshold": _BOOL,
    "model.encoder.noise_std": _number(0),
    "model.encoder.threshold_init": _number(),
    "model.cell.type": _choice(*CELLS),
    "model.cell.kernel_size": _rule(lambda v: _is_int(v) and v >= 1 and v % 2 == 1, "an odd integer >= 1"),
    "model.cell.learned_threshold": _BOOL,
    "model.cell.gate_noise_std": _number(0),
    "model.cell.output_noise_std": _number(0),
    "model.cell.out_weight_init_scale": _number(0, open_low=True),
    "model.cell.hidden_weight_init_scale": _number(0, open_low=True),
    "model.decoder.type": _choice(*DECODERS),
    **{f"model.quantizers.{site}": _QUANT for site in QUANTIZER_SITES},
    "model.freeze_binary_kernels": _BOOL,
    "model.num_classes": _rule(lambda v: v is None or (_is_int(v) and v >= 2), "null (from the dataset) or an integer >= 2"),
    "noise.eval": _BOOL,
    "train.epochs": _int_at_least(0),
    "train.batch_size": _int_at_least(1),
    "train.eval_batch_size": _int_at_least(1),
    "train.optimizer": _choice(*OPTIMIZERS),
    "train.lr": _number(0, open_low=True),
    "train.weight_decay": _number(0),
    "train.momentum": _number(0, 1),
    "train.scheduler": _choice(*SCHEDULERS),
    "train.plateau_patience": _int_at_least(0),
    "train.plateau_factor": _number(0, 1, open_low=True),
    "train.loss": _choice(*LOSSES),
    "train.label_smoothing": _number(0, 1),
    "train.grad_clip": _rule(lambda v: v is None or (_is_number(v) and v > 0), "null or a number > 0"),
    "train.monitor": _choice(*MONITORS),
    "train.early_stop_patience": _rule(lambda v: v is None or (_is_int(v) and v >= 1), "null or an integer >= 1"),
}

# Keys whose value is a dict/list that is validated as a whole rather than key by key.
_LEAF_CONTAINERS = {"model.encoder.pool"} | {f"model.quantizers.{s}" for s in QUANTIZER_SITES}


def get(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _where(source):
    return f" (in {source})" if source else ""


def _merge(defaults: dict, given: dict, prefix: str, source: str) -> dict:
    """Defaults updated by ``given``; unknown keys are errors listing the accepted ones."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            level = prefix.rstrip(".") or "top level"
            raise ConfigError(f"unknown config key {dotted!r}{_where(source)}; accepted keys at {level}: "
                              + ", ".join(sorted(defaults)))
        if isinstance(defaults[key], dict) and dotted not in _LEAF_CONTAINERS:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r}{_where(source)} must be an object with keys "
                                  f"{', '.join(sorted(defaults[key]))}, got {value!r}")
            out[key] = _merge(defaults[key], value, dotted + ".", source)
        else:
            out[key] = value
    return out


def validate(cfg: dict, source: str = "") -> dict:
    for dotted, (check, accepted) in _RULES.items():
        value = get(cfg, dotted)
        try:
            ok = check(value)
        except ValueError as err:  # quantizer specs explain themselves
            raise ConfigError(f"config key {dotted!r}{_where(source)}: {err}") from None
        if not ok:
            raise ConfigError(f"config key {dotted!r}{_where(source)} must be {accepted}, got {value!r}")
    fractions = cfg["data"]["split_fractions"]
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ConfigError(f"config key 'data.split_fractions'{_where(source)} must sum to 1, got {fractions}")
    check_geometry(cfg, source)
    return cfg


def check_geometry(cfg: dict, source: str = "") -> None:
    """Frame size, pooling and layers must fit together exactly: max pooling would silently drop a
    remainder, and the map sizes the model is built for would not be the ones its layers produce."""
    encoder, frame_size = cfg["model"]["encoder"], cfg["data"]["frame_size"]
    pools = encoder["pool"]
    if len(pools) != encoder["layers"]:
        raise ConfigError(f"config key 'model.encoder.pool'{_where(source)} needs one pool size per encoder layer "
                          f"({encoder['layers']}), got {pools}")
    size = frame_size
    for layer, pool in enumerate(pools, start=1):
        if size % pool:
            total = math.prod(pools)
            step = math.lcm(total, 4)  # frame sizes are multiples of 4
            below, above = frame_size // step * step, (frame_size // step + 1) * step
            sizes = f"{below} or {above}" if below >= 8 else f"{above}"
            raise ConfigError(
                f"config keys 'data.frame_size' {frame_size} and 'model.encoder.pool' {pools}{_where(source)} do not "
                f"fit: encoder layer {layer} max-pools {size} x {size} maps by {pool}, which leaves a remainder. "
                f"Accepted: a frame size divisible by {total} (the product of the pool sizes), e.g. {sizes}, "
                f"or pool sizes whose product divides {frame_size}")
        size //= pool


# ----------------------------------------------------------------------------------------------
# The release's vocabulary
# ----------------------------------------------------------------------------------------------
RELEASE_CNN_TYPES = {
    "CNN_k5_single_layer_relu_mp_thresh_quantized": {"layers": 1, "pool": [4]},
    "CNN_k5_two_layer_relu_mp_thresh_quantized": {"layers": 2, "pool": [2, 2]},
    "CNN_noise": {"layers": 1, "pool": [4], "noise_std": 0.6},
    "CNN_noise_lip": {"layers": 1, "pool": [4], "noise_std": 0.6, "input_threshold": True},
}
RELEASE_RNN_TYPES = {
    "rnn_1_qt": {"type": "pixelrnn"},
    "rnn_1_mul_noise_fixed": {"type": "pixelrnn", "learned_threshold": True,
                              "gate_noise_std": 0.6, "output_noise_std": 1.0},
    "rnn_1_mul_noise": {"type": "pixelrnn", "learned_threshold": True,
                        "gate_noise_std": 0.6, "output_noise_std": 1.0},
}
RELEASE_DATASETS = {"cambridge": "cambridge", "tulips1": "tulips1", "tulips": "tulips1", "lips": "tulips1"}
RELEASE_SCHEDULERS = {"ReduceLROnPlateau": "plateau", "CosineAnnealingLR": "cosine", "none": "none"}
RELEASE_OPTIMIZERS = {"Adam": "adam", "SGD": "sgd"}
RELEASE_QUANTIZER_KEYS = {
    "cnn_method": "cnn_weights", "cnn_output_quantization": "cnn_output", "rnn_method": "rnn_weights",
    "hidden_quantization": "hidden", "gate_quantization": "gate", "final_conv_method": "final_conv",
    "linear_method": "linear",
}
# Release keys that only record a fixed property of the one architecture it had: value accepted -> value.
_RELEASE_FIXED = {
    "cnn_params": {"dr_rate": 0.0, "dilation": 1, "stride": 1, "groups": 1, "bias": False},
    "rnn_params": {"dilation": 1, "stride": 1, "groups": 1, "rnn_num_layers": 1, "rnn_hidden_size": 1, "bias": False},
}


def is_release_config(raw: dict) -> bool:
    return "train_params" in raw or "cnn_type" in raw.get("model", {})


def _release_choice(table: dict, value, key: str, source: str):
    if value not in table:
        raise ConfigError(f"release config key {key!r}{_where(source)}: {value!r} is not supported; accepted: "
                          + ", ".join(repr(k) for k in table))
    return table[value]


def migrate_release_config(raw: dict, source: str = "") -> dict:
    """Map the release's config vocabulary onto this project's keys (returns a partial config)."""
    raw = copy.deepcopy(raw)
    out: dict = {"data": {}, "model": {"encoder": {}, "cell": {}, "quantizers": {}}, "train": {}}
    model = raw.pop("model", {})
    train = raw.pop("train_params", {})

    for key, dest in (("name", "name"), ("seed", "seed"), ("path2weights", "weights"),
                      ("save_dir", "out_dir"), ("log_dir", "log_dir"), ("data_root", "data_root")):
        if key in raw:
            out[dest] = raw.pop(key)
    if "dataset" in raw:
        out["data"]["dataset"] = _release_choice(RELEASE_DATASETS, str(raw.pop("dataset")).lower(), "dataset", source)
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

    if "cnn_type" in model:
        out["model"]["encoder"].update(_release_choice(RELEASE_CNN_TYPES, model.pop("cnn_type"), "model.cnn_type", source))
    if "rnn_type" in model:
        out["model"]["cell"].update(_release_choice(RELEASE_RNN_TYPES, model.pop("rnn_type"), "model.rnn_type", source))
    for group, dest in (("cnn_params", "encoder"), ("rnn_params", "cell")):
        params = model.pop(group, {})
        for key, fixed in _RELEASE_FIXED[group].items():
            if key in params:
                value = params.pop(key)
                if value != fixed:
                    raise ConfigError(f"release config key 'model.{group}.{key}'{_where(source)}: {value!r} is not "
                                      f"supported; accepted: {fixed!r}")
        if "kernel_size" in params:
            out["model"][dest]["kernel_size"] = params.pop("kernel_size")
        if dest == "cell":
            for key in ("out_weight_init_scale", "hidden_weight_init_scale"):
                if key in params:
                    out["model"]["cell"][key] = params.pop(key)
        if params:
            raise ConfigError(f"unknown release config key(s) {sorted('model.' + group + '.' + k for k in params)}"
                              f"{_where(source)}")
    if model:
        raise ConfigError(f"unknown release config key(s) {sorted('model.' + k for k in model)}{_where(source)}")

    simple = {"num_epochs": "epochs", "lr": "lr"}
    for key, dest in simple.items():
        if key in train:
            out["train"][dest] = train.pop(key)
    if "lr_scheduler" in train:
        out["train"]["scheduler"] = _release_choice(RELEASE_SCHEDULERS, train.pop("lr_scheduler"),
                                                    "train_params.lr_scheduler", source)
    if "optimizer" in train:
        out["train"]["optimizer"] = _release_choice(RELEASE_OPTIMIZERS, train.pop("optimizer"),
                                                    "train_params.optimizer", source)
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
    # Anything left at the top level is either one of ours (e.g. 'noise') or unknown; _merge decides.
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


# ----------------------------------------------------------------------------------------------
# Overrides and loading
# ----------------------------------------------------------------------------------------------
def parse_override(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key.path=value, e.g. train.lr=0.001")
    key, _, raw = text.partition("=")
    key = key.strip()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # bare strings need no quotes: --set data.dataset=cambridge
    return key, value


def apply_override(cfg: dict, key: str, value) -> None:
    parts = key.split(".")
    node, defaults = cfg, DEFAULTS
    for i, part in enumerate(parts):
        dotted = ".".join(parts[: i + 1])
        if not isinstance(defaults, dict) or part not in defaults:
            level = ".".join(parts[:i]) or "top level"
            accepted = ", ".join(sorted(defaults)) if isinstance(defaults, dict) else "none (it is a value)"
            raise ConfigError(f"--set {key}: unknown config key {dotted!r}; accepted keys at {level}: {accepted}")
        if i == len(parts) - 1:
            if isinstance(defaults[part], dict) and dotted not in _LEAF_CONTAINERS:
                if not isinstance(value, dict):
                    raise ConfigError(f"--set {key}: {dotted!r} is a group; set one of its keys: "
                                      + ", ".join(sorted(defaults[part])))
                node[part] = _merge(node[part], value, dotted + ".", "--set")
            else:
                node[part] = value
        else:
            node, defaults = node[part], defaults[part]


def resolve(raw: dict, overrides: list[str] = (), source: str = "") -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"config{_where(source)} must be a JSON object, got {type(raw).__name__}")
    if is_release_config(raw):
        raw = migrate_release_config(raw, source)
    cfg = _merge(DEFAULTS, raw, "", source)
    for text in overrides:
        apply_override(cfg, *parse_override(text))
    return validate(cfg, source)


def load_config(path, overrides: list[str] = ()) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"config file {path} is not valid JSON: {err}") from None
    return resolve(raw, overrides, source=str(path))


def dumps(cfg: dict) -> str:
    return json.dumps(cfg, indent=2, sort_keys=False) + "\n"
