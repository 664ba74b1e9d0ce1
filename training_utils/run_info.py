"""What a run directory records about the code and machine that produced it."""
from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata

from .paths import REPO_ROOT

PACKAGES = ("torch", "torchvision", "numpy", "opencv-python-headless", "tqdm", "tensorboard")


def git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment_info() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    # The thread count is part of reproducing a run: sums split over more threads round differently, and a
    # binary model can turn that into a different sign flip (docs/results.md).
    return {"git_revision": git_revision(), "command": sys.argv, "python": sys.version.split()[0],
            "platform": platform.platform(), "packages": versions, "torch_threads": torch.get_num_threads()}
