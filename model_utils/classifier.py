"""The full model: in-pixel encoder -> in-pixel recurrent cell -> off-sensor decoder on o_T.

Decoder (the release's): 1x1 conv with one binary weight -> BatchNorm2d(1) -> tanh -> minus a learned
threshold -> flatten -> linear layer. Its parameters sit at the top level under the release's names
(``fin_conv``, ``fin_convpost.0``, ``thresh3``, ``fc``) so released checkpoints load strictly.
"""
from __future__ import annotations

import torch
from torch import nn

from training_utils.quantization import build_quantizer

from .binary_layers import BinaryConv2d, QuantizedLinear, binary_weights
from .cells import CELLS
from .encoders import ENCODERS
from .kernels import KERNEL_CHOICES, load_native_kernels, native_coverage, native_encode, uses_native_kernels
from .tracing import Traceable, tracing


class InPixelClassifier(Traceable, nn.Module):
    def __init__(self, encoder: nn.Module, cell: nn.Module, num_classes: int, map_size: int,
                 final_conv_quantizer, linear_quantizer):
        super().__init__()
        self.cnn_model = encoder
        self.rnn_model = cell
        self.fin_conv = BinaryConv2d(1, 1, 1, final_conv_quantizer)
        self.fin_convpost = nn.Sequential(nn.BatchNorm2d(1))
        self.thresh3 = nn.Parameter(torch.zeros(1))
        self.fc = QuantizedLinear(map_size * map_size, num_classes, linear_quantizer)
        self.map_size = map_size
        self.num_classes = num_classes
        self.kernels = "auto"  # model.kernels: which path computes encode() (model_utils/kernels)

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """The on-sensor part: clips (B, T, 1, S, S) -> o_T (B, 1, M, M), the map read off the sensor."""
        if uses_native_kernels(self, clips):
            return native_encode(self, clips)
        return self.rnn_model(self.cnn_model(clips))

    def decode(self, readout: torch.Tensor) -> torch.Tensor:
        """The off-sensor part: o_T (B, 1, M, M) -> logits (B, classes)."""
        y = self.fin_convpost(self.fin_conv(readout))
        y = torch.tanh(y) - self.thresh3
        return self.fc(y.flatten(1))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(clips))

    def tracing(self):
        return tracing(self)

    def sensor_parameters(self):
        """Parameters that live on the sensor (kernels and thresholds of encoder and cell, fin_conv)."""
        return [*self.cnn_model.parameters(), *self.rnn_model.parameters(), self.fin_conv.weight]

    def decoder_parameters(self):
        """Parameters trained when finetuning the decoder on sensor outputs (BatchNorm, thresh3, fc)."""
        return [*self.fin_convpost.parameters(), self.thresh3, *self.fc.parameters()]


def build_model(cfg: dict, num_classes: int | None = None) -> InPixelClassifier:
    """Build the classifier a resolved config describes (``num_classes`` from the dataset if the config
    leaves it null)."""
    model_cfg = cfg["model"]
    classes = model_cfg["num_classes"] or num_classes
    if classes is None:
        raise ValueError("the number of classes is unknown: set model.num_classes or build the model from a dataset")
    if model_cfg["num_classes"] and num_classes and model_cfg["num_classes"] != num_classes:
        raise ValueError(f"config model.num_classes = {model_cfg['num_classes']} but the dataset has {num_classes} classes")
    q = model_cfg["quantizers"]
    enc_cfg = dict(model_cfg["encoder"])
    encoder = ENCODERS.get_class(enc_cfg.pop("type"))(
        weight_quantizer=build_quantizer(q["cnn_weights"]), output_quantizer=build_quantizer(q["cnn_output"]),
        **enc_cfg)
    cell_cfg = dict(model_cfg["cell"])
    cell = CELLS.get_class(cell_cfg.pop("type"))(
        weight_quantizer=build_quantizer(q["rnn_weights"]), gate_quantizer=build_quantizer(q["gate"]),
        hidden_quantizer=build_quantizer(q["hidden"]), **cell_cfg)
    model = InPixelClassifier(encoder, cell, classes, encoder.output_size(cfg["data"]["frame_size"]),
                              build_quantizer(q["final_conv"]), build_quantizer(q["linear"]))
    model.kernels = model_cfg["kernels"]
    if model.kernels == "native":  # asked for explicitly: say now, not at the first batch, if it cannot be
        reason = native_coverage(model)
        if reason is not None:
            raise ValueError(f"model.kernels is 'native' but {reason}; accepted: {', '.join(KERNEL_CHOICES)}")
        load_native_kernels()
    if model_cfg["freeze_binary_kernels"]:
        # The release's de-facto behaviour (its kernels stayed at the signs of their initialisation).
        for _, param in binary_weights(model):
            param.requires_grad_(False)
    return model
