"""train.restarts: an attempt that ends below a training accuracy is trained again from the next start in
the ridge score's order, exactly as a run from that start alone; best.pt is the best epoch of all attempts;
resume is bitwise-exact across the restart."""
import pytest
import torch

from helpers import same_weights, tiny_datasets
from training_utils import trainer as trainer_module
from training_utils.config import ConfigError, resolve
from training_utils.trainer import Trainer

CPU = torch.device("cpu")
NOT_TIMED = ("epoch", "attempt", "seconds")  # what may differ between an attempt and the run it repeats


def restart_config(max_restarts: int = 1, below: float = 1.0):
    # sensor noise in training: the random state matters, so an attempt must restore it to repeat a run; the
    # learning-rate warm-up counts from each attempt's start
    return resolve({"data": {"frame_size": 16, "timesteps": 4},
                    "model": {"encoder": {"noise_std": 0.6}, "cell": {"gate_noise_std": 0.6}},
                    "train": {"epochs": 2, "batch_size": 8, "init_candidates": 4, "lr_warmup_epochs": 1,
                              "restarts": {"max": max_restarts, "below_train_accuracy": below}}})


def last_weights(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=False)["model"]


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def rows(history):
    return [{k: v for k, v in row.items() if k not in NOT_TIMED} for row in history]


def test_a_restart_trains_the_next_start_exactly_as_a_run_from_it_alone(tmp_path, monkeypatch):
    restarted = Trainer(restart_config(), tiny_datasets(), tmp_path / "restarted", CPU)
    results = restarted.fit()
    history = restarted.history
    assert [(r["epoch"], r["attempt"]) for r in history] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert history[1]["train_accuracy"] < 1.0  # why it restarted
    # attempt 1 is the run without restarts, to the bit
    plain = Trainer(restart_config(max_restarts=0), tiny_datasets(), tmp_path / "plain", CPU)
    plain.fit()
    assert rows(plain.history) == rows(history[:2])
    # attempt 2 is the run from the second-best start alone: same random state, data order and schedule
    choose = trainer_module.choose_initialisation

    def second_first(*args, **kwargs):
        models, indices, scores = choose(*args, **{**kwargs, "keep": 2})
        return models[::-1], indices[::-1], scores
    monkeypatch.setattr(trainer_module, "choose_initialisation", second_first)
    second = Trainer(restart_config(max_restarts=0), tiny_datasets(), tmp_path / "second", CPU)
    second.fit()
    assert rows(second.history) == rows(history[2:])
    assert same_tensors(last_weights(tmp_path / "second"), last_weights(tmp_path / "restarted"))
    # best.pt: the first epoch of the highest validation accuracy over both attempts
    val = [r["val_accuracy"] for r in history]
    best_epoch = val.index(max(val)) + 1
    assert results["best_epoch"] == best_epoch and results["attempts"] == 2
    assert results["best_attempt"] == history[best_epoch - 1]["attempt"]
    assert torch.load(tmp_path / "restarted/best.pt", weights_only=False)["epoch"] == best_epoch
    summary = (tmp_path / "restarted/summary.csv").read_text().splitlines()
    assert summary[0].startswith("epoch,attempt,") and [line[:4] for line in summary[1:]] == ["1,1,", "2,1,",
                                                                                            "3,2,", "4,2,"]


def test_the_bar_is_strict_and_restarts_stop_at_max(tmp_path):
    first = Trainer(restart_config(max_restarts=0), tiny_datasets(), tmp_path / "first", CPU)
    first.fit()
    reached = first.history[-1]["train_accuracy"]
    at_bar = Trainer(restart_config(below=reached), tiny_datasets(), tmp_path / "at", CPU)
    at_bar.fit()
    assert [r["attempt"] for r in at_bar.history] == [1, 1]  # reached the bar: no restart
    twice = Trainer(restart_config(max_restarts=2), tiny_datasets(), tmp_path / "twice", CPU)
    twice.fit()
    attempts = [r["attempt"] for r in twice.history]
    assert attempts[:4] == [1, 1, 2, 2] and max(attempts) <= 3 and len(attempts) == 2 * max(attempts)


@pytest.mark.parametrize("until", [2, 3])  # stopped as attempt 1 ends (the restart not yet begun) or inside 2
def test_resume_across_a_restart_ends_with_the_same_weights(tmp_path, until):
    full = Trainer(restart_config(), tiny_datasets(), tmp_path / "full", CPU)
    full.fit()
    part = Trainer(restart_config(), tiny_datasets(), tmp_path / "part", CPU)
    assert part.fit(until_epoch=until) == {}
    resumed = Trainer(restart_config(), tiny_datasets(), tmp_path / "part", CPU, resume=tmp_path / "part/last.pt")
    assert resumed.epoch == until
    resumed.fit()
    assert same_weights(full.model, resumed.model)  # best.pt, which fit() ends on
    assert same_tensors(last_weights(tmp_path / "full"), last_weights(tmp_path / "part"))
    assert rows(full.history) == rows(resumed.history)
    assert [r["attempt"] for r in resumed.history] == [1, 1, 2, 2]


def test_restarts_need_starts_to_take_and_exclude_init_trials(tmp_path):
    with pytest.raises(ConfigError, match=r"'train.restarts.max' is 4: .*accepts 0..train.init_candidates - 1"):
        resolve({"train": {"init_candidates": 4, "restarts": {"max": 4}}})
    with pytest.raises(ConfigError, match="'train.restarts.max' is 1, but train.init_trials is 2"):
        resolve({"train": {"init_candidates": 4, "init_trials": 2, "restarts": {"max": 1}}})
    run = Trainer(restart_config(max_restarts=0), tiny_datasets(), tmp_path / "run", CPU)
    run.fit()
    weighted = Trainer(restart_config(), tiny_datasets(), tmp_path / "weighted", CPU,
                       init_weights=str(tmp_path / "run/best.pt"))
    assert weighted.restart_starts == []  # --weights is the one start


def test_best_from_last_epoch_picks_among_the_attempts_last_epochs(tmp_path):
    alone = restart_config(max_restarts=0)
    alone["train"]["best_from"] = "last_epoch"
    results = Trainer(alone, tiny_datasets(), tmp_path / "alone", CPU).fit()
    assert results["best_epoch"] == 2  # without restarts: the last epoch
    assert torch.load(tmp_path / "alone/best.pt", weights_only=False)["epoch"] == 2
    cfg = restart_config()
    cfg["train"]["best_from"] = "last_epoch"
    trainer = Trainer(cfg, tiny_datasets(), tmp_path / "restarted", CPU)
    results = trainer.fit()
    ends = [trainer.history[1], trainer.history[3]]  # the two attempts' last epochs
    best = max(ends, key=lambda r: r["val_accuracy"])  # the first of equals
    assert results["best_epoch"] == best["epoch"] and results["best_attempt"] == best["attempt"]
    assert results["test"]["accuracy"] == best["test_accuracy"]  # best.pt is that epoch's model
