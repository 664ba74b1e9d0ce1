"""Tests of the embedded synthetic datasets (data_utils/synthetic.py)."""
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_utils import synthetic
from data_utils.synthetic import (
    BINARISATION_GRAY,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    GESTURE_MOTIONS,
    GESTURE_SHAPES,
    ILLUMINATION_SETS,
    MARKER_NAME,
    SYNTHETIC_DATASETS,
    ensure_synthetic,
    render_gesture_clip,
)


def _all_files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"unreadable frame {path}"
    return image


def _pooled_binary_map(frame: np.ndarray) -> np.ndarray:
    """What the encoder's first stage sees, coarsely: 64x64 bilinear, binarised, 4x4 mean -> 16x16."""
    resized = cv2.resize(frame.astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR)
    binary = (resized > BINARISATION_GRAY).astype(np.float32)
    return binary.reshape(16, 4, 16, 4).mean(axis=(1, 3)).ravel()


def _nearest_centroid_loo_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-centroid classifier."""
    classes = np.unique(labels)
    correct = 0
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        centroids = np.stack([features[keep & (labels == c)].mean(axis=0) for c in classes])
        correct += classes[np.argmin(((centroids - features[i]) ** 2).sum(axis=1))] == labels[i]
    return correct / len(labels)


def _least_squares_cv_accuracy(features: np.ndarray, labels: np.ndarray, folds: int = 5) -> float:
    """Cross-validated accuracy of a ridge least-squares linear classifier (one-hot targets)."""
    classes = np.unique(labels)
    order = np.arange(len(labels))
    correct = 0
    for fold in range(folds):
        test = order % folds == fold
        design = np.c_[features[~test], np.ones((~test).sum())]
        targets = (labels[~test, None] == classes).astype(np.float64)
        weights = np.linalg.solve(design.T @ design + np.eye(design.shape[1]), design.T @ targets)
        scores = np.c_[features[test], np.ones(test.sum())] @ weights
        correct += (classes[scores.argmax(axis=1)] == labels[test]).sum()
    return correct / len(labels)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
def test_binarisation_level_matches_imagenet_normalisation():
    # The gray level where sum_c w_c (v - mean_c) / std_c crosses zero.
    v = BINARISATION_GRAY / 255.0
    mean, std, weights = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (0.299, 0.587, 0.114)
    assert sum(w * (v - m) / s for w, m, s in zip(weights, mean, std)) == pytest.approx(0.0, abs=1e-12)
    assert 116.5 < BINARISATION_GRAY < 117.5


def test_unknown_name_lists_accepted_names(tmp_path):
    with pytest.raises(ValueError, match="synthetic_gestures.*synthetic_lips"):
        ensure_synthetic("synthetic_cats", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("clips", [0, -1, 2.5, True])
def test_bad_clips_per_class_is_rejected(tmp_path, clips):
    with pytest.raises(ValueError, match="clips_per_class"):
        ensure_synthetic("synthetic_lips", tmp_path / "x", clips_per_class=clips)


def test_bad_seed_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        ensure_synthetic("synthetic_lips", tmp_path / "x", clips_per_class=1, seed=-3)


def test_root_that_is_a_file_is_rejected(tmp_path):
    target = tmp_path / "file"
    target.write_text("not a folder")
    with pytest.raises(ValueError, match="not a folder"):
        ensure_synthetic("synthetic_lips", target, clips_per_class=1)
    assert target.read_text() == "not a folder"


def test_foreign_non_empty_folder_is_left_untouched(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="without synthetic.json"):
        ensure_synthetic("synthetic_lips", foreign, clips_per_class=1)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_render_arguments_are_checked():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="accepted: flat, spread, fist"):
        render_gesture_clip("claw", "shrink", 1, rng)
    with pytest.raises(ValueError, match="accepted: move_left, move_right, shrink"):
        render_gesture_clip("fist", "wave", 1, rng)
    with pytest.raises(ValueError, match="1..5"):
        render_gesture_clip("fist", "shrink", 6, rng)


# ---------------------------------------------------------------------------------------------
# Layout, marker, determinism, regeneration, atomicity
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_gestures(tmp_path_factory):
    return ensure_synthetic("synthetic_gestures", tmp_path_factory.mktemp("gestures") / "data", 2, seed=3)


def test_gesture_layout_counts_and_frames(small_gestures):
    root = small_gestures
    assert sorted(p.name for p in root.iterdir()) == [str(c) for c in range(1, 10)] + [MARKER_NAME]
    for class_folder in range(1, 10):
        sequences = sorted(p.name for p in (root / str(class_folder)).iterdir())
        assert sequences == [f"Set1_{class_folder}_0000", f"Set2_{class_folder}_0001"]
        for sequence in sequences:
            frames = sorted(p.name for p in (root / str(class_folder) / sequence).iterdir())
            assert 20 <= len(frames) <= 40
            assert frames == [f"{i:04d}.png" for i in range(len(frames))]
            image = _read_gray(root / str(class_folder) / sequence / frames[0])
            assert image.shape == (FRAME_HEIGHT, FRAME_WIDTH) == (96, 128)
            assert image.dtype == np.uint8


def test_gesture_marker_records_parameters_and_classes(small_gestures):
    marker = json.loads((small_gestures / MARKER_NAME).read_text())
    assert marker["name"] == "synthetic_gestures"
    assert marker["clips_per_class"] == 2 and marker["seed"] == 3
    assert marker["version"] == SYNTHETIC_DATASETS["synthetic_gestures"].version
    assert set(marker["classes"]) == {str(c) for c in range(1, 10)}
    for shape_index, shape in enumerate(GESTURE_SHAPES):
        for motion_index, motion in enumerate(GESTURE_MOTIONS):
            entry = marker["classes"][str(shape_index * 3 + motion_index + 1)]
            assert (entry["shape"], entry["motion"]) == (shape, motion)


def test_lip_layout_counts_and_frames(tmp_path):
    root = ensure_synthetic("synthetic_lips", tmp_path / "lips", clips_per_class=3)
    marker = json.loads((root / MARKER_NAME).read_text())
    assert marker["name"] == "synthetic_lips" and marker["clips_per_class"] == 3
    assert set(marker["classes"]) == {"1", "2", "3", "4"}
    assert marker["classes"]["2"]["visemes"] == ["round", "wide"]
    assert marker["classes"]["4"]["visemes"] == ["round", "open", "wide"]
    for class_folder in ("1", "2", "3", "4"):
        sequences = sorted(p.name for p in (root / class_folder).iterdir())
        assert sequences == ["Subject01_1", "Subject02_1", "Subject03_1"]
        frames = sorted((root / class_folder / sequences[0]).iterdir())
        assert 20 <= len(frames) <= 40
        assert _read_gray(frames[-1]).shape == (96, 128)


def test_lip_sequences_cycle_through_the_subjects_then_repeat():
    names = [name for name, _ in synthetic._lip_clips("3", synthetic._LIP_SUBJECTS + 2,
                                                      lambda *key: np.random.default_rng([0, 2, *key]))]
    assert names[:2] == ["Subject01_1", "Subject02_1"] and names[95] == "Subject96_1"
    assert names[96:] == ["Subject01_2", "Subject02_2"]


def test_default_clip_counts_per_dataset():
    assert SYNTHETIC_DATASETS["synthetic_gestures"].default_clips_per_class == 100
    assert SYNTHETIC_DATASETS["synthetic_lips"].default_clips_per_class == 192  # 96 subjects x 2


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path, small_gestures):
    again = _all_files(ensure_synthetic("synthetic_gestures", tmp_path / "again", 2, seed=3))
    assert again == _all_files(small_gestures)
    other = _all_files(ensure_synthetic("synthetic_gestures", tmp_path / "other", 2, seed=4))
    frames = [name for name in again if name.endswith(".png")]
    differing = [name for name in frames if name in other and other[name] != again[name]]
    assert len(differing) == len([name for name in frames if name in other]) > 0


def test_existing_matching_dataset_is_reused_and_changed_parameters_regenerate(tmp_path):
    root = tmp_path / "lips"
    ensure_synthetic("synthetic_lips", root, clips_per_class=2, seed=1)
    first_clip = _all_files(root / "1" / "Subject01_1")
    sentinel = root / "1" / "sentinel.txt"
    sentinel.write_text("untouched while parameters match")

    assert ensure_synthetic("synthetic_lips", str(root), clips_per_class=2, seed=1) == root
    assert sentinel.exists()

    ensure_synthetic("synthetic_lips", root, clips_per_class=3, seed=1)
    assert not sentinel.exists()
    assert len(list((root / "1").iterdir())) == 3
    assert json.loads((root / MARKER_NAME).read_text())["clips_per_class"] == 3
    # Clips are keyed by (seed, class, index): growing the dataset leaves earlier clips unchanged.
    assert _all_files(root / "1" / "Subject01_1") == first_clip
    assert [p.name for p in tmp_path.iterdir()] == ["lips"]  # no stale or staging siblings left


def test_other_generator_version_regenerates(tmp_path):
    root = tmp_path / "lips"
    ensure_synthetic("synthetic_lips", root, clips_per_class=1)
    marker_path = root / MARKER_NAME
    marker = json.loads(marker_path.read_text())
    original = marker_path.read_bytes()
    marker["version"] = -1
    marker_path.write_text(json.dumps(marker))
    (root / "1" / "leftover.txt").write_text("from the old version")
    ensure_synthetic("synthetic_lips", root, clips_per_class=1)
    assert marker_path.read_bytes() == original
    assert not (root / "1" / "leftover.txt").exists()


def test_empty_existing_folder_is_filled(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    ensure_synthetic("synthetic_lips", root, clips_per_class=1)
    assert sorted(p.name for p in root.iterdir()) == ["1", "2", "3", "4", MARKER_NAME]


class _SimulatedCrash(RuntimeError):
    pass


def _crash_after(monkeypatch, frames_written_before_crash: int) -> None:
    real_write = synthetic._write_png
    count = {"frames": 0}

    def failing_write(path, frame):
        if count["frames"] == frames_written_before_crash:
            raise _SimulatedCrash("disk full (simulated)")
        count["frames"] += 1
        real_write(path, frame)

    monkeypatch.setattr(synthetic, "_write_png", failing_write)


def test_failed_generation_leaves_no_partial_dataset(tmp_path, monkeypatch):
    _crash_after(monkeypatch, 50)
    with pytest.raises(_SimulatedCrash):
        ensure_synthetic("synthetic_gestures", tmp_path / "data", clips_per_class=2)
    assert list(tmp_path.iterdir()) == []


def test_failed_regeneration_keeps_the_previous_dataset(tmp_path, monkeypatch):
    root = ensure_synthetic("synthetic_lips", tmp_path / "lips", clips_per_class=1, seed=0)
    before = _all_files(root)
    _crash_after(monkeypatch, 30)
    with pytest.raises(_SimulatedCrash):
        ensure_synthetic("synthetic_lips", root, clips_per_class=1, seed=5)
    assert _all_files(root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["lips"]


def test_command_line_generates_and_rejects_unknown_names(tmp_path, capsys):
    assert synthetic.main(["synthetic_lips", str(tmp_path / "cli"), "--clips-per-class", "1", "--seed", "2"]) == 0
    marker = json.loads((tmp_path / "cli" / MARKER_NAME).read_text())
    assert (marker["clips_per_class"], marker["seed"]) == (1, 2)
    assert "4 classes x 1 clips" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        synthetic.main(["synthetic_dogs", str(tmp_path / "bad")])
    assert "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


# ---------------------------------------------------------------------------------------------
# What the model's input binarisation leaves of the scenes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("illumination_set", range(1, len(ILLUMINATION_SETS) + 1))
def test_hand_is_on_and_background_mostly_off_after_binarisation(illumination_set):
    hand, background = [], []
    for k in range(6):
        shape, motion = GESTURE_SHAPES[k % 3], GESTURE_MOTIONS[k // 2 % 3]
        rng = np.random.default_rng([11, illumination_set, k])
        clip, coverage = render_gesture_clip(shape, motion, illumination_set, rng, return_hand_coverage=True)
        hand.append(clip[coverage >= 1.0])
        background.append(clip[coverage <= 0.0])
    hand, background = np.concatenate(hand), np.concatenate(background)
    # Measured: hand minimum 155..191 across the sets; the margin absorbs the sensor noise.
    assert hand.min() > BINARISATION_GRAY + 25
    below = (background <= BINARISATION_GRAY).mean()
    assert 0.9 < below < 1.0  # mostly off, with some bright clutter (measured ~0.985)


def test_hand_height_is_about_a_third_of_the_frame_at_the_end():
    heights = []
    for k in range(12):
        clip, coverage = render_gesture_clip("flat", GESTURE_MOTIONS[k % 3], 1, np.random.default_rng([7, k]),
                                             return_hand_coverage=True)
        rows = np.flatnonzero(coverage[-1].max(axis=1) >= 0.5)
        heights.append(rows[-1] - rows[0] + 1)
    assert 0.28 * FRAME_HEIGHT < min(heights) and max(heights) < 0.5 * FRAME_HEIGHT


def test_motion_span_and_shrink_factor():
    """Moving hands travel 25-30 % of the width; a shrinking hand ends at ~0.55-0.6 of its size."""
    for motion, sign in (("move_left", -1), ("move_right", 1)):
        clip, coverage = render_gesture_clip("fist", motion, 1, np.random.default_rng(5), return_hand_coverage=True)
        columns = np.arange(FRAME_WIDTH)
        centre = (coverage.sum(axis=1) * columns).sum(axis=1) / coverage.sum(axis=(1, 2))
        travel = (centre[-1] - centre[0]) * sign / FRAME_WIDTH
        assert 0.23 < travel < 0.32
        assert abs(centre[-1] - FRAME_WIDTH / 2) < 0.06 * FRAME_WIDTH  # ends near the centre
    clip, coverage = render_gesture_clip("flat", "shrink", 1, np.random.default_rng(5), return_hand_coverage=True)
    area_ratio = coverage[-1].sum() / coverage[0].sum()
    assert 0.55 ** 2 * 0.9 < area_ratio < 0.6 ** 2 * 1.1


# ---------------------------------------------------------------------------------------------
# Temporal necessity: the motion is invisible in the last frame, obvious across frames
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gesture_features(tmp_path_factory):
    """Pooled binary maps of 4 evenly spaced frames (first ... last) of 20 clips per class."""
    root = ensure_synthetic("synthetic_gestures", tmp_path_factory.mktemp("necessity") / "data", 20, seed=0)
    features, labels = [], []
    for class_folder in range(1, 10):
        for sequence in sorted((root / str(class_folder)).iterdir()):
            frames = sorted(sequence.glob("*.png"))
            picks = np.linspace(0, len(frames) - 1, 4).round().astype(int)
            features.append([_pooled_binary_map(_read_gray(frames[i])) for i in picks])
            labels.append(class_folder - 1)
    return np.array(features), np.array(labels)


@pytest.mark.parametrize("shape_index", range(3))
def test_motion_of_one_shape_needs_more_than_the_last_frame(gesture_features, shape_index):
    features, labels = gesture_features
    keep = labels // 3 == shape_index
    motion = labels[keep] % 3
    clips = features[keep]
    last, change, few = clips[:, -1], clips[:, -1] - clips[:, 0], clips.reshape(len(clips), -1)
    # Measured (seed 0, 20 clips per class): last frame 0.32-0.42, change and 4 frames 1.00.
    assert _nearest_centroid_loo_accuracy(last, motion) < 0.55
    assert _least_squares_cv_accuracy(last, motion) < 0.55
    assert _nearest_centroid_loo_accuracy(change, motion) > 0.8
    assert _least_squares_cv_accuracy(change, motion) > 0.8
    assert _nearest_centroid_loo_accuracy(few, motion) > 0.8


def test_shape_is_readable_from_the_last_frame(gesture_features):
    features, labels = gesture_features
    # Measured: 0.85 (chance 1/3): the shapes stay distinct after binarisation and pooling.
    assert _nearest_centroid_loo_accuracy(features[:, -1], labels // 3) > 0.7


# ---------------------------------------------------------------------------------------------
# Lip words: which visemes a clip passes through; no single frame tells the word
# ---------------------------------------------------------------------------------------------
def _visited(mouth: np.ndarray) -> set:
    """Visemes a mouth track (frames, 4) reaches, from thresholds halfway between rest and each."""
    half_width, opening = mouth[:, 0], mouth[:, 1]
    return ({"round"} if half_width.min() < 0.6 else set()) | ({"wide"} if half_width.max() > 1.25 else set()) \
        | ({"open"} if opening.max() > 0.5 else set())


def test_each_word_visits_its_visemes_in_a_random_order_and_ends_at_rest():
    first = {}
    for class_folder, visemes in synthetic.LIP_WORDS.items():
        for k in range(8):
            clip, mouth = synthetic.render_lip_clip(visemes, k % 5 + 1, np.random.default_rng([4, int(class_folder), k]),
                                                    np.random.default_rng([4, 0, k]), return_mouth=True)
            assert len(clip) == len(mouth) and _visited(mouth) == set(visemes), (class_folder, k)
            rest = np.array(synthetic.LIP_VISEMES["rest"])
            assert np.allclose(mouth[0], rest, rtol=0.1) and np.allclose(mouth[-1], rest, rtol=0.1)
            # The last ~12 % of the clip is at rest: the final frames carry no class information.
            tail = mouth[int(np.ceil(0.88 * (len(mouth) - 1))):]
            assert np.allclose(tail, rest, rtol=0.1), (class_folder, k)
            first.setdefault(class_folder, set()).add(
                "round" if mouth[:, 0].argmin() < mouth[:, 0].argmax() else "other")
    assert all(len(order) == 2 for order in first.values())  # both orders occur in every word


def test_render_lip_arguments_are_checked():
    rng, subject = np.random.default_rng(0), np.random.default_rng(1)
    with pytest.raises(ValueError, match="round, wide, open"):
        synthetic.render_lip_clip(("round", "shout"), 1, rng, subject)
    with pytest.raises(ValueError, match="non-empty"):
        synthetic.render_lip_clip((), 1, rng, subject)
    with pytest.raises(ValueError, match="1..5"):
        synthetic.render_lip_clip(("round",), 0, rng, subject)


def test_lip_generation_is_deterministic(tmp_path):
    first = _all_files(ensure_synthetic("synthetic_lips", tmp_path / "a", clips_per_class=2, seed=7))
    assert first == _all_files(ensure_synthetic("synthetic_lips", tmp_path / "b", clips_per_class=2, seed=7))
    other = _all_files(ensure_synthetic("synthetic_lips", tmp_path / "c", clips_per_class=2, seed=8))
    frames = [name for name in first if name.endswith(".png") and name in other]
    assert frames and all(other[name] != first[name] for name in frames)


def _subject_cv_accuracy(features: np.ndarray, labels: np.ndarray, subjects: np.ndarray, folds: int = 4) -> float:
    """Ridge least-squares classifier, cross-validated over subjects (test subjects never trained on)."""
    features = features.reshape(len(features), -1)
    correct = 0
    for fold in range(folds):
        test = subjects % folds == fold
        design = np.c_[features[~test], np.ones((~test).sum())]
        targets = (labels[~test, None] == np.arange(4)).astype(np.float64)
        weights = np.linalg.solve(design.T @ design + np.eye(design.shape[1]), design.T @ targets)
        correct += ((np.c_[features[test], np.ones(test.sum())] @ weights).argmax(1) == labels[test]).sum()
    return correct / len(labels)


@pytest.fixture(scope="module")
def lip_features():
    """Pooled binary maps of the 16 frames the model samples ("end" sampling) of 48 subjects x 4 words."""
    maps, labels, subjects = [], [], []
    for class_folder, visemes in synthetic.LIP_WORDS.items():
        for subject in range(48):
            clip = synthetic.render_lip_clip(visemes, subject % 5 + 1, np.random.default_rng([9, int(class_folder), subject]),
                                             np.random.default_rng([9, 0, subject]))
            picks = np.ceil(np.arange(1, 17) * len(clip) / 16).astype(int) - 1
            maps.append([_pooled_binary_map(clip[i]) for i in picks])
            labels.append(int(class_folder) - 1)
            subjects.append(subject)
    return np.array(maps), np.array(labels), np.array(subjects)


def test_no_single_frame_tells_the_word(lip_features):
    maps, labels, subjects = lip_features
    per_position = [_subject_cv_accuracy(maps[:, k], labels, subjects) for k in range(16)]
    # Measured (48 subjects per word): last frame 0.24, positions 0.24-0.49 (chance 0.25; a frame
    # showing one viseme leaves three words, best guess ~3/8).
    assert per_position[-1] < 0.4
    assert max(per_position) < 0.55


def test_what_a_one_bit_latch_keeps_tells_the_word(lip_features):
    maps, labels, subjects = lip_features
    on = maps > 0.5
    # Per pooled cell: ever on, ever off, on now -- what set-once bits plus the last frame hold.
    latch = np.concatenate([on.any(axis=1), (~on).any(axis=1), on[:, -1]], axis=1).astype(np.float64)
    # Measured: 0.91 (a linear read-out of all 16 raw frames, which cannot take a union: 0.79).
    assert _subject_cv_accuracy(latch, labels, subjects) > 0.75
