"""Dataset layouts on disk: how the clips of each dataset are found, named and labelled.

Every layout turns a dataset root into a ``DatasetListing``: the class names in label order and
one ``SequenceRecord`` per clip (its portable name, label and frame files). Listings are always
sorted the same way -- classes by label, sequences naturally by name within a class, frames
naturally by file name -- so splits and caches do not depend on the file system's listing order
(the release's split depended on it).

Layouts (registry ``LAYOUTS``):

* ``cambridge`` -- Cambridge Hand Gesture (Kim & Cipolla), 900 clips, 9 classes, detected
  automatically in either form:
    official:     ``<root>/Set{1..5}/{0000..0008}/{0000..0019}/<frames>`` (folder 000c = class c)
    reorganised:  ``<root>/<class 1..9>/Set{s}_{c}_{NNNN}/<frames>`` (the PixelRNN release's)
  Names are normalised to ``Set{s}_{c}_{NNNN}`` with c = 1..9 in both forms, so split files are
  portable between them.
* ``tulips1`` -- Tulips1 (Movellan), the PixelRNN release's layout
  ``<root>/<digit 1..4>/<Subject><rep>/<frames>``. Subject names repeat across digits, so a clip is
  named ``<digit>/<Subject><rep>``. The original distribution's own layout is not supported: we
  could not establish it from documentation we are sure of, so we do not guess at it.
* ``clip_folder`` -- generic ``<root>/<class>/<sequence>/<frames>`` (synthetic data, user data);
  classes in natural order (numeric names numerically), clips named ``<class>/<sequence>``.

Frames are ``.jpg``, ``.jpeg``, ``.png`` or ``.bmp`` files (any case); other files are ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from training_utils.text import preview

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

CAMBRIDGE_DOWNLOAD = "https://labicvl.github.io/ges_db.htm (Cambridge Hand Gesture Data set)"
TULIPS_DOWNLOAD = ("the Tulips1 database, distributed by Javier Movellan at UCSD's Machine "
                   "Perception Laboratory (MPLab): https://inc.ucsd.edu/mplab/")

_NUMBER_RUN = re.compile(r"(\d+)")
_CAMBRIDGE_SET = re.compile(r"^Set(\d+)$")
_CAMBRIDGE_NAME = re.compile(r"^Set(\d+)_(\d+)_(\d+)$")


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs numerically: ``2.BMP`` < ``10.BMP``, ``9`` < ``10``.

    ``re.split`` with a capturing group alternates text / number, so positions always compare
    str with str and int with int; the original text breaks ties (``01`` vs ``1``).
    """
    parts = _NUMBER_RUN.split(text)
    key = tuple(int(part) if index % 2 else part.lower() for index, part in enumerate(parts))
    return key + (text,)


@dataclass(frozen=True)
class SequenceRecord:
    """One clip: portable name, label, class folder name, its folder and its frame files."""
    name: str
    label: int
    class_name: str
    folder: str
    frames: tuple[str, ...]


@dataclass(frozen=True)
class DatasetListing:
    """Everything found under a dataset root, in the canonical order."""
    root: Path
    layout: str
    classes: list[str]
    sequences: list[SequenceRecord]


@dataclass(frozen=True)
class DatasetLayout:
    """A layout's lister plus the text a user needs when the data is missing or malformed."""
    name: str
    expected: str
    download: str
    lister: Callable[[Path], DatasetListing]

    def describe(self) -> str:
        return f"Expected layout ({self.name}):\n{self.expected}\nDownload: {self.download}"


def _subfolders(folder: Path) -> list[Path]:
    return sorted((entry for entry in folder.iterdir()
                   if entry.is_dir() and not entry.name.startswith(".")),
                  key=lambda entry: natural_key(entry.name))


def list_frames(folder: Path) -> tuple[str, ...]:
    """Image files of a sequence folder in natural order; a folder without any is an error."""
    frames = sorted((entry for entry in folder.iterdir()
                     if entry.is_file() and not entry.name.startswith(".")
                     and entry.suffix.lower() in IMAGE_EXTENSIONS),
                    key=lambda entry: natural_key(entry.name))
    if not frames:
        raise ValueError(f"Sequence folder {folder} contains no frames "
                         f"(accepted frame files: {', '.join(IMAGE_EXTENSIONS)}, any case).")
    return tuple(str(frame) for frame in frames)


