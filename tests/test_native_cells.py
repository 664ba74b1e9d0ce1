"""Every in-pixel model of the paper's comparison computes the same function on the native kernels as on
its PyTorch path (``model.compute``): logits to 1e-5 and every gradient to 1e-4 of its largest entry, with
sensor noise on and off, one frame and sixteen, one clip and 32 (where float32 itself cannot reach 1e-4, at
least as close to the exact gradient as the PyTorch path: see ``assert_paths_agree``). The clips have flat regions (ties in the
pooling windows and zero sums at the gates), regions along the borders and exact zeros; the cells'
binary convolutions run on the native ``binary_conv`` kernel, checked on its own against conv2d."""
import copy

import pytest
import torch
import torch.nn.functional as F

from helpers import assert_gradients_close
from model_utils import build_model
from model_utils.kernels import load_native_kernels, native_coverage, uses_native_kernels
from model_utils.kernels.native_ops import binary_conv
from training_utils.config import resolve

from test_native_kernels import sample_clips

CELLS = ["pixelrnn_interpolation", "simple_rnn", "simple_rnn_out", "conv_gru", "mgu", "mgu_v2", "conv_lstm",
         "conv_lstm_out"]
# (encoder, stage) of the comparison's other in-pixel models
ENCODED = {"two_layer_cnn_pixelrnn": ({"type": "two_layer_cnn"}, {"cell": {"type": "pixelrnn"}}),
           "cnn_only": ({"type": "binary_cnn"}, {"cell": None, "readout": {"type": "all_frames"}}),
           "cnn_single_frame": ({"type": "binary_cnn"}, {"cell": None, "readout": {"type": "single_frame"}})}
CASES = [(False, 1, 16), (True, 32, 16), (True, 1, 1), (False, 32, 1)]  # (noise, batch, timesteps)
SIZE = 32


@pytest.fixture(scope="module", autouse=True)
def native_kernels():
    load_native_kernels()


def comparison_model(encoder: dict, stage: dict, noise: bool, timesteps: int):
    frame_size = 64 if encoder["type"] == "two_layer_cnn" else SIZE  # two pooling layers of 4
    cfg = resolve({"data": {"timesteps": timesteps, "frame_size": frame_size},
                   "model": {"encoder": {**encoder, "noise_std": 0.6 if noise else 0.0, "threshold_init": 1.5},
                             **stage}})
    torch.manual_seed(0)
    return build_model(cfg, 9).train(), frame_size


