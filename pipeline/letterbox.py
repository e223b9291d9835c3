"""Fit a batch of differently sized images into one fixed-size detector input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

STRIDE = 32  # the coarsest detector stride: input sides must be multiples of it


@dataclass(frozen=True)
class Letterboxed:
    """A batch of images resized into the top-left corner of equal canvases.

    canvas: (N, H, W, 3) uint8, zero where no image is.
    scale: (N, 2) float32 x and y factors from original pixels to canvas pixels.
    """

    canvas: NDArray[np.uint8]
    scale: NDArray[np.float32]


def letterbox(
    images: Sequence[NDArray[np.uint8]], size: tuple[int, int], canvas: tuple[int, int] | None = None
) -> Letterboxed:
    """Resize each (H, W, 3) image to fit ``size`` = (width, height), keeping its aspect ratio,
    into the top-left corner of a ``canvas``-sized (default ``size``) zero image.

    Mapping back is a division by ``scale`` with no offset; this is also how InsightFace
    prepares SCRFD inputs.
    """
    width, height = canvas or size
    batch = np.zeros((len(images), height, width, 3), dtype=np.uint8)
    scale = np.empty((len(images), 2), dtype=np.float32)
    for i, image in enumerate(images):
        new_w, new_h = _fitted_size(image.shape[:2], size)
        batch[i, :new_h, :new_w] = cv2.resize(image, (new_w, new_h))
        scale[i] = (new_w / image.shape[1], new_h / image.shape[0])
    return Letterboxed(canvas=batch, scale=scale)


def trimmed_canvas(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[int, int]:
    """The smallest canvas, in multiples of ``STRIDE``, that holds an image of ``shape`` (H, W, …)
    letterboxed to ``size``: a fully convolutional detector then skips rows or columns that
    would only be padding (a 4:3 photo costs 3/4 of a square)."""
    new_w, new_h = _fitted_size(shape[:2], size)
    return min(size[0], -(-new_w // STRIDE) * STRIDE), min(size[1], -(-new_h // STRIDE) * STRIDE)


def _fitted_size(shape: tuple[int, ...], size: tuple[int, int]) -> tuple[int, int]:
    (h, w), (width, height) = shape, size
    if h / w > height / width:
        return max(1, int(height * w / h)), height
    return width, max(1, int(width * h / w))


def to_blob(canvas: NDArray[np.uint8], *, mean: float, std: float, bgr: bool) -> NDArray[np.float32]:
    """(N, H, W, 3) uint8 RGB → (N, 3, H, W) float32 ``(x - mean) / std`` in the model's channel order."""
    if bgr:
        canvas = canvas[..., ::-1]
    blob = np.ascontiguousarray(canvas.transpose(0, 3, 1, 2), dtype=np.float32)
    blob -= np.float32(mean)
    blob *= np.float32(1.0 / std)
    return blob


def pad_images(
    images: Sequence[NDArray[np.uint8]], ratio: float
) -> tuple[list[NDArray[np.uint8]], NDArray[np.float32]]:
    """Surround each image with a black border of ``ratio`` × its longer side.

    Detectors trained on scenes miss faces that fill the frame (ID photos, tight crops);
    the same face inside a larger frame is found. Black is what the detector already sees
    around every letterboxed photo; replicated edges instead smear the face's outer pixels
    (hair, cheeks, chin) into stripes, among which SCRFD missed 1 in 30 tight LFW crops and
    shifted the landmarks of others (``benchmarks/engine_parity.py``). Returns the padded
    images and (N, 2) x, y offsets to subtract from coordinates found in them.
    """
    padded: list[NDArray[np.uint8]] = []
    offsets = np.empty((len(images), 2), dtype=np.float32)
    for i, image in enumerate(images):
        border = max(1, round(ratio * max(image.shape[:2])))
        framed = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT, value=0)
        padded.append(np.asarray(framed, dtype=np.uint8))
        offsets[i] = border
    return padded, offsets
