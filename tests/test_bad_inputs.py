"""The probes of issue 11: every bad input or fault ends in ``error: ...`` naming it and what is accepted,
exit status 2, and nothing partial under a final name (each test checks the files left)."""
import json
import os
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
from training_utils.paths import REPO_ROOT

SYNTHETIC = REPO_ROOT / "configs/Synthetic/pixelrnn.json"


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
                    "--data-root", clips, "--part", "all", "-sd", tmp_path / "out")
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
                    "--part", "all", "-sd", out, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "classes.json", "convweights.BMP", "metrics.json",
                                                       "rnnweights.BMP"]
    assert json.loads((out / "classes.json").read_text()) == {"classes": ["a", "b"]}
    assert len(files_under(out)) == 4 + 4 * 2 * 9  # 4 clips x 2 frames x 9 stages

    (out / "notes.txt").write_text("mine")
    before = files_under(out)
    code, err = run(capsys, print_intermediates.main, "-c", config, "--weights", weights, "--data-root", clips,
                    "--part", "all", "-sd", out, "--overwrite")
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
        build_datasets(data_config("clip_folder", root, timesteps=4), parts=("all",))
    (message,) = [str(w.message) for w in caught]
    assert f"dataset {root}: 1 clip(s) have fewer than data.timesteps = 4 frames and are padded by repeating " \
           "their last frame (data.short_clips 'repeat_last'): a/short; frames come in 2 sizes, each stretched to the frame size: 40x30 (5 clip(s), " \
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
    everything = build_datasets(cfg, parts=("all",))["all"]
    assert everything.names == [f"Set1_{c}_{n:04d}" for c in (1, 2) for n in range(3)]
    with pytest.raises(ValueError, match=r"names 894 clip\(s\) that are not in the dataset: .* and 889 more\. "):
        build_datasets(cfg, parts=("test",))


def test_killed_cache_build_leaves_a_temporary_file_that_the_next_build_removes(tmp_path):
    root = make_clip_folder(tmp_path / "clips", clips=2, frames=4)
    cfg = data_config("clip_folder", root, tmp_path / "cache")
    build_datasets(cfg, parts=("all",))
    (folder,) = (tmp_path / "cache").iterdir()
    (folder / "index.json").unlink()  # a build killed before its index was replaced
    stale = folder / ".frames-0123456789ab.npy.k1ll3d.npy.tmp"
    stale.write_bytes(b"\0" * 1024)
    dataset = build_datasets(cfg, parts=("all",))["all"]
    assert not stale.exists() and (folder / "index.json").is_file() and not (folder / ".lock").exists()
    assert len(list(folder.glob("frames-*.npy"))) == 1 and dataset[0][0].shape == (4, 1, 16, 16)


def test_disk_full_is_named_and_leaves_no_partial_file(small_disk, tmp_path, capsys):
    clips = make_clip_folder(tmp_path / "clips", clips=4, frames=2)
    run_dir = small_disk / "run"
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


# ---- issue 18: nothing a user can do crashes a run or overwrites a result ------------------------------------
# (the native library: test_native_build.py; run folders: test_run_integrity.py; the emulator:
# test_emulator_inputs.py)
@pytest.fixture
def run_clips(tmp_path):
    """Two classes of four 2-frame PNG clips: enough for a seeded train/val/test split."""
    return make_clip_folder(tmp_path / "run_clips", clips=4, frames=2)


def finished_run_folder(tmp_path, clips) -> Path:
    """A run folder of ``train.py`` on ``clips`` (one epoch): last.pt, best.pt, metrics.json."""
    run_dir = tmp_path / "finished"
    code = train.main(["-c", str(tiny_config(tmp_path)), "--data-root", str(clips), "--out", str(run_dir)])
    assert code == 0 and (run_dir / "metrics.json").is_file()
    return run_dir


def test_log_dir_that_is_a_file_is_refused_before_anything_is_written(tmp_path, capsys, clips):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--data-root", clips, "--set",
                    f"log_dir={taken}", "--out", tmp_path / "run")
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: log_dir {taken} is a file, not a folder; give the path of a folder")
    assert not (tmp_path / "run").exists() and taken.read_text() == "a file"


