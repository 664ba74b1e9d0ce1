"""Preprocessing, frame sampling and per-clip augmentation."""
import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF

from clip_data_fixtures import data_config, write_sequence
from data_utils import build_datasets
from data_utils.transforms import (AugmentationDraw, ClipAugmentation, get_preprocessing,
                                   sample_frame_indices, translate_clip)


def random_rgb(seed, height=30, width=40):
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_release_preprocessing_matches_torchvision_chain_bit_for_bit():
    rgb = random_rgb(0, 240, 320)
    tensor = T.ToTensor()(rgb)
    tensor = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(tensor)
    gray = 0.299 * tensor[0] + 0.587 * tensor[1] + 0.114 * tensor[2]
    expected = TF.resize(gray[None], [64, 64], antialias=False)[0]
    result = get_preprocessing("release")(rgb, 64)
    assert result.dtype == torch.float32 and result.shape == (64, 64)
    assert torch.equal(result, expected)


def test_release_and_unit_values_of_uniform_frames():
    release, unit = get_preprocessing("release"), get_preprocessing("unit")
    for level in (0, 117, 118, 255):
        rgb = np.full((8, 8, 3), level, dtype=np.uint8)
        i = level / 255
        expected = sum(w * (i - m) / s for w, m, s in
                       zip((0.299, 0.587, 0.114), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
        assert release(rgb, 4) == pytest.approx(torch.full((4, 4), expected), abs=1e-5)
        assert release.intensity_scale * i + release.intensity_offset == pytest.approx(expected)
        assert unit(rgb, 4) == pytest.approx(torch.full((4, 4), i - 0.5), abs=1e-6)
    # The sign threshold of the release input sits at a gray level of about 0.459.
    assert torch.all(release(np.full((2, 2, 3), 117, np.uint8), 2) < 0)
    assert torch.all(release(np.full((2, 2, 3), 118, np.uint8), 2) > 0)


def test_preprocessing_rejects_non_rgb_input():
    with pytest.raises(ValueError, match="expects an H x W x 3 uint8 RGB frame"):
        get_preprocessing("unit")(np.zeros((4, 4), np.uint8), 4)


def test_evaluation_sampling_is_centred_and_even():
    assert sample_frame_indices(32, 16).tolist() == list(range(1, 32, 2))
    assert sample_frame_indices(16, 16).tolist() == list(range(16))
    assert sample_frame_indices(40, 4).tolist() == [5, 15, 25, 35]
    assert sample_frame_indices(5, 8).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]


def test_training_sampling_has_a_random_phase_within_one_stride():
    seen = set()
    for seed in range(20):
        indices = sample_frame_indices(40, 4, np.random.default_rng(seed))
        assert indices.tolist() == [indices[0] + 10 * k for k in range(4)]
        assert 0 <= indices[0] < 10
        seen.add(int(indices[0]))
    assert len(seen) > 3
    assert sample_frame_indices(4, 4, np.random.default_rng(0)).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="at least one frame"):
        sample_frame_indices(0, 4)


def test_translation_fills_with_zero_or_edge():
    clip = torch.arange(1, 10, dtype=torch.float32).view(1, 1, 3, 3)
    shifted = translate_clip(clip, 1, 0, "zero")[0, 0]
    assert shifted.tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
    shifted = translate_clip(clip, -1, 1, "edge")[0, 0]
    assert shifted.tolist() == [[2, 3, 3], [2, 3, 3], [5, 6, 6]]


def test_black_fill_is_the_value_of_a_black_pixel_after_preprocessing():
    # The release's RandomAffine filled the frame with 0 (black) before normalising: the border binarises to -1.
    release = get_preprocessing("release")
    black = -(0.299 * 0.485 / 0.229 + 0.587 * 0.456 / 0.224 + 0.114 * 0.406 / 0.225)  # -2.03392...
    assert torch.allclose(release(np.zeros((4, 4, 3), dtype=np.uint8), 2), torch.full((2, 2), black), atol=1e-6)
    clip = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).view(1, 1, 3, 3)
    shifted = translate_clip(clip, 1, -1, "black", release)[0, 0]
    assert torch.allclose(shifted, torch.tensor([[black, 4, 5], [black, 7, 8], [black, black, black]]))
    assert torch.sign(shifted).tolist() == [[-1, 1, 1], [-1, 1, 1], [-1, -1, -1]]
    assert translate_clip(clip, 1, -1, "zero")[0, 0].tolist() == [[0, 4, 5], [0, 7, 8], [0, 0, 0]]
    unit_black = translate_clip(clip, 0, 1, "black", get_preprocessing("unit"))[0, 0]  # unit: black is -0.5
    assert unit_black.tolist() == [[-0.5, -0.5, -0.5], [1, 2, 3], [4, 5, 6]]
    out = ClipAugmentation(translate=1, fill="black").apply(clip, AugmentationDraw(shift_x=-1), release)
    assert torch.allclose(out[0, 0], torch.tensor([[2, 3, black], [5, 6, black], [8, 9, black]]))
    with pytest.raises(ValueError, match="fill 'black' needs the preprocessing"):
        translate_clip(clip, 1, 0, "black")


