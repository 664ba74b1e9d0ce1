"""Read-outs of the sensor (real, emulated or simulated) as decoder inputs, and their split into groups.

Layouts:
* real / emulated sensor: ``<root>/<class>/<sequence>/15_output.BMP``, 256 x 256; o_T sits in a crop
  (default rows and columns 128:192, the release's);
* simulated (``print_intermediates.py`` output, ours or the release's):
  ``<root>/<class>/<sequence>/<last frame>/6_ft_ot.BMP``, o_T in the bottom half (rows 64:128).
Both decode ``(p - 127) / iw``. Class folders map to labels through ``<root>/classes.json`` (written by
``print_intermediates.py``) when present, else as integers minus ``class_offset`` (the real outputs use
0..8, the release's intermediates 1..9).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training_utils.text import preview
from .scamp_io import decode_readout, read_sensor_image
from .splits import SPLIT_PARTS, load_split_file

SENSOR_OUTPUT_FILE = "15_output.BMP"
SENSOR_OUTPUT_SHAPE = (256, 256)
DEFAULT_CROP = (128, 192, 128, 192)  # row start, row end, column start, column end


@dataclass
class Readouts:
    """Decoder inputs: ``values`` (N, 1, 64, 64) float32, with labels and names ``<class>/<sequence>``."""
    values: np.ndarray
    labels: list[int]
    names: list[str]

    @property
    def sequences(self) -> list[str]:
        return [name.split("/", 1)[1] for name in self.names]

    def subset(self, indices) -> "Readouts":
        indices = list(indices)
        return Readouts(self.values[indices], [self.labels[i] for i in indices], [self.names[i] for i in indices])

    def __len__(self):
        return len(self.names)


def _folders(path: Path) -> list[Path]:
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def detect_class_offset(root: Path, numbers: list[int], num_classes: int | None) -> int:
    """The offset of numbered class folders when none was given: 0 if a folder 0 exists, 1 if they reach
    ``num_classes`` (the release's 1..C); anything else is ambiguous (1..8 of 9 classes may be 0-based
    with class 0 missing, or 1-based with class 9 missing) and refused, so labels never shift silently."""
    if not numbers or min(numbers) <= 0:
        return 0
    if num_classes is not None and max(numbers) == num_classes:
        return 1
    classes = f"{num_classes} classes" if num_classes is not None else "the model's classes"
    raise ValueError(f"class folders under {root} are numbered {min(numbers)}..{max(numbers)}, without 0 and without "
                     f"{num_classes if num_classes is not None else 'the last class number'}: they may be 0-based "
                     f"with class 0 missing or 1-based (label = number - 1) with the last of {classes} missing. "
                     "Say which with --class-offset 0 or --class-offset 1")


def class_labels(root: Path, class_offset: int | None, num_classes: int | None = None) -> dict[str, int]:
    """Label of every class folder under ``root``; ``class_offset`` None: detected (``detect_class_offset``)."""
    classes_file = root / "classes.json"
    folders = [p.name for p in _folders(root)]
    if classes_file.is_file():
        try:
            classes = json.loads(classes_file.read_text())["classes"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{classes_file} is not a {{\"classes\": [...]}} JSON file: {err}") from None
        unknown = sorted(set(folders) - set(classes))
        if unknown:
            raise ValueError(f"{len(unknown)} class folder(s) under {root} are not listed in {classes_file}: "
                             f"{preview(unknown)}; accepted: {preview(classes)}")
        return {name: classes.index(name) for name in folders}
    labels = {}
    for name in folders:
        if not name.lstrip("-").isdigit():
            raise ValueError(f"class folder {root / name} is not a number and {classes_file} does not exist; "
                             "class folders must be numbered (label = number - class offset) or listed in classes.json")
    if class_offset is None:
        class_offset = detect_class_offset(root, [int(name) for name in folders], num_classes)
    for name in folders:
        labels[name] = int(name) - class_offset
        if labels[name] < 0:
            raise ValueError(f"class folder {root / name} gives label {labels[name]} with class offset {class_offset}; "
                             "labels start at 0")
    return labels


def _read(root, input_white: float, class_offset: int | None, relative_file: str, shape, rows, cols,
          num_classes: int | None = None) -> Readouts:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"sensor output folder not found: {root} (expected <root>/<class>/<sequence>/{relative_file})")
    if input_white <= 0:
        raise ValueError(f"input white must be > 0, got {input_white}")
    labels_of = class_labels(root, class_offset, num_classes)
    values, labels, names = [], [], []
    for class_folder in _folders(root):
        for sequence in _folders(class_folder):
            pixels = read_sensor_image(sequence / relative_file, shape)
            values.append(decode_readout(pixels[rows[0]:rows[1], cols[0]:cols[1]], input_white))
            labels.append(labels_of[class_folder.name])
            names.append(f"{class_folder.name}/{sequence.name}")
    if not names:
        raise FileNotFoundError(f"no sequences under {root} (expected <root>/<class>/<sequence>/{relative_file})")
    return Readouts(np.stack(values)[:, None].astype(np.float32), labels, names)


def read_sensor_outputs(root, input_white: float = 10, crop=DEFAULT_CROP, class_offset: int | None = 0,
                        num_classes: int | None = None) -> Readouts:
    """Real (or emulated) sensor outputs ``<root>/<class>/<sequence>/15_output.BMP``; ``class_offset`` None:
    detected from the folder numbers and ``num_classes`` (see ``detect_class_offset``)."""
    r0, r1, c0, c1 = crop
    if not (0 <= r0 < r1 <= SENSOR_OUTPUT_SHAPE[0] and 0 <= c0 < c1 <= SENSOR_OUTPUT_SHAPE[1]):
        raise ValueError(f"crop {crop} must be row start < row end, column start < column end within 0..256")
    return _read(root, input_white, class_offset, SENSOR_OUTPUT_FILE, SENSOR_OUTPUT_SHAPE, (r0, r1), (c0, c1),
                 num_classes)


def read_simulated_outputs(root, input_white: float = 10, frame: int = 15, class_offset: int = 1) -> Readouts:
    """The o_T half of ``<root>/<class>/<sequence>/<frame>/6_ft_ot.BMP``."""
    return _read(root, input_white, class_offset, f"{frame}/6_ft_ot.BMP", (128, 64), (64, 128), (0, 64))


def split_groups(path) -> dict[str, list[str]]:
    """The train/val/test name lists of a split file (``data_utils.splits`` validates it)."""
    content = load_split_file(path)
    return {group: content[group] for group in SPLIT_PARTS if group in content}


def group_readouts(readouts: Readouts, split: dict[str, list[str]]) -> tuple[dict, dict, list[str]]:
    """(group -> indices of readouts on disk, group -> names listed but absent on disk, names on disk in no group).
    A split name matches a read-out by ``<class>/<sequence>`` or by the bare sequence name."""
    index = {}
    for i, name in enumerate(readouts.names):
        index[name] = i
        index.setdefault(name.split("/", 1)[1], i)
    present, missing, used = {}, {}, set()
    for group, names in split.items():
        found = [index[n] for n in names if n in index]
        absent = [n for n in names if n not in index]
        if found:
            present[group] = found
        if absent:
            missing[group] = absent
        used.update(found)
    unlisted = [readouts.names[i] for i in range(len(readouts)) if i not in used]
    return present, missing, unlisted
