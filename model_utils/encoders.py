"""In-pixel binary CNN encoders: binarised input -> binary 5x5 convolutions -> ReLU -> max pooling ->
(sensor noise) -> learned threshold -> binary maps tiled into one mosaic for the recurrent cell.

The module and parameter names (``conv1``, ``thresh1``, ``thresh2``, ``thresh0``) are the release's,
so its checkpoints load strictly and ours load in its code.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from training_utils.quantization import Quantizer

from .binary_layers import BinaryConv2d
from .mosaic import tile
from .registry import Registry
from .sensor_noise import SensorNoise
from .tracing import Traceable

ENCODERS = Registry("encoder")


@ENCODERS.register("binary_cnn")
class BinaryConvEncoder(Traceable, nn.Module):
    """One or two binary conv layers (``channels`` filters each), each followed by ReLU, max pooling
    and a learned threshold. Input (B, T, 1, S, S) real frames -> output (B, T, 1, M, M) +-1 mosaic."""

    def __init__(self, *, weight_quantizer: Quantizer, output_quantizer: Quantizer, layers: int = 1,
                 channels: int = 16, kernel_size: int = 5, pool=(4,), input_threshold: bool = False,
                 noise_std: float = 0.0, threshold_init: float = 0.5):
        super().__init__()
        self.channels = channels
        self.pool = list(pool)
        self.output_quantizer = output_quantizer
        self.conv1 = BinaryConv2d(1, channels, kernel_size, weight_quantizer)
        if layers == 2:
            self.conv2 = BinaryConv2d(channels, channels, kernel_size, weight_quantizer)
        # thresh2 exists in the one-layer model too (unused there), as in the release's state dicts.
        self.thresh1 = nn.Parameter(torch.full((1,), float(threshold_init)))
        self.thresh2 = nn.Parameter(torch.full((1,), float(threshold_init)))
        if input_threshold:
            self.thresh0 = nn.Parameter(torch.zeros(1))
        self.noise = SensorNoise(noise_std)

    @property
    def layers(self):
        return [self.conv1] + ([self.conv2] if hasattr(self, "conv2") else [])

    def output_size(self, frame_size: int) -> int:
        return math.isqrt(self.channels) * frame_size // math.prod(self.pool)

    def binarize_input(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "thresh0"):
            x = x - self.thresh0
        return self.output_quantizer(x)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, steps = clips.shape[:2]
        x = clips.flatten(0, 1)  # the encoder has no recurrence: all frames form one batch
        self.record_frames("input", x, batch)
        h = self.binarize_input(x)
        self.record_frames("input_binarized", h, batch)
        for index, (conv, pool) in enumerate(zip(self.layers, self.pool), start=1):
            c = conv(h)
            p = F.max_pool2d(F.relu(c), pool)
            suffix = "" if index == 1 else str(index)
            self.record_frames("conv" + suffix, c, batch)
            self.record_frames("pooled" + suffix, p, batch)
            threshold = self.thresh1 if index == 1 else self.thresh2
            h = self.output_quantizer(self.noise(p) - threshold)
            self.record_frames("thresholded" + suffix, h, batch)
        mosaic = tile(h)
        self.record_frames("encoded", mosaic, batch)
        return mosaic.reshape(batch, steps, *mosaic.shape[1:])
