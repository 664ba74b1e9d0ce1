"""What the command-line tools share: the release's true/false flags, the sensor unit (-iw), the part of the
dataset to evaluate (--part, and the release's --split) and one way to report user errors."""
from __future__ import annotations

import argparse
import errno
import functools
import math
import sys

from data_utils.dataset_builder import DATASET_PARTS

from .atomic_files import DISK_FULL_ERRNOS, DiskFullError, disk_full_error
from .checkpoints import CheckpointError
from .config import ConfigError
from .errors import UserError
from .release_vocabulary import RELEASE_FLAGS

# Errors caused by what the user gave (config, path, file, value) or by the machine (a full disk):
# their messages say what and where. New code raises UserError (or a subclass); ValueError and
# FileNotFoundError stay here for the data loaders' and argparse-free checks' messages.
USER_ERRORS = (UserError, ConfigError, CheckpointError, FileNotFoundError, ValueError, DiskFullError)
# OS errors about a path the user named (a folder where a file is expected, no permission, ...): a user
# error whose message is the OS's reason and the path, never a traceback.
PATH_ERRNOS = {errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST, errno.ENAMETOOLONG}


def true_false(text: str) -> bool:
    """argparse type for the release's ``-sc true`` style flags."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def sensor_white(text: str) -> float:
    """argparse type of -iw / --input-rnn-white in every tool: sensor units per model unit, a number > 0.

    One type for all tools (a float, so ``-iw 10`` and ``-iw 10.0`` mean the same everywhere); where the
    unit goes to the sensor (the weight exporter, the emulator's clips) it must further be a whole number
    in 1..127, which ``model_utils.sensor_export`` checks and reports.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_input_white(parser: argparse.ArgumentParser, help: str, rnn_help: str | None = None) -> None:
    """The tools' -iw (default 10) and, given ``rnn_help``, --input-rnn-white (default: -iw)."""
    parser.add_argument("-iw", "--input-white", type=sensor_white, default=10.0, help=help)
    if rnn_help is not None:
        parser.add_argument("--input-rnn-white", type=sensor_white, help=rnn_help)


class _ReleaseFlag(argparse.Action):
    """A release flag (``RELEASE_FLAGS``): sets the same value as this project's flag, with a note on stderr."""
    def __call__(self, parser, namespace, values, option_string=None):
        print(f"note: {option_string} is the release's name of {RELEASE_FLAGS[option_string]} (still accepted); "
              f"use {RELEASE_FLAGS[option_string]}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_part_option(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """The tools' --part {train,val,test,all} (the part of the dataset to evaluate; data.split makes the parts),
    and the release's --split for it."""
    parser.add_argument("--part", choices=DATASET_PARTS, default=default, help=help)
    release = next(flag for flag, ours in RELEASE_FLAGS.items() if ours == "--part")
    parser.add_argument(release, dest="part", choices=DATASET_PARTS, action=_ReleaseFlag, help=argparse.SUPPRESS)


def reports_user_errors(main):
    """A tool's ``main``: a user error ends it with ``error: <message>`` on stderr and exit status 2."""
    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            return main(argv)
        except USER_ERRORS as err:
            print(f"error: {err.strerror if isinstance(err, DiskFullError) else err}", file=sys.stderr)
            return 2
        except OSError as err:
            if err.errno in DISK_FULL_ERRNOS:  # met by a writer that is not atomic_files (e.g. TensorBoard's)
                print(f"error: {disk_full_error(err.filename or '?', err).strerror}", file=sys.stderr)
                return 2
            if err.errno in PATH_ERRNOS and err.filename:
                print(f"error: {err.filename}: {err.strerror}; check the path given for it (a file where a folder "
                      "is expected or the other way round, permissions, a read-only disk)", file=sys.stderr)
                return 2
            raise
    return wrapper
