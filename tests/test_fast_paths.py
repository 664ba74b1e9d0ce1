"""The model's fast paths (conv+ReLU+max-pool Function with a winners-only backward, single-channel
convolutions whose backward runs as forward work) compute what the straightforward implementation
computes: logits to 1e-5, gradients to 1e-4 (relative to each gradient's largest entry)."""
import pytest
import torch
import torch.nn.functional as F

from benchmarks.straightforward_pixelrnn import straightforward_forward
from model_utils import build_model
from model_utils.pooled_binary_conv import conv_relu_maxpool
from model_utils.single_channel_conv import TAP_LOOP_MIN_MAPS, single_channel_conv2d
from training_utils.config import resolve


def gradients(model, logits, target):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(logits, target).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("encoder", [{}, {"input_threshold": True}])
def test_fast_model_matches_straightforward_logits_and_gradients(encoder):
    cfg = resolve({"model": {"encoder": {**encoder, "threshold_init": 1.5}, "cell": {"learned_threshold": True}}},
                  ["data.timesteps=6"])
    torch.manual_seed(0)
    model = build_model(cfg, 9).train()
    clips = torch.randn(3, 6, 1, 64, 64)
    target = torch.tensor([0, 4, 8])
    fast = model(clips)
    fast_grads = gradients(model, fast, target)
    slow = straightforward_forward(model, clips)
    slow_grads = gradients(model, slow, target)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert sorted(fast_grads) == sorted(slow_grads)
    assert "cnn_model.conv1.weight" in fast_grads and "rnn_model.ConvGates_h.weight" in fast_grads
    for name, want in slow_grads.items():
        scale = want.abs().max().clamp_min(1e-12)
        assert (fast_grads[name] - want).abs().max() <= 1e-4 * scale, name
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(clips), straightforward_forward(model, clips), atol=1e-5)


@pytest.mark.parametrize("in_channels", [1, 3])
def test_conv_relu_maxpool_gradients_equal_the_separate_ops(in_channels):
    torch.manual_seed(1)
    x = torch.randint(-1, 2, (4, in_channels, 16, 16)).float()
    x[:, :, :8, :8] = 0  # windows whose maximum is 0: no gradient through the ReLU there
    x.requires_grad_()
    w = torch.randn(5, in_channels, 5, 5).sign().requires_grad_()
    upstream = torch.randn(4, 5, 4, 4)
    pooled, conv = conv_relu_maxpool(x, w, 2, 4)
    grads = torch.autograd.grad((pooled * upstream).sum(), (x, w))
    conv_ref = F.conv2d(x, w, padding=2)
    pooled_ref = F.max_pool2d(F.relu(conv_ref), 4)
    grads_ref = torch.autograd.grad((pooled_ref * upstream).sum(), (x, w))
    assert torch.equal(pooled, pooled_ref) and torch.equal(conv, conv_ref)
    assert (pooled == 0).any() and (pooled > 0).any()  # both ReLU branches are exercised
    for got, want in zip(grads, grads_ref):
        assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("maps", [2, TAP_LOOP_MIN_MAPS])
def test_single_channel_conv_gradients_equal_conv2d(maps):
    torch.manual_seed(2)
    x = torch.randn(maps, 1, 12, 12, requires_grad=True)
    w = torch.randn(3, 1, 5, 5, requires_grad=True)
    upstream = torch.randn(maps, 3, 12, 12)
    out = single_channel_conv2d(x, w, 2)
    got = torch.autograd.grad((out * upstream).sum(), (x, w))
    want = torch.autograd.grad((F.conv2d(x, w, padding=2) * upstream).sum(), (x, w))
    assert torch.allclose(out, F.conv2d(x, w, padding=2), atol=1e-5)
    for g, r in zip(got, want):
        assert torch.allclose(g, r, rtol=1e-4, atol=1e-4)


def test_single_channel_conv_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"x \(N, 1, H, W\).*got x \(2, 3, 8, 8\)"):
        single_channel_conv2d(torch.zeros(2, 3, 8, 8), torch.zeros(1, 3, 5, 5), 2)