def _sequence_folders(class_folder: Path) -> list[Path]:
    sequences = _subfolders(class_folder)
    if not sequences:
        raise ValueError(f"Class folder {class_folder} contains no clips "
                         "(expected one sub-folder of frame images per clip).")
    return sequences


def _sorted_listing(root: Path, layout: str, classes: list[str],
                    records: list[SequenceRecord]) -> DatasetListing:
    records = sorted(records, key=lambda record: (record.label, natural_key(record.name)))
    names = [record.name for record in records]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"Dataset {root} holds several clips named {preview(duplicates)}; "
                         "clip names must be unique within a dataset.")
    return DatasetListing(root=root, layout=layout, classes=classes, sequences=records)


# --- clip folder ------------------------------------------------------------------------------

def list_clip_folder(root: Path, layout: str = "clip_folder", classes: list[str] | None = None) -> DatasetListing:
    """``<root>/<class>/<sequence>/<frames>``; clips named ``<class>/<sequence>``. With ``classes``
    given (a dataset's fixed class list), labels follow it and a subset of the folders may be present."""
    class_folders = _subfolders(root)
    if not class_folders:
        raise ValueError(f"Dataset root {root} contains no class folders.\n"
                         f"{LAYOUTS[layout].describe()}")
    if classes is None:
        classes = [folder.name for folder in class_folders]
    records = []
    for class_folder in class_folders:
        for sequence_folder in _sequence_folders(class_folder):
            label = classes.index(class_folder.name)
            records.append(SequenceRecord(
                name=f"{class_folder.name}/{sequence_folder.name}", label=label,
                class_name=class_folder.name, folder=str(sequence_folder),
                frames=list_frames(sequence_folder)))
    return _sorted_listing(root, layout, classes, records)


# --- Tulips1 ----------------------------------------------------------------------------------

TULIPS_CLASSES = ["1", "2", "3", "4"]


def list_tulips(root: Path) -> DatasetListing:
    """The release's Tulips1 layout: class folders 1..4 (the spoken digit), clips per subject."""
    found = [folder.name for folder in _subfolders(root)]
    unknown = [name for name in found if name not in TULIPS_CLASSES]
    if unknown:
        raise ValueError(f"Tulips1 root {root} has class folders {unknown} that are not digits "
                         f"{TULIPS_CLASSES}.\n{LAYOUTS['tulips1'].describe()}")
    return list_clip_folder(root, layout="tulips1", classes=TULIPS_CLASSES)


# --- Cambridge Hand Gesture ---------------------------------------------------------------------

CAMBRIDGE_CLASSES = [str(number) for number in range(1, 10)]


def _cambridge_official(root: Path, set_folders: list[Path]) -> list[SequenceRecord]:
    records = []
    for set_folder in set_folders:
        set_number = int(_CAMBRIDGE_SET.match(set_folder.name).group(1))
        class_folders = _subfolders(set_folder)
        if not class_folders:
            raise ValueError(f"Cambridge set folder {set_folder} contains no class folders "
                             "(expected 0000..0008).")
        for class_folder in class_folders:
            if not class_folder.name.isdigit() or not 0 <= int(class_folder.name) <= 8:
                raise ValueError(f"Cambridge class folder {class_folder} is not one of 0000..0008."
                                 f"\n{LAYOUTS['cambridge'].describe()}")
            label = int(class_folder.name)
            for sequence_folder in _sequence_folders(class_folder):
                if not sequence_folder.name.isdigit():
                    raise ValueError(f"Cambridge sequence folder {sequence_folder} is not a number "
                                     "(expected 0000..0019).")
                name = f"Set{set_number}_{label + 1}_{int(sequence_folder.name):04d}"
                records.append(SequenceRecord(
                    name=name, label=label, class_name=CAMBRIDGE_CLASSES[label],
                    folder=str(sequence_folder), frames=list_frames(sequence_folder)))
    return records


