"""Evaluating a model on a dataset: predictions over a loader, and ``--eval-only``'s metrics of a
checkpoint on one split."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from model_utils import build_model, set_noise

from . import distributed
from .checkpoints import load_weights
from .metrics import classification_metrics
from .runtime import make_loader, progress


@torch.no_grad()
def predict(model, loader, device, desc="eval"):
    """Logits-free pass over a loader: (labels, predictions, names, mean loss)."""
    model.eval()
    labels, predicted, names, loss_sum = [], [], [], 0.0
    for clips, target, name in progress(loader, desc=desc):
        clips, target = clips.to(device, non_blocking=True), target.to(device)
        logits = model(clips)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        labels += target.tolist()
        predicted += logits.argmax(1).tolist()
        names += list(name)
    # Under torchrun each rank saw a contiguous slice: gather them in rank order, sum the losses.
    (loss_sum,) = distributed.all_reduce_sum([loss_sum], device)
    labels, predicted, names = (distributed.gather_lists(v) for v in (labels, predicted, names))
    return labels, predicted, names, loss_sum / max(len(labels), 1)


def evaluate_checkpoint(cfg: dict, dataset, weights: str, device: torch.device, noise_eval: bool,
                        split: str) -> dict:
    """--eval-only: the metrics of ``weights`` on one dataset split."""
    model = build_model(cfg, len(dataset.classes)).to(device)
    load_weights(model, weights)
    set_noise(model, evaluation=noise_eval)
    loader = make_loader(dataset, cfg["train"]["eval_batch_size"], shuffle=False,
                         num_workers=cfg["data"]["num_workers"], device=device)
    labels, predicted, names, loss = predict(model, loader, device, desc=split)
    return classification_metrics(split, labels, predicted, names, len(dataset.classes), dataset.classes,
                                  loss=loss, weights=str(weights), noise=noise_eval)
