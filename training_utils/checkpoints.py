"""Checkpoints: atomic writes, and loading that accepts the release's bare state dicts and this
project's full training checkpoints, with errors that say why a checkpoint does not fit a model.

Loading never runs code: every load is ``torch.load(weights_only=True)``, which unpickles tensors and
plain values (numbers, strings, lists, tuples, dicts) only; a file that names any other Python object is
refused before that object is built. What this project saves is only such values (see ``trainer``)."""
from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from .atomic_files import write_bytes
from .errors import UserError
from .release_vocabulary import migrate_state_keys
from .text import preview


class CheckpointError(UserError, ValueError):
    pass


def atomic_save(obj, path) -> None:
    """torch.save to a temp file in the same folder, then os.replace: never a partial file at ``path``.
    Serialised in memory first, so that a full disk surfaces as the OS's error (ENOSPC) on the write."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getbuffer())


def read_checkpoint(path) -> dict:
    """Return the checkpoint as a dict with at least ``model`` (a state dict, its keys in this project's
    names: the release's ``cnn_model.`` / ``rnn_model.`` prefixes, which this project's older checkpoints
    also carry, are renamed by ``release_vocabulary.migrate_state_keys``; ``load_weights`` maps a read-out
    model's ``cell.`` keys to ``readout.``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:  # it names a Python object: refused before that object is built
            raise CheckpointError(
                f"checkpoint {path} is refused: it names a Python object ({found.group(1)}), and loading it "
                "could run code. Checkpoints may hold only tensors, numbers, strings, lists and dicts; save "
                "the state dict (torch.save(model.state_dict(), ...)) to exchange weights.") from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", str(err))
        raise CheckpointError(f"checkpoint {path} cannot be read as a PyTorch file: "
                              f"{reason.group(1).strip() if reason else err}") from None
    except Exception as err:  # a truncated or foreign file: say which one
        raise CheckpointError(f"checkpoint {path} cannot be read as a PyTorch file: {err}") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        return {**obj, "model": _state_keys(obj["model"], path)}
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {"model": _state_keys(obj, path)}  # the release saved bare state dicts
    raise CheckpointError(f"checkpoint {path} holds neither a state dict nor a training checkpoint "
                          f"(a dict with 'model'); found {type(obj).__name__}")


def _state_keys(state: dict, path, stage: str = "cell") -> dict:
    try:
        return migrate_state_keys(state, stage)
    except UserError as err:
        raise CheckpointError(f"checkpoint {path}: {err}") from None


def check_fits(model: nn.Module, state: dict, path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append("missing keys: " + preview(missing))
        if unexpected:
            parts.append("unexpected keys: " + preview(unexpected))
        if shapes:
            parts.append("shape mismatches: " + preview(shapes, separator="; "))
        raise CheckpointError(f"checkpoint {path} is of another architecture than the model built from the config "
                              f"({'; '.join(parts)}). Use the config the checkpoint was trained with.")


def load_weights(model: nn.Module, path, checkpoint: dict | None = None) -> dict:
    """Load a checkpoint's weights into ``model`` strictly; returns the whole checkpoint dict.

    The one place where checkpoint weights enter a model: ``model_loading.load_model`` (a new model from a
    config) and the trainer (its own model: resume, --weights, best.pt) both load through it.
    ``checkpoint``: the dict ``read_checkpoint(path)`` already returned, so the file is read once."""
    checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
    # A read-out model's kernel was the cell's in older checkpoints: the migration needs the model's stage.
    state = _state_keys(checkpoint["model"], path, getattr(model, "stage_part", "cell"))
    check_fits(model, state, path)
    model.load_state_dict(state, strict=True)
    return {**checkpoint, "model": state}


def checkpoint_config(path) -> dict | None:
    """The resolved config stored in one of this project's checkpoints (None for the release's)."""
    return read_checkpoint(path).get("config")
