"""Helpers shared by several test files: where the reference files are, the tolerance rule for comparing
gradients of two implementations of the same model, tiny in-memory datasets, and small tmpfs mounts."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from training_utils.paths import REFERENCE_DIR, REPO_ROOT  # noqa: F401  (re-exported for the tests)


def assert_gradients_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], rtol: float = 1e-4) -> None:
    """Every gradient of ``got`` equals ``want``'s to ``rtol`` of that gradient's largest entry.

    fin_conv.weight's exact gradient is 0 (the training-mode BatchNorm after it removes its scale): its
    computed value is round-off of ~1e-8, so every tolerance has a floor of ``rtol * 1e-3``."""
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        scale = w.abs().max().clamp_min(1e-3)
        assert (got[name] - w).abs().max() <= rtol * scale, name


def same_weights(a, b) -> bool:
    """Whether two models hold the same tensors, bit for bit."""
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def tiny_datasets() -> dict:
    """Train/val/test splits of tiny learnable in-memory clips (4 frames of 16 x 16, 3 classes)."""
    from data_utils.in_memory import InMemoryClips

    def split(count, seed):
        return InMemoryClips(count, num_classes=3, timesteps=4, size=16, seed=seed, class_shift=0.5)

    return {"train": split(48, 0), "val": split(12, 1), "test": split(12, 2)}


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, options: str = "size=64k"):
    """A tmpfs (``mount -o options``) on the existing ``folder`` for the body's life: a full disk or a
    read-only folder for root. Skips the test where it cannot be mounted (needs root and mount(8))."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
