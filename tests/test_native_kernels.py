"""The native CPU kernels (model_utils/kernels) compute what the model's PyTorch path computes:
logits to 1e-5 and every gradient to 1e-4 of its largest entry, with the same noise tensors, for the
configurations they cover; everything else runs on the PyTorch path (or is refused when 'native' is
asked for explicitly)."""
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_gradients_close
from model_utils import build_model
from model_utils.kernels import load_native_kernels, native_coverage, uses_native_kernels
from model_utils.kernels.native_ops import conv_relu_maxpool, pixelrnn_time_loop
from training_utils.config import resolve


@pytest.fixture(scope="module", autouse=True)
def native_kernels():
    load_native_kernels()  # built once under build/native_kernels (a no-op when up to date)


def paper_model(*, noise=False, learned=False, timesteps=16, frame_size=64, encoder=(), quantizers=(), kernels="auto"):
    cfg = resolve({"data": {"timesteps": timesteps, "frame_size": frame_size},
                   "model": {"encoder": {"noise_std": 0.6 if noise else 0.0, "threshold_init": 1.5, **dict(encoder)},
                             "cell": {"learned_threshold": learned, "gate_noise_std": 0.6 if noise else 0.0,
                                      "output_noise_std": 1.0 if noise else 0.0},
                             "quantizers": dict(quantizers), "compute": kernels}})
    torch.manual_seed(0)
    return build_model(cfg, 9).train()


