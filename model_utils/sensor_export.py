"""Sensor-ready weights of a trained model: the release's text format, the weights JSON the emulator
runner reads, and a C++ header for the ``scamp5/`` program.

Only what the sensor program implements can be exported: the one-layer binary CNN encoder (16 maps of
5x5 kernels) and the PixelRNN cell, with kernels that are exactly +-1 after quantisation.

Thresholds: the model decides ``sign(v - thr)`` on integer-valued maps, so the exact decision is an
integer level ("step"): the pooled CNN map p is +1 iff p >= floor(thr) + 1; the gate sum f is always
even, so it is +1 iff f >= the smallest even integer above thr. On the sensor, maps are scaled by the
analogue unit ``iw`` ("input white"): the sensor decides +1 iff v >= step * iw, which must fit the
8-bit analogue range -128..127.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from training_utils.release_vocabulary import release_state_key

from .cells import PixelRNNCell
from .encoders import BinaryConvEncoder

# The release's parameter order and names (its modules were defined thresh3 first, thresholds before kernels);
# its text files follow it. ``thresh0`` (lip CNN's input threshold) is placed with the CNN thresholds.
RELEASE_PARAMETER_ORDER = (
    "thresh3", "cnn_model.thresh0", "cnn_model.thresh1", "cnn_model.thresh2", "cnn_model.conv1.weight",
    "rnn_model.rnn_threshold", "rnn_model.ConvGates_i.weight", "rnn_model.ConvGates_h.weight",
    "rnn_model.Conv_out_i.weight", "rnn_model.Conv_out_h.weight", "fin_conv.weight",
    "fin_convpost.0.weight", "fin_convpost.0.bias", "fc.weight", "fc.bias",
)
RNN_KERNELS = {"Wfi": "ConvGates_i", "Wfh": "ConvGates_h", "Woi": "Conv_out_i", "Woh": "Conv_out_h"}
# Sensor load order of the CNN kernels: quadrant n (reading order) holds mosaic channel (n % 4) * 4 + n // 4,
# the row-major reading of the column-major mosaic.
SENSOR_KERNEL_ORDER = tuple((n % 4) * 4 + n // 4 for n in range(16))
SENSOR_RANGE = (-128, 127)


class SensorExportError(ValueError):
    """A model or value that the sensor program cannot run; the message says what and why."""


# ----------------------------------------------------------------------------------------------
# What the sensor runs
# ----------------------------------------------------------------------------------------------
def check_exportable(model: nn.Module) -> None:
    encoder, cell = model.encoder, model.stage
    if not isinstance(encoder, BinaryConvEncoder) or len(encoder.layers) != 1:
        raise SensorExportError("only the one-layer binary CNN encoder can be exported to the sensor "
                                f"(got {type(encoder).__name__} with {len(getattr(encoder, 'layers', []))} layers)")
    if encoder.channels != 16 or encoder.conv1.kernel_size != (5, 5) or encoder.pool != [4]:
        raise SensorExportError("the sensor program runs 16 CNN kernels of 5x5 with 4x4 pooling; this encoder has "
                                f"{encoder.channels} kernels of {encoder.conv1.kernel_size} and pooling {encoder.pool}")
    if not isinstance(cell, PixelRNNCell) or cell.kernel_size != 5:
        raise SensorExportError(f"only the pixelrnn cell with 5x5 kernels can be exported to the sensor "
                                f"(got {type(cell).__name__})")
    for name, layer in sensor_kernel_layers(model).items():
        bits = layer.weight_quantizer.bits
        values = torch.unique(layer.quantized_weight().detach())
        if bits != 1 or not set(values.tolist()) <= {-1.0, 1.0}:
            raise SensorExportError(
                f"{name} is not binary after quantisation (quantizer {layer.weight_quantizer.name!r}, {bits} bits, "
                f"values {sorted(set(values.tolist()))[:5]}); the sensor stores +-1 kernels only: train with a "
                "binary quantizer (e.g. tanh_mx) for cnn_weights and rnn_weights")


def sensor_kernel_layers(model: nn.Module) -> dict:
    layers = {"encoder.conv1": model.encoder.conv1}
    for gate in RNN_KERNELS.values():
        layers[f"cell.{gate}"] = getattr(model.stage, gate)
    return layers


def kernel_ints(layer) -> torch.Tensor:
    return layer.quantized_weight().detach().cpu().round().to(torch.int64)


def threshold_step(threshold: float) -> int:
    """CNN: p integer, sign(p - thr) = +1 iff p >= floor(thr) + 1."""
    return math.floor(threshold) + 1


def gate_threshold_step(threshold: float) -> int:
    """Gate: f even, sign(f - thr) = +1 iff f >= the smallest even integer > thr."""
    return 2 * math.floor(threshold / 2) + 2


def sensor_level(step: int, input_white: int, name: str) -> int:
    level = step * input_white
    if not SENSOR_RANGE[0] <= level <= SENSOR_RANGE[1]:
        raise SensorExportError(f"{name} = {step} x input white {input_white} = {level} is outside the sensor's "
                                f"analogue range {SENSOR_RANGE[0]}..{SENSOR_RANGE[1]}; lower the input white")
    return level


def _check_white(value, name: str) -> int:
    """The sensor's analogue unit as an int: a whole number in 1..127, given as int or float (the tools' -iw
    is a float, so ``-iw 10`` arrives as 10.0)."""
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 1 <= value <= 127:
        raise SensorExportError(f"{name} must be an integer in 1..127 (the sensor's analogue unit), got {value!r}")
    return int(value)


def _scalar(param) -> float:
    return float(param.detach().cpu().reshape(-1)[0])


def sensor_weights(model: nn.Module, input_white: int = 10, input_rnn_white: int | None = None,
                   source: dict | None = None) -> dict:
    """Everything the sensor and the off-sensor decoder need, in the fixed weights-JSON format."""
    check_exportable(model)
    input_white = _check_white(input_white, "input white")
    input_rnn_white = _check_white(input_white if input_rnn_white is None else input_rnn_white, "input rnn white")
    encoder, cell = model.encoder, model.stage
    cnn_threshold = _scalar(encoder.thresh1)
    gate_threshold = _scalar(cell.thresholds(encoder.thresh1)[0])
    cnn_step, gate_step = threshold_step(cnn_threshold), gate_threshold_step(gate_threshold)
    bn = model.fin_convpost[0]
    return {
        "format": "pixelrnn-sensor-weights", "version": 1,
        "input_white": input_white, "input_rnn_white": input_rnn_white,
        "cnn": {
            "kernels": kernel_ints(encoder.conv1)[:, 0].tolist(),
            "threshold": cnn_threshold, "threshold_step": cnn_step,
            "threshold_sensor": sensor_level(cnn_step, input_white, "CNN threshold step"),
            "input_threshold": _scalar(encoder.thresh0) if hasattr(encoder, "thresh0") else 0.0,
        },
        "rnn": {
            "cell": "pixelrnn",
            **{key: kernel_ints(getattr(cell, gate))[0, 0].tolist() for key, gate in RNN_KERNELS.items()},
            "gate_threshold": gate_threshold, "gate_threshold_step": gate_step,
            "gate_threshold_sensor": sensor_level(gate_step, input_rnn_white, "gate threshold step"),
        },
        "decoder": {
            "fin_conv": int(kernel_ints(model.fin_conv).reshape(-1)[0]),
            "batchnorm": {"weight": _scalar(bn.weight), "bias": _scalar(bn.bias),
                          "running_mean": _scalar(bn.running_mean), "running_var": _scalar(bn.running_var),
                          "eps": float(bn.eps)},
            "thresh3": _scalar(model.thresh3),
            "fc_weight": model.fc.weight_quantizer(model.fc.weight).detach().cpu().tolist(),
            "fc_bias": model.fc.bias.detach().cpu().tolist(),
        },
        "source": dict(source or {}),
    }


# ----------------------------------------------------------------------------------------------
# The release's text format
# ----------------------------------------------------------------------------------------------
def _sensor_taps(kernel: torch.Tensor) -> list[int]:
    """A k x k kernel in the sensor's load order: bottom row first, left to right within a row."""
    return kernel.flip(0).reshape(-1).tolist()


