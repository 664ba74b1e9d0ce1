"""Sensor images: the BMP files SCAMP-5 tools exchange, their value encodings and the per-stage layouts.

Encodings (docs/file_formats.md), on the sensor's 8-bit readout scale:
* binary maps: -1 -> 0, +1 -> 255 (0 -> 127);
* analogue maps: ``clip(trunc(v * iw + 127), 0, 255)`` with ``iw`` the sensor's "input white";
  they saturate for |v| >= 13 at iw = 10.
The release wrote its files through a gray colormap that moves 24 levels one step down, so analogue
pixels are decoded with ``round((p - 127) / iw)`` (exact for ours and for the release's), while sensor
read-outs that feed the decoder are decoded linearly, ``(p - 127) / iw``, as the release's decoder did.

Files are read in any BMP depth (the release's are 32-bit, the sensor's 24-bit; R = G = B, the first
channel is used) and written as 24-bit gray BMPs with exact values, atomically.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from model_utils.mosaic import tile, untile
from training_utils.atomic_files import write_bytes

CENTER = 127


class SensorImageError(ValueError):
    """A sensor image that cannot be read or has the wrong size; the message names the file."""


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------
def read_sensor_image(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a gray BMP as (H, W) uint8; ``shape`` (rows, cols) is checked when given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sensor image not found: {path}")
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise SensorImageError(f"sensor image {path} cannot be decoded (expected a BMP file, 8-, 24- or 32-bit gray)")
    if pixels.dtype != np.uint8:
        raise SensorImageError(f"sensor image {path} has {pixels.dtype} pixels; expected 8-bit channels")
    if pixels.ndim == 3:
        pixels = pixels[..., 0]
    if shape is not None and tuple(pixels.shape) != tuple(shape):
        raise SensorImageError(f"sensor image {path} is {pixels.shape[0]}x{pixels.shape[1]} (rows x cols); "
                               f"expected {shape[0]}x{shape[1]}")
    return np.ascontiguousarray(pixels)


def write_sensor_image(path, pixels: np.ndarray) -> None:
    """Write (H, W) uint8 as a 24-bit BMP with R = G = B, atomically."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"sensor image for {path} must be a 2-D uint8 array, got {pixels.dtype} {pixels.shape}")
    ok, encoded = cv2.imencode(".bmp", np.repeat(pixels[..., None], 3, axis=2))
    if not ok:
        raise SensorImageError(f"could not encode sensor image for {path}")
    write_bytes(path, encoded.tobytes())


# ----------------------------------------------------------------------------------------------
# Value encodings
# ----------------------------------------------------------------------------------------------
def _numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def encode_binary(values) -> np.ndarray:
    """+-1 (0 allowed) -> 0 / 255 (127)."""
    v = _numpy(values)
    return np.where(v > 0, 255, np.where(v < 0, 0, CENTER)).astype(np.uint8)


def decode_binary(pixels) -> np.ndarray:
    """0 / 255 (127) -> -1 / +1 (0)."""
    p = np.asarray(pixels, dtype=np.int32)
    return np.where(p > 191, 1.0, np.where(p < 64, -1.0, 0.0))


def encode_analog(values, input_white: float) -> np.ndarray:
    """v -> clip(trunc(v * iw + 127), 0, 255): the release's encoding of analogue maps."""
    v = _numpy(values)
    return np.clip(np.trunc(v * input_white + CENTER), 0, 255).astype(np.uint8)


def decode_analog(pixels, input_white: float) -> np.ndarray:
    """Integer-valued analogue maps: round((p - 127) / iw) (tolerates the release's colormap shift)."""
    return np.round((np.asarray(pixels, dtype=np.float64) - CENTER) / input_white)


def decode_readout(pixels, input_white: float) -> np.ndarray:
    """Sensor read-outs for the decoder: (p - 127) / iw, no rounding."""
    return (np.asarray(pixels, dtype=np.float64) - CENTER) / input_white


# ----------------------------------------------------------------------------------------------
# Per-stage layouts of print_intermediates (one clip, one frame)
# ----------------------------------------------------------------------------------------------
STAGE_FILES = ("0_input_x", "0_binarized_x", "1_conv1", "2_conv1post", "3_thresholded_quantized", "4_hidden",
               "5_fi_fh_oi_oh", "6_ft_ot", "7_forget_gate_x")
STAGE_SHAPES = {"0_input_x": (64, 64), "0_binarized_x": (64, 64), "1_conv1": (256, 256), "2_conv1post": (64, 64),
                "3_thresholded_quantized": (64, 64), "4_hidden": (64, 64), "5_fi_fh_oi_oh": (128, 128),
                "6_ft_ot": (128, 64), "7_forget_gate_x": (64, 64)}
# Trace stages a frame's images are made of (the model's own forward pass records them).
TRACE_STAGES = ("input", "input_binarized", "conv", "pooled", "encoded", "hidden_prev", "ConvGates_i", "ConvGates_h",
                "Conv_out_i", "Conv_out_h", "hidden", "output", "gate")


def normalized_input(clip_frames: torch.Tensor) -> np.ndarray:
    """0_input_x of every frame: the clip (T, H, W) min-max normalised over the whole clip to 0..255."""
    x = _numpy(clip_frames)
    low, high = x.min(), x.max()
    scaled = (x - low) / (high - low) * 255 if high > low else np.zeros_like(x)
    return np.clip(np.trunc(scaled), 0, 255).astype(np.uint8)


