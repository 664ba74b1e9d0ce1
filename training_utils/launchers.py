"""Where a sweep's training runs execute (``benchmarks/seed_sweep.py``, ``benchmarks/paper_table.py``).

Every run is the same command whichever launcher runs it, ``train.py -c CONFIG --out RUN --set KEY=VALUE ...``
(``train.py -r RUN/last.pt`` to continue an interrupted one), so its results do not depend on the launcher:

- ``local`` (default): ``--jobs N`` runs at once as processes on this machine, each with cores // N threads.
- ``slurm``: one Slurm job per run through submitit (``--slurm-partition``, ``--slurm-time`` minutes per run,
  ``--slurm-cpus`` CPUs per run, which are its threads); ``--jobs N`` caps how many are submitted at once
  (default: all). The sweep waits for them; submitit's logs go to ``<out>/submitit_logs/``.
- ``submitit-local``: the same submitit path with submitit's LocalExecutor on this machine: the way to try
  the Slurm path (and its options) without a cluster.

``pending_runs`` checks every stored run before anything trains (a run of another config is refused with
the keys that differ); ``train`` prepares each dataset once (a synthetic one is generated on first use,
which parallel runs would otherwise all start) and trains the rest.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import run_reuse
from .atomic_files import write_json
from .config import ConfigError, load_config
from .errors import UserError
from .paths import REPO_ROOT

LAUNCHERS = ("local", "slurm", "submitit-local")
SLURM_OPTIONS = ("--slurm-partition", "--slurm-time", "--slurm-cpus")
DEFAULT_SLURM_MINUTES = 60  # submitit's own default (5 minutes) would end most runs
LOG_FOLDER = "submitit_logs"


class RunFailed(UserError):
    """A run's train.py (or its Slurm job) did not finish; the message names the run and its log."""


@dataclass(frozen=True)
class Run:
    """One run of a sweep: ``config`` with ``overrides`` (in order, the seed's included) into ``run_dir``."""
    config: Path
    overrides: tuple[str, ...]
    run_dir: Path
    data_root: str | None = None

    def cfg(self) -> dict:
        return load_config(self.config, list(self.overrides))

    def arguments(self) -> list[str]:
        """train.py's arguments: continue an interrupted run from its last.pt, else start it."""
        last = self.run_dir / "last.pt"
        if last.is_file():
            arguments = ["-r", str(last)]
        else:
            arguments = ["-c", str(self.config), "--out", str(self.run_dir),
                         *[a for o in self.overrides for a in ("--set", o)]]
        return arguments + (["--data-root", str(self.data_root)] if self.data_root is not None else [])


@dataclass(frozen=True)
class Launcher:
    kind: str
    jobs: int | None  # runs at once; None: all (Slurm queues them)
    threads: int  # per run
    log_folder: Path
    partition: str | None = None
    minutes: int = DEFAULT_SLURM_MINUTES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where runs train")
    group.add_argument("--launcher", choices=LAUNCHERS, default="local",
                       help="local: parallel processes here (default); slurm: one Slurm job per run (submitit); "
                            "submitit-local: the slurm path on this machine, to try it without a cluster")
    group.add_argument("--jobs", type=int, help="runs trained at once (default 1 locally, all on Slurm)")
    group.add_argument("--slurm-partition", metavar="NAME", help="Slurm partition (default: the cluster's)")
    group.add_argument("--slurm-time", type=int, metavar="MINUTES",
                       help=f"time limit of each run's Slurm job (default {DEFAULT_SLURM_MINUTES})")
    group.add_argument("--slurm-cpus", type=int, metavar="N", help="CPUs (threads) per run on Slurm (default 1)")


