"""The native operators with their autograd: the encoder's conv -> ReLU -> max-pool, the PixelRNN cell's
time loop, and the binary convolution the other cells compose. Inputs are the model's quantised {-1, 0, +1} tensors; gradients flow back to them (and
from there through the quantizers' surrogates in PyTorch)."""
from __future__ import annotations

import torch

from .native_build import load_native_kernels

_registered = False


def _ops():
    global _registered
    load_native_kernels()
    if not _registered:
        torch.library.register_autograd("pixelrnn_native::encoder_conv_relu_maxpool", _encoder_backward,
                                        setup_context=_encoder_setup)
        torch.library.register_autograd("pixelrnn_native::pixelrnn_cell", _cell_backward, setup_context=_cell_setup)
        torch.library.register_autograd("pixelrnn_native::binary_conv", _conv_backward, setup_context=_conv_setup)
        _registered = True
    return torch.ops.pixelrnn_native


def _needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def conv_relu_maxpool(frames: torch.Tensor, weight: torch.Tensor, pool: int) -> torch.Tensor:
    """max_pool2d(relu(conv2d(frames, weight, padding=k // 2)), pool) for {-1, 0, +1} frames (N, 1, H, W) and
    kernels (C, 1, k, k); the backward reaches each window's winner only."""
    pooled, _ = _ops().encoder_conv_relu_maxpool(frames, weight, pool, _needs_grad(frames, weight))
    return pooled


def _encoder_setup(ctx, inputs, output):
    frames, weight, _, _ = inputs
    ctx.save_for_backward(frames, weight, output[1])


def _encoder_backward(ctx, grad_pooled, _grad_winners):
    frames, weight, winners = ctx.saved_tensors
    want_frames, want_weight = ctx.needs_input_grad[:2]
    grad_frames, grad_weight = torch.ops.pixelrnn_native.encoder_conv_relu_maxpool_backward(
        grad_pooled, frames, weight, winners, want_frames, want_weight)
    return grad_frames if want_frames else None, grad_weight if want_weight else None, None, None


def pixelrnn_time_loop(x: torch.Tensor, weight_i: torch.Tensor, weight_h: torch.Tensor, threshold: torch.Tensor,
                       gate_noise: torch.Tensor | None, surrogate: str, m: float) -> torch.Tensor:
    """o_T (B, M, M) of the PixelRNN cell for x (B, T, M, M); weight_i / weight_h (2, k, k) are the [gate,
    output] kernels of the input and the state; the gate's sign has the surrogate gradient 'ste' or
    'tanh_mx' (with m). gate_noise (B, T, M, M): the sensor noise added to each step's gate sum."""
    save = _needs_grad(x, weight_i, weight_h, threshold)
    output, _, _ = _ops().pixelrnn_cell(x, weight_i, weight_h, threshold, gate_noise, surrogate, m, save)
    return output


def _cell_setup(ctx, inputs, output):
    x, weight_i, weight_h, threshold, gate_noise, surrogate, m, _ = inputs
    _, states, gate_sums = output
    ctx.save_for_backward(x, weight_i, weight_h, threshold, gate_noise, states, gate_sums)
    ctx.surrogate, ctx.m = surrogate, m


def _cell_backward(ctx, grad_output, _grad_states, _grad_sums):
    x, weight_i, weight_h, threshold, gate_noise, states, gate_sums = ctx.saved_tensors
    grad_x, grad_wi, grad_wh, grad_threshold = torch.ops.pixelrnn_native.pixelrnn_cell_backward(
        grad_output, x, states, gate_sums, weight_i, weight_h, threshold, gate_noise, ctx.surrogate, ctx.m,
        ctx.needs_input_grad[0])
    wanted = ctx.needs_input_grad
    if x.shape[1] == 1:  # one step: the gate never reaches o_T, so (as in the reference) no threshold gradient
        grad_threshold = None
    return (grad_x if wanted[0] else None, grad_wi if wanted[1] else None, grad_wh if wanted[2] else None,
            grad_threshold if wanted[3] else None, None, None, None, None)


def binary_conv(maps: torch.Tensor, weight: torch.Tensor) -> list[torch.Tensor]:
    """conv2d(maps, weight, padding=k // 2).split(1, dim=1) for {-1, 0, +1} maps (N, 1, H, W) and kernels
    (K, 1, k, k): the integer sums, one (N, 1, H, W) tensor per kernel."""
    return _ops().binary_conv(maps, weight)


def _conv_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _conv_backward(ctx, grads):
    maps, weight = ctx.saved_tensors
    want_maps, want_weight = ctx.needs_input_grad
    grad_maps, grad_weight = torch.ops.pixelrnn_native.binary_conv_backward(list(grads), maps, weight, want_maps,
                                                                            want_weight)
    return grad_maps if want_maps else None, grad_weight if want_weight else None
