"""Config loading: JSON -> migrate the release's vocabulary -> apply ``--set`` overrides -> recipe preset
under the explicit keys -> fill in and validate -> build the model once.

A config is a plain nested dict (JSON-serialisable, saved into every run directory). ``KEYS`` below declares
every fixed key once, by its dotted name: its default, its rule (what a value may be) and a line of help;
the default config (``DEFAULTS``), the validation and the key table of docs/configs.md
(``python -m training_utils.config --markdown``) are derived from it. Lists that other modules own (the
datasets, frame samplings, quantizer sites, compute paths, ...) are imported from them. The model's
components (``model.encoder``, ``model.cell`` or ``model.readout``, ``model.decoder``) are chosen by ``type`` from
their registries (a model has a recurrent cell or a whole-clip read-out: the other section is null), and their other keys, defaults and accepted values are those of the class's constructor
(keyword arguments with a default; the annotation says what a value may be). Last, the model is built once
with ``build_model``, the function the trainer builds it with, so what only the components can check (square
channel counts, pooling that fits the frame size, the native kernels' coverage) is an error at load time.
Unknown keys are errors, and every error names the key, the bad value and what is accepted.
"""
from __future__ import annotations

import copy
import inspect
import json
import math
import types
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from data_utils.dataset_builder import DATASETS, IRREGULAR_CLIP_POLICIES
from data_utils.transforms import FILL_MODES, FRAME_SAMPLINGS, PREPROCESSINGS, SHORT_CLIP_POLICIES
from model_utils.classifier import QUANTIZER_ROLES, REGISTRIES, STAGES, ModelConfigError, build_model
from model_utils.kernels import COMPUTE_CHOICES

from .errors import ConfigError
from .init_selection import HOLDOUTS
from .quantization import parse_quantizer_spec
from .recipes import RECIPES, preset
from .release_vocabulary import (is_release_config, migrate_readout_cells, migrate_release_config, migrate_renamed_keys,
                                 renamed_key)


COMPONENTS = {f"model.{section}": section for section in REGISTRIES}  # dotted key -> registry section
_STAGE_SECTIONS = tuple(f"model.{part}" for part in STAGES)


# ----------------------------------------------------------------------------------------------
# Rules: what a value may be, and the words that say so in errors and docs
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    check: Callable[[object], bool]
    accepted: str | Callable[[], str]  # a function where the choices can grow after import (registries)

    def text(self) -> str:
        return self.accepted() if callable(self.accepted) else self.accepted


class Key(NamedTuple):
    default: object
    rule: Rule
    help: str


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _one_of(options, sort: bool = False) -> Rule:
    """One of the names in ``options`` (a tuple, or a registry read when checking, so later registrations
    count)."""
    return Rule(lambda v: isinstance(v, str) and v in options,
                lambda: "one of " + ", ".join(repr(o) for o in (sorted(options) if sort else options)))


def _int_at_least(low) -> Rule:
    return Rule(lambda v: _is_int(v) and v >= low, f"an integer >= {low}")


def _number(low=None, high=None, open_low=False) -> Rule:
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
    return Rule(check, "a number" + (" " + " and ".join(bounds) if bounds else ""))


def _or_null(rule: Rule, null: str = "null") -> Rule:
    return Rule(lambda v: v is None or rule.check(v), f"{null} or {rule.text()}")


_BOOL = Rule(lambda v: isinstance(v, bool), "true or false")
_STR = Rule(lambda v: isinstance(v, str) and v != "", "a non-empty string")
_OPT_STR = _or_null(_STR)
_QUANT = Rule(lambda v: parse_quantizer_spec(v) is not None, "a quantizer spec")  # a bad spec explains itself
_DEVICE = Rule(lambda v: isinstance(v, str) and (v in ("auto", "cpu", "mps", "cuda") or v.startswith("cuda:")),
               "'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'")
_MONITOR = _one_of(("max val_accuracy", "min val_loss"))

def _quantizer_sites() -> dict[str, tuple[str, str]]:
    """{site: (constructor argument, who gets it)}; a site may serve several owners (the cell's and a
    read-out's kernels are both ``rnn_weights``)."""
    owners: dict[str, list[str]] = {}
    arguments: dict[str, str] = {}
    for owner, roles in QUANTIZER_ROLES.items():
        for argument, site in roles.items():
            owners.setdefault(site, []).append(owner)
            arguments[site] = argument
    return {site: (arguments[site], " or ".join(f"the {o.replace('readout', 'read-out')}" for o in names) + (" gets" if len(names) == 1 else " get"))
            for site, names in owners.items()}


