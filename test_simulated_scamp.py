#!/usr/bin/env python
"""Decoder accuracy on simulated sensor outputs: the o_T half of the last frame's ``6_ft_ot.BMP`` written by
``print_intermediates.py`` (or the release), decoded ``(p - 127) / iw``, optionally with Gaussian read noise.

  python test_simulated_scamp.py -c CONFIG -sdd DIR -iw 10 [--weights CKPT] [--out DIR]
         [--read-noise-std 0 1 2 4] [--clip {off,on,both}] [--seed N]

Every setting (noise std in 8-bit units x clipping to 0..255 with rounding, as the ADC would) is reported
and written to ``OUT/<setting>/metrics.json``; ``OUT/summary.json`` lists them all. Class folders map to
labels through ``DIR/classes.json`` when present, else as numbers minus ``--class-offset`` (default 1, the
release's 1..9).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training_utils.cli import add_input_white, reports_user_errors
from training_utils.config import load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="JSON config of the checkpoint")
    p.add_argument("-sdd", "--saved-data-dir", required=True, metavar="DIR",
                   help="print_intermediates output: DIR/<class>/<sequence>/<frame>/6_ft_ot.BMP")
    add_input_white(p, "sensor units per model unit (default 10)")
    p.add_argument("--weights", metavar="CHECKPOINT", help="checkpoint (default: the config's 'weights')")
    p.add_argument("--frame", type=int, help="frame whose o_t is read (default: the config's timesteps - 1)")
    p.add_argument("--class-offset", type=int, default=1, help="label = class folder number - offset (default 1)")
    p.add_argument("--read-noise-std", type=float, nargs="+", default=[0.0],
                   help="Gaussian read-noise stds in 8-bit units, one setting each (default 0)")
    p.add_argument("--clip", choices=("off", "on", "both"), default="off",
                   help="clip noisy pixels to 0..255 and round them (on), not (off), or report both")
    p.add_argument("--seed", type=int, help="seed of the read noise (default: the config's seed)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/simulated_scamp)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the config's)")
    return p.parse_args(argv)


def noisy_pixels(pixels, std: float, clip: bool, seed: int):
    """8-bit pixels plus N(0, std^2) read noise (seeded); ``clip``: clipped to 0..255 and rounded."""
    import numpy as np

    values = pixels.astype(np.float64)
    if std > 0:
        values = values + np.random.default_rng(seed).normal(0.0, std, size=values.shape)
    if clip:
        values = np.clip(np.round(values), 0, 255)
    return values


def setting_name(std: float, clip: bool) -> str:
    return f"noise{std:g}" + ("_clip" if clip else "")


@reports_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    from data_utils.sensor_outputs import read_simulated_outputs
    from training_utils import run_folder
    from training_utils.model_loading import load_model
    from training_utils.run_folder import require_folder_path
    from training_utils.runtime import select_device

    if any(std < 0 for std in args.read_noise_std):
        raise ValueError(f"--read-noise-std values must be >= 0, got {args.read_noise_std}")
    cfg = load_config(args.config)
    out_dir = require_folder_path(args.out if args.out else Path(cfg["out_dir"]) / "simulated_scamp", "--out")
    seed = cfg["seed"] if args.seed is None else args.seed
    frame = cfg["data"]["timesteps"] - 1 if args.frame is None else args.frame
    device = select_device(args.device or cfg["device"])
    readouts = read_simulated_outputs(args.saved_data_dir, args.input_white, frame, args.class_offset)
    model, path, _ = load_model(cfg, args.weights, device)
    if max(readouts.labels) >= model.num_classes:
        raise ValueError(f"class folders under {args.saved_data_dir} give labels up to {max(readouts.labels)}, "
                         f"but {path} classifies {model.num_classes} classes; check --class-offset")
    with run_folder.claim(out_dir, "test_simulated_scamp.py", "--out", ["summary.json", "<setting>/metrics.json"]):
        return write_settings(args, model, path, readouts, out_dir, seed, frame, device)


def write_settings(args, model, path, readouts, out_dir: Path, seed: int, frame: int, device) -> int:
    import numpy as np

    from data_utils.scamp_io import CENTER
    from training_utils.atomic_files import write_json
    from training_utils.decoder_finetuning import decoder_logits
    from training_utils.metrics import classification_metrics, format_metrics

    pixels = readouts.values * args.input_white + CENTER  # back to the 8-bit scale the noise is defined on
    clips = {"off": [False], "on": [True], "both": [False, True]}[args.clip]
    summary = {}
    for index, std in enumerate(args.read_noise_std):
        for clip in clips:
            name = setting_name(std, clip)
            values = (noisy_pixels(pixels, std, clip, seed + index) - CENTER) / args.input_white
            predicted = decoder_logits(model, values.astype(np.float32), device).argmax(1).tolist()
            metrics = classification_metrics(name, readouts.labels, predicted, readouts.names, model.num_classes,
                                             read_noise_std=std, clip=clip, seed=seed + index,
                                             input_white=args.input_white, frame=frame, weights=str(path))
            write_json(out_dir / name / "metrics.json", metrics)
            summary[name] = {k: metrics[k] for k in ("accuracy", "correct", "total", "read_noise_std", "clip")}
            print(format_metrics(metrics))
    write_json(out_dir / "summary.json", summary)
    print(f"wrote {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
