"""Gaussian sensor noise at a site of the in-pixel computation (pooled CNN output, gate sum, output).

On in training by default and off in evaluation by default (the release also added noise at
evaluation, which made model selection and test accuracy random); ``set_noise`` switches either.
"""
from __future__ import annotations

import torch
from torch import nn


class SensorNoise(nn.Module):
    def __init__(self, std: float = 0.0):
        super().__init__()
        self.std = float(std)
        self.in_training = True
        self.in_evaluation = False

    def active(self) -> bool:
        return self.std > 0 and (self.in_training if self.training else self.in_evaluation)

    def sample(self, like: torch.Tensor) -> torch.Tensor:
        """One draw of the noise for a tensor shaped like ``like``."""
        return torch.randn(like.shape, device=like.device).to(like.dtype) * self.std  # float32 draws: any dtype, same values

    def forward(self, x):
        return x + self.sample(x) if self.active() else x

    def extra_repr(self):
        return f"std={self.std}"


def set_noise(model: nn.Module, *, training: bool | None = None, evaluation: bool | None = None) -> None:
    for module in model.modules():
        if isinstance(module, SensorNoise):
            if training is not None:
                module.in_training = training
            if evaluation is not None:
                module.in_evaluation = evaluation
