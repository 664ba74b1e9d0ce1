#!/usr/bin/env python
"""Throughput of an in-pixel model (16 frames of 64x64, 9 classes) on the native kernels against its
PyTorch path.

Mode ``throughput`` (default): ms per clip of a train step (forward, loss, backward) and of evaluation, at
each batch size, for the paths computing the same function with the same parameters and input: ``native``
(model.compute = "native": the C++ kernels of model_utils/kernels) and ``torch`` (model.compute = "torch":
the model's plain-PyTorch path); for PixelRNN also ``straightforward`` (model_utils/straightforward.py: a
per-frame loop, every stage a separate op; a fair stand-in for the authors' release). ``train_speedup`` /
``eval_speedup``: best torch vs best native (each at its best batch size); for PixelRNN
``train_straightforward_speedup`` / ``eval_straightforward_speedup``: best straightforward vs best native.
Every figure is the best of ``--repeats`` timed runs after one warm-up run.

``--model``: ``pixelrnn`` (default) is the paper's noise-trained model (cam_noise); every other name is the
model section of configs/Cambridge/comparison/<name>.json (the noise-free comparison models).

Figures count only on a quiet machine: the benchmark waits (up to ``--max-wait`` s) for the 1-minute
load average to drop below 0.5 before it starts, writes ``load_before`` / ``load_after`` into its JSON
and warns if the load was above 0.5 at the start. ``--device cuda`` times the torch and straightforward
paths on a GPU (the native kernels are CPU-only).

Mode ``epoch``: one training epoch of a Cambridge-sized workload (720 train clips, then evaluation of
90 val clips, in memory) through the Trainer (model.compute "auto").

  python benchmarks/bench_train.py --out bench.json
  python benchmarks/bench_train.py --model conv_lstm --batch-sizes 32 64 --out conv_lstm.json
  python benchmarks/bench_train.py --mode epoch
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from data_utils.in_memory import InMemoryClips
from model_utils.straightforward import straightforward_forward
from model_utils import build_model
from training_utils.atomic_files import write_json
from training_utils.config import load_config, resolve
from training_utils.paths import REPO_ROOT

TIMESTEPS, SIZE, CLASSES = 16, 64, 9

# The paper's noise-trained model (cam_noise): sensor noise in training, none at evaluation.
PAPER_MODEL = {"model": {"encoder": {"noise_std": 0.6},
                         "cell": {"learned_threshold": True, "gate_noise_std": 0.6, "output_noise_std": 1.0}}}


# The in-pixel models of the paper's comparison (configs/Cambridge/comparison/<name>.json).
IN_PIXEL_MODELS = ("pixelrnn", "pixelrnn_interpolation", "two_layer_cnn_pixelrnn", "simple_rnn", "simple_rnn_out",
                   "conv_gru", "mgu", "mgu_v2", "conv_lstm", "conv_lstm_out", "cnn_only")


def paper_config(overrides=()) -> dict:
    return resolve(PAPER_MODEL, list(overrides))


def model_config(name: str) -> dict:
    if name == "pixelrnn":
        return paper_config()
    model = load_config(REPO_ROOT / "configs" / "Cambridge" / "comparison" / f"{name}.json")["model"]
    return resolve({"model": model, "data": {"timesteps": TIMESTEPS, "frame_size": SIZE}})


QUIET_LOAD = 0.5


def wait_for_quiet(max_wait: float) -> float:
    """Wait until the 1-minute load average is below QUIET_LOAD (at most max_wait s); return the load."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    load = os.getloadavg()[0]
    if load >= QUIET_LOAD:
        warnings.warn(f"1-minute load {load:.2f} >= {QUIET_LOAD} before the benchmark: its figures are not "
                      f"quiet-machine figures", RuntimeWarning, stacklevel=2)
    return load


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (Linux: KiB)


