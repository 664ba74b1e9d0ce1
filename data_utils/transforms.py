"""Frame preprocessing, clip sampling and clip augmentation.

Preprocessing (registry ``PREPROCESSINGS``) maps one decoded RGB ``uint8`` frame to the model's
float32 ``S x S`` gray input:

* ``release`` -- exactly the PixelRNN release's chain: RGB -> ``[0, 1]`` (``ToTensor``: float32
  ``/ 255``) -> ImageNet normalisation per channel (``Normalize``: ``(x - mean) / std``) -> gray
  ``0.299 R + 0.587 G + 0.114 B`` of the *normalised* channels -> bilinear resize to ``S x S``.
  The release resized tensors with ``transforms.Resize``, which at the time meant no antialiasing;
  we call ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
  antialias=False)``, which is what ``torchvision.transforms.functional.resize(...,
  antialias=False)`` runs on tensors (a test checks they agree bit for bit). Binarising this with
  ``sign`` puts the threshold at a gray level of about 0.459 of full scale.
* ``unit`` -- gray ``0.299 R + 0.587 G + 0.114 B`` in ``[0, 1]``, the same resize, minus 0.5.

Both are affine in the frame's weighted gray level ``i`` in ``[0, 1]``: ``value = scale * i +
offset``; brightness augmentation uses that to scale intensities and clip them to ``[0, 1]``.

Clip sampling (``FRAME_SAMPLINGS``): ``spread`` takes ``timesteps`` frames evenly spaced over the
clip, at ``floor((k + u) * n / T)``, ``u`` uniform in ``[0, 1)`` in training and ``u = 0.5``
(centred) in evaluation. ``end`` ends on the last frame. ``release`` is the release's: frames
``floor(k n / T)`` plus an offset drawn from ``{0 .. n - 1 - floor((T - 1) n / T)}`` in training,
the largest offset (ending on the last frame) in evaluation. A clip shorter than ``T`` is played
once and padded by repeating its last frame (its motion keeps its speed; the release padded with
random duplicates).

Augmentation (training only) is drawn once per clip and applied identically to every frame, or,
with ``per_frame`` (the release's way), drawn anew for every frame, which makes frames jitter
within a clip: a brightness factor, a horizontal flip, then an integer translation whose
uncovered border is filled with zero (the model-space value 0) or with the nearest edge pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """RGB uint8 frame -> float32 model input ``[S, S]``; see the module docstring."""
    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_offset: float

    def __call__(self, rgb: np.ndarray, frame_size: int) -> torch.Tensor:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"Preprocessing {self.name!r} expects an H x W x 3 uint8 RGB frame, "
                             f"got shape {rgb.shape} and dtype {rgb.dtype}.")
        channels = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        channels = channels.to(torch.float32).div(255)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1)
        channels = channels.sub(mean).div(std)
        gray = (GRAY_WEIGHTS[0] * channels[0] + GRAY_WEIGHTS[1] * channels[1]
                + GRAY_WEIGHTS[2] * channels[2])
        resized = F.interpolate(gray[None, None], size=(frame_size, frame_size),
                                mode="bilinear", align_corners=False, antialias=False)[0, 0]
        if self.output_offset:
            resized = resized + self.output_offset
        return resized.contiguous()

    @property
    def intensity_scale(self) -> float:
        """``d value / d i`` for a gray level ``i`` in ``[0, 1]`` (equal on all channels)."""
        return sum(weight / deviation for weight, deviation in zip(GRAY_WEIGHTS, self.std))

    @property
    def intensity_offset(self) -> float:
        """The value of a black frame."""
        return self.output_offset - sum(weight * mean / deviation for weight, mean, deviation
                                        in zip(GRAY_WEIGHTS, self.mean, self.std))


PREPROCESSINGS: dict[str, Preprocessing] = {
    "release": Preprocessing("release", IMAGENET_MEAN, IMAGENET_STD, output_offset=0.0),
    "unit": Preprocessing("unit", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), output_offset=-0.5),
}


def get_preprocessing(name: str) -> Preprocessing:
    if name not in PREPROCESSINGS:
        raise ValueError(f"Unknown preprocessing {name!r}; accepted: {sorted(PREPROCESSINGS)}.")
    return PREPROCESSINGS[name]


FRAME_SAMPLINGS = ("spread", "end", "release")


def sample_frame_indices(num_frames: int, timesteps: int,
                         rng: np.random.Generator | None = None, sampling: str = "spread") -> np.ndarray:
    """Indices of ``timesteps`` frames evenly spaced over a clip of ``num_frames``.

    ``spread``: ``rng`` given (training), a random phase within one stride; ``None`` (evaluation),
    centred. ``end``: the last index is the clip's last frame, in training and evaluation alike (a
    single-frame model then sees the frame a recurrent model reads out after).
    """
    if num_frames < 1:
        raise ValueError(f"A clip needs at least one frame, got num_frames={num_frames}.")
    if timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps}.")
    if num_frames <= timesteps:
        padding = np.full(timesteps - num_frames, num_frames - 1, dtype=np.int64)
        return np.concatenate([np.arange(num_frames, dtype=np.int64), padding])
    if sampling == "end":
        return np.ceil((np.arange(1, timesteps + 1) * num_frames) / timesteps).astype(np.int64) - 1
    if sampling == "release":
        base = np.arange(timesteps, dtype=np.int64) * num_frames // timesteps
        slack = num_frames - 1 - int(base[-1])
        return base + (int(rng.integers(0, slack + 1)) if rng is not None else slack)
    if sampling != "spread":
        raise ValueError(f"frame sampling {sampling!r} is not one of {FRAME_SAMPLINGS}")
    phase = rng.random() if rng is not None else 0.5
    positions = (np.arange(timesteps, dtype=np.float64) + phase) * (num_frames / timesteps)
    return np.minimum(np.floor(positions).astype(np.int64), num_frames - 1)


@dataclass(frozen=True)
class AugmentationDraw:
    """One clip's random choices, shared by all of its frames."""
    shift_x: int = 0
    shift_y: int = 0
    flip: bool = False
    brightness_factor: float = 1.0


