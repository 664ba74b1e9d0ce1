"""Convolution -> ReLU -> max pooling as one autograd Function whose backward touches only the
positions that won the pooling.

Forward: ``p = max_pool(relu(conv2d(x, w)))``, computed as ``relu(max_pool(conv2d(x, w)))`` (the two
commute, and the ReLU then runs on the 1/k^2-sized pooled map). Backward: the gradient reaches only
the winning position of each window whose maximum is positive, so the weight gradient of a
single-input-channel layer is a gather of one kernel-sized input patch per winner — 1/k^2 of the
work of a full convolution backward. The tie-breaking is ``max_pool2d``'s own, so gradients equal
those of the three separate ops exactly.

When the input is +-1 and the kernels are in {-1, 0, +1} (the first layer after a sign quantizer), the
forward is the exact integer lookup-table convolution of ``binary_conv_lut`` instead of a float
convolution; otherwise ``conv2d`` + ``max_pool2d``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .binary_conv_lut import lut_applicable, lut_conv_relu_maxpool
from .intra_op_threads import one_intra_op_thread


class _ConvReluMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, padding: int, pool: int, use_lut: bool):
        if use_lut:
            pooled, winners = lut_conv_relu_maxpool(x, weight, pool)
        else:
            pooled, winners = F.max_pool2d(F.conv2d(x, weight, padding=padding), pool, return_indices=True)
            pooled = pooled.clamp_min(0)
        ctx.save_for_backward(x, weight, pooled, winners)
        ctx.padding, ctx.pool, ctx.conv_size = padding, pool, x.shape[-2:]
        return pooled

    @staticmethod
    def backward(ctx, grad_pooled):
        with one_intra_op_thread(grad_pooled.device):  # many short ops (one gather per kernel tap)
            return _ConvReluMaxPool.gradients(ctx, grad_pooled)

    @staticmethod
    def gradients(ctx, grad_pooled):
        x, weight, pooled, winners = ctx.saved_tensors
        grad = grad_pooled * (pooled > 0)  # ReLU: no gradient where the window's maximum is <= 0
        grad_x = grad_w = full = None
        if ctx.needs_input_grad[1] and x.shape[1] == 1:
            grad_w = _winner_weight_grad(x, weight.shape, grad, winners, ctx.padding, ctx.conv_size)
        elif ctx.needs_input_grad[1]:
            # Several input channels (a second layer): scatter the winners' gradients back to full
            # resolution and use the ordinary convolution backward.
            full = F.max_unpool2d(grad, winners, ctx.pool, output_size=ctx.conv_size)
            grad_w = torch.nn.grad.conv2d_weight(x, weight.shape, full, padding=ctx.padding)
        if ctx.needs_input_grad[0]:  # only with a learned input threshold or a second layer
            if full is None:
                full = F.max_unpool2d(grad, winners, ctx.pool, output_size=ctx.conv_size)
            grad_x = torch.nn.grad.conv2d_input(x.shape, weight, full, padding=ctx.padding)
        return grad_x, grad_w, None, None, None


def _winner_weight_grad(x, weight_shape, grad, winners, padding, conv_size):
    """dL/dW[o, 0, ky, kx] = sum over samples and windows of grad[n, o, window] * x_padded[n, winner + (ky, kx)]."""
    n = x.shape[0]
    out_channels, _, kh, kw = weight_shape
    width = conv_size[-1]
    padded = F.pad(x, (padding, padding, padding, padding)).reshape(n, -1)
    padded_width = width + 2 * padding
    # Winner (y, x) of the unpadded map -> flat index of the patch's top-left corner in the padded map.
    corner = (winners + winners.div(width, rounding_mode="floor") * (2 * padding)).reshape(n, -1)
    grad = grad.reshape(n, out_channels, -1)
    columns = []
    for ky in range(kh):
        for kx in range(kw):
            tap = padded.gather(1, corner + (ky * padded_width + kx)).reshape(n, out_channels, -1)
            columns.append((tap * grad).sum((0, 2)))
    return torch.stack(columns, 1).reshape(weight_shape)


def conv_relu_maxpool(x: torch.Tensor, weight: torch.Tensor, padding: int, pool: int) -> torch.Tensor:
    """max_pool(relu(conv2d(x, weight, padding=padding))) for 'same' convolutions (padding = k // 2)."""
    if 2 * padding + 1 != weight.shape[-1]:
        raise ValueError(f"conv_relu_maxpool takes 'same' convolutions (padding = kernel // 2); got kernel "
                         f"{tuple(weight.shape[-2:])} with padding {padding}")
    use_lut = x.shape[-2] % pool == 0 and x.shape[-1] % pool == 0 and lut_applicable(x, weight, padding)
    if use_lut and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)):
        return lut_conv_relu_maxpool(x, weight, pool, winners=False)[0]  # evaluation: no winners needed
    return _ConvReluMaxPool.apply(x, weight, padding, pool, use_lut)
