"""One trainer for every in-pixel model: fit with train/val/test each epoch, best/last checkpoints, exact
resume, TensorBoard scalars and a per-epoch summary.csv (``--eval-only`` of a checkpoint: ``evaluation``)."""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from model_utils import build_model, set_noise
from model_utils.binary_layers import binary_weights

from . import bit_accounting, distributed, run_folder
from .atomic_files import write_json, write_text
from .binary_optimizer import Bop
from .init_selection import choose_initialisation, search_initialisation, training_clips
from .checkpoints import atomic_save, load_weights
from .config import dumps
from .evaluation import evaluate_model
from .metrics import format_metrics
from .run_info import environment_info
from .runtime import make_loader, progress, rng_state, seed_everything, set_rng_state

SUMMARY_FIELDS = ("epoch", "attempt", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
                  "test_accuracy", "lr", "flip_ratio", "flip_ratio_from_init", "seconds")


def flip_ratio(before: dict[str, torch.Tensor], model) -> float:
    """Fraction of binary weights whose sign differs from ``before`` (name -> sign tensor)."""
    changed = total = 0
    for name, param in binary_weights(model):
        sign = torch.sign(param.detach()).cpu()
        changed += int((sign != before[name]).sum())
        total += sign.numel()
    return changed / total if total else 0.0


def binary_signs(model) -> dict[str, torch.Tensor]:
    return {name: torch.sign(p.detach()).cpu().clone() for name, p in binary_weights(model)}


@contextlib.contextmanager
def batchnorm_batch_statistics(model):
    """Within: every tracking BatchNorm normalises with the statistics of the batch it sees, as in training,
    and its running buffers (mean, variance, batch count) stay untouched; the rest of the model runs as it
    was set (evaluation, for the callers here)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
             and m.track_running_stats]
    states = [(m.training, m.momentum, m.num_batches_tracked.clone()) for m in norms]
    try:
        for m in norms:
            m.train()
            m.momentum = 0.0  # running <- (1 - 0) x running: unchanged
        yield
    finally:
        for m, (training, momentum, count) in zip(norms, states):
            m.train(training)
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)


@torch.no_grad()
def recalibrate_batchnorm(model, loader, device) -> None:
    """Set every BatchNorm's running mean and (unbiased) variance to those of its input over all of
    ``loader`` with the current weights ("precise BN"). The running averages of the training steps mix
    maps from older kernels: after a sign flip the read-out statistics shift at once, while the averages
    lag for tens of steps, and a validation pass in between measures that lag rather than the model.
    The rest of the model runs as in evaluation (noise as set for evaluation); each BatchNorm normalises
    with its batch statistics, as in training."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
             and m.track_running_stats]
    if not norms:
        return
    model.eval()
    sums = {m: [0.0, 0.0, 0.0] for m in norms}  # per module: sum x, sum x^2 (per channel), count

    def accumulate(module, inputs):
        x = inputs[0].double()
        dims = [d for d in range(x.dim()) if d != 1]
        acc = sums[module]
        acc[0] = acc[0] + x.sum(dims)
        acc[1] = acc[1] + (x * x).sum(dims)
        acc[2] += x.numel() / x.shape[1]

    hooks = [m.register_forward_pre_hook(accumulate) for m in norms]
    try:
        with batchnorm_batch_statistics(model):
            for clips, _, _ in loader:
                model(clips.to(device, non_blocking=True))
    finally:
        for hook in hooks:
            hook.remove()
    for m in norms:
        total, square, count = sums[m]
        if distributed.current().enabled:
            stats = torch.cat([total, square, torch.tensor([count], dtype=torch.float64, device=total.device)])
            torch.distributed.all_reduce(stats)
            channels = m.num_features
            total, square, count = stats[:channels], stats[channels:2 * channels], float(stats[-1])
        mean = total / count
        m.running_mean.copy_(mean)
        m.running_var.copy_((square / count - mean * mean) * count / max(count - 1, 1))


@torch.no_grad()
def project_to_bounds(model) -> None:
    """``train.bound_parameters``: clamp each parameter a module declares in ``parameter_bounds()``
    ({name: (low, high)}) into its range, after an optimizer step; values inside are left untouched."""
    for module in model.modules():
        if hasattr(module, "parameter_bounds"):
            for name, (low, high) in module.parameter_bounds().items():
                getattr(module, name).clamp_(low, high)


