"""Which path computes each on-sensor component (``model.compute``: "auto" | "native" | "torch").

The components' own forward (encoders.py, cells.py, clip_readouts.py) is the plain-PyTorch statement of the
paper's equations. Where a component's values are exactly -1 / 0 / +1 (quantizers whose forward values are
their levels), the native kernels compute the same function: the binary encoders' conv -> ReLU -> max-pool,
every cell's binary convolutions (the other operations stay in PyTorch), and the PixelRNN cell's whole time
loop in one kernel. Each component says what keeps it off the native kernels (``native_obstacle``); the
choice is made once, when the model is built or ``model.compute`` is assigned (``set_compute``), and each
component then asks ``native_now`` per call only what can change between calls: the tensors' device (the
kernels are CPU-only) and tracing (which records every intermediate stage, on the PyTorch path).
"""
from __future__ import annotations

import warnings

import torch

from training_utils.quantization import (BinarySTE, SigmoidMx, StochasticBinary, StochasticTernary, TanhMx,
                                         TernarySTE)

from .native_build import NativeKernelsUnavailable, load_native_kernels

COMPUTE_CHOICES = ("auto", "native", "torch")
# Quantizers whose forward values are exactly their levels (all within {-1, 0, +1}).
EXACT_LEVEL_QUANTIZERS = (BinarySTE, TanhMx, TernarySTE, SigmoidMx, StochasticBinary, StochasticTernary)


def exact_levels(quantizer) -> bool:
    return isinstance(quantizer, EXACT_LEVEL_QUANTIZERS)


def inexact_quantizer(sites: dict) -> str | None:
    """The reason the first of {config site: quantizer} whose values are not exactly -1/0/+1 keeps a component
    off the native kernels, else None."""
    for site, quantizer in sites.items():
        if not exact_levels(quantizer):
            return f"the {site} quantizer {quantizer.name!r} does not give exact -1/0/+1 values"
    return None


def gate_surrogate(quantizer) -> tuple[str, float] | None:
    """(surrogate name, m) of a gate quantizer the fused PixelRNN kernel implements, else None."""
    if type(quantizer) is BinarySTE:
        return "ste", 0.0
    if isinstance(quantizer, TanhMx):
        return "tanh_mx", quantizer.m
    return None


_warned_unavailable = False


def native_kernels_ready(required: bool) -> bool:
    """Whether the native kernels load (built on first use). Where they are ``required`` ("native") a failure
    raises NativeKernelsUnavailable with the build error; under "auto" it warns once and the PyTorch path runs."""
    global _warned_unavailable
    if required:
        load_native_kernels()
        return True
    try:
        load_native_kernels()
    except NativeKernelsUnavailable as error:
        if not _warned_unavailable:
            warnings.warn(f"model.compute 'auto': using the PyTorch path. {error}", RuntimeWarning, stacklevel=4)
            _warned_unavailable = True
        return False
    return True


class NativeComputable:
    """Mixin of the encoders and in-pixel stages. ``compute`` is the component's path ("torch", or "native" /
    "auto" where the native kernels cover it), set by ``set_compute``."""
    compute = "torch"
    _trace = None

    def native_obstacle(self, input_exact: bool) -> str | None:
        """None if the native kernels compute this component exactly (``input_exact``: its input maps hold only
        -1/0/+1), else the reason they do not."""
        return f"{type(self).__name__} has no native kernels"

    def native_now(self, x: torch.Tensor) -> bool:
        """Whether this call, on ``x``, runs on the native kernels."""
        return (self.compute != "torch" and self._trace is None and x.device.type == "cpu"
                and native_kernels_ready(self.compute == "native"))


def components(model) -> dict:
    """{config section: component} of the on-sensor part, in data order."""
    return {"encoder": model.encoder, model.stage_part: model.stage}


def native_obstacles(model) -> dict[str, str]:
    """{config section: reason} for every on-sensor component the native kernels do not cover."""
    found = {}
    input_exact = False  # the encoder reads real-valued frames
    for section, component in components(model).items():
        reason = component.native_obstacle(input_exact)
        if reason is not None:
            found[section] = reason
        input_exact = getattr(component, "output_exact", False)
    return found


def native_coverage(model) -> str | None:
    """None if the native kernels compute every on-sensor component of ``model`` exactly, else why not."""
    found = native_obstacles(model)
    return "; ".join(f"the {section}: {reason}" for section, reason in found.items()) or None


def set_compute(model, compute: str) -> None:
    """Give each component its path: "torch" everywhere; "auto" native where covered; "native" everywhere,
    or a ValueError naming what is not covered."""
    if compute not in COMPUTE_CHOICES:
        raise ValueError(f"model.compute must be one of {', '.join(COMPUTE_CHOICES)}, got {compute!r}")
    found = native_obstacles(model) if compute != "torch" else {}
    if compute == "native" and found:
        raise ValueError(f"model.compute is 'native' but {native_coverage(model)}; accepted: 'auto' (native where "
                         f"it applies) or 'torch'")
    for section, component in components(model).items():
        component.compute = "torch" if section in found else compute


def uses_native_kernels(model, clips: torch.Tensor) -> bool:
    """Whether ``model.encode(clips)`` runs any native kernel."""
    return any(component.native_now(clips) for component in components(model).values())
