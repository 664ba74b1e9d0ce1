#!/usr/bin/env python
"""Decoder accuracy on real SCAMP-5 outputs; optionally finetune the decoder on them.

  python test_scamp_outputs.py -c CONFIG -sd DIR -iw 10 [--weights CKPT] [--split-file FILE] [--finetune] [--out DIR]

Reads ``DIR/<class>/<sequence>/15_output.BMP`` (class folders 0..8 = labels 0..8, or the release's 1..9 =
labels 0..8; numbers that could be either, such as 1..8, need ``--class-offset``), decodes
``(p - 127) / iw`` on the crop (rows and columns 128:192 by default: the release's crop; the authors' chip
program wrote o_T one row higher, at rows 127..190, so on real read-outs the crop misses that row and its
last row 191 is the empty plane -- scamp5/README.md, "The release's chip program"), groups the sequences by the split
file and reports the accuracy of every group that has outputs on disk; sequences of the split file that
are not on disk are listed. ``--finetune`` trains the decoder alone (BatchNorm, thresh3, linear layer)
on the train group minus a seeded, stratified validation part to find the epoch count with the best
validation accuracy, then refits the decoder from its pre-finetuning weights on the whole train group for
that many epochs (``--no-refit``: keep the selection run's best epoch instead); ``--anchor W`` adds
``W * ||decoder - decoder before finetuning||^2`` to the loss. It saves the checkpoint (atomically) and
reports every group again. Writes ``OUT/metrics.json`` (with the finetuning settings and results).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training_utils.cli import add_input_white, reports_user_errors
from training_utils.config import load_config
from training_utils.paths import REPO_ROOT

DEFAULT_SPLIT_FILE = REPO_ROOT / "configs" / "splits" / "cambridge_paper.json"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="JSON config of the checkpoint")
    p.add_argument("-sd", "--scamp-dir", required=True, metavar="DIR", help="<DIR>/<class>/<sequence>/15_output.BMP")
    add_input_white(p, "sensor units per model unit (default 10)")
    p.add_argument("--weights", metavar="CHECKPOINT", help="checkpoint (default: the config's 'weights')")
    p.add_argument("--split-file", default=str(DEFAULT_SPLIT_FILE),
                   help="JSON with train/val/test sequence lists (default configs/splits/cambridge_paper.json); "
                        "'none' evaluates every output as one group 'all'")
    p.add_argument("--crop", type=int, nargs=4, default=[128, 192, 128, 192], metavar=("R0", "R1", "C0", "C1"),
                   help="rows R0:R1 and columns C0:C1 holding o_T (default 128 192 128 192)")
    p.add_argument("--class-offset", type=int,
                   help="label = class folder number - offset (default: 0 if a folder 0 exists, 1 if the folders "
                        "reach the number of classes; required otherwise)")
    p.add_argument("--out", metavar="DIR", help="where metrics.json (and finetuned.pt) go (default: runs/scamp_outputs)")
    p.add_argument("--finetune", action="store_true", help="finetune the decoder on the train group")
    p.add_argument("--val-fraction", type=float, default=0.15, help="held-out part of the train group (default 0.15)")
    p.add_argument("--epochs", type=int, default=60, help="finetuning epochs (default 60)")
    p.add_argument("--lr", type=float, default=1e-3, help="finetuning learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=32, help="finetuning batch size (default 32)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="finetuning weight decay (default 0)")
    p.add_argument("--input-noise-std", type=float, default=0.0,
                   help="Gaussian noise added to training read-outs, in model units (default 0)")
    p.add_argument("--anchor", type=float, default=0.0, metavar="W",
                   help="L2 penalty W * ||decoder - decoder before finetuning||^2 (default 0: none)")
    p.add_argument("--no-refit", dest="refit", action="store_false",
                   help="keep the best epoch of the selection run (trained without the validation part) "
                        "instead of refitting on the whole train group")
    p.add_argument("--compare-weights", metavar="CHECKPOINT",
                   help="also report this checkpoint's decoder on the same validation part (e.g. the release's)")
    p.add_argument("--seed", type=int, help="seed of the hold-out and of finetuning (default: the config's)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the config's)")
    return p.parse_args(argv)


def evaluate_groups(model, readouts, groups: dict, device) -> dict:
    from training_utils.decoder_finetuning import decoder_logits
    from training_utils.metrics import classification_metrics

    out = {}
    for group, indices in groups.items():
        part = readouts.subset(indices)
        predicted = decoder_logits(model, part.values, device).argmax(1).tolist()
        out[group] = classification_metrics(group, part.labels, predicted, part.names, model.num_classes)
    return out


@reports_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    from training_utils import run_folder
    from training_utils.run_folder import require_folder_path

    if args.finetune and args.split_file.lower() == "none":
        raise ValueError("--finetune trains on the train group of a split file, and --split-file none puts every "
                         "output in one group 'all': give a split file with a 'train' list (default "
                         f"{DEFAULT_SPLIT_FILE.relative_to(REPO_ROOT)}) or drop --finetune")
    if args.compare_weights and not args.finetune:
        raise ValueError("--compare-weights compares on the finetuning's validation part: it goes with --finetune")
    cfg = load_config(args.config)
    out_dir = require_folder_path(args.out if args.out else Path(cfg["out_dir"]) / "scamp_outputs", "--out")
    results = ["metrics.json"] + (["finetuned.pt", "finetune_history.json"] if args.finetune else [])
    with run_folder.claim(out_dir, "test_scamp_outputs.py", "--out", results):
        return evaluate(args, cfg, out_dir)


def evaluate(args, cfg: dict, out_dir: Path) -> int:
    from data_utils.sensor_outputs import group_readouts, read_sensor_outputs, split_groups
    from training_utils.atomic_files import write_json
    from training_utils.checkpoints import atomic_save
    from training_utils.decoder_finetuning import finetune_decoder, stratified_holdout
    from training_utils.metrics import format_metrics
    from training_utils.model_loading import load_model
    from training_utils.text import preview
    from training_utils.runtime import select_device

    seed = cfg["seed"] if args.seed is None else args.seed
    device = select_device(args.device or cfg["device"])
    # Every input is read and checked before any work: a bad --compare-weights is refused before finetuning.
    model, path, checkpoint = load_model(cfg, args.weights, device)
    other = load_model(cfg, args.compare_weights, device, option="--compare-weights") if args.compare_weights else None
    readouts = read_sensor_outputs(args.scamp_dir, args.input_white, tuple(args.crop), args.class_offset,
                                   model.num_classes)
    if args.split_file.lower() == "none":
        groups, missing, unlisted = {"all": list(range(len(readouts)))}, {}, []
    else:
        groups, missing, unlisted = group_readouts(readouts, split_groups(args.split_file))
    for group, names in missing.items():
        print(f"{len(names)} sequence(s) of group {group!r} in {args.split_file} have no output under "
              f"{args.scamp_dir}: {preview(names)}")
    if unlisted:
        print(f"{len(unlisted)} output(s) are in no group of {args.split_file} and are not evaluated: "
              f"{preview(unlisted)}")
    if not groups:
        raise ValueError(f"no sequence of {args.split_file} has an output under {args.scamp_dir}")
    if args.finetune and "train" not in groups:
        raise ValueError(f"--finetune needs outputs of the train group of {args.split_file} under {args.scamp_dir}")
    if max(readouts.labels) >= model.num_classes:
        raise ValueError(f"class folders under {args.scamp_dir} give labels up to {max(readouts.labels)}, but "
                         f"{path} classifies {model.num_classes} classes; check --class-offset")
    metrics = evaluate_groups(model, readouts, groups, device)
    for m in metrics.values():
        print(format_metrics(m) + f"  ({path})")
    extra = {"missing_sequences": missing, "unlisted_sequences": unlisted, "weights": str(path),
             "input_white": args.input_white, "crop": args.crop}

    if args.finetune:
        train_all = readouts.subset(groups["train"])
        kept, held = stratified_holdout(train_all.labels, args.val_fraction, seed)
        fit, val = train_all.subset(kept), train_all.subset(held)
        summary = finetune_decoder(model, fit.values, fit.labels, val.values, val.labels, epochs=args.epochs,
                                   lr=args.lr, batch_size=args.batch_size, weight_decay=args.weight_decay,
                                   input_noise_std=args.input_noise_std, anchor=args.anchor, refit=args.refit,
                                   seed=seed, device=device)
        print(f"finetuned decoder: validation {summary['best_val_accuracy'] * 100:.2f} % "
              f"({len(val)} held-out sequences, best epoch {summary['best_epoch']}; "
              f"before finetuning {summary['history'][0]['val_accuracy'] * 100:.2f} %; anchor {args.anchor:g})")
        if args.refit:
            print(f"refit from the pre-finetuning decoder on all {summary['refit_outputs']} train outputs for "
                  f"{summary['refit_epochs']} epochs (the validation part is now seen in training)")
        finetuned = dict(checkpoint)
        finetuned["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        finetuned["finetuned_on"] = {"scamp_dir": str(args.scamp_dir), "validation": val.names, "seed": seed,
                                     "refit": args.refit, "anchor": args.anchor}
        validation = [groups["train"][i] for i in held]
        # After a refit the validation part was trained on: its accuracy is the selection run's, above.
        groups_after = groups if args.refit else dict(groups, train_fit=[groups["train"][i] for i in kept],
                                                      validation=validation)
        metrics = evaluate_groups(model, readouts, groups_after, device)
        for m in metrics.values():
            print("finetuned " + format_metrics(m))
        extra["finetune"] = {k: v for k, v in summary.items() if k != "history"}
        extra["finetune"].update(validation_accuracy=summary["best_val_accuracy"],
                                 train_group_accuracy=metrics["train"]["accuracy"],
                                 val_fraction=args.val_fraction, epochs=args.epochs, lr=args.lr,
                                 batch_size=args.batch_size, weight_decay=args.weight_decay,
                                 input_noise_std=args.input_noise_std, seed=seed,
                                 checkpoint=str(out_dir / "finetuned.pt"))
        if other is not None:
            other, other_path, _ = other
            compared = evaluate_groups(other, readouts, {"validation": validation}, device)
            print(f"compared {format_metrics(compared['validation'])}  ({other_path})")
            extra["finetune"]["compared"] = {"weights": str(other_path), "validation": compared["validation"]}
    for m in metrics.values():
        m.update(extra)
    if args.finetune:  # every result is computed before the first is written
        atomic_save(finetuned, out_dir / "finetuned.pt")
        write_json(out_dir / "finetune_history.json", summary["history"])
    write_json(out_dir / "metrics.json", metrics)
    print(f"wrote {out_dir / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
