"""The header from ``extract_weights.py --header`` compiles into the sensor program and fills its one
weights structure with exactly what ``extract_weights.py --json`` (which the emulator runner loads) holds."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import extract_weights
from scamp5 import emulator as se
from training_utils.paths import REPO_ROOT

SCAMP5 = REPO_ROOT / "scamp5"

# Prints the structure pixelrnn_weights_from_header fills, as JSON in the weights JSON's vocabulary.
DUMP_PROGRAM = r"""
#include <cstdio>
#include <string>
#include "pixelrnn_weights_from_header.hpp"

static void print_kernel(const int k[5][5]) {
    std::printf("[");
    for (int i = 0; i < 5; ++i) {
        std::printf("%s[", i ? "," : "");
        for (int j = 0; j < 5; ++j) std::printf("%s%d", j ? "," : "", k[i][j]);
        std::printf("]");
    }
    std::printf("]");
}

int main() {
    PixelRNNWeights w;
    char error[160];
    if (!pixelrnn_weights_from_header(w, error, sizeof error)) {
        std::fprintf(stderr, "%s\n", error);
        return 1;
    }
    std::printf("{\"input_white\": %d, \"input_rnn_white\": %d, \"threshold_sensor\": %d, "
                "\"gate_threshold_sensor\": %d, \"cnn\": [", w.input_white, w.input_rnn_white,
                w.cnn_threshold_sensor, w.gate_threshold_sensor);
    for (int k = 0; k < 16; ++k) {
        std::printf("%s", k ? "," : "");
        print_kernel(w.cnn_kernels[k]);
    }
    std::printf("], \"rnn\": [");
    for (int k = 0; k < 4; ++k) {
        std::printf("%s", k ? "," : "");
        print_kernel(w.rnn_kernels[k]);
    }
    std::printf("]}\n");
    return 0;
}
"""


@pytest.fixture(scope="module")
def compiler():
    found = shutil.which("g++") or shutil.which("c++")
    if found is None:
        pytest.skip("no C++ compiler (g++ / c++) to build the weights header into the program")
    return found


def export_header(reference: Path, folder: Path) -> tuple[Path, dict]:
    """cam_noise.pt through extract_weights.py: (header path, the weights JSON it writes alongside)."""
    header, weights = folder / "cam_noise_weights.hpp", folder / "weights.json"
    assert extract_weights.main(["-c", str(reference / se.CAM_CONFIG), "--weights",
                                 str(reference / "checkpoints" / "cam_noise.pt"), "--header", str(header),
                                 "--json", str(weights)]) == 0
    return header, json.loads(weights.read_text())


def compile_with_header(compiler: str, header: Path, source: Path, *flags: str,
                        clips: Path | None = None) -> subprocess.CompletedProcess:
    if clips is None:  # a one-clip list; test_device_program_compiles_with_the_header uses the runner's
        clips = header.parent / "clips.hpp"
        clips.write_text('#pragma once\n#include "pixelrnn_program.hpp"\nnamespace pixelrnn_clips {\n'
                         'constexpr const char* kRoot = "clips";\nconstexpr PixelRNNClip kClips[] = {{"1/a", 16}};\n}\n')
    return subprocess.run([compiler, "-std=c++17", f"-I{SCAMP5 / 'emu'}", f"-I{SCAMP5 / 'src'}",
                           f'-DPIXELRNN_WEIGHTS_HEADER="{header}"', f'-DPIXELRNN_CLIPS_HEADER="{clips}"', *flags,
                           str(source)],
                          capture_output=True, text=True)


def test_header_fills_the_weights_structure_like_the_json(compiler, tmp_path, reference):
    header, weights = export_header(reference, tmp_path)
    (tmp_path / "dump.cpp").write_text(DUMP_PROGRAM)
    built = compile_with_header(compiler, header, tmp_path / "dump.cpp", "-o", str(tmp_path / "dump"))
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(tmp_path / "dump")], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    structure = json.loads(ran.stdout)

    assert (structure["input_white"], structure["input_rnn_white"]) == (weights["input_white"], weights["input_rnn_white"])
    assert (structure["threshold_sensor"], structure["gate_threshold_sensor"]) == (10, 20)
    assert structure["threshold_sensor"] == weights["cnn"]["threshold_sensor"]
    assert structure["gate_threshold_sensor"] == weights["rnn"]["gate_threshold_sensor"]
    assert structure["cnn"] == weights["cnn"]["kernels"]  # channel order, PyTorch orientation
    assert structure["rnn"] == [weights["rnn"][key] for key in ("Wfi", "Wfh", "Woi", "Woh")]
    assert len({json.dumps(k) for k in structure["cnn"]}) > 1  # distinct kernels: the order is tested


def test_device_program_compiles_with_the_header(compiler, scamp5_emulator, tmp_path, reference):
    """main_device.cpp with the exported weights and the clip list pixelrnn_emu --write-clips-header
    writes compiles as firmware is built: no exceptions, no RTTI."""
    import numpy as np

    header, _ = export_header(reference, tmp_path)
    frames = np.zeros((3, 64, 64), dtype=np.uint8)
    se.write_clip(tmp_path / "clips", "4", "Set2_4_0001", frames)
    se.write_clip(tmp_path / "clips", "1", "Set1_1_0002", frames[:2])
    listed = subprocess.run([str(scamp5_emulator), "--clips", str(tmp_path / "clips"), "--write-clips-header",
                             str(tmp_path / "clips.hpp")], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    text = (tmp_path / "clips.hpp").read_text()
    assert '{"1/Set1_1_0002", 2},\n    {"4/Set2_4_0001", 3},' in text
    assert f'kRoot = "{(tmp_path / "clips").as_posix()}"' in text
    checked = compile_with_header(compiler, header, SCAMP5 / "src" / "main_device.cpp", "-fsyntax-only",
                                  "-fno-exceptions", "-fno-rtti", "-Wall", "-Werror", clips=tmp_path / "clips.hpp")
    assert checked.returncode == 0, checked.stderr
    # A hand-edited level that no longer equals step x input white is refused at compile time.
    edited = tmp_path / "edited.hpp"
    edited.write_text(header.read_text().replace("kCnnThresholdSensor = 10;", "kCnnThresholdSensor = 11;"))
    refused = compile_with_header(compiler, edited, SCAMP5 / "src" / "main_device.cpp", "-fsyntax-only")
    assert refused.returncode != 0 and "kCnnThresholdSensor must equal kCnnThresholdStep * kInputWhite" in refused.stderr
