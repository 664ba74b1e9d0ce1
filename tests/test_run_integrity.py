"""Run folders that cannot be corrupted: kill-and-resume at every point of an epoch, the run-folder
lock, stale temporary files, and checkpoints that cannot run code."""
import contextlib
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train
from helpers import tiny_datasets
from test_trainer import tiny_config
from training_utils import trainer as trainer_module
from training_utils.checkpoints import CheckpointError, read_checkpoint
from training_utils.trainer import Trainer
from training_utils.paths import REPO_ROOT

CPU = torch.device("cpu")


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no handler of the trainer catches it."""


def summary_rows(folder: Path) -> list[dict]:
    with (folder / "summary.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    trainer = Trainer(tiny_config(), tiny_datasets(), folder, CPU)
    trainer.fit()
    return trainer.model.state_dict(), summary_rows(folder)


def kill_at(monkeypatch, point: str, epoch: int):
    """Make the trainer die at ``point`` of epoch ``epoch`` (1-based)."""
    def when(trainer_epoch):  # trainer.epoch counts completed epochs
        return trainer_epoch == epoch

    if point == "after the training steps":
        real = trainer_module.flip_ratio  # called once the epoch's optimizer steps are done

        def flip_ratio(before, model):
            if current["trainer"].epoch == epoch - 1:
                raise Killed
            return real(before, model)
        monkeypatch.setattr(trainer_module, "flip_ratio", flip_ratio)
    elif point == "during evaluation":
        from training_utils import evaluation  # the trainer evaluates through evaluation.evaluate_model

        real = evaluation.predict

        def predict(model, loader, device, desc="eval"):
            if desc == "test" and current["trainer"].epoch == epoch - 1:
                raise Killed
            return real(model, loader, device, desc)
        monkeypatch.setattr(evaluation, "predict", predict)
    elif point in ("before best.pt", "between best.pt and last.pt"):
        name = "best.pt" if point == "before best.pt" else "last.pt"
        real = trainer_module.atomic_save

        def atomic_save(state, path):
            if Path(path).name == name and when(state["epoch"]):
                raise Killed
            return real(state, path)
        monkeypatch.setattr(trainer_module, "atomic_save", atomic_save)
    elif point == "between checkpoint and summary row":
        real = Trainer._write_summary

        def write_summary(self):
            if when(self.epoch) and len(self.history) == epoch:
                raise Killed
            return real(self)
        monkeypatch.setattr(Trainer, "_write_summary", write_summary)
    else:
        raise AssertionError(point)


current = {}


@pytest.mark.parametrize("point,epoch", [
    ("after the training steps", 2),
    ("during evaluation", 2),
    ("before best.pt", 2),
    ("between best.pt and last.pt", 2),
    ("between checkpoint and summary row", 2),
    ("between best.pt and last.pt", 1),  # no last.pt yet: the run starts over in the same folder
])
def test_kill_then_resume_gives_one_row_per_epoch_and_the_same_weights(tmp_path, monkeypatch, uninterrupted,
                                                                      point, epoch):
    cfg = tiny_config()
    with monkeypatch.context() as patch:
        kill_at(patch, point, epoch)
        current["trainer"] = Trainer(cfg, tiny_datasets(), tmp_path, CPU)
        with pytest.raises(Killed):
            current["trainer"].fit()
    assert not (tmp_path / ".lock").exists()  # released with the process
    stale = tmp_path / ".last.pt.k1ll3d.tmp"  # what a SIGKILL during a write leaves
    stale.write_bytes(b"partial")
    last = tmp_path / "last.pt"
    resumed = (Trainer(cfg, tiny_datasets(), tmp_path, CPU, resume=last) if last.exists()
               else Trainer(cfg, tiny_datasets(), tmp_path, CPU))
    resumed.fit()
    weights, rows = uninterrupted
    state = resumed.model.state_dict()
    assert all(torch.equal(weights[k], state[k]) for k in weights)
    assert [row["epoch"] for row in summary_rows(tmp_path)] == ["1", "2", "3"]
    assert summary_rows(tmp_path) == rows
    assert not stale.exists() and not list(tmp_path.glob("*.tmp"))


def test_training_checkpoints_load_with_weights_only(tmp_path):
    Trainer(tiny_config(epochs=1), tiny_datasets(), tmp_path, CPU).fit()
    for name in ("last.pt", "best.pt"):
        checkpoint = torch.load(tmp_path / name, map_location="cpu", weights_only=True)
        assert checkpoint["epoch"] == 1 and len(checkpoint["history"]) == 1
        assert isinstance(checkpoint["rng"]["numpy"]["keys"], torch.Tensor)


@contextlib.contextmanager
def folder_held_by_another_process(run: Path):
    """Another process holds ``run``'s lock (``run_folder.hold``) for the body's life; yields that process."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom training_utils.run_folder import hold\n"
         f"with hold({str(run)!r}):\n    print('held', flush=True)\n    sys.stdin.read()"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.communicate("", timeout=30)


def test_second_run_on_a_locked_folder_is_refused_with_the_holders_pid(tmp_path, capsys):
    run = tmp_path / "run"
    with folder_held_by_another_process(run) as holder:
        code = train.main(["-c", str(REPO_ROOT / "configs/Synthetic/pixelrnn.json"), "--out", str(run)])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith(f"error: run folder {run} is in use by process {holder.pid} ")
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing of the refused run
    assert holder.returncode == 0 and not run.exists()  # the holder created it and left it empty