def sample_clips(batch, timesteps, size=64, seed=1):
    """Random frames with flat regions (ties in the pooling windows, also along the top and left borders)
    and exact zeros (sign 0: a third input level)."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(batch, timesteps, 1, size, size, generator=g)
    clips[..., : size // 3, : size // 3] = 1.0
    clips[..., size // 2:, size - 6:] = -1.0
    clips[..., size // 2: size // 2 + 5, 4:9] = 0.0
    return clips


def run(model, kernels, clips, target, seed=7):
    model.compute = kernels
    assert uses_native_kernels(model, clips) == (kernels == "native")
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same noise tensors on both paths
    logits = model(clips)
    F.cross_entropy(logits, target).backward()
    return logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def assert_same(model, clips):
    target = torch.arange(len(clips)) % 9
    got, got_grads = run(model, "native", clips, target)
    want, want_grads = run(model, "torch", clips, target)
    assert (got - want).abs().max() <= 1e-5
    assert {"encoder.conv1.weight", "encoder.thresh1", "cell.Conv_out_h.weight"} <= set(got_grads)
    assert_gradients_close(got_grads, want_grads)
    return got_grads


@pytest.mark.parametrize("noise, learned, batch, timesteps", [
    (False, False, 1, 16), (True, True, 32, 16), (True, False, 1, 1), (False, True, 32, 1), (True, True, 3, 16)])
def test_native_model_matches_the_pytorch_path(noise, learned, batch, timesteps):
    model = paper_model(noise=noise, learned=learned, timesteps=timesteps)
    grads = assert_same(model, sample_clips(batch, timesteps))
    if timesteps > 1:  # the gate (its kernels, its threshold) reaches o_T only through the time loop
        assert grads["cell.ConvGates_h.weight"].abs().sum() > 0
        assert not learned or grads["cell.rnn_threshold"].abs().sum() > 0
    model.eval()
    with torch.no_grad():
        logits = {}
        for kernels in ("native", "torch"):
            model.compute = kernels
            logits[kernels] = model(sample_clips(batch, timesteps))
        assert (logits["native"] - logits["torch"]).abs().max() <= 1e-5


@pytest.mark.parametrize("encoder, quantizers", [
    ({"input_threshold": True, "pool": [2]}, {"gate": "ste"}),   # learned input threshold: frame gradients
    ({"kernel_size": 3}, {"gate": "tanh_x", "cnn_weights": "ternary_ste", "rnn_weights": "ternary_ste"})])
def test_native_model_matches_the_pytorch_path_in_other_covered_configurations(encoder, quantizers):
    model = paper_model(noise=True, learned=True, timesteps=5, frame_size=32, encoder=encoder, quantizers=quantizers)
    assert native_coverage(model) is None
    grads = assert_same(model, sample_clips(4, 5, size=32))
    if "input_threshold" in encoder:
        assert grads["encoder.thresh0"].abs().sum() > 0


def sign_frames(n, height, width, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, height, width, generator=g).sign()
    x[:, :, : height // 2, : width // 3] = 1.0
    x[:, :, height // 2:, width // 2:] = -1.0
    x[:, :, 1, 1:4] = 0.0
    return x


@pytest.mark.parametrize("pool, kernel", [(4, 5), (3, 5), (2, 3), (4, 13)])
def test_encoder_op_equals_conv_relu_maxpool_with_max_pool2ds_tie_breaking(pool, kernel):
    x = sign_frames(5, 12, 24, seed=5).requires_grad_()
    w = torch.randint(-1, 2, (16, 1, kernel, kernel), generator=torch.Generator().manual_seed(6)).float()
    w[0] = 1.0  # flat regions then tie, and the border falloff shows
    w.requires_grad_()
    upstream = torch.randn(5, 16, 12 // pool, 24 // pool, generator=torch.Generator().manual_seed(7))
    got = conv_relu_maxpool(x, w, pool)
    conv = F.conv2d(x, w, padding=kernel // 2)
    want = F.max_pool2d(F.relu(conv), pool)
    assert torch.equal(got, want) and (want == 0).any() and (want > 0).any()
    windows = F.unfold(conv.detach().flatten(0, 1)[:, None], pool, stride=pool)
    assert ((windows == windows.amax(1, keepdim=True)).sum(1) > 1).any()  # ties do occur
    got_grads = torch.autograd.grad((got * upstream).sum(), (x, w))
    want_grads = torch.autograd.grad((want * upstream).sum(), (x, w))
    for g, r in zip(got_grads, want_grads):
        assert g.abs().sum() > 0 and torch.allclose(g, r, atol=1e-5)
    with torch.no_grad():
        assert torch.equal(conv_relu_maxpool(x, w, pool), want)


def test_cell_op_refuses_what_it_cannot_compute_exactly():
    x = torch.ones(1, 2, 8, 8)
    w = torch.ones(2, 5, 5)
    with pytest.raises(RuntimeError, match=r"x must hold only -1, 0 and \+1"):
        pixelrnn_time_loop(x * 0.5, w, w, torch.tensor(0.0), None, "ste", 0.0)
    with pytest.raises(RuntimeError, match=r"weight_h must hold only -1, 0 and \+1"):
        pixelrnn_time_loop(x, w, w * 2, torch.tensor(0.0), None, "ste", 0.0)
    with pytest.raises(RuntimeError, match=r"surrogate must be 'ste' or 'tanh_mx'"):
        pixelrnn_time_loop(x, w, w, torch.tensor(0.0), None, "sigmoid", 1.0)
    with pytest.raises(RuntimeError, match=r"frame 8x8 is not divisible by the pool size 3"):
        conv_relu_maxpool(torch.ones(1, 1, 8, 8), torch.ones(4, 1, 5, 5), 3)


def test_kernels_choice_covers_only_exact_configurations():
    cfg = {"data": {"timesteps": 2, "frame_size": 16}}
    clips = torch.zeros(1, 2, 1, 16, 16)
    gumbel = {"model": {"quantizers": {"cnn_output": "gumbel_binary"}}}
    model = build_model(resolve({**cfg, **gumbel}), 3)
    assert native_coverage(model) == ("the encoder: the cnn_output quantizer 'gumbel_binary' does not give exact "
                                      "-1/0/+1 values; the cell: its input maps (the encoder's output) are not "
                                      "exactly -1/0/+1")
    assert not uses_native_kernels(model, clips)  # auto: the PyTorch path
    with pytest.raises(ValueError, match=r"model.compute is 'native' but the encoder: the cnn_output quantizer "
                                         r"'gumbel_binary' does not give exact"):
        build_model(resolve({**cfg, "model": {**gumbel["model"], "compute": "native"}}), 3)
    # auto: each component on its own path (the project's channels -> channels second layer stays in PyTorch)
    two = build_model(resolve({**cfg, "model": {"encoder": {"layers": 2, "pool": [2, 2], "channels": 4}}}), 3)
    assert "second layer (4 -> 4 channels) has no native kernel" in native_coverage(two)
    assert (two.encoder.compute, two.cell.compute) == ("torch", "auto")
    camera = build_model(resolve({**cfg, "model": {"encoder": {"type": "frames"}, "cell": None,
                                                    "readout": {"type": "single_frame"}}}), 3)
    assert native_coverage(camera) == "the readout: its input maps (the encoder's output) are not exactly -1/0/+1"
    model = build_model(resolve(cfg), 3)
    assert uses_native_kernels(model, clips)
    model.compute = "torch"
    assert not uses_native_kernels(model, clips)
    model.compute = "native"
    with model.tracing():  # tracing records every stage: always the PyTorch path
        assert not uses_native_kernels(model, clips)


def test_a_failed_build_is_an_error_for_native_and_a_warning_for_auto(monkeypatch):
    from model_utils.kernels import NativeKernelsUnavailable, dispatch, native_build

    monkeypatch.setattr(native_build, "_loaded", False)
    monkeypatch.setattr(native_build, "_failure", "building the native kernels failed: no compiler")
    monkeypatch.setattr(dispatch, "_warned_unavailable", False)
    cfg = {"data": {"timesteps": 2, "frame_size": 16}}
    with pytest.raises(NativeKernelsUnavailable, match="no compiler"):
        build_model(resolve({**cfg, "model": {"compute": "native"}}), 3)
    model = build_model(resolve(cfg), 3)
    with pytest.warns(RuntimeWarning, match="using the PyTorch path.*no compiler"):
        assert not uses_native_kernels(model, torch.zeros(1, 2, 1, 16, 16))
