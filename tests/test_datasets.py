"""Dataset layouts, names, labels, items and error messages of data_utils."""
import pickle
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from clip_data_fixtures import (cambridge_names, data_config, make_cambridge_official,
                                make_cambridge_reorganised, make_clip_folder, make_tulips,
                                tulips_names, write_sequence)
from data_utils import build_datasets, list_dataset, resolve_data_root
from data_utils.dataset_builder import DATA_ROOT_ENV
from training_utils.paths import REPO_ROOT


@pytest.fixture(scope="module")
def cambridge_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("cambridge")
    return (make_cambridge_official(base / "official"),
            make_cambridge_reorganised(base / "reorganised"))


def test_both_cambridge_layouts_list_the_same_clips(cambridge_roots):
    official, reorganised = (list_dataset("cambridge", root) for root in cambridge_roots)
    assert official.classes == reorganised.classes == [str(c) for c in range(1, 10)]
    expected = cambridge_names()  # class, set, clip order
    assert [r.name for r in official.sequences] == expected
    assert [r.name for r in reorganised.sequences] == expected
    assert [r.label for r in official.sequences] == [int(n.split("_")[1]) - 1 for n in expected]
    assert Counter(r.label for r in official.sequences) == {label: 10 for label in range(9)}
    assert official.sequences[0].frames[0].endswith("Set1/0000/0000/0000.jpg")
    assert reorganised.sequences[0].frames[0].endswith("1/Set1_1_0000/0000.jpg")


def test_both_cambridge_layouts_give_identical_items(cambridge_roots):
    datasets = [build_datasets(data_config("cambridge", root), parts=("test",))["test"]
                for root in cambridge_roots]
    assert datasets[0].names == datasets[1].names and len(datasets[0]) == 9
    for index in (0, 4, 8):
        clip_a, label_a, name_a = datasets[0][index]
        clip_b, label_b, name_b = datasets[1][index]
        assert torch.equal(clip_a, clip_b) and (label_a, name_a) == (label_b, name_b)


def test_item_shape_type_and_label(cambridge_roots):
    dataset = build_datasets(data_config("cambridge", cambridge_roots[1]), parts=("all",))["all"]
    assert len(dataset) == 90 and dataset.classes == [str(c) for c in range(1, 10)]
    clip, label, name = dataset[dataset.names.index("Set2_5_0003")]
    assert clip.shape == (4, 1, 16, 16) and clip.dtype == torch.float32
    assert isinstance(label, int) and label == 4 and name == "Set2_5_0003"
    assert dataset.labels[dataset.names.index("Set2_5_0003")] == 4
    # 3 frames into 4 timesteps: played once, the last frame repeated.
    assert torch.equal(clip[2], clip[3]) and not torch.equal(clip[0], clip[1])


def test_mixed_cambridge_layouts_are_rejected(tmp_path):
    make_cambridge_reorganised(tmp_path, sets=(1,), classes=(1,), clips=(0,), frames=1)
    (tmp_path / "Set1").mkdir()
    with pytest.raises(ValueError, match="mixes the official layout"):
        list_dataset("cambridge", tmp_path)


def test_cambridge_sequence_in_wrong_class_folder_is_rejected(tmp_path):
    write_sequence(tmp_path / "2" / "Set1_3_0000", "x", 1)
    with pytest.raises(ValueError, match=r"Set1_3_0000 is not named Set<s>_2_<NNNN>"):
        list_dataset("cambridge", tmp_path)


def test_tulips_names_repeat_across_classes(tmp_path):
    listing = list_dataset("tulips1", make_tulips(tmp_path))
    assert listing.classes == ["1", "2", "3", "4"]
    assert sorted(r.name for r in listing.sequences) == sorted(tulips_names())
    assert len(listing.sequences) == 96
    by_name = {r.name: r.label for r in listing.sequences}
    assert by_name["2/Don1"] == 1 and by_name["4/Don1"] == 3
    assert [r.name for r in listing.sequences[:3]] == ["1/Anna1", "1/Anna2", "1/Bea1"]


def test_tulips_rejects_other_class_folders(tmp_path):
    write_sequence(tmp_path / "five" / "Don1", "x", 1)
    with pytest.raises(ValueError, match=r"class folders \['five'\] that are not digits \['1', '2', '3', '4'\]"):
        list_dataset("tulips1", tmp_path)