@pytest.mark.parametrize("option", ["-stf", "--header", "--json"])
def test_extract_weights_output_that_is_a_folder_is_refused(tmp_path, capsys, option):
    import extract_weights

    folder = tmp_path / "folder"
    folder.mkdir()
    code, err = run(capsys, extract_weights.main, "-c", SYNTHETIC, "--weights", tmp_path / "absent.pt", option, folder)
    assert code == 2
    assert err.startswith(f"error: {option} {folder} is a folder; give the path of the file to write (e.g. {folder}/")
    assert list(folder.iterdir()) == []


def test_part_without_eval_only_is_refused(tmp_path, capsys, clips):
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--data-root", clips, "--part", "all",
                    "--out", tmp_path / "run")
    assert code == 2
    assert err.startswith("error: --part all applies to --eval-only only: training always uses the train, val and "
                          "test parts of data.split.")
    assert not (tmp_path / "run").exists()


def test_eval_only_into_a_finished_run_is_refused_and_the_run_keeps_its_metrics(tmp_path, capsys, run_clips):
    run_dir = finished_run_folder(tmp_path, run_clips)
    before = {name: (run_dir / name).read_bytes() for name in files_under(run_dir) if not name.startswith("tensorboard")}
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--eval-only", "--weights", run_dir / "best.pt",
                    "--data-root", run_clips, "--part", "all", "--out", run_dir)
    assert code == 2
    assert err.startswith(f"error: --out {run_dir} holds a training run (last.pt, best.pt); train.py --eval-only would "
                          "overwrite its metrics.json. A run folder is written by train.py alone: choose another --out")
    assert {name: (run_dir / name).read_bytes() for name in before} == before and not (run_dir / ".lock").exists()
    # beside it, the same evaluation writes its own folder
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--eval-only", "--weights", run_dir / "best.pt",
                    "--data-root", run_clips, "--part", "all", "--out", run_dir / "eval")
    assert code == 0, err
    assert sorted(p.name for p in (run_dir / "eval").iterdir()) == ["metrics.json"]
    # and a new training run is not started over another tool's results
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--data-root", run_clips, "--out", run_dir / "eval")
    assert code == 2 and err.startswith(f"error: --out {run_dir / 'eval'} holds results of another tool or mode "
                                        "(metrics.json) that a run would overwrite; choose another --out")


