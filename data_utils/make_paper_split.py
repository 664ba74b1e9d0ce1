"""Write the shipped split files in ``configs/splits/`` (run once; the outputs are committed).

    python -m data_utils.make_paper_split [--reference ../shared/reference/splits] [--out configs/splits]

* ``cambridge_paper.json``: the PixelRNN paper's Cambridge split, from the names the authors
  released (720 train, 90 test) plus the validation part written out explicitly (the other 90 of
  the 900 names ``Set{1..5}_{1..9}_{0000..0019}``), so the file stands on its own.
* ``cambridge_classic.json``: the dataset authors' protocol (Kim & Cipolla): train on Set5 (the
  plain-illumination set), test on Set1-4; validation = a seeded 10% of Set5 per class.
* ``tulips_paper.json``: the paper's 10 Tulips1 test clips; the other 86 are split by a seeded
  stratified split (``"rest"``) 90/10 into train / val, since the paper did not publish them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from training_utils.paths import REFERENCE_DIR, REPO_ROOT

from .splits import seeded_split, write_split_file

CAMBRIDGE_SETS = range(1, 6)
CAMBRIDGE_CLASS_NUMBERS = range(1, 10)
CAMBRIDGE_CLIPS_PER_CLASS_AND_SET = 20
CLASSIC_VAL_SEED = 0
TULIPS_REST = {"seed": 0, "fractions": {"train": 0.9, "val": 0.1}}


def cambridge_names() -> list[str]:
    """All 900 Cambridge clip names, in canonical order (class, then set, then number)."""
    return [f"Set{set_number}_{class_number}_{clip:04d}"
            for class_number in CAMBRIDGE_CLASS_NUMBERS for set_number in CAMBRIDGE_SETS
            for clip in range(CAMBRIDGE_CLIPS_PER_CLASS_AND_SET)]


def _cambridge_label(name: str) -> int:
    return int(name.split("_")[1]) - 1


def _read_reference(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"Reference split {path} not found; pass --reference with the "
                                "folder holding the release's cambridge_paper.json and "
                                "tulips_paper_test.json.")
    return json.loads(path.read_text(encoding="utf-8"))


def cambridge_paper_parts(reference: dict) -> dict[str, list[str]]:
    names = cambridge_names()
    order = {name: position for position, name in enumerate(names)}
    train, test = reference["train"], reference["test"]
    unknown = sorted(set(train + test) - set(names))
    if unknown or set(train) & set(test):
        raise ValueError(f"Reference Cambridge split has unknown names {unknown} or overlaps.")
    val = [name for name in names if name not in set(train) | set(test)]
    parts = {"train": sorted(train, key=order.get), "val": val,
             "test": sorted(test, key=order.get)}
    counts = {part: len(members) for part, members in parts.items()}
    if counts != {"train": 720, "val": 90, "test": 90}:
        raise ValueError(f"Reference Cambridge split gives {counts}, expected 720/90/90.")
    return parts


def cambridge_classic_parts() -> dict[str, list[str]]:
    names = cambridge_names()
    set5 = [name for name in names if name.startswith("Set5_")]
    set5_split = seeded_split(set5, [_cambridge_label(name) for name in set5],
                              {"train": 0.9, "val": 0.1}, CLASSIC_VAL_SEED)
    return {"train": set5_split["train"], "val": set5_split["val"],
            "test": [name for name in names if not name.startswith("Set5_")]}


def write_all(reference_folder: Path, out_folder: Path) -> None:
    paper = cambridge_paper_parts(_read_reference(reference_folder / "cambridge_paper.json"))
    write_split_file(
        out_folder / "cambridge_paper.json",
        "Cambridge Hand Gesture split of the PixelRNN paper (So et al., CVPR 2024). train (720): "
        "the clips the released decoder was finetuned on; test (90): the held-out clips of the "
        "paper's SCAMP-5 result; val (90): the remaining clips of the 900. Names are "
        "Set<illumination set>_<class 1..9>_<clip>. Written by data_utils/make_paper_split.py.",
        paper)
    write_split_file(
        out_folder / "cambridge_classic.json",
        "Cambridge Hand Gesture protocol of the dataset's authors (Kim & Cipolla): train on Set5, "
        "test on Set1-4 (720). val (18): 2 clips per class of Set5 chosen by the seeded "
        f"stratified split of data_utils/splits.py (seed {CLASSIC_VAL_SEED}, fractions train "
        "0.9 / val 0.1: per class the clips with the smallest sha256('0:<name>')); train: the "
        "other 162 of Set5. Written by data_utils/make_paper_split.py.",
        cambridge_classic_parts())
    tulips_test = _read_reference(reference_folder / "tulips_paper_test.json")["test"]
    write_split_file(
        out_folder / "tulips_paper.json",
        "Tulips1 split of the PixelRNN paper: test = the paper's 10 test clips (<digit>/<subject>"
        "<repetition>). The paper did not publish its train/val partition: the other 86 clips "
        "are split per class by the seeded stratified split ('rest': seed 0, train 0.9 / val "
        "0.1). Written by data_utils/make_paper_split.py.",
        {"test": sorted(tulips_test)}, rest=TULIPS_REST)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path,
                        default=REFERENCE_DIR / "splits",
                        help="folder with the release's cambridge_paper.json and "
                             "tulips_paper_test.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "configs" / "splits",
                        help="where the split files are written")
    arguments = parser.parse_args(argv)
    write_all(arguments.reference, arguments.out)
    print(f"wrote cambridge_paper.json, cambridge_classic.json, tulips_paper.json to "
          f"{arguments.out}")


if __name__ == "__main__":
    main()
