"""In-pixel encoders: what each frame becomes before the recurrent cell (or a whole-clip read-out).

The binary CNNs: binarised input -> binary 5x5 convolutions -> ReLU -> max pooling -> (sensor noise)
-> learned threshold -> binary maps tiled into one mosaic. ``frames`` passes the frames themselves
(the camera baselines).

The module and parameter names (``conv1``, ``thresh1``, ``thresh2``, ``thresh0``) are the release's,
so its checkpoints load strictly and ours load in its code.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from training_utils.quantization import Quantizer
from training_utils.registry import Registry

from .binary_layers import BinaryConv2d
from .cells import ADC_BITS
from .kernels.dispatch import NativeComputable, exact_levels, inexact_quantizer
from .kernels.native_ops import conv_relu_maxpool
from .mosaic import tile
from .sensor_noise import SensorNoise
from .tracing import Traceable

ENCODERS = Registry("encoder")

# The pooled maps a threshold sees are ReLU'd sums of +-1 products: integers in [0, fan-in], mostly 0. A threshold
# t <= 0 turns every pixel on, t >= fan-in every pixel off: the map is then constant and no gradient brings it
# back. Any t in (0, 1) decides p >= 1; this margin keeps t clear of 0, where the zero pixels sit at the peak of
# the surrogate slope and dominate its gradient (the release's lips model learned 0.14, inside it).
POOLED_THRESHOLD_MARGIN = 0.05


def initial_threshold(threshold_init: float | None) -> nn.Parameter:
    """A threshold at ``threshold_init``, or drawn from U[0, 1) when it is None (the release's CNN)."""
    value = torch.rand(1) if threshold_init is None else torch.full((1,), float(threshold_init))
    return nn.Parameter(value)


def pooled_map_size(frame_size: int, layers: list[tuple[int, int]]) -> int:
    """Side of the encoder's output map: each layer max-pools by ``pool`` and then tiles its maps
    ``growth`` per side (1: no tiling). A remainder would be dropped silently by max pooling: it is an error
    naming the layer and frame sizes that fit."""
    def walk(size):
        for layer, (pool, growth) in enumerate(layers, start=1):
            if size % pool:
                return layer, size, pool
            size = size // pool * growth
        return size

    result = walk(frame_size)
    if isinstance(result, int):
        return result
    layer, size, pool = result
    unit = next(s for s in range(1, math.prod(p for p, _ in layers) + 1) if isinstance(walk(s), int))
    step = math.lcm(unit, 4)  # frame sizes are multiples of 4
    below, above = frame_size // step * step, (frame_size // step + 1) * step
    sizes = f"{below} or {above}" if below >= 8 else f"{above}"
    raise ValueError(f"encoder layer {layer} max-pools {size} x {size} maps by {pool}, which leaves a remainder. "
                     f"Accepted: a frame size divisible by {unit}, e.g. {sizes}, or pool sizes that divide it")


def check_square_channels(channels: int) -> None:
    if channels < 1 or math.isqrt(channels) ** 2 != channels:
        raise ValueError(f"channels must be a square integer (the maps are tiled into a square mosaic), e.g. 16; "
                         f"got {channels}")


@ENCODERS.register("binary_cnn")
class BinaryConvEncoder(NativeComputable, Traceable, nn.Module):
    """The paper's one-layer binary CNN (``layers`` 1). Input (B, T, 1, S, S) real frames -> output
    (B, T, 1, M, M) +-1 mosaic. ``layers`` 2 adds this project's variant of a second layer, *not* the
    paper's two-layer CNN (that is ``two_layer_cnn``): a binary ``channels`` -> ``channels`` convolution
    on the un-tiled maps, with a pool size per layer (e.g. [2, 2])."""
    output_bits = 1

    def __init__(self, *, weight_quantizer: Quantizer, output_quantizer: Quantizer, layers: int = 1,
                 channels: int = 16, kernel_size: int = 5, pool: list[int] = (4,), input_threshold: bool = False,
                 input_threshold_init: float = 0.0, noise_std: float = 0.0, threshold_init: float | None = 0.5):
        super().__init__()
        check_square_channels(channels)
        if layers not in (1, 2) or len(pool) != layers:
            raise ValueError(f"binary_cnn needs layers 1 or 2 and one pool size per layer; got layers {layers}, "
                             f"pool {list(pool)}")
        self.channels = channels
        self.pool = list(pool)
        self.output_quantizer = output_quantizer
        self.conv1 = BinaryConv2d(1, channels, kernel_size, weight_quantizer)
        if layers == 2:
            self.conv2 = BinaryConv2d(channels, channels, kernel_size, weight_quantizer)
        # thresh2 exists in the one-layer model too (unused there), as in the release's state dicts.
        self.thresh1 = initial_threshold(threshold_init)
        self.thresh2 = initial_threshold(threshold_init)
        if input_threshold:
            # 0 starts at the plain CNN's sign(x); the release's CNN_noise_lip started at 1.0 (the paper recipe's)
            self.thresh0 = nn.Parameter(torch.full((1,), float(input_threshold_init)))
        self.noise = SensorNoise(noise_std)

    @property
    def layers(self):
        return [self.conv1] + ([self.conv2] if hasattr(self, "conv2") else [])

    def parameter_bounds(self) -> dict[str, tuple[float, float]]:
        """{parameter name: (low, high)} where it can still decide something (``train.bound_parameters``
        projects it back after each step): each used layer's threshold within ``POOLED_THRESHOLD_MARGIN`` of
        (0, fan-in). ``thresh0`` is unbounded: it compares real-valued frames, where any value decides."""
        names = ["thresh1", "thresh2"]
        return {name: (POOLED_THRESHOLD_MARGIN, conv.weight[0].numel() - POOLED_THRESHOLD_MARGIN)
                for name, conv in zip(names, self.layers)}

    def output_size(self, frame_size: int) -> int:
        """Side of the mosaic for ``frame_size`` frames (data.frame_size): the maps are tiled at the end."""
        return math.isqrt(self.channels) * pooled_map_size(frame_size, [(pool, 1) for pool in self.pool])

    def binarize_input(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "thresh0"):
            x = x - self.thresh0
        return self.output_quantizer(x)

    @property
    def output_exact(self) -> bool:
        return exact_levels(self.output_quantizer)

    def native_obstacle(self, input_exact: bool) -> str | None:
        if any(conv.in_channels != 1 for conv in self.layers):
            return f"{self.registry_name}'s second layer ({self.channels} -> {self.channels} channels) has no native kernel"
        return inexact_quantizer({"cnn_weights": self.conv1.weight_quantizer, "cnn_output": self.output_quantizer})

    def conv_relu_pool(self, conv: BinaryConv2d, h: torch.Tensor, pool: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(max_pool(relu(conv(h))), the convolution itself or None where the native kernel fused it away)."""
        if self.native_now(h) and h.shape[-1] % pool == 0 and h.shape[-2] % pool == 0:
            return conv_relu_maxpool(h, conv.quantized_weight(), pool), None
        c = conv(h)
        return F.max_pool2d(F.relu(c), pool), c

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, steps = clips.shape[:2]
        x = clips.flatten(0, 1)  # the encoder has no recurrence: all frames form one batch
        self.record_frames("input", x, batch)
        h = self.binarize_input(x)
        self.record_frames("input_binarized", h, batch)
        for index, (conv, pool) in enumerate(zip(self.layers, self.pool), start=1):
            p, c = self.conv_relu_pool(conv, h, pool)
            suffix = "" if index == 1 else str(index)
            if c is not None:
                self.record_frames("conv" + suffix, c, batch)
            self.record_frames("pooled" + suffix, p, batch)
            threshold = self.thresh1 if index == 1 else self.thresh2
            h = self.output_quantizer(self.noise(p) - threshold)
            self.record_frames("thresholded" + suffix, h, batch)
        mosaic = tile(h)
        self.record_frames("encoded", mosaic, batch)
        return mosaic.reshape(batch, steps, *mosaic.shape[1:])


@ENCODERS.register("two_layer_cnn")
class TwoLayerMosaicEncoder(BinaryConvEncoder):
    """The paper's two-layer binary CNN (release ``CNN_k5_two_layer_relu_mp_thresh_quantized``). The sensor
    has only one-channel array operations, so the second layer works on the first layer's mosaic:
    M1 = mosaic(Q(maxpool(relu(W1 * b)) - theta1)); out = mosaic(Q(maxpool(relu(W2 * M1)) - theta2)),
    with W1 and W2 each ``channels`` single-channel kernels. 64x64 frames -> 64x64 mosaic."""

    def __init__(self, *, weight_quantizer: Quantizer, output_quantizer: Quantizer, channels: int = 16,
                 kernel_size: int = 5, pool: int = 4, input_threshold: bool = False, input_threshold_init: float = 0.0,
                 noise_std: float = 0.0, threshold_init: float | None = 0.5):
        super().__init__(weight_quantizer=weight_quantizer, output_quantizer=output_quantizer, layers=1,
                         channels=channels, kernel_size=kernel_size, pool=[pool], input_threshold=input_threshold,
                         input_threshold_init=input_threshold_init, noise_std=noise_std, threshold_init=threshold_init)
        self.pool = [pool, pool]
        self.conv2 = BinaryConv2d(1, channels, kernel_size, weight_quantizer)

    def output_size(self, frame_size: int) -> int:
        """Each layer pools, then tiles its maps into a mosaic."""
        return pooled_map_size(frame_size, [(pool, math.isqrt(self.channels)) for pool in self.pool])

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        batch, steps = clips.shape[:2]
        x = clips.flatten(0, 1)
        self.record_frames("input", x, batch)
        h = self.binarize_input(x)
        self.record_frames("input_binarized", h, batch)
        for suffix, conv, threshold in (("", self.conv1, self.thresh1), ("2", self.conv2, self.thresh2)):
            pooled, _ = self.conv_relu_pool(conv, h, self.pool[0])
            self.record_frames("pooled" + suffix, pooled, batch)
            h = tile(self.output_quantizer(self.noise(pooled) - threshold))
            self.record_frames("mosaic" + suffix, h, batch)
        self.record_frames("encoded", h, batch)
        return h.reshape(batch, steps, *h.shape[1:])


@ENCODERS.register("frames")
class FrameEncoder(NativeComputable, Traceable, nn.Module):
    """No in-pixel computation: the frames themselves (8-bit values), or sign(x) with ``binarize`` (one bit)
    -- the camera baselines' input. (B, T, 1, S, S) -> (B, T, 1, S, S)."""

    def __init__(self, *, weight_quantizer: Quantizer, output_quantizer: Quantizer, binarize: bool = False):
        super().__init__()
        self.binarize = binarize
        self.output_quantizer = output_quantizer
        self.output_bits = 1 if binarize else ADC_BITS

    def output_size(self, frame_size: int) -> int:
        return frame_size

    @property
    def output_exact(self) -> bool:
        return self.binarize and exact_levels(self.output_quantizer)

    def native_obstacle(self, input_exact: bool) -> str | None:
        return None  # nothing to convolve

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        out = self.output_quantizer(clips) if self.binarize else clips
        self.record_frames("encoded", out.flatten(0, 1), clips.shape[0])
        return out
