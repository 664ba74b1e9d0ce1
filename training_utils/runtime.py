"""What every tool needs to run a model: the device, one seed for every generator (and their states
for exact resume), data loaders that shard under torchrun, and progress bars that turn themselves off
when output is not a terminal."""
from __future__ import annotations

import random
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from . import distributed


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use 'cpu' or 'auto'")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every generator's state as tensors and plain values (checkpoints hold nothing else)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {"python": [version, list(internal), gauss],
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["position"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def progress(iterable, **kwargs):
    return tqdm(iterable, disable=not sys.stderr.isatty(), leave=False, **kwargs)


def make_loader(dataset, batch_size: int, *, shuffle: bool, num_workers: int, seed: int = 0, epoch: int = 0,
                device: torch.device | None = None) -> DataLoader:
    """Batches of ``batch_size`` clips (the global batch); under torchrun, this rank's share of each."""
    pin = device is not None and device.type == "cuda"
    ctx = distributed.current()
    if shuffle:
        # The order depends on (seed, epoch) only, so a resumed run sees the same batches, and every
        # number of processes the same global batches.
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(len(dataset), generator=generator).tolist()
        sampler = distributed.GlobalBatchShardSampler(order, batch_size, ctx.rank, ctx.world_size)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin)
    shard = distributed.ContiguousShardSampler(len(dataset), ctx.rank, ctx.world_size) if ctx.enabled else None
    return DataLoader(dataset, batch_size=batch_size, sampler=shard, num_workers=num_workers, pin_memory=pin)
