"""Bop (training_utils/binary_optimizer.py): its flip rule on toy problems, and how the trainer uses it."""
import pytest
import torch

from helpers import tiny_datasets
from model_utils import set_noise
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
    assert bop_names == {"encoder.conv1.weight", "cell.ConvGates_i.weight", "cell.ConvGates_h.weight",
                         "cell.Conv_out_i.weight", "cell.Conv_out_h.weight", "fin_conv.weight"}
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


def test_normalized_threshold_compares_the_gradients_consistency_not_its_size():
    # |m| / sqrt(v) of a constant gradient is 1 whatever its size; tau 0.9 passes both sizes
    assert bop_steps([0.1, 0.1], [[1e-4, 10.0]], threshold=0.9, gamma=1.0, normalize=True) == \
        pytest.approx([-0.1, -0.1])
    # alternating gradients: after many steps |m| / sqrt(v) ~ sqrt(gamma / (2 - gamma)) < 0.5
    gradients = [[(-1.0) ** k * 5.0] for k in range(1, 60)]
    assert bop_steps([0.1], gradients, threshold=0.5, gamma=0.1, normalize=True) == pytest.approx([0.1])


def test_flip_verification_keeps_only_flips_that_lower_the_loss(tmp_path, monkeypatch):
    cfg = bop_config(threshold=1e-5)
    cfg["train"]["flip_verification"].update(clips=16, margin=0.0)
    trainer = Trainer(cfg, tiny_datasets(), tmp_path, torch.device("cpu"))
    assert len(trainer.verification_clips[1]) == 16 and set(trainer.verification_clips[1].tolist()) == {0, 1, 2}
    decisions = []
    real_verify = Trainer.verify_flips

    def recording_verify(self):
        signs = {n: torch.sign(p.detach()).clone() for n, p in self.model.named_parameters()}
        with_flips = self.verification_loss()
        self.binary_optimizer.toggle()
        without = self.verification_loss()
        self.binary_optimizer.toggle()
        real_verify(self)
        after = {n: torch.sign(p.detach()) for n, p in self.model.named_parameters()}
        kept = all(torch.equal(signs[n], after[n]) for n in signs)
        decisions.append((with_flips < without, kept))

    monkeypatch.setattr(Trainer, "verify_flips", recording_verify)
    trainer.fit()
    assert decisions and all(lower == kept for lower, kept in decisions)


def test_a_rejected_flip_goes_back_and_restarts_its_momentum_an_accepted_one_stays(tmp_path):
    trainer = Trainer(bop_config(), tiny_datasets(), tmp_path, torch.device("cpu"))
    kernel = trainer.model.cell.Conv_out_i.weight
    first = kernel.detach().flatten()[0].item()
    # A stand-in loss that is low only when entry 0 has the opposite of its initial sign.
    trainer.verification_loss = lambda: 0.0 if kernel.flatten()[0].item() * first < 0 else 1.0
    optimizer = trainer.binary_optimizer
    state = optimizer.state[kernel]["momentum"] = torch.zeros_like(kernel)
    for entry, accepted in ((1, False), (0, True)):
        before = kernel.detach().clone()
        mask = torch.zeros_like(kernel, dtype=torch.bool)
        mask.view(-1)[entry] = True
        state.view(-1)[entry] = 0.5
        with torch.no_grad():
            kernel.copy_(torch.where(mask, -kernel, kernel))  # as Bop.step flips
        optimizer.flipped = [(kernel, mask)]
        trainer.verify_flips()
        expected = torch.where(mask, -before, before) if accepted else before
        assert torch.equal(kernel.detach(), expected)
        assert state.view(-1)[entry].item() == (0.5 if accepted else 0.0)


def test_flip_verification_needs_bop():
    with pytest.raises(Exception, match="needs train.binary_optimizer 'bop'"):
        resolve({"train": {"flip_verification": {"clips": 8}}})


def test_interval_updates_m_every_step_and_flips_only_on_its_steps():
    # gamma 1, tau 0.5: every step's m = g = 1 would flip; with interval 3 the first flip is at step 3
    assert bop_steps([0.2], [[1.0]] * 2, threshold=0.5, gamma=1.0, interval=3) == pytest.approx([0.2])
    assert bop_steps([0.2], [[1.0]] * 3, threshold=0.5, gamma=1.0, interval=3) == pytest.approx([-0.2])
    # m is averaged over the skipped steps too: 0.5, 0.75 -> at step 2 m = 0.75 > 0.6
    assert bop_steps([0.2], [[1.0]] * 2, threshold=0.6, gamma=0.5, interval=2) == pytest.approx([-0.2])


