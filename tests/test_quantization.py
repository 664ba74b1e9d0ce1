import math

import pytest
import torch

from training_utils.quantization import QUANTIZERS, build_quantizer

X = torch.tensor([-1.7, -0.6, -0.2, 0.05, 0.3, 0.9, 2.5])


def grad_of(q, x=X):
    x = x.clone().requires_grad_(True)
    q(x).sum().backward()
    return x.grad


@pytest.mark.parametrize("spec,m", [("tanh_mx", 2.0), ("tanh_mx:3", 3.0), ("tanh_x", 5.0),
                                    ({"name": "tanh_mx", "m": 1.5}, 1.5)])
def test_tanh_surrogates(spec, m):
    q = build_quantizer(spec)
    assert torch.equal(q(X), torch.sign(X))
    assert torch.allclose(grad_of(q), m * (1 - torch.tanh(m * X) ** 2))
    assert q.bits == 1


def test_binary_ste_is_sign_with_identity_gradient():
    q = build_quantizer("binary")
    assert torch.equal(q(X), torch.sign(X))
    assert torch.equal(grad_of(q), torch.ones_like(X))


def test_sigmoid_mx_is_heaviside_with_sigmoid_gradient():
    q = build_quantizer("sigmoid_mx")
    assert torch.equal(q(X), (X > 0).float())
    s = torch.sigmoid(6 * X)
    assert torch.allclose(grad_of(q), 6 * s * (1 - s))


def test_ternary_ste():
    q = build_quantizer("ternary_ste")
    assert q(X).tolist() == [-1, -1, 0, 0, 0, 1, 1]
    assert torch.equal(grad_of(q), torch.ones_like(X))
    assert q.bits == 2


def test_stochastic_quantizers_add_bounded_noise_in_training_only():
    torch.manual_seed(0)
    b = build_quantizer("stochastic_binary")
    x = torch.full((10000,), 0.2)
    y = b(x)
    assert set(y.unique().tolist()) == {-1.0, 1.0}
    # P(0.2 + U(-0.5, 0.5) > 0) = 0.7
    assert abs((y > 0).float().mean().item() - 0.7) < 0.02
    assert torch.equal(grad_of(b), torch.ones_like(X))
    b.eval()
    assert torch.equal(b(X), torch.sign(X))
    t = build_quantizer("laurie_ternary")
    t.eval()
    assert t(X).tolist() == [-1, -1, 0, 0, 0, 1, 1]


@pytest.mark.parametrize("name,levels", [("gumbel_binary", (-1.0, 1.0)), ("gumbel_ternary", (-1.0, 0.0, 1.0))])
def test_gumbel_gradient_is_the_soft_samples(name, levels):
    q = build_quantizer({"name": name, "tau": 0.7})
    torch.manual_seed(1)
    gumbel = -torch.log(-torch.log(torch.rand(len(X), len(levels))))
    x = X.clone().requires_grad_(True)
    y = q(x, gumbel=gumbel)
    y.sum().backward()
    lv = torch.tensor(levels)
    logits = (X.unsqueeze(-1) * lv + gumbel) / 0.7
    soft = torch.softmax(logits, -1)
    assert torch.equal(y.detach(), lv[logits.argmax(-1)])
    # d/dx sum_k soft_k l_k = (1/tau) * (E[l^2] - E[l]^2) under the soft distribution
    mean = (soft * lv).sum(-1)
    expected = ((soft * lv ** 2).sum(-1) - mean ** 2) / 0.7
    assert torch.allclose(x.grad, expected, atol=1e-6)
    q.eval()
    assert torch.equal(q(X), lv[(X.unsqueeze(-1) * lv).argmax(-1)])


def test_full_is_identity_with_32_bits():
    q = build_quantizer("full")
    assert torch.equal(q(X), X) and torch.equal(grad_of(q), torch.ones_like(X)) and q.bits == 32


def test_registry_lists_every_paper_quantizer_and_rejects_unknown():
    for name in ("tanh_mx", "tanh_x", "binary", "sigmoid_mx", "ternary_ste", "laurie_ternary",
                 "laurie_insp_binary", "suyeon_gumbel_binary", "suyeon_gumbel_ternary", "full"):
        assert name in QUANTIZERS
    with pytest.raises(ValueError, match="unknown quantizer 'tanh'.*accepted:.*tanh_mx"):
        build_quantizer("tanh")
    with pytest.raises(ValueError, match="does not take"):
        build_quantizer({"name": "binary", "m": 2})
    assert not math.isnan(build_quantizer("tanh_mx").m)
