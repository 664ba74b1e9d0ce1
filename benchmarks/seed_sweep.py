#!/usr/bin/env python
"""How much a result depends on the seed: train one run per seed (or reuse it) for one or more
configurations and report min / mean / std / max of test accuracy, per seed, with best epoch, flips per
epoch and time per run.

  python benchmarks/seed_sweep.py -c configs/Synthetic/pixelrnn.json --seeds 0-9
  python benchmarks/seed_sweep.py -c CONFIG --seeds 0-9 --jobs 2 \\
      --variant latent:train.binary_optimizer=latent --variant bop:train.binary_optimizer=bop

Each run is ``train.py -c CONFIG --set ... --set seed=N`` into <out>/<variant>/seed<N>/, run by
--launcher (local processes, --jobs at once; or one Slurm job per run: --launcher slurm with
--slurm-partition / --slurm-time / --slurm-cpus; training_utils/launchers.py). A finished run is reused only
if its stored config is the one asked for; a folder holding a run of another config is an error (choose
another --out), checked for every run before any trains. Writes <out>/seed_sweep.json, seed_sweep.md and
seed_sweep.png (accuracy per seed, one marker per variant). Default <out>: runs/seed_sweep/<config name>.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

from model_utils import build_model
from model_utils.binary_layers import binary_weights
from training_utils.atomic_files import write_json, write_png, write_text
from training_utils.cli import reports_user_errors
from training_utils import launchers, run_folder
from training_utils.config import ConfigError
from training_utils.paths import REPO_ROOT


def parse_seeds(text: str) -> list[int]:
    """'0-9', '0,3,5' or '0-2,7' -> a list of seeds."""
    seeds = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            seeds += list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected a range like 0-9 or a list like 0,3,5")
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected seeds >= 0")
    return seeds


def parse_variant(text: str) -> tuple[str, list[str]]:
    """'NAME:key=value,key=value' (or just 'NAME') -> (NAME, ['key=value', ...])."""
    name, _, overrides = text.partition(":")
    if not name or "/" in name:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected NAME or NAME:key=value[,key=value...]")
    return name, [o for o in overrides.split(",") if o]


def run_row(run: launchers.Run, seed: int) -> dict:
    """A finished run's row of the report."""
    cfg, run_dir = run.cfg(), run.run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = list(csv.DictReader((run_dir / "summary.csv").open()))
    kernels = sum(p.numel() for _, p in binary_weights(build_model(cfg, len(metrics["test"]["confusion_matrix"]))))
    flips = [round(float(row["flip_ratio"]) * kernels) for row in history]  # the ratio is stored rounded
    wall_file = run_dir / "wall_seconds.json"
    return {"seed": seed, "test_accuracy": metrics["test"]["accuracy"], "val_accuracy": metrics["val"]["accuracy"],
            "best_epoch": metrics["best_epoch"], "epochs": len(history),
            "attempts": metrics.get("attempts", 1), "best_attempt": metrics.get("best_attempt", 1),
            "flips_per_epoch": flips, "flips_per_epoch_mean": statistics.mean(flips) if flips else 0.0,
            "train_seconds": sum(float(row["seconds"]) for row in history),
            "wall_seconds": json.loads(wall_file.read_text())["seconds"] if wall_file.is_file() else None}


def summarize(rows: list[dict]) -> dict:
    acc = [r["test_accuracy"] for r in rows]
    walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] is not None]
    return {"test_accuracy_min": min(acc), "test_accuracy_mean": statistics.mean(acc),
            "test_accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0, "test_accuracy_max": max(acc),
            "train_seconds_mean": statistics.mean(r["train_seconds"] for r in rows),
            "wall_seconds_mean": statistics.mean(walls) if walls else None}


