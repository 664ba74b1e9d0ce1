"""The one way to load a model: built from the config, weights from ``--weights`` or the config's
``weights`` key, the number of classes given, or from the config or, if it leaves it open, from the
checkpoint. The sensor tools and ``train.py --eval-only`` (``evaluation.evaluate_checkpoint``) use
``load_model``; the trainer, which owns its model, loads into it with the same ``checkpoints.load_weights``."""
from __future__ import annotations

from pathlib import Path

import torch

from model_utils import build_model

from .checkpoints import CheckpointError, load_weights, read_checkpoint


def weights_path(cfg: dict, weights: str | None, option: str = "--weights") -> Path:
    """``weights`` if given (by ``option``), else the config's ``weights`` key; a clear error when neither
    names a file."""
    chosen = weights or cfg.get("weights")
    if not chosen:
        raise CheckpointError("no checkpoint: pass --weights CHECKPOINT or set the config's 'weights' key")
    path = Path(chosen)
    if not path.is_file():
        origin = option if weights else "the config's 'weights' key"
        raise CheckpointError(f"checkpoint not found: {path} (from {origin}); pass {option} CHECKPOINT")
    return path


def load_model(cfg: dict, weights: str | None = None, device: torch.device | str = "cpu",
               num_classes: int | None = None, option: str = "--weights"):
    """(model in eval mode on ``device``, checkpoint path, checkpoint dict); ``option`` names where
    ``weights`` came from in messages."""
    path = weights_path(cfg, weights, option)
    checkpoint = read_checkpoint(path)
    state = checkpoint["model"]
    if num_classes is None and cfg["model"]["num_classes"] is None:
        if "fc.weight" not in state:
            raise CheckpointError(f"checkpoint {path} has no 'fc.weight'; set model.num_classes in the config")
        num_classes = int(state["fc.weight"].shape[0])
    model = build_model(cfg, num_classes)
    load_weights(model, path, checkpoint)
    return model.to(device).eval(), path, checkpoint
