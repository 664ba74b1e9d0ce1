#!/usr/bin/env python
"""The README's results tables: the in-pixel cells on synthetic_gestures (or synthetic_lips), test
accuracy over seeds, on-sensor memory per pixel and bits read off the sensor per clip.

  python benchmarks/synthetic_results.py --seeds 0 1 2 --out runs/synthetic_results
  python benchmarks/synthetic_results.py --dataset lips --seeds 0 1 2 --out runs/synthetic_lips_results

Each (config, seed) trains with train.py's Trainer into <out>/<config>-seed<N>/; finished runs
(metrics.json present) are reused, so the script can be stopped and restarted. Writes
<out>/results.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from data_utils import build_datasets  # noqa: E402
from training_utils import bit_accounting  # noqa: E402
from training_utils.atomic_files import write_json  # noqa: E402
from training_utils.config import load_config  # noqa: E402
from training_utils.trainer import Trainer, select_device  # noqa: E402

ROWS = [  # (label, config) on synthetic_gestures
    ("PixelRNN", "pixelrnn"),
    ("PixelRNN, noise-trained", "pixelrnn_noise"),
    ("simple conv RNN", "conv_rnn"),
    ("conv GRU", "conv_gru"),
    ("conv LSTM", "conv_lstm"),
    ("minimal gated unit", "mgu"),
    ("PixelRNN, frozen kernels (the release's behaviour)", "pixelrnn_frozen_kernels"),
    ("single-frame CNN (T = 1)", "single_frame"),
]
LIP_ROWS = [  # (label, config) on synthetic_lips: configs/Synthetic/lips_*.json
    ("PixelRNN", "lips_pixelrnn"),
    ("conv GRU", "lips_conv_gru"),
    ("conv LSTM", "lips_conv_lstm"),
    ("single-frame CNN (T = 1)", "lips_single_frame"),
]
TABLES = {"gestures": ROWS, "lips": LIP_ROWS}
MOTION_NOTE = "motion accuracy: share of test clips whose motion (left / right / shrink) is predicted right"


def motion_accuracy(metrics: dict) -> float:
    # synthetic_gestures: class folder c (1..9) = shape * 3 + motion + 1, labels 0..8 in that order
    preds = metrics["predictions"]
    return sum(p["label"] % 3 == p["predicted"] % 3 for p in preds) / len(preds)


def num_classes(metrics_file: Path) -> int:
    return len(json.loads(metrics_file.read_text())["test"]["confusion_matrix"])


def run_one(config: str, seed: int, out: Path, overrides: list[str]) -> dict:
    run_dir = out / f"{config}-seed{seed}"
    metrics_file = run_dir / "metrics.json"
    cfg = load_config(REPO_ROOT / "configs" / "Synthetic" / f"{config}.json", [f"seed={seed}", *overrides])
    if not metrics_file.is_file():
        start = time.perf_counter()
        datasets = build_datasets(cfg)
        trainer = Trainer(cfg, datasets, run_dir, select_device(cfg["device"]))
        trainer.fit()
        write_json(run_dir / "wall_seconds.json", {"seconds": time.perf_counter() - start})
        model = trainer.model
    else:
        from model_utils import build_model
        model = build_model(cfg, num_classes(metrics_file))
    metrics = json.loads(metrics_file.read_text())
    motion = motion_accuracy(metrics["test"]) if cfg["data"]["dataset"] == "synthetic_gestures" else None
    return {"test_accuracy": metrics["test"]["accuracy"], "motion_accuracy": motion,
            "state_bits": bit_accounting.state_bits_per_pixel(model),
            "readout_bits": bit_accounting.readout_bits_per_clip(model)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=sorted(TABLES), default="gestures", help="which table (default gestures)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--configs", nargs="+", default=None, choices=[c for rows in TABLES.values() for _, c in rows],
                   help="default: every row of --dataset's table")
    p.add_argument("--out", default="runs/synthetic_results")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every run")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: tabulate the (config, seed) runs already finished in --out")
    args = p.parse_args(argv)
    rows = TABLES[args.dataset]
    if args.configs is None:
        args.configs = [c for _, c in rows]
    out = Path(args.out)
    results = {}
    for config in args.configs:
        seeds = args.seeds
        if args.report_only:
            seeds = [s for s in seeds if (out / f"{config}-seed{s}" / "metrics.json").is_file()]
        if seeds:
            results[config] = [run_one(config, seed, out, args.overrides) for seed in seeds]
    if not args.report_only:
        write_json(out / "results.json", {"seeds": args.seeds, "overrides": args.overrides, "runs": results})
    gestures = args.dataset == "gestures"
    motion_header = " motion accuracy |" if gestures else ""
    print(f"| model | test accuracy (mean over seeds) | per seed |{motion_header} on-sensor memory (bits/pixel) "
          "| read off the sensor per clip (bits) |")
    print("|---|---|---|" + ("---|" if gestures else "") + "---|---|")
    for label, config in rows:
        if config not in results:
            continue
        runs = results[config]
        acc = [r["test_accuracy"] for r in runs]
        spread = f" +- {100 * statistics.stdev(acc):.1f}" if len(acc) > 1 else ""
        motion = f" {100 * statistics.mean(r['motion_accuracy'] for r in runs):.1f} % |" if gestures else ""
        print(f"| {label} | {100 * statistics.mean(acc):.1f} %{spread} | "
              f"{', '.join(f'{100 * a:.1f}' for a in acc)} |{motion} "
              f"{runs[0]['state_bits']:g} | {runs[0]['readout_bits']} |")
    if gestures:
        print(f"\n{MOTION_NOTE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
