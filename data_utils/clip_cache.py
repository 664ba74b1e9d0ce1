"""Preprocessed clip cache: every frame of a dataset decoded, preprocessed and resized once.

Layout: ``<cache_dir>/<layout>-<key hash>/index.json`` plus the ``frames-<token>.npy`` it names,
a ``[total frames, S, S]`` array read through a memory map, so later epochs, worker processes
and later runs read no image file.

Encoding: float32 model inputs, i.e. exactly what the uncached loader computes (a test checks
bit equality). ``uint8`` was measured and rejected: rounding the resized gray level to 256 steps
moves pixels across the binarisation threshold (``benchmarks/bench_loader.py`` prints how many
on its JPEG dataset), and the binarised frame is what the sensor model sees.

Key: the folder name hashes the dataset root (resolved), the layout, the preprocessing with all
its constants and the frame size. Inside, ``index.json`` stores a fingerprint of the listing --
every clip's name, label and frame files with their sizes and modification times -- so an
added, removed, replaced or touched frame makes the cache stale and it is rebuilt in place. A
corrupt cache (unparsable index, missing or truncated array, wrong shape, checksum mismatch) is
reported with a warning naming the file and rebuilt. Every file is written atomically; the
index is replaced last and names its array, so a reader always sees a matching pair. A build
holds the cache folder's lock (``training_utils.run_folder``): a second builder waits, and the
temporary array a killed builder left is removed. The array's blocks are allocated before it is
filled, so a full disk is a clear error rather than a bus error in the memory map.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import uuid
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training_utils.atomic_files import atomic_path, write_text
from training_utils.paths import REPO_ROOT
from training_utils.run_folder import hold
from .frame_reader import read_frame_rgb
from .layouts import DatasetListing, SequenceRecord
from .transforms import Preprocessing

CACHE_FORMAT_VERSION = 1
INDEX_FILE = "index.json"
_CHECKSUM_CHUNK_FRAMES = 4096

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``<repo root>/.cache/clips`` (the repo root is the folder holding ``data_utils``)."""
    return REPO_ROOT / ".cache" / "clips"


def _cache_key(listing: DatasetListing, preprocessing: Preprocessing, frame_size: int) -> dict:
    return {
        "version": CACHE_FORMAT_VERSION,
        "root": str(Path(listing.root).resolve()),
        "layout": listing.layout,
        "preprocessing": {"name": preprocessing.name, "mean": list(preprocessing.mean),
                          "std": list(preprocessing.std),
                          "output_offset": preprocessing.output_offset},
        "frame_size": frame_size,
    }


def listing_fingerprint(listing: DatasetListing) -> str:
    """Hash of every clip's name, label and frame files (relative path, size, mtime in ns)."""
    digest = hashlib.sha256()
    root = Path(listing.root)
    digest.update(json.dumps(listing.classes).encode())
    for record in listing.sequences:
        digest.update(f"\n{record.name}\t{record.label}".encode())
        for frame in record.frames:
            status = os.stat(frame)
            relative = os.path.relpath(frame, root)
            digest.update(f"\n{relative}\t{status.st_size}\t{status.st_mtime_ns}".encode())
    return digest.hexdigest()


def _checksum(frames: np.ndarray) -> int:
    checksum = 0
    for start in range(0, frames.shape[0], _CHECKSUM_CHUNK_FRAMES):
        checksum = zlib.crc32(np.ascontiguousarray(frames[start:start + _CHECKSUM_CHUNK_FRAMES]),
                              checksum)
    return checksum


def _reserve(path: Path) -> None:
    """Allocate the (sparse) array file's blocks now: a full disk is then an ``ENOSPC`` error here
    rather than a bus error when a page of the memory map is first written."""
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as handle:
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)


class CorruptCacheError(Exception):
    """Internal: the cache on disk cannot be trusted (reason in the message)."""


