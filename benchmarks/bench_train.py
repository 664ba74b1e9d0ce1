#!/usr/bin/env python
"""Throughput of the paper's model (1-layer binary CNN + PixelRNN, 16 frames of 64x64, 9 classes).

Mode ``throughput`` (default): clips/s of a train step (forward, loss, backward) and of evaluation for
the project's model and for the straightforward implementation (benchmarks/straightforward_pixelrnn.py:
a per-frame loop, every stage a separate op) at each batch size, with the same model and input each
time, plus a bare conv2d of the encoder's shape. Ratios measured in one run hold on a noisy machine:
speedup over the straightforward path (best batch size of each) and nominal model FLOP/s over
bare-conv FLOP/s. Every figure is the best of ``--repeats`` timed runs after one warm-up run.

Mode ``epoch``: one training epoch of a Cambridge-sized workload (720 train clips, then evaluation of
90 val clips, in memory) through the Trainer.

  python benchmarks/bench_train.py --out bench.json
  python benchmarks/bench_train.py --mode epoch
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.in_memory_clips import InMemoryClips  # noqa: E402
from benchmarks.straightforward_pixelrnn import straightforward_forward  # noqa: E402
from model_utils import build_model  # noqa: E402
from training_utils.atomic_files import write_json  # noqa: E402
from training_utils.config import resolve  # noqa: E402

TIMESTEPS, SIZE, CLASSES, CHANNELS, KERNEL = 16, 64, 9, 16, 5

# The paper's noise-trained model (cam_noise): sensor noise in training, none at evaluation.
PAPER_MODEL = {"model": {"encoder": {"noise_std": 0.6},
                         "cell": {"learned_threshold": True, "gate_noise_std": 0.6, "output_noise_std": 1.0}}}


def paper_config(overrides=()) -> dict:
    return resolve(PAPER_MODEL, list(overrides))


def nominal_forward_flops() -> int:
    """Multiply-adds x 2 per clip: encoder conv (16 maps), the cell's four 5x5 convs, the decoder."""
    pixels = SIZE * SIZE
    encoder = TIMESTEPS * CHANNELS * pixels * KERNEL * KERNEL * 2
    cell = TIMESTEPS * 4 * pixels * KERNEL * KERNEL * 2
    decoder = pixels * CLASSES * 2
    return encoder + cell + decoder


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
    model = build_model(paper_config(), CLASSES).to(device)
    generator = torch.Generator().manual_seed(1)
    largest = max(args.batch_sizes)
    clips = torch.randn(largest, TIMESTEPS, 1, SIZE, SIZE, generator=generator).to(device)
    labels = torch.randint(0, CLASSES, (largest,), generator=generator).to(device)
    paths = {"fast": model, "straightforward": lambda x: straightforward_forward(model, x)}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    results = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "nominal_forward_gflop_per_clip": nominal_forward_flops() / 1e9, "runs": []}
    for batch in args.batch_sizes:
        x, y = clips[:batch], labels[:batch]
        weight = torch.ones(CHANNELS, 1, KERNEL, KERNEL, device=device)
        frames = x.flatten(0, 1)
        conv_seconds = best_time(lambda: (F.conv2d(frames, weight, padding=KERNEL // 2), sync()), args.repeats)
        conv_flops = frames.shape[0] * CHANNELS * SIZE * SIZE * KERNEL * KERNEL * 2 / conv_seconds
        print(f"batch {batch:>3}  bare conv2d {frames.shape[0]}x1x{SIZE}x{SIZE} -> {CHANNELS} maps: "
              f"{conv_flops / 1e9:.2f} GFLOP/s", flush=True)
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
            for mode, fn, passes in (("train", train_step, 3), ("eval", evaluate, 1)):
                seconds = best_time(fn, args.repeats)
                clips_per_s = batch / seconds
                run = {"path": name, "mode": mode, "batch": batch, "clips_per_s": clips_per_s,
                       "ms_per_clip": 1e3 * seconds / batch,
                       "flops_over_bare_conv": clips_per_s * passes * nominal_forward_flops() / conv_flops,
                       "bare_conv_gflops": conv_flops / 1e9, "peak_memory_mib": peak_memory_mib(device)}
                results["runs"].append(run)
                print(f"batch {batch:>3}  {name:<15} {mode:<5} {clips_per_s:8.1f} clips/s  "
                      f"{run['ms_per_clip']:7.2f} ms/clip  {100 * run['flops_over_bare_conv']:5.1f} % of bare-conv "
                      f"FLOP/s  peak {run['peak_memory_mib']:.0f} MiB", flush=True)
    for mode in ("train", "eval"):
        best = {name: max((r for r in results["runs"] if r["path"] == name and r["mode"] == mode),
                          key=lambda r: r["clips_per_s"]) for name in paths}
        results[f"{mode}_clips_per_s"] = best["fast"]["clips_per_s"]
        results[f"{mode}_best_batch"] = best["fast"]["batch"]
        results[f"{mode}_straightforward_clips_per_s"] = best["straightforward"]["clips_per_s"]
        results[f"{mode}_straightforward_best_batch"] = best["straightforward"]["batch"]
        results[f"{mode}_speedup"] = best["fast"]["clips_per_s"] / best["straightforward"]["clips_per_s"]
        print(f"{mode}: {results[f'{mode}_clips_per_s']:.1f} clips/s (batch {best['fast']['batch']}) vs "
              f"straightforward {results[f'{mode}_straightforward_clips_per_s']:.1f} clips/s "
              f"(batch {best['straightforward']['batch']}): speedup {results[f'{mode}_speedup']:.2f}x")
    return results


def epoch(args) -> dict:
    from training_utils.trainer import Trainer

    device = torch.device(args.device)
    cfg = paper_config([f"train.batch_size={args.epoch_batch_size}", "train.eval_batch_size=90"])
    datasets = {"train": InMemoryClips(720, CLASSES, seed=1), "val": InMemoryClips(90, CLASSES, seed=2),
                "test": InMemoryClips(90, CLASSES, seed=3)}
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
               "epoch_val_seconds": val_seconds, "epoch_seconds": train_seconds + val_seconds}
    print(f"one epoch (720 train + 90 val clips, batch {args.epoch_batch_size}): train {train_seconds:.2f} s, "
          f"val {val_seconds:.2f} s, total {results['epoch_seconds']:.2f} s")
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("throughput", "epoch"), default="throughput")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the best counts)")
    p.add_argument("--epoch-batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
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
