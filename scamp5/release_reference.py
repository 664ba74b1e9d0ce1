#!/usr/bin/env python
"""Noise-free numpy rendering of the authors' SCAMP-5 chip program (the paper's hardware run).

Independent of the C++ emulator: the emulator's `release` program (scamp5/src/release_chip_program.cpp)
must give the same read-out pixel for pixel with noise off (scamp5/release_reference.py
--compare DIR checks that). Everything is in display coordinates (row 0 top, column 0 left).

  python -m scamp5.release_reference --weights W.json --clips CLIPS [--chip CHIPDIR]
      [--compare EMU_OUT]

--chip: per-clip Pearson r between the rendering and the real read-outs (crop rows/cols 128:192).
--compare: count of differing pixels between the rendering and the emulator's 15_output.BMP files.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

LIMIT = 128  # analogue range +-128 (the emulator's), every write saturates
UNIT = 10    # input_white / input_rnn_white: analogue units per count
# Mosaic selection: mosaic pixel (R, D) reads the binarised pooled plane at (4R + ROW_PHASE, 4D + COL_PHASE)
# (the release's re-centring shift and two half-scalings, which are pure selection). Which block each
# mosaic pixel takes is not fixed by the description of the release; of the 9 block alignments
# (ROW_PHASE in -2, 2, 6; COL_PHASE in -5, -1, 3) this one correlates best with the real read-outs
# (median r over every third calibration pair: 0.45; the next best 0.43, 0.40). Same in the C++ program.
ROW_PHASE = -2
COL_PHASE = 3


def clip(v):
    return np.clip(v, -LIMIT, LIMIT)


def shifted(plane, dr, dc, fill):
    """out[r, c] = plane[r + dr, c + dc] (fill outside)."""
    h, w = plane.shape
    out = np.full_like(plane, fill)
    r0, r1 = max(0, -dr), min(h, h - dr)
    c0, c1 = max(0, -dc), min(w, w - dc)
    out[r0:r1, c0:c1] = plane[r0 + dr:r1 + dr, c0 + dc:c1 + dc]
    return out


def dead_mask():
    """PEs on array rows/columns that are multiples of 64 never accumulate (display columns 63, 127, 191, 255)."""
    m = np.ones((256, 256), bool)
    m[::64, :] = False
    m[:, 63::64] = False
    return m


def xnor_conv(s, kernel_of_cell):
    """Release's one-sided window: C[r, d] = sum W[a, b] * s[r - 4 + a, d + b] * UNIT, accumulated tap by tap
    (row a, then column b) with saturation; s = +-1 (-1 outside the array); 0 on the dead lines."""
    acc = np.zeros((256, 256), np.int32)
    alive = dead_mask()
    for a in range(5):
        for b in range(5):
            src = shifted(s, a - 4, b, -1)
            w = kernel_of_cell[:, :, a, b]
            acc = np.where(alive, clip(acc + UNIT * src * w), acc)
    return acc


def cell_kernels(kernels_by_cell):
    """(256, 256, 5, 5): the kernel of each PE's 64x64 cell; kernels_by_cell[gy][gx]."""
    out = np.zeros((256, 256, 5, 5), np.int32)
    for gy in range(4):
        for gx in range(4):
            out[64 * gy:64 * gy + 64, 64 * gx:64 * gx + 64] = kernels_by_cell[gy][gx]
    return out


def load_weights(path):
    w = json.loads(Path(path).read_text())
    cnn = np.array(w["cnn"]["kernels"], np.int32)
    # Display block (gy, gx) holds PyTorch channel 4 * gx + gy.
    cnn_cells = cell_kernels([[cnn[4 * gx + gy] for gx in range(4)] for gy in range(4)])
    z = np.full((5, 5), -1, np.int32)  # unused cells (weight 0 loads as "not +1")
    r = {k: np.array(w["rnn"][k], np.int32) for k in ("Wfi", "Wfh", "Woi", "Woh")}
    rnn_cells = cell_kernels([[z, z, z, z], [z, r["Wfi"], r["Wfh"], z], [z, r["Woi"], r["Woh"], z], [z, z, z, z]])
    return cnn_cells, rnn_cells


def input_bits(frame):
    """4-bit host load rebuilt as v = -120 + 15 b0 + 31 b1 + 63 b2 + 127 b3, bit = v - 1 > 0."""
    level = frame.astype(np.int32) >> 4
    v = -120 + sum(c * ((level >> k) & 1) for k, c in enumerate((15, 31, 63, 127)))
    return v - 1 > 0


