"""Per-stage trace of the model's own forward pass (for print_intermediates, the sensor cross-check).

``with model.tracing() as trace: model(clips)`` fills ``trace[stage]`` with one tensor per frame,
each shaped (batch, channels, height, width). Modules record through ``Traceable.record*``; when no
trace is active recording costs one attribute check.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn


class Traceable:
    _trace: dict | None = None

    def record(self, stage: str, value: torch.Tensor) -> None:
        """Record the value of ``stage`` for the current frame: (B, C, H, W)."""
        if self._trace is not None:
            self._trace.setdefault(stage, []).append(value.detach())

    def record_frames(self, stage: str, value: torch.Tensor, batch: int) -> None:
        """Record a stage computed for all frames at once: (B*T, C, H, W) -> T entries."""
        if self._trace is not None:
            frames = value.detach().reshape(batch, -1, *value.shape[1:]).unbind(1)
            self._trace.setdefault(stage, []).extend(frames)


@contextlib.contextmanager
def tracing(model: nn.Module):
    trace: dict[str, list[torch.Tensor]] = {}
    modules = [m for m in model.modules() if isinstance(m, Traceable)]
    for m in modules:
        m._trace = trace
    try:
        yield trace
    finally:
        for m in modules:
            m._trace = None
