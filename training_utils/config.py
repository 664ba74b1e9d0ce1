"""Config loading: JSON -> migrate the release's vocabulary -> apply ``--set`` overrides -> recipe preset
under the explicit keys -> fill in and validate.

A config is a plain nested dict (JSON-serialisable, saved into every run directory). ``DEFAULTS`` below
is the schema of every fixed key with its default; ``_RULES`` says what each value may be. The model's
components (``model.encoder``, ``model.cell``, ``model.decoder``) are chosen by ``type`` from their
registries, and their keys, defaults and accepted values are those of the class's constructor (keyword
arguments with a default; the annotation says what a value may be). Unknown keys are errors, and every
error names the key, the bad value and what is accepted.
"""
from __future__ import annotations

import copy
import inspect
import json
import math
import types
import typing
import warnings
from pathlib import Path

import torch

from data_utils.dataset_builder import DATASETS
from data_utils.transforms import FILL_MODES, FRAME_SAMPLINGS, PREPROCESSINGS, SHORT_CLIP_POLICIES
from model_utils.classifier import REGISTRIES, build_component

from .errors import ConfigError
from .init_selection import HOLDOUTS
from .quantization import parse_quantizer_spec
from .recipes import RECIPES, preset
from .release_vocabulary import is_release_config, migrate_release_config, migrate_renamed_keys, renamed_key


QUANTIZER_SITES = ("cnn_weights", "cnn_output", "rnn_weights", "hidden", "gate", "final_conv", "linear")
COMPONENTS = {f"model.{section}": section for section in REGISTRIES}  # dotted key -> registry section

