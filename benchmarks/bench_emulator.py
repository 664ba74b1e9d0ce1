"""SCAMP-5 emulator benchmark: hardware error preset vs the released real sensor outputs, and speed.

Runs the PixelRNN sensor program on the emulator (build/scamp5/pixelrnn_emu) with the release's
cam_noise.pt weights over the 3 released Cambridge clips (../shared/reference/intermediates/cam10)
for several seeds, and reports side by side with the 720 real SCAMP-5 outputs
(../shared/reference/scamp_outputs):
  * zero plane: the readout outside the o_T region (median, sigma) — a plane that is zero in the model
  * content: median, sigma ("spread") and clipped fraction (0 or 255) of the 64x64 o_T region
  * emulator speed in frames per second (noise off and hardware preset)

    python benchmarks/bench_emulator.py [--seeds 4] [--out DIR]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from scamp5 import emulator as se
from data_utils.scamp_io import read_sensor_image


def region_stats(images: np.ndarray, content_rows: slice, content_cols: slice) -> dict:
    mask = np.ones(images.shape[1:], dtype=bool)
    mask[content_rows, content_cols] = False
    background = images[:, mask].astype(np.float64)
    content = images[:, content_rows, content_cols].astype(np.float64)
    return {
        "zero_plane_median": float(np.median(background)),
        "zero_plane_sigma": float(background.std()),
        "zero_plane_sigma_per_pixel_over_sequences": float(np.median(images[:, mask].std(axis=0))),
        "content_median": float(np.median(content)),
        "content_sigma": float(content.std()),
        "content_clipped_fraction": float(((content == 0) | (content == 255)).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="noise seeds per clip (default 4)")
    parser.add_argument("--out", type=Path, default=None, help="keep the emulator outputs here")
    args = parser.parse_args()
    reference = se.REFERENCE_DIR
    if not reference.is_dir():
        raise FileNotFoundError(f"{reference} is missing: the benchmark compares against the released outputs")
    se.build_emulator()

    work = args.out or Path(tempfile.mkdtemp(prefix="bench_emulator_"))
    se.export_weights(reference / se.CAM_CONFIG, reference / "checkpoints" / "cam_noise.pt", work / "weights.json")
    for (class_name, sequence), frames in se.released_cam_clips(reference).items():
        se.write_clip(work / "clips", class_name, sequence, frames)

    speed = {}
    stats = se.run_emulator(work / "weights.json", work / "clips", work / "out_off", noise="off")
    speed["off"] = stats["frames_per_second"]
    exact = np.stack([read_sensor_image(p, (256, 256)) for p in sorted((work / "out_off").glob("*/*/15_output.BMP"))])
    emulated, fps = [], []
    for seed in range(args.seeds):
        out = work / f"out_hw_{seed}"
        stats = se.run_emulator(work / "weights.json", work / "clips", out, noise="hardware", seed=seed)
        fps.append(stats["frames_per_second"])
        emulated += [read_sensor_image(p, (256, 256)) for p in sorted(out.glob("*/*/15_output.BMP"))]
    speed["hardware"] = float(np.mean(fps))
    emulated = np.stack(emulated)
    real = np.stack([read_sensor_image(p, (256, 256)) for p in
                     sorted((reference / "scamp_outputs").glob("*/*/*/15_output.BMP"))])

    # The real outputs' content spans rows 127..190, columns 128..191 (measured); the emulator's
    # 128..191 exactly.
    rows = {
        "real SCAMP-5 (720 outputs)": region_stats(real, slice(127, 191), slice(128, 192)),
        f"emulator, hardware preset ({len(emulated)} outputs)": region_stats(emulated, slice(128, 192), slice(128, 192)),
        f"emulator, noise off ({len(exact)} outputs)": region_stats(exact, slice(128, 192), slice(128, 192)),
    }
    keys = list(next(iter(rows.values())))
    width = max(len(k) for k in keys) + 2
    print(f"{'':{width}}" + "".join(f"{name[:34]:>36}" for name in rows))
    for k in keys:
        print(f"{k:{width}}" + "".join(f"{r[k]:>36.4f}" for r in rows.values()))
    print(f"\nemulator speed (1 CPU thread): {speed['off']:.2f} frames/s noise off, "
          f"{speed['hardware']:.2f} frames/s hardware preset")
    print(f"static kernel words: {stats['static_kernel_words']} of {stats['static_store_words']}")
    print(f"outputs in {work}")


if __name__ == "__main__":
    main()