# ----------------------------------------------------------------------------------------------
# Every fixed key, once: default, rule, help (the order is that of a saved config.json)
# ----------------------------------------------------------------------------------------------
KEYS: dict[str, Key] = {
    "name": Key("run", _STR, "run name: the run directory is `<out_dir>/<name>-<date>-<time>`"),
    "seed": Key(0, _int_at_least(0), "seed of the initialisation, the augmentation and the sensor-noise draws"),
    "device": Key("auto", _DEVICE, "where to run; `auto`: CUDA, else MPS, else the CPU"),
    "recipe": Key("project", _one_of(RECIPES),
                  "`paper`: the release's training recipe under the keys given explicitly "
                  "([paper_comparison.md](paper_comparison.md#two-recipes))"),
    "data_root": Key(None, _OPT_STR, "dataset folder; `--data-root` > this > `$PIXELRNN_DATA_ROOT/<dataset>` > "
                                     "`data/<dataset>`"),
    "weights": Key(None, _OPT_STR, "checkpoint for `--eval-only` and the sensor tools (release: `path2weights`)"),
    "out_dir": Key("runs", _STR, "parent folder of the run directories (release: `save_dir`)"),
    "log_dir": Key(None, _OPT_STR, "TensorBoard folder; null: `<run dir>/tensorboard` (release: `log_dir`)"),
    "data.dataset": Key("synthetic_gestures", _one_of(DATASETS), "which dataset (its layout and classes)"),
    "data.split": Key("seeded", _STR,
                      "`seeded` (clips drawn by `split_seed`), `seeded_by_subject` (whole subjects) or the path "
                      "of a split file"),
    "data.split_fractions.train": Key(0.8, _number(0, 1, open_low=True), "share of the clips in training "
                                                                          "(the three shares sum to 1)"),
    "data.split_fractions.val": Key(0.1, _number(0, 1), "share of the clips in validation (model selection)"),
    "data.split_fractions.test": Key(0.1, _number(0, 1), "share of the clips in the test split"),
    "data.split_seed": Key(0, _int_at_least(0), "seed of the seeded splits"),
    "data.timesteps": Key(16, _int_at_least(1), "frames per clip the model sees"),
    "data.frame_sampling": Key("spread", _one_of(FRAME_SAMPLINGS),
                               "which frames of a clip: `spread` evenly over it, `end` ending on its last frame, "
                               "`release` as the release did"),
    "data.frame_size": Key(64, _int_at_least(1), "side of the square model input in pixels (the encoder says "
                                                 "which sizes it can pool)"),
    "data.preprocessing": Key("release", _one_of(PREPROCESSINGS),
                              "frame to model input: `release` (ImageNet-normalised gray, as the release), "
                              "`unit` (gray in [0, 1] minus 0.5)"),
    "data.augment.translate": Key(0, _int_at_least(0), "training: random shift of up to this many pixels"),
    "data.augment.per_frame": Key(False, _BOOL, "draw the augmentation per frame (the release) instead of per clip"),
    "data.augment.hflip": Key(False, _BOOL, "training: flip half of the clips horizontally"),
    "data.augment.brightness": Key(0.0, _number(0, 1), "training: scale intensities by a factor within 1 +- this"),
    "data.augment.fill": Key("zero", _one_of(FILL_MODES), "what fills the border a shift uncovers: zero (in "
                                                          "model space), black (a black input pixel, as the release) "
                                                          "or the nearest edge pixel"),
    "data.short_clips": Key("repeat_last", _one_of(SHORT_CLIP_POLICIES), "a clip shorter than data.timesteps: "
                            "repeat its last frame, or stretch it by sorted random duplicate frames (the release)"),
    "data.cache": Key(True, _BOOL, "keep the preprocessed clips in a cache folder (faster from the second run)"),
    "data.cache_dir": Key(None, _OPT_STR, "the clip cache folder; null: `.cache/clips` in the repository"),
    "data.num_workers": Key(0, _int_at_least(0), "data-loader worker processes (0: load in the main process)"),
    "data.irregular_clips": Key("warn", _one_of(IRREGULAR_CLIP_POLICIES),
                                "clips shorter than `timesteps` or with frames of several sizes: warn and use them, "
                                "or refuse the dataset"),
    "data.synthetic.clips_per_class": Key(100, _int_at_least(1), "clips per class the synthetic datasets generate"),
    "data.synthetic.seed": Key(0, _int_at_least(0), "seed the synthetic datasets are generated with"),
    "model.encoder.type": Key("binary_cnn", _one_of(REGISTRIES["encoder"], sort=True),
                              "the in-pixel encoder; its other keys are its constructor's"),
    "model.cell.type": Key("pixelrnn", _one_of(REGISTRIES["cell"], sort=True),
                           "the in-pixel recurrent cell; its other keys are its constructor's (null where "
                           "`model.readout` is given)"),
    "model.readout.type": Key(None, _or_null(_one_of(REGISTRIES["readout"], sort=True)),
                              "a whole-clip read-out instead of a cell (the camera and single-frame baselines); its "
                              "other keys are its constructor's; null: the model has `model.cell`"),
    "model.decoder.type": Key("linear", _one_of(REGISTRIES["decoder"], sort=True),
                              "the off-sensor decoder; its other keys are its constructor's"),
    **{f"model.quantizers.{site}": Key("full" if site == "linear" else "tanh_mx", _QUANT,
                                       f"what {users} as `{argument}`: a quantizer name, `name:param` "
                                       "or an object with `name`")
       for site, (argument, users) in _quantizer_sites().items()},
    "model.freeze_binary_weights": Key(False, _BOOL, "keep the binary weights at the signs of their initialisation "
                                                     "(what the release did in effect)"),
    "model.num_classes": Key(None, _or_null(_int_at_least(2), "null (from the dataset)"),
                             "classes of the read-out; null: the dataset's"),
    "model.compute": Key("auto", _one_of(COMPUTE_CHOICES),
                         "what computes the on-sensor part: `native` (the C++ kernels of `model_utils/kernels`), "
                         "`torch`, or `auto` (native where they apply)"),
    "noise.eval": Key(False, _BOOL, "sensor noise on in evaluation (test and `--eval-only`)"),
    "noise.selection": Key(False, _BOOL, "sensor noise on in the validation pass that picks best.pt"),
    "train.epochs": Key(30, _int_at_least(0), "training epochs"),
    "train.batch_size": Key(32, _int_at_least(1), "training clips per step (the global batch under torchrun)"),
    "train.eval_batch_size": Key(64, _int_at_least(1), "clips per evaluation batch"),
    "train.optimizer": Key("adam", _one_of(("adam", "sgd")), "optimizer of the real-valued parameters"),
    "train.lr": Key(1e-3, _number(0, open_low=True), "learning rate"),
    "train.binary_lr_scale": Key(1.0, _number(0), "the binary weights' latent values learn at lr x this"),
    "train.init_candidates": Key(1, _int_at_least(1), "train the best of this many initialisations "
                                                      "(`training_utils/init_selection.py`)"),
    "train.init_trials": Key(1, _int_at_least(1),
                             "train the best this many candidates by the ridge score for `train.init_trial_epochs` "
                             "each, and the run from the start whose trial reached the highest mean of training "
                             "and validation accuracy (1: no trial)"),
    "train.init_trial_epochs": Key(2, _int_at_least(1), "epochs of each initialisation trial"),
    "train.init_trial_accept": Key(0.0, _number(0, 1),
                                   "try the candidates in the ridge score's order and take the first whose trial "
                                   "reaches this mean of training and validation accuracy (0: try them all)"),
    "train.restarts.max": Key(0, _int_at_least(0),
                              "train again from the next start in the ridge score's order, up to this many times, "
                              "after an attempt whose last epoch's training accuracy stays below "
                              "`train.restarts.below_train_accuracy`; best.pt is then the best of all attempts "
                              "(`train.best_from`; 0: off)"),
    "train.restarts.below_train_accuracy": Key(0.9, _number(0, 1),
                                               "an attempt that ends below this training accuracy restarts"),
    "train.init_holdout": Key("clips", _one_of(HOLDOUTS),
                              "what scores the candidates: held-out `clips`, or `subjects` their read-out fit never "
                              "saw"),
    "train.init_search.steps": Key(0, _int_at_least(0),
                                   "improve the start by this many proposed single sign flips, each kept if it raises "
                                   "the cross-validated ridge score (0: off; `training_utils/init_selection.py`); "
                                   "`model.freeze_binary_weights` then keeps the signs the search found"),
    "train.init_search.folds": Key(4, _int_at_least(2), "folds of that score, formed as `train.init_holdout` says"),
    "train.binary_optimizer": Key("latent", _one_of(("latent", "bop")),
                                  "`latent`: the optimizer trains latent real weights; `bop`: Bop flips the binary "
                                  "weights (`training_utils/binary_optimizer.py`)"),
    "train.bop.threshold": Key(1e-6, _number(0), "Bop: flip when the gradient's moving average exceeds this"),
    "train.bop.gamma": Key(1e-3, _number(0, 1, open_low=True), "Bop: rate of the gradient's moving average"),
    "train.bop.normalize": Key(False, _BOOL, "Bop: compare the moving average divided by its RMS with the "
                                             "threshold"),
    "train.bop.max_flips": Key(None, _or_null(_int_at_least(1)), "Bop: at most this many flips per tensor and "
                                                                 "step (null: no limit)"),
    "train.bop.reset_after_flip": Key(False, _BOOL, "Bop: a flipped weight's moving average restarts from 0"),
    "train.bop.interval": Key(1, _int_at_least(1), "Bop: consider flips every this many steps"),
    "train.bop.warmup": Key(0, _int_at_least(0), "Bop: no flips in a kernel's first this many steps (its averages "
                            "are still filling)"),
    "train.bop_later.after_epochs": Key(0, _int_at_least(0),
                                        "once this many epochs are done, Bop continues with `train.bop_later`'s "
                                        "threshold and interval (0: never)"),
    "train.bop_later.threshold": Key(0.25, _number(0), "Bop's threshold after `train.bop_later.after_epochs`"),
    "train.bop_later.interval": Key(4, _int_at_least(1), "Bop's interval after `train.bop_later.after_epochs`"),
    "train.flip_verification.clips": Key(0, _int_at_least(0),
                                         "keep a Bop step's flips only if they lower the loss on this many fixed "
                                         "training clips (0: off)"),
    "train.flip_verification.margin": Key(0.0, _number(0), "by how much the flips must lower that loss"),
    "train.flip_verification.batchnorm": Key("running", _one_of(("running", "batch")),
                                             "BatchNorm statistics the verification uses: the running averages or "
                                             "the verification clips' own"),
    "train.recalibrate_batchnorm": Key(True, _BOOL, "BatchNorm statistics from the training clips before each "
                                                    "evaluation"),
    "train.bound_parameters": Key(True, _BOOL, "clamp what modules declare in `parameter_bounds()` after each step"),
    "train.weight_decay": Key(0.0, _number(0), "weight decay of the optimizer"),
    "train.momentum": Key(0.9, _number(0, 1), "momentum of `sgd`"),
    "train.scheduler": Key("cosine", _one_of(("plateau", "cosine", "none")), "learning-rate schedule"),
    "train.lr_warmup_epochs": Key(0.0, _number(0),
                                  "the learning rate of `train.optimizer` rises linearly, step by step, to the "
                                  "scheduled rate over this many epochs at the start of every attempt (step i of "
                                  "the n warm-up steps takes i/n of it; 0: off)"),
    "train.plateau_patience": Key(5, _int_at_least(0), "plateau: epochs without improvement before lowering the "
                                                       "learning rate"),
    "train.plateau_factor": Key(0.5, _number(0, 1, open_low=True), "plateau: factor the learning rate is lowered by"),
    "train.plateau_monitor": Key("max val_accuracy", _MONITOR, "plateau: the value it watches"),
    "train.loss": Key("cross_entropy", _one_of(("cross_entropy",)), "training loss"),
    "train.loss_reduction": Key("mean", _one_of(("mean", "sum")), "the loss of a batch: mean or sum over its clips"),
    "train.label_smoothing": Key(0.0, _number(0, 1), "label smoothing of the cross entropy"),
    "train.grad_clip": Key(None, _or_null(_number(0, open_low=True)), "clip the gradient norm to this (null: off)"),
    "train.monitor": Key("max val_accuracy", _MONITOR, "what picks best.pt and drives early stopping"),
    "train.best_from": Key("every_epoch", _one_of(("every_epoch", "last_epoch")),
                           "the epochs best.pt is picked from by `train.monitor`: every epoch, or the last of each "
                           "attempt (`train.restarts`; without restarts: the last epoch)"),
    "train.early_stop_patience": Key(None, _or_null(_int_at_least(1)),
                                     "stop after this many epochs without improvement (null: never)"),
}