def test_resume_reads_the_data_root_the_run_was_trained_on(tmp_path, capsys, run_clips, monkeypatch):
    run_dir = finished_run_folder(tmp_path, run_clips)
    assert json.loads((run_dir / "environment.json").read_text())["data_root"] == str(run_clips.resolve())
    assert json.loads((run_dir / "config.json").read_text())["data_root"] is None  # not part of the config
    monkeypatch.setenv("PIXELRNN_DATA_ROOT", str(tmp_path / "elsewhere"))
    code = train.main(["-r", str(run_dir / "last.pt"), "--set", "train.epochs=2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"data root {run_clips.resolve()} (recorded in {run_dir / 'environment.json'}; --data-root overrides it)" in out
    assert [line.split(",")[0] for line in (run_dir / "summary.csv").read_text().splitlines()[1:]] == ["1", "2"]


def test_noise_draws_are_labelled_on_the_epoch_and_final_lines(tmp_path, capsys, run_clips):
    code = train.main(["-c", str(tiny_config(tmp_path)), "--data-root", str(run_clips), "--set", "noise.eval=true",
                       "--set", "noise.selection=true", "--set", "model.encoder.noise_std=0.5",
                       "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    (epoch,) = [line for line in out.splitlines() if line.startswith("epoch   1")]
    assert " % (noise on)  test " in epoch and epoch.count("(noise on)") == 2
    finals = [line for line in out.splitlines() if "(best.pt, epoch 1" in line]
    assert len(finals) == 2 and all(line.endswith("(best.pt, epoch 1, noise on: one draw of the sensor noise)")
                                    for line in finals)
    code = train.main(["-c", str(tiny_config(tmp_path)), "--data-root", str(run_clips), "--out", str(tmp_path / "quiet")])
    assert code == 0 and "noise on" not in capsys.readouterr().out


def test_print_intermediates_on_a_full_disk_leaves_nothing_and_the_rerun_needs_no_overwrite(tmp_path, capsys, clips,
                                                                                            monkeypatch):
    import errno

    from data_utils import scamp_io
    from training_utils.atomic_files import disk_full_error

    config = sensor_config(tmp_path, "pixelrnn")
    weights = save_model(tmp_path, config)
    out = tmp_path / "out"
    real, written = scamp_io.write_sensor_image, []

    def write_sensor_image(path, pixels):
        if len(written) == 9:
            raise disk_full_error(path, OSError(errno.ENOSPC, "No space left on device"))
        written.append(path)
        return real(path, pixels)

    monkeypatch.setattr(scamp_io, "write_sensor_image", write_sensor_image)
    argv = ["-c", config, "--weights", weights, "--data-root", clips, "--part", "all", "-sd", out]
    code, err = run(capsys, print_intermediates.main, *argv)
    assert code == 2 and err.startswith(f"error: no space left on the device holding ")
    assert len(written) == 9 and not out.exists()  # the 9 complete files of the failed run are gone with it
    monkeypatch.setattr(scamp_io, "write_sensor_image", real)
    code, err = run(capsys, print_intermediates.main, *argv)
    assert code == 0, err
    assert len(files_under(out)) == 4 + 4 * 2 * 9


def test_a_folder_holding_another_synthetic_dataset_is_not_replaced(tmp_path, capsys):
    from data_utils.synthetic import MARKER_NAME, ensure_synthetic

    root = ensure_synthetic("synthetic_lips", tmp_path / "mine", clips_per_class=1)
    assert (root.stat().st_mode & 0o777) == (0o777 & ~_umask())  # not mkdtemp's 0700
    marker = (root / MARKER_NAME).read_bytes()
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--set", "data.dataset=synthetic_gestures",
                    "--data-root", root, "--out", tmp_path / "run")
    assert code == 2
    assert err.startswith(f"error: data root {root} holds the synthetic dataset synthetic_lips (1 clips per class, "
                          "seed 0, generator version 2), not the one asked for: synthetic_gestures (100 clips per "
                          "class, seed 0, generator version 1); it is not replaced.")
    assert "set data.dataset, data.synthetic.clips_per_class and data.synthetic.seed to what it holds" in err
    assert (root / MARKER_NAME).read_bytes() == marker and not (tmp_path / "run").exists()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_split_file_naming_clips_not_on_disk_suggests_a_seeded_split(tmp_path, capsys):
    root = make_cambridge_reorganised(tmp_path / "cam", sets=(1,), classes=(1, 2), clips=range(2), frames=2)
    code, err = run(capsys, train.main, "-c", tiny_config(tmp_path), "--set", "data.dataset=cambridge", "--set",
                    "data.split=configs/splits/cambridge_paper.json", "--data-root", root, "--out", tmp_path / "run")
    assert code == 2 and "clip(s) that are not in the dataset" in err
    assert ("To train and evaluate on the clips that are on disk, split them by seed instead: --set "
            "data.split=seeded") in err
    assert not (tmp_path / "run").exists()


def fake_paper_table_run(folder: Path, overrides: list[str]) -> None:
    """What paper_table stores for (pixelrnn, seed 0) when trained with ``overrides`` (without training)."""
    from benchmarks import paper_table

    cfg = paper_table.run_config(REPO_ROOT / "configs/Cambridge/comparison/pixelrnn.json", 0, overrides)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "best.pt").write_bytes(b"")
    predictions = [{"sequence": "s", "label": 0, "predicted": 0}]
    (folder / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.75, "confusion_matrix": [[0] * 9] * 9,
                                                              "predictions": predictions}}))


def test_paper_table_reuses_only_runs_of_the_config_asked_for(tmp_path, capsys):
    from benchmarks import paper_table

    out = tmp_path / "table"
    stored = ["recipe=project", *paper_table.DATASETS["synthetic_gestures"][1]]
    fake_paper_table_run(out / "pixelrnn-seed0", stored)
    argv = ["--dataset", "synthetic_gestures", "--models", "pixelrnn", "--seeds", "0", "--out", out]
    code, err = run(capsys, paper_table.main, *argv, "--set", "train.lr=0.5")
    assert code == 2
    assert err.startswith(f"error: {out / 'pixelrnn-seed0'} holds a run of another config: train.lr: stored 0.003, "
                          "asked 0.5; choose another --out (or delete that folder) to train this one")
    assert sorted(p.name for p in out.iterdir()) == ["pixelrnn-seed0"]  # no results.json for the new overrides
    code, err = run(capsys, paper_table.main, *argv, "--set", "data.num_workers=0")  # result-neutral: reused
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert results["runs"]["pixelrnn"][0]["test_accuracy"] == 0.75


