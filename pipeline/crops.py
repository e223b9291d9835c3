"""What people look at: a face with its surroundings, a downscaled photo, as JPEG bytes."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

CONTEXT_SCALE = 2.5  # the context crop is this many face boxes wide, centred on the face
FACE_SCALE = 1.3  # a plain face crop: the box and a little around it
JPEG_QUALITY = 90


def context_crop(pixels: NDArray[np.uint8], box: NDArray[np.float32], size: int = 320) -> NDArray[np.uint8]:
    """The face with its surroundings: a (size, size, 3) square CONTEXT_SCALE boxes wide."""
    return square_crop(pixels, box, scale=CONTEXT_SCALE, size=size)


def square_crop(pixels: NDArray[np.uint8], box: NDArray[np.float32], *, scale: float, size: int) -> NDArray[np.uint8]:
    """A (size, size, 3) square centred on ``box`` (x1, y1, x2, y2), ``scale`` boxes wide; outside is black."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * scale
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    scale = size / side
    matrix = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]], np.float32)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(pixels, matrix, (size, size), flags=interpolation, borderValue=(0, 0, 0))
    return np.asarray(crop, dtype=np.uint8)


def downscale(pixels: NDArray[np.uint8], max_side: int | None) -> NDArray[np.uint8]:
    """The image shrunk so its longer side is at most ``max_side`` (never enlarged); None keeps it."""
    height, width = pixels.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return pixels
    scale = max_side / max(height, width)
    size = (max(round(width * scale), 1), max(round(height * scale), 1))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def encode_jpeg(pixels: NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """(H, W, 3) uint8 RGB as baseline JPEG bytes (no metadata: nothing but the pixels leaves)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
