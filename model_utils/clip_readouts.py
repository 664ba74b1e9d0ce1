"""Whole-clip read-outs (the paper's camera, CNN-only and single-frame baselines), chosen by ``model.readout``.

Not cells: they keep no recurrent state and read a fixed selection of the clip off the sensor. Each takes
the encoder's maps x (B, T, 1, M, M) and returns (B, K, M, M), like a cell (``InPixelStage``); the model
holds one of them under ``.readout`` (checkpoint keys ``readout.``) instead of a cell.
"""
from __future__ import annotations

import torch

from training_utils.quantization import Quantizer
from training_utils.registry import Registry

from .cells import InPixelStage

CLIP_READOUTS = Registry("read-out")

TERNARY_BITS = 2       # {-1, 0, +1}


class ClipReadout(InPixelStage):
    part = "readout"
    min_frames = 1

    def __init__(self, *, weight_quantizer: Quantizer):
        super().__init__()  # the weight quantizer is for those with a kernel; every read-out is built alike

    def select(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] < self.min_frames:
            raise ValueError(f"read-out {self.registry_name!r} needs at least {self.min_frames} frames per clip "
                             f"(data.timesteps), got {x.shape[1]}")
        readout = self.select(x)
        self.record("output", readout)
        return readout


@CLIP_READOUTS.register("single_frame")
class SingleFrameReadout(ClipReadout):
    """o = Woi * x_T of the last frame (the single-frame baseline; one binary kernel, no state kept)."""
    conv_names = ("Conv_out_i",)

    def __init__(self, *, weight_quantizer: Quantizer, kernel_size: int = 5):
        super().__init__(weight_quantizer=weight_quantizer)
        self.add_kernels(weight_quantizer, kernel_size)

    def select(self, x):
        return self.conv("Conv_out_i", x[:, -1])


@CLIP_READOUTS.register("all_frames")
class AllFramesReadout(ClipReadout):
    """Every frame but the first is read out (CNN-only / raw camera, release ``cnn1_1lin``/``raw_cam``):
    maps x_1..x_{T-1}; the decoder's logits are summed over them and divided by T, as the release did."""
    readout_value_bits = None
    min_frames = 2

    def select(self, x):
        return x[:, 1:, 0]

    def readout_maps(self, steps):
        return steps - 1

    def readout_divisor(self, maps):
        return maps + 1


@CLIP_READOUTS.register("frame_differences")
class FrameDifferencesReadout(AllFramesReadout):
    """Difference camera (release ``diff_cam``): maps sign(x_t - x_{t-1}), t = 1..T-1, ternary; each pixel
    keeps its previous frame."""
    readout_value_bits = TERNARY_BITS

    def memory_bits(self, input_bits):
        return float(input_bits)

    def select(self, x):
        return torch.sign(x[:, 1:, 0] - x[:, :-1, 0])


@CLIP_READOUTS.register("last_difference")
class LastDifferenceReadout(FrameDifferencesReadout):
    """Event camera (release ``event_cam``): one map sign(x_{T-1} - x_{T-2}), ternary."""

    def select(self, x):
        return torch.sign(x[:, -1:, 0] - x[:, -2:-1, 0])

    def readout_maps(self, steps):
        return 1

    def readout_divisor(self, maps):
        return 1


@CLIP_READOUTS.register("middle_frame")
class MiddleFrameReadout(ClipReadout):
    """Middle frame (release ``nstd``): one map x_{T//2}."""
    readout_value_bits = None

    def select(self, x):
        middle = x.shape[1] // 2
        return x[:, middle:middle + 1, 0]