def test_short_clips_repeat_the_last_frame_or_stretch_with_random_duplicates():
    # repeat_last: played once, then the last frame held
    assert sample_frame_indices(5, 8, None, "release").tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    # stretch_random in evaluation: Python's random.Random(2023).shuffle(range(10)) = [1, 0, 3, 8, 5, 4, 2, 9, 7, 6];
    # its first 6 are duplicated next to their originals: 10 frames -> 16
    assert sample_frame_indices(10, 16, None, "release", "stretch_random").tolist() == \
        [0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 8, 9]
    # 5 frames: shuffle [0, 2, 1, 4, 3], all 5 duplicated -> 10 frames [0,0,1,1,2,2,3,3,4,4], then the release's
    # stride floor(k * 10 / 16) = [0,0,1,1,2,3,3,4,5,5,6,6,7,8,8,9] over them
    assert sample_frame_indices(5, 16, None, "release", "stretch_random").tolist() == \
        [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    # training: the duplicates are drawn from the generator: always each frame once or twice, in order
    drawn = set()
    for seed in range(20):
        indices = sample_frame_indices(10, 16, np.random.default_rng(seed), "release", "stretch_random")
        counts = np.bincount(indices, minlength=10)
        assert (np.diff(indices) >= 0).all() and set(counts.tolist()) == {1, 2} and counts.sum() == 16
        drawn.add(tuple(np.flatnonzero(counts == 2)))
    assert len(drawn) > 10
    # a clip as long as timesteps or longer is not touched by the policy
    assert sample_frame_indices(16, 16, None, "release", "stretch_random").tolist() == list(range(16))
    with pytest.raises(ValueError, match=r"short-clip policy 'loop' is not one of \('repeat_last', 'stretch_random'\)"):
        sample_frame_indices(5, 8, None, "release", "loop")


def test_a_short_hand_made_clip_is_stretched_by_the_dataset(tmp_path):
    # 5 frames of gray levels 0, 60, 120, 180, 240: the evaluation clip holds them as the stretch says
    folder = tmp_path / "a" / "short"
    folder.mkdir(parents=True)
    for index in range(5):
        cv2.imwrite(str(folder / f"{index:04d}.png"), np.full((8, 8, 3), 60 * index, dtype=np.uint8))
    write_sequence(tmp_path / "b" / "long", "long", 16, extension=".png")
    expected_levels = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    for policy, levels in (("stretch_random", expected_levels), ("repeat_last", [0, 1, 2, 3, 4] + [4] * 11)):
        cfg = data_config("clip_folder", tmp_path, timesteps=16, preprocessing="unit", frame_sampling="release", frame_size=4,
                          short_clips=policy)
        with pytest.warns(UserWarning, match=f"data.short_clips '{policy}'"):
            clips = build_datasets(cfg, parts=("all",))["all"]
        clip = clips[clips.names.index("a/short")][0]
        expected = torch.tensor([60 * level / 255 - 0.5 for level in levels]).view(16, 1, 1, 1).expand(16, 1, 4, 4)
        assert clip.shape == (16, 1, 4, 4) and torch.allclose(clip, expected, atol=1e-6)


def test_one_draw_applies_identically_to_every_frame():
    frames = torch.randn(5, 1, 8, 8)
    augmentation = ClipAugmentation(translate=2, hflip=True)
    draw = AugmentationDraw(shift_x=2, shift_y=-1, flip=True)
    out = augmentation.apply(frames, draw, get_preprocessing("release"))
    for t in range(5):
        expected = translate_clip(torch.flip(frames[t:t + 1], dims=(-1,)), 2, -1, "zero")
        assert torch.equal(out[t:t + 1], expected)


def test_brightness_scales_intensity_and_clips():
    unit = get_preprocessing("unit")
    clip = torch.tensor([-0.5, -0.25, 0.0, 0.4]).view(1, 1, 2, 2)
    out = ClipAugmentation(brightness=0.5).apply(clip, AugmentationDraw(brightness_factor=1.5),
                                                 unit)
    assert out.flatten().tolist() == pytest.approx([-0.5, -0.125, 0.25, 0.5])


def test_dataset_translation_is_one_shift_per_clip_and_training_only(tmp_path):
    # Every frame of the clip identical: any per-frame jitter would make frames differ.
    folder = tmp_path / "a" / "still"
    write_sequence(folder, "still", 1, extension=".png")
    for index in range(1, 6):
        (folder / f"{index:04d}.png").write_bytes((folder / "0000.png").read_bytes())
    write_sequence(tmp_path / "b" / "other", "other", 6, extension=".png")
    cfg = data_config("clip_folder", tmp_path, timesteps=6, preprocessing="unit",
                      augment={"translate": 3}, split_fractions={"train": 1.0, "val": 0.0, "test": 0.0})
    train = build_datasets(cfg, parts=("train",))["train"]
    plain = build_datasets(cfg, parts=("all",))["all"]
    index = train.names.index("a/still")
    reference = plain[plain.names.index("a/still")][0]
    shifts = set()
    for epoch in range(8):
        train.set_epoch(epoch)
        clip = train[index][0]
        assert all(torch.equal(clip[t], clip[0]) for t in range(6))
        matches = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
                   if torch.equal(clip, translate_clip(reference, dx, dy, "zero"))]
        assert len(matches) >= 1
        shifts.add(matches[0])
    assert len(shifts) > 1
    assert torch.equal(plain[plain.names.index("a/still")][0], reference)


