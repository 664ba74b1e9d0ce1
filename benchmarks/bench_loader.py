"""Clip loader throughput with and without the clip cache, and the uint8-cache measurement.

    python benchmarks/bench_loader.py [--clips 90] [--workers 2] [--epochs 2]

Generates a JPEG dataset of Cambridge shape (reorganised layout, 9 classes, 320 x 240 frames,
20-40 per clip) in a temporary folder, then reports clips/s of the loader alone (a DataLoader
over the training split with augmentation, no model) without the cache, with it, and with worker
processes; the one-time cache build; and how many binarised input pixels a uint8 cache would
change (the reason the cache stores float32).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data_utils import build_datasets, list_dataset
from data_utils.frame_reader import read_frame_rgb
from data_utils.transforms import get_preprocessing


def generate_dataset(root: Path, clips: int, min_frames: int, max_frames: int,
                     seed: int = 0) -> int:
    """Moving blobs over a lit background with sensor-like noise; returns the frame count."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:240, 0:320].astype(np.float32)
    total = 0
    for clip in range(clips):
        class_number = clip % 9 + 1
        name = f"Set{clip // 45 + 1}_{class_number}_{clip // 9 % 5:04d}"
        folder = root / str(class_number) / name
        folder.mkdir(parents=True, exist_ok=True)
        frames = int(rng.integers(min_frames, max_frames + 1))
        start, velocity = rng.uniform([60, 40], [260, 200]), rng.uniform(-3, 3, size=2)
        background = 90 + 60 * np.sin(cols / rng.uniform(30, 90)) * np.cos(rows / 70)
        for index in range(frames):
            x, y = start + velocity * index
            hand = 120 * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * 35.0 ** 2))
            gray = background + hand + rng.normal(0, 6, size=rows.shape)
            rgb = np.stack([gray * 1.05, gray, gray * 0.9], axis=-1).clip(0, 255)
            cv2.imwrite(str(folder / f"{index:04d}.jpg"), rgb[..., ::-1].astype(np.uint8),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
        total += frames
    return total


def loader_rate(dataset, workers: int, batch_size: int, epochs: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    clips = 0
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for batch, _, _ in loader:
            clips += batch.shape[0]
    return clips / (time.perf_counter() - start)


def uint8_cache_error(root: Path, frame_size: int) -> dict:
    """Binarised pixels changed if the cache held uint8 resized RGB or uint8 resized gray."""
    release = get_preprocessing("release")
    mean = torch.tensor(release.mean).view(3, 1, 1)
    std = torch.tensor(release.std).view(3, 1, 1)
    weights = torch.tensor((0.299, 0.587, 0.114)).view(3, 1, 1)
    flips_rgb = flips_gray = pixels = 0
    max_rgb = max_gray = 0.0
    for record in list_dataset("cambridge", root).sequences:
        for frame in record.frames:
            rgb = read_frame_rgb(frame)
            exact = release(rgb, frame_size)
            channels = torch.from_numpy(rgb).permute(2, 0, 1).float()
            resized = F.interpolate(channels[None], size=(frame_size, frame_size),
                                    mode="bilinear", align_corners=False)[0]
            resized = resized.round().clamp(0, 255) / 255
            from_rgb = ((resized - mean) / std * weights).sum(0)
            level = (exact - release.intensity_offset) / release.intensity_scale
            from_gray = (level * 255).round().clamp(0, 255) / 255 * release.intensity_scale \
                + release.intensity_offset
            flips_rgb += int((torch.sign(from_rgb) != torch.sign(exact)).sum())
            flips_gray += int((torch.sign(from_gray) != torch.sign(exact)).sum())
            max_rgb = max(max_rgb, float((from_rgb - exact).abs().max()))
            max_gray = max(max_gray, float((from_gray - exact).abs().max()))
            pixels += exact.numel()
    return {"pixels": pixels, "flips_uint8_rgb": flips_rgb, "flips_uint8_gray": flips_gray,
            "max_abs_error_uint8_rgb": max_rgb, "max_abs_error_uint8_gray": max_gray}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=90)
    parser.add_argument("--min-frames", type=int, default=20)
    parser.add_argument("--max-frames", type=int, default=40)
    parser.add_argument("--timesteps", type=int, default=16)
    parser.add_argument("--frame-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as temp:
        root, cache_dir = Path(temp) / "cambridge", Path(temp) / "cache"
        start = time.perf_counter()
        frames = generate_dataset(root, arguments.clips, arguments.min_frames,
                                  arguments.max_frames)
        print(f"generated {arguments.clips} clips, {frames} JPEG frames of 320x240 "
              f"in {time.perf_counter() - start:.1f} s")

        def config(cache: bool) -> dict:
            return {"seed": 0, "data_root": str(root), "data": {
                "dataset": "cambridge", "split_fractions": {"train": 1.0},
                "timesteps": arguments.timesteps, "frame_size": arguments.frame_size,
                "augment": {"translate": 4, "hflip": True, "brightness": 0.1},
                "cache": cache, "cache_dir": str(cache_dir)}}

        plain = build_datasets(config(False), parts=("train",))["train"]
        start = time.perf_counter()
        cached = build_datasets(config(True), parts=("train",))["train"]
        build_seconds = time.perf_counter() - start
        start = time.perf_counter()
        build_datasets(config(True), parts=("train",))
        reopen_seconds = time.perf_counter() - start
        print(f"cache build (all {frames} frames, {torch.get_num_threads()} torch thread, "
              f"decoder threads) {build_seconds:.2f} s; reopening a valid cache "
              f"{reopen_seconds:.3f} s")

        rates = {}
        for workers in sorted({0, arguments.workers}):
            for label, dataset in (("no cache", plain), ("cache", cached)):
                rates[(label, workers)] = loader_rate(dataset, workers, arguments.batch_size,
                                                      arguments.epochs)
                print(f"loader, {label:8s}, {workers} workers: "
                      f"{rates[(label, workers)]:8.1f} clips/s")
        for workers in sorted({0, arguments.workers}):
            print(f"cache speed-up with {workers} workers: "
                  f"{rates[('cache', workers)] / rates[('no cache', workers)]:.1f}x")

        error = uint8_cache_error(root, arguments.frame_size)
        print(f"uint8 cache check over {error['pixels']} binarised pixels: resized RGB in uint8 "
              f"flips {error['flips_uint8_rgb']} (max |error| "
              f"{error['max_abs_error_uint8_rgb']:.4f}), resized gray in uint8 flips "
              f"{error['flips_uint8_gray']} (max |error| {error['max_abs_error_uint8_gray']:.4f});"
              " the cache stores float32 (0 flips by construction)")


if __name__ == "__main__":
    main()
