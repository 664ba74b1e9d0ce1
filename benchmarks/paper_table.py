#!/usr/bin/env python
"""The paper's comparison as one command: every model of configs/<Cambridge|Lips>/comparison/ on a dataset,
trained over seeds (or reused), tabulated with accuracy, on-sensor memory, read-out bits, parameters and
training time, and plotted as accuracy against read-out bits per clip.

  python benchmarks/paper_table.py --dataset synthetic_gestures --seeds 0 1 2 [--recipe project]
  python benchmarks/paper_table.py --dataset cambridge --seeds 0 1 2 --recipe paper --data-root DIR
  python benchmarks/paper_table.py --dataset cambridge --variant hardware ...

``--variant paper`` (default) is the paper's simulated comparison: noise-free in-pixel models. ``--variant
hardware`` takes the in-pixel models from configs/<...>/comparison_hardware/ instead: trained (and, in the paper
recipe, scored) with sensor noise, as the release trained its hardware prototype; the camera baselines have no
noise and are the same in both. The read-out axis counts the maps each model's decoder reads (frames 1..15 for
the multi-frame cameras, as the release's decoders), not the 16 frames a conventional sensor reads out.

Each (model, seed) is ``train.py -c CONFIG --set seed=N --set ...`` into <out>/<model>-seed<N>/, run by
--launcher (local processes, --jobs at once; or one Slurm job per run: --launcher slurm with
--slurm-partition / --slurm-time / --slurm-cpus; training_utils/launchers.py). A finished run is reused only
if its stored config.json is the config asked for (keys that do not change results aside), and an
interrupted one is resumed from its last.pt; a folder holding a run of another config is an error naming the
keys that differ (choose another --out), checked for every run before the first one trains. So the script
can be stopped and restarted. Writes <out>/results.json, <out>/table.md and <out>/accuracy_vs_readout.png
(default <out>: runs/paper_table/<dataset>-<recipe>).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from model_utils import build_model
from training_utils import bit_accounting, launchers, run_folder
from training_utils.atomic_files import write_json, write_png, write_text
from training_utils.cli import reports_user_errors
from training_utils.paths import REPO_ROOT

MODELS = {  # config name in the comparison folders -> the paper's name for the model
    "pixelrnn": "PixelRNN",
    "pixelrnn_interpolation": "PixelRNN, interpolation",
    "two_layer_cnn_pixelrnn": "two-layer CNN + PixelRNN",
    "simple_rnn": "simple conv RNN",
    "simple_rnn_out": "simple conv RNN, output conv",
    "conv_gru": "ConvGRU",
    "mgu": "MGU",
    "mgu_v2": "MGU v2",
    "conv_lstm": "ConvLSTM",
    "conv_lstm_out": "ConvLSTM, output conv",
    "cnn_only": "CNN only",
    "raw_camera_64": "raw camera 64x64",
    "raw_camera_256": "raw camera 256x256",
    "binarized_raw": "binarised raw camera",
    "difference_camera": "difference camera",
    "event_camera": "event camera (last difference)",
    "middle_frame": "middle frame",
}
# The in-pixel models: each has a noise-trained hardware-prototype config in comparison_hardware/.
HARDWARE_MODELS = ("pixelrnn", "pixelrnn_interpolation", "two_layer_cnn_pixelrnn", "simple_rnn", "simple_rnn_out",
                   "conv_gru", "mgu", "mgu_v2", "conv_lstm", "conv_lstm_out", "cnn_only")
VARIANTS = {"paper": "comparison", "hardware": "comparison_hardware"}  # variant -> folder of its in-pixel configs
# dataset -> (comparison config folder, overrides that adapt its configs to the dataset)
_SYNTHETIC = ["data.split=seeded", "train.scheduler=cosine"]
DATASETS = {
    "cambridge": ("Cambridge", []),
    "tulips1": ("Lips", []),
    "synthetic_gestures": ("Cambridge", ["data.dataset=synthetic_gestures", *_SYNTHETIC, "train.epochs=8",
                                         "train.lr=0.003"]),
    # the defaults of configs/Synthetic/lips_pixelrnn.json: split by subject, so test speakers are unseen
    "synthetic_lips": ("Lips", ["data.dataset=synthetic_lips", "data.split=seeded_by_subject",
                                "data.split_fractions.train=0.7", "data.split_fractions.val=0.1",
                                "data.split_fractions.test=0.2",
                                "train.scheduler=cosine", "train.epochs=20", "train.lr=0.002", "train.batch_size=8",
                                "train.binary_lr_scale=0.3", "data.synthetic.clips_per_class=192"]),
}
DEFAULT_RECIPE = {"cambridge": "paper", "tulips1": "paper", "synthetic_gestures": "project",
                  "synthetic_lips": "project"}


def config_path(folder: str, name: str, variant: str) -> Path:
    """The config of model ``name`` in ``variant`` (a camera baseline has one config for both)."""
    if variant not in VARIANTS:
        raise ValueError(f"comparison variant {variant!r} is not one of {sorted(VARIANTS)}")
    subfolder = VARIANTS[variant] if name in HARDWARE_MODELS else VARIANTS["paper"]
    return REPO_ROOT / "configs" / folder / subfolder / f"{name}.json"


def motion_accuracy(metrics: dict) -> float:
    # synthetic_gestures: class folder c (1..9) = shape * 3 + motion + 1, labels 0..8 in that order
    preds = metrics["predictions"]
    return sum(p["label"] % 3 == p["predicted"] % 3 for p in preds) / len(preds)


def run_of(config: Path, seed: int, overrides: list[str], run_dir: Path = Path("."),
           data_root: str | None = None) -> launchers.Run:
    return launchers.Run(config, (f"seed={seed}", *overrides), run_dir, data_root)


def run_config(config: Path, seed: int, overrides: list[str]) -> dict:
    return run_of(config, seed, overrides).cfg()


def run_one(run: launchers.Run) -> dict:
    """A finished run's row of the table."""
    cfg, run_dir = run.cfg(), run.run_dir
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    model = build_model(cfg, len(metrics["test"]["confusion_matrix"]))
    seconds_file = run_dir / "wall_seconds.json"
    row = {"test_accuracy": metrics["test"]["accuracy"],
           "memory_bits_per_pixel": bit_accounting.state_bits_per_pixel(model),
           "readout_bits_per_clip": bit_accounting.readout_bits_per_clip(model),
           "parameters": bit_accounting.parameter_count(model),
           "train_seconds": json.loads(seconds_file.read_text())["seconds"] if seconds_file.is_file() else None}
    if cfg["data"]["dataset"] == "synthetic_gestures":
        row["motion_accuracy"] = motion_accuracy(metrics["test"])
    return row


