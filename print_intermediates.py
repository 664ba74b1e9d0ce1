#!/usr/bin/env python
"""Per-stage sensor images of a checkpoint on a part of the dataset, in the release's layouts and encodings.

  python print_intermediates.py -c CONFIG -sd DIR -iw 10 -si true [--weights CKPT] [--data-root DIR] [--part P]
                                [--emulator-clips]

Writes ``DIR/<class>/<sequence>/<frame>/{0_input_x, 0_binarized_x, 1_conv1, 2_conv1post,
3_thresholded_quantized, 4_hidden, 5_fi_fh_oi_oh, 6_ft_ot, 7_forget_gate_x}.BMP`` plus
``DIR/convweights.BMP``, ``DIR/rnnweights.BMP``, ``DIR/classes.json`` (class folder names in label order)
and ``DIR/metrics.json``, and prints the accuracy. Every value comes from the model's own forward pass
(its trace). Analogue maps are ``clip(trunc(v * iw + 127), 0, 255)``, binary maps 0 / 255.

With ``--emulator-clips`` it writes the SCAMP-5 emulator's ``--clips`` input instead of the stage images:
``DIR/<label>/<sequence>/<t>.bmp``, each frame the model's own binarised input (64 x 64, 255 = +1, 0 = -1,
which the sensor program's binarisation, pixel > 127, reproduces exactly) under the class number 0..C-1
(as the real sensor outputs are filed), plus ``DIR/weights.json`` (what ``extract_weights.py --json``
writes), ``DIR/labels.json`` (class number -> class name) and ``DIR/metrics.json``. Then:

  build/scamp5/pixelrnn_emu --weights DIR/weights.json --clips DIR --out EMU_OUT
  python test_scamp_outputs.py -c CONFIG --weights CKPT -sd EMU_OUT --split-file none
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from training_utils.cli import add_input_white, add_part_option, reports_user_errors, true_false
from training_utils.config import load_config
from training_utils.text import preview


TOP_LEVEL_FILES = ("convweights.BMP", "rnnweights.BMP", "classes.json", "metrics.json",
                   "weights.json", "labels.json")  # the last two with --emulator-clips
SENSOR_FRAME_SIZE = 64  # the sensor program reads 64 x 64 frames


def is_own_file(relative: Path) -> bool:
    """Whether a file (relative to -sd) is one this tool writes: a top-level file, a stage image
    ``<class>/<sequence>/<frame>/<stage>.BMP``, an emulator frame ``<label>/<sequence>/<t>.bmp``, or the
    temporary file of an interrupted write."""
    from data_utils.scamp_io import STAGE_FILES

    parts = relative.parts
    if parts[-1].startswith(".") and parts[-1].endswith(".tmp"):
        return True
    if len(parts) == 1:
        return parts[0] in TOP_LEVEL_FILES
    if len(parts) == 3:
        return parts[2].endswith(".bmp") and parts[2][:-len(".bmp")].isdigit()
    return len(parts) == 4 and parts[2].isdigit() and parts[3] in {f"{stage}.BMP" for stage in STAGE_FILES}


def prepare_output_folder(folder: Path, overwrite: bool) -> None:
    """An empty output folder: refuse one that holds files unless ``overwrite``; then remove what an
    earlier run of this tool wrote (so no stale sequence is scored with the new ones), and refuse if
    anything else is there."""
    from training_utils.run_folder import LOCK_FILE, require_folder_path

    require_folder_path(folder, "-sd")
    if folder.is_dir() and any(p.name != LOCK_FILE for p in folder.iterdir()):
        if not overwrite:
            raise ValueError(f"output folder {folder} is not empty; pass --overwrite to replace its files "
                             "or choose another -sd")
        files = [p for p in sorted(folder.rglob("*")) if not p.is_dir() and p != folder / LOCK_FILE]
        foreign = [p.relative_to(folder) for p in files if not is_own_file(p.relative_to(folder))]
        if foreign:
            raise ValueError(f"output folder {folder} holds {len(foreign)} file(s) that print_intermediates does "
                             f"not write: {preview([str(p) for p in foreign])}; --overwrite only replaces this "
                             "tool's output: remove them or choose another -sd")
        remove_output(folder)
    folder.mkdir(parents=True, exist_ok=True)


def remove_output(folder: Path) -> None:
    """Remove everything under ``folder`` but its lock file (the caller checked that it is this tool's)."""
    from training_utils.run_folder import LOCK_FILE

    for path in sorted(folder.rglob("*")):
        if not path.is_dir() and path != folder / LOCK_FILE:
            path.unlink()
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        path.rmdir()


def check_traceable(model, frame_size: int, device, path) -> None:
    """Refuse, before anything is written, a model whose forward pass does not record the stages the
    sensor images are made of (only the one-layer binary CNN encoder with the pixelrnn cell does)."""
    from data_utils.scamp_io import TRACE_STAGES

    with torch.no_grad(), model.tracing() as trace:
        model(torch.zeros(1, 1, 1, frame_size, frame_size, device=device))
    missing = [stage for stage in TRACE_STAGES if stage not in trace]
    layers = len(getattr(model.encoder, "layers", []))
    if missing or layers != 1:
        reason = (f"its trace lacks stage(s) {preview(missing)}" if missing
                  else f"its encoder has {layers} layers, the images show one")
        raise ValueError(f"print_intermediates cannot write sensor images for {path}: it is a "
                         f"{type(model.stage).__name__} model with a {layers}-layer encoder, and {reason}. "
                         "Accepted: the one-layer binary CNN encoder with the pixelrnn cell "
                         "(model.encoder.layers 1, model.cell.type 'pixelrnn')")


def sequence_folder(out_dir: Path, classes, label: int, name: str) -> Path:
    """``<out>/<class folder>/<sequence>``: the dataset's class name and the clip name's last part."""
    return out_dir / str(classes[label]) / name.split("/")[-1]


def write_kernel_images(model, out_dir: Path) -> None:
    from data_utils.scamp_io import conv_weights_image, rnn_weights_image, write_sensor_image

    cell = model.stage
    write_sensor_image(out_dir / "convweights.BMP", conv_weights_image(model.encoder.conv1.quantized_weight()))
    write_sensor_image(out_dir / "rnnweights.BMP", rnn_weights_image(
        *(getattr(cell, g).quantized_weight() for g in ("ConvGates_i", "ConvGates_h", "Conv_out_i", "Conv_out_h"))))


def write_emulator_frames(trace, item: int, folder: Path) -> None:
    """Batch item ``item``'s binarised input frames as the emulator's ``<folder>/<t>.bmp``."""
    from data_utils.scamp_io import encode_binary, write_sensor_image

    for frame, binarized in enumerate(trace["input_binarized"]):
        write_sensor_image(folder / f"{frame}.bmp", encode_binary(binarized[item, 0]))


@torch.no_grad()
def write_intermediates(model, batches, classes, out_dir, input_white: float = 10,
                        input_rnn_white: float | None = None, save_images: bool = True,
                        device: torch.device | str = "cpu", part: str = "test", progress=lambda it: it,
                        emulator_weights: dict | None = None) -> dict:
    """Run ``model`` on ``batches`` of (clips (B,T,1,S,S), labels, names) with tracing, write every
    frame's stage images under ``out_dir`` (if ``save_images``); return the metrics. Given
    ``emulator_weights`` (``sensor_weights``' document), write the emulator's clips and weights instead."""
    from data_utils.scamp_io import stage_images, write_sensor_image
    from training_utils.atomic_files import write_json
    from training_utils.metrics import classification_metrics

    out_dir = Path(out_dir)
    model.eval()
    labels, predicted, names = [], [], []
    if emulator_weights is not None:
        write_json(out_dir / "weights.json", emulator_weights)
        write_json(out_dir / "labels.json", {str(label): str(name) for label, name in enumerate(classes)})
    elif save_images:
        write_kernel_images(model, out_dir)
        write_json(out_dir / "classes.json", {"classes": [str(c) for c in classes]})
    for clips, target, clip_names in progress(batches):
        with model.tracing() as trace:
            logits = model(clips.to(device))
        labels += [int(v) for v in target]
        predicted += logits.argmax(1).tolist()
        names += list(clip_names)
        if not save_images:
            continue
        for item, (label, name) in enumerate(zip(target, clip_names)):
            if emulator_weights is not None:  # class numbers, as the real sensor outputs are filed
                write_emulator_frames(trace, item, out_dir / str(int(label)) / name.split("/")[-1])
                continue
            folder = sequence_folder(out_dir, classes, int(label), name)
            for frame in range(len(trace["hidden"])):
                images = stage_images(trace, item, frame, input_white, input_rnn_white)
                for stage, pixels in images.items():
                    write_sensor_image(folder / str(frame) / f"{stage}.BMP", pixels)
    metrics = classification_metrics(part, labels, predicted, names, model.num_classes,
                                      [str(c) for c in classes], input_white=input_white)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="JSON config the checkpoint was trained with")
    p.add_argument("-sd", "--save-dir", required=True, metavar="DIR", help="output folder")
    add_input_white(p, "sensor units per step (default 10)", "units of the recurrent maps (default: -iw)")
    p.add_argument("-si", "--save-images", type=true_false, default=True, metavar="{true,false}",
                   help="write the images (false: only the accuracy)")
    p.add_argument("--weights", metavar="CHECKPOINT", help="checkpoint (default: the config's 'weights')")
    p.add_argument("--data-root", metavar="DIR", help="dataset folder (overrides the config)")
    add_part_option(p, "part of the dataset (default test; 'all': every clip)", default="test")
    p.add_argument("--noise", choices=("on", "off"), help="sensor noise (default: the config's noise.eval)")
    p.add_argument("--seed", type=int, help="seed of the sensor noise (default: the config's seed)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (default: the config's)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per forward pass (default 8)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty -sd")
    p.add_argument("--emulator-clips", action="store_true",
                   help="write the SCAMP-5 emulator's --clips input (binarised 64x64 frames under class numbers, "
                        "weights.json, labels.json) instead of the stage images")
    return p.parse_args(argv)