def stage_images(trace: dict, item: int, frame: int, input_white: float,
                 input_rnn_white: float | None = None) -> dict[str, np.ndarray]:
    """The images of one frame of batch item ``item`` from a trace of the model's forward pass."""
    missing = [s for s in TRACE_STAGES if s not in trace]
    if missing:
        raise ValueError(f"the model's trace lacks stage(s) {missing}; the sensor images need the 1-layer binary "
                         "encoder and the pixelrnn cell")
    rnn_white = input_white if input_rnn_white is None else input_rnn_white

    def at(stage):
        return trace[stage][frame][item:item + 1]  # (1, C, H, W)

    clip_input = torch.stack([trace["input"][t][item, 0] for t in range(len(trace["input"]))])
    gates = [at(s)[0, 0] for s in ("ConvGates_i", "ConvGates_h", "Conv_out_i", "Conv_out_h")]
    return {
        "0_input_x": normalized_input(clip_input)[frame],
        "0_binarized_x": encode_binary(at("input_binarized")[0, 0]),
        "1_conv1": encode_analog(tile(at("conv"))[0, 0], input_white),
        "2_conv1post": encode_analog(tile(at("pooled"))[0, 0], input_white),
        "3_thresholded_quantized": encode_binary(at("encoded")[0, 0]),
        "4_hidden": encode_binary(at("hidden_prev")[0, 0]),
        "5_fi_fh_oi_oh": encode_analog(torch.cat([torch.cat(gates[:2], 1), torch.cat(gates[2:], 1)], 0), rnn_white),
        "6_ft_ot": np.concatenate([encode_binary(at("hidden")[0, 0]),
                                   encode_analog(at("output")[0, 0], rnn_white)], axis=0),
        "7_forget_gate_x": encode_binary(at("gate")[0, 0]),
    }


def decode_stage(stage: str, pixels: np.ndarray, input_white: float, channels: int = 16) -> dict[str, np.ndarray]:
    """Values a stage image holds, in model layout: e.g. ``1_conv1`` -> {"conv": (16, 64, 64)},
    ``5_fi_fh_oi_oh`` -> {"fi", "fh", "oi", "oh"}, ``6_ft_ot`` -> {"hidden", "output"}."""
    if stage not in STAGE_SHAPES:
        raise ValueError(f"unknown stage {stage!r}; accepted: {', '.join(STAGE_FILES)}")
    if tuple(pixels.shape) != STAGE_SHAPES[stage]:
        raise SensorImageError(f"stage {stage} image is {pixels.shape}; expected {STAGE_SHAPES[stage]}")

    def untiled(values):
        return untile(torch.from_numpy(values)[None, None], channels)[0].numpy()

    if stage == "0_input_x":
        return {"input": pixels.astype(np.float64)}
    if stage == "0_binarized_x":
        return {"input_binarized": decode_binary(pixels)}
    if stage == "1_conv1":
        return {"conv": untiled(decode_analog(pixels, input_white))}
    if stage == "2_conv1post":
        return {"pooled": untiled(decode_analog(pixels, input_white))}
    if stage == "3_thresholded_quantized":
        return {"encoded": decode_binary(pixels)}
    if stage == "4_hidden":
        return {"hidden_prev": decode_binary(pixels)}
    if stage == "5_fi_fh_oi_oh":
        v = decode_analog(pixels, input_white)
        return {"fi": v[:64, :64], "fh": v[:64, 64:], "oi": v[64:, :64], "oh": v[64:, 64:]}
    if stage == "6_ft_ot":
        return {"hidden": decode_binary(pixels[:64]), "output": decode_analog(pixels[64:], input_white)}
    return {"gate": decode_binary(pixels)}


# ----------------------------------------------------------------------------------------------
# Kernel images
# ----------------------------------------------------------------------------------------------
def _kernel_grid(kernels: list[np.ndarray], columns: int) -> np.ndarray:
    """Kernels row-major in a grid with gray gaps as wide as a kernel (the release's layout)."""
    size = kernels[0].shape[0]
    rows = -(-len(kernels) // columns)
    image = np.full((rows * 2 * size - size, columns * 2 * size - size), CENTER, dtype=np.uint8)
    for index, kernel in enumerate(kernels):
        r, c = divmod(index, columns)
        image[r * 2 * size:r * 2 * size + size, c * 2 * size:c * 2 * size + size] = encode_binary(kernel)
    return image


def conv_weights_image(conv_kernels) -> np.ndarray:
    """convweights.BMP: the (16, 1, k, k) binary CNN kernels, 4 per row, channel order, PyTorch orientation."""
    kernels = [k[0] for k in _numpy(conv_kernels)]
    return _kernel_grid(kernels, 4)


def rnn_weights_image(wfi, wfh, woi, woh) -> np.ndarray:
    """rnnweights.BMP: [[Wfi, gap, Wfh], [gap], [Woi, gap, Woh]]."""
    return _kernel_grid([_numpy(w).reshape(_numpy(w).shape[-2:]) for w in (wfi, wfh, woi, woh)], 2)