def _nested(flat: dict) -> dict:
    out: dict = {}
    for dotted, value in flat.items():
        *groups, name = dotted.split(".")
        node = out
        for group in groups:
            node = node.setdefault(group, {})
        node[name] = value
    return out


DEFAULTS = _nested({dotted: key.default for dotted, key in KEYS.items()})  # the config before anything is given


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
        if dotted not in KEYS:  # a group of keys
            if value is None and dotted in _STAGE_SECTIONS:  # the stage the model does not have
                out[key] = None
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"config key {dotted!r}{_where(source)} must be an object with keys "
                                  f"{', '.join(sorted(defaults[key]))}, got {value!r}")
            out[key] = ({**(defaults[key] or {}), **copy.deepcopy(value)} if dotted in COMPONENTS
                        else _merge(defaults[key], value, dotted + ".", source))
        else:
            out[key] = value
    return out


def _check(dotted: str, value, source: str) -> None:
    rule = KEYS[dotted].rule
    try:
        ok = rule.check(value)
    except ValueError as err:  # quantizer specs explain themselves
        raise ConfigError(f"config key {dotted!r}{_where(source)}: {err}") from None
    if not ok:
        raise ConfigError(f"config key {dotted!r}{_where(source)} must be {rule.text()}, got {value!r}")


