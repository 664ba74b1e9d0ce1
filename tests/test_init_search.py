"""train.init_search: single sign flips of the start, kept only when the cross-validated ridge score rises."""
import pytest
import torch

from helpers import tiny_datasets
from model_utils import build_model
from model_utils.binary_layers import binary_weights
from training_utils import init_selection
from training_utils.config import resolve
from training_utils.init_selection import holdout_folds, ridge_cv_score, search_initialisation
from training_utils.runtime import seed_everything
from training_utils.trainer import Trainer


def test_ridge_cv_score_is_the_mean_over_folds_of_a_ridge_fitted_on_the_others():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    features = torch.randn(60, 5, generator=generator, dtype=torch.float64)
    features[:, :3] += torch.nn.functional.one_hot(labels, 3) * 2  # 3 informative dimensions, 2 of noise
    folds = torch.arange(60) % 4  # every fold holds every class
    z = (features - features.mean(0)) / (features.std(0) + 1e-6)
    targets = torch.nn.functional.one_hot(labels, 3).double()
    accuracy = error = 0.0
    for fold in range(4):  # the primal form: w = (Z'Z + lambda I)^-1 Z'(Y - mean), lambda = mean diag of ZZ'
        fit, held = folds != fold, folds == fold
        ridge = (z[fit] ** 2).sum(1).mean()
        offset = targets[fit].mean(0)
        weights = torch.linalg.solve(z[fit].T @ z[fit] + ridge * torch.eye(5, dtype=torch.float64),
                                     z[fit].T @ (targets[fit] - offset))
        predicted = z[held] @ weights + offset
        accuracy += (predicted.argmax(1) == labels[held]).double().mean().item() / 4
        error -= ((predicted - targets[held]) ** 2).sum(1).mean().item() / 4
    score = ridge_cv_score(features, labels, 3, folds)
    assert score == (pytest.approx(accuracy, abs=1e-12), pytest.approx(error, abs=1e-9))
    assert score[0] == pytest.approx(0.9)
    noise = torch.randn(60, 5, generator=generator, dtype=torch.float64)
    assert ridge_cv_score(noise, labels, 3, folds) < (0.5, score[1])


def test_holdout_folds_keep_a_subjects_clips_together():
    names = ["1/Ann1", "1/Ann2", "2/Bob1", "2/Bob2", "1/Cid1", "2/Cid2", "1/Dee_1", "2/Dee_2"]
    assert holdout_folds(names, "clips", 3).tolist() == [0, 1, 2, 0, 1, 2, 0, 1]
    assert holdout_folds(names, "subjects", 3).tolist() == [0, 0, 1, 1, 2, 2, 0, 0]
    with pytest.raises(ValueError, match=r"at least 4 subjects \(one per fold; train.init_search.folds .*\), got 2"):
        holdout_folds(names[:4], "subjects", 4)


def _signs(model):
    return {name: torch.sign(param.detach()).clone() for name, param in binary_weights(model)}


def test_search_keeps_only_flips_that_raise_the_score_and_touches_nothing_else(monkeypatch):
    cfg = resolve({"data": {"frame_size": 16, "timesteps": 4}})
    datasets = tiny_datasets()
    seed_everything(0)
    model = build_model(cfg, 3)
    start = {name: value.clone() for name, value in model.state_dict().items()}
    scores = []
    real_score = init_selection.ridge_cv_score
    monkeypatch.setattr(init_selection, "ridge_cv_score",
                        lambda *args: scores.append(real_score(*args)) or scores[-1])
    rng = torch.random.get_rng_state()
    result = search_initialisation(model, datasets["train"], 3, torch.device("cpu"), steps=30, folds=2,
                                   holdout="clips", seed=5)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the run's own random stream is untouched
    # every proposal was scored; a proposal was kept exactly when it beat the best score so far
    assert len(scores) == 31 and result["before"] == scores[0] and result["proposed"] == 30
    best, kept = scores[0], 0
    for score in scores[1:]:
        if score > best:
            best, kept = score, kept + 1
    assert (result["kept"], result["after"]) == (kept, best) and kept >= 1
    # only the encoder's and the cell's binary kernels changed, and only in sign
    changed = set()
    for name, value in model.state_dict().items():
        if not torch.equal(value, start[name]):
            changed.add(name)
            assert torch.equal(value.abs(), start[name].abs())
    assert changed and all(name.startswith(("encoder.", "cell.")) and name.endswith("weight") for name in changed)
    flipped = sum(int((value != start[name]).sum()) for name, value in model.state_dict().items())
    assert flipped <= kept and (kept - flipped) % 2 == 0
    # the same seed finds the same signs; another seed proposes other flips
    def searched(seed):
        seed_everything(0)
        again = build_model(cfg, 3)
        search_initialisation(again, datasets["train"], 3, torch.device("cpu"), steps=30, folds=2, holdout="clips",
                              seed=seed)
        return _signs(again)
    same, other = searched(5), searched(6)
    assert all(torch.equal(same[name], sign) for name, sign in _signs(model).items())
    assert any(not torch.equal(other[name], sign) for name, sign in same.items())


def test_search_that_finds_nothing_better_leaves_the_start(monkeypatch):
    cfg = resolve({"data": {"frame_size": 16, "timesteps": 4}})
    seed_everything(0)
    model = build_model(cfg, 3)
    start = {name: value.clone() for name, value in model.state_dict().items()}
    monkeypatch.setattr(init_selection, "ridge_cv_score", lambda *args: (0.5, -1.0))
    result = search_initialisation(model, tiny_datasets()["train"], 3, torch.device("cpu"), steps=10, folds=2,
                                   holdout="clips", seed=0)
    assert result["kept"] == 0 and result["before"] == result["after"] == (0.5, -1.0)
    assert all(torch.equal(value, start[name]) for name, value in model.state_dict().items())


def test_trainer_searches_the_chosen_start_and_frozen_weights_keep_what_it_found(tmp_path, capsys):
    cfg = resolve({"data": {"frame_size": 16, "timesteps": 4},
                   "train": {"epochs": 1, "batch_size": 8, "init_candidates": 2,
                             "init_search": {"steps": 20, "folds": 2}}})
    datasets = tiny_datasets()
    trainer = Trainer(cfg, datasets, tmp_path / "search", torch.device("cpu"))
    result = trainer.init_search[0]
    assert f"initialisation search: kept {result['kept']} of 20 single flips; 2-fold ridge" in capsys.readouterr().out
    cfg["train"]["init_search"]["steps"] = 0
    plain = Trainer(cfg, datasets, tmp_path / "plain", torch.device("cpu")).model  # the same start, unsearched
    differing = sum(int((torch.sign(a) != torch.sign(b)).sum())
                    for (_, a), (_, b) in zip(binary_weights(trainer.model), binary_weights(plain)))
    assert result["kept"] >= 1 and 1 <= differing <= result["kept"]
    # the initial signs that flips are counted from are the searched ones
    assert all(torch.equal(trainer.initial_signs[name], torch.sign(p.detach()))
               for name, p in binary_weights(trainer.model))
    # frozen binary weights keep the searched signs: the search is part of the initialisation
    cfg["train"]["init_search"]["steps"] = 20
    cfg["model"]["freeze_binary_weights"] = True
    frozen = Trainer(cfg, datasets, tmp_path / "frozen", torch.device("cpu"))
    assert frozen.binary_optimizer is None
    assert all(torch.equal(torch.sign(a.detach()), torch.sign(b.detach())) and not a.requires_grad
               for (_, a), (_, b) in zip(binary_weights(frozen.model), binary_weights(trainer.model)))
