"""Tiling of the encoder's C maps into one square mosaic, column-major as the sensor lays them out:
channel c goes to block-row c % g, block-column c // g (g = sqrt(C))."""
from __future__ import annotations

import math

import torch


def tile(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, s, s) -> (N, 1, g*s, g*s)."""
    n, c, h, w = maps.shape
    g = math.isqrt(c)
    # (N, block-col, block-row, h, w) -> (N, block-row, h, block-col, w)
    return maps.reshape(n, g, g, h, w).permute(0, 2, 3, 1, 4).reshape(n, 1, g * h, g * w)


def untile(mosaic: torch.Tensor, channels: int) -> torch.Tensor:
    """Inverse of ``tile``: (N, 1, g*s, g*s) -> (N, C, s, s)."""
    n, _, height, width = mosaic.shape
    g = math.isqrt(channels)
    h, w = height // g, width // g
    return mosaic.reshape(n, g, h, g, w).permute(0, 3, 1, 2, 4).reshape(n, channels, h, w)