class ClipCache:
    """Read access to a built cache: ``read(name, frame_indices) -> float32 [k, S, S]``.

    Picklable for DataLoader workers: the memory map is reopened lazily in each process.
    """

    def __init__(self, data_file: Path, spans: dict[str, tuple[int, int]], frame_size: int):
        self.data_file = Path(data_file)
        self.spans = spans
        self.frame_size = frame_size
        self._frames: np.ndarray | None = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_frames"] = None
        return state

    def _array(self) -> np.ndarray:
        if self._frames is None:
            self._frames = np.load(self.data_file, mmap_mode="r")
        return self._frames

    def read(self, name: str, frame_indices: np.ndarray) -> np.ndarray:
        if name not in self.spans:
            raise KeyError(f"Clip {name!r} is not in the cache {self.data_file}.")
        offset, count = self.spans[name]
        frame_indices = np.asarray(frame_indices, dtype=np.int64)
        if frame_indices.size and (frame_indices.min() < 0 or frame_indices.max() >= count):
            raise IndexError(f"Frame indices {frame_indices.tolist()} out of range for clip "
                             f"{name!r} with {count} frames.")
        return np.array(self._array()[offset + frame_indices], dtype=np.float32)

    # --- opening and building -----------------------------------------------------------------

    @classmethod
    def open_or_build(cls, listing: DatasetListing, preprocessing: Preprocessing,
                      frame_size: int, cache_dir: str | Path | None = None,
                      num_threads: int | None = None) -> "ClipCache":
        """Return a valid cache for ``listing``, building (or rebuilding) it if needed."""
        key = _cache_key(listing, preprocessing, frame_size)
        key_hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        folder = Path(cache_dir if cache_dir is not None else default_cache_dir())
        folder = folder / f"{listing.layout}-{key_hash}"
        fingerprint = listing_fingerprint(listing)
        cache = cls._open_if_current(folder, key, fingerprint, listing, frame_size, quiet=True)
        if cache is not None:
            return cache
        # One builder at a time per cache folder; holding its lock also removes the temporary
        # files of a builder that was killed. Another process may have built it meanwhile.
        with hold(folder, what="clip cache folder", option="data.cache_dir", wait=True):
            cache = cls._open_if_current(folder, key, fingerprint, listing, frame_size, quiet=False)
            if cache is not None:
                return cache
            previous = cls._previous_data_file(folder)
            return cls._build(folder, key, fingerprint, listing, preprocessing, frame_size,
                              num_threads, previous)

    @classmethod
    def _open_if_current(cls, folder: Path, key: dict, fingerprint: str, listing: DatasetListing,
                         frame_size: int, quiet: bool) -> "ClipCache | None":
        """The cache if its index matches ``key`` and ``fingerprint`` and its array checks out."""
        index_path = folder / INDEX_FILE
        if not index_path.exists():
            return None
        try:
            index = cls._load_index(index_path)
            if index["key"] == key and index["fingerprint"] == fingerprint:
                return cls._open_checked(folder, index, listing, frame_size)
            if not quiet:
                logger.info("Clip cache %s is stale (dataset files or settings changed); "
                            "rebuilding it.", index_path)
        except CorruptCacheError as error:
            if not quiet:
                warnings.warn(f"Clip cache {error} is corrupt; rebuilding it.", RuntimeWarning,
                              stacklevel=3)
        return None

    @classmethod
    def _previous_data_file(cls, folder: Path) -> Path | None:
        """The array a readable old index names (None: remove every stray array)."""
        try:
            return folder / cls._load_index(folder / INDEX_FILE)["data_file"]
        except CorruptCacheError:
            return None

    @staticmethod
    def _load_index(index_path: Path) -> dict:
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CorruptCacheError(f"{index_path} ({error})") from error
        required = {"version", "key", "fingerprint", "data_file", "shape", "crc32", "spans"}
        if not isinstance(index, dict) or not required <= set(index) \
                or not isinstance(index["data_file"], str) or "/" in index["data_file"]:
            raise CorruptCacheError(f"{index_path} (missing or malformed fields)")
        return index

    @classmethod
    def _open_checked(cls, folder: Path, index: dict, listing: DatasetListing,
                      frame_size: int) -> "ClipCache":
        data_file = folder / index["data_file"]
        try:
            frames = np.load(data_file, mmap_mode="r")
        except (OSError, ValueError, EOFError) as error:
            raise CorruptCacheError(f"{data_file} ({error})") from error
        if list(frames.shape) != index["shape"] or frames.dtype != np.float32 \
                or frames.ndim != 3 or frames.shape[1:] != (frame_size, frame_size):
            raise CorruptCacheError(f"{data_file} (shape {frames.shape} {frames.dtype}, "
                                    f"index says {index['shape']} float32)")
        if _checksum(frames) != index["crc32"]:
            raise CorruptCacheError(f"{data_file} (checksum mismatch)")
        spans = {name: (int(span[0]), int(span[1])) for name, span in index["spans"].items()}
        for record in listing.sequences:
            span = spans.get(record.name)
            if span is None or span[1] != len(record.frames) or span[0] + span[1] > len(frames):
                raise CorruptCacheError(f"{folder / INDEX_FILE} (clip {record.name!r} missing or "
                                        "inconsistent)")
        cache = cls(data_file, spans, frame_size)
        cache._frames = frames
        return cache

    @classmethod
    def _build(cls, folder: Path, key: dict, fingerprint: str, listing: DatasetListing,
               preprocessing: Preprocessing, frame_size: int, num_threads: int | None,
               previous_data_file: Path | None) -> "ClipCache":
        spans, total = {}, 0
        for record in listing.sequences:
            spans[record.name] = (total, len(record.frames))
            total += len(record.frames)
        data_file = folder / f"frames-{uuid.uuid4().hex[:12]}.npy"
        with atomic_path(data_file, suffix=".npy") as temp_path:
            frames = np.lib.format.open_memmap(temp_path, mode="w+", dtype=np.float32,
                                               shape=(total, frame_size, frame_size))
            _reserve(temp_path)

            def fill(record: SequenceRecord) -> None:
                offset = spans[record.name][0]
                for position, frame_path in enumerate(record.frames):
                    frames[offset + position] = preprocessing(read_frame_rgb(frame_path),
                                                              frame_size).numpy()

            threads = num_threads or min(8, os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=threads) as pool:
                progress = tqdm(pool.map(fill, listing.sequences), total=len(listing.sequences),
                                desc=f"caching {listing.layout} clips", unit="clip",
                                disable=not sys.stderr.isatty())
                for _ in progress:
                    pass
            frames.flush()
            checksum = _checksum(frames)
            del frames
        index = {"version": CACHE_FORMAT_VERSION, "key": key, "fingerprint": fingerprint,
                 "data_file": data_file.name, "shape": [total, frame_size, frame_size],
                 "dtype": "float32", "crc32": checksum,
                 "spans": {name: list(span) for name, span in spans.items()}}
        write_text(folder / INDEX_FILE, json.dumps(index))
        # Drop the array the old index named; with no readable old index, every other array
        # in this cache folder is an orphan of it.
        replaced = [previous_data_file] if previous_data_file is not None \
            else list(folder.glob("frames-*.npy"))
        for path in replaced:
            if path != data_file:
                path.unlink(missing_ok=True)
        return cls(data_file, spans, frame_size)
