"""``build_datasets``: from a resolved config to the train / val / test ``ClipDataset``s.

Dataset root: the ``data_root`` argument (``--data-root``) > ``cfg["data_root"]`` (relative to
the working directory) > ``$PIXELRNN_DATA_ROOT/<dataset>`` > ``<repo>/data/<dataset>``.
Part ``"all"`` is every clip under the root; asked for alone, it does not read the split file.

``cfg["data"]`` keys used (defaults and validation in ``training_utils.config``): ``dataset``, ``split`` ("seeded",
"seeded_by_subject" or a split-file path: as given, then relative to the repo root), ``split_fractions``, ``split_seed``,
``timesteps``, ``frame_size``, ``preprocessing``, ``augment`` (``translate``, ``hflip``,
``brightness``, ``fill``), ``short_clips``, ``cache``, ``cache_dir``, ``synthetic``, ``irregular_clips``.
Augmentation is seeded by ``cfg["seed"]``. Part ``"all"`` is every clip of the dataset in canonical order.
"""
from __future__ import annotations

import os
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .clip_cache import ClipCache
from .clip_dataset import ClipDataset
from training_utils.paths import REPO_ROOT
from training_utils.registry import Registry
from training_utils.text import preview
from .frame_reader import frame_dimensions
from .layouts import DatasetListing, SequenceRecord, list_dataset
from .splits import (SPLIT_PARTS, find_split_file, load_split_file, resolve_split,
                     seeded_split, seeded_subject_split)
from .transforms import ClipAugmentation, get_preprocessing

DATA_ROOT_ENV = "PIXELRNN_DATA_ROOT"
DATASET_PARTS = (*SPLIT_PARTS, "all")  # what a tool evaluates (--part): a part of data.split, or every clip

@dataclass(frozen=True)
class DatasetSource:
    """Which layout reads a dataset and whether it is generated on demand."""
    layout: str
    synthetic: bool = False


DATASETS = Registry("dataset", {
    "cambridge": DatasetSource("cambridge"),
    "tulips1": DatasetSource("tulips1"),
    "clip_folder": DatasetSource("clip_folder"),
    "synthetic_gestures": DatasetSource("clip_folder", synthetic=True),
    "synthetic_lips": DatasetSource("clip_folder", synthetic=True),
})


def resolve_data_root(dataset: str, data_root: str | os.PathLike | None = None,
                      config_data_root: str | os.PathLike | None = None) -> Path:
    """The dataset folder by the precedence in the module docstring."""
    if data_root is not None:
        return Path(data_root)
    if config_data_root is not None:
        return Path(config_data_root)
    environment_root = os.environ.get(DATA_ROOT_ENV)
    if environment_root:
        return Path(environment_root) / dataset
    return REPO_ROOT / "data" / dataset


def _ensure_synthetic(name: str, root: Path, options: dict, replace: bool) -> Path:
    try:
        from .synthetic import ensure_synthetic
    except ImportError as error:
        raise ValueError(f"Dataset {name!r} needs data_utils.synthetic, which failed to import: "
                         f"{error}") from error
    return Path(ensure_synthetic(name, root, **(options or {}), replace=replace))


def _split_parts(settings: dict, listing: DatasetListing) -> dict[str, list[str]]:
    names = [record.name for record in listing.sequences]
    labels = [record.label for record in listing.sequences]
    if settings["split"] == "seeded":
        return seeded_split(names, labels, settings["split_fractions"], settings["split_seed"])
    if settings["split"] == "seeded_by_subject":
        return seeded_subject_split(names, labels, settings["split_fractions"], settings["split_seed"])
    path = find_split_file(settings["split"])
    return resolve_split(load_split_file(path), names, labels, source=str(path))


IRREGULAR_CLIP_POLICIES = ("warn", "refuse")  # data.irregular_clips: what check_clips does with them


class IrregularClipsWarning(UserWarning):
    """Clips the loader pads or stretches (see ``check_clips``)."""


SHORT_CLIP_TEXT = {"repeat_last": "padded by repeating their last frame",
                   "stretch_random": "stretched with random duplicate frames"}