def cnn_mosaic(frame, cnn_cells):
    bits = np.tile(input_bits(frame), (4, 4))
    c = xnor_conv(np.where(bits, 1, -1), cnn_cells)
    c = np.maximum(c, 0)                                   # ReLU
    p = c.copy()
    for _ in range(3):                                     # sliding 4x4 max: rows r-3..r, cols d..d+3
        p = np.maximum(p, shifted(p, -1, 0, 0))
        p = np.maximum(p, shifted(p, 0, 1, 0))
    rows = np.arange(256)
    anchor_r = 4 * ((rows + 1) // 4) + 2                   # blocks rows 4m-1..4m+2, anchor row 4m+2
    anchor_c = 4 * (rows // 4) + 3                         # blocks cols 4k..4k+3, anchor col 4k+3
    pp = np.pad(p, ((0, 4), (0, 4)))
    blocked = pp[anchor_r[:, None], anchor_c[None, :]]
    moved = shifted(blocked, 1, 1, 0)                      # one row north, one column west
    x = moved - UNIT > 0                                   # conv1 threshold 10
    xp = np.pad(x, 8)
    idx = 4 * np.arange(64)
    return xp[(idx + ROW_PHASE + 8)[:, None], (idx + COL_PHASE + 8)[None, :]]


def rnn_step(mosaic, h, rnn_cells):
    """One recurrent step; returns (S = f/o pre-activation plane, new h). h: 64x64 bool (quadrant 7)."""
    s = np.full((256, 256), -1, np.int32)
    s[64:127, 64:128] = np.where(mosaic[1:], 1, -1)      # mosaic one row off: row 127 of the quadrant is -1
    s[64:128, 128:192] = np.where(h, 1, -1)
    s[128:192, 64:192] = s[64:128, 64:192]                 # the copy 64 rows down
    g = xnor_conv(s, rnn_cells)
    keep = np.full((256, 256), False)
    keep[64:191, 65:192] = True                            # array rows/cols 64..190
    g = np.where(keep, g, -80)
    total = clip(g + shifted(g, 0, -64, 0))               # x half moved onto the h half
    f = total[64:128, 128:192] - UNIT > 0
    return total, f == h                                   # XNOR(f, h)


def run_clip_values(frames, cnn_cells, rnn_cells):
    """The read-out register after the clip (analogue values -128..128, 0 outside rows 127..190, cols 128..191)."""
    h = np.ones((64, 64), bool)
    for frame in frames:
        total, new_h = rnn_step(cnn_mosaic(frame, cnn_cells), h, rnn_cells)
        h = new_h
    out = np.zeros((256, 256), np.int32)
    out[127:191, 128:192] = total[127:191, 128:192]
    return out


def run_clip(frames, cnn_cells, rnn_cells):
    """15_output.BMP as the emulator writes it: value + 128 through the 8-bit ADC."""
    return np.clip(run_clip_values(frames, cnn_cells, rnn_cells) + 128, 0, 255).astype(np.uint8)


def read_pgm(path):
    data = Path(path).read_bytes()
    parts = data.split(maxsplit=4)
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(data[-w * h:], np.uint8).reshape(h, w)


def read_bmp_green(path):
    data = Path(path).read_bytes()
    off = int.from_bytes(data[10:14], "little")
    w = int.from_bytes(data[18:22], "little")
    h = int.from_bytes(data[22:26], "little", signed=True)
    bpp = int.from_bytes(data[28:30], "little")
    row = ((w * bpp // 8) + 3) // 4 * 4
    img = np.frombuffer(data[off:off + row * abs(h)], np.uint8).reshape(abs(h), row)
    img = img[:, : w * bpp // 8].reshape(abs(h), w, bpp // 8)[:, :, 1 if bpp >= 24 else 0]
    return img[::-1] if h > 0 else img


def clips_of(root):
    root = Path(root)
    return sorted(p for p in root.glob("*/*") if p.is_dir())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--clips", required=True)
    ap.add_argument("--chip")
    ap.add_argument("--compare")
    a = ap.parse_args(argv)
    cnn_cells, rnn_cells = load_weights(a.weights)
    rs, diffs = [], []
    for clip_dir in clips_of(a.clips):
        name = clip_dir.relative_to(a.clips)
        frames = [read_pgm(f) for f in sorted(clip_dir.glob("*.pgm"))]
        out = run_clip(frames, cnn_cells, rnn_cells)
        if a.chip:
            real = read_bmp_green(Path(a.chip) / name / "15_output.BMP").astype(float)
            rs.append(np.corrcoef(out[128:192, 128:192].ravel(), real[128:192, 128:192].ravel())[0, 1])
        if a.compare:
            emu = read_bmp_green(Path(a.compare) / name / "15_output.BMP")
            diffs.append(int((emu != out).sum()))
            print(f"{name}: {diffs[-1]} differing pixels")
    if rs:
        print(f"median r {np.median(rs):.3f}, mean r {np.mean(rs):.3f} over {len(rs)} clips")
    if diffs:
        print(f"{sum(d > 0 for d in diffs)} of {len(diffs)} clips differ; {sum(diffs)} pixels in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
