"""Random in-memory clip datasets of a given shape, for benchmarks and tests that need no data on disk."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset


class InMemoryClips(Dataset):
    """Items (clip (T, 1, S, S) float32, label, name); the clips are seeded random frames."""

    def __init__(self, count: int, num_classes: int = 9, timesteps: int = 16, size: int = 64, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        self.clips = torch.randn(count, timesteps, 1, size, size, generator=generator)
        self.labels = torch.randint(0, num_classes, (count,), generator=generator)
        self.classes = [str(c) for c in range(num_classes)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.clips[index], int(self.labels[index]), f"clip{index:05d}"