def test_tulips_subset_of_classes_keeps_digit_labels(tmp_path):
    write_sequence(tmp_path / "3" / "Don2", "x", 2)
    listing = list_dataset("tulips1", tmp_path)
    assert listing.classes == ["1", "2", "3", "4"]
    assert [(r.name, r.label) for r in listing.sequences] == [("3/Don2", 2)]


def test_clip_folder_natural_order_and_frame_extensions(tmp_path):
    for class_name in ("10", "2", "b"):
        folder = tmp_path / class_name / "seq1"
        folder.mkdir(parents=True)
        for frame, extension in ((10, ".BMP"), (2, ".bmp"), (1, ".Png"), (3, ".JPG")):
            write_sequence(folder / "tmp", "x", 1, extension=extension)
            (folder / "tmp" / f"0000{extension}").rename(folder / f"{frame}{extension}")
            (folder / "tmp").rmdir()
        (folder / "notes.txt").write_text("not a frame")
    listing = list_dataset("clip_folder", tmp_path)
    assert listing.classes == ["2", "10", "b"]
    assert [r.name for r in listing.sequences] == ["2/seq1", "10/seq1", "b/seq1"]
    assert [Path(f).name for f in listing.sequences[0].frames] == \
        ["1.Png", "2.bmp", "3.JPG", "10.BMP"]


@pytest.mark.parametrize("dataset, layout_text, download", [
    ("cambridge", "Set{1..5}/{0000..0008}/{0000..0019}", "https://labicvl.github.io/ges_db.htm"),
    ("tulips1", "<digit 1..4>/<Subject><repetition>", "Tulips1"),
])
def test_missing_root_names_layout_and_download(tmp_path, dataset, layout_text, download):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as error:
        build_datasets(data_config(dataset, missing))
    message = str(error.value)
    assert str(missing) in message and layout_text in message and download in message
    if dataset == "tulips1":
        assert "https://inc.ucsd.edu/mplab/" in message


def test_empty_class_folder_and_empty_sequence_are_named(tmp_path):
    make_clip_folder(tmp_path, classes=("a",), clips=1, frames=1)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match=r"Class folder .*empty_class contains no clips"):
        list_dataset("clip_folder", tmp_path)
    (tmp_path / "empty_class").rmdir()
    (tmp_path / "a" / "no_frames").mkdir()
    (tmp_path / "a" / "no_frames" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"Sequence folder .*no_frames contains no frames"):
        list_dataset("clip_folder", tmp_path)


def test_corrupt_frame_is_named(tmp_path):
    make_clip_folder(tmp_path, classes=("a", "b"), clips=2, frames=2)
    bad = tmp_path / "b" / "clip1" / "0001.png"
    bad.write_bytes(b"this is not an image")
    dataset = build_datasets(data_config("clip_folder", tmp_path), parts=("all",))["all"]
    dataset[0]  # a healthy clip still loads
    with pytest.raises(ValueError, match=f"Frame {bad} is corrupt or unreadable"):
        dataset[dataset.names.index("b/clip1")]


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "env"))
    assert resolve_data_root("tulips1", "arg", "cfg") == Path("arg")
    assert resolve_data_root("tulips1", None, "cfg") == Path("cfg")
    assert resolve_data_root("tulips1") == tmp_path / "env" / "tulips1"
    monkeypatch.delenv(DATA_ROOT_ENV)
    assert resolve_data_root("cambridge") == REPO_ROOT / "data" / "cambridge"


def test_data_root_argument_overrides_config(tmp_path):
    make_clip_folder(tmp_path / "real", clips=10)
    cfg = data_config("clip_folder", tmp_path / "missing")
    datasets = build_datasets(cfg, data_root=str(tmp_path / "real"))
    assert {split: len(d) for split, d in datasets.items()} == {"train": 16, "val": 2, "test": 2}


