"""Clip datasets: layouts on disk, splits, preprocessing, augmentation and the clip cache."""
from .clip_cache import ClipCache
from .clip_dataset import ClipDataset
from .dataset_builder import DATASETS, build_datasets, resolve_data_root
from .layouts import LAYOUTS, DatasetListing, SequenceRecord, list_dataset, natural_key
from .splits import load_split_file, resolve_split, seeded_split, write_split_file
from .transforms import (PREPROCESSINGS, ClipAugmentation, get_preprocessing,
                         sample_frame_indices)

__all__ = [
    "ClipCache", "ClipDataset", "DATASETS", "build_datasets", "resolve_data_root", "LAYOUTS",
    "DatasetListing", "SequenceRecord", "list_dataset", "natural_key", "load_split_file",
    "resolve_split", "seeded_split", "write_split_file", "PREPROCESSINGS", "ClipAugmentation",
    "get_preprocessing", "sample_frame_indices",
]