def _absent_stage(cfg: dict, dotted: str) -> bool:
    """``dotted`` is in the stage section (cell or read-out) the model does not have (null)."""
    return any(dotted.startswith(section + ".") and get(cfg, section) is None for section in _STAGE_SECTIONS)


def _choose_stage(cfg: dict, given: dict, source: str) -> None:
    """Exactly one of model.cell and model.readout is in effect: a given read-out replaces the default cell
    (cell null), else the read-out is null. Both given is an error."""
    model, given_model = cfg["model"], given.get("model") or {}
    readout = model.get("readout")
    if readout is not None and readout.get("type") is None:
        if set(readout) != {"type"}:
            raise ConfigError(f"config key 'model.readout.type'{_where(source)} is null but model.readout gives "
                              f"{sorted(set(readout) - {'type'})}; name the read-out, e.g. model.readout.type "
                              "'single_frame'")
        readout = model["readout"] = None  # the default: no read-out
    if readout is not None:
        if given_model.get("cell") is not None:
            raise ConfigError(f"config{_where(source)} gives both model.cell ({given_model['cell']!r}) and "
                              f"model.readout ({given_model['readout']!r}); a model has a recurrent cell or a "
                              "whole-clip read-out: set the other to null")
        model["cell"] = None
    elif model.get("cell") is None:
        raise ConfigError(f"config{_where(source)}: model.cell is null and no model.readout is given; a model needs "
                          "a recurrent cell (model.cell.type) or a whole-clip read-out (model.readout.type)")