@reports_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.emulator_clips and not args.save_images:
        raise ValueError("--emulator-clips writes the emulator's frames; -si false writes no images: choose one")
    from data_utils import build_datasets
    from model_utils import set_noise
    from model_utils.sensor_export import sensor_weights
    from training_utils.metrics import format_metrics
    from training_utils import run_folder
    from training_utils.model_loading import load_model
    from training_utils.run_folder import require_folder_path
    from training_utils.runtime import make_loader, progress, seed_everything, select_device

    out_dir = require_folder_path(args.save_dir, "-sd")
    cfg = load_config(args.config)
    if args.emulator_clips and cfg["data"]["frame_size"] != SENSOR_FRAME_SIZE:
        raise ValueError(f"the sensor program reads {SENSOR_FRAME_SIZE} x {SENSOR_FRAME_SIZE} frames; "
                         f"{args.config} has data.frame_size {cfg['data']['frame_size']}")
    device = select_device(args.device or cfg["device"])
    dataset = build_datasets(cfg, args.data_root, parts=(args.part,))[args.part]
    model, path, _ = load_model(cfg, args.weights, device)
    if len(dataset.classes) > model.num_classes:
        raise ValueError(f"the {args.part} part has {len(dataset.classes)} classes but the checkpoint {path} "
                         f"classifies {model.num_classes}")
    noise = cfg["noise"]["eval"] if args.noise is None else args.noise == "on"
    set_noise(model, evaluation=noise)
    check_traceable(model, cfg["data"]["frame_size"], device, path)
    # Computed before anything is written: a model the sensor cannot run leaves no file.
    emulator_weights = None
    if args.emulator_clips:
        emulator_weights = sensor_weights(model, args.input_white, args.input_rnn_white,
                                          source={"config": str(args.config), "checkpoint": str(path)})
    with run_folder.claim(out_dir, "print_intermediates.py", "-sd", TOP_LEVEL_FILES):
        prepare_output_folder(out_dir, args.overwrite)
        seed_everything(cfg["seed"] if args.seed is None else args.seed)
        loader = make_loader(dataset, args.batch_size, shuffle=False, num_workers=cfg["data"]["num_workers"])
        try:
            metrics = write_intermediates(model, loader, dataset.classes, out_dir, args.input_white,
                                          args.input_rnn_white, args.save_images, device, args.part,
                                          progress=lambda it: progress(it, desc="intermediates"),
                                          emulator_weights=emulator_weights)
        except BaseException:
            # The folder was empty (or emptied of this tool's files) when the run began: what is in it now is
            # this run's part. A part of a result is removed, so a rerun needs no --overwrite.
            remove_output(out_dir)
            raise
    print(f"{format_metrics(metrics)}  ({args.part} part, noise {'on' if noise else 'off'}, {path})")
    print(f"wrote {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
