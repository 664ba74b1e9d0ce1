"""Wording shared by error messages."""
from __future__ import annotations

from typing import Sequence

PREVIEW_LIMIT = 5


def preview(names: Sequence, limit: int = PREVIEW_LIMIT, separator: str = ", ") -> str:
    """The first ``limit`` names and how many more: an error stays readable when 810 names are missing."""
    names = [str(name) for name in names]
    shown = separator.join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