def from_args(args: argparse.Namespace, out: Path) -> Launcher:
    """The launcher ``args`` ask for, its options checked; submitit is imported only for its launchers."""
    for option, value in (("--jobs", args.jobs), ("--slurm-time", args.slurm_time), ("--slurm-cpus", args.slurm_cpus)):
        if value is not None and value < 1:
            raise ConfigError(f"{option} {value}: expected an integer >= 1")
    if args.slurm_partition is not None and not args.slurm_partition.strip():
        raise ConfigError(f"--slurm-partition {args.slurm_partition!r}: expected a partition name (or leave it out "
                          "for the cluster's default)")
    log_folder = Path(out) / LOG_FOLDER
    if args.launcher == "local":
        given = [o for o in SLURM_OPTIONS if getattr(args, o[2:].replace("-", "_")) is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} applies to --launcher slurm (or submitit-local) only; add "
                              "--launcher slurm or leave it out")
        jobs = args.jobs or 1
        return Launcher("local", jobs, max(1, (os.cpu_count() or 1) // jobs), log_folder)
    _import_submitit(args.launcher)
    missing = [c for c in ("sbatch", "srun") if args.launcher == "slurm" and shutil.which(c) is None]
    if missing:
        raise ConfigError(f"--launcher slurm: {' and '.join(missing)} not found on PATH, so this is no Slurm "
                          "machine; run the command on the cluster (its login node), or try the Slurm path here "
                          "with --launcher submitit-local")
    return Launcher(args.launcher, args.jobs, args.slurm_cpus or 1, log_folder, args.slurm_partition,
                    args.slurm_time or DEFAULT_SLURM_MINUTES)


def _import_submitit(launcher: str):
    try:
        import submitit
    except ImportError:
        raise ConfigError(f"--launcher {launcher} needs the submitit package, which is not installed: run "
                          ".venv/bin/python -m pip install submitit (it is in requirements.txt)") from None
    return submitit


def pending_runs(runs: list[Run]) -> list[Run]:
    """The runs with no finished run of their config to reuse. Every run is checked before any trains: a
    folder holding a run of another config raises ``run_reuse.StoredRunMismatch`` naming the keys."""
    return [run for run in runs if not run_reuse.reusable_run(run.run_dir, run.cfg())]


def run_train(arguments: list[str], run_dir: str, threads: int) -> tuple[int, float]:
    """Run ``train.py arguments`` with ``threads`` threads, its output in ``run_dir/train.log``; the exit
    status and the seconds it took. What every launcher runs (in a Slurm job too: it must stay picklable)."""
    # torch takes its thread count from OMP_NUM_THREADS when it starts
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(Path(run_dir) / "train.log", "w") as log:
        done = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), *arguments], stdout=log,
                              stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    return done.returncode, time.perf_counter() - start


def train(launcher: Launcher, runs: list[Run]) -> None:
    """Train ``runs`` (from ``pending_runs``) with ``launcher``; each writes ``wall_seconds.json``. Raises
    RunFailed naming every run that did not finish, after the others have."""
    if not runs:
        return
    from data_utils import build_datasets

    prepared = []
    for run in runs:
        cfg = run.cfg()
        if (cfg["data"], run.data_root) not in prepared:
            build_datasets(cfg, run.data_root)
            prepared.append((cfg["data"], run.data_root))
    outcomes = _train_local(launcher, runs) if launcher.kind == "local" else _train_submitit(launcher, runs)
    failures = []
    for run in runs:
        outcome = outcomes[run]
        if isinstance(outcome, str):
            failures.append(f"{run.run_dir}: {outcome}")
            continue
        code, seconds = outcome
        if code != 0:
            log = run.run_dir / "train.log"
            tail = "".join("    " + line for line in log.read_text().splitlines(keepends=True)[-3:])
            failures.append(f"{run.run_dir}: train.py exited with {code} (log {log}):\n{tail}".rstrip())
        else:
            write_json(run.run_dir / "wall_seconds.json", {"seconds": seconds})
    if failures:
        raise RunFailed(f"{len(failures)} of {len(runs)} runs failed:\n" + "\n".join(failures))


def _train_local(launcher: Launcher, runs: list[Run]) -> dict:
    with ThreadPoolExecutor(max_workers=launcher.jobs) as pool:
        futures = {run: pool.submit(run_train, run.arguments(), str(run.run_dir), launcher.threads) for run in runs}
        return {run: future.result() for run, future in futures.items()}


def _train_submitit(launcher: Launcher, runs: list[Run]) -> dict:
    """One submitit job per run, at most ``launcher.jobs`` at once; a job that ended without a result
    (timed out, cancelled, killed) is reported as a string naming its log."""
    submitit = _import_submitit(launcher.kind)
    executor = submitit.AutoExecutor(folder=launcher.log_folder,
                                     cluster="slurm" if launcher.kind == "slurm" else "local")
    executor.update_parameters(name=f"pixelrnn-{launcher.log_folder.parent.name}", timeout_min=launcher.minutes,
                               cpus_per_task=launcher.threads, slurm_partition=launcher.partition)
    waiting, running, outcomes = list(runs), {}, {}
    while waiting or running:
        while waiting and len(running) < (launcher.jobs or len(runs)):
            run = waiting.pop(0)
            try:
                running[run] = executor.submit(run_train, run.arguments(), str(run.run_dir), launcher.threads)
            except (OSError, subprocess.CalledProcessError) as err:
                raise RunFailed(f"--launcher {launcher.kind}: submitting {run.run_dir} failed ({err}); on Slurm, "
                                "sbatch must be on PATH and the --slurm-* options accepted by the cluster") from None
        for run in [r for r, job in running.items() if job.done()]:
            job = running.pop(run)
            try:
                outcomes[run] = job.result()
            except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                outcomes[run] = f"job {job.job_id} ended without a result ({first}; log {job.paths.stderr})"
        if running:
            time.sleep(0.5)
    return outcomes