def test_paper_table_on_partial_cambridge_data_does_not_suggest_an_option_it_lacks(tmp_path, capsys):
    from benchmarks import paper_table

    root = make_cambridge_reorganised(tmp_path / "cam", sets=(1,), classes=(1, 2), clips=range(2), frames=2)
    code, err = run(capsys, paper_table.main, "--dataset", "cambridge", "--models", "pixelrnn", "--seeds", "0",
                    "--data-root", root, "--out", tmp_path / "table")
    assert code == 2 and "--set data.split=seeded (every tool that takes --set)" in err
    assert not err.rstrip().endswith("--part all (which reads no split file).")
    assert files_under(tmp_path / "table") == []


def scamp_outputs(root: Path, folders, sequences: int = 2) -> Path:
    for folder in folders:
        for n in range(sequences):
            target = root / str(folder) / f"seq{folder}_{n}"
            target.mkdir(parents=True)
            pixels = np.full((256, 256), 127, np.uint8)
            pixels[128:192, 128:192] = (np.arange(64 * 64).reshape(64, 64) * (folder + n)) % 256
            cv2.imwrite(str(target / "15_output.BMP"), pixels)
    return root


def nine_class_weights(tmp_path) -> tuple[Path, Path]:
    config = tmp_path / "nine.json"
    config.write_text(json.dumps({"model": {"num_classes": 9}}))
    return config, save_model(tmp_path, config, classes=9)


def test_scamp_outputs_checks_compare_weights_before_finetuning(tmp_path, capsys):
    config, weights = nine_class_weights(tmp_path)
    outputs = scamp_outputs(tmp_path / "outputs", range(9))
    code, err = run(capsys, test_scamp_outputs.main, "-c", config, "--weights", weights, "-sd", outputs,
                    "--split-file", "none", "--finetune", "--out", tmp_path / "out")
    assert code == 2
    assert err.startswith("error: --finetune trains on the train group of a split file, and --split-file none puts "
                          "every output in one group 'all': give a split file with a 'train' list")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [f"seq{c}_{n}" for c in range(9) for n in range(2)]}))
    for bad, message in ((tmp_path / "missing.pt", f"error: checkpoint not found: {tmp_path / 'missing.pt'} (from "
                                                   "--compare-weights); pass --compare-weights CHECKPOINT"),
                         (tmp_path / "garbage.pt", f"error: checkpoint {tmp_path / 'garbage.pt'} cannot be read")):
        if bad.name == "garbage.pt":
            bad.write_bytes(b"not a checkpoint")
        code, err = run(capsys, test_scamp_outputs.main, "-c", config, "--weights", weights, "-sd", outputs,
                        "--split-file", split, "--finetune", "--epochs", "2", "--compare-weights", bad,
                        "--out", tmp_path / "out")
        assert code == 2 and err.startswith(message), err
        assert not (tmp_path / "out").exists()  # no finetuned.pt, no finetune_history.json


@pytest.mark.parametrize("folders,offset,labels", [(range(1, 9), None, None), (range(1, 10), None, [0, 8]),
                                                   (range(0, 9), None, [0, 8]), (range(1, 9), "1", [0, 7])])
def test_scamp_outputs_class_offset_is_detected_or_required(tmp_path, capsys, folders, offset, labels):
    config, weights = nine_class_weights(tmp_path)
    outputs = scamp_outputs(tmp_path / "outputs", folders, sequences=1)
    extra = ["--class-offset", offset] if offset else []
    code, err = run(capsys, test_scamp_outputs.main, "-c", config, "--weights", weights, "-sd", outputs,
                    "--split-file", "none", "--out", tmp_path / "out", *extra)
    if labels is None:
        assert code == 2
        assert err.startswith(f"error: class folders under {outputs} are numbered 1..8, without 0 and without 9: they "
                              "may be 0-based with class 0 missing or 1-based (label = number - 1)")
        assert err.rstrip().endswith("Say which with --class-offset 0 or --class-offset 1")
        assert not (tmp_path / "out").exists()
    else:
        assert code == 0, err
        got = [p["label"] for p in json.loads((tmp_path / "out" / "metrics.json").read_text())["all"]["predictions"]]
        assert [min(got), max(got)] == labels
