"""Which path computes the on-sensor part of a model (``model.compute``: "auto" | "native" | "torch"), and
the native path itself.

The model's own forward (encoders.py, cells.py) is the plain-PyTorch statement of the paper's equations:
the PyTorch path, and the path for GPUs, tracing and every configuration the native kernels do not cover.
The native path computes the same function for the configurations it covers exactly — a one-layer
binary_cnn encoder and the pixelrnn cell (plain or noise-trained), with quantizers whose values are
exactly -1 / 0 / +1 and a gate quantizer with the ste or tanh_mx surrogate — drawing the sensor noise in
PyTorch in the PyTorch path's order, so seeds and exact resume behave the same on either path.
"""
from __future__ import annotations

import warnings

import torch

from training_utils.quantization import (BinarySTE, SigmoidMx, StochasticBinary, StochasticTernary, TanhMx,
                                         TernarySTE)

from ..cells import PixelRNNCell
from ..encoders import BinaryConvEncoder
from ..mosaic import tile
from .native_build import NativeKernelsUnavailable, load_native_kernels
from .native_ops import conv_relu_maxpool, pixelrnn_time_loop

COMPUTE_CHOICES = ("auto", "native", "torch")
# Quantizers whose forward values are exactly their levels (all within {-1, 0, +1}).
EXACT_LEVEL_QUANTIZERS = (BinarySTE, TanhMx, TernarySTE, SigmoidMx, StochasticBinary, StochasticTernary)


def gate_surrogate(quantizer) -> tuple[str, float] | None:
    """(surrogate name, m) of a gate quantizer the native cell implements, else None."""
    if type(quantizer) is BinarySTE:
        return "ste", 0.0
    if isinstance(quantizer, TanhMx):
        return "tanh_mx", quantizer.m
    return None


def native_coverage(model) -> str | None:
    """None if the native kernels compute this model's encoder and cell exactly, else the reason they do not."""
    encoder, cell = model.encoder, model.stage
    if type(encoder) is not BinaryConvEncoder or len(encoder.layers) != 1:
        return "the encoder is not a one-layer binary_cnn"
    if type(cell) is not PixelRNNCell:
        return (f"the {getattr(cell, 'part', 'cell')} is {getattr(cell, 'registry_name', type(cell).__name__)!r}, "
                "not the 'pixelrnn' cell")
    quantizers = {"cnn_weights": encoder.conv1.weight_quantizer, "cnn_output": encoder.output_quantizer,
                  **{f"rnn_weights ({gate})": getattr(cell, gate).weight_quantizer
                     for gate in ("ConvGates_i", "ConvGates_h", "Conv_out_i", "Conv_out_h")}}
    for site, quantizer in quantizers.items():
        if not isinstance(quantizer, EXACT_LEVEL_QUANTIZERS):
            return f"the {site} quantizer {quantizer.name!r} does not give exact -1/0/+1 values"
    if gate_surrogate(cell.gate_quantizer) is None:
        return f"the gate quantizer {cell.gate_quantizer.name!r} is not ste/binary, tanh_mx or tanh_x"
    return None


def _runtime_obstacle(model, clips: torch.Tensor) -> str | None:
    if clips.device.type != "cpu":
        return f"the native kernels are CPU-only and the clips are on {clips.device}"
    pool = model.encoder.pool[0]
    if clips.shape[-1] % pool or clips.shape[-2] % pool:
        return f"the frame size {tuple(clips.shape[-2:])} is not divisible by the pool size {pool}"
    return None


_warned_unavailable = False


def uses_native_kernels(model, clips: torch.Tensor) -> bool:
    """Whether ``model.encode(clips)`` runs on the native kernels. "native" raises if they cannot be used;
    tracing always uses the PyTorch path (it records every intermediate stage)."""
    global _warned_unavailable
    if model.compute == "torch" or model._trace is not None:
        return False
    obstacle = native_coverage(model) or _runtime_obstacle(model, clips)
    if obstacle is not None:
        if model.compute == "native":
            raise ValueError(f"model.compute is 'native' but {obstacle}; accepted: 'auto' (native where it "
                             f"applies) or 'torch'")
        return False
    if model.compute == "native":
        load_native_kernels()  # raises NativeKernelsUnavailable with the build error
        return True
    try:
        load_native_kernels()
    except NativeKernelsUnavailable as error:
        if not _warned_unavailable:
            warnings.warn(f"model.compute 'auto': using the PyTorch path. {error}", RuntimeWarning, stacklevel=3)
            _warned_unavailable = True
        return False
    return True


def native_encode(model, clips: torch.Tensor) -> torch.Tensor:
    """The encoder and cell of ``model`` on the native kernels: clips (B, T, 1, S, S) -> o_T (B, 1, M, M)."""
    encoder, cell = model.encoder, model.stage
    batch, steps = clips.shape[:2]
    frames = encoder.binarize_input(clips.flatten(0, 1))
    pooled = conv_relu_maxpool(frames, encoder.conv1.quantized_weight(), encoder.pool[0])
    mosaic = tile(encoder.output_quantizer(encoder.noise(pooled) - encoder.thresh1))
    x = mosaic.reshape(batch, steps, *mosaic.shape[-2:])
    # With one step the gate never reaches o_T: its kernels get no gradient (None, as in the reference).
    gate_i, gate_h = cell.ConvGates_i.quantized_weight(), cell.ConvGates_h.quantized_weight()
    if steps == 1:
        gate_i, gate_h = gate_i.detach(), gate_h.detach()
    weight_i = torch.cat([gate_i, cell.Conv_out_i.quantized_weight()])[:, 0]
    weight_h = torch.cat([gate_h, cell.Conv_out_h.quantized_weight()])[:, 0]
    threshold = cell.thresholds(x)[0]
    # The PyTorch path draws, per step, the output noise (only o_T is kept) and then the gate noise.
    like = x[:, 0, None]
    gate_noise, output_noise = [], None
    for _ in range(steps):
        if cell.output_noise.active():
            output_noise = cell.output_noise.sample(like)
        if cell.gate_noise.active():
            gate_noise.append(cell.gate_noise.sample(like))
    gate_noise = torch.cat(gate_noise, 1) if gate_noise else None
    output = pixelrnn_time_loop(x, weight_i, weight_h, threshold, gate_noise, *gate_surrogate(cell.gate_quantizer))
    output = output[:, None]
    return output if output_noise is None else output + output_noise
