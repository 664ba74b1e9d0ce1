"""Procedurally generated grayscale clip datasets: the project's default workload (no download).

Two datasets are registered in `SYNTHETIC_DATASETS`:

* ``synthetic_gestures`` -- 9 classes = 3 hand shapes x 3 motions, like Cambridge Hand Gesture.
* ``synthetic_lips`` -- 4 words = which mouth shapes a speaker passes through, like Tulips1.

Both are written in the real data's folder layout ``<root>/<class>/<sequence>/<frame>.png``
(8-bit gray PNG, 128 wide x 96 high, 20-40 frames per clip), so training on them exercises the
same loading path as the real datasets. ``ensure_synthetic(name, root)`` generates a dataset once
and records its parameters in ``<root>/synthetic.json``; a later call with the same parameters
returns immediately, a call with other parameters regenerates.

Design constraints come from what the model sees (README.md, "What runs where"): each frame is
normalised with the ImageNet mean/std and binarised with ``sign``, i.e. a pixel is "on" when its
gray value exceeds `BINARISATION_LEVEL` (~117/255); the frame is then resized to 64x64 (so the
128x96 frame is squeezed 2x horizontally, 1.5x vertically), convolved with 16 binary 5x5 filters
and max-pooled 4x4 to 16x16 maps. Hence:

* Hands and faces are bright (well above the level in every illumination set), the background is
  mostly below it, with some bright clutter so that "on" does not simply mean "hand".
* Hand shapes differ at a coarse scale, visible on the 16x16 pooled maps:
  ``flat`` (palm, fingers together: a tall solid block ~0.65 h wide), ``spread`` (palm plus five
  separated fingers fanned out: ~0.9 h wide with gaps of ~0.15 h between finger tips, several
  pixels even after the 2x horizontal squeeze) and ``fist`` (a compact rounded blob ~0.65 h wide
  and only ~0.6 h tall, sitting low). They differ in height, width, filled area and in holes,
  not in fine detail. A fist was chosen over a "V" sign because two raised fingers on a palm look
  like a thinned ``spread`` once pooled 4x4.
* Motion must not be readable from a single frame, so the recurrence is needed. Every clip ends
  with the hand near the frame centre (the same end-position distribution for all motions), so the
  last frame says which shape but not which motion; "move left" starts right of the centre,
  "move right" left of it. The end-scale distribution of "shrink" equals the (constant) scale
  distribution of the two moving classes, so its last frame is no smaller on average.
  Arithmetic forces a trade-off: a motion spanning 25-30 % of the frame width that ends at the
  centre starts up to ~34 % off-centre; keeping *every* frame within +-12 % of the centre would
  cap the span at ~12 % (too small for the 16x16 maps) or make the final position reveal the
  direction. We keep the end (what the decoder reads last) centred and let the start wander.
* Lips (``synthetic_lips``, like Tulips1: a close-up of a speaker's lower face). A word is a
  sequence of mouth shapes (visemes) between a closed start and a closed end: ``round`` ("oo":
  narrow, thick protruded lips), ``wide`` ("ee": lips spread past their resting corners, upper
  teeth in the slit, nasolabial folds beside the mouth) and ``open`` ("ah": a tall dark opening,
  the jaw and chin drop). The four classes are the words that pass through {round, open},
  {round, wide}, {open, wide} and all three; the visemes come in a random order, with random
  transition and hold times. Why the class is *which* shapes a word passes through, and not their
  order: the model keeps one bit per pixel between frames, updated by a gate (h_t = g_t h_{t-1},
  g_t = sign(Wfi*x_t + Wfh*h_{t-1} - threshold)). In a region of uniform input such a bit can
  hold, toggle, set or reset, but not both set on one shape and reset on another (setting needs
  Wfh's sum negative, resetting positive), so "round then wide" and "wide then round" with the
  same closed end leave the same state. What it can keep is whether a region was ever disturbed
  -- "was there something here at some point that is not here now" -- through a latch, or, as the
  nearly random kernels of a trained model do, through toggles whose parity scatters over a
  disturbed region while an undisturbed one keeps its value. Each viseme therefore has a region
  of its own, relative to the resting mouth, that only it disturbs: ``round`` uncovers the skin at
  the resting lips' corners, ``wide`` darkens the cheeks beyond them (lips, folds), ``open``
  darkens the region below the lips and uncovers the neck below the chin. A count of openings
  (the first version of this set) is what such a bit cannot hold: it keeps a parity.
  Single frames are ambiguous by construction: every clip starts and ends closed, so the last
  frame says nothing about the class; each viseme belongs to three of the four words and the
  order is random, so any other frame leaves at least three candidate words (a frame's best
  guess is right ~3/8 of the time; a linear classifier on the pooled binary maps of one frame
  position measures 0.2-0.5 across the positions, tests/test_synthetic.py). The random order is also what makes the frame's *position*
  in the clip uninformative: with fixed orders the first viseme would name the word.
  Subjects: 96, each with its own face outline, skin, lip and teeth tones and resting mouth width
  (0.22-0.29 of the frame width: a 1.3x spread, as in the first version); every viseme differs from rest
  by more than that spread (``round`` is 0.38x as wide, ``wide`` 1.38x) and the class cues are
  relative to the speaker's own resting mouth, seen at both ends of every clip. Sequences are
  named ``Subject{NN}_{repetition}`` in class folders ``1``..``4``, Tulips1's layout; clip ``i``
  of a class is subject ``i % 96 + 1``, repetition ``i // 96 + 1``. The default, 192 clips per
  class, is two repetitions per subject, as in Tulips1. The configs split by subject
  (``"split": "seeded_by_subject"``), so test speakers are never seen in training.
* Illumination follows Cambridge's five sets (brightness, contrast, gradient direction); each
  clip also gets its own cluttered background, position, scale, tilt, handedness, speed, frame
  count and per-frame sensor noise (lips: position, slow head drift, articulation, timing, frame
  count, noise; the illumination set cycles with clip index and class).

Every clip is drawn from its own random stream keyed by (seed, dataset, class, clip index), so a
clip does not change when ``clips_per_class`` grows, and the same seed gives byte-identical PNGs.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

FRAME_WIDTH = 128
FRAME_HEIGHT = 96
MIN_FRAMES = 20
MAX_FRAMES = 40
MARKER_NAME = "synthetic.json"

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# Gray value (0..1) at which the release's normalise-then-grayscale-then-sign pipeline flips: the
# zero of sum_c w_c (v - mean_c) / std_c for a gray pixel v (R = G = B). ~0.4588, i.e. ~117/255.
BINARISATION_LEVEL = sum(w * m / s for w, m, s in zip(_GRAY_WEIGHTS, _IMAGENET_MEAN, _IMAGENET_STD)) / sum(
    w / s for w, s in zip(_GRAY_WEIGHTS, _IMAGENET_STD)
)
BINARISATION_GRAY = 255.0 * BINARISATION_LEVEL

# Sub-pixel precision for cv2 drawing: coordinates are fixed-point with this many fraction bits.
_SHIFT = 4
_SCALE_FIXED = float(1 << _SHIFT)

PathLike = Union[str, os.PathLike]
RngFactory = Callable[..., np.random.Generator]  # (*integer key) -> generator of that key's stream


# --------------------------------------------------------------------------------------------
# Scene pieces shared by both datasets
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Illumination:
    """One lighting condition: ``out = 128 + gain * (img - 128) + offset + gradient``."""

    name: str
    gain: float
    offset: float
    gradient: float  # peak-to-peak brightness change across the frame, gray levels
    gradient_angle_deg: float  # direction of increasing brightness (0 = towards the right)


# Five sets like Cambridge Hand Gesture's: neutral, dim, bright, side-lit, top-lit. Chosen so that
# a hand of gray >= ~190 stays >= ~165 and a background of <= ~90 stays mostly below ~117.
ILLUMINATION_SETS: Tuple[Illumination, ...] = (
    Illumination("neutral", 1.00, 0.0, 0.0, 0.0),
    Illumination("dim", 0.85, -8.0, 6.0, 90.0),
    Illumination("bright", 1.10, 6.0, 6.0, 270.0),
    Illumination("side-lit", 1.00, -4.0, 28.0, 0.0),
    Illumination("top-lit", 0.92, 2.0, 24.0, 270.0),
)


def _pixel_grid() -> Tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH].astype(np.float32)
    return xs, ys


def _illumination_maps(illumination: Illumination, rng: np.random.Generator) -> Tuple[float, np.ndarray]:
    """Gain and additive map (offset + a linear gradient, its direction jittered per clip)."""
    xs, ys = _pixel_grid()
    angle = math.radians(illumination.gradient_angle_deg + rng.uniform(-15.0, 15.0))
    # Image y points down; angle 270 deg means "brighter towards the top".
    u = (xs - FRAME_WIDTH / 2) * math.cos(angle) - (ys - FRAME_HEIGHT / 2) * math.sin(angle)
    u /= max(FRAME_WIDTH, FRAME_HEIGHT)
    gain = illumination.gain * rng.uniform(0.97, 1.03)
    offset = illumination.offset + rng.uniform(-3.0, 3.0)
    additive = (128.0 * (1.0 - gain) + offset + illumination.gradient * u).astype(np.float32)
    return gain, additive


def _smooth_field(rng: np.random.Generator, cells: Tuple[int, int], low: float, high: float) -> np.ndarray:
    """A low-frequency random field in [low, high] (a small random grid upsampled bicubically)."""
    grid = rng.uniform(low, high, size=cells).astype(np.float32)
    field = cv2.resize(grid, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, low, high)


def _cluttered_background(rng: np.random.Generator) -> np.ndarray:
    """Static background: dark blobs/gradients + texture + a few small shapes, some bright."""
    background = _smooth_field(rng, (int(rng.integers(3, 7)), int(rng.integers(4, 9))), 25.0, 88.0)
    texture = cv2.resize(
        rng.normal(0.0, 7.0, size=(FRAME_HEIGHT // 4, FRAME_WIDTH // 4)).astype(np.float32),
        (FRAME_WIDTH, FRAME_HEIGHT),
        interpolation=cv2.INTER_LINEAR,
    )
    background += texture
    # Clutter: mostly dark/mid shapes, one to three small bright ones (objects, reflections).
    n_dark, n_bright = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    for index in range(n_dark + n_bright):
        bright = index >= n_dark
        value = float(rng.uniform(135.0, 185.0) if bright else rng.uniform(10.0, 95.0))
        size = rng.uniform(3.0, 9.0) if bright else rng.uniform(5.0, 22.0)
        centre = (rng.uniform(0, FRAME_WIDTH), rng.uniform(0, FRAME_HEIGHT))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            polygon = _ellipse_polygon(centre, (size, size * rng.uniform(0.4, 1.0)), rng.uniform(0, 180))
        elif kind == 1:
            polygon = _rectangle_polygon(centre, (size * 2, size * rng.uniform(0.4, 1.2)), rng.uniform(0, 180))
        else:  # a thin bar (cables, edges of furniture)
            polygon = _rectangle_polygon(centre, (size * 4, rng.uniform(1.5, 3.0)), rng.uniform(0, 180))
        _fill(background, polygon, value)
    return background


def _finish_frame(scene: np.ndarray, gain: float, additive: np.ndarray, noise_std: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Apply illumination and per-frame Gaussian sensor noise, quantise to 8 bits."""
    frame = scene * gain + additive
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * noise_std
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Geometry: convex polygons drawn with sub-pixel precision and anti-aliasing
# --------------------------------------------------------------------------------------------
def _ellipse_polygon(centre: Tuple[float, float], axes: Tuple[float, float], angle_deg: float,
                     points: int = 28) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, points, endpoint=False)
    a = math.radians(angle_deg)
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    return np.stack([centre[0] + x * math.cos(a) - y * math.sin(a),
                     centre[1] + x * math.sin(a) + y * math.cos(a)], axis=1)


