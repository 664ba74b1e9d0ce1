"""Data-parallel training across processes started by torchrun (DistributedDataParallel; gloo on CPU,
NCCL on CUDA). Without torchrun's environment everything here is the single-process identity.

A config's ``train.batch_size`` is the *global* batch: each of N ranks takes its share of every
global batch of the single-process shuffle order, and the loss is scaled so that DDP's gradient
average equals the gradient of the global batch's mean loss. BatchNorm statistics are reduced across
ranks, so N processes follow the single-process run (up to float summation order; sensor noise draws
differ per rank).
"""
from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str = "cpu") -> DistContext:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    context = DistContext(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return context


def shutdown() -> None:
    """Leave the process group at the end of a program; ranks other than 0 end their process here.
    Rank 0 hosts the rendezvous store, and a rank whose C++ threads are still being torn down when rank 0
    exits aborts ("terminate called without an active exception") after its work is done, which torchrun
    reports as a failed run. The barrier narrows that window but did not close it (one CI run in about ten
    still aborted), so the other ranks, which write no files, leave without running interpreter teardown."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        worker = dist.get_rank() != 0
        dist.destroy_process_group()
        if worker:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


def current() -> DistContext:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext()


def all_reduce_sum(values: list[float], device) -> list[float]:
    """Sum numbers over ranks (one collective for all of them)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if current().enabled:
        dist.all_reduce(tensor)
    return tensor.tolist()


def gather_lists(items: list) -> list:
    """Concatenate every rank's list, in rank order."""
    if not current().enabled:
        return items
    parts = [None] * dist.get_world_size()
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


def broadcast(obj):
    """Rank 0's value of a picklable object on every rank."""
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def global_batches(count: int, batch_size: int, order: list[int]) -> list[list[int]]:
    return [order[i:i + batch_size] for i in range(0, count, batch_size)]


class GlobalBatchShardSampler(Sampler):
    """Yields this rank's share of each global batch of ``order`` (the single-process sample order).
    A final global batch smaller than the number of ranks is dropped (no rank may run an empty step)."""

    def __init__(self, order: list[int], global_batch: int, rank: int, world_size: int):
        self.batches = [b for b in global_batches(len(order), global_batch, order) if len(b) >= world_size]
        self.rank, self.world_size = rank, world_size

    def shard(self, batch: list[int]) -> list[int]:
        size, extra = divmod(len(batch), self.world_size)
        start = self.rank * size + min(self.rank, extra)
        return batch[start:start + size + (self.rank < extra)]

    def __iter__(self):
        for batch in self.batches:
            yield self.shard(batch)

    def __len__(self):
        return len(self.batches)

    def global_sizes(self) -> list[int]:
        return [len(b) for b in self.batches]


class ContiguousShardSampler(Sampler):
    """Rank r evaluates the r-th contiguous slice of the dataset, so gathering in rank order restores it."""

    def __init__(self, count: int, rank: int, world_size: int):
        size, extra = divmod(count, world_size)
        start = rank * size + min(rank, extra)
        self.indices = list(range(start, start + size + (rank < extra)))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class CrossRankBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch (all ranks), on any device
    (torch's SyncBatchNorm is GPU-only). Same parameters and buffers, so state dicts are unchanged."""

    def forward(self, x):
        if not (self.training and current().enabled):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # the collective with a backward

        dims = [0, 2, 3]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # its successor is private API
            stats = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        channels = x.shape[1]
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels:2 * channels] / total - mean * mean
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                unbiased = var.detach() * total / (total - 1)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = (1, channels, 1, 1)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def convert_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by CrossRankBatchNorm2d (in place; parameters and buffers kept)."""
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            child.__class__ = CrossRankBatchNorm2d
        else:
            convert_batchnorm(child)
    return model
