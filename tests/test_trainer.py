import json

import pytest
import torch

from helpers import tiny_datasets
from model_utils import build_model
from model_utils.encoders import POOLED_THRESHOLD_MARGIN
from training_utils.config import resolve
from training_utils.trainer import Trainer, project_to_bounds, warmed_up_lr


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
    assert json.loads((tmp_path / "environment.json").read_text())["torch_threads"] == torch.get_num_threads()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"]["total"] == 12 and len(metrics["test"]["confusion_matrix"]) == 3
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 12
    assert metrics["test"]["correct"] == sum(p["label"] == p["predicted"] for p in metrics["test"]["predictions"])
    assert results["val"]["accuracy"] == metrics["val"]["accuracy"]
    header, *rows = (tmp_path / "summary.csv").read_text().splitlines()
    flip_from_init = float(rows[-1].split(",")[header.split(",").index("flip_ratio_from_init")])
    assert flip_from_init > 0  # lr 0.01 moves latent weights across zero: the kernels train
    assert any(p.name.startswith("events") for p in (tmp_path / "tensorboard").iterdir())


def test_binary_kernels_learn_at_their_own_rate(tmp_path):
    cfg = tiny_config(lr=0.01, binary_lr_scale=0.25)
    trainer = Trainer(cfg, tiny_datasets(), tmp_path, torch.device("cpu"))
    real, binary = trainer.optimizer.param_groups
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    assert {names[id(p)] for p in binary["params"]} == {
        "encoder.conv1.weight", "cell.ConvGates_i.weight", "cell.ConvGates_h.weight",
        "cell.Conv_out_i.weight", "cell.Conv_out_h.weight", "fin_conv.weight"}
    assert (real["lr"], binary["lr"]) == (0.01, 0.0025)
    assert "fc.weight" in {names[id(p)] for p in real["params"]}


def test_lr_warmup_scales_each_step_and_leaves_the_scheduled_rate_alone():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.3)
    moves = []
    for step in range(6):
        weight.grad = torch.ones(1)
        before = weight.item()
        with warmed_up_lr(optimizer, step, warmup_steps=4):
            optimizer.step()
        moves.append(before - weight.item())
        assert optimizer.param_groups[0]["lr"] == 0.3  # the scheduler and the checkpoint never see the factor
    assert moves == pytest.approx([0.075, 0.15, 0.225, 0.3, 0.3, 0.3])


def test_lr_warmup_changes_the_first_steps_and_resumes_exactly(tmp_path):
    cfg = tiny_config(lr_warmup_epochs=1.5)  # 6 steps an epoch: the warm-up ends inside epoch 2
    full = Trainer(cfg, tiny_datasets(), tmp_path / "full", torch.device("cpu"))
    full.fit()
    plain = Trainer(tiny_config(), tiny_datasets(), tmp_path / "plain", torch.device("cpu"))
    plain.fit()
    assert full.history[0]["train_loss"] != plain.history[0]["train_loss"]
    assert [r["lr"] for r in full.history] == [r["lr"] for r in plain.history]  # the schedule is untouched
    interrupted = Trainer(cfg, tiny_datasets(), tmp_path / "part", torch.device("cpu"))
    interrupted.fit(until_epoch=1)
    resumed = Trainer(cfg, tiny_datasets(), tmp_path / "part", torch.device("cpu"), resume=tmp_path / "part/last.pt")
    resumed.fit()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _readout_statistics(model, dataset):
    """Mean and unbiased variance of the read-out BatchNorm's input over ``dataset``, computed directly."""
    model.eval()
    with torch.no_grad():
        clips = torch.stack([dataset[i][0] for i in range(len(dataset))])
        x = model.fin_conv(model.encode(clips).flatten(0, 1).unsqueeze(1)).double()
    return x.mean(), x.var()


def test_batchnorm_statistics_are_those_of_the_training_clips_before_evaluation(tmp_path):
    datasets = tiny_datasets()
    recalibrated = Trainer(tiny_config(epochs=1), datasets, tmp_path / "on", torch.device("cpu"))
    recalibrated.fit()
    last = torch.load(tmp_path / "on/last.pt", weights_only=False)["model"]
    recalibrated.model.load_state_dict(last)
    mean, var = _readout_statistics(recalibrated.model, datasets["train"])
    norm = recalibrated.model.fin_convpost[0]
    assert torch.allclose(norm.running_mean.double(), mean.view(1), rtol=1e-5, atol=1e-6)
    assert torch.allclose(norm.running_var.double(), var.view(1), rtol=1e-5, atol=1e-6)
    # Without it, the checkpoint holds the running averages of the training steps: not the same numbers.
    lagging = Trainer(tiny_config(epochs=1, recalibrate_batchnorm=False), datasets, tmp_path / "off",
                      torch.device("cpu"))
    lagging.fit()
    lagging.model.load_state_dict(torch.load(tmp_path / "off/last.pt", weights_only=False)["model"])
    mean, var = _readout_statistics(lagging.model, datasets["train"])
    norm = lagging.model.fin_convpost[0]
    assert not torch.allclose(norm.running_var.double(), var.view(1), rtol=1e-2)


def test_encoder_threshold_is_projected_back_into_its_deciding_range():
    model = build_model(tiny_config(), 3)
    encoder = model.encoder
    assert encoder.parameter_bounds() == {"thresh1": (POOLED_THRESHOLD_MARGIN, 25 - POOLED_THRESHOLD_MARGIN)}
    # An SGD step that would carry thresh1 from 0.3 to -0.7 leaves it at the floor, ...
    with torch.no_grad():
        encoder.thresh1.fill_(0.3)
    optimizer = torch.optim.SGD([encoder.thresh1], lr=1.0)
    encoder.thresh1.grad = torch.ones(1)
    optimizer.step()
    assert encoder.thresh1.item() == pytest.approx(-0.7)
    project_to_bounds(model)
    assert torch.equal(encoder.thresh1.data, torch.tensor([POOLED_THRESHOLD_MARGIN]))
    # ... one past fan-in at the ceiling, and a value inside the range is not touched (bit for bit).
    with torch.no_grad():
        encoder.thresh1.fill_(40.0)
    project_to_bounds(model)
    assert torch.equal(encoder.thresh1.data, torch.tensor([25 - POOLED_THRESHOLD_MARGIN]))
    with torch.no_grad():
        encoder.thresh1.fill_(0.123)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    project_to_bounds(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_training_keeps_a_threshold_below_zero_out_only_with_bound_parameters(tmp_path):
    final = {}
    for bound in (True, False):
        trainer = Trainer(tiny_config(epochs=1, bound_parameters=bound), tiny_datasets(), tmp_path / str(bound),
                          torch.device("cpu"))
        with torch.no_grad():
            trainer.model.encoder.thresh1.fill_(-2.0)  # every pooled pixel on: the dead state
        trainer.fit()
        final[bound] = trainer.model.encoder.thresh1.item()
    assert final[True] >= POOLED_THRESHOLD_MARGIN
    assert final[False] < 0  # lr 0.01 for a few steps cannot bring it back by itself
