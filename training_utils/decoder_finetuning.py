"""The off-sensor decoder on sensor read-outs: predictions, and finetuning it alone (BatchNorm, thresh3,
linear layer; the on-sensor weights stay frozen) on real sensor outputs: the epoch count is chosen by
validation accuracy, then (``refit``) the decoder is retrained on all outputs for that many epochs;
optionally anchored to its pre-finetuning weights by an L2 penalty.

Seeded and deterministic: the hold-out, the batch order and the initial state depend only on ``seed``.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from data_utils.splits import stratified_split


@torch.no_grad()
def decoder_logits(model, values: np.ndarray, device="cpu", batch_size: int = 256) -> torch.Tensor:
    """Logits of the decoder (in eval mode) for read-outs ``values`` (N, 1, M, M)."""
    model.eval()
    x = torch.as_tensor(values, dtype=torch.float32)
    return torch.cat([model.decode(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def stratified_holdout(labels, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept indices, held-out indices): ``fraction`` of every class held out (at least one where a class
    has two or more items), drawn by ``seed``; both lists sorted. The draw is the one stratified splitter's
    ``"permutation"`` draw (``data_utils.splits.stratified_split``)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1 (exclusive), got {fraction}")
    parts = stratified_split(labels, {"held": fraction}, seed, "kept", draw="permutation")
    return parts["kept"], parts["held"]


def _accuracy_and_loss(model, values, labels, device) -> tuple[float, float]:
    logits = decoder_logits(model, values, device)
    target = torch.as_tensor(labels)
    return (logits.argmax(1) == target).float().mean().item(), F.cross_entropy(logits, target).item()


def _train_decoder(model, values: np.ndarray, labels, epochs: int, *, lr: float, batch_size: int,
                   weight_decay: float, input_noise_std: float, anchor: float, seed: int, device,
                   after_epoch=None) -> None:
    """``epochs`` epochs of Adam on the decoder alone, from the model's current weights; ``anchor`` adds
    ``anchor * sum((p - p_start)^2)`` over the decoder's parameters. ``after_epoch(epoch, train_loss)``."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    decoder = list(model.decoder_parameters())
    decoder_ids = {id(p) for p in decoder}
    for param in model.parameters():
        param.requires_grad_(id(param) in decoder_ids)
    start = [p.detach().clone() for p in decoder]
    optimizer = torch.optim.Adam(decoder, lr=lr, weight_decay=weight_decay)
    x = torch.as_tensor(values, dtype=torch.float32)
    y = torch.as_tensor(list(labels))
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for first in range(0, len(x), batch_size):
            batch = order[first:first + batch_size]
            inputs = x[batch]
            if input_noise_std > 0:
                inputs = inputs + torch.randn(inputs.shape, generator=generator) * input_noise_std
            loss = F.cross_entropy(model.decode(inputs.to(device)), y[batch].to(device))
            total += loss.item() * len(batch)
            if anchor > 0:
                loss = loss + anchor * sum(((p - p0) ** 2).sum() for p, p0 in zip(decoder, start))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if after_epoch is not None:
            after_epoch(epoch, total / len(x))


def finetune_decoder(model, train_values: np.ndarray, train_labels, val_values: np.ndarray, val_labels, *,
                     epochs: int = 100, lr: float = 1e-3, batch_size: int = 32, weight_decay: float = 0.0,
                     input_noise_std: float = 0.0, anchor: float = 0.0, refit: bool = False, seed: int = 0,
                     device="cpu", log=None) -> dict:
    """Train ``model.decoder_parameters()`` on the train read-outs for up to ``epochs`` epochs and find the
    epoch with the best validation accuracy (ties: lower validation loss, then the earlier epoch).

    ``refit`` False: the model ends with that epoch's weights. ``refit`` True: the validation part only
    chose the epoch count; the model restarts from its pre-finetuning weights and trains that many epochs
    on train and validation read-outs together (same seed), so the final decoder sees every output.
    ``anchor`` > 0 adds an L2 penalty pulling the decoder towards its pre-finetuning weights.
    ``input_noise_std`` adds Gaussian noise (decoded units) to training inputs. Returns a summary with the
    per-epoch history of the selection run."""
    if epochs < 1 or batch_size < 1 or lr <= 0 or anchor < 0:
        raise ValueError(f"finetuning needs epochs >= 1, batch size >= 1, lr > 0 and anchor >= 0 "
                         f"(got {epochs}, {batch_size}, {lr}, {anchor})")
    initial = copy.deepcopy(model.state_dict())
    settings = dict(lr=lr, batch_size=batch_size, weight_decay=weight_decay, input_noise_std=input_noise_std,
                    anchor=anchor, seed=seed, device=device)
    acc, loss = _accuracy_and_loss(model, val_values, val_labels, device)
    best = {"epoch": 0, "val_accuracy": acc, "val_loss": loss, "state": initial}
    history = [{"epoch": 0, "val_accuracy": acc, "val_loss": loss}]

    def after_epoch(epoch, train_loss):
        acc, val_loss = _accuracy_and_loss(model, val_values, val_labels, device)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_accuracy": acc, "val_loss": val_loss})
        if log is not None:
            log(history[-1])
        if (acc, -val_loss) > (best["val_accuracy"], -best["val_loss"]):
            best.update(epoch=epoch, val_accuracy=acc, val_loss=val_loss, state=copy.deepcopy(model.state_dict()))

    _train_decoder(model, train_values, train_labels, epochs, after_epoch=after_epoch, **settings)
    summary = {"best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"],
               "best_val_loss": best["val_loss"], "anchor": anchor, "refit": refit, "history": history}
    if refit:
        model.load_state_dict(initial)
        all_values = np.concatenate([train_values, val_values])
        all_labels = list(train_labels) + list(val_labels)
        _train_decoder(model, all_values, all_labels, best["epoch"], **settings)
        summary["refit_epochs"] = best["epoch"]
        summary["refit_outputs"] = len(all_labels)
    else:
        model.load_state_dict(best["state"])
    model.eval()
    return summary
