"""Every config of the paper's comparison (configs/Cambridge/comparison, configs/Lips/comparison) trains one
epoch through train.py in both recipes, on tiny fake datasets in the real on-disk layouts, and its run
follows the recipe (frozen kernels and batch size 1 in the paper's, learning kernels in the project's); the
hardware-prototype variants (comparison_hardware) train in the paper recipe."""
import csv
import json

import pytest

import train
from clip_data_fixtures import TULIPS_SUBJECTS, make_cambridge_official, make_tulips
from training_utils.paths import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "configs/Cambridge/comparison").glob("*.json")) + \
    sorted((REPO_ROOT / "configs/Lips/comparison").glob("*.json"))
HARDWARE_CONFIGS = sorted(REPO_ROOT.glob("configs/*/comparison_hardware/*.json"))
RUNS = [(config, recipe) for config in CONFIGS for recipe in ("paper", "project")] + \
    [(config, "paper") for config in HARDWARE_CONFIGS]


@pytest.fixture(scope="module")
def fake_roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("fake")
    return {"cambridge": make_cambridge_official(base / "cambridge", clips=range(2), frames=4),
            "tulips1": make_tulips(base / "tulips1", subjects=TULIPS_SUBJECTS[:2], frames=4)}


def test_every_model_of_the_comparison_has_a_config_per_dataset():
    names = {path.stem for path in CONFIGS}
    assert len(CONFIGS) == 2 * len(names) == 34
    assert len(HARDWARE_CONFIGS) == 2 * 11


@pytest.mark.parametrize("config, recipe", RUNS,
                         ids=[f"{p.parent.parent.name}/{p.parent.name}/{p.stem}-{r}" for p, r in RUNS])
def test_paper_config_trains_one_epoch(config, recipe, fake_roots, tmp_path):
    raw = json.loads(config.read_text())
    assert raw["recipe"] == "paper"
    dataset, size = raw["data"]["dataset"], raw["data"]["frame_size"]
    out = tmp_path / "run"
    code = train.main(["-c", str(config), "--data-root", str(fake_roots[dataset]), "--out", str(out),
                       "--device", "cpu", "--set", f"recipe={recipe}", "--set", "data.split=seeded",
                       "--set", 'data.split_fractions={"train": 0.5, "val": 0.25, "test": 0.25}',
                       "--set", f"data.frame_size={size // 4}", "--set", "data.timesteps=4",
                       "--set", "train.epochs=1", "--set", "data.cache=false"])
    assert code == 0
    cfg = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert cfg["recipe"] == recipe and metrics["test"]["total"] > 0
    paper = recipe == "paper"
    assert cfg["model"]["freeze_binary_weights"] is paper and cfg["train"]["batch_size"] == (1 if paper else 32)
    assert cfg["train"]["loss_reduction"] == ("sum" if paper else "mean") and cfg["noise"]["eval"] is paper
    (row,) = csv.DictReader((out / "summary.csv").open())
    if paper:
        assert float(row["flip_ratio_from_init"]) == 0.0  # the release's kernels never change sign


def test_paper_table_trains_reuses_and_reports(fake_roots, tmp_path, capsys):
    from benchmarks import paper_table

    argv = ["--dataset", "cambridge", "--recipe", "project", "--seeds", "0", "1", "--models", "pixelrnn",
            "event_camera", "--out", str(tmp_path), "--data-root", str(fake_roots["cambridge"]),
            "--set", "data.split=seeded", "--set", 'data.split_fractions={"train": 0.5, "val": 0.25, "test": 0.25}',
            "--set", "data.frame_size=16", "--set", "data.timesteps=4", "--set", "train.epochs=1",
            "--set", "data.cache=false", "--set", "device=cpu"]
    assert paper_table.main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["rows"]) == {"pixelrnn", "event_camera"} and results["seeds"]["pixelrnn"] == [0, 1]
    pixelrnn, event = results["rows"]["pixelrnn"], results["rows"]["event_camera"]
    metrics = [json.loads((tmp_path / f"pixelrnn-seed{s}/metrics.json").read_text()) for s in (0, 1)]
    assert pixelrnn["per_seed"] == [m["test"]["accuracy"] for m in metrics]
    # 16x16 frames -> a 16x16 mosaic: PixelRNN reads one analogue map, the event camera one ternary frame
    assert (pixelrnn["readout_bits_per_clip"], pixelrnn["memory_bits_per_pixel"]) == (256 * 8, 1)
    assert (event["readout_bits_per_clip"], event["memory_bits_per_pixel"]) == (256 * 2, 8)
    assert "| PixelRNN |" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "accuracy_vs_readout.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = (tmp_path / "pixelrnn-seed0/metrics.json").stat().st_mtime_ns
    assert paper_table.main(argv + ["--report-only"]) == 0  # reuses the finished runs
    assert (tmp_path / "pixelrnn-seed0/metrics.json").stat().st_mtime_ns == before
    # the hardware variant's PixelRNN is another (noise-trained) config: its runs are not these
    assert paper_table.main(argv + ["--report-only", "--variant", "hardware"]) == 2
    err = capsys.readouterr().err
    assert "pixelrnn-seed0 holds a run of another config" in err and "model.encoder.noise_std" in err
