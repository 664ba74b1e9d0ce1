"""Train / validation / test splits: seeded stratified splits and split files.

Seeded split: within each class, clips are ordered by ``sha256("<seed>:<name>")`` and the first
``round(n * test)`` go to test, the next ``round(n * val)`` to val, the rest to train. It depends
only on the clip names, labels, seed and fractions -- not on the file system's listing order, the
Python or NumPy version, or the machine -- so every machine computes the same split.

Seeded split by subject (``"seeded_by_subject"``): the same rule applied to *subjects* (speakers)
instead of clips, so that no subject of the test or validation part is seen in training -- the
speaker-independent protocol of lip reading. Names must read ``[<class>/]<subject>[_]<repetition>``
(Tulips1's ``2/Don1``, ``synthetic_lips``'s ``2/Subject07_1``); the fractions count subjects.

Split file (JSON)::

    {"description": "...",
     "train": [names...], "val": [names...], "test": [names...],
     "rest": {"seed": 0, "fractions": {"train": 0.9, "val": 0.1}}}   # optional

Names are the dataset's clip names (``Set1_1_0002``, ``2/Don1``). Clips listed nowhere go to:
the parts of ``"rest"`` by a seeded split of them when ``"rest"`` is given, else to ``"val"`` when
``"val"`` is missing, else nowhere. A split file naming a clip that is not in the dataset is an
error giving their count and the first few names. Every part's names come back in the dataset's canonical order.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from training_utils.atomic_files import write_text
from training_utils.paths import REPO_ROOT
from training_utils.text import preview
from .layouts import natural_key

SPLIT_PARTS = ("train", "val", "test")
# "<subject>_<digits>" (the underscore wins: Subject07_2 -> Subject07), else "<subject><digits>".
_SUBJECT_AND_REPETITION = re.compile(r"^(?:.*/)?(?:(?P<underscored>[^/]+)_\d+|(?P<plain>[^/]*[^/\d])\d+)$")
DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def validate_fractions(fractions: dict | None) -> dict[str, float]:
    """Fractions per part (missing parts are 0); each in [0, 1], together 1."""
    if fractions is None:
        return dict(DEFAULT_FRACTIONS)
    if not isinstance(fractions, dict):
        raise ValueError(f"split_fractions must be an object like {DEFAULT_FRACTIONS}, "
                         f"got {fractions!r}.")
    unknown = sorted(set(fractions) - set(SPLIT_PARTS))
    if unknown:
        raise ValueError(f"Unknown split part(s) {unknown} in split_fractions; accepted: "
                         f"{list(SPLIT_PARTS)}.")
    result = {}
    for part in SPLIT_PARTS:
        value = fractions.get(part, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 <= value <= 1.0:
            raise ValueError(f"split_fractions.{part} must be a number in [0, 1], got {value!r}.")
        result[part] = float(value)
    if not math.isclose(sum(result.values()), 1.0, abs_tol=1e-6):
        raise ValueError(f"split_fractions must add up to 1, got {fractions} "
                         f"(sum {sum(result.values())}).")
    return result


def _seeded_rank(seed: int, name: str) -> str:
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5 + 1e-9))


def _canonical_order(names: Sequence[str], labels_by_name: dict[str, int]) -> list[str]:
    return sorted(names, key=lambda name: (labels_by_name[name], natural_key(name)))


STRATIFIED_DRAWS = ("name_rank", "permutation")


def _class_count(size: int, fraction: float, draw: str) -> int:
    if draw == "name_rank":
        return _round_half_up(size * fraction)
    return min(max(int(round(size * fraction)), 1), size - 1) if size >= 2 else 0


def stratified_split(labels: Sequence[int], drawn: dict[str, float], seed: int, rest: str,
                     names: Sequence[str] | None = None, draw: str = "name_rank") -> dict[str, list[int]]:
    """The one stratified splitter: the indices of ``labels`` in each part, drawn class by class.

    ``drawn`` maps parts to fractions in drawing order: each class's members, in the draw's order, fill
    the drawn parts in turn (each count capped by what is left) and the rest goes to part ``rest``.
    Every list comes back sorted. ``draw`` is one of the two draws the project has always made:

    - ``"name_rank"`` (``data.split`` "seeded", via ``seeded_split``): a class's members ordered by
      ``sha256("<seed>:<name>")`` (needs ``names``), counts rounded half up; independent of the input
      order and of the NumPy version.
    - ``"permutation"`` (the decoder finetuning's held-out part, via ``stratified_holdout``): each class,
      in label order, permuted by one ``numpy.random.default_rng(seed)``; counts by ``round`` (half to
      even), at least one and never all of a class of two or more, none of a class of one.
    """
    if draw not in STRATIFIED_DRAWS:
        raise ValueError(f"unknown stratified draw {draw!r}; accepted: {list(STRATIFIED_DRAWS)}")
    if draw == "name_rank" and (names is None or len(names) != len(labels)):
        raise ValueError("the 'name_rank' draw orders clips by name: give one name per label")
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    rng = np.random.default_rng(seed) if draw == "permutation" else None
    parts: dict[str, list[int]] = {part: [] for part in (*drawn, rest)}
    for label in sorted(by_class):
        members = by_class[label]
        if rng is None:
            members = sorted(members, key=lambda index: _seeded_rank(seed, names[index]))
        else:
            members = rng.permutation(np.asarray(members)).tolist()
        start = 0
        for part, fraction in drawn.items():
            count = min(_class_count(len(members), fraction, draw), len(members) - start)
            parts[part] += members[start:start + count]
            start += count
        parts[rest] += members[start:]
    return {part: sorted(indices) for part, indices in parts.items()}


def seeded_split(names: Sequence[str], labels: Sequence[int], fractions: dict | None = None,
                 seed: int = 0) -> dict[str, list[str]]:
    """Stratified split of ``names`` (one label each) into train / val / test; see module doc."""
    if len(names) != len(labels):
        raise ValueError(f"seeded_split got {len(names)} names but {len(labels)} labels.")
    if len(set(names)) != len(names):
        raise ValueError("seeded_split needs unique clip names.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"split_seed must be an integer, got {seed!r}.")
    fractions = validate_fractions(fractions)
    labels_by_name = dict(zip(names, labels))
    indices = stratified_split(labels, {"test": fractions["test"], "val": fractions["val"]}, seed, "train",
                               names=names, draw="name_rank")
    return {part: _canonical_order([names[i] for i in indices[part]], labels_by_name) for part in SPLIT_PARTS}


def subject_of(name: str) -> str:
    """The subject of a clip named ``[<class>/]<subject>[_]<repetition>``: ``2/Don1`` -> ``Don``."""
    match = _SUBJECT_AND_REPETITION.match(name)
    if match is None:
        raise ValueError(f"Clip name {name!r} does not read [<class>/]<subject>[_]<repetition> "
                         "(like '2/Don1' or '2/Subject07_1'), so split 'seeded_by_subject' cannot "
                         "tell its subject; use split 'seeded' or a split file.")
    return match.group("underscored") or match.group("plain")


def seeded_subject_split(names: Sequence[str], labels: Sequence[int], fractions: dict | None = None,
                         seed: int = 0) -> dict[str, list[str]]:
    """Split ``names`` so that each subject's clips all land in one part; see module doc."""
    if len(names) != len(labels):
        raise ValueError(f"seeded_subject_split got {len(names)} names but {len(labels)} labels.")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"split_seed must be an integer, got {seed!r}.")
    fractions = validate_fractions(fractions)
    subjects = sorted({subject_of(name) for name in names}, key=lambda s: _seeded_rank(seed, s))
    test_count = _round_half_up(len(subjects) * fractions["test"])
    val_count = min(_round_half_up(len(subjects) * fractions["val"]), len(subjects) - test_count)
    part_of = {subject: "test" for subject in subjects[:test_count]}
    part_of.update({subject: "val" for subject in subjects[test_count:test_count + val_count]})
    parts: dict[str, list[str]] = {part: [] for part in SPLIT_PARTS}
    for name in names:
        parts[part_of.get(subject_of(name), "train")].append(name)
    labels_by_name = dict(zip(names, labels))
    return {part: _canonical_order(members, labels_by_name) for part, members in parts.items()}


