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

``train.init_search`` then improves the chosen start: single sign flips drawn at random, each kept only if
the same kind of score, cross-validated over k folds, rises. A random start is one of 2^500 kernel sets;
choosing among 64 of them barely moves the best linear read-out's accuracy on unseen speakers (lip reading),
while a few hundred scored flips raise it by several points. The trained runs gained less than that on
average, so the search is off by default (docs/training_stability.md, section 11).
"""
from __future__ import annotations

from typing import Callable

import torch

from data_utils.splits import subject_of
from model_utils import set_noise
from model_utils.binary_layers import binary_weights

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


def holdout_folds(names, holdout: str, folds: int) -> torch.Tensor:
    """Fold index (0..folds-1) of each clip: by position (``clips``: neighbouring clips, often two repetitions
    of one subject, land in different folds), or by subject in sorted order (``subjects``: a subject's clips
    share a fold, so a read-out scored on a fold never saw its speakers)."""
    if holdout == "clips":
        return torch.arange(len(names)) % folds
    if holdout != "subjects":
        raise ValueError(f"init hold-out {holdout!r}: expected one of {HOLDOUTS}")
    try:
        subjects = [subject_of(name) for name in names]
    except ValueError as error:
        raise ValueError(f"train.init_holdout 'subjects': {error} Or use train.init_holdout 'clips'.") from None
    rank = {subject: index for index, subject in enumerate(sorted(set(subjects)))}
    if len(rank) < folds:
        raise ValueError(f"train.init_holdout 'subjects' needs training clips of at least {folds} subjects (one per "
                         f"fold; train.init_search.folds sets the search's folds), got {len(rank)}")
    return torch.tensor([rank[subject] % folds for subject in subjects])


def fit_half(names, holdout: str) -> torch.Tensor:
    """Which clips the ridge read-out is fitted on (True) and which score it (False): every other clip
    (``clips``), or the clips of every other subject in sorted order (``subjects``)."""
    return holdout_folds(names, holdout, 2) == 0


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
    alpha, offset = _dual_ridge(z[fit] @ z[fit].T, targets[fit])
    return _scores(z[~fit] @ (z[fit].T @ alpha) + offset, labels[~fit], targets[~fit])


def _dual_ridge(kernel: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, offset) of a ridge regression in dual form on the fit clips' kernel matrix: the prediction for
    clips whose kernel rows against the fit clips are K is K @ alpha + offset."""
    offset = targets.mean(0)
    ridge = RIDGE_STRENGTH * kernel.diagonal().mean().clamp_min(1e-12)
    return torch.linalg.solve(kernel + ridge * torch.eye(len(kernel), dtype=kernel.dtype), targets - offset), offset


def _scores(predicted: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """(accuracy, -squared error) of predicted one-hot scores."""
    return ((predicted.argmax(1) == labels).double().mean().item(),
            -((predicted - targets) ** 2).sum(1).mean().item())


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


def ridge_cv_score(features: torch.Tensor, labels: torch.Tensor, classes: int, folds: torch.Tensor
                   ) -> tuple[float, float]:
    """(accuracy, -squared error) of the ridge read-out of :func:`ridge_holdout_score`, cross-validated: each
    fold scored by a fit on the others, averaged over folds. The features are standardised once over all
    clips (that uses no labels), so one kernel matrix serves every fold."""
    z = (features - features.mean(0)) / (features.std(0) + 1e-6)
    gram = z @ z.T
    targets = torch.nn.functional.one_hot(labels, classes).double()
    accuracy = error = 0.0
    count = int(folds.max()) + 1
    for fold in range(count):
        fit, held = folds != fold, folds == fold
        alpha, offset = _dual_ridge(gram[fit][:, fit], targets[fit])
        fold_accuracy, fold_error = _scores(gram[held][:, fit] @ alpha + offset, labels[held], targets[held])
        accuracy += fold_accuracy / count
        error += fold_error / count
    return accuracy, error


@torch.no_grad()
def search_initialisation(model, dataset, classes: int, device, steps: int, folds: int, holdout: str, seed: int,
                          max_clips: int = 1024) -> dict:
    """``train.init_search``: improve a start by single sign flips, each kept only if it raises the
    cross-validated ridge score (:func:`ridge_cv_score`, ``folds`` folds by ``holdout``; accuracy first, then
    squared error). Each of ``steps`` proposals flips one entry drawn uniformly from the binary kernels of
    the encoder and the in-pixel stage (generator seeded by ``seed``: the global random state is untouched).
    Why: verified training flips hardly move a start (a flip is judged under a read-out fitted to the old
    signs), while this judges a flip by how well the best linear read-out of the new maps generalises.
    Changes ``model`` in place; returns {"proposed", "kept", "before", "after"} (the scores)."""
    clips, labels, names = training_clips(dataset, max_clips)
    fold = holdout_folds(names, holdout, folds)
    kernels = [param for part in (model.encoder, model.stage) for _, param in binary_weights(part)]
    sizes = torch.tensor([float(param.numel()) for param in kernels])
    generator = torch.Generator().manual_seed(seed)
    score = before = ridge_cv_score(read_out_features(model, clips, device), labels, classes, fold)
    kept, proposals = 0, steps if kernels else 0
    for _ in range(proposals):
        param = kernels[int(torch.multinomial(sizes, 1, generator=generator))]
        entry = int(torch.randint(param.numel(), (1,), generator=generator))
        param.view(-1)[entry] *= -1
        candidate = ridge_cv_score(read_out_features(model, clips, device), labels, classes, fold)
        if candidate > score:
            score, kept = candidate, kept + 1
        else:
            param.view(-1)[entry] *= -1
    return {"proposed": proposals, "kept": kept, "before": before, "after": score}
