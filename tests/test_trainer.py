import json

import torch

from in_memory_data import tiny_datasets
from training_utils.config import resolve
from training_utils.trainer import Trainer


def tiny_config(**train):
    return resolve({"data": {"frame_size": 16, "timesteps": 4},
                    "model": {"encoder": {"noise_std": 0.6},
                              "cell": {"learned_threshold": True, "gate_noise_std": 0.6, "output_noise_std": 1.0}},
                    "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, **train}})


def test_resume_after_interruption_ends_with_the_same_weights(tmp_path):
    cfg = tiny_config()
    full = Trainer(cfg, tiny_datasets(), tmp_path / "full", torch.device("cpu"))
    full.fit()
    interrupted = Trainer(cfg, tiny_datasets(), tmp_path / "part", torch.device("cpu"))
    assert interrupted.fit(until_epoch=1) == {}
    resumed = Trainer(cfg, tiny_datasets(), tmp_path / "part", torch.device("cpu"), resume=tmp_path / "part/last.pt")
    assert resumed.epoch == 1
    resumed.fit()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "full/summary.csv").read_text().splitlines()[1:] != []
    rows_full = (tmp_path / "full/summary.csv").read_text().splitlines()
    rows_part = (tmp_path / "part/summary.csv").read_text().splitlines()
    # same losses and accuracies epoch by epoch (the seconds column differs)
    strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows]
    assert strip(rows_full) == strip(rows_part)


def test_run_directory_holds_metrics_checkpoints_and_flip_ratio(tmp_path):
    trainer = Trainer(tiny_config(epochs=2), tiny_datasets(), tmp_path, torch.device("cpu"))
    results = trainer.fit()
    for name in ("config.json", "environment.json", "summary.csv", "last.pt", "best.pt", "metrics.json"):
        assert (tmp_path / name).is_file(), name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["total"] == 12 and len(metrics["test"]["confusion_matrix"]) == 3
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 12
    assert metrics["test"]["correct"] == sum(p["label"] == p["predicted"] for p in metrics["test"]["predictions"])
    assert results["val"]["accuracy"] == metrics["val"]["accuracy"]
    header, *rows = (tmp_path / "summary.csv").read_text().splitlines()
    flip_from_init = float(rows[-1].split(",")[header.split(",").index("flip_ratio_from_init")])
    assert flip_from_init > 0  # lr 0.01 moves latent weights across zero: the kernels train
    assert any(p.name.startswith("events") for p in (tmp_path / "tensorboard").iterdir())
