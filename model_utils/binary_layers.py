"""Layers whose weights are latent real values, quantised in every forward pass."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training_utils.quantization import Quantizer


class BinaryConv2d(nn.Conv2d):
    """Bias-free 'same' convolution with quantised weights (binary +-1 for the sensor's kernels)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, quantizer: Quantizer,
                 init_scale: float = 1.0):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.weight_quantizer = quantizer
        if init_scale != 1.0:
            with torch.no_grad():
                self.weight.mul_(init_scale)

    def quantized_weight(self) -> torch.Tensor:
        return self.weight_quantizer(self.weight)

    def forward(self, x):
        return F.conv2d(x, self.quantized_weight(), padding=self.padding)


class QuantizedLinear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, quantizer: Quantizer):
        super().__init__(in_features, out_features)
        self.weight_quantizer = quantizer

    def forward(self, x):
        return F.linear(x, self.weight_quantizer(self.weight), self.bias)


def quantized_weights(model: nn.Module):
    """(name, parameter, quantizer) of every weight that is quantised in the forward pass."""
    for module_name, module in model.named_modules():
        if hasattr(module, "weight_quantizer"):
            yield f"{module_name}.weight", module.weight, module.weight_quantizer


def binary_weights(model: nn.Module):
    """(name, parameter) of the weights the sensor stores as +-1."""
    for name, param, quantizer in quantized_weights(model):
        if quantizer.bits == 1:
            yield name, param
