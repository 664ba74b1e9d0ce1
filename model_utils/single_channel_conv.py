"""'Same' convolution of a single-channel map (the recurrent cell's mosaic x_t and state h) whose
backward runs as forward work.

The CPU backends are tuned for many channels: for one input channel their convolution backward costs
5-10x the forward. Here the input gradient is a forward convolution with the flipped kernels, and the
weight gradient is one matrix-vector product per kernel tap (grad_output (O, N*H*W) @ shifted input),
or, for few maps, one convolution of the input with the output gradient as kernel.
Same values as ``F.conv2d``'s backward up to float summation order. The forward of a +-1 map with
{-1, 0, +1} kernels (the cell's mosaic and state) is the exact lookup-table convolution of
``binary_conv_lut``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .binary_conv_lut import LookupTables, is_sign_map, lut_conv2d
from .intra_op_threads import one_intra_op_thread


class _SingleChannelConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, padding: int, tables: LookupTables | None):
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        if tables is not None and is_sign_map(x):
            return lut_conv2d(x, weight, tables)
        return F.conv2d(x, weight, padding=padding)

    @staticmethod
    def backward(ctx, grad):
        with one_intra_op_thread(grad.device):  # many short ops (one matrix-vector product per tap)
            return _SingleChannelConv.gradients(ctx, grad)

    @staticmethod
    def gradients(ctx, grad):
        x, weight = ctx.saved_tensors
        pad = ctx.padding
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            # conv_transpose2d(grad, w) == conv2d(grad, flipped w with in/out swapped), 'same' for odd k.
            grad_x = F.conv2d(grad, weight.flip(2, 3).transpose(0, 1), padding=weight.shape[-1] - 1 - pad)
        if ctx.needs_input_grad[1]:
            grad_w = _weight_grad(x, weight.shape, grad, pad)
        return grad_x, grad_w, None, None


# Below this many maps the whole weight gradient is one convolution (batch as channels); above it, one
# matrix-vector product per tap is cheaper (measured on 2 CPU threads).
TAP_LOOP_MIN_MAPS = 32


def _weight_grad(x, weight_shape, grad, pad):
    """dL/dW[o, 0, ky, kx] = sum over n, y, x of grad[n, o, y, x] * x_padded[n, 0, y + ky, x + kx]."""
    n = x.shape[0]
    out_channels, _, kh, kw = weight_shape
    height, width = grad.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad))
    if n < TAP_LOOP_MIN_MAPS:
        return F.conv2d(padded.transpose(0, 1), grad.transpose(0, 1)).reshape(weight_shape)
    rows = grad.transpose(0, 1).reshape(out_channels, -1)
    taps = [rows @ padded[:, 0, ky:ky + height, kx:kx + width].reshape(-1) for ky in range(kh) for kx in range(kw)]
    return torch.stack(taps, 1).reshape(weight_shape)


def single_channel_conv2d(x: torch.Tensor, weight: torch.Tensor, padding: int,
                          tables: LookupTables | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, padding=padding)`` for x (N, 1, H, W) and weight (O, 1, k, k), k odd, 'same'.
    With ``tables`` (``LookupTables(weight, H, W)``, for {-1, 0, +1} weights) a +-1 x is convolved by
    table lookup."""
    if x.shape[1] != 1 or weight.shape[1] != 1 or weight.shape[-1] != 2 * padding + 1:
        raise ValueError(f"single_channel_conv2d takes x (N, 1, H, W) and 'same' weights (O, 1, 2p+1, 2p+1); "
                         f"got x {tuple(x.shape)}, weight {tuple(weight.shape)}, padding {padding}")
    return _SingleChannelConv.apply(x, weight, padding, tables)
