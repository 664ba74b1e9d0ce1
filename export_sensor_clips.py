#!/usr/bin/env python
"""Write the SCAMP-5 emulator's input from any dataset this project reads: clips and weights.

  python export_sensor_clips.py -c CONFIG --weights CKPT --out DIR [--data-root DIR] [--split test] [-iw 10]

Writes ``DIR/<label>/<sequence>/<t>.bmp``: for every clip of the split, the ``data.timesteps`` frames the
model samples in evaluation, as the model's own binarised input (64 x 64 gray BMP, 255 = +1, 0 = -1),
which the sensor program's binarisation (pixel > 127) reproduces exactly; ``<label>`` is the class
number 0..C-1, as the real sensor outputs are filed. Also writes ``DIR/weights.json`` (what
``extract_weights.py --json`` writes) and ``DIR/labels.json`` (class number -> dataset class name).
Then:

  build/scamp5/pixelrnn_emu --weights DIR/weights.json --clips DIR --out EMU_OUT
  python test_scamp_outputs.py -c CONFIG --weights CKPT -sd EMU_OUT --split-file none
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO_ROOT))

from training_utils.cli import reports_user_errors  # noqa: E402
from training_utils.config import load_config  # noqa: E402

SENSOR_FRAME_SIZE = 64  # the sensor program reads 64 x 64 frames


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="JSON config the checkpoint was trained with")
    p.add_argument("--weights", metavar="CHECKPOINT", help="checkpoint (default: the config's 'weights')")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (must be new or empty)")
    p.add_argument("--data-root", metavar="DIR", help="dataset folder (overrides the config)")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"), help="data split (default test)")
    p.add_argument("-iw", "--input-white", type=int, default=10, help="sensor units per CNN step (default 10)")
    p.add_argument("--input-rnn-white", type=int, help="sensor units per RNN step (default: --input-white)")
    return p.parse_args(argv)


@reports_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    from data_utils import build_datasets
    from data_utils.scamp_io import encode_binary, write_sensor_image
    from model_utils.sensor_export import sensor_weights
    from training_utils.atomic_files import write_json
    from training_utils.model_loading import load_model
    from training_utils.run_folder import require_folder_path

    out = require_folder_path(args.out, "--out")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"--out {out} is not empty; choose a new folder (the emulator reads every clip under it)")
    cfg = load_config(args.config)
    if cfg["data"]["frame_size"] != SENSOR_FRAME_SIZE:
        raise ValueError(f"the sensor program reads {SENSOR_FRAME_SIZE} x {SENSOR_FRAME_SIZE} frames; "
                         f"{args.config} has data.frame_size {cfg['data']['frame_size']}")
    model, path, _ = load_model(cfg, args.weights)
    # Everything is computed before anything is written: a model the sensor cannot run leaves no file.
    weights = sensor_weights(model, args.input_white, args.input_rnn_white,
                             source={"config": str(args.config), "checkpoint": str(path)})
    dataset = build_datasets(cfg, args.data_root, splits=(args.split,))[args.split]
    clips = []
    with torch.no_grad():
        for index in range(len(dataset)):
            clip, label, name = dataset[index]
            clips.append((label, name.split("/")[-1], encode_binary(model.cnn_model.binarize_input(clip)[:, 0])))
    for label, sequence, frames in clips:
        for t, frame in enumerate(frames):
            write_sensor_image(out / str(label) / sequence / f"{t}.bmp", frame)
    write_json(out / "labels.json", {str(label): str(name) for label, name in enumerate(dataset.classes)})
    write_json(out / "weights.json", weights)
    print(f"wrote {len(clips)} clips of {cfg['data']['timesteps']} frames ({args.split} split) and weights.json "
          f"to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
