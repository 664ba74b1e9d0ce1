"""benchmarks/seed_sweep.py: one run per seed, statistics that are those of the runs, reuse only of runs of
the same config; and train.init_candidates, the choice among initialisations it is used to evaluate."""
import json
import os
import statistics
import sys

import pytest
import torch

from benchmarks import seed_sweep
from clip_data_fixtures import make_clip_folder
from helpers import same_weights, tiny_datasets
from model_utils import build_model
from training_utils.config import ConfigError, resolve
from training_utils.init_selection import choose_initialisation, fit_half, ridge_holdout_score
from training_utils.runtime import seed_everything
from training_utils.trainer import Trainer


@pytest.fixture
def sweep_config(tmp_path):
    root = make_clip_folder(tmp_path / "clips", clips=4, frames=4)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({
        "data_root": str(root),
        "data": {"dataset": "clip_folder", "frame_size": 16, "timesteps": 2, "cache": False,
                 "split_fractions": {"train": 0.5, "val": 0.25, "test": 0.25}},
        "train": {"epochs": 2, "batch_size": 2}}))
    return config


def test_sweep_reports_the_runs_statistics_and_reuses_only_the_same_config(tmp_path, sweep_config, capsys):
    out = tmp_path / "sweep"
    argv = ["-c", str(sweep_config), "--seeds", "0-1", "--out", str(out), "--variant", "a",
            "--variant", "b:train.lr=0.01"]
    assert seed_sweep.main(argv) == 0
    report = json.loads((out / "seed_sweep.json").read_text())
    assert report["seeds"] == [0, 1] and set(report["variants"]) == {"a", "b"}
    for name, variant in report["variants"].items():
        accuracies = []
        for row in variant["runs"]:
            metrics = json.loads((out / name / f"seed{row['seed']}" / "metrics.json").read_text())
            assert row["test_accuracy"] == metrics["test"]["accuracy"] and row["best_epoch"] == metrics["best_epoch"]
            assert len(row["flips_per_epoch"]) == 2
            accuracies.append(metrics["test"]["accuracy"])
        summary = variant["summary"]
        assert summary["test_accuracy_mean"] == pytest.approx(statistics.mean(accuracies))
        assert summary["test_accuracy_std"] == pytest.approx(statistics.stdev(accuracies))
        assert summary["test_accuracy_min"] == min(accuracies)
    stored = json.loads((out / "b/seed1/config.json").read_text())
    assert stored["seed"] == 1 and stored["train"]["lr"] == 0.01
    assert (out / "seed_sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "| a |" in (out / "seed_sweep.md").read_text()
    # Same request again: nothing retrains (the checkpoints are untouched).
    stamp = (out / "a/seed0/last.pt").stat().st_mtime_ns
    assert seed_sweep.main(argv) == 0
    assert (out / "a/seed0/last.pt").stat().st_mtime_ns == stamp
    # A run stored before a key existed behaved as its default: still reused. At another value: refused.
    stored_file = out / "a/seed0/config.json"
    stored = json.loads(stored_file.read_text())
    del stored["train"]["init_holdout"]
    stored_file.write_text(json.dumps(stored))
    assert seed_sweep.main(argv) == 0
    assert (out / "a/seed0/last.pt").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert seed_sweep.main([*argv, "--set", "train.init_holdout=subjects"]) == 2
    assert "train.init_holdout: stored 'clips', asked 'subjects'" in capsys.readouterr().err
    # Variant 'a' now asked with another lr: its stored runs are of another config -> refused, named.
    capsys.readouterr()
    code = seed_sweep.main(["-c", str(sweep_config), "--seeds", "0", "--out", str(out), "--variant",
                            "a:train.lr=0.5"])
    err = capsys.readouterr().err
    assert code == 2 and "holds a run of another config" in err and "train.lr: stored 0.001, asked 0.5" in err
    assert (out / "a/seed0/last.pt").stat().st_mtime_ns == stamp


def test_bad_seed_ranges_are_refused():
    assert seed_sweep.parse_seeds("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(Exception, match="expected a range"):
        seed_sweep.parse_seeds("zero")


def test_ridge_score_separates_informative_from_uninformative_features():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    informative = torch.nn.functional.one_hot(labels, 3).double() * 3 + torch.randn(60, 3, generator=generator,
                                                                                    dtype=torch.float64)
    noise = torch.randn(60, 3, generator=generator, dtype=torch.float64)
    good, bad = ridge_holdout_score(informative, labels, 3), ridge_holdout_score(noise, labels, 3)
    assert good[0] > 0.9 and bad[0] < 0.6 and good[1] > bad[1]


def test_init_candidates_trains_the_best_scoring_draw_and_one_candidate_changes_nothing(tmp_path):
    cfg = resolve({"data": {"frame_size": 16, "timesteps": 4}, "train": {"epochs": 1, "batch_size": 8}})
    datasets = tiny_datasets()
    seed_everything(0)
    build = lambda: build_model(cfg, 3)  # noqa: E731
    models, indices, scores = choose_initialisation(build, datasets["train"], 4, 3, torch.device("cpu"), keep=2)
    model, index = models[0], indices[0]
    assert len(scores) == 4 and scores[index] == max(scores) and len(models) == 2
    assert scores[indices[1]] == max(s for i, s in enumerate(scores) if i != index)
    seed_everything(0)
    draws = [build() for _ in range(4)]  # the candidates are consecutive draws of the seeded generator
    assert same_weights(model, draws[index])
    cfg["train"]["init_candidates"] = 4
    chosen = Trainer(cfg, datasets, tmp_path / "four", torch.device("cpu")).model
    assert same_weights(chosen, draws[index])
    cfg["train"]["init_candidates"] = 1
    single = Trainer(cfg, datasets, tmp_path / "one", torch.device("cpu")).model
    assert same_weights(single, draws[0])


def trial_setup(seed: int, trials: int):
    """A tiny config with 4 candidates, `trials` of them tried for one epoch; its datasets; the 4 draws."""
    cfg = resolve({"seed": seed, "data": {"frame_size": 16, "timesteps": 4},
                   "train": {"epochs": 2, "batch_size": 8, "init_candidates": 4, "init_trials": trials,
                             "init_trial_epochs": 1}})
    datasets = tiny_datasets()
    seed_everything(seed)  # the trainer's candidates are consecutive draws of the seeded generator
    return cfg, datasets, [build_model(cfg, 3) for _ in range(4)]


def test_init_trials_train_the_best_candidates_as_the_run_would_and_start_the_best_one_afresh(tmp_path):
    cfg, datasets, draws = trial_setup(seed=0, trials=3)
    trainer = Trainer(cfg, datasets, tmp_path / "trial", torch.device("cpu"))
    tried = trainer.candidate_indices
    assert len(tried) == 3 and len(set(tried)) == 3 and set(trainer.trial_merits) == set(tried)
    chosen = max(tried, key=lambda i: (trainer.trial_merits[i], -tried.index(i)))
    # the run starts from the winner's untrained draw, with fresh optimizers and epoch 0 ...
    assert same_weights(trainer.model, draws[chosen])
    assert trainer.epoch == 0 and trainer.history == [] and not trainer.optimizer.state
    # ... and its first epoch repeats the winner's trial exactly (same random state, data order, schedule)
    trainer.fit(until_epoch=1)
    row = trainer.history[0]
    assert (row["train_accuracy"] + row["val_accuracy"]) / 2 == trainer.trial_merits[chosen]
    again = Trainer(cfg, datasets, tmp_path / "again", torch.device("cpu"))
    assert again.trial_merits == trainer.trial_merits
    with pytest.raises(ConfigError, match="train.init_trials.*1..train.init_candidates"):
        resolve({"train": {"init_candidates": 2, "init_trials": 3}})
    with pytest.raises(ConfigError, match="'train.init_trial_accept' is 0.9, but train.init_trials is 1"):
        resolve({"train": {"init_candidates": 4, "init_trial_accept": 0.9}})


def test_init_trial_accept_takes_the_first_candidate_in_score_order_that_trains_well_enough(tmp_path):
    cfg, datasets, draws = trial_setup(seed=4, trials=4)
    every = Trainer(cfg, datasets, tmp_path / "all", torch.device("cpu"))
    tried = every.candidate_indices  # best ridge score first
    ranked = [every.trial_merits[i] for i in tried]
    assert max(ranked) > ranked[0]  # this seed's best trial is not its best-scored start
    for accept in sorted(set(ranked)) + [1.0]:
        cfg["train"]["init_trial_accept"] = accept
        reached = [k for k, merit in enumerate(ranked) if merit >= accept]
        stop = reached[0] if reached else len(tried) - 1
        trainer = Trainer(cfg, datasets, tmp_path / f"accept{accept}", torch.device("cpu"))
        assert trainer.trial_merits == {i: every.trial_merits[i] for i in tried[:stop + 1]}
        # the first that reaches the bar, or (none does) the best of all, as without acceptance
        taken = tried[stop] if reached else max(tried, key=lambda i: (every.trial_merits[i], -tried.index(i)))
        assert same_weights(trainer.model, draws[taken])


def test_subject_holdout_scores_on_subjects_the_fit_never_saw():
    names = ["1/Ann1", "1/Ann2", "2/Bob1", "2/Bob2", "1/Cid1", "2/Cid2", "1/Dee_1", "2/Dee_2"]
    assert fit_half(names, "clips").tolist() == [True, False] * 4
    assert fit_half(names, "subjects").tolist() == [True, True, False, False, True, True, False, False]
    # features that identify the subject, and a label that is the subject's: a fit on the same subjects
    # (alternate clips) scores it perfectly; on unseen subjects it can only guess
    labels = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    features = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), 4).double()
    assert ridge_holdout_score(features, labels, 2, fit_half(names, "clips"))[0] == 1.0
    assert ridge_holdout_score(features, labels, 2, fit_half(names, "subjects"))[0] <= 0.5
    with pytest.raises(ValueError, match="train.init_holdout 'subjects'.*'clips'"):
        fit_half(["a", "b"], "subjects")
    with pytest.raises(ValueError, match="at least 2 subjects"):
        fit_half(["1/Ann1", "2/Ann2"], "subjects")


