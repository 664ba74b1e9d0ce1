"""Whether a sweep (``benchmarks/seed_sweep.py``, ``benchmarks/paper_table.py``) may reuse a run folder.

``reusable_run(run_dir, cfg)``: True for a finished run of the same config, False where there is nothing
finished to reuse; a run of another config raises ``StoredRunMismatch`` naming each differing key
("train.lr: stored 0.001, asked 0.5"). Keys that do not change a run's results (``RESULT_NEUTRAL_KEYS``:
where files go, worker counts, the kernel path) are not compared.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Iterable

from .config import ConfigError, resolve
from .errors import UserError
from .run_folder import holds_training_run

# Config keys that do not change what a run computes: where files go, how data is fed, which (equivalent)
# kernel path computes the model. Every other key must match for a stored run to be reused.
RESULT_NEUTRAL_KEYS = frozenset({
    "name", "device", "data_root", "out_dir", "log_dir", "weights",
    "data.num_workers", "data.cache", "data.cache_dir", "data.irregular_clips",
    "model.compute", "model.kernels", "train.eval_batch_size",  # model.kernels: model.compute's old name
})


class StoredRunMismatch(UserError, ValueError):
    """A run folder holds a run of another config than the one asked for."""


def _flatten(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(stored: dict, asked: dict, neutral: Iterable[str] = RESULT_NEUTRAL_KEYS) -> list[str]:
    """``"key.path: stored A, asked B"`` for each dotted key whose values differ (JSON-normalised, so a
    tuple equals the list config.json stores), skipping ``neutral`` keys and those below them."""
    neutral = tuple(neutral)
    stored, asked = (_flatten(json.loads(json.dumps(c))) for c in (stored, asked))
    out = []
    for key in sorted(set(stored) | set(asked)):
        if any(key == n or key.startswith(n + ".") for n in neutral):
            continue
        a, b = stored.get(key, "(absent)"), asked.get(key, "(absent)")
        if a != b:
            out.append(f"{key}: stored {a!r}, asked {b!r}")
    return out


def _with_current_defaults(stored: dict) -> dict:
    """A stored config with the keys added to the project since it was written, at their defaults: a run
    made before a key existed behaved as its default does. A config that no longer resolves is compared
    as it is (its differences are then named key by key)."""
    try:
        with warnings.catch_warnings():  # an old key name in a stored run is not the user's to rename
            warnings.simplefilter("ignore", FutureWarning)
            return resolve(stored)
    except (ConfigError, ValueError, TypeError):
        return stored


def reusable_run(run_dir, cfg: dict) -> bool:
    """True if ``run_dir`` holds a finished run (``metrics.json``) of ``cfg``; False if it holds nothing
    finished (absent or empty, or an unfinished run of ``cfg``, which ``train.py -r run_dir/last.pt``
    continues). Raises StoredRunMismatch if it holds a run of another config, or results without the
    config they came from."""
    run_dir = Path(run_dir)
    stored_file, metrics = run_dir / "config.json", run_dir / "metrics.json"
    if not stored_file.is_file():
        if metrics.exists() or holds_training_run(run_dir):
            raise StoredRunMismatch(f"{run_dir} holds results ({metrics.name if metrics.exists() else 'checkpoints'}) "
                                    "but no config.json, so they cannot be matched to the config asked for; "
                                    "choose another --out (or delete that folder)")
        return False
    try:
        stored = json.loads(stored_file.read_text())
    except (OSError, ValueError) as err:
        raise StoredRunMismatch(f"{stored_file} cannot be read ({err}); choose another --out "
                                "(or delete that folder)") from None
    differences = config_differences(_with_current_defaults(stored), cfg)
    if differences:
        raise StoredRunMismatch(f"{run_dir} holds a run of another config: {'; '.join(differences)}; choose another "
                                "--out (or delete that folder) to train this one")
    return metrics.is_file() and (run_dir / "best.pt").is_file()