def validate(cfg: dict, source: str = "") -> dict:
    """Check every fixed key against its rule in ``KEYS`` (a component's own keys: ``_resolve_component``)."""
    for dotted in KEYS:
        if not _absent_stage(cfg, dotted):
            _check(dotted, get(cfg, dotted), source)
    if cfg["train"]["flip_verification"]["clips"] and cfg["train"]["binary_optimizer"] != "bop":
        raise ConfigError(f"config key 'train.flip_verification.clips'{_where(source)} verifies Bop's flips: it "
                          "needs train.binary_optimizer 'bop' (or 0 to turn verification off)")
    if cfg["train"]["init_trials"] > cfg["train"]["init_candidates"]:
        raise ConfigError(f"config key 'train.init_trials'{_where(source)} is {cfg['train']['init_trials']}: it "
                          f"tries some of the train.init_candidates ({cfg['train']['init_candidates']}) "
                          "initialisations, so it accepts 1..train.init_candidates")
    if cfg["train"]["init_trial_accept"] and cfg["train"]["init_trials"] == 1:
        raise ConfigError(f"config key 'train.init_trial_accept'{_where(source)} is "
                          f"{cfg['train']['init_trial_accept']}, but train.init_trials is 1, so no start is tried: "
                          "set train.init_trials to 2 or more, or train.init_trial_accept to 0")
    restarts = cfg["train"]["restarts"]["max"]
    if restarts and cfg["train"]["init_candidates"] < restarts + 1:
        raise ConfigError(f"config key 'train.restarts.max'{_where(source)} is {restarts}: each restart takes the "
                          f"next of the train.init_candidates ({cfg['train']['init_candidates']}) starts, so it "
                          "accepts 0..train.init_candidates - 1")
    if restarts and cfg["train"]["init_trials"] > 1:
        raise ConfigError(f"config key 'train.restarts.max'{_where(source)} is {restarts}, but train.init_trials is "
                          f"{cfg['train']['init_trials']}: a run either tries starts first or restarts a weak one; "
                          "set one of them to its off value (restarts.max 0, init_trials 1)")
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
    _check(f"{dotted}.type", type_name, source)
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