def load_split_file(path: str | Path) -> dict:
    """Read and validate a split file (see module doc); returns its parsed content."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Split file {path} does not exist.")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"Split file {path} is not valid JSON: {error}") from error
    accepted = {"description", "rest", *SPLIT_PARTS}
    if not isinstance(content, dict):
        raise ValueError(f"Split file {path} must hold a JSON object with keys among "
                         f"{sorted(accepted)}.")
    unknown = sorted(set(content) - accepted)
    if unknown:
        raise ValueError(f"Split file {path} has unknown key(s) {unknown}; accepted: "
                         f"{sorted(accepted)}.")
    for part in SPLIT_PARTS:
        if part in content and (not isinstance(content[part], list)
                                or not all(isinstance(name, str) for name in content[part])):
            raise ValueError(f"Split file {path}: {part!r} must be a list of clip names.")
    if "rest" in content:
        rest = content["rest"]
        if not isinstance(rest, dict) or set(rest) - {"seed", "fractions"}:
            raise ValueError(f"Split file {path}: 'rest' must be an object "
                             "{\"seed\": int, \"fractions\": {part: fraction}}.")
        validate_fractions(rest.get("fractions"))
    return content


def resolve_split(content: dict, names: Sequence[str], labels: Sequence[int],
                  source: str) -> dict[str, list[str]]:
    """Turn split-file content into the three parts for a dataset with ``names``/``labels``."""
    labels_by_name = dict(zip(names, labels))
    listed: list[str] = [name for part in SPLIT_PARTS for name in content.get(part, [])]
    repeated = sorted((name for name, count in Counter(listed).items() if count > 1),
                      key=natural_key)
    if repeated:
        raise ValueError(f"Split file {source} lists {len(repeated)} clip(s) more than once: "
                         f"{preview(repeated)}.")
    absent = sorted(set(listed) - set(labels_by_name), key=natural_key)
    if absent:
        raise ValueError(f"Split file {source} names {len(absent)} clip(s) that are not in the "
                         f"dataset: {preview(absent)}. To train and evaluate on the clips that are on disk, "
                         "split them by seed instead: --set data.split=seeded (every tool that takes --set); "
                         "train.py --eval-only --part all evaluates every clip without a split file.")
    parts = {part: list(content.get(part, [])) for part in SPLIT_PARTS}
    listed_set = set(listed)
    unlisted = [name for name in names if name not in listed_set]
    if "rest" in content:
        rest = content["rest"]
        rest_split = seeded_split(unlisted, [labels_by_name[name] for name in unlisted],
                                  rest.get("fractions"), rest.get("seed", 0))
        for part in SPLIT_PARTS:
            parts[part] += rest_split[part]
    elif "val" not in content:
        parts["val"] = unlisted
    return {part: _canonical_order(members, labels_by_name) for part, members in parts.items()}


def find_split_file(value: str | Path, repo_root: Path = REPO_ROOT) -> Path:
    """A split path as given (relative to the working directory), else relative to the repo."""
    candidates = [Path(value)]
    if not Path(value).is_absolute():
        candidates.append(repo_root / value)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    shipped = sorted(path.relative_to(repo_root).as_posix()
                     for path in (repo_root / "configs" / "splits").glob("*.json"))
    raise FileNotFoundError(
        f"Split file {value!r} not found (tried {[str(path) for path in candidates]}). "
        f"data.split accepts 'seeded', 'seeded_by_subject' or the path of a JSON split file; "
        f"shipped: {shipped}.")


def write_split_file(path: str | Path, description: str, parts: dict[str, list[str]],
                     rest: dict | None = None) -> None:
    """Write a split file atomically (parts in the order train, val, test)."""
    content: dict = {"description": description}
    for part in SPLIT_PARTS:
        if part in parts:
            content[part] = list(parts[part])
    if rest is not None:
        content["rest"] = rest
    write_text(path, json.dumps(content, indent=1) + "\n")
