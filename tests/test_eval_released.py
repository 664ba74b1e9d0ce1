"""train.py --eval-only on clip folders rebuilt from the release's stored binarised input frames."""
import json
import shutil

import numpy as np

import train


def clip_folder_from_intermediates(src, dst, clips):
    for clip in clips:
        for frame in range(16):
            target = dst / clip / f"{frame}.BMP"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / clip / str(frame) / "0_binarized_x.BMP", target)


def test_cam_noise_eval_only_predicts_the_classes_of_expected_logits(reference, tmp_path):
    expected = json.loads((reference / "expected.json").read_text())["cam_noise_logits_noise_off_from_0_binarized_x"]
    clip_folder_from_intermediates(reference / "intermediates/cam10", tmp_path / "cam", expected)
    code = train.main(["-c", str(reference / "configs/Cambridge/1cnnPixelRNN/test_cam.json"), "--eval-only",
                       "--weights", str(reference / "checkpoints/cam_noise.pt"), "--data-root", str(tmp_path / "cam"),
                       "--split", "all", "--noise", "off", "--out", str(tmp_path / "out"),
                       "--set", f"data.cache_dir={tmp_path / 'cache'}"])
    assert code == 0
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert metrics["total"] == 3 and metrics["part"] == "all"
    got = {p["sequence"]: (p["label"], p["predicted"]) for p in metrics["predictions"]}
    for clip, want in expected.items():
        assert got[clip.split("/")[1]] == (want["label"], int(np.argmax(want["logits"]))), clip


def test_lips_eval_only_predicts_the_label(reference, tmp_path):
    clip_folder_from_intermediates(reference / "intermediates/lip10", tmp_path / "lips", ["2/Don1"])
    code = train.main(["-c", str(reference / "configs/Lips/1cnnPixelRNN/test_lips.json"), "--eval-only",
                       "--weights", str(reference / "checkpoints/lips_no_noise.pt"), "--data-root",
                       str(tmp_path / "lips"), "--split", "all", "--out", str(tmp_path / "out"),
                       "--set", "data.cache=false"])
    assert code == 0
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert metrics["predictions"] == [{"sequence": "2/Don1", "label": 1, "predicted": 1}]
