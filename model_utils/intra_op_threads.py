"""One intra-op thread for stretches of many short, memory-bound CPU ops.

Every parallel CPU op ends in a thread barrier. On a shared, busy machine the barrier waits for a
descheduled thread, so a sequence of short ops (the lookup-table convolution's passes, the recurrent
cell's per-step updates) costs milliseconds per op with 2 threads. Measured on the 2-core project
machine at load 4-5: the encoder's lookup forward took 17-58 ms per clip with 2 threads and 1.8-3.3 ms
with one; the single-threaded cost on an idle machine is at most the second core's share of these short
passes.
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_intra_op_thread(device: torch.device):
    """Within the block, CPU ops run on one thread (no effect on other devices or if already one)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
