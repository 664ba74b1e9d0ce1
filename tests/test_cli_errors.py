"""Bad input to train.py: a clear message naming what is wrong, exit status 2, nothing written."""
import json
import re
import shutil

import pytest

import train


def run(capsys, *argv):
    code = train.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def write_config(tmp_path, obj):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("config,message", [
    ({"train": {"epochs": 1}, "modle": {}}, "unknown config key 'modle'"),
    ({"train": {"batch_size": "8"}}, "'train.batch_size'.* must be an integer >= 1, got '8'"),
])
def test_bad_config_is_named_and_nothing_is_written(tmp_path, capsys, config, message):
    code, err = run(capsys, "-c", write_config(tmp_path, config), "--out", tmp_path / "run")
    assert code == 2 and err.startswith("error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()


def test_missing_data_root_prints_layout_and_download_page(tmp_path, capsys):
    path = write_config(tmp_path, {"data": {"dataset": "cambridge"}})
    code, err = run(capsys, "-c", path, "--data-root", tmp_path / "nowhere", "--out", tmp_path / "run")
    assert code == 2
    assert str(tmp_path / "nowhere") in err and "Set{1..5}" in err and "https://labicvl.github.io/ges_db.htm" in err
    assert not (tmp_path / "run").exists()


def test_checkpoint_of_another_architecture_is_refused(reference, tmp_path, capsys):
    root = tmp_path / "clips" / "1" / "Set1_1_0000"
    root.mkdir(parents=True)
    for t in range(16):
        shutil.copy(reference / "intermediates/cam10/1/Set1_1_0002" / str(t) / "0_binarized_x.BMP", root / f"{t}.BMP")
    code, err = run(capsys, "-c", reference / "configs/Lips/1cnnPixelRNN/test_lips.json", "--eval-only",
                    "--weights", reference / "checkpoints/cam_noise.pt", "--data-root", tmp_path / "clips",
                    "--set", "data.dataset=cambridge", "--set", "data.cache=false", "--part", "all",
                    "--out", tmp_path / "out")
    assert code == 2 and "another architecture" in err and "cam_noise.pt" in err
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite_a_run(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"")
    code, err = run(capsys, "-c", write_config(tmp_path, {}), "--out", tmp_path / "run")
    assert code == 2 and "already holds a run" in err and "-r " in err


@pytest.mark.parametrize("tool", ["train", "print_intermediates"])
def test_the_release_split_flag_sets_the_part_with_a_note(tool, capsys):
    """--split is the release's name of --part (the part of the dataset to evaluate); data.split is the rule."""
    module = __import__(tool)
    base = [] if tool == "train" else ["-c", "c.json", "-sd", "out"]
    args = module.parse_args([*base, "--split", "val"])
    assert args.part == "val"
    assert capsys.readouterr().err == "note: --split is the release's name of --part (still accepted); use --part\n"
    assert module.parse_args([*base, "--part", "all"]).part == "all" and capsys.readouterr().err == ""
    with pytest.raises(SystemExit):
        module.parse_args([*base, "--split", "dev"])
    assert "argument --split: invalid choice: 'dev' (choose from" in capsys.readouterr().err
