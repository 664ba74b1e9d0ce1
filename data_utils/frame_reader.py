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


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return (int.from_bytes(data[position + 7:position + 9], "big"),
                    int.from_bytes(data[position + 5:position + 7], "big"))
        position += 2 + length
    return None


def frame_dimensions(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image file from its header (PNG, BMP, JPEG); None if the header is not
    one of those (a corrupt file is reported by ``read_frame_rgb`` when the frame is read)."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if head.startswith(b"BM") and len(head) >= 26:
            return (abs(int.from_bytes(head[18:22], "little", signed=True)),
                    abs(int.from_bytes(head[22:26], "little", signed=True)))
        if head.startswith(b"\xff\xd8"):
            size = _jpeg_size(head + handle.read(1 << 16))
            return size
    return None