FILL_MODES = ("zero", "edge")


@dataclass(frozen=True)
class ClipAugmentation:
    """Augmentation settings: max translation in pixels, drawn per clip or per frame, flip, brightness."""
    translate: int = 0
    per_frame: bool = False
    hflip: bool = False
    brightness: float = 0.0
    fill: str = "zero"

    def __post_init__(self):
        if isinstance(self.translate, bool) or not isinstance(self.translate, int) \
                or self.translate < 0:
            raise ValueError(f"augment.translate must be a non-negative integer number of pixels, "
                             f"got {self.translate!r}.")
        if not isinstance(self.per_frame, bool):
            raise ValueError(f"augment.per_frame must be true or false, got {self.per_frame!r}.")
        if not isinstance(self.hflip, bool):
            raise ValueError(f"augment.hflip must be true or false, got {self.hflip!r}.")
        if isinstance(self.brightness, bool) or not isinstance(self.brightness, (int, float)) \
                or not 0.0 <= self.brightness < 1.0:
            raise ValueError(f"augment.brightness must be a number in [0, 1) (the factor is drawn "
                             f"from [1 - b, 1 + b]), got {self.brightness!r}.")
        if self.fill not in FILL_MODES:
            raise ValueError(f"augment.fill must be one of {FILL_MODES}, got {self.fill!r}.")

    @classmethod
    def from_config(cls, config: dict | None) -> "ClipAugmentation":
        config = dict(config or {})
        accepted = {"translate", "per_frame", "hflip", "brightness", "fill"}
        unknown = sorted(set(config) - accepted)
        if unknown:
            raise ValueError(f"Unknown key(s) {unknown} in data.augment; accepted: "
                             f"{sorted(accepted)}.")
        return cls(**config)

    @property
    def enabled(self) -> bool:
        return self.translate > 0 or self.hflip or self.brightness > 0

    def draw(self, rng: np.random.Generator) -> AugmentationDraw:
        shift_x, shift_y = (int(value) for value in
                            rng.integers(-self.translate, self.translate + 1, size=2))
        flip = bool(self.hflip and rng.random() < 0.5)
        factor = float(rng.uniform(1.0 - self.brightness, 1.0 + self.brightness)) \
            if self.brightness > 0 else 1.0
        return AugmentationDraw(shift_x, shift_y, flip, factor)

    def augment(self, clip: torch.Tensor, rng: np.random.Generator, preprocessing: Preprocessing) -> torch.Tensor:
        """A clip ``[T, 1, S, S]`` with one draw for all frames, or (``per_frame``) one draw per frame."""
        if not self.per_frame:
            return self.apply(clip, self.draw(rng), preprocessing)
        return torch.cat([self.apply(frame[None], self.draw(rng), preprocessing) for frame in clip])

    def apply(self, clip: torch.Tensor, draw: AugmentationDraw,
              preprocessing: Preprocessing) -> torch.Tensor:
        """Apply one draw to a clip ``[T, 1, S, S]`` (every frame the same way)."""
        if draw.brightness_factor != 1.0:
            scale, offset = preprocessing.intensity_scale, preprocessing.intensity_offset
            intensity = ((clip - offset) / scale * draw.brightness_factor).clamp(0.0, 1.0)
            clip = intensity * scale + offset
        if draw.flip:
            clip = torch.flip(clip, dims=(-1,))
        if draw.shift_x or draw.shift_y:
            clip = translate_clip(clip, draw.shift_x, draw.shift_y, self.fill)
        return clip


def translate_clip(clip: torch.Tensor, shift_x: int, shift_y: int, fill: str) -> torch.Tensor:
    """Shift content right by ``shift_x`` and down by ``shift_y`` pixels; fill what is uncovered."""
    if fill not in FILL_MODES:
        raise ValueError(f"fill must be one of {FILL_MODES}, got {fill!r}.")
    height, width = clip.shape[-2:]
    margin = max(abs(shift_x), abs(shift_y))
    if margin == 0:
        return clip
    padded = F.pad(clip, (margin, margin, margin, margin),
                   mode="constant" if fill == "zero" else "replicate")
    top, left = margin - shift_y, margin - shift_x
    return padded[..., top:top + height, left:left + width].contiguous()