def throughput(args) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(model_config(args.model), CLASSES).to(device)
    generator = torch.Generator().manual_seed(1)
    largest = max(args.batch_sizes)
    clips = torch.randn(largest, TIMESTEPS, 1, SIZE, SIZE, generator=generator).to(device)
    labels = torch.randint(0, CLASSES, (largest,), generator=generator).to(device)

    def with_kernels(kernels):
        def forward(x):
            model.compute = kernels
            return model(x)
        return forward
    paths = {"native": with_kernels("native"), "torch": with_kernels("torch")}
    if args.model == "pixelrnn":
        paths["straightforward"] = lambda x: straightforward_forward(model, x)
    if device.type != "cpu":
        del paths["native"]  # CPU-only kernels
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    results = {"model": args.model, "device": str(device), "threads": torch.get_num_threads(),
               "torch": torch.__version__, "load_before": wait_for_quiet(args.max_wait), "runs": []}
    for batch in args.batch_sizes:
        x, y = clips[:batch], labels[:batch]
        for name, forward in paths.items():
            def train_step():
                model.train()
                model.zero_grad(set_to_none=True)
                F.cross_entropy(forward(x), y).backward()
                sync()

            def evaluate():
                model.eval()
                with torch.no_grad():
                    forward(x).argmax(1)
                sync()
            for mode, fn in (("train", train_step), ("eval", evaluate)):
                seconds = best_time(fn, args.repeats)
                run = {"path": name, "mode": mode, "batch": batch, "ms_per_clip": 1e3 * seconds / batch,
                       "clips_per_s": batch / seconds, "peak_memory_mib": peak_memory_mib(device)}
                results["runs"].append(run)
                print(f"batch {batch:>3}  {name:<15} {mode:<5} {run['ms_per_clip']:7.2f} ms/clip  "
                      f"{run['clips_per_s']:8.1f} clips/s  peak {run['peak_memory_mib']:.0f} MiB", flush=True)
    results["load_after"] = os.getloadavg()[0]
    for mode in ("train", "eval"):
        best = {name: min((r for r in results["runs"] if r["path"] == name and r["mode"] == mode),
                          key=lambda r: r["ms_per_clip"]) for name in paths}
        for name, run in best.items():
            results[f"{mode}_{name}_ms_per_clip"] = run["ms_per_clip"]
            results[f"{mode}_{name}_best_batch"] = run["batch"]
        ratios = []
        if "native" in best:
            results[f"{mode}_speedup"] = best["torch"]["ms_per_clip"] / best["native"]["ms_per_clip"]
            ratios.append(f"native vs torch {results[f'{mode}_speedup']:.2f}x")
        if "straightforward" in best:
            fast = "native" if "native" in best else "torch"
            results[f"{mode}_straightforward_speedup"] = (best["straightforward"]["ms_per_clip"]
                                                          / best[fast]["ms_per_clip"])
            ratios.append(f"{fast} vs straightforward {results[f'{mode}_straightforward_speedup']:.2f}x")
        print(f"{mode}: " + ", ".join(f"{name} {run['ms_per_clip']:.2f} ms/clip (batch {run['batch']})"
                                      for name, run in best.items()) + ": " + ", ".join(ratios))
    print(f"1-minute load: {results['load_before']:.2f} before, {results['load_after']:.2f} after")
    return results


def epoch(args) -> dict:
    from training_utils.trainer import Trainer

    device = torch.device(args.device)
    cfg = paper_config([f"train.batch_size={args.epoch_batch_size}", "train.eval_batch_size=90"])
    datasets = {"train": InMemoryClips(720, CLASSES, seed=1), "val": InMemoryClips(90, CLASSES, seed=2),
                "test": InMemoryClips(90, CLASSES, seed=3)}
    load_before = wait_for_quiet(args.max_wait)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, datasets, Path(run_dir), device)
        start = time.perf_counter()
        trainer.train_one_epoch()
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        trainer.evaluate("val")
        val_seconds = time.perf_counter() - start
    results = {"device": str(device), "threads": torch.get_num_threads(), "train_clips": 720, "val_clips": 90,
               "batch_size": args.epoch_batch_size, "epoch_train_seconds": train_seconds,
               "epoch_val_seconds": val_seconds, "epoch_seconds": train_seconds + val_seconds,
               "load_before": load_before, "load_after": os.getloadavg()[0]}
    print(f"one epoch (720 train + 90 val clips, batch {args.epoch_batch_size}): train {train_seconds:.2f} s, "
          f"val {val_seconds:.2f} s, total {results['epoch_seconds']:.2f} s; 1-minute load {load_before:.2f} before, "
          f"{results['load_after']:.2f} after")
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("throughput", "epoch"), default="throughput")
    p.add_argument("--model", choices=IN_PIXEL_MODELS, default="pixelrnn", help="the model timed (throughput mode)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the best counts)")
    p.add_argument("--epoch-batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-wait", type=float, default=180, help="seconds to wait for the load to drop below 0.5")
    p.add_argument("--out", metavar="FILE", help="write the results as JSON")
    args = p.parse_args(argv)
    if any(b < 1 for b in args.batch_sizes) or args.repeats < 1 or args.threads < 1:
        p.error("--batch-sizes, --repeats and --threads must be >= 1")
    torch.set_num_threads(args.threads)
    results = throughput(args) if args.mode == "throughput" else epoch(args)
    if args.out:
        write_json(args.out, results)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