def markdown(report: dict) -> str:
    lines = [f"Seed sweep of `{report['config']}`" + (f" with `{' '.join(report['overrides'])}`"
                                                        if report["overrides"] else "") + ".", ""]
    lines += ["| variant | overrides | min | mean +- std | max | per seed (test %) | best epoch | flips/epoch | "
              "s/run (train, wall) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, v in report["variants"].items():
        s, rows = v["summary"], v["runs"]
        wall = "-" if s["wall_seconds_mean"] is None else f"{s['wall_seconds_mean']:.0f}"
        lines.append(
            f"| {name} | {' '.join(v['overrides']) or '-'} | {100 * s['test_accuracy_min']:.1f} | "
            f"{100 * s['test_accuracy_mean']:.1f} +- {100 * s['test_accuracy_std']:.1f} | "
            f"{100 * s['test_accuracy_max']:.1f} | "
            + ", ".join(f"{100 * r['test_accuracy']:.1f}" for r in rows) + " | "
            + ", ".join(str(r["best_epoch"]) for r in rows) + " | "
            + f"{statistics.mean(r['flips_per_epoch_mean'] for r in rows):.1f} | "
            f"{s['train_seconds_mean']:.0f}, {wall} |")
    for name, v in report["variants"].items():
        restarted = [f"{r['seed']} (best.pt from attempt {r['best_attempt']} of {r['attempts']})"
                     for r in v["runs"] if r["attempts"] > 1]
        if restarted:
            lines += ["", f"{name}: train.restarts restarted seeds {', '.join(restarted)}."]
    lines += ["", f"Seeds: {', '.join(map(str, report['seeds']))}."]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = "osD^v<>pPX*hH8d"
    fig, ax = plt.subplots(figsize=(8, 4.5))
    count = len(report["variants"])
    for index, (name, v) in enumerate(report["variants"].items()):
        offset = (index - (count - 1) / 2) * 0.08
        ax.plot([r["seed"] + offset for r in v["runs"]], [100 * r["test_accuracy"] for r in v["runs"]],
                marker=markers[index % len(markers)], linestyle="none",
                label=f"{name} ({100 * v['summary']['test_accuracy_mean']:.1f} +- "
                      f"{100 * v['summary']['test_accuracy_std']:.1f})")
    ax.set_xticks(report["seeds"])
    ax.set_xlabel("seed")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(Path(report["config"]).name)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: never over a marker
    write_png(fig, path)


@reports_user_errors
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="JSON config to train")
    p.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-9"), help="e.g. 0-9 or 0,3,5 (default 0-9)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="config override for every run (repeatable)")
    p.add_argument("--variant", type=parse_variant, action="append", default=[], metavar="NAME[:K=V,...]",
                   help="a configuration to compare: its name and overrides on top of --set (repeatable; "
                        "default one variant 'default')")
    p.add_argument("--out", help="output folder (default runs/seed_sweep/<config name>)")
    launchers.add_arguments(p)
    args = p.parse_args(argv)
    config = Path(args.config)
    if not config.is_file():
        raise ConfigError(f"-c {config}: no such config file")
    variants = dict(args.variant) if args.variant else {"default": []}
    if len(variants) != len(args.variant or [1]):
        raise ConfigError("--variant: two variants have the same name")
    out = Path(args.out or REPO_ROOT / "runs" / "seed_sweep" / config.stem)
    launcher = launchers.from_args(args, out)
    with run_folder.claim(out, "seed_sweep.py", "--out", ["seed_sweep.json", "seed_sweep.md", "seed_sweep.png"]):
        return sweep(config, args, variants, out, launcher)


def sweep(config: Path, args, variants: dict, out: Path, launcher: launchers.Launcher) -> int:
    """Train or reuse every (variant, seed) run under ``out`` and write the report there."""
    runs = {(name, seed): launchers.Run(config, (*args.overrides, *variants[name], f"seed={seed}"),
                                        out / name / f"seed{seed}")
            for name in variants for seed in args.seeds}
    start = time.perf_counter()
    launchers.train(launcher, launchers.pending_runs(list(runs.values())))
    rows = {job: run_row(run, job[1]) for job, run in runs.items()}
    report = {"config": str(config), "overrides": args.overrides, "seeds": args.seeds,
              "wall_seconds_total": time.perf_counter() - start, "jobs": launcher.jobs, "launcher": launcher.kind,
              "variants": {name: {"overrides": extra, "runs": [rows[(name, s)] for s in args.seeds]}
                           for name, extra in variants.items()}}
    for v in report["variants"].values():
        v["summary"] = summarize(v["runs"])
    write_json(out / "seed_sweep.json", report)
    write_text(out / "seed_sweep.md", markdown(report))
    plot(report, out / "seed_sweep.png")
    print(markdown(report))
    print(f"wrote {out / 'seed_sweep.md'}, {out / 'seed_sweep.json'} and {out / 'seed_sweep.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
