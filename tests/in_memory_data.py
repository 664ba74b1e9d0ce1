"""A tiny in-memory clip dataset for trainer tests (the on-disk loaders have their own tests)."""
import torch


class TensorClips(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int, steps: int = 4, size: int = 16, classes: int = 3):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, classes, (n,), generator=g)
        self.clips = torch.randn(n, steps, 1, size, size, generator=g) + 0.5 * self.labels.view(-1, 1, 1, 1, 1)
        self.classes = [str(c) for c in range(classes)]
        self.names = [f"seq{i:03d}" for i in range(n)]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.clips[i], int(self.labels[i]), self.names[i]


def tiny_datasets():
    return {"train": TensorClips(48, 0), "val": TensorClips(12, 1), "test": TensorClips(12, 2)}
