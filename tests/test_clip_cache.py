"""The preprocessed clip cache: no image reads once built, exact values, stale and corrupt caches."""
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from clip_data_fixtures import data_config, make_cambridge_reorganised, write_sequence
from data_utils import build_datasets


@pytest.fixture
def image_reads(monkeypatch):
    """Counts every image file decoded (all frame reads go through cv2.imread)."""
    calls = []
    original = cv2.imread

    def counting_imread(path, *args):
        calls.append(path)
        return original(path, *args)

    monkeypatch.setattr(cv2, "imread", counting_imread)
    return calls


def cambridge_config(root, cache_dir, **data):
    return data_config("cambridge", root, cache_dir,
                       augment={"translate": 2, "hflip": True}, **data)


@pytest.fixture
def small_cambridge(tmp_path):
    return make_cambridge_reorganised(tmp_path / "cambridge", sets=(1,), classes=(1, 2),
                                      clips=range(10), frames=5)


def cache_folder(cache_dir: Path) -> Path:
    (folder,) = cache_dir.iterdir()
    return folder


def all_items(dataset):
    return [dataset[index] for index in range(len(dataset))]


def test_second_epoch_and_second_run_read_no_image(small_cambridge, tmp_path, image_reads):
    cfg = cambridge_config(small_cambridge, tmp_path / "cache")
    datasets = build_datasets(cfg)
    assert len(image_reads) == 20 * 5  # the build decodes every frame once
    image_reads.clear()
    for epoch in (0, 1):
        datasets["train"].set_epoch(epoch)
        for split in ("train", "val", "test"):
            all_items(datasets[split])
    assert image_reads == []
    again = build_datasets(cfg)
    all_items(again["train"])
    assert image_reads == []


def test_cached_items_equal_uncached_items_exactly(small_cambridge, tmp_path):
    cached = build_datasets(cambridge_config(small_cambridge, tmp_path / "cache"))
    direct = build_datasets(cambridge_config(small_cambridge, None))
    for split in ("train", "test"):
        cached[split].set_epoch(3)
        direct[split].set_epoch(3)
        for (clip_a, label_a, name_a), (clip_b, label_b, name_b) in zip(
                all_items(cached[split]), all_items(direct[split])):
            assert torch.equal(clip_a, clip_b) and (label_a, name_a) == (label_b, name_b)


def test_cache_is_keyed_by_preprocessing_and_frame_size(small_cambridge, tmp_path):
    cache_dir = tmp_path / "cache"
    build_datasets(cambridge_config(small_cambridge, cache_dir), parts=("test",))
    build_datasets(cambridge_config(small_cambridge, cache_dir, preprocessing="unit"),
                   parts=("test",))
    build_datasets(cambridge_config(small_cambridge, cache_dir, frame_size=8), parts=("test",))
    folders = sorted(path.name for path in cache_dir.iterdir())
    assert len(folders) == 3 and all(name.startswith("cambridge-") for name in folders)


def test_stale_cache_is_rebuilt(small_cambridge, tmp_path, image_reads):
    cfg = cambridge_config(small_cambridge, tmp_path / "cache")
    build_datasets(cfg)
    old_index = json.loads((cache_folder(tmp_path / "cache") / "index.json").read_text())
    # Replace one frame's content (and make sure its mtime moves).
    frame = small_cambridge / "2" / "Set1_2_0004" / "0002.jpg"
    write_sequence(frame.parent / "new", "different clip", 3)
    os.replace(frame.parent / "new" / "0002.jpg", frame)
    os.utime(frame, ns=(time.time_ns(), time.time_ns() + 10**9))
    image_reads.clear()
    datasets = build_datasets(cfg, parts=("all",))
    assert len(image_reads) == 100
    folder = cache_folder(tmp_path / "cache")
    new_index = json.loads((folder / "index.json").read_text())
    assert new_index["fingerprint"] != old_index["fingerprint"]
    assert sorted(path.name for path in folder.iterdir()) == \
        sorted(["index.json", new_index["data_file"]])  # the old array is gone
    direct = build_datasets(cambridge_config(small_cambridge, None), parts=("all",))["all"]
    index = direct.names.index("Set1_2_0004")
    assert torch.equal(datasets["all"][index][0], direct[index][0])


@pytest.mark.parametrize("damage", ["truncate_array", "garble_array", "garble_index"])
def test_corrupt_cache_is_reported_and_rebuilt(small_cambridge, tmp_path, image_reads, damage):
    cfg = cambridge_config(small_cambridge, tmp_path / "cache")
    build_datasets(cfg)
    folder = cache_folder(tmp_path / "cache")
    index = json.loads((folder / "index.json").read_text())
    array = folder / index["data_file"]
    if damage == "truncate_array":
        array.write_bytes(array.read_bytes()[:1000])
        damaged = array
    elif damage == "garble_array":
        data = bytearray(array.read_bytes())
        data[-50:] = b"\x7f" * 50
        array.write_bytes(bytes(data))
        damaged = array
    else:
        (folder / "index.json").write_text('{"version": 1, "key": ')
        damaged = folder / "index.json"
    image_reads.clear()
    with pytest.warns(RuntimeWarning, match=f"Clip cache {damaged}.*corrupt; rebuilding"):
        datasets = build_datasets(cfg, parts=("all",))
    assert len(image_reads) == 100
    direct = build_datasets(cambridge_config(small_cambridge, None), parts=("all",))["all"]
    for (clip_a, *_), (clip_b, *_) in zip(all_items(datasets["all"]), all_items(direct)):
        assert torch.equal(clip_a, clip_b)
    new_index = json.loads((folder / "index.json").read_text())
    assert sorted(path.name for path in folder.iterdir()) == \
        sorted(["index.json", new_index["data_file"]])


def test_failed_build_leaves_no_cache_files(small_cambridge, tmp_path):
    bad = small_cambridge / "1" / "Set1_1_0003" / "0001.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(ValueError, match=f"Frame {bad} is corrupt or unreadable"):
        build_datasets(cambridge_config(small_cambridge, tmp_path / "cache"))
    leftovers = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    assert leftovers == []


def test_cache_backed_dataset_loads_in_worker_processes_without_the_images(small_cambridge,
                                                                            tmp_path):
    test = build_datasets(cambridge_config(small_cambridge, tmp_path / "cache"),
                          parts=("test",))["test"]
    expected = [test[index][0] for index in range(len(test))]
    # With the image files gone, only the cache can serve the worker process.
    small_cambridge.rename(tmp_path / "moved_away")
    clips, labels, names = next(iter(DataLoader(test, batch_size=2, num_workers=1)))
    assert torch.equal(clips[0], expected[0]) and torch.equal(clips[1], expected[1])
    assert list(names) == test.names and labels.tolist() == test.labels


def test_cache_stores_float32_release_inputs(small_cambridge, tmp_path):
    build_datasets(cambridge_config(small_cambridge, tmp_path / "cache"), parts=("test",))
    folder = cache_folder(tmp_path / "cache")
    index = json.loads((folder / "index.json").read_text())
    frames = np.load(folder / index["data_file"])
    assert frames.dtype == np.float32 and frames.shape == (100, 16, 16)
    assert index["spans"]["Set1_2_0000"] == [50, 5]
