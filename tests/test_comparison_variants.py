"""The comparison's two sets: configs/<dataset>/comparison/ is the paper's (noise-free in-pixel models, the
release's plain-CNN recipe of cam.json on Cambridge), comparison_hardware/ the noise-trained hardware-prototype
variant of each in-pixel model. Every config of both loads and runs a tiny forward; the paper recipe's input
threshold starts where the release's CNN_noise_lip started."""
import pytest
import torch

from model_utils import build_model
from training_utils.config import load_config
from training_utils.paths import REPO_ROOT

DATASET_FOLDERS = ("Cambridge", "Lips")
ALL_CONFIGS = sorted(REPO_ROOT.glob("configs/*/comparison*/*.json"))


def configs(folder: str, subfolder: str) -> dict:
    return {path.stem: load_config(path) for path in sorted((REPO_ROOT / "configs" / folder / subfolder).glob("*.json"))}


def test_the_comparison_folders_are_the_two_sets():
    assert sorted({path.parent.name for path in ALL_CONFIGS}) == ["comparison", "comparison_hardware"]
    assert sorted({path.parent.parent.name for path in ALL_CONFIGS}) == list(DATASET_FOLDERS)


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}")
def test_every_comparison_config_loads_and_runs_a_tiny_forward(path):
    cfg = load_config(path)
    assert cfg["recipe"] == "paper" and cfg["data"]["timesteps"] == 16
    tiny = load_config(path, ["data.frame_size=16", "data.timesteps=4"])
    torch.manual_seed(0)
    model = build_model(tiny, 4).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 4, 1, 16, 16))
    assert logits.shape == (2, 4) and torch.isfinite(logits).all()


@pytest.mark.parametrize("folder", DATASET_FOLDERS)
def test_the_paper_set_is_noise_free_and_the_hardware_set_noise_trained(folder):
    paper, hardware = configs(folder, "comparison"), configs(folder, "comparison_hardware")
    in_pixel = {name for name, cfg in paper.items() if cfg["model"]["encoder"]["type"] != "frames"}
    assert set(hardware) == in_pixel and len(in_pixel) == 11
    for name in in_pixel:
        plain, noisy = paper[name], hardware[name]
        assert plain["model"]["encoder"]["noise_std"] == 0.0 and not plain["model"]["encoder"]["input_threshold"]
        assert noisy["model"]["encoder"]["noise_std"] == 0.6, name
        assert noisy["model"]["encoder"]["input_threshold"] is (folder == "Lips"), name
        assert noisy["name"] == plain["name"] + "_hardware"
        assert plain["noise"] == noisy["noise"] == {"eval": True, "selection": True}  # the paper recipe's
    for name in ("pixelrnn", "two_layer_cnn_pixelrnn"):
        assert paper[name]["model"]["cell"] == {**paper[name]["model"]["cell"], "learned_threshold": False,
                                                "gate_noise_std": 0.0, "output_noise_std": 0.0}
        assert hardware[name]["model"]["cell"]["learned_threshold"] is True
        assert (hardware[name]["model"]["cell"]["gate_noise_std"], hardware[name]["model"]["cell"]["output_noise_std"]) \
            == (0.6, 1.0)


def test_the_paper_sets_follow_the_release_recipes():
    cambridge, lips = configs("Cambridge", "comparison"), configs("Lips", "comparison")
    # cam.json's recipe for the plain CNN on Cambridge: 10 % translation per frame, thresholds U[0, 1), lr 1e-6
    cnn = cambridge["cnn_only"]
    assert (cnn["data"]["augment"]["translate"], cnn["data"]["augment"]["per_frame"]) == (6, True)
    assert cnn["model"]["encoder"]["threshold_init"] is None and cnn["train"]["lr"] == 1e-6
    assert cambridge["pixelrnn"]["train"]["lr"] == 1e-6
    assert cambridge["two_layer_cnn_pixelrnn"]["data"]["augment"]["translate"] == 0  # the release's two-layer CNN
    assert cambridge["raw_camera_64"]["train"]["lr"] == 1e-4 and cambridge["raw_camera_64"]["data"]["augment"][
        "translate"] == 0
    # lip_noise.json's recipe with the noise off (the released lips checkpoint is noise-free): lr 1e-3, 10 % shift
    assert lips["pixelrnn"]["train"]["lr"] == 1e-3 and lips["pixelrnn"]["data"]["augment"]["translate"] == 6
    for cfg in (*cambridge.values(), *lips.values()):
        assert (cfg["data"]["augment"]["fill"], cfg["data"]["short_clips"]) == ("black", "stretch_random")
    project = load_config(REPO_ROOT / "configs/Lips/comparison_hardware/pixelrnn.json", ["recipe=project"])
    assert (project["data"]["augment"]["fill"], project["data"]["short_clips"]) == ("zero", "repeat_last")
    assert project["model"]["encoder"]["input_threshold_init"] == 0.0


@pytest.mark.parametrize("recipe, threshold, binarized", [
    ("paper", 1.0, [[-1.0, 1.0], [-1.0, 1.0]]),    # the release's CNN_noise_lip: thresh0 starts at 1.0
    ("project", 0.0, [[1.0, 1.0], [-1.0, 1.0]]),   # the project's: at 0, the plain CNN's sign(x)
])
def test_the_lip_cnn_input_threshold_starts_as_the_recipe_says(recipe, threshold, binarized):
    cfg = load_config(REPO_ROOT / "configs/Lips/comparison_hardware/pixelrnn.json", [f"recipe={recipe}"])
    encoder = build_model(cfg, 4).encoder
    assert encoder.thresh0.item() == threshold
    frame = torch.tensor([[0.5, 1.5], [-0.2, 2.5]]).view(1, 1, 2, 2)  # a hand-made preprocessed frame
    assert encoder.binarize_input(frame)[0, 0].tolist() == binarized
    given = load_config(REPO_ROOT / "configs/Lips/comparison_hardware/pixelrnn.json",
                        [f"recipe={recipe}", "model.encoder.input_threshold_init=0.25"])
    assert build_model(given, 4).encoder.thresh0.item() == 0.25  # an explicit key wins over the recipe
