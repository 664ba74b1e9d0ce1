"""The probes of issue 11: every bad input or fault ends in ``error: ...`` naming it and what is accepted,
exit status 2, and nothing partial under a final name (each test checks the files left)."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import print_intermediates
import test_scamp_outputs
import train
from clip_data_fixtures import data_config, make_cambridge_reorganised, make_clip_folder, write_sequence
from data_utils import build_datasets
from data_utils.dataset_builder import IrregularClipsWarning
from model_utils import build_model
from training_utils.config import resolve

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "configs/Synthetic/pixelrnn.json"


def run(capsys, main, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def clips(tmp_path):
    """Two classes of two 4-frame PNG clips (40 x 30)."""
    return make_clip_folder(tmp_path / "clips", clips=2, frames=4)


def tiny_config(tmp_path, **model) -> Path:
    """A config file for ``clips``: 16-pixel frames, 2 steps, one epoch, no cache."""
    raw = {"data": {"dataset": "clip_folder", "frame_size": 16, "timesteps": 2, "cache": False,
                    "split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25}},
           "model": model, "train": {"epochs": 1, "batch_size": 2}}
    path = tmp_path / "config" / "tiny.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("overrides,layer,fits", [
    (["model.encoder.pool=[3]"], "layer 1 max-pools 16 x 16 maps by 3", "e.g. 12 or 24"),
    (["data.frame_size=68", "model.encoder.pool=[8]"], "layer 1 max-pools 68 x 68 maps by 8", "e.g. 64 or 72"),
    (["data.frame_size=20", "model.encoder.layers=2", "model.encoder.pool=[2,4]"],
     "layer 2 max-pools 10 x 10 maps by 4", "e.g. 16 or 24"),
])
def test_frame_size_that_the_pooling_does_not_divide_is_refused_at_config_time(tmp_path, capsys, overrides, layer,
                                                                               fits):
    sets = [a for o in overrides for a in ("--set", o)]
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), *sets, "--data-root", tmp_path / "no_data",
                    "--out", tmp_path / "run")
    assert code == 2 and err.startswith("error: config keys 'data.frame_size' ")
    assert f"{layer}, which leaves a remainder. Accepted: a frame size divisible by" in err and fits in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("misnamed", ["abc", "nine"])
def test_misnamed_cambridge_class_folder_is_refused_with_the_accepted_names(tmp_path, capsys, misnamed):
    root = make_cambridge_reorganised(tmp_path / "cam", sets=(1,), clips=range(1), frames=1)
    write_sequence(root / misnamed / "Set1_9_0001", "x", 1)
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--set", "data.dataset=cambridge",
                    "--data-root", root, "--out", tmp_path / "run")
    assert code == 2
    assert (f"error: Cambridge root {root} holds 1 folder(s) that are not class folders 1..9 (reorganised "
            f"layout): {misnamed}; rename or remove them.") in err
    assert not (tmp_path / "run").exists()


def save_model(tmp_path, config: Path, classes: int = 2) -> Path:
    path = tmp_path / "weights.pt"
    from training_utils.config import load_config
    torch.save(build_model(load_config(config), classes).state_dict(), path)
    return path


def sensor_config(tmp_path, cell: str) -> Path:
    raw = {"data": {"dataset": "clip_folder", "timesteps": 2, "cache": False}, "model": {"cell": {"type": cell}}}
    path = tmp_path / f"{cell}.json"
    path.write_text(json.dumps(raw))
    return path


def test_print_intermediates_refuses_a_model_it_cannot_trace_and_writes_nothing(tmp_path, capsys, clips):
    config = sensor_config(tmp_path, "conv_gru")
    code, err = run(capsys, print_intermediates.main, "-c", config, "--weights", save_model(tmp_path, config),
                    "--data-root", clips, "--split", "all", "-sd", tmp_path / "out")
    assert code == 2
    assert err.startswith(f"error: print_intermediates cannot write sensor images for {tmp_path / 'weights.pt'}: "
                          "it is a ConvGRUCell model with a 1-layer encoder, and its trace lacks stage(s) ")
    assert "Accepted: the one-layer binary CNN encoder with the pixelrnn cell" in err
    assert not (tmp_path / "out").exists()


def test_overwrite_empties_what_print_intermediates_owns_first(tmp_path, capsys, clips):
    config = sensor_config(tmp_path, "pixelrnn")
    weights = save_model(tmp_path, config)
    out = tmp_path / "out"
    stale = out / "9" / "test_only_sequence" / "0" / "6_ft_ot.BMP"  # an earlier run on another split
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    (out / "classes.json").write_text('{"classes": ["9"]}')
    code, err = run(capsys, print_intermediates.main, "-c", config, "--weights", weights, "--data-root", clips,
                    "--split", "all", "-sd", out, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "classes.json", "convweights.BMP", "metrics.json",
                                                       "rnnweights.BMP"]
    assert json.loads((out / "classes.json").read_text()) == {"classes": ["a", "b"]}
    assert len(files_under(out)) == 4 + 4 * 2 * 9  # 4 clips x 2 frames x 9 stages

    (out / "notes.txt").write_text("mine")
    before = files_under(out)
    code, err = run(capsys, print_intermediates.main, "-c", config, "--weights", weights, "--data-root", clips,
                    "--split", "all", "-sd", out, "--overwrite")
    assert code == 2
    assert err.startswith(f"error: output folder {out} holds 1 file(s) that print_intermediates does not write: "
                          "notes.txt; --overwrite only replaces this tool's output")
    assert files_under(out) == before


def test_epochs_zero_is_refused(tmp_path, capsys):
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--set", "train.epochs=0", "--data-root",
                    tmp_path / "no_data", "--out", tmp_path / "run")
    assert code == 2
    assert err.startswith("error: train.epochs is 0: there is nothing to train (accepted: an integer >= 1); "
                          "to evaluate a checkpoint, use --eval-only --weights CHECKPOINT")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("tool", ["train", "train --eval-only", "test_scamp_outputs", "print_intermediates"])
def test_out_that_is_a_file_is_refused(tmp_path, capsys, tool):
    config = tiny_config(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    target = work / "taken"
    target.write_text("a file")
    if tool == "train":
        code, err = run(capsys, train.main, "-c", config, "--data-root", tmp_path / "no_data", "--out", target)
    elif tool == "train --eval-only":
        code, err = run(capsys, train.main, "-c", SYNTHETIC, "--eval-only", "--weights", "x.pt", "--out", target)
    elif tool == "test_scamp_outputs":
        code, err = run(capsys, test_scamp_outputs.main, "-c", SYNTHETIC, "-sd", work, "--out", target)
    else:
        code, err = run(capsys, print_intermediates.main, "-c", SYNTHETIC, "-sd", target)
    option = "-sd" if tool == "print_intermediates" else "--out"
    assert code == 2
    assert err.startswith(f"error: {option} {target} is a file, not a folder; give the path of a folder")
    assert target.read_text() == "a file" and sorted(p.name for p in work.iterdir()) == ["taken"]


def irregular_clips(root: Path) -> Path:
    make_clip_folder(root, clips=2, frames=4)
    write_sequence(root / "a" / "short", "short", 1)
    cv2.imwrite(str(root / "b" / "clip1" / "0004.png"), np.zeros((64, 64, 3), np.uint8))
    return root


def test_short_clips_and_mixed_frame_sizes_are_warned(tmp_path):
    root = irregular_clips(tmp_path / "clips")
    with pytest.warns(IrregularClipsWarning) as caught:
        build_datasets(data_config("clip_folder", root, timesteps=4), splits=("all",))
    (message,) = [str(w.message) for w in caught]
    assert f"dataset {root}: 1 clip(s) have fewer than data.timesteps = 4 frames and are padded by repeating " \
           "their last frame: a/short; frames come in 2 sizes, each stretched to the frame size: 40x30 (5 clip(s), " \
           "e.g. a/clip0), 64x64 (1 clip(s), e.g. b/clip1) (set data.irregular_clips to 'refuse'" in message


def test_short_clips_and_mixed_frame_sizes_are_refused_by_the_switch(tmp_path, capsys):
    root = irregular_clips(tmp_path / "clips")
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--data-root", root, "--set", "data.timesteps=4",
                    "--set", "data.irregular_clips=refuse", "--out", tmp_path / "run")
    assert code == 2 and err.startswith(f"error: dataset {root}: 1 clip(s) have fewer than data.timesteps = 4")
    assert "frames come in 2 sizes" in err and "Refused because data.irregular_clips is 'refuse'" in err
    assert not (tmp_path / "run").exists()


def test_split_all_is_every_clip_on_disk_whatever_the_split_file_names(tmp_path):
    root = make_cambridge_reorganised(tmp_path / "cam", sets=(1,), classes=(1, 2), clips=range(3), frames=4)
    cfg = data_config("cambridge", root, split="configs/splits/cambridge_paper.json")
    everything = build_datasets(cfg, splits=("all",))["all"]
    assert everything.names == [f"Set1_{c}_{n:04d}" for c in (1, 2) for n in range(3)]
    with pytest.raises(ValueError, match=r"names 894 clip\(s\) that are not in the dataset: .* and 889 more\. "):
        build_datasets(cfg, splits=("test",))


def test_killed_cache_build_leaves_a_temporary_file_that_the_next_build_removes(tmp_path):
    root = make_clip_folder(tmp_path / "clips", clips=2, frames=4)
    cfg = data_config("clip_folder", root, tmp_path / "cache")
    build_datasets(cfg, splits=("all",))
    (folder,) = (tmp_path / "cache").iterdir()
    (folder / "index.json").unlink()  # a build killed before its index was replaced
    stale = folder / ".frames-0123456789ab.npy.k1ll3d.npy.tmp"
    stale.write_bytes(b"\0" * 1024)
    dataset = build_datasets(cfg, splits=("all",))["all"]
    assert not stale.exists() and (folder / "index.json").is_file() and not (folder / ".lock").exists()
    assert len(list(folder.glob("frames-*.npy"))) == 1 and dataset[0][0].shape == (4, 1, 16, 16)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs (needs root and mount; skipped where the test cannot mount one)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_is_named_and_leaves_no_partial_file(tiny_tmpfs, tmp_path, capsys):
    clips = make_clip_folder(tmp_path / "clips", clips=4, frames=2)
    run_dir = tiny_tmpfs / "run"
    # config.json and environment.json fit; a checkpoint (the 4096 x 2 linear layer and its Adam state) cannot
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--data-root", clips, "--set",
                    "data.frame_size=64", "--out", run_dir)
    assert code == 2
    assert err.startswith(f"error: no space left on the device holding {run_dir} (")
    assert "free some disk space or choose a folder on another device" in err
    left = files_under(run_dir)
    assert not [name for name in left if name.endswith(".tmp") or name.endswith(".pt")], left
    for name in left:
        if name.endswith(".json"):
            json.loads((run_dir / name).read_text())