def _named(cfg: dict, keys: tuple[str, ...]) -> str:
    """The config keys a model error is the fault of: one key, or several with their values."""
    if len(keys) == 1:
        return f"config key {keys[0]!r}"
    shown = []
    for dotted in keys:
        try:
            shown.append(f"{dotted!r} {get(cfg, dotted)!r}")
        except KeyError:  # a key the chosen component does not have
            shown.append(repr(dotted))
    return "config keys " + " and ".join(shown)


def _check_model_builds(cfg: dict, source: str) -> None:
    """Build the model once with ``build_model``, as the trainer does: the components' own checks (e.g.
    square channel counts, pooling that fits the frame size) run at load time, under the keys at fault."""
    with torch.random.fork_rng(devices=[]):  # no effect on the seeded initialisation that follows
        try:
            build_model(cfg, None if cfg["model"]["num_classes"] else 2)  # the class count decides no check
        except ModelConfigError as err:
            fit = "" if len(err.keys) == 1 else " do not fit"
            raise ConfigError(f"{_named(cfg, err.keys)}{_where(source)}{fit}: {err}") from None


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
            if isinstance(value, dict) and isinstance(node.get(part), dict) and dotted not in KEYS:
                node[part] = {**node[part], **value}
            else:
                node[part] = value
        else:
            if node.get(part) is None and dotted in _STAGE_SECTIONS:  # e.g. --set model.cell.type=... on a null cell
                node[part] = {}
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
    migrate_readout_cells(given, source)  # an override may name a read-out as the cell type
    cfg = _merge(DEFAULTS, given, "", source)
    _choose_stage(cfg, given, source)
    _check("recipe", cfg["recipe"], source)  # the preset depends on it
    for dotted, value in preset(cfg["recipe"], cfg).items():  # under the keys given explicitly
        section, _, name = dotted.rpartition(".")
        if _is_given(given, dotted) or _absent_stage(cfg, dotted) or (section in COMPONENTS and name not in
                                                                       component_parameters(COMPONENTS[section],
                                                                                            get(cfg, section).get("type"))):
            continue
        get(cfg, section)[name] = value
    for dotted in COMPONENTS:
        section, _, name = dotted.rpartition(".")
        if get(cfg, dotted) is not None:
            get(cfg, section)[name] = _resolve_component(dotted, get(cfg, dotted), source)
    validate(cfg, source)
    _check_model_builds(cfg, source)
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


def markdown_table() -> str:
    """The table of every fixed key in docs/configs.md (``python -m training_utils.config --markdown``)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    lines = ["| key | default | accepted | what it sets |", "|---|---|---|---|"]
    lines += [f"| `{dotted}` | `{json.dumps(key.default)}` | {cell(key.rule.text())} | {cell(key.help)} |"
              for dotted, key in KEYS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training_utils.config",
                                     description="Print the fixed config keys as documentation.")
    parser.add_argument("--markdown", action="store_true", required=True,
                        help="the table of docs/configs.md: key, default, accepted values, what it sets")
    parser.parse_args()
    print(markdown_table(), end="")
