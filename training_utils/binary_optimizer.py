"""Bop, the binary optimizer (Helwegen et al., "Latent Weights Do Not Exist: Rethinking Binarized Neural
Network Optimization", NeurIPS 2019; larq's ``larq.optimizers.Bop``).

A binary kernel changes the model only when one of its signs flips, and a flip is a jump of every map
downstream. Bop treats the latent weight as inertia, not as a weight: it keeps an exponential moving
average m of each binary weight's gradient,

    m <- (1 - gamma) m + gamma g,

and flips a sign when |m| exceeds the threshold tau *and* m points the way a flip lowers the loss
(sign(m) = sign(w): the gradient says "smaller" of a +1, "larger" of a -1). A flip negates the stored
value, so its magnitude -- and with it the surrogate's slope at the weight -- is kept; only signs change.

Additions of this project (all off with their defaults):
- ``normalize``: compare |m| / sqrt(v) with tau, v the moving average of g^2 at the same rate (Bop's
  second-order variant, Suarez-Ramirez et al. 2021). The ratio is in [0, 1] and says how consistently a
  weight's gradient points one way, whatever the gradient's scale: the encoder's and the cell's kernels
  differ 4x in gradient size, and one tau fits both.
- ``max_flips``: at most that many flips per tensor and step, the largest |m| first. The entries of one
  5x5 kernel often have gradients of one sign; plain Bop then flips half a kernel in one step.
- ``reset_after_flip``: m of a flipped entry restarts from 0, so a flip has to be earned again before the
  entry can flip back (a hysteresis).
- ``interval``: m is updated every step, flips are considered every ``interval``-th step only. With small
  batches this keeps the number of flip decisions (and of their verifications) per training clip fixed.
- ``warmup``: no flips in a tensor's first ``warmup`` steps (m and v are averaged all the while). Both
  averages start at 0, so after k steps of a gradient of constant sign |m| / sqrt(v) is
  sqrt(1 - (1 - gamma)^k) however noisy the gradient will turn out: with gamma 0.05 it passes 0.25 after
  2 steps and 0.5 after 6, while a gradient of random sign settles near sqrt(gamma / (2 - gamma)) = 0.16.
  Before about 1 / gamma steps the ratio counts steps more than it measures consistency.

``flipped`` holds the masks of the last step's flips and ``toggle()`` negates exactly those entries again:
the trainer's flip verification (``train.flip_verification``) takes a step's flips back with it when they
raise the loss on a fixed set of training clips.
"""
from __future__ import annotations

import torch


class Bop(torch.optim.Optimizer):
    def __init__(self, params, threshold: float = 1e-6, gamma: float = 1e-3, normalize: bool = False,
                 max_flips: int | None = None, reset_after_flip: bool = False, interval: int = 1,
                 warmup: int = 0):
        if not threshold >= 0:
            raise ValueError(f"Bop threshold must be >= 0, got {threshold!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"Bop gamma must be in (0, 1], got {gamma!r}")
        if interval < 1:
            raise ValueError(f"Bop interval must be >= 1, got {interval!r}")
        if warmup < 0:
            raise ValueError(f"Bop warmup must be >= 0, got {warmup!r}")
        if max_flips is not None and max_flips < 1:
            raise ValueError(f"Bop max_flips must be null or >= 1, got {max_flips!r}")
        super().__init__(params, dict(threshold=threshold, gamma=gamma, normalize=normalize, max_flips=max_flips,
                                      reset_after_flip=reset_after_flip, interval=interval,
                                      warmup=warmup))
        self.flipped: list[tuple[torch.Tensor, torch.Tensor]] = []  # (parameter, mask) of the last step

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.flipped = []
        for group in self.param_groups:
            tau, gamma, cap = group["threshold"], group["gamma"], group["max_flips"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum" not in state:
                    state["step"] = 0
                    state["momentum"] = torch.zeros_like(p)
                    if group["normalize"]:
                        state["second_moment"] = torch.zeros_like(p)
                m = state["momentum"]
                m.mul_(1 - gamma).add_(p.grad, alpha=gamma)
                strength = m.abs()
                if group["normalize"]:
                    v = state["second_moment"]
                    v.mul_(1 - gamma).addcmul_(p.grad, p.grad, value=gamma)
                    strength = strength / v.sqrt().clamp_min(1e-30)
                state["step"] += 1
                if state["step"] % group["interval"] or state["step"] <= group["warmup"]:
                    continue
                flip = (strength > tau) & (torch.sign(m) == torch.sign(p))
                if cap is not None and int(flip.sum()) > cap:
                    strength = torch.where(flip, strength, torch.zeros_like(strength)).flatten()
                    keep = torch.zeros_like(strength, dtype=torch.bool)
                    keep[strength.topk(cap).indices] = True
                    flip = keep.view_as(flip)
                p.copy_(torch.where(flip, -p, p))
                if group["reset_after_flip"]:
                    m.masked_fill_(flip, 0.0)
                if flip.any():
                    self.flipped.append((p, flip))
        return loss

    @torch.no_grad()
    def toggle(self) -> None:
        """Negate the entries the last step flipped (undo it; a second call redoes it)."""
        for p, flip in self.flipped:
            p.copy_(torch.where(flip, -p, p))

    @torch.no_grad()
    def reject(self) -> None:
        """Forget the last step's flips after ``toggle()`` took them back: their m restarts from 0, so they
        are not proposed again at once."""
        for p, flip in self.flipped:
            self.state[p]["momentum"].masked_fill_(flip, 0.0)
        self.flipped = []
