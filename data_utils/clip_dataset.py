"""``ClipDataset``: the clips of one split as ``(clip [T, 1, S, S] float32, label, name)`` items.

Frames come from the clip cache when one is given, else straight from the image files (only the
sampled frames are decoded). In training mode the frame phase and the augmentation are drawn
from a generator seeded by ``(seed, epoch, item index)``, so they are reproducible whatever
worker process loads an item; call ``set_epoch`` before each epoch to get fresh draws (with
non-persistent DataLoader workers, which receive the dataset anew each epoch).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .clip_cache import ClipCache
from .frame_reader import read_frame_rgb
from .layouts import SequenceRecord
from .transforms import ClipAugmentation, Preprocessing, sample_frame_indices


class ClipDataset(Dataset):
    """Clips of one split; ``.classes``, ``.names``, ``.labels`` describe them in item order."""

    def __init__(self, classes: Sequence[str], records: Sequence[SequenceRecord], timesteps: int,
                 frame_size: int, preprocessing: Preprocessing, training: bool = False,
                 augmentation: ClipAugmentation | None = None, seed: int = 0,
                 cache: ClipCache | None = None, frame_sampling: str = "spread", short_clips: str = "repeat_last"):
        if cache is not None and cache.frame_size != frame_size:
            raise ValueError(f"Clip cache {cache.data_file} holds {cache.frame_size}-pixel frames, "
                             f"the dataset wants {frame_size}.")
        self.classes = list(classes)
        self.records = list(records)
        self.names = [record.name for record in self.records]
        self.labels = [record.label for record in self.records]
        self.timesteps = timesteps
        self.frame_sampling = frame_sampling
        self.short_clips = short_clips
        self.frame_size = frame_size
        self.preprocessing = preprocessing
        self.training = training
        self.augmentation = augmentation or ClipAugmentation()
        self.seed = seed
        self.epoch = 0
        self.cache = cache

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws (phase, augmentation) items use."""
        self.epoch = int(epoch)

    def _generator(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def _frames(self, record: SequenceRecord, indices: np.ndarray) -> torch.Tensor:
        if self.cache is not None:
            return torch.from_numpy(self.cache.read(record.name, indices))
        unique, inverse = np.unique(indices, return_inverse=True)
        decoded = torch.stack([self.preprocessing(read_frame_rgb(record.frames[position]),
                                                  self.frame_size) for position in unique])
        return decoded[torch.from_numpy(inverse.reshape(-1))]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"Item {index} out of range for a dataset of {len(self)} clips.")
        index = index % len(self)
        record = self.records[index]
        rng = self._generator(index) if self.training else None
        indices = sample_frame_indices(len(record.frames), self.timesteps, rng, self.frame_sampling,
                                       self.short_clips)
        clip = self._frames(record, indices).unsqueeze(1)
        if self.training and self.augmentation.enabled:
            clip = self.augmentation.augment(clip, rng, self.preprocessing)
        return clip.to(torch.float32).contiguous(), record.label, record.name