PAYLOAD_MARK = "payload-ran"


def write_payload(path: Path, mark: Path) -> None:
    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {mark}",)

    torch.save({"model": {"w": torch.zeros(1)}, "config": Payload()}, path)


@pytest.mark.parametrize("tool", ["train -r", "train --eval-only", "extract_weights"])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, capsys, tool):
    import extract_weights
    from clip_data_fixtures import make_clip_folder

    payload, mark = tmp_path / "payload.pt", tmp_path / PAYLOAD_MARK
    write_payload(payload, mark)
    if tool == "train -r":
        code = train.main(["-r", str(payload)])
    elif tool == "train --eval-only":
        root = make_clip_folder(tmp_path / "clips", clips=2, frames=2)
        code = train.main(["-c", str(REPO_ROOT / "configs/Synthetic/pixelrnn.json"), "--eval-only", "--weights",
                           str(payload), "--data-root", str(root), "--set", "data.dataset=clip_folder",
                           "--set", "data.timesteps=2",
                           "--set", "data.cache=false", "--part", "all", "--out", str(tmp_path / "out")])
    else:
        code = extract_weights.main(["-c", str(REPO_ROOT / "configs/Synthetic/pixelrnn.json"), "--weights", str(payload),
                                     "--json", str(tmp_path / "out" / "w.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: checkpoint {payload} is refused: it names a Python object (posix.system)")
    assert "could run code" in err
    assert not mark.exists() and not (tmp_path / "out").exists()
    with pytest.raises(CheckpointError, match="could run code"):
        read_checkpoint(payload)
    assert not mark.exists()


KILLED_RUN = """
import os, signal
import torch
from helpers import tiny_datasets
from test_trainer import tiny_config
from training_utils.trainer import Trainer
real = Trainer._write_summary
def write_summary(self):
    if self.epoch == 2:  # last.pt of epoch 2 is on disk, its summary row is not
        os.kill(os.getpid(), signal.SIGKILL)
    real(self)
Trainer._write_summary = write_summary
Trainer(tiny_config(), tiny_datasets(), {run!r}, torch.device("cpu")).fit()
"""


def test_sigkill_between_checkpoint_and_row_then_resume(tmp_path, uninterrupted):
    code = KILLED_RUN.format(run=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests")}  # the test helpers; the project is installed
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == -9, done.stderr
    assert (tmp_path / ".lock").is_file()  # left by the dead process, no longer locked by anyone
    assert [row["epoch"] for row in summary_rows(tmp_path)] == ["1"]
    resumed = Trainer(tiny_config(), tiny_datasets(), tmp_path, CPU, resume=tmp_path / "last.pt")
    assert resumed.epoch == 2
    resumed.fit()
    weights, rows = uninterrupted
    assert all(torch.equal(weights[k], resumed.model.state_dict()[k]) for k in weights)
    assert summary_rows(tmp_path) == rows and not (tmp_path / ".lock").exists()


# ---- issue 18 -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A one-epoch run folder (last.pt, best.pt, metrics.json) of the in-memory tiny config."""
    folder = tmp_path_factory.mktemp("short")
    Trainer(tiny_config(epochs=1), tiny_datasets(), folder, CPU).fit()
    return folder


def test_a_lock_file_that_is_a_folder_is_named_not_a_traceback(tmp_path, capsys, short_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(short_run, run)
    (run / ".lock").mkdir()
    code = train.main(["-r", str(run / "last.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: run folder {run}: its lock file {run / '.lock'} is a folder, not a file; nothing "
                          f"of this project makes it: remove it (rmdir {run / '.lock'}) if no process uses the folder")
    assert (run / ".lock").is_dir() and sorted(p.name for p in run.iterdir()) == sorted(
        [p.name for p in short_run.iterdir()] + [".lock"])


def test_eval_only_into_a_live_run_is_refused_with_the_holders_pid(tmp_path, capsys):
    run = tmp_path / "run"
    with folder_held_by_another_process(run) as holder:
        code = train.main(["-c", str(REPO_ROOT / "configs/Synthetic/pixelrnn.json"), "--eval-only", "--weights", "x.pt",
                           "--out", str(run)])
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith(f"error: output folder {run} is in use by process {holder.pid} ")
        assert sorted(p.name for p in run.iterdir()) == [".lock"]


def tensorboard_steps(folder: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_kill_between_summary_row_and_tensorboard_then_resume_logs_every_epoch_once(tmp_path, monkeypatch):
    cfg = tiny_config()
    real = Trainer._log

    def log(self, writer, row):
        if row["epoch"] == 2:
            writer.flush()
            raise Killed
        return real(self, writer, row)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_log", log)
        with pytest.raises(Killed):
            Trainer(cfg, tiny_datasets(), tmp_path, CPU).fit()
    assert [row["epoch"] for row in summary_rows(tmp_path)] == ["1", "2"]
    assert tensorboard_steps(tmp_path)["accuracy/val"] == [1]
    Trainer(cfg, tiny_datasets(), tmp_path, CPU, resume=tmp_path / "last.pt").fit()
    steps = tensorboard_steps(tmp_path)
    assert len(steps) == 9 and all(s == [1, 2, 3] for s in steps.values()), steps
