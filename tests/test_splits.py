"""Seeded splits, split files and the shipped paper / classic splits."""
import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from clip_data_fixtures import (data_config, make_cambridge_official,
                                make_cambridge_reorganised, make_tulips, tulips_names)
from data_utils import build_datasets, load_split_file, resolve_split, seeded_split
from data_utils.make_paper_split import cambridge_names, write_all
from data_utils.splits import find_split_file, seeded_subject_split, subject_of, write_split_file
from training_utils.paths import REPO_ROOT

SPLITS = REPO_ROOT / "configs" / "splits"
ALL_CAMBRIDGE = cambridge_names()


def cambridge_label(name):
    return int(name.split("_")[1]) - 1


def test_seeded_split_is_stratified_and_independent_of_listing_order():
    labels = [cambridge_label(n) for n in ALL_CAMBRIDGE]
    split = seeded_split(ALL_CAMBRIDGE, labels, seed=0)
    assert {part: len(names) for part, names in split.items()} == \
        {"train": 720, "val": 90, "test": 90}
    for part, per_class in (("train", 80), ("val", 10), ("test", 10)):
        assert Counter(cambridge_label(n) for n in split[part]) == \
            {label: per_class for label in range(9)}
    assert set().union(*split.values()) == set(ALL_CAMBRIDGE)
    shuffled = list(ALL_CAMBRIDGE)
    random.Random(1).shuffle(shuffled)
    assert seeded_split(shuffled, [cambridge_label(n) for n in shuffled], seed=0) == split
    other = seeded_split(ALL_CAMBRIDGE, labels, seed=1)
    assert other["test"] != split["test"] and len(other["test"]) == 90
    # Recorded values: the split must be the same on every machine and version.
    assert split["test"][:3] == ["Set1_1_0003", "Set3_1_0004", "Set3_1_0008"]
    assert split["val"][:3] == ["Set1_1_0009", "Set2_1_0008", "Set2_1_0009"]


def test_seeded_split_fractions_are_configurable_and_checked():
    names = [f"c{label}/s{i}" for label in range(2) for i in range(20)]
    labels = [label for label in range(2) for _ in range(20)]
    split = seeded_split(names, labels, {"train": 0.5, "val": 0.25, "test": 0.25}, seed=3)
    assert [len(split[p]) for p in ("train", "val", "test")] == [20, 10, 10]
    with pytest.raises(ValueError, match="must add up to 1"):
        seeded_split(names, labels, {"train": 0.5, "val": 0.1, "test": 0.1})
    with pytest.raises(ValueError, match=r"Unknown split part\(s\) \['dev'\]"):
        seeded_split(names, labels, {"train": 0.9, "dev": 0.1})


@pytest.mark.parametrize("name, subject", [("2/Don1", "Don"), ("Regina2", "Regina"),
                                           ("1/Subject07_12", "Subject07"), ("a/b/Cynthea1", "Cynthea")])
def test_subject_of_a_clip_name(name, subject):
    assert subject_of(name) == subject


@pytest.mark.parametrize("name", ["1/123", "2/Don", "Set1_1/"])
def test_subject_of_a_name_without_subject_and_repetition_is_an_error(name):
    with pytest.raises(ValueError, match=r"\[<class>/\]<subject>\[_\]<repetition>.*use split 'seeded'"):
        subject_of(name)


