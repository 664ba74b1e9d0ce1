"""Evaluating a model on a dataset: predictions over a loader, and ``--eval-only``'s metrics of a
checkpoint on one part of the dataset."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from model_utils import set_noise

from . import distributed
from .metrics import classification_metrics
from .model_loading import load_model
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


def evaluate_model(model, dataset, cfg: dict, device: torch.device, part: str, with_noise: bool,
                   classes=None, with_loss: bool = False, **extra) -> tuple[dict, float]:
    """(metrics, mean loss) of ``model`` on ``dataset`` with sensor noise on or off: the trainer's
    evaluation and ``--eval-only``'s. ``classes``: the class names (default the dataset's);
    ``with_loss`` also records the loss in the metrics; ``extra``: further fields of the metrics."""
    classes = dataset.classes if classes is None else classes
    set_noise(model, evaluation=with_noise)
    loader = make_loader(dataset, cfg["train"]["eval_batch_size"], shuffle=False,
                         num_workers=cfg["data"]["num_workers"], device=device)
    labels, predicted, names, loss = predict(model, loader, device, desc=part)
    fields = {"loss": loss, **extra} if with_loss else extra
    return classification_metrics(part, labels, predicted, names, len(classes), classes, **fields), loss


def evaluate_checkpoint(cfg: dict, dataset, weights: str | None, device: torch.device, noise_eval: bool,
                        part: str) -> dict:
    """--eval-only: the metrics of ``weights`` (default: the config's ``weights`` key) on one part of the dataset."""
    model, path, _ = load_model(cfg, weights, device, num_classes=len(dataset.classes))
    metrics, _ = evaluate_model(model, dataset, cfg, device, part, noise_eval, with_loss=True,
                                weights=str(path), noise=noise_eval)
    return metrics
