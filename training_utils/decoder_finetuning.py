"""The off-sensor decoder on sensor read-outs: predictions, and finetuning it alone (BatchNorm, thresh3,
linear layer; the on-sensor weights stay frozen) on real sensor outputs, selected by validation accuracy.

Seeded and deterministic: the hold-out, the batch order and the initial state depend only on ``seed``.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def decoder_logits(model, values: np.ndarray, device="cpu", batch_size: int = 256) -> torch.Tensor:
    """Logits of the decoder (in eval mode) for read-outs ``values`` (N, 1, M, M)."""
    model.eval()
    x = torch.as_tensor(values, dtype=torch.float32)
    return torch.cat([model.decode(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def stratified_holdout(labels, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept indices, held-out indices): ``fraction`` of every class held out (at least one where a class
    has two or more items), drawn by ``seed``; both lists sorted."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1 (exclusive), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = int(round(len(members) * fraction))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        else:
            count = 0
        held += rng.permutation(members)[:count].tolist()
    held = sorted(held)
    kept = sorted(set(range(len(labels))) - set(held))
    return kept, held


def _accuracy_and_loss(model, values, labels, device) -> tuple[float, float]:
    logits = decoder_logits(model, values, device)
    target = torch.as_tensor(labels)
    return (logits.argmax(1) == target).float().mean().item(), F.cross_entropy(logits, target).item()


def finetune_decoder(model, train_values: np.ndarray, train_labels, val_values: np.ndarray, val_labels, *,
                     epochs: int = 100, lr: float = 1e-3, batch_size: int = 32, weight_decay: float = 0.0,
                     input_noise_std: float = 0.0, seed: int = 0, device="cpu", log=None) -> dict:
    """Train ``model.decoder_parameters()`` on the train read-outs; keep the epoch with the best validation
    accuracy (ties: lower validation loss). The model ends with that epoch's weights. Returns a summary
    with the per-epoch history. ``input_noise_std`` adds Gaussian noise (decoded units) to training inputs."""
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"finetuning needs epochs >= 1, batch size >= 1 and lr > 0 (got {epochs}, {batch_size}, {lr})")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    decoder = list(model.decoder_parameters())
    decoder_ids = {id(p) for p in decoder}
    for param in model.parameters():
        param.requires_grad_(id(param) in decoder_ids)
    optimizer = torch.optim.Adam(decoder, lr=lr, weight_decay=weight_decay)
    x = torch.as_tensor(train_values, dtype=torch.float32)
    y = torch.as_tensor(list(train_labels))

    best_acc, best_loss = _accuracy_and_loss(model, val_values, val_labels, device)
    best = {"epoch": 0, "val_accuracy": best_acc, "val_loss": best_loss, "state": copy.deepcopy(model.state_dict())}
    history = [{"epoch": 0, "val_accuracy": best_acc, "val_loss": best_loss}]
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            inputs = x[batch]
            if input_noise_std > 0:
                inputs = inputs + torch.randn(inputs.shape, generator=generator) * input_noise_std
            loss = F.cross_entropy(model.decode(inputs.to(device)), y[batch].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        acc, val_loss = _accuracy_and_loss(model, val_values, val_labels, device)
        history.append({"epoch": epoch, "train_loss": total / len(x), "val_accuracy": acc, "val_loss": val_loss})
        if log is not None:
            log(history[-1])
        if (acc, -val_loss) > (best["val_accuracy"], -best["val_loss"]):
            best = {"epoch": epoch, "val_accuracy": acc, "val_loss": val_loss, "state": copy.deepcopy(model.state_dict())}
    model.load_state_dict(best["state"])
    model.eval()
    return {"best_epoch": best["epoch"], "best_val_accuracy": best["val_accuracy"], "best_val_loss": best["val_loss"],
            "history": history}