def _kernel_blocks(kernels: torch.Tensor) -> str:
    """(out, in, k, k) ints -> the release's nested brace blocks."""
    lines = []
    for out_channel in kernels:
        lines.append("    { ")
        lines += ["        {" + ",".join(str(v) for v in _sensor_taps(k)) + "}," for k in out_channel]
        lines.append("    }, ")
    return "\n".join(lines) + "\n"


def _effective_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter as the forward pass uses it (quantised weights quantised)."""
    values = {name: p.detach().cpu() for name, p in model.named_parameters()}
    for module_name, module in model.named_modules():
        if hasattr(module, "weight_quantizer"):
            values[f"{module_name}.weight"] = module.weight_quantizer(module.weight).detach().cpu()
    return values


def release_text(model: nn.Module, sensor_format: bool = True) -> str:
    """The release's ``extract_weights`` text: one section per parameter, the release's order, the
    lower-cased name and a colon; 5x5 binary kernels as brace blocks (``sensor_format``: CNN kernels in
    sensor load order), everything else as a Python list. Thresholds stay in model units."""
    check_exportable(model)
    values = {release_state_key(name): value for name, value in _effective_parameters(model).items()}
    order = [n for n in RELEASE_PARAMETER_ORDER if n in values] + [n for n in values if n not in RELEASE_PARAMETER_ORDER]
    kernel_names = {release_state_key(f"{name}.weight") for name in sensor_kernel_layers(model)}
    parts = []
    for name in order:
        parts.append(name.lower() + ":\n")
        value = values[name]
        if sensor_format and name in kernel_names:
            kernels = value.round().to(torch.int64)
            if name == "cnn_model.conv1.weight":
                kernels = kernels[list(SENSOR_KERNEL_ORDER)]
            parts.append(_kernel_blocks(kernels))
        else:
            parts.append(str(value.tolist()) + "\n")
    return "".join(parts)


# ----------------------------------------------------------------------------------------------
# C++ header
# ----------------------------------------------------------------------------------------------
def _int_list(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def _flat_taps(kernel_rows) -> list[int]:
    return _sensor_taps(torch.tensor(kernel_rows))


def cpp_header(weights: dict) -> str:
    """A header for the ``scamp5/`` sensor program from ``sensor_weights(...)``: kernels in sensor load
    order (taps bottom row first), thresholds already in sensor units and range-checked."""
    cnn, rnn = weights["cnn"], weights["rnn"]
    source = weights.get("source", {})
    cnn_rows = [_int_list(_flat_taps(cnn["kernels"][c])) for c in SENSOR_KERNEL_ORDER]
    lines = [
        "// Sensor-ready PixelRNN weights, written by extract_weights.py; do not edit by hand.",
        f"// config: {source.get('config', '?')}",
        f"// checkpoint: {source.get('checkpoint', '?')}",
        "#pragma once",
        "#include <cstdint>",
        "",
        "namespace pixelrnn_weights {",
        "",
        "// Analogue unit (\"input white\") of the CNN and of the recurrent convolutions.",
        f"constexpr int kInputWhite = {weights['input_white']};",
        f"constexpr int kInputRnnWhite = {weights['input_rnn_white']};",
        "",
        "// Decision levels in sensor units: a map value v gives +1 iff v >= level (level = step * input white).",
        f"// CNN: thresh1 = {cnn['threshold']!r} (model units), step {cnn['threshold_step']}.",
        f"constexpr int kCnnThresholdSensor = {cnn['threshold_sensor']};",
        f"constexpr int kCnnThresholdStep = {cnn['threshold_step']};",
        f"// Gate: threshold {rnn['gate_threshold']!r} (model units), step {rnn['gate_threshold_step']}.",
        f"constexpr int kGateThresholdSensor = {rnn['gate_threshold_sensor']};",
        f"constexpr int kGateThresholdStep = {rnn['gate_threshold_step']};",
        "// Input binarisation threshold (model units; 0 = sign of the preprocessed frame).",
        f"constexpr double kInputThreshold = {cnn['input_threshold']!r};",
        "",
        "// CNN kernels in sensor load order: entry n goes to quadrant n (reading order) and computes mosaic",
        "// channel kCnnKernelChannel[n]. Taps: index 0..4 = bottom kernel row, left to right; 20..24 = top row.",
        f"constexpr int kCnnKernelChannel[16] = {_int_list(SENSOR_KERNEL_ORDER)};",
        "constexpr std::int8_t kCnnKernels[16][25] = {",
        *[f"    {row}," for row in cnn_rows],
        "};",
        "",
        "// Recurrent kernels (same tap order): f = Wfi*x + Wfh*h, o = Woi*x + Woh*h.",
        *[f"constexpr std::int8_t k{key}[25] = {_int_list(_flat_taps(rnn[key]))};" for key in RNN_KERNELS],
        "",
        "}  // namespace pixelrnn_weights",
        "",
    ]
    return "\n".join(lines)
