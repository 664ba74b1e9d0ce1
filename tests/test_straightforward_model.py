"""Both paths of the model (the PyTorch path and the native kernels, ``model.compute``) compute what the
straightforward per-frame implementation of the benchmark computes: logits to 1e-5, gradients to 1e-4
(relative to each gradient's largest entry)."""
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_gradients_close
from model_utils.straightforward import straightforward_forward
from model_utils import build_model
from model_utils.kernels import uses_native_kernels
from training_utils.config import resolve


def gradients(model, logits, target):
    model.zero_grad(set_to_none=True)
    F.cross_entropy(logits, target).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


# The released checkpoints' two models: cam_noise (learned gate threshold) and lips_no_noise (plain
# gate, learned input threshold); batch sizes 1 and several.
@pytest.mark.parametrize("kernels", ["torch", "native"])
@pytest.mark.parametrize("encoder, learned_threshold, batch", [({}, True, 3), ({"input_threshold": True}, False, 1),
                                                               ({"input_threshold": True}, True, 2), ({}, False, 1)])
def test_model_matches_straightforward_logits_and_gradients(encoder, learned_threshold, batch, kernels):
    cfg = resolve({"model": {"encoder": {**encoder, "threshold_init": 1.5},
                             "cell": {"learned_threshold": learned_threshold}}}, ["data.timesteps=6"])
    torch.manual_seed(0)
    model = build_model(cfg, 9).train()
    model.compute = kernels
    clips = torch.randn(batch, 6, 1, 64, 64)
    clips[:, :, :, :24, :24] = 1.0  # flat regions: ties in the pooling windows, also along the borders
    target = torch.tensor([0, 4, 8])[:batch]
    assert uses_native_kernels(model, clips) == (kernels == "native")
    fast = model(clips)
    fast_grads = gradients(model, fast, target)
    slow = straightforward_forward(model, clips)
    slow_grads = gradients(model, slow, target)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert "encoder.conv1.weight" in fast_grads and "cell.ConvGates_h.weight" in fast_grads
    assert_gradients_close(fast_grads, slow_grads)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(clips), straightforward_forward(model, clips), atol=1e-5)


def test_trace_records_the_full_convolution_map():
    cfg = resolve({"data": {"frame_size": 16, "timesteps": 2}})
    torch.manual_seed(0)
    model = build_model(cfg, 3).eval()
    clips = torch.randn(2, 2, 1, 16, 16)
    with torch.no_grad(), model.tracing() as trace:
        model(clips)
    w = model.encoder.conv1.quantized_weight()
    assert len(trace["conv"]) == 2 and trace["conv"][1].shape == (2, 16, 16, 16)
    assert torch.equal(trace["conv"][1], F.conv2d(clips[:, 1].sign(), w, padding=2))
    assert torch.equal(trace["pooled"][1], F.max_pool2d(trace["conv"][1], 4).clamp_min(0))
