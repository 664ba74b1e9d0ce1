"""Quantizers: the forward value a binary/ternary network sees, and the surrogate gradient it learns by.

Every quantizer is an ``nn.Module`` without parameters (so ``model.eval()`` turns the stochastic ones
deterministic and state dicts are unaffected), registered by name with its bit width. Models quantise
their *latent real-valued* weights and activations in ``forward``; nothing is ever written back to
``.data`` (the release did that, which froze its binary kernels at their random initial signs).

Config specs: a name (``"tanh_mx"``), a name with its parameter (``"tanh_mx:3"``), or a dict
(``{"name": "tanh_mx", "m": 3}``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .registry import Registry

QUANTIZERS = Registry("quantizer")  # name (and the release's aliases) -> Quantizer class


class _SurrogateSign(torch.autograd.Function):
    """Forward: exact ``forward_fn(x)``; backward: ``grad * surrogate_grad(x)``."""

    @staticmethod
    def forward(ctx, x, forward_fn: Callable, surrogate_grad: Callable):
        ctx.save_for_backward(x)
        ctx.surrogate_grad = surrogate_grad
        return forward_fn(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate_grad(x), None, None


def _heaviside(x):
    return (x > 0).to(x.dtype)


class Quantizer(nn.Module):
    registry_name = "quantizer"
    bits: float = 1
    levels: tuple = (-1.0, 1.0)

    @property
    def name(self) -> str:
        """The name it is registered under."""
        return self.registry_name

    def extra_repr(self):
        return f"bits={self.bits}"


@QUANTIZERS.register("full")
class Full(Quantizer):
    """No quantisation (float32)."""
    bits = 32
    levels = ()

    def forward(self, x):
        return x


@QUANTIZERS.register("binary", "ste")
class BinarySTE(Quantizer):
    """sign(x), straight-through (identity) gradient."""

    def forward(self, x):
        return _SurrogateSign.apply(x, torch.sign, torch.ones_like)


@QUANTIZERS.register("tanh_mx")
class TanhMx(Quantizer):
    """sign(x), gradient m * (1 - tanh(m x)^2): the paper's choice with m = 2."""
    default_m = 2.0

    def __init__(self, m: float | None = None):
        super().__init__()
        self.m = float(self.default_m if m is None else m)
        if not self.m > 0:
            raise ValueError(f"quantizer {self.name}: m must be > 0, got {m!r}")

    def forward(self, x):
        m = self.m
        return _SurrogateSign.apply(x, torch.sign, lambda v: m * (1 - torch.tanh(m * v) ** 2))

    def extra_repr(self):
        return f"m={self.m}, bits={self.bits}"


@QUANTIZERS.register("tanh_x")
class TanhX(TanhMx):
    """tanh_mx with m = 5 (the release's name)."""
    default_m = 5.0


@QUANTIZERS.register("sigmoid_mx")
class SigmoidMx(Quantizer):
    """Heaviside {0, 1}, gradient of sigmoid(m x) (m = 6)."""
    levels = (0.0, 1.0)

    def __init__(self, m: float | None = None):
        super().__init__()
        self.m = 6.0 if m is None else float(m)

    def forward(self, x):
        m = self.m

        def grad(v):
            s = torch.sigmoid(m * v)
            return m * s * (1 - s)
        return _SurrogateSign.apply(x, _heaviside, grad)


@QUANTIZERS.register("ternary_ste")
class TernarySTE(Quantizer):
    """{-1, 0, +1}: 0 where |x| <= threshold; identity gradient."""
    bits = 2
    levels = (-1.0, 0.0, 1.0)

    def __init__(self, threshold: float | None = None):
        super().__init__()
        self.threshold = 0.5 if threshold is None else float(threshold)

    def forward(self, x):
        t = self.threshold
        return _SurrogateSign.apply(x, lambda v: torch.sign(v) * (v.abs() > t).to(v.dtype), torch.ones_like)


class _Stochastic(Quantizer):
    """Uniform noise of half-width ``scale`` added before thresholding in training; none in evaluation."""

    def __init__(self, scale: float | None = None):
        super().__init__()
        self.scale = 0.5 if scale is None else float(scale)

    def noisy(self, x):
        if not self.training:
            return x
        return x + (torch.rand_like(x) * 2 - 1) * self.scale


