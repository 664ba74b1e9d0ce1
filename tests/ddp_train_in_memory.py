"""Launched by tests/test_distributed.py, once plainly and once under torchrun with 2 processes: trains a
tiny noise-free PixelRNN on in-memory clips for one epoch into the run directory given as argv[1]; further
arguments are config overrides."""
import sys
from pathlib import Path

import torch

from data_utils.in_memory import InMemoryClips
from training_utils import distributed
from training_utils.config import resolve
from training_utils.trainer import Trainer

TINY = ["data.timesteps=4", "data.frame_size=16", "train.batch_size=6", "train.eval_batch_size=4",
        "train.optimizer=sgd", "train.lr=0.05", "train.epochs=2", "train.scheduler=none", "model.num_classes=3"]


def main(run_dir: str, *overrides: str) -> None:
    torch.set_num_threads(1)
    ctx = distributed.init_from_env("cpu")
    cfg = resolve({}, [*TINY, *overrides])
    datasets = {split: InMemoryClips(count, 3, timesteps=4, size=16, seed=seed, labels_first=False)
                for split, count, seed in (("train", 15, 1), ("val", 5, 2), ("test", 7, 3))}
    Trainer(cfg, datasets, Path(run_dir), torch.device("cpu")).fit()
    if ctx.enabled:
        distributed.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