def summarize(runs: list[dict]) -> dict:
    acc = [r["test_accuracy"] for r in runs]
    seconds = [r["train_seconds"] for r in runs if r["train_seconds"] is not None]
    out = {"accuracy_mean": statistics.mean(acc), "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
           "per_seed": acc, **{k: runs[0][k] for k in ("memory_bits_per_pixel", "readout_bits_per_clip", "parameters")},
           "train_seconds_mean": statistics.mean(seconds) if seconds else None}
    if "motion_accuracy" in runs[0]:
        out["motion_accuracy_mean"] = statistics.mean(r["motion_accuracy"] for r in runs)
    return out


def markdown(rows: dict, seeds_of: dict) -> str:
    motion = any("motion_accuracy_mean" in r for r in rows.values())
    head = ["model", "test accuracy (mean +- std)", "per seed"] + (["motion accuracy"] if motion else []) + \
        ["memory (bits/pixel)", "read-out (bits/clip)", "parameters", "training time (s, mean)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        per_seed = ", ".join(f"{100 * a:.1f} (seed {s})" for a, s in zip(r["per_seed"], seeds_of[name]))
        spread = "one seed" if r["accuracy_std"] is None else f"+- {100 * r['accuracy_std']:.1f}"
        cells = [MODELS[name], f"{100 * r['accuracy_mean']:.1f} % {spread}", per_seed]
        if motion:
            cells.append(f"{100 * r['motion_accuracy_mean']:.1f} %")
        seconds = r["train_seconds_mean"]
        cells += [f"{r['memory_bits_per_pixel']:g}", f"{r['readout_bits_per_clip']:,}", f"{r['parameters']:,}",
                  "reused" if seconds is None else f"{seconds:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: dict, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    markers = "osD^v<>pPX*hH8d"
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for index, (name, r) in enumerate(rows.items()):
        ax.errorbar(r["readout_bits_per_clip"], 100 * r["accuracy_mean"], yerr=100 * (r["accuracy_std"] or 0),
                    marker=markers[index % len(markers)], linestyle="none", capsize=3, label=MODELS[name])
    ax.set_xscale("log")
    ax.set_xlabel("bits read off the sensor per clip (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    write_png(fig, path)


@reports_user_errors
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--recipe", choices=("paper", "project"),
                   help="training recipe (default: paper on cambridge/tulips1, project on the synthetic sets)")
    p.add_argument("--variant", choices=sorted(VARIANTS), default="paper",
                   help="paper: the noise-free in-pixel models (the paper's comparison); hardware: the "
                        "noise-trained ones of comparison_hardware/ (the hardware-prototype variant)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--out", help="output folder (default runs/paper_table/<dataset>-<recipe>[-hardware])")
    p.add_argument("--data-root", help="dataset folder (as train.py --data-root)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override for every run")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: tabulate the (model, seed) runs already finished in --out")
    launchers.add_arguments(p)
    args = p.parse_args(argv)
    recipe = args.recipe or DEFAULT_RECIPE[args.dataset]
    folder, dataset_overrides = DATASETS[args.dataset]
    suffix = "" if args.variant == "paper" else f"-{args.variant}"
    out = Path(args.out or REPO_ROOT / "runs" / "paper_table" / f"{args.dataset}-{recipe}{suffix}")
    overrides = [f"recipe={recipe}", *dataset_overrides, *args.overrides]
    launcher = launchers.from_args(args, out)
    with run_folder.claim(out, "paper_table.py", "--out", ["results.json", "table.md", "accuracy_vs_readout.png"]):
        return tabulate(args, out, folder, recipe, overrides, launcher)


def tabulate(args, out: Path, folder: str, recipe: str, overrides: list[str], launcher: launchers.Launcher) -> int:
    configs = {name: config_path(folder, name, args.variant) for name in args.models}
    every = {(name, s): run_of(configs[name], s, overrides, out / f"{name}-seed{s}", args.data_root)
             for name in args.models for s in args.seeds}
    # Every stored run is checked against the config asked for before anything trains (hours may pass).
    pending = launchers.pending_runs(list(every.values()))
    if not args.report_only:
        launchers.train(launcher, pending)
    runs, seeds_of = {}, {}
    for name in args.models:
        seeds = [s for s in args.seeds if not args.report_only or every[name, s] not in pending]
        if seeds:
            runs[name] = [run_one(every[name, s]) for s in seeds]
            seeds_of[name] = seeds
    rows = {name: summarize(r) for name, r in runs.items()}
    if not rows:
        print(f"no finished runs in {out}")
        return 1
    table = markdown(rows, seeds_of)
    write_json(out / "results.json", {"dataset": args.dataset, "recipe": recipe, "variant": args.variant,
                                      "overrides": overrides,
                                      "seeds": seeds_of, "runs": runs, "rows": rows})
    write_text(out / "table.md", table)
    plot(rows, f"{args.dataset}, {recipe} recipe, {args.variant} variant", out / "accuracy_vs_readout.png")
    print(table)
    print(f"wrote {out / 'table.md'}, {out / 'results.json'} and {out / 'accuracy_vs_readout.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
