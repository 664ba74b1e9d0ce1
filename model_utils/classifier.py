"""The full model: in-pixel encoder -> in-pixel stage -> off-sensor decoder on what is read off the sensor.
The stage is a recurrent cell (``.cell``, config ``model.cell``) or a whole-clip read-out (``.readout``,
config ``model.readout``); ``.stage`` is whichever the model has.

Read-out normalisation (the release's, when the decoder's ``normalize`` is on): 1x1 conv with one binary
weight -> BatchNorm2d(1) -> tanh -> minus a learned threshold. Its parameters and the final linear layer
sit at the top level under the release's names (``fin_conv``, ``fin_convpost.0``, ``thresh3``, ``fc``) so
released checkpoints load strictly. With several read-out maps per clip (per-frame baselines) the logits
of each map are summed and divided by the stage's ``readout_divisor``, as the release did.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from training_utils.quantization import build_quantizer

from .binary_layers import BinaryConv2d, QuantizedLinear, binary_weights
from .cells import CELLS
from .clip_readouts import CLIP_READOUTS
from .decoders import DECODERS
from .encoders import ENCODERS
from .kernels import load_native_kernels, set_compute
from .tracing import Traceable, tracing


class InPixelClassifier(Traceable, nn.Module):
    def __init__(self, encoder: nn.Module, stage: nn.Module, decoder: nn.Module, num_classes: int, map_size: int,
                 timesteps: int, final_conv_quantizer, linear_quantizer):
        super().__init__()
        self.encoder = encoder
        self.stage_part = stage.part  # "cell" or "readout": the attribute, hence the checkpoint keys' prefix
        setattr(self, self.stage_part, stage)
        if decoder.normalize:
            self.fin_conv = BinaryConv2d(1, 1, 1, final_conv_quantizer)
            self.fin_convpost = nn.Sequential(nn.BatchNorm2d(1))
            self.thresh3 = nn.Parameter(torch.zeros(1))
        self.decoder = decoder
        self.fc = QuantizedLinear(decoder.out_features, num_classes, linear_quantizer)
        self.map_size = map_size
        self.timesteps = timesteps
        self.num_classes = num_classes
        self.compute = "auto"

    @property
    def compute(self) -> str:
        """model.compute: which path computes the on-sensor components (model_utils/kernels/dispatch.py).
        Assigning it gives each component its path; "native" raises if one is not covered."""
        return self._compute

    @compute.setter
    def compute(self, value: str) -> None:
        set_compute(self, value)
        self._compute = value

    @property
    def stage(self) -> nn.Module:
        """The in-pixel stage between encoder and decoder: the cell or the whole-clip read-out."""
        return getattr(self, self.stage_part)

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """The on-sensor part: clips (B, T, 1, S, S) -> read-out (B, K, M, M), the maps read off the sensor."""
        return self.stage(self.encoder(clips))

    def decode(self, readout: torch.Tensor) -> torch.Tensor:
        """The off-sensor part: read-out (B, K, M, M) -> logits (B, classes)."""
        batch, maps = readout.shape[:2]
        y = readout.reshape(batch * maps, 1, *readout.shape[2:])
        if self.decoder.normalize:
            y = torch.tanh(self.fin_convpost(self.fin_conv(y))) - self.thresh3
        logits = self.fc(self.decoder(y)).reshape(batch, maps, -1).sum(1)
        divisor = self.stage.readout_divisor(maps)
        return logits if divisor == 1 else logits / divisor

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(clips))

    def tracing(self):
        return tracing(self)

    def sensor_parameters(self):
        """Parameters that live on the sensor (kernels and thresholds of encoder and stage, fin_conv)."""
        own = [self.fin_conv.weight] if self.decoder.normalize else []
        return [*self.encoder.parameters(), *self.stage.parameters(), *own]

    def decoder_parameters(self):
        """Parameters trained when finetuning the decoder on sensor outputs (BatchNorm, thresh3, decoder, fc)."""
        norm = [*self.fin_convpost.parameters(), self.thresh3] if self.decoder.normalize else []
        return [*norm, *self.decoder.parameters(), *self.fc.parameters()]


QUANTIZER_ROLES = {  # who gets which quantizer: constructor argument -> config site (model.quantizers.<site>)
    "encoder": {"weight_quantizer": "cnn_weights", "output_quantizer": "cnn_output"},
    "cell": {"weight_quantizer": "rnn_weights", "hidden_quantizer": "hidden", "gate_quantizer": "gate"},
    "readout": {"weight_quantizer": "rnn_weights"},
    "decoder": {},
    "classifier": {"final_conv_quantizer": "final_conv", "linear_quantizer": "linear"},
}
REGISTRIES = {"encoder": ENCODERS, "cell": CELLS, "readout": CLIP_READOUTS, "decoder": DECODERS}
STAGES = ("cell", "readout")  # exactly one of these sections is in effect (the other is null)


class ModelConfigError(ValueError):
    """The config describes a model that cannot be built; ``keys`` are the config keys at fault (the config
    loader reports the error under them)."""

    def __init__(self, message: str, keys: tuple[str, ...]):
        super().__init__(message)
        self.keys = keys


@contextlib.contextmanager
def _fault_of(*keys: str):
    """A ValueError raised within is the fault of these config keys."""
    try:
        yield
    except ModelConfigError:
        raise
    except ValueError as err:
        raise ModelConfigError(str(err), keys) from err


def _quantizers(owner: str, quantizers: dict) -> dict:
    """{constructor argument: quantizer} of ``owner`` from the config's ``model.quantizers``."""
    return {arg: build_quantizer(quantizers[site]) for arg, site in QUANTIZER_ROLES[owner].items()}


