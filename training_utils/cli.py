"""What the command-line tools share: the release's true/false flags and one way to report user errors."""
from __future__ import annotations

import argparse
import functools
import sys

from .checkpoints import CheckpointError
from .config import ConfigError

# Errors caused by what the user gave (config, path, file, value): their messages say what and where.
USER_ERRORS = (ConfigError, CheckpointError, FileNotFoundError, ValueError)


def true_false(text: str) -> bool:
    """argparse type for the release's ``-sc true`` style flags."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def reports_user_errors(main):
    """A tool's ``main``: a user error ends it with ``error: <message>`` on stderr and exit status 2."""
    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            return main(argv)
        except USER_ERRORS as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return wrapper