@contextlib.contextmanager
def warmed_up_lr(optimizer, step: int, warmup_steps: int):
    """``train.lr_warmup_epochs``: step ``step`` (0-based, counted from the attempt's start) of a warm-up over
    ``warmup_steps`` takes (step + 1) / warmup_steps of each group's scheduled rate. The first steps of Adam move
    every decoder weight by about lr at once, and the decoder's 4096 inputs sum such moves into jumps of the loss
    (2.2 -> 8.7 after one step on the main job), in the very steps whose gradients decide the first sign flips.
    The scheduled rates are put back after the step, so the scheduler and the checkpoint never see the factor."""
    if step >= warmup_steps:
        yield
        return
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, scheduled):
        group["lr"] = lr * (step + 1) / warmup_steps
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, scheduled):
            group["lr"] = lr


def build_optimizers(model, t: dict):
    """(optimizer, binary optimizer or None) for a resolved ``train`` config section.

    ``train.binary_optimizer`` 'latent': one ``train.optimizer`` for everything; the binary kernels' latent
    weights learn at lr x ``binary_lr_scale`` (their learning rate sets how often signs flip).
    'bop': the binary kernels are flipped by ``Bop`` (``train.bop``), every other parameter keeps
    ``train.optimizer``."""
    binary = {id(p) for _, p in binary_weights(model)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    real = [p for p in trainable if id(p) not in binary]
    kernels = [p for p in trainable if id(p) in binary]
    binary_optimizer = None
    if t["binary_optimizer"] == "bop":
        groups = [{"params": real}]
        if kernels:
            binary_optimizer = Bop(kernels, **t["bop"])
    else:
        groups = [{"params": real}, {"params": kernels, "lr": t["lr"] * t["binary_lr_scale"]}]
    if t["optimizer"] == "adam":
        optimizer = torch.optim.Adam(groups, lr=t["lr"], weight_decay=t["weight_decay"])
    else:
        optimizer = torch.optim.SGD(groups, lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])
    return optimizer, binary_optimizer


