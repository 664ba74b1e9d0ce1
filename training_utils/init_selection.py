"""``train.init_candidates``: draw several initialisations and train the one whose random binary kernels
already separate the classes best.

Why: a binary kernel changes only by sign flips, so a run stays near its initial signs, and on the main
job those signs alone spread the test accuracy over 30-40 points (frozen kernels, seeds 0-4: 96.7 / 77.8 /
58.9 / 98.9 / 91.1 %). How well an initialisation will do is cheap to tell: read out every training clip
once with it (noise off) and fit a ridge-regression classifier on the read-out maps of half the clips;
its accuracy on the other half ranked those five seeds exactly as their frozen-kernel test accuracy.
One candidate costs one forward pass over the training clips and a solve of size n/2.

Which clips are held out (``train.init_holdout``) should mirror what the test asks of the model: ``clips``
alternates clips (fit on one repetition, score on another of the same subject), ``subjects`` alternates
subjects (score on speakers the fit never saw), for data split by subject, whose test speakers are unseen.
"""
from __future__ import annotations

from typing import Callable

import torch

from data_utils.splits import subject_of
from model_utils import set_noise

RIDGE_STRENGTH = 1.0  # lambda as a multiple of the mean diagonal of the fit half's kernel matrix
HOLDOUTS = ("clips", "subjects")


def training_clips(dataset, max_clips: int):
    """Up to ``max_clips`` clips of ``dataset``, evenly spaced over its fixed order (which may be sorted by
    class), as evaluation sees them (no random phase or augmentation), their labels and names, in memory."""
    count = min(len(dataset), max_clips)
    mode = getattr(dataset, "training", None)
    if mode is not None:
        dataset.training = False
    try:
        items = [dataset[index * len(dataset) // count] for index in range(count)]
    finally:
        if mode is not None:
            dataset.training = mode
    return (torch.stack([clip for clip, _, _ in items]), torch.tensor([int(label) for _, label, _ in items]),
            [name for _, _, name in items])


def fit_half(names, holdout: str) -> torch.Tensor:
    """Which clips the ridge read-out is fitted on (True) and which score it (False): every other clip
    (``clips``), or the clips of every other subject in sorted order (``subjects``)."""
    if holdout == "clips":
        return torch.arange(len(names)) % 2 == 0
    if holdout != "subjects":
        raise ValueError(f"init hold-out {holdout!r}: expected one of {HOLDOUTS}")
    try:
        subjects = [subject_of(name) for name in names]
    except ValueError as error:
        raise ValueError(f"train.init_holdout 'subjects': {error} Or use train.init_holdout 'clips'.") from None
    rank = {subject: index for index, subject in enumerate(sorted(set(subjects)))}
    if len(rank) < 2:
        raise ValueError(f"train.init_holdout 'subjects' needs training clips of at least 2 subjects, got {len(rank)}")
    return torch.tensor([rank[subject] % 2 == 0 for subject in subjects])


@torch.no_grad()
def read_out_features(model, clips: torch.Tensor, device, batch_size: int = 128) -> torch.Tensor:
    """What the sensor reads out for each clip, flattened, as float64 on the CPU."""
    model.eval()
    set_noise(model, evaluation=False)
    parts = [model.encode(clips[i:i + batch_size].to(device)).flatten(1).double().cpu()
             for i in range(0, len(clips), batch_size)]
    return torch.cat(parts)


def ridge_holdout_score(features: torch.Tensor, labels: torch.Tensor, classes: int,
                        fit: torch.Tensor | None = None) -> tuple[float, float]:
    """(accuracy, -squared error) on the held-out clips (``fit`` False; default: the odd-indexed ones) of a
    ridge regression onto one-hot labels, fitted on the others (standardised features; dual form, so the
    cost is that of a solve of the fit half's size)."""
    if fit is None:
        fit = torch.arange(len(labels)) % 2 == 0
    mean, std = features[fit].mean(0), features[fit].std(0) + 1e-6
    z = (features - mean) / std
    targets = torch.nn.functional.one_hot(labels, classes).double()
    offset = targets[fit].mean(0)
    gram = z[fit] @ z[fit].T
    ridge = RIDGE_STRENGTH * gram.diagonal().mean().clamp_min(1e-12)
    alpha = torch.linalg.solve(gram + ridge * torch.eye(len(gram), dtype=gram.dtype), targets[fit] - offset)
    predicted = z[~fit] @ (z[fit].T @ alpha) + offset
    accuracy = (predicted.argmax(1) == labels[~fit]).double().mean().item()
    return accuracy, -((predicted - targets[~fit]) ** 2).sum(1).mean().item()


def choose_initialisation(build: Callable[[], torch.nn.Module], dataset, candidates: int, classes: int,
                          device, max_clips: int = 1024, holdout: str = "clips", keep: int = 1):
    """Call ``build`` ``candidates`` times (consecutive draws of the seeded generator; candidate 0 is the
    model a single draw gives) and return (best models, their indices, scores): the ``keep`` best, best
    first. Scores compare by accuracy, then by squared error; the first of equal candidates wins.
    ``holdout``: see :func:`fit_half`."""
    clips, labels, names = training_clips(dataset, max_clips)
    fit = fit_half(names, holdout)
    kept, scores = [], []  # kept: (index, model), best first
    for index in range(candidates):
        model = build()
        scores.append(ridge_holdout_score(read_out_features(model, clips, device), labels, classes, fit))
        place = next((i for i, (other, _) in enumerate(kept) if scores[index] > scores[other]), len(kept))
        if place < keep:
            kept = (kept[:place] + [(index, model)] + kept[place:])[:keep]
    return [model for _, model in kept], [index for index, _ in kept], scores
