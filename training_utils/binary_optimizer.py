"""Bop, the binary optimizer (Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural
Network Optimization", NeurIPS 2019; larq's ``larq.optimizers.Bop``).

A binary kernel changes the model only when one of its signs flips, and a flip is a jump of every map
downstream. Bop treats the latent weight as inertia, not as a weight: it keeps an exponential moving
average m of each binary weight's gradient,

    m <- (1 - gamma) m + gamma g,

and flips a sign when |m| exceeds the threshold tau *and* m points the way a flip lowers the loss
(sign(m) = sign(w): the gradient says "smaller" of a +1, "larger" of a -1). A flip negates the stored
value, so its magnitude -- and with it the surrogate's slope at the weight -- is kept; only signs change.

Two additions of this project (both off with their defaults of ``None`` / ``False``):
- ``max_flips``: at most that many flips per tensor and step, the largest |m| first. The entries of one
  5x5 kernel often have gradients of one sign; plain Bop then flips half a kernel in one step.
- ``reset_after_flip``: m of a flipped entry restarts from 0, so a flip has to be earned again before the
  entry can flip back (a hysteresis).
"""
from __future__ import annotations

import torch


class Bop(torch.optim.Optimizer):
    def __init__(self, params, threshold: float = 1e-6, gamma: float = 1e-3, max_flips: int | None = None,
                 reset_after_flip: bool = False):
        if not threshold >= 0:
            raise ValueError(f"Bop threshold must be >= 0, got {threshold!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"Bop gamma must be in (0, 1], got {gamma!r}")
        if max_flips is not None and max_flips < 1:
            raise ValueError(f"Bop max_flips must be null or >= 1, got {max_flips!r}")
        super().__init__(params, dict(threshold=threshold, gamma=gamma, max_flips=max_flips,
                                      reset_after_flip=reset_after_flip))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            tau, gamma, cap = group["threshold"], group["gamma"], group["max_flips"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                m = state["momentum"]
                m.mul_(1 - gamma).add_(p.grad, alpha=gamma)
                flip = (m.abs() > tau) & (torch.sign(m) == torch.sign(p))
                if cap is not None and int(flip.sum()) > cap:
                    strength = torch.where(flip, m.abs(), torch.zeros_like(m)).flatten()
                    keep = torch.zeros_like(strength, dtype=torch.bool)
                    keep[strength.topk(cap).indices] = True
                    flip = keep.view_as(flip)
                p.copy_(torch.where(flip, -p, p))
                if group["reset_after_flip"]:
                    m.masked_fill_(flip, 0.0)
        return loss