class Trainer:
    def __init__(self, cfg: dict, datasets: dict, run_dir: Path, device: torch.device, *,
                 init_weights: str | None = None, resume: str | None = None, environment: dict | None = None):
        """``environment``: more to record in the run's environment.json (train.py: the data root, which
        ``-r`` reads back; it is not part of the config, so it never decides whether a run is reused)."""
        self.cfg, self.datasets, self.run_dir, self.device = cfg, datasets, Path(run_dir), device
        self.train_cfg = cfg["train"]
        self.environment = dict(environment or {})
        if cfg["log_dir"]:
            run_folder.require_folder_path(cfg["log_dir"], "log_dir")
        seed_everything(cfg["seed"])
        classes = datasets["train"].classes
        self.classes = list(classes)
        candidates = self._initial_candidates(len(classes), resume, search=not init_weights)
        self.dist = distributed.current()
        if self.dist.enabled:
            if cfg["train"]["batch_size"] < self.dist.world_size:
                raise ValueError(f"train.batch_size {cfg['train']['batch_size']} is the global batch and must be at "
                                 f"least the number of processes ({self.dist.world_size})")
            torch.manual_seed(cfg["seed"] + self.dist.rank)  # distinct sensor-noise draws per rank
        t = self.train_cfg
        self.verification_clips = None
        self.verified_flips = [0, 0]  # flips proposed and kept this epoch (printed with the epoch)
        if t["flip_verification"]["clips"]:
            clips, labels, _ = training_clips(datasets["train"], t["flip_verification"]["clips"])
            self.verification_clips = clips.to(device), labels.to(device)
        self.maximize = t["monitor"].startswith("max")
        self.epoch = 0                   # epochs completed
        self.best = None                 # best monitored value of every attempt (best.pt's)
        self.best_epoch = None
        self.stale = 0                   # epochs since the monitored value last improved in this attempt
        self.history: list[dict] = []    # one summary row per completed epoch, checkpointed with it
        self.attempt = 0                 # train.restarts: attempts before this one
        self.attempt_best = None         # best monitored value of this attempt (what early stopping watches)
        model = self._trial(candidates) if len(candidates) > 1 and t["init_trials"] > 1 and not init_weights \
            else candidates[0]
        if init_weights:
            load_weights(model, init_weights)
            if t["restarts"]["max"] and self.dist.is_main:
                print("train.restarts: off, --weights gives the one start")
        # what each restart trains, in order (the run's own start, candidates[0], may be the trial's pick)
        self.restart_starts = candidates[1:] if t["restarts"]["max"] and not init_weights else []
        self.start_rng = rng_state()  # every attempt starts from it: a restart is the run its start alone gives
        self._attach(model)
        if resume:
            self._restore(resume)

    def _attach(self, model) -> None:
        """Make ``model`` the one trained: its DDP wrapper, optimizers and scheduler, all fresh."""
        t = self.train_cfg
        self.model = model
        set_noise(self.model, evaluation=self.cfg["noise"]["eval"])
        self.train_model = self.model  # what the training step calls: the model, or its DDP wrapper
        if self.dist.enabled:
            distributed.convert_batchnorm(self.model)
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                static_graph=True)  # the graph never changes; it also covers unused thresh2
        self.optimizer, self.binary_optimizer = build_optimizers(self.model, t)
        if t["scheduler"] == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode=t["plateau_monitor"].split()[0], factor=t["plateau_factor"],
                patience=t["plateau_patience"])
        elif t["scheduler"] == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(t["epochs"], 1))
        else:
            self.scheduler = None
        self.initial_signs = binary_signs(self.model)

    def _initial_candidates(self, classes: int, resume, search: bool = True) -> list[torch.nn.Module]:
        """The initialisations to choose from: one draw, or the best ``train.init_trials`` (or 1 +
        ``train.restarts.max``; at least one) of ``train.init_candidates`` draws by their ridge score, best first;
        each improved by ``train.init_search`` when it is on and ``search``. A resumed run draws once (its
        weights come from the checkpoint), unless it may still restart: its later starts are drawn again,
        identically."""
        build = lambda: build_model(self.cfg, classes).to(self.device)  # noqa: E731
        t = self.train_cfg
        if resume and not t["restarts"]["max"]:
            return [build()]
        if t["init_candidates"] == 1:
            models = [build()]
        else:
            models, indices, scores = choose_initialisation(
                build, self.datasets["train"], t["init_candidates"], classes, self.device,
                holdout=t["init_holdout"], keep=max(t["init_trials"], t["restarts"]["max"] + 1))
            if distributed.current().is_main:
                print(f"initialisation: candidate {indices[0] + 1} of {t['init_candidates']} (ridge read-out accuracy "
                      f"on half the training clips: {', '.join(f'{a:.3f}' for a, _ in scores)})")
            self.candidate_indices = indices
        search_cfg = t["init_search"]
        if search_cfg["steps"] and search:
            self.init_search = [search_initialisation(
                model, self.datasets["train"], classes, self.device, search_cfg["steps"], search_cfg["folds"],
                t["init_holdout"], self.cfg["seed"]) for model in models]
            if distributed.current().is_main:
                for result in self.init_search:
                    print(f"initialisation search: kept {result['kept']} of {result['proposed']} single flips; "
                          f"{search_cfg['folds']}-fold ridge read-out accuracy ({t['init_holdout']}) "
                          f"{result['before'][0]:.3f} -> {result['after'][0]:.3f}")
        return models

    def _trial(self, candidates: list[torch.nn.Module]) -> torch.nn.Module:
        """``train.init_trials``: train each candidate ``train.init_trial_epochs`` epochs as the run would (same
        random state, data order and schedule, but no test pass), and return the start, untrained, of the one
        whose last trial epoch reached the highest mean of training and validation accuracy (the first of
        equals). With ``train.init_trial_accept`` the candidates are tried in the ridge score's order and the
        first whose merit reaches it is taken at once: a run whose best-scored start trains well is then the
        run without trials, to the bit. The first trial epoch is the run's first epoch exactly; later ones can
        differ slightly, because the run's test pass takes one draw of the global random state (its
        DataLoader's seed) that the trial skips. The ridge score sees frozen kernels and no training; a weak
        start shows itself within two epochs."""
        start_rng = rng_state()
        accept = self.train_cfg["init_trial_accept"]
        merits = []
        for model in candidates:
            set_rng_state(start_rng)
            self._attach(copy.deepcopy(model))  # a copy trains (and gets its own DDP wrapper); the start stays
            for _ in range(self.train_cfg["init_trial_epochs"]):
                row = self.train_and_validate()
                self.epoch += 1
                self._step_scheduler(row)
            merits.append((row["train_accuracy"] + row["val_accuracy"]) / 2)
            self.epoch = 0
            if accept and merits[-1] >= accept:
                break
        tried = len(merits)
        best = max(range(tried), key=lambda i: (merits[i], -i))
        self.trial_merits = {self.candidate_indices[i]: merits[i] for i in range(tried)}
        if self.dist.is_main:
            print(f"initialisation trial ({self.train_cfg['init_trial_epochs']} epochs each; mean of train and val "
                  f"accuracy{f', accepted at {accept:g}' if accept else ''}): "
                  + ", ".join(f"candidate {self.candidate_indices[i] + 1} {merits[i]:.3f}" for i in range(tried))
                  + f" -> candidate {self.candidate_indices[best] + 1}")
        set_rng_state(start_rng)
        return candidates[best]

    def _step_scheduler(self, row: dict) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(row[self.train_cfg["plateau_monitor"].split()[1]])
        elif self.scheduler is not None:
            self.scheduler.step()

    # -- checkpoints ---------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                "epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch,
                "binary_optimizer": self.binary_optimizer.state_dict() if self.binary_optimizer else None,
                "stale": self.stale, "history": self.history, "initial_signs": self.initial_signs,
                "attempt": self.attempt, "attempt_best": self.attempt_best,
                "start_rng": self.start_rng, "rng": rng_state(), "config": self.cfg, "classes": self.classes}

    def _restore(self, path) -> None:
        checkpoint = load_weights(self.model, path)
        missing = [k for k in ("optimizer", "epoch", "rng") if k not in checkpoint]
        if missing:
            raise ValueError(f"checkpoint {path} cannot resume a run: it lacks {missing} "
                             "(use --weights to start a new run from its weights)")
        stored = checkpoint.get("config", {}).get("train", {}).get("binary_optimizer", "latent")
        if stored != self.train_cfg["binary_optimizer"]:
            raise ValueError(f"checkpoint {path} was trained with train.binary_optimizer {stored!r} and cannot "
                             f"resume with {self.train_cfg['binary_optimizer']!r}")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.binary_optimizer is not None:
            self.binary_optimizer.load_state_dict(checkpoint["binary_optimizer"])
        if self.scheduler and checkpoint["scheduler"]:
            self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch, self.best, self.best_epoch = checkpoint["epoch"], checkpoint["best"], checkpoint["best_epoch"]
        self.stale, self.history = checkpoint.get("stale", 0), list(checkpoint.get("history", []))
        for row in self.history:
            row.setdefault("attempt", 1)  # a checkpoint from before train.restarts
        self.attempt = checkpoint.get("attempt", 0)
        self.attempt_best = checkpoint.get("attempt_best", self.best)
        self.start_rng = checkpoint.get("start_rng", self.start_rng)
        self.initial_signs = checkpoint["initial_signs"]
        set_rng_state(checkpoint["rng"])

    # -- one epoch -----------------------------------------------------------------------------
    def train_one_epoch(self) -> dict:
        model, t = self.model, self.train_cfg
        model.train()
        loader = make_loader(self.datasets["train"], t["batch_size"], shuffle=True,
                             num_workers=self.cfg["data"]["num_workers"], seed=self.cfg["seed"],
                             epoch=self.attempt_epoch, device=self.device)
        if hasattr(self.datasets["train"], "set_epoch"):
            self.datasets["train"].set_epoch(self.attempt_epoch)
        later = t["bop_later"]
        if self.binary_optimizer is not None and later["after_epochs"] and self.attempt_epoch >= later["after_epochs"]:
            # A stable start first (a high threshold), then kernels that keep learning (a lower one, rarer).
            for group in self.binary_optimizer.param_groups:
                group["threshold"], group["interval"] = later["threshold"], later["interval"]
        signs_before = binary_signs(model)
        self.verified_flips = [0, 0]
        warmup_steps = math.ceil(t["lr_warmup_epochs"] * len(loader))
        first_step = self.attempt_epoch * len(loader)  # of this epoch, counted from the attempt's start
        global_sizes = (loader.batch_sampler.global_sizes() if self.dist.enabled else None)
        loss_sum = correct = seen = 0
        for step, (clips, target, _) in enumerate(progress(loader, desc=f"epoch {self.epoch + 1}")):
            clips, target = clips.to(self.device, non_blocking=True), target.to(self.device, non_blocking=True)
            logits = self.train_model(clips)
            if global_sizes is None:
                loss = F.cross_entropy(logits, target, label_smoothing=t["label_smoothing"],
                                       reduction=t["loss_reduction"])
            else:
                # DDP averages gradients over ranks: this scaling makes that the global batch's mean (or sum).
                loss = F.cross_entropy(logits, target, label_smoothing=t["label_smoothing"], reduction="sum")
                loss = loss * self.dist.world_size / (global_sizes[step] if t["loss_reduction"] == "mean" else 1)
            model.zero_grad(set_to_none=True)
            loss.backward()
            if t["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
            with warmed_up_lr(self.optimizer, first_step + step, warmup_steps):
                self.optimizer.step()
            if self.binary_optimizer is not None:
                self.binary_optimizer.step()
                if self.verification_clips is not None and self.binary_optimizer.flipped:
                    self.verify_flips()
            if t["bound_parameters"]:
                project_to_bounds(model)
            loss_sum += F.cross_entropy(logits.detach(), target, label_smoothing=t["label_smoothing"],
                                        reduction="sum")
            correct += (logits.detach().argmax(1) == target).sum()
            seen += len(target)
        loss_sum, correct, seen = distributed.all_reduce_sum([float(loss_sum), float(correct), seen], self.device)
        return {"train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                "flip_ratio": flip_ratio(signs_before, model),
                "flip_ratio_from_init": flip_ratio(self.initial_signs, model)}

    def train_and_validate(self) -> dict:
        """One training epoch, then the validation pass that picks best.pt (after ``train.recalibrate_batchnorm``):
        the epoch's row so far."""
        row = self.train_one_epoch()
        if self.train_cfg["recalibrate_batchnorm"]:
            self.recalibrate_batchnorm()
        val, row["val_loss"] = self.evaluate("val", noise=self.cfg["noise"]["selection"])
        row["val_accuracy"] = val["accuracy"]
        return row

    @torch.no_grad()
    def verification_loss(self) -> float:
        """Mean loss on the fixed verification clips: evaluation mode, noise off. BatchNorm uses its running
        statistics, or with ``flip_verification.batchnorm: batch`` those of the verification clips (128 at
        a time): in the first steps of a run the running averages still lag far behind the maps, so a loss
        under them says little about a flip."""
        self.model.eval()
        set_noise(self.model, evaluation=False)
        clips, labels = self.verification_clips
        statistics = batchnorm_batch_statistics(self.model) \
            if self.train_cfg["flip_verification"]["batchnorm"] == "batch" else contextlib.nullcontext()
        with statistics:
            total = sum(F.cross_entropy(self.model(clips[i:i + 128]), labels[i:i + 128], reduction="sum").item()
                        for i in range(0, len(labels), 128))
        self.model.train()
        return total / len(labels)

    def verify_flips(self) -> None:
        """``train.flip_verification``: keep this step's sign flips only if they lower the verification loss
        by more than ``margin`` (the rest of the step is kept either way). The surrogate gradient is a poor
        guide to a discrete flip: most flips it proposes raise the loss, and one flip of a gate kernel can
        undo a fitted model."""
        with_flips = self.verification_loss()
        self.binary_optimizer.toggle()
        without = self.verification_loss()
        proposed = sum(int(mask.sum()) for _, mask in self.binary_optimizer.flipped)
        self.verified_flips[0] += proposed
        if with_flips < without - self.train_cfg["flip_verification"]["margin"]:
            self.binary_optimizer.toggle()
            self.verified_flips[1] += proposed
        else:
            self.binary_optimizer.reject()

    def recalibrate_batchnorm(self) -> None:
        """``train.recalibrate_batchnorm``: BatchNorm statistics of the current weights on the training clips
        (this epoch's batches), before the epoch's evaluations and checkpoints."""
        set_noise(self.model, evaluation=self.cfg["noise"]["eval"])
        loader = make_loader(self.datasets["train"], self.train_cfg["eval_batch_size"], shuffle=True,
                             num_workers=self.cfg["data"]["num_workers"], seed=self.cfg["seed"],
                             epoch=self.attempt_epoch, device=self.device)
        recalibrate_batchnorm(self.model, loader, self.device)

    def evaluate(self, part: str, noise: bool | None = None) -> tuple[dict, float]:
        """Metrics and mean loss on dataset part ``part``, sensor noise on or off (default: config ``noise.eval``)."""
        return evaluate_model(self.model, self.datasets[part], self.cfg, self.device, part,
                              self.cfg["noise"]["eval"] if noise is None else noise, classes=self.classes)

    # -- the run -------------------------------------------------------------------------------
    def fit(self, until_epoch: int | None = None) -> dict:
        """Train up to ``train.epochs`` (or ``until_epoch``), then evaluate best.pt on val and test.
        The main process holds the run folder's lock throughout (see ``run_folder``)."""
        with run_folder.hold(self.run_dir) if self.dist.is_main else contextlib.nullcontext():
            return self._fit(until_epoch)

    def _fit(self, until_epoch: int | None) -> dict:
        from torch.utils.tensorboard import SummaryWriter

        main = self.dist.is_main  # under torchrun only rank 0 writes files and prints
        writer = None
        if main:
            # TensorBoard first (it refuses a log_dir it cannot create before any run file is written).
            # purge_step 1 hides every event an earlier, killed process of this run logged, and the
            # checkpointed history is logged again: TensorBoard then holds exactly the epochs that
            # summary.csv holds, wherever a kill fell.
            writer = SummaryWriter(self.cfg["log_dir"] or str(self.run_dir / "tensorboard"),
                                   purge_step=1 if self.history else None)
            for row in self.history:
                self._log_scalars(writer, row)
            writer.flush()
            write_text(self.run_dir / "config.json", dumps(self.cfg))
            write_json(self.run_dir / "environment.json", {**environment_info(), **self.environment})
            self._write_summary()  # what the checkpoint recorded, whatever a killed run had written
            print(bit_accounting.format_table(self.model))
            print(f"run directory: {self.run_dir}")
        while True:
            while not self._attempt_over() and (until_epoch is None or self.epoch < until_epoch):
                self._train_epoch(writer)
            if not self._attempt_over() or not self._restart():
                break
        if writer is not None:
            writer.close()
        distributed.barrier()  # best.pt is complete before any rank reads it
        if not self._attempt_over():
            return {}  # stopped at until_epoch
        return self.final_metrics()

    def _train_epoch(self, writer) -> None:
        """One epoch of the run: train, validate, test, checkpoint and log."""
        t = self.train_cfg
        start = time.perf_counter()
        row = self.train_and_validate()
        test, row["test_loss"] = self.evaluate("test")
        row["test_accuracy"] = test["accuracy"]
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        self.epoch += 1
        monitored = row[t["monitor"].split()[1]]
        if self._better(monitored, self.attempt_best):
            self.attempt_best, self.stale = monitored, 0
        else:
            self.stale += 1
        # best.pt: the best epoch of every attempt, or of their last epochs (train.best_from)
        eligible = t["best_from"] == "every_epoch" or self._attempt_over()
        improved = eligible and self._better(monitored, self.best)
        if improved:
            self.best, self.best_epoch = monitored, self.epoch
        self._step_scheduler(row)
        row["epoch"], row["seconds"], row["attempt"] = self.epoch, time.perf_counter() - start, self.attempt + 1
        self.history.append({k: row[k] for k in SUMMARY_FIELDS})
        if self.dist.is_main:
            # Checkpoints first, then the summary rewritten from the history they hold: a kill at
            # any point leaves a summary.csv that -r completes to one row per epoch.
            state = self._state()
            if improved:
                atomic_save(state, self.run_dir / "best.pt")
            atomic_save(state, self.run_dir / "last.pt")
            self._write_summary()
            self._log(writer, row)
            if self._stopped_early():
                print(f"early stop: no improvement of {t['monitor']} for {self.stale} epochs")

    def _better(self, value: float, than: float | None) -> bool:
        return than is None or (value > than if self.maximize else value < than)

    @property
    def attempt_epoch(self) -> int:
        """Epochs completed in this attempt (all epochs less the earlier attempts' rows). It seeds the data order
        and the schedules, so an attempt trains exactly as a run from its start alone would."""
        return self.epoch - sum(row["attempt"] <= self.attempt for row in self.history)

    def _stopped_early(self) -> bool:
        patience = self.train_cfg["early_stop_patience"]
        return bool(patience) and self.stale >= patience

    def _attempt_over(self) -> bool:
        return self.attempt_epoch >= self.train_cfg["epochs"] or self._stopped_early()

    def _restart_due(self) -> bool:
        """``train.restarts``: the attempt that just ended stayed below ``below_train_accuracy`` in its last
        epoch, and a restart is left. A weak run's last training accuracy foretells its test accuracy
        (r = 0.95 over lip-reading seeds), and a weak run is weak by its start and its path together: another
        start, same data order, may train well, and validation keeps the better attempt (not always;
        docs/training_stability.md, sections 12-13)."""
        restarts = self.train_cfg["restarts"]
        last = self.history[-1] if self.history else None
        return (self.attempt < min(restarts["max"], len(self.restart_starts)) and last is not None
                and last["attempt"] == self.attempt + 1 and last["train_accuracy"] < restarts["below_train_accuracy"])

    def _restart(self) -> bool:
        """Begin the next attempt, if one is due: the next start by the ridge score, the random state, data
        order, schedule and fresh optimizers of a run that began there. best.pt stays the best so far."""
        if not self._restart_due():
            return False
        if self.dist.is_main:
            print(f"restart {self.attempt + 1} of {self.train_cfg['restarts']['max']}: attempt {self.attempt + 1} "
                  f"ended at {100 * self.history[-1]['train_accuracy']:.1f} % training accuracy (below "
                  f"{100 * self.train_cfg['restarts']['below_train_accuracy']:g} %); the next start trains from "
                  f"epoch {self.epoch + 1}; best.pt is the best of all attempts", flush=True)
        self.attempt += 1
        self.attempt_best, self.stale = None, 0
        set_rng_state(self.start_rng)
        self._attach(self.restart_starts[self.attempt - 1])
        return True

    def final_metrics(self) -> dict:
        best = self.run_dir / "best.pt"
        if self.best_epoch is None or not best.is_file():
            raise ValueError(f"no epoch was trained in {self.run_dir}, so there is no best.pt to evaluate "
                             f"(train.epochs is {self.train_cfg['epochs']})")
        load_weights(self.model, best)
        results = {part: self.evaluate(part)[0] for part in ("val", "test")}
        results["best_epoch"] = self.best_epoch
        attempt = next(row["attempt"] for row in self.history if row["epoch"] == self.best_epoch)
        results["best_attempt"], results["attempts"] = attempt, self.attempt + 1
        if self.dist.is_main:
            write_json(self.run_dir / "metrics.json", results)
            noise = ", noise on: one draw of the sensor noise" if self.cfg["noise"]["eval"] else ""
            where = f"epoch {self.best_epoch}" + (f", attempt {attempt} of {self.attempt + 1}" if self.attempt else "")
            for part in ("val", "test"):
                print(format_metrics(results[part]) + f"  (best.pt, {where}{noise})")
        return results

    def _write_summary(self) -> None:
        """summary.csv from the checkpointed history, replaced atomically (never appended to)."""
        text = io.StringIO()
        w = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
        w.writeheader()
        for row in self.history:
            w.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in SUMMARY_FIELDS})
        write_text(self.run_dir / "summary.csv", text.getvalue())

    @staticmethod
    def _log_scalars(writer, row: dict) -> None:
        scalars = {"loss/train": row["train_loss"], "loss/val": row["val_loss"], "loss/test": row["test_loss"],
                   "accuracy/train": row["train_accuracy"], "accuracy/val": row["val_accuracy"],
                   "accuracy/test": row["test_accuracy"], "lr": row["lr"], "flip_ratio/epoch": row["flip_ratio"],
                   "flip_ratio/from_init": row["flip_ratio_from_init"]}
        for key, value in scalars.items():
            writer.add_scalar(key, value, row["epoch"])

    def _log(self, writer, row: dict) -> None:
        self._log_scalars(writer, row)
        writer.flush()
        # Where sensor noise is on at evaluation, an accuracy is one noise draw: the line says so.
        val_noise = " (noise on)" if self.cfg["noise"]["selection"] else ""
        test_noise = " (noise on)" if self.cfg["noise"]["eval"] else ""
        print(f"epoch {row['epoch']:>3}  loss {row['train_loss']:.4f}  train {100 * row['train_accuracy']:.1f} %  "
              f"val {100 * row['val_accuracy']:.1f} %{val_noise}  test {100 * row['test_accuracy']:.1f} %{test_noise}  "
              f"lr {row['lr']:.2e}  flips {row['flip_ratio']:.4f} (from init {row['flip_ratio_from_init']:.3f})  "
              + (f"verified: kept {self.verified_flips[1]} of {self.verified_flips[0]}  "
                 if self.verification_clips is not None else "")
              + f"{row['seconds']:.1f} s", flush=True)


__all__ = ["Trainer", "project_to_bounds", "recalibrate_batchnorm"]