def run(model, compute, clips, target):
    model.compute = compute
    assert uses_native_kernels(model, clips) == (compute == "native")
    model.zero_grad(set_to_none=True)
    torch.manual_seed(7)  # the same noise on both paths
    logits = model(clips)
    F.cross_entropy(logits, target).backward()
    return logits.detach(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def exact_gradients(model, clips, target) -> dict:
    """The PyTorch path's gradients in float64 (the same noise: it is drawn in float32): the exact values."""
    exact = copy.deepcopy(model).double()
    return run(exact, "torch", clips.double(), target)[1]


def assert_paths_agree(model, clips):
    assert native_coverage(model) is None
    target = torch.arange(len(clips)) % 9
    got, got_grads = run(model, "native", clips, target)
    want, want_grads = run(model, "torch", clips, target)
    assert (got - want).abs().max() <= 1e-5
    try:
        assert_gradients_close(got_grads, want_grads)
    except AssertionError:
        # Through 16 binary steps the gradients reach ~1e15 and a threshold's gradient sums them with heavy
        # cancellation: there float32 itself misses the exact value by more than 1e-4 on either path. The
        # native path must then be as close to the exact (float64) gradient as the PyTorch path is, within 2x.
        exact = exact_gradients(model, clips, target)
        assert sorted(got_grads) == sorted(exact)
        for name, value in exact.items():
            torch_error = (want_grads[name].double() - value).abs().max()
            tolerance = max(1e-4 * value.abs().max().clamp_min(1e-3), 2 * torch_error)
            assert (got_grads[name].double() - value).abs().max() <= tolerance, name
    model.eval()
    with torch.no_grad():
        model.compute = "native"
        native = model(clips)
        model.compute = "torch"
        assert (native - model(clips)).abs().max() <= 1e-5
    return got_grads


@pytest.mark.parametrize("noise, batch, timesteps", CASES)
@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_on_the_native_kernels_matches_its_pytorch_path(cell, noise, batch, timesteps):
    model, size = comparison_model({"type": "binary_cnn"}, {"cell": {"type": cell}}, noise, timesteps)
    grads = assert_paths_agree(model, sample_clips(batch, timesteps, size=size))
    # the encoder and the state's kernels learn on the native path too
    assert grads["encoder.conv1.weight"].abs().sum() > 0
    state_kernel = next(name for name in model.cell.conv_names if name.endswith("_h"))
    assert timesteps == 1 or grads[f"cell.{state_kernel}.weight"].abs().sum() > 0


@pytest.mark.parametrize("noise, batch, timesteps", CASES)
@pytest.mark.parametrize("name", sorted(ENCODED))
def test_the_other_in_pixel_models_on_the_native_kernels_match_their_pytorch_path(name, noise, batch, timesteps):
    timesteps = max(timesteps, 2) if name == "cnn_only" else timesteps  # all_frames reads at least two frames
    model, size = comparison_model(*ENCODED[name], noise, timesteps)
    grads = assert_paths_agree(model, sample_clips(batch, timesteps, size=size))
    assert grads["encoder.conv1.weight"].abs().sum() > 0
    if name == "two_layer_cnn_pixelrnn":
        assert grads["encoder.conv2.weight"].abs().sum() > 0


@pytest.mark.parametrize("maps, kernels, size, k", [(3, 4, (12, 16), 5), (1, 1, (5, 7), 3), (2, 3, (20, 20), 13)])
def test_binary_conv_equals_conv2d_with_its_gradients(maps, kernels, size, k):
    g = torch.Generator().manual_seed(3)
    x = torch.randint(-1, 2, (maps, 1, *size), generator=g).float()
    x[:, :, :2] = 1.0  # flat border rows: the zero padding shows
    x.requires_grad_()
    w = torch.randint(-1, 2, (kernels, 1, k, k), generator=g).float().requires_grad_()
    upstream = torch.randn(maps, kernels, *size, generator=g)
    got, want = torch.cat(binary_conv(x, w), 1), F.conv2d(x, w, padding=k // 2)
    assert torch.equal(got, want)
    got_grads = torch.autograd.grad((got * upstream).sum(), (x, w))
    want_grads = torch.autograd.grad((want * upstream).sum(), (x, w))
    for g_, w_ in zip(got_grads, want_grads):
        assert g_.abs().sum() > 0 and (g_ - w_).abs().max() <= 1e-4 * w_.abs().max()


def test_binary_conv_kernel_whose_sums_are_unused_gets_a_zero_gradient_as_in_conv2d():
    g = torch.Generator().manual_seed(4)
    x = torch.randint(-1, 2, (2, 1, 9, 9), generator=g).float().requires_grad_()
    w = torch.randint(-1, 2, (3, 1, 5, 5), generator=g).float().requires_grad_()
    got = torch.autograd.grad(binary_conv(x, w)[1].sum(), (x, w))  # kernels 0 and 2 unused: no gradient reaches them
    want = torch.autograd.grad(F.conv2d(x, w, padding=2)[:, 1].sum(), (x, w))
    assert torch.allclose(got[0], want[0]) and torch.allclose(got[1], want[1])
    assert got[1][1].abs().sum() > 0 and got[1][[0, 2]].abs().sum() == 0


def test_binary_conv_refuses_what_it_cannot_compute_exactly():
    with pytest.raises(RuntimeError, match=r"maps must hold only -1, 0 and \+1"):
        binary_conv(torch.full((1, 1, 8, 8), 0.5), torch.ones(2, 1, 5, 5))
    with pytest.raises(RuntimeError, match=r"weight must hold only -1, 0 and \+1"):
        binary_conv(torch.ones(1, 1, 8, 8), torch.full((2, 1, 5, 5), 2.0))
    with pytest.raises(RuntimeError, match=r"weight must be \(K, 1, k, k\) with k odd"):
        binary_conv(torch.ones(1, 1, 8, 8), torch.ones(2, 1, 4, 4))