def check_clips(records: list[SequenceRecord], timesteps: int, policy: str, root: Path,
                short_clips: str) -> None:
    """A clip shorter than ``timesteps`` is lengthened as ``short_clips`` says, and frames of different sizes
    are each stretched to the frame size: say so (``policy`` "warn") or refuse them ("refuse")."""
    problems = []
    short = [record.name for record in records if len(record.frames) < timesteps]
    if short:
        problems.append(f"{len(short)} clip(s) have fewer than data.timesteps = {timesteps} frames and are "
                        f"{SHORT_CLIP_TEXT[short_clips]} (data.short_clips {short_clips!r}): {preview(short)}")
    clips_by_size: dict[tuple[int, int], list[str]] = defaultdict(list)
    for record in records:
        for size in dict.fromkeys(frame_dimensions(frame) for frame in record.frames):
            if size is not None:
                clips_by_size[size].append(record.name)
    if len(clips_by_size) > 1:
        sizes = sorted(clips_by_size.items(), key=lambda item: -len(item[1]))
        problems.append(f"frames come in {len(sizes)} sizes, each stretched to the frame size: " + preview(
            [f"{w}x{h} ({len(names)} clip(s), e.g. {names[0]})" for (w, h), names in sizes]))
    if not problems:
        return
    text = f"dataset {root}: " + "; ".join(problems)
    if policy == "refuse":
        raise ValueError(f"{text}. Refused because data.irregular_clips is 'refuse' (accepted: 'warn' to use "
                         "them as they are, or 'refuse')")
    warnings.warn(f"{text} (set data.irregular_clips to 'refuse' to stop on this)", IrregularClipsWarning,
                  stacklevel=3)


def build_datasets(cfg: dict, data_root: str | os.PathLike | None = None,
                   parts: Iterable[str] = ("train", "val", "test")) -> dict[str, ClipDataset]:
    """Build the requested parts of ``cfg``'s dataset (see the module docstring)."""
    parts = list(parts)
    unknown = [part for part in parts if part not in DATASET_PARTS]
    if unknown:
        raise ValueError(f"Unknown dataset part(s) {unknown}; accepted: {list(DATASET_PARTS)}.")
    settings = cfg["data"]  # validated by training_utils.config
    dataset = settings["dataset"]
    source = DATASETS[dataset]
    preprocessing = get_preprocessing(settings["preprocessing"])
    augmentation = ClipAugmentation.from_config(settings["augment"])
    if augmentation.translate >= settings["frame_size"]:
        raise ValueError(f"data.augment.translate ({augmentation.translate}) must be smaller than "
                         f"data.frame_size ({settings['frame_size']}).")
    seed = cfg.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}.")

    root = resolve_data_root(dataset, data_root, cfg.get("data_root"))
    if source.synthetic:
        # A folder the user named is never replaced by another dataset; the default folders are regenerated.
        root = _ensure_synthetic(dataset, root, settings["synthetic"],
                                 replace=data_root is None and cfg.get("data_root") is None)
    listing = list_dataset(source.layout, root)
    check_clips(listing.sequences, settings["timesteps"], settings["irregular_clips"], root, settings["short_clips"])
    # Part "all" is every clip under the root: it reads no split file (whose names may be elsewhere).
    names_of = _split_parts(settings, listing) if set(parts) - {"all"} else {}

    cache = None
    if settings["cache"]:
        cache = ClipCache.open_or_build(listing, preprocessing, settings["frame_size"],
                                        settings["cache_dir"])
    records_by_name = {record.name: record for record in listing.sequences}
    datasets = {}
    for part in parts:
        names = [record.name for record in listing.sequences] if part == "all" else names_of[part]
        if not names:
            raise ValueError(f"Part {part!r} of dataset {dataset!r} at {root} is empty "
                             f"({len(listing.sequences)} clips, split {settings['split']!r}); "
                             "use more clips or other split fractions.")
        datasets[part] = ClipDataset(
            listing.classes, [records_by_name[name] for name in names],
            timesteps=settings["timesteps"], frame_sampling=settings["frame_sampling"],
            short_clips=settings["short_clips"],
            frame_size=settings["frame_size"],
            preprocessing=preprocessing, training=(part == "train"),
            augmentation=augmentation, seed=seed, cache=cache)
    return datasets