def test_augmentation_config_is_validated():
    assert ClipAugmentation.from_config({"translate": 4, "hflip": True}) == \
        ClipAugmentation(translate=4, hflip=True)
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['rotate'\] in data.augment"):
        ClipAugmentation.from_config({"rotate": 10})
    with pytest.raises(ValueError, match="translate must be a non-negative integer"):
        ClipAugmentation(translate=-1)
    with pytest.raises(ValueError, match=r"brightness must be a number in \[0, 1\)"):
        ClipAugmentation(brightness=1.5)
    with pytest.raises(ValueError, match=r"fill must be one of \('zero', 'black', 'edge'\)"):
        ClipAugmentation(fill="mirror")


def test_end_sampling_ends_on_the_last_frame_in_training_and_evaluation():
    import numpy as np
    from data_utils.transforms import sample_frame_indices
    assert sample_frame_indices(30, 1, None, "end").tolist() == [29]
    assert sample_frame_indices(30, 1, np.random.default_rng(0), "end").tolist() == [29]
    end = sample_frame_indices(30, 16, None, "end")
    assert end[-1] == 29 and len(set(end.tolist())) == 16 and (np.diff(end) > 0).all()
    assert sample_frame_indices(30, 1).tolist() == [15]  # spread: centred


def test_release_frame_sampling_strides_with_a_random_offset_and_ends_on_the_last_frame_in_evaluation():
    base = [0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32, 35, 37]  # floor(k * 40 / 16)
    assert sample_frame_indices(40, 16, None, "release").tolist() == [i + 2 for i in base]  # 39 = the last frame
    offsets = {int(sample_frame_indices(40, 16, np.random.default_rng(seed), "release")[0]) for seed in range(40)}
    assert offsets == {0, 1, 2}


def test_per_frame_augmentation_shifts_every_frame_by_its_own_draw():
    clip = torch.zeros(8, 1, 16, 16)
    clip[:, :, 8, 8] = 1.0  # one bright pixel, in the same place in every frame
    preprocessing = get_preprocessing("unit")
    moved = ClipAugmentation(translate=3, per_frame=True).augment(clip, np.random.default_rng(0), preprocessing)
    positions = {tuple(torch.nonzero(frame[0])[0].tolist()) for frame in moved}
    assert len(positions) > 1  # the pixel jitters within the clip
    still = ClipAugmentation(translate=3).augment(clip, np.random.default_rng(0), preprocessing)
    assert len({tuple(torch.nonzero(frame[0])[0].tolist()) for frame in still}) == 1
