"""Off-sensor decoders: the read-out map (N, 1, M, M) -> features for the final linear layer ``fc``.

The release's three (``model_type``): one linear layer (``1_lin``), linear-ReLU-linear (``2_lin``) and a
small conv net before the linear layer (``1_cnn_1_lin``). ``normalize`` puts the release's read-out
normalisation in front (1x1 binary conv -> BatchNorm -> tanh -> minus a learned threshold, applied by the
classifier under the release's parameter names); the release used it for the in-pixel recurrent
models and not for the camera or CNN-only baselines.
"""
from __future__ import annotations

from torch import nn

from training_utils.registry import Registry

DECODERS = Registry("decoder")


@DECODERS.register("linear")
class LinearDecoder(nn.Sequential):
    """features = vec(map) (row-major); the classifier's ``fc`` is the one linear layer."""

    def __init__(self, *, map_size: int, normalize: bool = True):
        super().__init__(nn.Flatten())
        self.normalize = normalize
        self.out_features = map_size * map_size


@DECODERS.register("mlp")
class MLPDecoder(nn.Sequential):
    """features = ReLU(W vec(map) + b), ``hidden`` units (release ``2_lin``: 64)."""

    def __init__(self, *, map_size: int, normalize: bool = True, hidden: int = 64):
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        super().__init__(nn.Flatten(), nn.Linear(map_size * map_size, hidden), nn.ReLU())
        self.normalize = normalize
        self.out_features = hidden


@DECODERS.register("conv")
class ConvDecoder(nn.Sequential):
    """features = vec(ReLU(conv_{C->1}(ReLU(conv_{1->C}(map))))), 'same' convolutions with bias
    (release ``1_cnn_1_lin``: C = 16, 5x5)."""

    def __init__(self, *, map_size: int, normalize: bool = True, channels: int = 16, kernel_size: int = 5):
        if channels < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"conv decoder needs channels >= 1 and an odd kernel_size; got {channels}, {kernel_size}")
        pad = kernel_size // 2
        super().__init__(nn.Conv2d(1, channels, kernel_size, padding=pad), nn.ReLU(),
                         nn.Conv2d(channels, 1, kernel_size, padding=pad), nn.ReLU(), nn.Flatten())
        self.normalize = normalize
        self.out_features = map_size * map_size
