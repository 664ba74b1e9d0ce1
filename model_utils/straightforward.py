"""The paper's model (1-layer binary CNN + PixelRNN cell + linear decoder) written the straightforward
way: a loop over frames, every stage a separate op, weights quantised again for every frame.

It reads the parameters of an ``InPixelClassifier`` and computes the same function as its forward
pass, so ``benchmarks/bench_train.py`` can time it against the project's model and the tests can compare
logits and gradients of the two. It is a yardstick: the model never calls it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from model_utils.mosaic import tile


def straightforward_forward(model, clips: torch.Tensor) -> torch.Tensor:
    """clips (B, T, 1, S, S) -> logits (B, classes), with ``model``'s parameters, quantizers and noise."""
    encoder, cell = model.encoder, model.stage
    if hasattr(encoder, "conv2") or cell.registry_name != "pixelrnn":
        raise ValueError("the straightforward model covers the paper's model only: a one-layer binary_cnn "
                         f"encoder and the pixelrnn cell (got {len(encoder.layers)} layers, cell "
                         f"{cell.registry_name!r})")
    pad = cell.kernel_size // 2
    h = None
    output = None
    for t in range(clips.shape[1]):
        x = clips[:, t]
        if hasattr(encoder, "thresh0"):
            x = x - encoder.thresh0
        xb = encoder.output_quantizer(x)
        w1 = encoder.conv1.quantized_weight()
        c = F.conv2d(xb, w1, padding=encoder.conv1.padding)
        c = F.relu(c)
        p = F.max_pool2d(c, encoder.pool[0])
        p = encoder.noise(p)
        b = encoder.output_quantizer(p - encoder.thresh1)
        x_t = tile(b)
        if h is None:
            h = torch.ones_like(x_t)
        f_i = F.conv2d(x_t, cell.ConvGates_i.quantized_weight(), padding=pad)
        f_h = F.conv2d(h, cell.ConvGates_h.quantized_weight(), padding=pad)
        o_i = F.conv2d(x_t, cell.Conv_out_i.quantized_weight(), padding=pad)
        o_h = F.conv2d(h, cell.Conv_out_h.quantized_weight(), padding=pad)
        output = cell.output_noise(o_i + o_h)
        threshold = cell.rnn_threshold[0] if hasattr(cell, "rnn_threshold") else -1e-3
        gate = cell.gate_quantizer(cell.gate_noise(f_i + f_h) - threshold)
        h = gate * h
    y = F.conv2d(output, model.fin_conv.quantized_weight())
    y = model.fin_convpost(y)
    y = torch.tanh(y) - model.thresh3
    return F.linear(y.flatten(1), model.fc.weight_quantizer(model.fc.weight), model.fc.bias)
