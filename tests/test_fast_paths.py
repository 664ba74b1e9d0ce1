"""The model's fast paths (conv+ReLU+max-pool Function with a winners-only backward and an exact
lookup-table forward for +-1 inputs, single-channel convolutions whose backward runs as forward work)
compute what the straightforward implementation computes: logits to 1e-5, gradients to 1e-4 (relative
to each gradient's largest entry)."""
import pytest
import torch
import torch.nn.functional as F

from benchmarks.straightforward_pixelrnn import straightforward_forward
from model_utils import build_model
from model_utils.binary_conv_lut import lut_applicable, lut_conv2d, lut_conv_relu_maxpool
from model_utils.intra_op_threads import one_intra_op_thread
from model_utils.pooled_binary_conv import conv_relu_maxpool
from model_utils.single_channel_conv import TAP_LOOP_MIN_MAPS, single_channel_conv2d
from training_utils.config import resolve


def gradients(model, logits, target):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(logits, target).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


# The released checkpoints' two models: cam_noise (learned gate threshold) and lips_no_noise (plain
# gate, learned input threshold); batch sizes 1 and several.
@pytest.mark.parametrize("encoder, learned_threshold, batch", [({}, True, 3), ({"input_threshold": True}, False, 1),
                                                               ({"input_threshold": True}, True, 2), ({}, False, 1)])
def test_fast_model_matches_straightforward_logits_and_gradients(encoder, learned_threshold, batch):
    cfg = resolve({"model": {"encoder": {**encoder, "threshold_init": 1.5},
                             "cell": {"learned_threshold": learned_threshold}}}, ["data.timesteps=6"])
    torch.manual_seed(0)
    model = build_model(cfg, 9).train()
    clips = torch.randn(batch, 6, 1, 64, 64)
    clips[:, :, :, :24, :24] = 1.0  # flat regions: ties in the pooling windows, also along the borders
    target = torch.tensor([0, 4, 8])[:batch]
    encoder = model.cnn_model
    assert lut_applicable(encoder.binarize_input(clips.flatten(0, 1)), encoder.conv1.quantized_weight(), 2)
    fast = model(clips)
    fast_grads = gradients(model, fast, target)
    slow = straightforward_forward(model, clips)
    slow_grads = gradients(model, slow, target)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert sorted(fast_grads) == sorted(slow_grads)
    assert "cnn_model.conv1.weight" in fast_grads and "rnn_model.ConvGates_h.weight" in fast_grads
    for name, want in slow_grads.items():
        # fin_conv.weight's exact gradient is 0 (the training-mode BatchNorm after it removes its scale): its
        # computed value is round-off of ~1e-8, so every tolerance has a floor of 1e-4 * 1e-3.
        scale = want.abs().max().clamp_min(1e-3)
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
    pooled = conv_relu_maxpool(x, w, 2, 4)
    grads = torch.autograd.grad((pooled * upstream).sum(), (x, w))
    conv_ref = F.conv2d(x, w, padding=2)
    pooled_ref = F.max_pool2d(F.relu(conv_ref), 4)
    grads_ref = torch.autograd.grad((pooled_ref * upstream).sum(), (x, w))
    assert torch.equal(pooled, pooled_ref)
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