def test_subject_split_keeps_every_subject_in_one_part():
    names = [f"{c}/Subject{s:02d}_{r}" for c in range(1, 5) for s in range(1, 21) for r in (1, 2)]
    labels = [int(name[0]) - 1 for name in names]
    split = seeded_subject_split(names, labels, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0)
    subjects = {part: {subject_of(n) for n in members} for part, members in split.items()}
    assert [len(subjects[p]) for p in ("train", "val", "test")] == [14, 2, 4]  # fractions count subjects
    assert [len(split[p]) for p in ("train", "val", "test")] == [112, 16, 32]
    assert not (subjects["train"] & subjects["val"] or subjects["train"] & subjects["test"]
                or subjects["val"] & subjects["test"])
    assert set().union(*split.values()) == set(names)
    shuffled = list(names)
    random.Random(2).shuffle(shuffled)
    assert seeded_subject_split(shuffled, [int(n[0]) - 1 for n in shuffled],
                                {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0) == split
    # Recorded values: the same on every machine and version.
    assert sorted(subjects["test"]) == ["Subject01", "Subject09", "Subject16", "Subject17"]
    other = seeded_subject_split(names, labels, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=1)
    assert other["test"] != split["test"]


def test_tulips_dataset_split_by_subject(tmp_path):
    root = make_tulips(tmp_path, frames=1)
    datasets = build_datasets(data_config("tulips1", root, split="seeded_by_subject",
                                          split_fractions={"train": 0.5, "val": 0.25, "test": 0.25}))
    subjects = {part: {subject_of(name) for name in data.names} for part, data in datasets.items()}
    assert [len(subjects[p]) for p in ("train", "val", "test")] == [6, 3, 3]
    assert [len(datasets[p]) for p in ("train", "val", "test")] == [48, 24, 24]
    assert not subjects["train"] & (subjects["val"] | subjects["test"])


def test_paper_split_reproduces_720_90_90_from_all_900_names():
    content = load_split_file(SPLITS / "cambridge_paper.json")
    split = resolve_split(content, ALL_CAMBRIDGE, [cambridge_label(n) for n in ALL_CAMBRIDGE],
                          "cambridge_paper.json")
    assert [len(split[p]) for p in ("train", "val", "test")] == [720, 90, 90]
    assert set(split["train"]) | set(split["val"]) | set(split["test"]) == set(ALL_CAMBRIDGE)
    assert not set(split["train"]) & set(split["test"])
    assert "Set1_1_0002" in split["test"] and "Set1_1_0000" in split["train"]


def test_shipped_files_are_regenerated_from_the_reference(reference, tmp_path):
    write_all(reference / "splits", tmp_path)
    for name in ("cambridge_paper.json", "cambridge_classic.json", "tulips_paper.json"):
        assert (tmp_path / name).read_bytes() == (SPLITS / name).read_bytes(), name
    released = json.loads((reference / "splits" / "cambridge_paper.json").read_text())
    shipped = json.loads((SPLITS / "cambridge_paper.json").read_text())
    for part in ("train", "test"):
        assert sorted(shipped[part]) == sorted(released[part])
    assert (SPLITS / "cambridge_paper.json").read_bytes() != \
        (reference / "splits" / "cambridge_paper.json").read_bytes()
    tulips = json.loads((reference / "splits" / "tulips_paper_test.json").read_text())
    assert json.loads((SPLITS / "tulips_paper.json").read_text())["test"] == tulips["test"]


def test_classic_split_trains_on_set5_and_tests_on_sets_1_to_4():
    content = load_split_file(SPLITS / "cambridge_classic.json")
    split = resolve_split(content, ALL_CAMBRIDGE, [cambridge_label(n) for n in ALL_CAMBRIDGE],
                          "cambridge_classic.json")
    assert [len(split[p]) for p in ("train", "val", "test")] == [162, 18, 720]
    assert all(n.startswith("Set5_") for n in split["train"] + split["val"])
    assert not any(n.startswith("Set5_") for n in split["test"])
    assert Counter(cambridge_label(n) for n in split["val"]) == {label: 2 for label in range(9)}


def test_tulips_paper_split_seeds_train_and_val_from_the_rest():
    names = tulips_names()  # 96 clips, including the paper's 10 test clips
    labels = [int(n.split("/")[0]) - 1 for n in names]
    content = load_split_file(SPLITS / "tulips_paper.json")
    split = resolve_split(content, names, labels, "tulips_paper.json")
    assert [len(split[p]) for p in ("train", "val", "test")] == [78, 8, 10]
    assert "2/Don1" in split["test"] and set(split["val"]).isdisjoint(split["test"])
    assert Counter(n.split("/")[0] for n in split["val"]) == {d: 2 for d in "1234"}


def test_missing_val_means_every_clip_listed_nowhere():
    names = ["a/1", "a/2", "b/1", "b/2", "b/3"]
    split = resolve_split({"train": ["a/1", "b/1"], "test": ["b/2"]}, names, [0, 0, 1, 1, 1], "x")
    assert split == {"train": ["a/1", "b/1"], "val": ["a/2", "b/3"], "test": ["b/2"]}


def test_split_file_with_absent_clips_lists_them_sorted(tmp_path):
    path = tmp_path / "split.json"
    write_split_file(path, "test", {"train": ["a/1", "z/9", "c/10"], "test": ["c/2", "a/2"]})
    with pytest.raises(ValueError) as error:
        resolve_split(load_split_file(path), ["a/1", "a/2"], [0, 0], str(path))
    assert f"Split file {path} names 3 clip(s) that are not in the dataset: c/2, c/10, z/9." in str(error.value)


def test_split_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": ["a"], "extra": 1}')
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['extra'\]"):
        load_split_file(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_split_file(bad)
    with pytest.raises(ValueError, match=r"lists 1 clip\(s\) more than once: a/1\."):
        resolve_split({"train": ["a/1"], "test": ["a/1"]}, ["a/1"], [0], "x")
    with pytest.raises(FileNotFoundError, match="accepts 'seeded', 'seeded_by_subject' or the path"):
        find_split_file("no/such/split.json")


def test_split_paths_resolve_relative_to_the_repo_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_split_file("configs/splits/cambridge_paper.json") == \
        REPO_ROOT / "configs" / "splits" / "cambridge_paper.json"
    (tmp_path / "mine.json").write_text('{"test": []}')
    assert find_split_file("mine.json") == Path("mine.json")


def test_both_cambridge_layouts_yield_identical_splits(tmp_path):
    official = make_cambridge_official(tmp_path / "official", clips=range(10), frames=1)
    reorganised = make_cambridge_reorganised(tmp_path / "reorganised", clips=range(10), frames=1)
    splits = [build_datasets(data_config("cambridge", root, split_seed=4)) for root in
              (official, reorganised)]
    for part in ("train", "val", "test"):
        assert splits[0][part].names == splits[1][part].names
        assert splits[0][part].labels == splits[1][part].labels
    assert [len(splits[0][p]) for p in ("train", "val", "test")] == [144, 18, 18]


def test_paper_split_file_on_a_partial_dataset_names_the_absent_clips(tmp_path):
    root = make_cambridge_reorganised(tmp_path, sets=(1,), classes=(1,), clips=range(2), frames=1)
    with pytest.raises(ValueError) as error:
        build_datasets(data_config("cambridge", root, split="configs/splits/cambridge_paper.json"))
    message = str(error.value)
    assert "names 898 clip(s) that are not in the dataset" in message
    assert "Set1_1_0002, Set1_1_0003, Set1_1_0004, " in message and "Set1_1_0000" not in message
    assert message.count("Set") == 5 and " and 893 more. " in message and "--part all" in message


def test_tulips_dataset_with_paper_split(tmp_path):
    root = make_tulips(tmp_path, frames=1)
    datasets = build_datasets(data_config("tulips1", root, split="configs/splits/tulips_paper.json"))
    assert datasets["test"].names == ["1/Regina1", "1/Regina2", "1/Simon2", "2/Cynthea1",
                                      "2/Don1", "2/Jesse1", "3/Don2", "3/Simon2", "4/Cynthea1",
                                      "4/Isaac2"]
    assert datasets["test"].labels == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
    assert len(datasets["train"]) == 78 and len(datasets["val"]) == 8


def test_split_files_are_written_atomically(tmp_path):
    path = tmp_path / "out.json"
    write_split_file(path, "d", {"train": ["x"]})
    assert json.loads(path.read_text()) == {"description": "d", "train": ["x"]}
    assert os.listdir(tmp_path) == ["out.json"]


def test_the_one_stratified_splitter_reproduces_both_former_draws():
    """data_utils.splits.stratified_split replaced two splitters (issue 19); these are the draws the former
    seeded_split and decoder_finetuning.stratified_holdout made on the same input (computed with them)."""
    from training_utils.decoder_finetuning import stratified_holdout

    labels = [0] * 7 + [1] * 10 + [2] * 3 + [3] * 1 + [4] * 2
    names = [f"{label}/s{i}" for i, label in enumerate(labels)]
    assert seeded_split(names, labels, {"train": 0.5, "val": 0.25, "test": 0.25}, seed=7) == {
        "train": ["0/s0", "0/s3", "0/s6", "1/s11", "1/s12", "1/s14", "1/s16", "2/s19", "3/s20"],
        "val": ["0/s1", "0/s5", "1/s7", "1/s10", "1/s13", "2/s18", "4/s21"],
        "test": ["0/s2", "0/s4", "1/s8", "1/s9", "1/s15", "2/s17", "4/s22"]}
    assert stratified_holdout(labels, 0.25, seed=7) == ([1, 2, 3, 4, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21],
                                                         [0, 5, 9, 10, 19, 22])
