"""torchrun with 2 CPU processes (gloo) trains the same weights as one process for the same global batch;
only rank 0 writes the run directory."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training_utils.distributed import GlobalBatchShardSampler
from training_utils.paths import REPO_ROOT

LAUNCHER = Path(__file__).resolve().parent / "ddp_train_in_memory.py"


def run(command, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


BOP = ["train.binary_optimizer=bop", "train.bop.threshold=0.5", "train.bop.gamma=0.2", "train.bop.normalize=true",
       "train.flip_verification.clips=8", "train.init_candidates=3"]
BOP_BATCH_STATISTICS = [*BOP, "train.flip_verification.batchnorm=batch"]
# the warm-up (5 of 6 global steps) counts steps as one process does: len(loader) is the global step count
WARMUP = ["train.lr_warmup_epochs=1.5"]


@pytest.mark.parametrize("overrides", [[], WARMUP, BOP, BOP_BATCH_STATISTICS],
                         ids=["latent", "latent_warmup", "bop", "bop_batchnorm_batch"])
def test_two_processes_train_the_same_weights_as_one(tmp_path, overrides):
    single, double = tmp_path / "single", tmp_path / "double"
    run([sys.executable, str(LAUNCHER), str(single), *overrides], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(LAUNCHER), str(double), *overrides], tmp_path)
    one = torch.load(single / "last.pt", weights_only=True)
    two = torch.load(double / "last.pt", weights_only=True)
    assert one["epoch"] == two["epoch"] == 2
    for key, value in one["model"].items():
        assert torch.allclose(value.double(), two["model"][key].double(), rtol=1e-4, atol=1e-5), key
    if BOP[0] in overrides:  # Bop flipped signs, the same ones in both runs (the check above covers the signs)
        assert float(rows_of(single)[0]["flip_ratio"]) > 0
        m1, m2 = one["binary_optimizer"]["state"], two["binary_optimizer"]["state"]
        assert all(torch.allclose(m1[k]["momentum"], m2[k]["momentum"], rtol=1e-4, atol=1e-6) for k in m1)
    assert int(one["model"]["fin_convpost.0.num_batches_tracked"]) == 6  # 3 global batches x 2 epochs
    # Metrics were reduced over ranks: the same counts and predictions as the single process.
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (single, double))
    for split in ("val", "test"):
        assert m1[split]["total"] == m2[split]["total"] == {"val": 5, "test": 7}[split]
        assert m1[split]["predictions"] == m2[split]["predictions"]
    rows1, rows2 = (list(csv.DictReader((d / "summary.csv").open())) for d in (single, double))
    assert len(rows1) == len(rows2) == 2  # one row per epoch, written once (rank 0 only)
    for r1, r2 in zip(rows1, rows2):
        for key in ("train_loss", "train_accuracy", "val_accuracy", "test_loss", "flip_ratio"):
            assert float(r1[key]) == pytest.approx(float(r2[key]), rel=1e-4, abs=1e-6), key


def test_a_restart_under_two_processes_matches_one(tmp_path):
    """train.restarts decides on the training accuracy reduced over ranks, so both ranks restart together,
    from the same next start; attempt 2 then trains as in one process."""
    overrides = [*BOP, "train.epochs=1", "train.restarts.max=1", "train.restarts.below_train_accuracy=1.0"]
    single, double = tmp_path / "single", tmp_path / "double"
    run([sys.executable, str(LAUNCHER), str(single), *overrides], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(LAUNCHER), str(double), *overrides], tmp_path)
    rows1, rows2 = rows_of(single), rows_of(double)
    assert [r["attempt"] for r in rows1] == [r["attempt"] for r in rows2] == ["1", "2"]
    for r1, r2 in zip(rows1, rows2):
        for key in ("train_loss", "train_accuracy", "val_accuracy", "test_loss"):
            assert float(r1[key]) == pytest.approx(float(r2[key]), rel=1e-4, abs=1e-6), key
    one, two = (torch.load(d / "last.pt", weights_only=True)["model"] for d in (single, double))
    for key, value in one.items():
        assert torch.allclose(value.double(), two[key].double(), rtol=1e-4, atol=1e-5), key


def rows_of(run_dir):
    return list(csv.DictReader((run_dir / "summary.csv").open()))


def test_global_batches_are_split_across_ranks_in_single_process_order():
    order = [4, 0, 3, 1, 2, 6, 5]
    shards = [list(GlobalBatchShardSampler(order, 3, rank, 2)) for rank in range(2)]
    assert shards[0] == [[4, 0], [1, 2]] and shards[1] == [[3], [6]]  # the last batch [5] < 2 ranks: dropped
    assert GlobalBatchShardSampler(order, 3, 0, 2).global_sizes() == [3, 3]


def write_clip_folder(root: Path, classes=4, clips=4, frames=4, size=16):
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    for c in range(classes):
        for s in range(clips):
            folder = root / str(c) / f"seq{s}"
            folder.mkdir(parents=True)
            for t in range(frames):
                cv2.imwrite(str(folder / f"{t}.png"), (rng.random((size, size)) * 255).astype(np.uint8))


def test_torchrun_train_py_unchanged_matches_one_process_and_resumes(tmp_path):
    write_clip_folder(tmp_path / "clips")  # 8 train clips: two global batches of 4, none dropped
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "data": {"dataset": "clip_folder", "timesteps": 4, "frame_size": 16, "cache": False,
                 "split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25}},
        "train": {"epochs": 2, "batch_size": 4, "scheduler": "none", "optimizer": "sgd", "lr": 0.05}}))
    # SGD: Adam would turn float-rounding differences of near-zero gradients into full-size steps.
    train = str(REPO_ROOT / "train.py")
    common = ["-c", str(config), "--data-root", str(tmp_path / "clips"), "--device", "cpu"]
    run([sys.executable, train, *common, "--out", str(tmp_path / "one")], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", train, *common,
         "--out", str(tmp_path / "two"), "--set", "train.epochs=1"], tmp_path)
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", train,
         "-r", str(tmp_path / "two" / "last.pt"), "--data-root", str(tmp_path / "clips"), "--set", "train.epochs=2"],
        tmp_path)
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert one["epoch"] == two["epoch"] == 2
    for key, value in one["model"].items():
        assert torch.allclose(value.double(), two["model"][key].double(), rtol=1e-4, atol=1e-5), key