DEFAULTS = {
    "name": "run",
    "seed": 0,
    "device": "auto",
    "recipe": "project",    # "paper": the release's training recipe (training_utils/recipes.py); explicit keys win
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
        "augment": {"translate": 0, "per_frame": False, "hflip": False, "brightness": 0.0, "fill": "zero"},
        "short_clips": "repeat_last",  # a clip shorter than timesteps: "repeat_last" or "stretch_random"
        "cache": True,
        "cache_dir": None,
        "num_workers": 0,
        "irregular_clips": "warn",  # clips shorter than timesteps / frames of several sizes: "warn" or "refuse"
        "synthetic": {"clips_per_class": 100, "seed": 0},
    },
    "model": {
        "encoder": {"type": "binary_cnn"},   # + the keyword arguments of the chosen class
        "cell": {"type": "pixelrnn"},
        "decoder": {"type": "linear"},
        "quantizers": {
            "cnn_weights": "tanh_mx", "cnn_output": "tanh_mx", "rnn_weights": "tanh_mx",
            "hidden": "tanh_mx", "gate": "tanh_mx", "final_conv": "tanh_mx", "linear": "full",
        },
        "freeze_binary_weights": False,
        "num_classes": None,
        "compute": "auto",      # "native" (the C++ kernels of model_utils/kernels), "torch", or native where it applies
    },
    "noise": {"eval": False, "selection": False},
    "train": {
        "epochs": 30,
        "batch_size": 32,
        "eval_batch_size": 64,
        "optimizer": "adam",
        "lr": 1e-3,
        "binary_lr_scale": 1.0,  # the binary weights' latent values learn at lr x this
        "init_candidates": 1,  # train the best of this many initialisations (training_utils/init_selection.py)
        "init_holdout": "clips",  # or "subjects": score candidates on subjects their read-out fit never saw
        "binary_optimizer": "latent",  # or "bop": the binary weights flipped by Bop (training_utils/binary_optimizer.py)
        "bop": {"threshold": 1e-6, "gamma": 1e-3, "normalize": False, "max_flips": None, "reset_after_flip": False,
                "interval": 1},
        # keep a Bop step's flips only if they lower the loss on this many fixed training clips (0: off)
        "flip_verification": {"clips": 0, "margin": 0.0, "batchnorm": "running"},
        "recalibrate_batchnorm": True,  # BatchNorm statistics from the training clips before each evaluation
        "bound_parameters": True,  # clamp what modules declare in parameter_bounds() after each step
        "weight_decay": 0.0,
        "momentum": 0.9,
        "scheduler": "cosine",
        "plateau_patience": 5,
        "plateau_factor": 0.5,
        "plateau_monitor": "max val_accuracy",
        "loss": "cross_entropy",
        "loss_reduction": "mean",
        "label_smoothing": 0.0,
        "grad_clip": None,
        "monitor": "max val_accuracy",
        "early_stop_patience": None,
    },
}

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = ("plateau", "cosine", "none")
LOSSES = ("cross_entropy",)
MONITORS = ("max val_accuracy", "min val_loss")


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
    "recipe": _choice(*RECIPES),
    "data.dataset": _choice(*DATASETS),
    "data.split": _STR,
    "data.split_fractions.train": _number(0, 1, open_low=True),
    "data.split_fractions.val": _number(0, 1),
    "data.split_fractions.test": _number(0, 1),
    "data.split_seed": _int_at_least(0),
    "data.timesteps": _int_at_least(1),
    "data.frame_sampling": _choice(*FRAME_SAMPLINGS),
    "data.frame_size": _int_at_least(1),  # the encoder says which sizes it can pool
    "data.preprocessing": _choice(*PREPROCESSINGS),
    "data.augment.translate": _int_at_least(0),
    "data.augment.per_frame": _BOOL,
    "data.augment.hflip": _BOOL,
    "data.augment.brightness": _number(0, 1),
    "data.augment.fill": _choice(*FILL_MODES),
    "data.short_clips": _choice(*SHORT_CLIP_POLICIES),
    "data.cache": _BOOL,
    "data.cache_dir": _OPT_STR,
    "data.num_workers": _int_at_least(0),
    "data.irregular_clips": _choice("warn", "refuse"),
    "data.synthetic.clips_per_class": _int_at_least(1),
    "data.synthetic.seed": _int_at_least(0),
    **{f"model.quantizers.{site}": _QUANT for site in QUANTIZER_SITES},
    "model.freeze_binary_weights": _BOOL,
    "model.compute": _choice("auto", "native", "torch"),
    "model.num_classes": _rule(lambda v: v is None or (_is_int(v) and v >= 2), "null (from the dataset) or an integer >= 2"),
    "noise.eval": _BOOL,
    "noise.selection": _BOOL,
    "train.epochs": _int_at_least(0),
    "train.batch_size": _int_at_least(1),
    "train.eval_batch_size": _int_at_least(1),
    "train.optimizer": _choice(*OPTIMIZERS),
    "train.lr": _number(0, open_low=True),
    "train.binary_lr_scale": _number(0),
    "train.init_candidates": _int_at_least(1),
    "train.init_holdout": _choice(*HOLDOUTS),
    "train.binary_optimizer": _choice("latent", "bop"),
    "train.bop.threshold": _number(0),
    "train.bop.gamma": _number(0, 1, open_low=True),
    "train.bop.max_flips": _rule(lambda v: v is None or (_is_int(v) and v >= 1), "null or an integer >= 1"),
    "train.bop.reset_after_flip": _BOOL,
    "train.bop.normalize": _BOOL,
    "train.bop.interval": _int_at_least(1),
    "train.flip_verification.clips": _int_at_least(0),
    "train.flip_verification.margin": _number(0),
    "train.flip_verification.batchnorm": _choice("running", "batch"),
    "train.recalibrate_batchnorm": _BOOL,
    "train.bound_parameters": _BOOL,
    "train.weight_decay": _number(0),
    "train.momentum": _number(0, 1),
    "train.scheduler": _choice(*SCHEDULERS),
    "train.plateau_patience": _int_at_least(0),
    "train.plateau_factor": _number(0, 1, open_low=True),
    "train.plateau_monitor": _choice(*MONITORS),
    "train.loss": _choice(*LOSSES),
    "train.loss_reduction": _choice("mean", "sum"),
    "train.label_smoothing": _number(0, 1),
    "train.grad_clip": _rule(lambda v: v is None or (_is_number(v) and v > 0), "null or a number > 0"),
    "train.monitor": _choice(*MONITORS),
    "train.early_stop_patience": _rule(lambda v: v is None or (_is_int(v) and v >= 1), "null or an integer >= 1"),
}