def test_submitit_launcher_trains_the_runs_local_processes_train_and_reuses_only_the_same_config(
        tmp_path, sweep_config, monkeypatch, capsys):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # local --jobs 2: one thread per run, as --slurm-cpus 1
    argv = ["-c", str(sweep_config), "--seeds", "0-1", "--jobs", "2"]
    assert seed_sweep.main([*argv, "--out", str(tmp_path / "local")]) == 0
    submitit_argv = [*argv, "--out", str(tmp_path / "submitit"), "--launcher", "submitit-local", "--slurm-time", "20"]
    assert seed_sweep.main(submitit_argv) == 0
    reports = {name: json.loads((tmp_path / name / "seed_sweep.json").read_text()) for name in ("local", "submitit")}
    assert [reports[name]["launcher"] for name in ("local", "submitit")] == ["local", "submitit-local"]
    local, submitted = (reports[name]["variants"]["default"]["runs"] for name in ("local", "submitit"))
    keys = ("seed", "test_accuracy", "val_accuracy", "best_epoch", "flips_per_epoch")
    assert [[r[k] for k in keys] for r in submitted] == [[r[k] for k in keys] for r in local]
    for seed in (0, 1):  # the same runs: every prediction of the test split alike
        metrics = [json.loads((tmp_path / name / f"default/seed{seed}/metrics.json").read_text())
                   for name in ("local", "submitit")]
        assert metrics[0]["test"]["predictions"] == metrics[1]["test"]["predictions"]
    logs = tmp_path / "submitit" / "submitit_logs"
    results = sorted(logs.glob("*_result.pkl"))
    assert len(results) == 2  # one submitit job per run
    # The same request again submits nothing; a stored run of another config is refused, naming the key,
    # before any job is submitted.
    stamp = (tmp_path / "submitit/default/seed0/last.pt").stat().st_mtime_ns
    assert seed_sweep.main(submitit_argv) == 0
    capsys.readouterr()
    assert seed_sweep.main([*submitit_argv, "--set", "train.lr=0.5"]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another config" in err and "train.lr: stored 0.001, asked 0.5" in err
    assert sorted(logs.glob("*_result.pkl")) == results
    assert (tmp_path / "submitit/default/seed0/last.pt").stat().st_mtime_ns == stamp


def test_a_failed_submitit_job_names_its_run_and_log(tmp_path, sweep_config, capsys):
    out = tmp_path / "sweep"
    code = seed_sweep.main(["-c", str(sweep_config), "--seeds", "3", "--out", str(out), "--launcher",
                            "submitit-local", "--set", "train.epochs=0"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: 1 of 1 runs failed:\n{out / 'default/seed3'}: train.py exited with 2 (log " in err
    assert "train.epochs is 0: there is nothing to train" in err


@pytest.mark.parametrize("options, message", [
    (["--launcher", "slurm", "--slurm-time", "0"], "--slurm-time 0: expected an integer >= 1"),
    (["--launcher", "slurm", "--slurm-cpus", "-2"], "--slurm-cpus -2: expected an integer >= 1"),
    (["--jobs", "0"], "--jobs 0: expected an integer >= 1"),
    (["--launcher", "slurm", "--slurm-partition", " "], "--slurm-partition ' ': expected a partition name (or leave it out for the cluster's default)"),
    (["--slurm-partition", "gpu", "--slurm-time", "30"],
     "--slurm-partition, --slurm-time applies to --launcher slurm (or submitit-local) only; add --launcher slurm "
     "or leave it out"),
])
@pytest.mark.parametrize("tool", ["seed_sweep", "paper_table"])
def test_bad_launcher_options_are_one_error_line(tool, options, message, tmp_path, sweep_config, capsys):
    from benchmarks import paper_table

    out = tmp_path / "out"
    if tool == "seed_sweep":
        code = seed_sweep.main(["-c", str(sweep_config), "--out", str(out), *options])
    else:
        code = paper_table.main(["--dataset", "synthetic_gestures", "--out", str(out), *options])
    err = capsys.readouterr().err
    assert code == 2 and err == f"error: {message}\n"
    assert not out.exists()


def test_a_missing_submitit_is_named_with_its_fix(tmp_path, sweep_config, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    code = seed_sweep.main(["-c", str(sweep_config), "--out", str(tmp_path / "out"), "--launcher", "slurm"])
    assert code == 2
    assert capsys.readouterr().err == ("error: --launcher slurm needs the submitit package, which is not installed: "
                                       "run .venv/bin/python -m pip install submitit (it is in requirements.txt)\n")


def test_slurm_is_refused_where_there_is_no_slurm(tmp_path, sweep_config, monkeypatch, capsys):
    pytest.importorskip("submitit")
    monkeypatch.setattr("shutil.which", lambda command: None)
    code = seed_sweep.main(["-c", str(sweep_config), "--out", str(tmp_path / "out"), "--launcher", "slurm"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: --launcher slurm: sbatch and srun not found on PATH, so this is no Slurm machine; run the command "
        "on the cluster (its login node), or try the Slurm path here with --launcher submitit-local\n")
    assert not (tmp_path / "out").exists()