def sign_frames(n, height, width, seed):
    """+-1 frames with flat (tied) regions, edges and noise, the first frame all +1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, height, width, generator=g).sign()
    x[:, :, : height // 2, : width // 3] = 1.0
    x[:, :, height // 2:, width // 2:] = -1.0
    x[0] = 1.0
    return x


@pytest.mark.parametrize("kernel, channels", [(1, 2), (3, 3), (5, 2), (5, 16), (7, 5)])
def test_lut_conv2d_equals_conv2d_including_zero_padded_borders(kernel, channels):
    x = sign_frames(3, 12, 8, seed=3)
    w = torch.randint(-1, 2, (channels, 1, kernel, kernel), generator=torch.Generator().manual_seed(4)).float()
    w[0] = 1.0  # the all-ones frame then shows the border falloff (25 inside, 9 at a corner for k = 5)
    assert lut_applicable(x, w, kernel // 2)
    got = lut_conv2d(x, w)
    want = F.conv2d(x, w, padding=kernel // 2)
    assert got.dtype == torch.float32 and torch.equal(got, want)
    assert got[0, 0, 0, 0].item() == ((kernel + 1) // 2) ** 2 and got[0, 0, 6, 4].item() == kernel * kernel


@pytest.mark.parametrize("pool, frames", [(4, 1), (4, 5), (2, 3), (3, 2)])
def test_lut_conv_relu_maxpool_equals_max_pool2d_with_its_tie_breaking(pool, frames):
    x = sign_frames(frames, 12, 24, seed=5)
    w = torch.randint(-1, 2, (16, 1, 5, 5), generator=torch.Generator().manual_seed(6)).float()
    conv = F.conv2d(x, w, padding=2)
    want, want_index = F.max_pool2d(conv, pool, return_indices=True)
    pooled, index = lut_conv_relu_maxpool(x, w, pool)
    assert torch.equal(pooled, want.clamp_min(0)) and torch.equal(index, want_index)
    # ties do occur: windows whose maximum is reached more than once, not at their first position
    windows = F.unfold(conv.flatten(0, 1)[:, None], pool, stride=pool)
    assert ((windows == windows.amax(1, keepdim=True)).sum(1) > 1).any()
    first = pool * (torch.arange(want.shape[-2])[:, None] * conv.shape[-1] + torch.arange(want.shape[-1]))
    assert (index != first).any()
    assert torch.equal(lut_conv_relu_maxpool(x, w, pool, winners=False)[0], pooled)
    assert lut_conv_relu_maxpool(x, w, pool, winners=False)[1] is None


def test_lut_refuses_what_it_cannot_compute_exactly():
    x, w = sign_frames(2, 8, 8, seed=7), torch.ones(4, 1, 5, 5)
    assert lut_applicable(x, w, 2)
    zero = x.clone()
    zero[1, 0, 3, 3] = 0.0  # sign(0) = 0 is a third input level
    assert not lut_applicable(zero, w, 2)
    assert not lut_applicable(x * 0.5, w, 2)
    assert not lut_applicable(x, w * 2, 2) and not lut_applicable(x, w * 0.5, 2)
    assert not lut_applicable(x, w, 1)  # not 'same'
    assert not lut_applicable(x, torch.ones(4, 1, 4, 4), 2)  # even kernel
    assert not lut_applicable(x, torch.ones(4, 1, 9, 9), 4)  # table too large
    assert not lut_applicable(x.expand(2, 3, 8, 8), torch.ones(4, 3, 5, 5), 2)  # several input channels
    with pytest.raises(ValueError, match=r"frame 8x8 is not divisible by the pool size 3"):
        lut_conv_relu_maxpool(x, w, 3)


@pytest.mark.parametrize("input_grad", [False, True])
def test_lut_forward_keeps_the_winner_backward_exact(input_grad):
    x = sign_frames(4, 16, 16, seed=8).requires_grad_(input_grad)
    w = torch.randn(16, 1, 5, 5, generator=torch.Generator().manual_seed(9)).sign().requires_grad_()
    assert lut_applicable(x, w, 2)
    upstream = torch.randn(4, 16, 4, 4, generator=torch.Generator().manual_seed(10))
    inputs = (x, w) if input_grad else (w,)
    got = torch.autograd.grad((conv_relu_maxpool(x, w, 2, 4) * upstream).sum(), inputs)
    reference = F.max_pool2d(F.relu(F.conv2d(x, w, padding=2)), 4)
    want = torch.autograd.grad((reference * upstream).sum(), inputs)
    assert torch.equal(conv_relu_maxpool(x, w, 2, 4), reference)
    for g, r in zip(got, want):
        assert g.abs().sum() > 0 and torch.allclose(g, r, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(conv_relu_maxpool(x, w, 2, 4), reference)


def test_trace_records_the_full_convolution_map():
    cfg = resolve({"data": {"frame_size": 16, "timesteps": 2}})
    torch.manual_seed(0)
    model = build_model(cfg, 3).eval()
    clips = torch.randn(2, 2, 1, 16, 16)
    with torch.no_grad(), model.tracing() as trace:
        model(clips)
    w = model.cnn_model.conv1.quantized_weight()
    assert len(trace["conv"]) == 2 and trace["conv"][1].shape == (2, 16, 16, 16)
    assert torch.equal(trace["conv"][1], F.conv2d(clips[:, 1].sign(), w, padding=2))
    assert torch.equal(trace["pooled"][1], F.max_pool2d(trace["conv"][1], 4).clamp_min(0))


def test_conv_relu_maxpool_refuses_other_than_same_padding():
    with pytest.raises(ValueError, match=r"'same' convolutions .* kernel \(5, 5\) with padding 1"):
        conv_relu_maxpool(torch.ones(1, 1, 8, 8), torch.ones(2, 1, 5, 5), 1, 4)


def test_one_intra_op_thread_restores_the_thread_count_even_on_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="inside"):
            with one_intra_op_thread(torch.device("cpu")):
                assert torch.get_num_threads() == 1
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
