"""Where the project's folders are: the repository root (configs, data, runs and build folders are found
from it) and the release's reference files that the ``reference`` tests and some benchmarks read."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The release's checkpoints, stored intermediates, sensor outputs and split files: ../shared/reference
# beside the checkout, or where $PIXELRNN_REFERENCE_DIR points.
REFERENCE_DIR = Path(os.environ.get("PIXELRNN_REFERENCE_DIR") or REPO_ROOT.parent / "shared" / "reference")
