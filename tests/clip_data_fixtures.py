"""Tiny fake datasets on disk for the data tests (JPEG frames whose content depends only on the
clip name and frame number, so the two Cambridge layouts hold identical pixels)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from training_utils.config import resolve

FRAME_WIDTH, FRAME_HEIGHT = 40, 30


def frame_pixels(name: str, index: int) -> np.ndarray:
    """A smooth RGB pattern (so JPEG keeps it) that differs per clip and frame; BGR uint8."""
    seed = int.from_bytes(hashlib.sha256(f"{name}:{index}".encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:FRAME_HEIGHT, 0:FRAME_WIDTH].astype(np.float64)
    phase, slope = rng.uniform(0, 6.28, size=3), rng.uniform(0.05, 0.3, size=3)
    channels = [127 + 110 * np.sin(slope[c] * cols + 0.7 * slope[c] * rows + phase[c])
                for c in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def write_sequence(folder: Path, name: str, frames: int, extension: str = ".jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(frames):
        path = folder / f"{index:04d}{extension}"
        if not cv2.imwrite(str(path), frame_pixels(name, index)):
            raise RuntimeError(f"could not write {path}")


def cambridge_names(sets=(1, 2), classes=range(1, 10), clips=range(5)) -> list[str]:
    return [f"Set{s}_{c}_{n:04d}" for c in classes for s in sets for n in clips]


def make_cambridge_official(root: Path, sets=(1, 2), classes=range(1, 10), clips=range(5),
                            frames: int = 3) -> Path:
    for name in cambridge_names(sets, classes, clips):
        set_number, class_number, clip = (int(part.lstrip("Set")) for part in name.split("_"))
        write_sequence(root / f"Set{set_number}" / f"{class_number - 1:04d}" / f"{clip:04d}",
                       name, frames)
    return root


def make_cambridge_reorganised(root: Path, sets=(1, 2), classes=range(1, 10), clips=range(5),
                               frames: int = 3) -> Path:
    for name in cambridge_names(sets, classes, clips):
        write_sequence(root / name.split("_")[1] / name, name, frames)
    return root


TULIPS_SUBJECTS = ["Anna", "Don", "Cynthea", "Isaac", "Jesse", "Regina", "Simon", "Zed",
                   "Bea", "Carl", "Eve", "Fred"]


def tulips_names(subjects=TULIPS_SUBJECTS) -> list[str]:
    return [f"{digit}/{subject}{rep}" for digit in range(1, 5) for subject in subjects
            for rep in (1, 2)]


def make_tulips(root: Path, subjects=TULIPS_SUBJECTS, frames: int = 2) -> Path:
    for name in tulips_names(subjects):
        write_sequence(root / name, name, frames)
    return root


def make_clip_folder(root: Path, classes=("a", "b"), clips: int = 10, frames: int = 4) -> Path:
    for class_name in classes:
        for clip in range(clips):
            name = f"{class_name}/clip{clip}"
            write_sequence(root / name, name, frames, extension=".png")
    return root


def data_config(dataset: str, root: Path, cache_dir: Path | None = None, **data) -> dict:
    """A config with the data keys the trainer passes; caching off unless a dir is given."""
    settings = {"dataset": dataset, "split": "seeded", "timesteps": 4, "frame_size": 16,
                "preprocessing": "release", "cache": cache_dir is not None,
                "cache_dir": str(cache_dir) if cache_dir is not None else None}
    settings.update(data)
    return resolve({"seed": 0, "data_root": str(root), "data": settings})
