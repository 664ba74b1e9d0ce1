"""-iw (and --input-rnn-white) has one type in every tool: a float > 0 (issue 19).

The release wrote ``-iw 10``; the tools took it as a float in three places and an int in one
(extract_weights.py). Now all four parse it with ``training_utils.cli.sensor_white``; where the value
goes to the sensor, the exporter turns a whole number into the sensor's int unit and refuses any other.
"""
import json

import pytest

import extract_weights
import print_intermediates
import test_scamp_outputs
import test_simulated_scamp
from model_utils.sensor_export import SensorExportError, _check_white
from training_utils.paths import REPO_ROOT

RUN = REPO_ROOT / "pretrained" / "synthetic_pixelrnn"
TOOLS = {  # each tool's parse_args with its other required flags
    "print_intermediates": (print_intermediates.parse_args, ["-c", "c.json", "-sd", "out"]),
    "extract_weights": (extract_weights.parse_args, ["-c", "c.json"]),
    "test_simulated_scamp": (test_simulated_scamp.parse_args, ["-c", "c.json", "-sdd", "dir"]),
    "test_scamp_outputs": (test_scamp_outputs.parse_args, ["-c", "c.json", "-sd", "dir"]),
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize("given, expected", [(None, 10.0), ("10", 10.0), ("10.0", 10.0), ("2.5", 2.5)])
def test_every_tool_reads_iw_as_the_same_float(tool, given, expected):
    parse, required = TOOLS[tool]
    args = parse(required + ([] if given is None else ["-iw", given]))
    assert type(args.input_white) is float and args.input_white == expected


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "ten"])
def test_every_tool_refuses_the_same_bad_iw(tool, bad, capsys):
    parse, required = TOOLS[tool]
    with pytest.raises(SystemExit) as stop:
        parse(required + ["-iw", bad])
    assert stop.value.code == 2
    assert f"argument -iw/--input-white: expected a number > 0, got {bad!r}" in capsys.readouterr().err


@pytest.mark.parametrize("tool", ["print_intermediates", "extract_weights"])
def test_input_rnn_white_has_the_same_type(tool):
    parse, required = TOOLS[tool]
    assert parse(required).input_rnn_white is None
    assert parse(required + ["--input-rnn-white", "5"]).input_rnn_white == 5.0


def test_the_sensor_unit_is_a_whole_number_given_as_int_or_float():
    assert _check_white(10, "input white") == 10
    whole = _check_white(10.0, "input white")
    assert type(whole) is int and whole == 10
    for bad in (10.5, 0, 128, True):
        with pytest.raises(SensorExportError, match="input white must be an integer in 1..127"):
            _check_white(bad, "input white")


def test_extract_weights_writes_the_int_unit_from_the_float_flag(tmp_path):
    out = tmp_path / "weights.json"
    code = extract_weights.main(["-c", str(RUN / "config.json"), "--weights", str(RUN / "best.pt"),
                                 "--json", str(out), "-iw", "10", "--input-rnn-white", "5.0"])
    assert code == 0
    weights = json.loads(out.read_text())
    assert (weights["input_white"], weights["input_rnn_white"]) == (10, 5)
    assert isinstance(weights["input_white"], int)