def _cambridge_reorganised(root: Path, class_folders: list[Path]) -> list[SequenceRecord]:
    records = []
    for class_folder in class_folders:
        label = CAMBRIDGE_CLASSES.index(class_folder.name)
        for sequence_folder in _sequence_folders(class_folder):
            match = _CAMBRIDGE_NAME.match(sequence_folder.name)
            if match is None or int(match.group(2)) != label + 1:
                raise ValueError(
                    f"Cambridge sequence folder {sequence_folder} is not named "
                    f"Set<s>_{label + 1}_<NNNN> as its class folder {class_folder.name} requires.")
            name = f"Set{int(match.group(1))}_{label + 1}_{int(match.group(3)):04d}"
            records.append(SequenceRecord(
                name=name, label=label, class_name=class_folder.name,
                folder=str(sequence_folder), frames=list_frames(sequence_folder)))
    return records


def list_cambridge(root: Path) -> DatasetListing:
    """Cambridge Hand Gesture in the official or the reorganised layout (detected)."""
    folders = _subfolders(root)
    set_folders = [folder for folder in folders if _CAMBRIDGE_SET.match(folder.name)]
    class_folders = [folder for folder in folders if folder.name in CAMBRIDGE_CLASSES]
    if set_folders and class_folders:
        raise ValueError(f"Cambridge root {root} mixes the official layout (Set<s> folders) and "
                         f"the reorganised one (class folders 1..9); keep one.\n"
                         f"{LAYOUTS['cambridge'].describe()}")
    if set_folders:
        records = _cambridge_official(root, set_folders)
    elif class_folders:
        records = _cambridge_reorganised(root, class_folders)
    else:
        raise ValueError(f"Cambridge root {root} holds neither Set<s> folders nor class folders "
                         f"1..9 (found: {preview([folder.name for folder in folders])}).\n"
                         f"{LAYOUTS['cambridge'].describe()}")
    # A misnamed class folder ('nine', 'abc') would otherwise be dropped and its clips never seen.
    unknown = [folder.name for folder in folders if folder not in set_folders + class_folders]
    if unknown:
        accepted = "Set<s> folders (official layout)" if set_folders else "class folders 1..9 (reorganised layout)"
        raise ValueError(f"Cambridge root {root} holds {len(unknown)} folder(s) that are not {accepted}: "
                         f"{preview(unknown)}; rename or remove them.\n{LAYOUTS['cambridge'].describe()}")
    return _sorted_listing(root, "cambridge", list(CAMBRIDGE_CLASSES), records)


LAYOUTS: dict[str, DatasetLayout] = {
    "cambridge": DatasetLayout(
        name="cambridge",
        expected=("  official:    <root>/Set{1..5}/{0000..0008}/{0000..0019}/<frame>.jpg\n"
                  "  reorganised: <root>/<class 1..9>/Set{s}_{c}_{NNNN}/<frame>.jpg"),
        download=CAMBRIDGE_DOWNLOAD,
        lister=list_cambridge),
    "tulips1": DatasetLayout(
        name="tulips1",
        expected="  <root>/<digit 1..4>/<Subject><repetition>/<frame>.jpg  (e.g. <root>/2/Don1/)",
        download=TULIPS_DOWNLOAD,
        lister=list_tulips),
    "clip_folder": DatasetLayout(
        name="clip_folder",
        expected="  <root>/<class>/<sequence>/<frame>.{jpg,png,bmp}",
        download="not applicable: a folder of your own clips (or one generated by "
                 "data_utils.synthetic)",
        lister=list_clip_folder),
}


def list_dataset(layout: str, root: str | Path) -> DatasetListing:
    """List the clips of ``root`` in ``layout``; a missing root says what belongs there."""
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown dataset layout {layout!r}; accepted: {sorted(LAYOUTS)}.")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Dataset root {root} does not exist or is not a folder.\n"
                                f"{LAYOUTS[layout].describe()}")
    return LAYOUTS[layout].lister(root)