@QUANTIZERS.register("stochastic_binary", "laurie_insp_binary")
class StochasticBinary(_Stochastic):
    def forward(self, x):
        return _SurrogateSign.apply(self.noisy(x), torch.sign, torch.ones_like)


@QUANTIZERS.register("stochastic_ternary", "laurie_ternary")
class StochasticTernary(_Stochastic):
    bits = 2
    levels = (-1.0, 0.0, 1.0)

    def forward(self, x):
        third = 1.0 / 3.0
        return _SurrogateSign.apply(
            self.noisy(x), lambda v: (v > third).to(v.dtype) - (v < -third).to(v.dtype), torch.ones_like)


class _Gumbel(Quantizer):
    """Hard Gumbel-softmax over the levels with logits ``x * level / tau``; the gradient is the soft
    sample's (straight-through). Evaluation takes the most likely level without noise."""

    def __init__(self, tau: float | None = None):
        super().__init__()
        self.tau = 1.0 if tau is None else float(tau)

    def forward(self, x, gumbel: torch.Tensor | None = None):
        levels = torch.tensor(self.levels, dtype=x.dtype, device=x.device)
        logits = x.unsqueeze(-1) * levels / self.tau
        if self.training:
            if gumbel is None:
                gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp_min(1e-20)).clamp_min(1e-20))
            logits = logits + gumbel / self.tau
        soft = torch.softmax(logits, dim=-1)
        hard = torch.nn.functional.one_hot(logits.argmax(-1), len(self.levels)).to(x.dtype)
        value_hard = (hard * levels).sum(-1)
        if not (self.training and x.requires_grad):
            return value_hard
        value_soft = (soft * levels).sum(-1)
        return value_soft + (value_hard - value_soft).detach()


@QUANTIZERS.register("gumbel_binary", "suyeon_gumbel_binary")
class GumbelBinary(_Gumbel):
    levels = (-1.0, 1.0)


@QUANTIZERS.register("gumbel_ternary", "suyeon_gumbel_ternary")
class GumbelTernary(_Gumbel):
    bits = 2
    levels = (-1.0, 0.0, 1.0)


_PARAM_NAMES = {"tanh_mx": "m", "tanh_x": "m", "sigmoid_mx": "m", "ternary_ste": "threshold",
                "stochastic_binary": "scale", "stochastic_ternary": "scale",
                "gumbel_binary": "tau", "gumbel_ternary": "tau"}


def parse_quantizer_spec(spec) -> tuple[str, dict]:
    """Return (registry name, kwargs) for a config spec, or raise ValueError naming what is accepted."""
    accepted = ", ".join(sorted(QUANTIZERS))
    if isinstance(spec, str):
        name, _, arg = spec.partition(":")
        kwargs = {}
        if arg:
            cls = QUANTIZERS.get(name)
            param = _PARAM_NAMES.get(cls.registry_name) if cls else None
            if param is None:
                raise ValueError(f"quantizer {spec!r}: {name!r} takes no parameter; accepted: {accepted}")
            try:
                kwargs[param] = float(arg)
            except ValueError:
                raise ValueError(f"quantizer {spec!r}: parameter {arg!r} is not a number") from None
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        name = spec["name"]
        kwargs = {k: v for k, v in spec.items() if k != "name"}
    else:
        raise ValueError(f"quantizer spec must be a name or {{'name': ..., param: value}}, got {spec!r}; "
                         f"accepted names: {accepted}")
    if name not in QUANTIZERS:
        raise ValueError(f"unknown quantizer {name!r}; accepted: {accepted}")
    cls = QUANTIZERS[name]
    allowed = {_PARAM_NAMES.get(cls.registry_name)} - {None}
    bad = set(kwargs) - allowed
    if bad:
        raise ValueError(f"quantizer {name!r} does not take {sorted(bad)}; it takes {sorted(allowed) or 'nothing'}")
    for key, value in kwargs.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"quantizer {name!r}: {key} must be a finite number, got {value!r}")
    return name, kwargs


def build_quantizer(spec) -> Quantizer:
    name, kwargs = parse_quantizer_spec(spec)
    return QUANTIZERS[name](**kwargs)