def test_warmup_holds_flips_while_the_normalised_average_counts_steps():
    # normalize, gamma 0.05, a constant gradient: |m| / sqrt(v) = sqrt(1 - 0.95^k), 0.3122 after 2 steps
    # (> tau 0.25: flips at step 2 without a warm-up). With warmup 20 the first flip is at step 21.
    settings = dict(threshold=0.25, gamma=0.05, normalize=True)
    assert bop_steps([0.2], [[1.0]] * 1, **settings) == pytest.approx([0.2])
    assert bop_steps([0.2], [[1.0]] * 2, **settings) == pytest.approx([-0.2])
    assert bop_steps([0.2], [[1.0]] * 20, warmup=20, **settings) == pytest.approx([0.2])
    assert bop_steps([0.2], [[1.0]] * 21, warmup=20, **settings) == pytest.approx([-0.2])
    with pytest.raises(ValueError, match="warmup must be >= 0"):
        Bop([torch.nn.Parameter(torch.zeros(1))], warmup=-1)


def test_verification_with_batch_statistics_normalises_by_the_clips_and_leaves_running_buffers(tmp_path):
    cfg = bop_config()
    cfg["train"]["flip_verification"].update(clips=16, margin=0.0, batchnorm="batch")
    trainer = Trainer(cfg, tiny_datasets(), tmp_path, torch.device("cpu"))
    norms = [m for m in trainer.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    for m in norms:  # running statistics far from the maps', as in the first steps of a run
        m.running_mean.fill_(5.0)
        m.running_var.fill_(0.01)
    buffers = {n: b.clone() for n, b in trainer.model.named_buffers()}
    clips, labels = trainer.verification_clips

    with torch.no_grad():
        # By hand: evaluation mode and noise off, each BatchNorm normalising by the 16 clips' own mean and
        # variance, on copies of the buffers.
        trainer.model.eval()
        set_noise(trainer.model, evaluation=False)
        saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]
        for m in norms:
            m.train()
        expected = torch.nn.functional.cross_entropy(trainer.model(clips), labels).item()
        for m, (mean, var, count) in zip(norms, saved):
            m.eval()
            m.running_mean.copy_(mean), m.running_var.copy_(var), m.num_batches_tracked.copy_(count)
        under_running = torch.nn.functional.cross_entropy(trainer.model(clips), labels).item()

    assert trainer.verification_loss() == pytest.approx(expected, rel=1e-5)
    assert abs(expected - under_running) > 1e-3  # the two modes differ here, so the check above can fail
    assert all(torch.equal(b, buffers[n]) for n, b in trainer.model.named_buffers())
    trainer.train_cfg["flip_verification"]["batchnorm"] = "running"
    assert trainer.verification_loss() == pytest.approx(under_running, rel=1e-5)


def test_flip_verification_batchnorm_accepts_running_or_batch():
    with pytest.raises(Exception, match="flip_verification.batchnorm"):
        resolve({"train": {"binary_optimizer": "bop", "flip_verification": {"clips": 8, "batchnorm": "train"}}})


def test_bop_later_switches_threshold_and_interval_once_its_epochs_are_done(tmp_path):
    cfg = bop_config()
    cfg["train"]["bop_later"] = {"after_epochs": 1, "threshold": 0.3, "interval": 3}
    cfg["train"]["epochs"] = 3
    trainer = Trainer(cfg, tiny_datasets(), tmp_path, torch.device("cpu"))
    settings = lambda: {(g["threshold"], g["interval"]) for g in trainer.binary_optimizer.param_groups}  # noqa: E731
    first = settings()
    assert first == {(cfg["train"]["bop"]["threshold"], cfg["train"]["bop"]["interval"])} != {(0.3, 3)}
    trainer.fit(until_epoch=1)
    assert settings() == first  # epoch 1 ran with the first settings
    trainer.fit(until_epoch=2)
    assert settings() == {(0.3, 3)}
    # a run resumed after the switch continues with the later settings
    resumed = Trainer(cfg, tiny_datasets(), tmp_path, torch.device("cpu"), resume=tmp_path / "last.pt")
    resumed.fit(until_epoch=3)
    assert {(g["threshold"], g["interval"]) for g in resumed.binary_optimizer.param_groups} == {(0.3, 3)}
