#!/usr/bin/env python
"""Train, resume or evaluate any in-pixel CNN + RNN model from a JSON config.

  python train.py -c configs/Synthetic/pixelrnn.json                       # train
  python train.py -r runs/<run>/last.pt                                    # resume exactly
  python train.py -c CONFIG --eval-only --weights CKPT --part test --noise off
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

from training_utils.cli import add_part_option, reports_user_errors
from training_utils.config import ConfigError, load_config, resolve
from training_utils.paths import REPO_ROOT


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", help="JSON config (this project's or the release's vocabulary)")
    p.add_argument("-r", "--resume", metavar="CHECKPOINT", help="continue the run that wrote this last.pt")
    p.add_argument("--eval-only", action="store_true", help="evaluate --weights on --part and write metrics.json")
    p.add_argument("--weights", metavar="CHECKPOINT",
                   help="checkpoint to evaluate (--eval-only; default: the config's 'weights') or to start from")
    p.add_argument("--data-root", metavar="DIR", help="dataset folder (overrides the config and $PIXELRNN_DATA_ROOT)")
    add_part_option(p, "part of the dataset for --eval-only (default test; 'all': every clip); training always "
                       "uses the train, val and test parts of data.split")
    p.add_argument("--noise", choices=("on", "off"), help="sensor noise at evaluation (default: config noise.eval)")
    p.add_argument("--seed", type=int, help="seed for Python, NumPy and torch (overrides the config)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (overrides the config)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: <out_dir>/<name>-<time>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a config value, e.g. --set train.lr=0.001 (repeatable)")
    return p.parse_args(argv)


def resolve_config(args) -> dict:
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.device is not None:
        overrides.append(f'device="{args.device}"')
    if args.config:
        return load_config(args.config, overrides)
    if args.resume:
        from training_utils.checkpoints import checkpoint_config
        stored = checkpoint_config(args.resume)
        if stored is None:
            raise ConfigError(f"checkpoint {args.resume} carries no config: pass the one it was trained with via -c")
        return resolve(stored, overrides, source=f"{args.resume} (stored config)")
    raise ConfigError("no config: pass -c CONFIG (or -r CHECKPOINT of a run of this project)")


def default_run_dir(cfg: dict, suffix: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(cfg["out_dir"]) / f"{cfg['name']}{suffix}-{stamp}"


def recorded_data_root(run_dir: Path) -> str | None:
    """The data root a run was trained on, as its environment.json records it (None if it does not)."""
    try:
        return json.loads((run_dir / "environment.json").read_text()).get("data_root")
    except (OSError, ValueError, AttributeError):
        return None


@reports_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    if args.part is not None and not args.eval_only:
        raise ConfigError(f"--part {args.part} applies to --eval-only only: training always uses the train, val "
                          "and test parts of data.split. Add --eval-only --weights CHECKPOINT to evaluate one part, "
                          "or drop --part")
    cfg = resolve_config(args)
    from data_utils import build_datasets, resolve_data_root
    from training_utils.atomic_files import write_json
    from training_utils.metrics import format_metrics
    from training_utils import distributed, run_folder
    from training_utils.run_folder import require_folder_path
    from training_utils.evaluation import evaluate_checkpoint
    from training_utils.runtime import select_device
    from training_utils.trainer import Trainer

    device = select_device(cfg["device"])
    if cfg["model"]["compute"] == "native":
        from model_utils.kernels import load_native_kernels

        load_native_kernels()  # built, verified or refused before any folder is made
    # Under torchrun (WORLD_SIZE > 1): one process per device, gloo on CPU, NCCL on CUDA.
    ctx = distributed.init_from_env(device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if ctx.enabled and args.eval_only and not ctx.is_main:
        return 0  # evaluation of one checkpoint runs on rank 0 alone
    if args.eval_only:
        part = args.part or "test"
        out = require_folder_path(args.out if args.out else default_run_dir(cfg, "-eval"), "--out")
        weights = args.weights or cfg["weights"]
        if not weights:
            raise ConfigError("--eval-only needs a checkpoint: --weights CKPT or the config's 'weights' key")
        noise = cfg["noise"]["eval"] if args.noise is None else args.noise == "on"
        # The output folder is claimed (locked, and refused if it holds a training run) before any work.
        with run_folder.claim(out, "train.py --eval-only", "--out", ["metrics.json"]):
            dataset = build_datasets(cfg, args.data_root, parts=(part,))[part]
            metrics = evaluate_checkpoint(cfg, dataset, args.weights, device, noise, part)
            write_json(out / "metrics.json", metrics)
        print(format_metrics(metrics) + f"  (noise {'on' if noise else 'off'}; {weights})")
        print(f"wrote {out / 'metrics.json'}")
        return 0
    if args.noise is not None:
        cfg["noise"]["eval"] = args.noise == "on"
    if cfg["train"]["epochs"] == 0:
        raise ConfigError("train.epochs is 0: there is nothing to train (accepted: an integer >= 1); to evaluate "
                          "a checkpoint, use --eval-only --weights CHECKPOINT")
    if args.resume:
        run_dir = Path(args.out) if args.out else Path(args.resume).resolve().parent
    else:
        # Ranks may start in different seconds: all use rank 0's time-stamped folder.
        run_dir = distributed.broadcast(Path(args.out) if args.out else default_run_dir(cfg))
    require_folder_path(run_dir, "--out")
    if cfg["log_dir"]:
        require_folder_path(cfg["log_dir"], "log_dir")
    data_root = args.data_root
    if args.resume and data_root is None and cfg["data_root"] is None:
        # A resumed run reads the data it was trained on, not whatever the default root holds now.
        data_root = recorded_data_root(Path(args.resume).resolve().parent)
        if data_root is not None:
            print(f"data root {data_root} (recorded in {Path(args.resume).resolve().parent / 'environment.json'}; "
                  "--data-root overrides it)")
    # The main process holds the run folder's lock from here to the end; Trainer.fit re-enters it.
    with run_folder.claim(run_dir, "train", "--out") if ctx.is_main else contextlib.nullcontext():
        if not args.resume and (run_dir / "last.pt").exists():
            raise ConfigError(f"run directory {run_dir} already holds a run; resume it with "
                              f"-r {run_dir / 'last.pt'} or choose another --out")
        if not args.resume and (run_dir / "metrics.json").exists():
            raise ConfigError(f"--out {run_dir} holds results of another tool or mode (metrics.json) that a run "
                              "would overwrite; choose another --out")
        datasets = build_datasets(cfg, data_root, parts=("train", "val", "test"))
        root = resolve_data_root(cfg["data"]["dataset"], data_root, cfg["data_root"]).resolve()
        trainer = Trainer(cfg, datasets, run_dir, device, init_weights=args.weights, resume=args.resume,
                          environment={"data_root": str(root)})
        trainer.fit()
    if ctx.enabled:
        distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
