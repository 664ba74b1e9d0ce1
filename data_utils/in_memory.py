"""A clip dataset held in memory: seeded random frames of a given shape, for benchmarks and tests that
need no data on disk (the on-disk loaders have their own tests)."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset


class InMemoryClips(Dataset):
    """Items (clip (T, 1, S, S) float32, label, name ``seqNNN``): Gaussian frames, shifted by
    ``class_shift`` x label so that a model can learn the classes (0: labels are noise).

    ``labels_first`` is the order of the two draws from ``seed``; the trainer tests were written against
    labels first, the torchrun test against frames first, so both keep the clips they were checked on."""

    def __init__(self, count: int, num_classes: int = 9, timesteps: int = 16, size: int = 64, seed: int = 0,
                 class_shift: float = 0.0, labels_first: bool = True):
        generator = torch.Generator().manual_seed(seed)
        if labels_first:
            self.labels = torch.randint(0, num_classes, (count,), generator=generator)
        self.clips = torch.randn(count, timesteps, 1, size, size, generator=generator)
        if not labels_first:
            self.labels = torch.randint(0, num_classes, (count,), generator=generator)
        if class_shift:
            self.clips += class_shift * self.labels.view(-1, 1, 1, 1, 1)
        self.classes = [str(c) for c in range(num_classes)]
        self.names = [f"seq{i:03d}" for i in range(count)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.clips[index], int(self.labels[index]), self.names[index]