def test_training_draws_depend_on_seed_and_epoch_only(tmp_path):
    make_clip_folder(tmp_path, clips=10, frames=12)
    cfg = data_config("clip_folder", tmp_path, augment={"translate": 3, "hflip": True,
                                                       "brightness": 0.2})
    train = build_datasets(cfg, parts=("train",))["train"]
    again = build_datasets(cfg, parts=("train",))["train"]
    first = train[0][0]
    assert torch.equal(first, again[0][0]) and torch.equal(first, train[0][0])
    train.set_epoch(1)
    assert not torch.equal(first, train[0][0])
    evaluation = build_datasets(cfg, parts=("all",))["all"]
    index = evaluation.names.index(train.names[0])
    evaluation.set_epoch(5)
    assert torch.equal(evaluation[index][0], build_datasets(cfg, parts=("all",))["all"][index][0])


def test_datasets_pickle_and_load_in_worker_processes(tmp_path):
    make_clip_folder(tmp_path, clips=10)
    test = build_datasets(data_config("clip_folder", tmp_path), parts=("test",))["test"]
    copy = pickle.loads(pickle.dumps(test))
    assert copy.names == test.names and torch.equal(copy[1][0], test[1][0])
    batches = list(DataLoader(test, batch_size=2, num_workers=1))
    clips, labels, names = batches[0]
    assert clips.shape == (2, 4, 1, 16, 16) and labels.tolist() == test.labels
    assert list(names) == test.names and torch.equal(clips[0], test[0][0])


def test_synthetic_datasets_are_generated_then_read_as_clip_folders(tmp_path, monkeypatch):
    calls = []

    def fake_ensure_synthetic(name, root, clips_per_class, seed, replace=True):
        calls.append((name, Path(root), clips_per_class, seed))
        return make_clip_folder(Path(root), classes=("0", "1", "2"), clips=clips_per_class)

    module = types.ModuleType("data_utils.synthetic")
    module.ensure_synthetic = fake_ensure_synthetic
    monkeypatch.setitem(sys.modules, "data_utils.synthetic", module)
    cfg = data_config("synthetic_gestures", tmp_path / "gen",
                      synthetic={"clips_per_class": 10, "seed": 3})
    datasets = build_datasets(cfg)
    assert calls == [("synthetic_gestures", tmp_path / "gen", 10, 3)]
    assert datasets["train"].classes == ["0", "1", "2"]
    assert [len(datasets[s]) for s in ("train", "val", "test")] == [24, 3, 3]


def test_bad_config_values_are_explained(tmp_path):
    make_clip_folder(tmp_path, clips=10)
    with pytest.raises(ValueError, match=r"'data.dataset' must be one of .*'cambridge'.*got 'kth'"):
        build_datasets(data_config("kth", tmp_path))
    with pytest.raises(ValueError, match=r"'data.preprocessing' must be one of 'release', 'unit', got 'raw'"):
        build_datasets(data_config("clip_folder", tmp_path, preprocessing="raw"))
    with pytest.raises(ValueError, match=r"'data.timesteps' must be an integer >= 1, got 0"):
        build_datasets(data_config("clip_folder", tmp_path, timesteps=0))
    with pytest.raises(ValueError, match=r"Unknown dataset part\(s\) \['dev'\]; accepted: \['train', 'val', 'test', 'all'\]"):
        build_datasets(data_config("clip_folder", tmp_path), parts=("dev",))
    with pytest.raises(ValueError, match=r"Part 'val' of dataset 'clip_folder' .* is empty"):
        build_datasets(data_config("clip_folder", tmp_path,
                                   split_fractions={"train": 0.9, "val": 0.0, "test": 0.1}))


def test_frames_of_a_clip_are_evenly_sampled_from_disk(tmp_path):
    write_sequence(tmp_path / "a" / "long", "a/long", 8, extension=".png")
    dataset = build_datasets(data_config("clip_folder", tmp_path, timesteps=4,
                                         preprocessing="unit"), parts=("all",))["all"]
    clip = dataset[0][0]
    from data_utils.transforms import get_preprocessing
    from clip_data_fixtures import frame_pixels
    unit = get_preprocessing("unit")
    # Evaluation: centred phase over 8 frames -> frames 1, 3, 5, 7 (PNG is lossless).
    expected = [unit(np.ascontiguousarray(frame_pixels("a/long", i)[..., ::-1]), 16)
                for i in (1, 3, 5, 7)]
    assert torch.equal(clip[:, 0], torch.stack(expected))