# Keys whose value is a dict/list that is validated as a whole rather than key by key.
_LEAF_CONTAINERS = {f"model.quantizers.{s}" for s in QUANTIZER_SITES}


def get(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _where(source):
    return f" (in {source})" if source else ""


def _merge(defaults: dict, given: dict, prefix: str, source: str) -> dict:
    """Defaults updated by ``given``; unknown keys are errors listing the accepted ones. A component section
    is taken as given (its keys depend on its type; ``_resolve_component`` checks them)."""
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
            out[key] = ({**defaults[key], **copy.deepcopy(value)} if dotted in COMPONENTS
                        else _merge(defaults[key], value, dotted + ".", source))
        else:
            out[key] = value
    return out


def validate(cfg: dict, source: str = "") -> dict:
    """Check every fixed key against ``_RULES`` (components are checked by ``_resolve_component``)."""
    for dotted, (check, accepted) in _RULES.items():
        value = get(cfg, dotted)
        try:
            ok = check(value)
        except ValueError as err:  # quantizer specs explain themselves
            raise ConfigError(f"config key {dotted!r}{_where(source)}: {err}") from None
        if not ok:
            raise ConfigError(f"config key {dotted!r}{_where(source)} must be {accepted}, got {value!r}")
    if cfg["train"]["flip_verification"]["clips"] and cfg["train"]["binary_optimizer"] != "bop":
        raise ConfigError(f"config key 'train.flip_verification.clips'{_where(source)} verifies Bop's flips: it "
                          "needs train.binary_optimizer 'bop' (or 0 to turn verification off)")
    fractions = cfg["data"]["split_fractions"]
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ConfigError(f"config key 'data.split_fractions'{_where(source)} must sum to 1, got {fractions}")
    return cfg


# ----------------------------------------------------------------------------------------------
# Components: keys, defaults and accepted values from the registered class's constructor
# ----------------------------------------------------------------------------------------------
def component_parameters(section: str, type_name: str) -> dict[str, tuple]:
    """{config key: (default, annotation)} of a registered component: its keyword arguments with a default
    (those without one, e.g. the quantizers, are supplied by ``build_model``)."""
    cls = REGISTRIES[section].get_class(type_name)
    hints = typing.get_type_hints(cls.__init__)
    return {name: (param.default, hints.get(name, typing.Any))
            for name, param in inspect.signature(cls.__init__).parameters.items()
            if param.kind is param.KEYWORD_ONLY and param.default is not param.empty}


def _matches(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin in (list, tuple):
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    raise TypeError(f"config annotation {hint!r} is not supported")


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    if hint in names:
        return names[hint]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return f"a list of ({_describe(args[0])})"
    return str(hint)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def _resolve_component(dotted: str, settings: dict, source: str) -> dict:
    section = COMPONENTS[dotted]
    type_name = settings.get("type")
    if type_name not in REGISTRIES[section]:
        raise ConfigError(f"config key {dotted + '.type'!r}{_where(source)} must be one of "
                          + ", ".join(repr(n) for n in sorted(REGISTRIES[section])) + f", got {type_name!r}")
    params = component_parameters(section, type_name)
    unknown = sorted(set(settings) - {"type"} - set(params))
    if unknown:
        raise ConfigError(f"unknown config key {dotted + '.' + unknown[0]!r}{_where(source)} for {section} "
                          f"{type_name!r}; accepted keys: {', '.join(['type', *sorted(params)])}")
    out = {"type": type_name}
    for name, (default, hint) in params.items():
        value = settings.get(name, _jsonable(default))
        if not _matches(value, hint):
            raise ConfigError(f"config key {dotted + '.' + name!r}{_where(source)} must be {_describe(hint)}, "
                              f"got {value!r}")
        out[name] = value
    return out


def _check_components_build(cfg: dict, source: str) -> None:
    """Constructing the components runs their own checks (e.g. square channel counts) at load time."""
    quantizers, injected = cfg["model"]["quantizers"], {}
    with torch.random.fork_rng(devices=[]):  # no effect on the seeded initialisation that follows
        for dotted, section in COMPONENTS.items():
            try:
                component = build_component(section, get(cfg, dotted), quantizers, **injected.get(section, {}))
            except ValueError as err:
                raise ConfigError(f"config key {dotted!r}{_where(source)}: {err}") from None
            if section == "encoder":
                frame_size = cfg["data"]["frame_size"]
                try:
                    injected["decoder"] = {"map_size": component.output_size(frame_size)}
                except ValueError as err:  # max pooling would silently drop a remainder
                    raise ConfigError(f"config keys 'data.frame_size' {frame_size} and 'model.encoder.pool' "
                                      f"{get(cfg, dotted).get('pool')}{_where(source)} do not fit: {err}") from None


# ----------------------------------------------------------------------------------------------
# Overrides, recipe presets and loading
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


def _set_given(given: dict, key: str, value, source: str) -> None:
    """Put ``key`` = ``value`` into the explicitly given (partial) config; fixed keys are checked here, a
    component's keys when the component is resolved."""
    parts = key.split(".")
    node, defaults = given, DEFAULTS
    for i, part in enumerate(parts):
        dotted = ".".join(parts[: i + 1])
        in_component = any(dotted.startswith(c + ".") for c in COMPONENTS)
        if not in_component and (not isinstance(defaults, dict) or part not in defaults):
            level = ".".join(parts[:i]) or "top level"
            accepted = ", ".join(sorted(defaults)) if isinstance(defaults, dict) else "none (it is a value)"
            raise ConfigError(f"{source} {key}: unknown config key {dotted!r}; accepted keys at {level}: {accepted}")
        if i == len(parts) - 1:
            if isinstance(value, dict) and isinstance(node.get(part), dict) and dotted not in _LEAF_CONTAINERS:
                node[part] = {**node[part], **value}
            else:
                node[part] = value
        else:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source} {key}: {'.'.join(parts[: i + 1])!r} is a value, not a group")
            defaults = defaults.get(part) if isinstance(defaults, dict) else None


def _is_given(given: dict, dotted: str) -> bool:
    node = given
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def resolve(raw: dict, overrides: list[str] = (), source: str = "") -> dict:
    if not isinstance(raw, dict):
        raise ConfigError(f"config{_where(source)} must be a JSON object, got {type(raw).__name__}")
    given = migrate_release_config(raw, source) if is_release_config(raw) else copy.deepcopy(raw)
    migrate_renamed_keys(given, source)
    for text in overrides:
        key, value = parse_override(text)
        if renamed_key(key) != key:
            warnings.warn(f"--set {key}: {key} is now {renamed_key(key)} (the old name still works; rename it)",
                          FutureWarning, stacklevel=2)
        _set_given(given, renamed_key(key), value, source="--set")
    cfg = _merge(DEFAULTS, given, "", source)
    if cfg["recipe"] not in RECIPES:
        raise ConfigError(f"config key 'recipe'{_where(source)} must be one of "
                          + ", ".join(repr(r) for r in RECIPES) + f", got {cfg['recipe']!r}")
    for dotted, value in preset(cfg["recipe"], cfg).items():  # under the keys given explicitly
        section, _, name = dotted.rpartition(".")
        if _is_given(given, dotted) or (section in COMPONENTS and name not in component_parameters(
                COMPONENTS[section], get(cfg, section).get("type"))):
            continue
        get(cfg, section)[name] = value
    for dotted in COMPONENTS:
        section, _, name = dotted.rpartition(".")
        get(cfg, section)[name] = _resolve_component(dotted, get(cfg, dotted), source)
    validate(cfg, source)
    _check_components_build(cfg, source)
    return cfg


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
