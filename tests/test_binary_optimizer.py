"""Bop (training_utils/binary_optimizer.py): its flip rule on toy problems, and how the trainer uses it."""
import pytest
import torch

from in_memory_data import tiny_datasets
from training_utils.binary_optimizer import Bop
from training_utils.config import resolve
from training_utils.trainer import Trainer


def bop_steps(weights, gradients, **settings):
    """The weights after one Bop step per gradient in ``gradients``."""
    w = torch.nn.Parameter(torch.tensor(weights))
    optimizer = Bop([w], **settings)
    for g in gradients:
        w.grad = torch.tensor(g)
        optimizer.step()
    return w.detach().tolist()


def test_flips_only_past_the_threshold_and_towards_lower_loss():
    # m = g (gamma 1). +0.5 with g = +1: the loss falls if w falls -> flip. -0.5 with g = +1: a flip would
    # raise the loss. +0.5 with g = -1: likewise. g = 0.1 < tau: too weak.
    assert bop_steps([0.5, -0.5, 0.5, 0.25], [[1.0, 1.0, -1.0, 0.1]], threshold=0.5, gamma=1.0) == \
        [-0.5, -0.5, 0.5, 0.25]


def test_momentum_builds_up_over_steps_before_a_flip():
    # m_n = 1 - 0.7^n: 0.3, 0.51 -> the first step stays below tau 0.35, the second passes it.
    assert bop_steps([0.2], [[1.0]], threshold=0.35, gamma=0.3) == pytest.approx([0.2])
    assert bop_steps([0.2], [[1.0], [1.0]], threshold=0.35, gamma=0.3) == pytest.approx([-0.2])


def test_an_alternating_gradient_never_flips():
    # Same |g| as above, alternating sign: |m| <= 0.3 forever.
    gradients = [[(-1.0) ** k] for k in range(40)]
    assert bop_steps([0.2], gradients, threshold=0.35, gamma=0.3) == pytest.approx([0.2])


def test_max_flips_keeps_the_strongest_and_reset_restarts_the_momentum():
    weights = [0.1] * 25
    gradient = [[0.5 + 0.01 * k for k in range(25)]]  # all want a flip, entry 24 most
    after = bop_steps(weights, gradient, threshold=0.1, gamma=1.0, max_flips=1)
    assert after[:24] == pytest.approx([0.1] * 24) and after[24] == pytest.approx(-0.1)
    # Flip at step 1 (m = 0.5), then g = -0.3. With the reset m = -0.15: past tau and pointing back, so the
    # entry flips back. Without it m = 0.5 * 0.5 - 0.15 = +0.1 still remembers the push that flipped it.
    assert bop_steps([0.1], [[1.0], [-0.3]], threshold=0.1, gamma=0.5, reset_after_flip=True) == pytest.approx([0.1])
    assert bop_steps([0.1], [[1.0], [-0.3]], threshold=0.1, gamma=0.5) == pytest.approx([-0.1])


def bop_config(**bop):
    return resolve({"data": {"frame_size": 16, "timesteps": 4},
                    "model": {"cell": {"learned_threshold": True}},
                    "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "binary_optimizer": "bop",
                              "bop": {"threshold": 1e-4, "gamma": 0.1, **bop}}})


def test_trainer_gives_binary_kernels_to_bop_and_the_rest_to_adam(tmp_path):
    trainer = Trainer(bop_config(), tiny_datasets(), tmp_path, torch.device("cpu"))
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    bop_names = {names[id(p)] for g in trainer.binary_optimizer.param_groups for p in g["params"]}
    adam_names = {names[id(p)] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert bop_names == {"cnn_model.conv1.weight", "rnn_model.ConvGates_i.weight", "rnn_model.ConvGates_h.weight",
                         "rnn_model.Conv_out_i.weight", "rnn_model.Conv_out_h.weight", "fin_conv.weight"}
    assert not bop_names & adam_names and "fc.weight" in adam_names
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.fit()
    after = dict(trainer.model.named_parameters())
    flipped = 0
    for name in bop_names:  # Bop only negates: magnitudes stay, signs change
        assert torch.equal(after[name].detach().abs(), before[name].abs()), name
        flipped += int((torch.sign(after[name]) != torch.sign(before[name])).sum())
    assert flipped > 0
    assert not torch.equal(after["fc.weight"].detach(), before["fc.weight"])


def test_resume_with_bop_is_bitwise_exact(tmp_path):
    cfg = bop_config()
    full = Trainer(cfg, tiny_datasets(), tmp_path / "full", torch.device("cpu"))
    full.fit()
    part = Trainer(cfg, tiny_datasets(), tmp_path / "part", torch.device("cpu"))
    part.fit(until_epoch=1)
    resumed = Trainer(cfg, tiny_datasets(), tmp_path / "part", torch.device("cpu"), resume=tmp_path / "part/last.pt")
    assert resumed.binary_optimizer.state_dict()["state"]  # the momenta came back from the checkpoint
    resumed.fit()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma = full.binary_optimizer.state_dict()["state"]
    mb = resumed.binary_optimizer.state_dict()["state"]
    assert all(torch.equal(ma[k]["momentum"], mb[k]["momentum"]) for k in ma)


def test_a_latent_checkpoint_does_not_resume_under_bop(tmp_path):
    cfg = bop_config()
    cfg["train"]["binary_optimizer"] = "latent"
    Trainer(cfg, tiny_datasets(), tmp_path, torch.device("cpu")).fit(until_epoch=1)
    with pytest.raises(ValueError, match="binary_optimizer 'latent'"):
        Trainer(bop_config(), tiny_datasets(), tmp_path, torch.device("cpu"), resume=tmp_path / "last.pt")
