#!/usr/bin/env python
"""Sensor-ready weights of a checkpoint.

  python extract_weights.py -c CONFIG [--weights CKPT] -sc true -stf OUT.txt [--header OUT.hpp] [--json OUT.json]

-stf writes the release's text format (``-sc true``: binary kernels as the sensor loads them; thresholds
in model units, as the release wrote them). --header writes a C++ header for this project's scamp5/
program (thresholds already in sensor units), --json everything including the BatchNorm statistics.
Checkpoints whose sensor kernels are not binary after quantisation are refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training_utils.cli import add_input_white, reports_user_errors, true_false
from training_utils.config import load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="JSON config the checkpoint was trained with")
    p.add_argument("--weights", metavar="CHECKPOINT", help="checkpoint (default: the config's 'weights')")
    p.add_argument("-sc", "--scamp", type=true_false, default=True, metavar="{true,false}",
                   help="text file in the sensor's kernel layout (default true); false writes every "
                        "parameter as a plain list")
    p.add_argument("-stf", "--save-text-file", metavar="OUT.txt", help="the release's text format")
    p.add_argument("--header", metavar="OUT.hpp", help="C++ header for the scamp5/ sensor program")
    p.add_argument("--json", metavar="OUT.json", help="weights JSON (read by the emulator runner)")
    add_input_white(p, "sensor units per CNN step, a whole number in 1..127 (default 10)",
                    "sensor units per RNN step (default: --input-white)")
    return p.parse_args(argv)


@reports_user_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.save_text_file or args.header or args.json):
        raise ValueError("nothing to write: give -stf OUT.txt, --header OUT.hpp and/or --json OUT.json")
    for option, target, example in (("-stf", args.save_text_file, "weights.txt"), ("--header", args.header, "weights.hpp"),
                                    ("--json", args.json, "weights.json")):
        if target and Path(target).is_dir():
            raise ValueError(f"{option} {target} is a folder; give the path of the file to write "
                             f"(e.g. {Path(target) / example})")
    from model_utils.sensor_export import cpp_header, release_text, sensor_weights
    from training_utils.atomic_files import write_json, write_text
    from training_utils.model_loading import load_model

    cfg = load_config(args.config)
    model, path, _ = load_model(cfg, args.weights)
    # Compute everything before writing anything, so a refused model leaves no file at all.
    outputs = []
    if args.save_text_file:
        outputs.append((args.save_text_file, release_text(model, sensor_format=args.scamp)))
    if args.header or args.json:
        weights = sensor_weights(model, args.input_white, args.input_rnn_white,
                                 source={"config": str(args.config), "checkpoint": str(path)})
        if args.header:
            outputs.append((args.header, cpp_header(weights)))
        if args.json:
            outputs.append((args.json, weights))
    for target, content in outputs:
        if isinstance(content, str):
            write_text(target, content)
        else:
            write_json(target, content)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