def _rectangle_polygon(centre: Tuple[float, float], size: Tuple[float, float], angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * (np.array(size) / 2)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return half @ rotation.T + np.array(centre)


def _capsule_polygon(start: np.ndarray, end: np.ndarray, radius: float, cap_points: int = 7) -> np.ndarray:
    """A rod with round ends from `start` to `end` (fingers, the thumb)."""
    direction = np.asarray(end, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    heading = math.atan2(direction[1], direction[0])
    cap = np.linspace(-np.pi / 2, np.pi / 2, cap_points)
    end_cap = np.stack([np.cos(heading + cap), np.sin(heading + cap)], axis=1) * radius + end
    start_cap = np.stack([np.cos(heading + np.pi + cap), np.sin(heading + np.pi + cap)], axis=1) * radius + start
    return np.concatenate([end_cap, start_cap], axis=0)


def _fill(image: np.ndarray, polygon: np.ndarray, value: float) -> None:
    """Fill a convex polygon into a float32 image (drawn on an 8-bit coverage mask for AA).

    Only the polygon's bounding box (plus an anti-aliasing margin) is touched, which keeps small
    shapes cheap.
    """
    height, width = image.shape
    x0, y0 = (max(int(v) - 2, 0) for v in np.floor(polygon.min(axis=0)))
    x1 = min(int(np.ceil(polygon[:, 0].max())) + 3, width)
    y1 = min(int(np.ceil(polygon[:, 1].max())) + 3, height)
    if x0 >= x1 or y0 >= y1:
        return  # entirely outside the frame
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    local = np.rint((polygon - (x0, y0)) * _SCALE_FIXED).astype(np.int32)
    cv2.fillConvexPoly(mask, local, 255, cv2.LINE_AA, _SHIFT)
    region = image[y0:y1, x0:x1]
    region += mask.astype(np.float32) * (1.0 / 255.0) * (value - region)


def _coverage_mask(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Anti-aliased coverage (0..1, float32) of the union of convex polygons."""
    mask = np.zeros((FRAME_HEIGHT, FRAME_WIDTH), dtype=np.uint8)
    for polygon in polygons:
        cv2.fillConvexPoly(mask, np.rint(polygon * _SCALE_FIXED).astype(np.int32), 255, cv2.LINE_AA, _SHIFT)
    return mask.astype(np.float32) * (1.0 / 255.0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# --------------------------------------------------------------------------------------------
# synthetic_gestures
# --------------------------------------------------------------------------------------------
GESTURE_SHAPES = ("flat", "spread", "fist")
GESTURE_MOTIONS = ("move_left", "move_right", "shrink")
GESTURE_SHAPE_DESCRIPTIONS = {
    "flat": "flat palm, fingers together (tall solid block)",
    "spread": "palm with five separated fingers fanned out (wide, with gaps)",
    "fist": "closed fist (compact rounded blob, low)",
}
GESTURE_MOTION_DESCRIPTIONS = {
    "move_left": "translates right-to-left by 25-30% of the frame width, ending near the centre",
    "move_right": "translates left-to-right by 25-30% of the frame width, ending near the centre",
    "shrink": "stays in place and shrinks from ~1.0 to ~0.55 of its size (closing / moving away)",
}
# Hand height (flat/spread, top of fingers to bottom of palm) at scale 1.0, in pixels.
_HAND_HEIGHT_AT_UNIT_SCALE = 0.6 * FRAME_HEIGHT
# Scale of the moving classes, and the end scale of "shrink": the same distribution, so the last
# frame's size carries no motion information. Heights 32-40 px: about a third of the frame.
_GESTURE_SCALE_RANGE = (0.55, 0.70)
_SHRINK_RATIO_RANGE = (0.55, 0.60)
_MOTION_SPAN_RANGE = (0.25, 0.30)  # fraction of frame width
_END_JITTER = (0.04 * FRAME_WIDTH, 0.05 * FRAME_HEIGHT)  # end position: centre +- this


def gesture_class_folder(shape: str, motion: str) -> str:
    """Class folder of a (shape, motion) pair: ``shape_index * 3 + motion_index + 1``."""
    return str(GESTURE_SHAPES.index(shape) * 3 + GESTURE_MOTIONS.index(motion) + 1)


def _hand_parts(shape: str) -> List[Tuple[str, tuple]]:
    """Convex parts of a hand in unit coordinates (y down, hand spans y in [-0.5, 0.5])."""
    if shape == "flat":
        parts: List[Tuple[str, tuple]] = [("rect", ((0.0, 0.24), (0.56, 0.52)))]
        tops = (-0.40, -0.50, -0.47, -0.36)
        for x, top in zip((-0.2, -0.067, 0.067, 0.2), tops):
            parts.append(("capsule", ((x, 0.1), (x, top + 0.075), 0.075)))
        parts.append(("capsule", ((0.26, 0.36), (0.33, 0.08), 0.065)))  # thumb tucked alongside
        return parts
    if shape == "spread":
        parts = [("rect", ((0.0, 0.25), (0.54, 0.5)))]
        for x, angle, length in zip((-0.2, -0.07, 0.07, 0.2), (-26.0, -9.0, 9.0, 26.0), (0.42, 0.48, 0.46, 0.38)):
            a = math.radians(angle)
            base = (x, 0.04)
            tip = (x + length * math.sin(a), 0.04 - length * math.cos(a))
            parts.append(("capsule", (base, tip, 0.055)))
        a = math.radians(62.0)
        parts.append(("capsule", ((0.22, 0.32), (0.22 + 0.36 * math.sin(a), 0.32 - 0.36 * math.cos(a)), 0.06)))
        return parts
    if shape == "fist":
        return [
            ("ellipse", ((0.0, 0.2), (0.33, 0.29))),
            ("capsule", ((-0.22, -0.04), (0.22, -0.04), 0.08)),  # knuckle row flattens the top
            ("capsule", ((0.3, 0.32), (0.34, 0.12), 0.07)),  # thumb
        ]
    raise ValueError(f"unknown hand shape {shape!r}; accepted: {', '.join(GESTURE_SHAPES)}")


@functools.lru_cache(maxsize=None)
def _unit_hand_outline(shape: str) -> Tuple[np.ndarray, Tuple[int, ...]]:
    """All convex parts of a hand stacked into one (N, 2) array, plus where each part ends."""
    polygons = []
    for kind, params in _hand_parts(shape):
        if kind == "rect":
            polygons.append(_rectangle_polygon(params[0], params[1], 0.0))
        elif kind == "ellipse":
            polygons.append(_ellipse_polygon(params[0], params[1], 0.0))
        else:
            polygons.append(_capsule_polygon(np.array(params[0]), np.array(params[1]), params[2]))
    ends = tuple(np.cumsum([len(p) for p in polygons])[:-1].tolist())
    points = np.concatenate(polygons, axis=0)
    points.setflags(write=False)
    return points, ends


def _hand_polygons(shape: str, centre: Tuple[float, float], height: float, tilt_deg: float,
                   mirrored: bool) -> List[np.ndarray]:
    """Hand parts as pixel-space polygons: scaled, optionally mirrored, tilted, translated."""
    points, ends = _unit_hand_outline(shape)
    a = math.radians(tilt_deg)
    flip = -1.0 if mirrored else 1.0
    # mirror x, rotate, scale in one 2x2 matrix
    transform = np.array([[math.cos(a) * flip, -math.sin(a)], [math.sin(a) * flip, math.cos(a)]]) * height
    return np.split(points @ transform.T + np.array(centre), ends)


def render_gesture_clip(shape: str, motion: str, illumination_set: int, rng: np.random.Generator,
                        return_hand_coverage: bool = False) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """Render one gesture clip as a (frames, 96, 128) uint8 array.

    `illumination_set` is 1..5 (`ILLUMINATION_SETS`). All randomness comes from `rng`. With
    `return_hand_coverage`, also return the hand's anti-aliased coverage (frames, 96, 128) in 0..1,
    which tells hand pixels from background ones (used to check the binarisation margins).
    """
    if shape not in GESTURE_SHAPES:
        raise ValueError(f"unknown hand shape {shape!r}; accepted: {', '.join(GESTURE_SHAPES)}")
    if motion not in GESTURE_MOTIONS:
        raise ValueError(f"unknown motion {motion!r}; accepted: {', '.join(GESTURE_MOTIONS)}")
    if not 1 <= illumination_set <= len(ILLUMINATION_SETS):
        raise ValueError(f"illumination_set must be 1..{len(ILLUMINATION_SETS)}, got {illumination_set}")

    frames = int(rng.integers(MIN_FRAMES, MAX_FRAMES + 1))
    background = _cluttered_background(rng)
    hand_tone = _smooth_field(rng, (2, 3), 190.0, 228.0)  # skin with soft shading
    gain, additive = _illumination_maps(ILLUMINATION_SETS[illumination_set - 1], rng)
    noise_std = float(rng.uniform(2.5, 5.0))

    end_x = FRAME_WIDTH / 2 + rng.uniform(-_END_JITTER[0], _END_JITTER[0])
    end_y = FRAME_HEIGHT / 2 + rng.uniform(-_END_JITTER[1], _END_JITTER[1])
    end_scale = rng.uniform(*_GESTURE_SCALE_RANGE)
    span = rng.uniform(*_MOTION_SPAN_RANGE) * FRAME_WIDTH
    shrink_ratio = rng.uniform(*_SHRINK_RATIO_RANGE)
    tilt = rng.uniform(-12.0, 12.0)
    mirrored = bool(rng.integers(0, 2))
    # Speed: the motion runs between a random onset and offset, eased at both ends.
    onset, offset = rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0)
    time = np.arange(frames) / (frames - 1)
    progress = _smoothstep((time - onset) / (offset - onset))  # 0 -> 1
    remaining = 1.0 - progress
    # Small hand tremor, so that even "static" coordinates are never exactly constant.
    tremor = rng.normal(0.0, 0.4, size=(frames, 2))

    if motion == "move_left":
        xs, scales = end_x + span * remaining, np.full(frames, end_scale)
    elif motion == "move_right":
        xs, scales = end_x - span * remaining, np.full(frames, end_scale)
    else:
        xs, scales = np.full(frames, end_x), end_scale * (1.0 + (1.0 / shrink_ratio - 1.0) * remaining)
    ys = np.full(frames, end_y)

    clip = np.empty((frames, FRAME_HEIGHT, FRAME_WIDTH), dtype=np.uint8)
    coverages = np.empty(clip.shape, dtype=np.float32) if return_hand_coverage else None
    for t in range(frames):
        polygons = _hand_polygons(shape, (xs[t] + tremor[t, 0], ys[t] + tremor[t, 1]),
                                  scales[t] * _HAND_HEIGHT_AT_UNIT_SCALE, tilt, mirrored)
        coverage = _coverage_mask(polygons)
        scene = background + coverage * (hand_tone - background)
        clip[t] = _finish_frame(scene, gain, additive, noise_std, rng)
        if coverages is not None:
            coverages[t] = coverage
    return (clip, coverages) if coverages is not None else clip


def _gesture_classes() -> Dict[str, Dict[str, str]]:
    return {
        gesture_class_folder(shape, motion): {
            "shape": shape,
            "motion": motion,
            "description": f"{GESTURE_SHAPE_DESCRIPTIONS[shape]}; {GESTURE_MOTION_DESCRIPTIONS[motion]}",
        }
        for shape in GESTURE_SHAPES
        for motion in GESTURE_MOTIONS
    }


def _gesture_clips(class_folder: str, clips: int, rng_for: "RngFactory") -> Iterator[Tuple[str, np.ndarray]]:
    description = _gesture_classes()[class_folder]
    for clip_index in range(clips):
        illumination_set = clip_index % len(ILLUMINATION_SETS) + 1
        frames = render_gesture_clip(description["shape"], description["motion"], illumination_set,
                                     rng_for(int(class_folder), clip_index))
        yield f"Set{illumination_set}_{class_folder}_{clip_index:04d}", frames


# --------------------------------------------------------------------------------------------
# synthetic_lips
# --------------------------------------------------------------------------------------------
# Mouth shapes (visemes) in units of the speaker's resting mouth half-width w0:
# (half-width of the opening, half-height of the opening, lip thickness, teeth) -- teeth is the
# share of the opening's height that the bright upper teeth fill. A bigger opening also drops
# the jaw: the mouth's centre moves down by `_JAW_DROP` x the opening's half-height.
LIP_VISEMES = {
    "rest": (1.00, 0.03, 0.24, 0.0),   # lips together: a dark band
    "round": (0.38, 0.30, 0.28, 0.0),  # "oo": narrow, thick protruded lips, small round opening
    "wide": (1.38, 0.20, 0.14, 0.5),   # "ee": spread lips, upper teeth showing in the slit
    "open": (1.02, 0.75, 0.13, 0.0),   # "ah": jaw dropped, a tall dark opening
}
LIP_VISEME_DESCRIPTIONS = {
    "rest": "lips together",
    "round": "rounded (narrow, protruded lips, small opening)",
    "wide": "spread (wide, teeth showing)",
    "open": "open (jaw dropped, tall opening)",
}
LIP_WORDS = {
    # class folder: the visemes spoken between a closed start and a closed end, in a random order
    "1": ("round", "open"),
    "2": ("round", "wide"),
    "3": ("open", "wide"),
    "4": ("round", "open", "wide"),
}
_JAW_DROP = 0.3
_CHIN_DROP = 1.3  # the chin follows the lower lip: down by this x the opening's half-height
_FOLD_TONE = 95.0  # nasolabial folds: dark creases beside the mouth when the lips spread
_LIP_SUBJECTS = 96  # appearance is a per-subject constant across words and repetitions
_REST_START = (0.02, 0.15)   # closed before speaking, fraction of the clip
_REST_END = (0.12, 0.22)     # closed after speaking: the last ~2-3 of 16 sampled frames
_TRANSITION = (0.07, 0.12)   # one viseme morphing into the next


def _lip_keyframes(visemes: Sequence[str], rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Key times (0..1) and mouth parameters (key, 4): rest, then each viseme held, then rest.

    Transitions and holds have random lengths: the speaker's timing varies from clip to clip.
    """
    rest_start, rest_end = rng.uniform(*_REST_START), rng.uniform(*_REST_END)
    transitions = rng.uniform(*_TRANSITION, size=len(visemes) + 1)
    holds = rng.dirichlet(np.full(len(visemes), 4.0)) * (1.0 - rest_start - rest_end - transitions.sum())
    times, shapes = [0.0, rest_start], ["rest", "rest"]
    for viseme, transition, hold in zip(visemes, transitions, holds):
        times += [times[-1] + transition, times[-1] + transition + hold]
        shapes += [viseme, viseme]
    times += [times[-1] + transitions[-1], 1.0]
    shapes += ["rest", "rest"]
    return np.array(times), np.array([LIP_VISEMES[shape] for shape in shapes])


def _mouth_track(visemes: Sequence[str], frames: int, rng: np.random.Generator) -> np.ndarray:
    """Mouth parameters per frame (frames, 4): keyframes joined by eased morphs."""
    times, keys = _lip_keyframes(visemes, rng)
    articulation = rng.uniform(0.85, 1.1)  # how far this repetition moves away from rest
    keys = keys[0] + articulation * (keys - keys[0])
    track = np.empty((frames, keys.shape[1]))
    for t, now in enumerate(np.arange(frames) / (frames - 1)):
        k = min(int(np.searchsorted(times, now, side="right")) - 1, len(times) - 2)
        u = _smoothstep(np.array((now - times[k]) / max(times[k + 1] - times[k], 1e-9)))
        track[t] = keys[k] + u * (keys[k + 1] - keys[k])
    # Small frame-to-frame wobble of every parameter but the teeth.
    track[:, :3] *= 1.0 + rng.normal(0.0, 0.02, size=(frames, 3))
    return track


def _clip_polygon_below(polygon: np.ndarray, y: float) -> np.ndarray:
    """The part of a convex polygon above the line y (image y points down): still convex."""
    kept = []
    for a, b in zip(polygon, np.roll(polygon, -1, axis=0)):
        if a[1] <= y:
            kept.append(a)
        if (a[1] - y) * (b[1] - y) < 0:  # the edge crosses the line
            kept.append(a + (b - a) * (y - a[1]) / (b[1] - a[1]))
    return np.array(kept)


def render_lip_clip(visemes: Sequence[str], illumination_set: int, rng: np.random.Generator,
                    subject_rng: np.random.Generator, return_mouth: bool = False
                    ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """Render one lip clip as a (frames, 96, 128) uint8 array: a speaker's lower face saying `visemes`.

    `subject_rng` fixes the subject's appearance (face, skin and lip tones, mouth width); `rng`
    draws everything that changes between repetitions (timing, articulation, position, lighting
    jitter, noise). With `return_mouth`, also return the mouth parameters per frame (frames, 4),
    in units of the resting half-width, as in `LIP_VISEMES`.
    """
    unknown = [v for v in visemes if v not in LIP_VISEMES or v == "rest"]
    if unknown or not visemes:
        raise ValueError(f"visemes must be a non-empty sequence of {', '.join(v for v in LIP_VISEMES if v != 'rest')}; "
                         f"got {list(visemes)!r}")
    if not 1 <= illumination_set <= len(ILLUMINATION_SETS):
        raise ValueError(f"illumination_set must be 1..{len(ILLUMINATION_SETS)}, got {illumination_set}")

    face_axes = (subject_rng.uniform(0.60, 0.70) * FRAME_WIDTH, subject_rng.uniform(0.90, 1.05) * FRAME_HEIGHT)
    face_top = subject_rng.uniform(0.0, 0.08) * FRAME_HEIGHT  # face centre: the chin is near the bottom
    skin_low = subject_rng.uniform(170.0, 200.0)
    rest_half_width = subject_rng.uniform(0.22, 0.29) * FRAME_WIDTH
    lip_tone = subject_rng.uniform(78.0, 100.0)
    teeth_tone = subject_rng.uniform(195.0, 235.0)
    interior_tone = subject_rng.uniform(28.0, 45.0)

    frames = int(rng.integers(MIN_FRAMES, MAX_FRAMES + 1))
    background = _cluttered_background(rng)
    skin = _smooth_field(rng, (2, 3), skin_low, skin_low + 30.0)
    gain, additive = _illumination_maps(ILLUMINATION_SETS[illumination_set - 1], rng)
    noise_std = float(rng.uniform(2.5, 5.0))
    mouth_at_rest = np.array([FRAME_WIDTH / 2 + rng.uniform(-4, 4), FRAME_HEIGHT * 0.45 + rng.uniform(-3, 3)])
    drift = rng.normal(0.0, 0.15, size=(frames, 2)).cumsum(axis=0)  # slow head motion, ~1 px
    mouth = _mouth_track([visemes[i] for i in rng.permutation(len(visemes))], frames, rng)

    # Face outline relative to the resting mouth; the part below the mouth drops with the jaw.
    face_polygon = _ellipse_polygon((0.0, face_top - mouth_at_rest[1]), face_axes, 0.0, points=48)
    below_mouth = face_polygon[:, 1] > 0.0
    rest_opening = LIP_VISEMES["rest"][1] * rest_half_width
    clip = np.empty((frames, FRAME_HEIGHT, FRAME_WIDTH), dtype=np.uint8)
    for t in range(frames):
        c = mouth_at_rest + drift[t]
        half_width, half_height, lip, teeth = mouth[t] * np.array([rest_half_width] * 3 + [1.0])
        face = face_polygon.copy()
        face[below_mouth, 1] += _CHIN_DROP * max(half_height - rest_opening, 0.0)
        scene = background + _coverage_mask([face + c]) * (skin - background)
        for side in (-1.0, 1.0):  # nostrils
            _fill(scene, _ellipse_polygon((c[0] + side * 0.08 * FRAME_WIDTH, c[1] - 0.36 * FRAME_HEIGHT),
                                          (3.5, 2.2), 0.0), 70.0)
        spread = float(np.clip((half_width / rest_half_width - 1.05) / 0.3, 0.0, 1.0))
        if spread > 0.0:  # nasolabial folds deepen as the lips spread
            for side in (-1.0, 1.0):
                fold = _ellipse_polygon((c[0] + side * (half_width + 0.5 * lip + 0.06 * FRAME_WIDTH), c[1] - 0.1 * FRAME_HEIGHT),
                                        (2.5, 0.2 * FRAME_HEIGHT), side * 18.0)
                _fill(scene, fold, float(skin.mean()) + spread * (_FOLD_TONE - float(skin.mean())))
        centre = (c[0], c[1] + _JAW_DROP * half_height)
        _fill(scene, _ellipse_polygon(centre, (half_width + 0.5 * lip, half_height + lip), 0.0, points=48), lip_tone)
        opening = _ellipse_polygon(centre, (half_width, half_height), 0.0, points=48)
        _fill(scene, opening, interior_tone)
        if teeth > 0.05:
            _fill(scene, _clip_polygon_below(opening, centre[1] + half_height * (2.0 * teeth - 1.0)), teeth_tone)
        clip[t] = _finish_frame(scene, gain, additive, noise_std, rng)
    return (clip, mouth) if return_mouth else clip


def _lip_classes() -> Dict[str, Dict[str, object]]:
    return {
        folder: {"visemes": list(visemes),
                 "description": "rest -> " + " -> ".join(LIP_VISEME_DESCRIPTIONS[v] for v in visemes) + " -> rest"}
        for folder, visemes in LIP_WORDS.items()
    }


def _lip_clips(class_folder: str, clips: int, rng_for: "RngFactory") -> Iterator[Tuple[str, np.ndarray]]:
    visemes = LIP_WORDS[class_folder]
    for clip_index in range(clips):
        subject = clip_index % _LIP_SUBJECTS + 1
        repetition = clip_index // _LIP_SUBJECTS + 1
        subject_rng = rng_for(0, subject)  # class 0 does not exist: a stream of its own per subject
        illumination_set = (clip_index + int(class_folder)) % len(ILLUMINATION_SETS) + 1
        frames = render_lip_clip(visemes, illumination_set, rng_for(int(class_folder), clip_index), subject_rng)
        yield f"Subject{subject:02d}_{repetition}", frames


# --------------------------------------------------------------------------------------------
# Registry, generation, marker
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticDataset:
    """A registered generator: its classes and how to render the clips of one class."""

    name: str
    version: int  # bump whenever the rendering changes, so stale datasets regenerate
    default_clips_per_class: int
    classes: Callable[[], Dict[str, Dict[str, object]]]
    # (class folder, clip count, rng factory) -> (sequence name, frames) pairs, in sequence order
    clips: Callable[[str, int, RngFactory], Iterator[Tuple[str, np.ndarray]]]
    dataset_id: int  # part of every random stream's key, so the datasets draw independent streams

SYNTHETIC_DATASETS: Dict[str, SyntheticDataset] = {
    "synthetic_gestures": SyntheticDataset(
        name="synthetic_gestures", version=1, default_clips_per_class=100, classes=_gesture_classes,
        clips=_gesture_clips, dataset_id=1,
    ),
    "synthetic_lips": SyntheticDataset(
        name="synthetic_lips", version=2, default_clips_per_class=2 * _LIP_SUBJECTS, classes=_lip_classes,
        clips=_lip_clips, dataset_id=2,
    ),
}


def _dataset(name: str) -> SyntheticDataset:
    if name not in SYNTHETIC_DATASETS:
        raise ValueError(f"unknown synthetic dataset {name!r}; accepted: {', '.join(sorted(SYNTHETIC_DATASETS))}")
    return SYNTHETIC_DATASETS[name]


def _generation_parameters(dataset: SyntheticDataset, clips_per_class: int, seed: int) -> Dict[str, object]:
    return {
        "name": dataset.name,
        "version": dataset.version,
        "clips_per_class": clips_per_class,
        "seed": seed,
        "frame_width": FRAME_WIDTH,
        "frame_height": FRAME_HEIGHT,
    }


def _read_marker(root: Path) -> Optional[dict]:
    marker = root / MARKER_NAME
    try:
        return json.loads(marker.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return {}  # unreadable marker: treat as stale, regenerate


def _marker_matches(marker: Optional[dict], parameters: Dict[str, object]) -> bool:
    return marker is not None and all(marker.get(key) == value for key, value in parameters.items())


def _write_png(path: Path, frame: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
    if not ok:
        raise OSError(f"could not encode frame {path} as PNG")
    path.write_bytes(encoded.tobytes())


def _generate_into(folder: Path, dataset: SyntheticDataset, clips_per_class: int, seed: int,
                   show_progress: bool) -> None:
    classes = dataset.classes()

    def rng_for(*key: int) -> np.random.Generator:
        """A random stream of its own per (seed, dataset, *key): clips do not depend on each other."""
        return np.random.default_rng([seed, dataset.dataset_id, *key])

    progress = None
    if show_progress:
        from tqdm import tqdm

        progress = tqdm(total=len(classes) * clips_per_class, desc=f"generating {dataset.name}", unit="clip",
                        disable=None)
    try:
        for class_folder in classes:
            class_path = folder / class_folder
            class_path.mkdir()
            for sequence, frames in dataset.clips(class_folder, clips_per_class, rng_for):
                sequence_path = class_path / sequence
                sequence_path.mkdir()
                for index, frame in enumerate(frames):
                    _write_png(sequence_path / f"{index:04d}.png", frame)
                if progress is not None:
                    progress.update(1)
    finally:
        if progress is not None:
            progress.close()
    marker = dict(_generation_parameters(dataset, clips_per_class, seed))
    marker["frame_format"] = "8-bit grayscale PNG, <class>/<sequence>/<frame:04d>.png"
    marker["frames_per_clip"] = [MIN_FRAMES, MAX_FRAMES]
    marker["binarisation_gray_level"] = round(BINARISATION_GRAY, 3)
    marker["classes"] = classes
    (folder / MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


def _describe(marker: dict) -> str:
    return (f"{marker.get('name', '?')} ({marker.get('clips_per_class', '?')} clips per class, seed "
            f"{marker.get('seed', '?')}, generator version {marker.get('version', '?')})")


def ensure_synthetic(name: str, root: PathLike, clips_per_class: Optional[int] = None, seed: int = 0,
                     show_progress: bool = False, replace: bool = True) -> Path:
    """Generate synthetic dataset `name` into `root` unless it is already there; return `Path(root)`.

    `clips_per_class` defaults to the dataset's own default (100 for gestures, 96 for lips).
    `root` is regenerated when its `synthetic.json` records other parameters or another generator
    version (said on stderr), unless `replace` is False (a folder the user named): then that is an
    error naming what the folder holds and what was asked. The dataset is written into a temporary
    sibling folder and moved into place with one rename, so `root` never holds half a dataset. A
    non-empty `root` without `synthetic.json` is not ours and is left untouched (error).
    """
    dataset = _dataset(name)
    if clips_per_class is None:
        clips_per_class = dataset.default_clips_per_class
    if isinstance(clips_per_class, bool) or not isinstance(clips_per_class, int) or clips_per_class < 1:
        raise ValueError(f"clips_per_class must be a positive integer, got {clips_per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    root_path = Path(root)
    parameters = _generation_parameters(dataset, clips_per_class, seed)
    if root_path.exists():
        if not root_path.is_dir():
            raise ValueError(f"synthetic dataset root {root_path} exists and is not a folder; "
                             "pass a folder path that is absent, empty or holds a synthetic dataset")
        marker = _read_marker(root_path)
        if _marker_matches(marker, parameters):
            return root_path
        if marker is None and any(root_path.iterdir()):
            raise ValueError(f"synthetic dataset root {root_path} is a non-empty folder without {MARKER_NAME}; "
                             "refusing to overwrite it. Pass an absent or empty folder, or one written by "
                             "ensure_synthetic")
        if marker is not None:
            asked = _describe({**parameters})
            held = _describe(marker) if marker else f"a dataset with an unreadable {MARKER_NAME}"
            if not replace:
                raise ValueError(
                    f"data root {root_path} holds the synthetic dataset {held}, not the one asked for: {asked}; it "
                    f"is not replaced. To use it, set data.dataset, data.synthetic.clips_per_class and "
                    f"data.synthetic.seed to what it holds; to generate {name}, give an absent or empty folder "
                    f"(or delete this one)")
            print(f"regenerating {root_path}: it holds {held}, asked for {asked}", file=sys.stderr)
    root_path.parent.mkdir(parents=True, exist_ok=True)

    staging = Path(tempfile.mkdtemp(prefix=f".{root_path.name}.generating-", dir=root_path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it 0700; the dataset folder gets a folder's usual mode
    try:
        _generate_into(staging, dataset, clips_per_class, seed, show_progress)
        _move_into_place(staging, root_path, parameters)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return root_path


def _move_into_place(staging: Path, root: Path, parameters: Dict[str, object]) -> None:
    """Rename `staging` to `root`; an old dataset at `root` is first renamed aside, then deleted."""
    discarded: Optional[Path] = None
    if root.exists() and any(root.iterdir()):
        discarded = Path(tempfile.mkdtemp(prefix=f".{root.name}.stale-", dir=root.parent))
        os.replace(root, discarded)  # onto the empty temp folder: one atomic rename
    try:
        os.replace(staging, root)
    except OSError:
        # Another process may have put a dataset there meanwhile; accept it if it matches.
        if not _marker_matches(_read_marker(root), parameters):
            raise
    finally:
        if discarded is not None:
            shutil.rmtree(discarded, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_utils.synthetic",
        description="Generate a synthetic clip dataset as <root>/<class>/<sequence>/<frame>.png",
    )
    parser.add_argument("name", choices=sorted(SYNTHETIC_DATASETS), help="which dataset")
    parser.add_argument("root", help="folder to write (absent, empty, or an earlier synthetic dataset)")
    parser.add_argument("--clips-per-class", type=int, default=None,
                        help="clips per class (default: 100 for gestures, 96 for lips)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    args = parser.parse_args(argv)
    try:
        root = ensure_synthetic(args.name, args.root, args.clips_per_class, args.seed, show_progress=True)
    except ValueError as error:
        parser.error(str(error))
    marker = json.loads((root / MARKER_NAME).read_text())
    print(f"{args.name}: {len(marker['classes'])} classes x {marker['clips_per_class']} clips "
          f"(seed {marker['seed']}) in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