def build_component(section: str, settings: dict, quantizers: dict, **injected):
    """The encoder, cell, read-out or decoder a resolved config section describes."""
    settings = dict(settings)
    cls = REGISTRIES[section].get_class(settings.pop("type"))
    return cls(**_quantizers(section, quantizers), **injected, **settings)


def stage_part(model_cfg: dict) -> str:
    """Which stage a resolved ``model`` section has: ``readout`` where one is given, else ``cell``."""
    return "readout" if model_cfg.get("readout") is not None else "cell"


def build_model(cfg: dict, num_classes: int | None = None) -> InPixelClassifier:
    """Build the classifier a resolved config describes (``num_classes`` from the dataset if the config
    leaves it null). The one place that wires the components; the config loader builds the model once with
    it, so a config that loads builds. A ValueError it raises is a ``ModelConfigError`` naming the keys."""
    model_cfg = cfg["model"]
    classes = model_cfg["num_classes"] or num_classes
    if classes is None:
        raise ModelConfigError("the number of classes is unknown: set model.num_classes or build the model from a "
                               "dataset", ("model.num_classes",))
    if model_cfg["num_classes"] and num_classes and model_cfg["num_classes"] != num_classes:
        raise ModelConfigError(f"config model.num_classes = {model_cfg['num_classes']} but the dataset has "
                               f"{num_classes} classes", ("model.num_classes",))
    q = model_cfg["quantizers"]
    with _fault_of("model.encoder"):
        encoder = build_component("encoder", model_cfg["encoder"], q)
    part = stage_part(model_cfg)
    with _fault_of(f"model.{part}"):
        stage = build_component(part, model_cfg[part], q)
    with _fault_of("data.frame_size", "model.encoder.pool"):  # max pooling would silently drop a remainder
        map_size = encoder.output_size(cfg["data"]["frame_size"])
    with _fault_of("model.decoder"):
        decoder = build_component("decoder", model_cfg["decoder"], q, map_size=map_size)
    model = InPixelClassifier(encoder, stage, decoder, classes, map_size, cfg["data"]["timesteps"],
                              **_quantizers("classifier", q))
    with _fault_of("model.compute"):
        model.compute = model_cfg["compute"]
    if model.compute == "native":  # asked for explicitly: say now, not at the first batch, if they cannot load
        load_native_kernels()
    if model_cfg["freeze_binary_weights"]:
        # The release's de-facto behaviour (its kernels stayed at the signs of their initialisation).
        for _, param in binary_weights(model):
            param.requires_grad_(False)
    return model
