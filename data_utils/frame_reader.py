"""Reading one frame image from disk as RGB ``uint8``; every failure names the file."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_frame_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file into an ``H x W x 3`` RGB ``uint8`` array.

    OpenCV decodes JPEG with libjpeg-turbo's default (accurate integer IDCT, fancy upsampling),
    as Pillow does; gray files are expanded to three equal channels, 16-bit files reduced to 8.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Frame file {path} does not exist.")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ValueError(f"Frame {path} is corrupt or unreadable "
                         "(accepted: readable JPEG, PNG or BMP images).")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
