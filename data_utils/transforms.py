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
the largest offset (ending on the last frame) in evaluation.

A clip shorter than ``T`` (``SHORT_CLIP_POLICIES``): ``repeat_last`` plays it once and pads it by
repeating its last frame (its motion keeps its speed); ``stretch_random`` is the release's: it adds
``T - n`` (at most ``n``) of its frames chosen at random, each right after its original -- a
time-stretch with random duplicates -- and samples the lengthened clip as above. The duplicates are
drawn anew in training and seeded with 2023 in evaluation (the release seeded them so for its
Tulips1 validation and test clips, with Python's ``random.shuffle``, which is reproduced here).

Augmentation (training only) is drawn once per clip and applied identically to every frame, or,
with ``per_frame`` (the release's way), drawn anew for every frame, which makes frames jitter
within a clip: a brightness factor, a horizontal flip, then an integer translation whose
uncovered border (``FILL_MODES``) is filled with zero (the model-space value 0), with black (the value
a black pixel has after preprocessing, as the release's ``RandomAffine`` filled the frame with 0 before
normalising it: it binarises to -1), or with the nearest edge pixel.
"""
from __future__ import annotations

import random
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
SHORT_CLIP_POLICIES = ("repeat_last", "stretch_random")
STRETCH_EVAL_SEED = 2023  # the release's seed for the duplicates of its Tulips1 validation and test clips


def sample_frame_indices(num_frames: int, timesteps: int, rng: np.random.Generator | None = None,
                         sampling: str = "spread", short_clips: str = "repeat_last") -> np.ndarray:
    """Indices of ``timesteps`` frames evenly spaced over a clip of ``num_frames``.

    ``spread``: ``rng`` given (training), a random phase within one stride; ``None`` (evaluation),
    centred. ``end``: the last index is the clip's last frame, in training and evaluation alike (a
    single-frame model then sees the frame a recurrent model reads out after). ``short_clips`` says
    how a clip of fewer than ``timesteps`` frames is lengthened (module docstring).
    """
    if num_frames < 1:
        raise ValueError(f"A clip needs at least one frame, got num_frames={num_frames}.")
    if timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps}.")
    if sampling not in FRAME_SAMPLINGS:
        raise ValueError(f"frame sampling {sampling!r} is not one of {FRAME_SAMPLINGS}")
    if short_clips not in SHORT_CLIP_POLICIES:
        raise ValueError(f"short-clip policy {short_clips!r} is not one of {SHORT_CLIP_POLICIES}")
    if num_frames < timesteps and short_clips == "stretch_random":
        stretched = stretch_short_clip(num_frames, timesteps, rng)
        return stretched[_spaced_indices(len(stretched), timesteps, rng, sampling)]
    if num_frames <= timesteps:
        padding = np.full(timesteps - num_frames, num_frames - 1, dtype=np.int64)
        return np.concatenate([np.arange(num_frames, dtype=np.int64), padding])
    return _spaced_indices(num_frames, timesteps, rng, sampling)


def stretch_short_clip(num_frames: int, timesteps: int, rng: np.random.Generator | None) -> np.ndarray:
    """The release's lengthening of a short clip: its frames plus the first ``timesteps - num_frames`` of a
    random permutation of them (all of them if that is more), in order, so each duplicate follows its
    original. ``rng`` None (evaluation): the permutation of Python's ``random.shuffle`` seeded with 2023."""
    if rng is None:
        order = list(range(num_frames))
        random.Random(STRETCH_EVAL_SEED).shuffle(order)
    else:
        order = rng.permutation(num_frames).tolist()
    duplicates = np.asarray(order[:timesteps - num_frames], dtype=np.int64)
    return np.sort(np.concatenate([np.arange(num_frames, dtype=np.int64), duplicates]))


def _spaced_indices(num_frames: int, timesteps: int, rng: np.random.Generator | None, sampling: str) -> np.ndarray:
    """``sampling``'s indices into ``num_frames`` frames (fewer than ``timesteps`` repeat some)."""
    if sampling == "end":
        return np.ceil((np.arange(1, timesteps + 1) * num_frames) / timesteps).astype(np.int64) - 1
    if sampling == "release":
        base = np.arange(timesteps, dtype=np.int64) * num_frames // timesteps
        slack = num_frames - 1 - int(base[-1])
        return base + (int(rng.integers(0, slack + 1)) if rng is not None else slack)
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


FILL_MODES = ("zero", "black", "edge")


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
            clip = translate_clip(clip, draw.shift_x, draw.shift_y, self.fill, preprocessing)
        return clip


def translate_clip(clip: torch.Tensor, shift_x: int, shift_y: int, fill: str,
                   preprocessing: Preprocessing | None = None) -> torch.Tensor:
    """Shift content right by ``shift_x`` and down by ``shift_y`` pixels; fill what is uncovered
    (``black`` needs the ``preprocessing`` that says what black is)."""
    if fill not in FILL_MODES:
        raise ValueError(f"fill must be one of {FILL_MODES}, got {fill!r}.")
    if fill == "black" and preprocessing is None:
        raise ValueError("fill 'black' needs the preprocessing that gives black's model-space value")
    height, width = clip.shape[-2:]
    margin = max(abs(shift_x), abs(shift_y))
    if margin == 0:
        return clip
    pad = (margin, margin, margin, margin)
    if fill == "edge":
        padded = F.pad(clip, pad, mode="replicate")
    else:
        padded = F.pad(clip, pad, value=0.0 if fill == "zero" else preprocessing.intensity_offset)
    top, left = margin - shift_y, margin - shift_x
    return padded[..., top:top + height, left:left + width].contiguous()
