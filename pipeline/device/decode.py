"""JPEG bytes decoded onto a device in one batched call (nvjpeg on CUDA); the rest by ``pipeline.decode``.

A photo goes to the device decoder only when its header says it is a plain baseline or
progressive JPEG (RGB or grey), within the pixel and decoded-size limits and with an EXIF
orientation the device applies itself. Everything else (other formats, CMYK, too large, a JPEG the device
decoder refuses) is decoded by the CPU decoder, so limits, notes and errors are its own.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torchvision.io import ImageReadMode, decode_jpeg

from pipeline.decode import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_DECODED_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    Mapper,
    decode_each,
    decoding_cost,
)
from pipeline.errors import ImageError

JPEG_MAGIC = b"\xff\xd8\xff"
_DEVICE_MODES = frozenset({"RGB", "L"})
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class DeviceImage:
    """An upright RGB image on a device, like ``DecodedImage``.

    pixels: (H, W, 3) uint8 tensor (a view; it need not be contiguous).
    """

    pixels: torch.Tensor
    format: str
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @classmethod
    def upload(cls, image: DecodedImage, device: torch.device) -> DeviceImage:
        return cls(upload_pixels(image.pixels, device), image.format, image.notes)


def upload_pixels(pixels: NDArray[np.uint8], device: torch.device) -> torch.Tensor:
    """An (H, W, 3) uint8 array as a tensor on ``device``; read-only arrays (Pillow's) are copied first."""
    array = np.ascontiguousarray(pixels) if pixels.flags.writeable else np.array(pixels)
    return torch.from_numpy(array).to(device)


def decode_on_device(
    photos: Sequence[bytes],
    device: torch.device,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    map_each: Mapper = map,
) -> list[DeviceImage | ImageError]:
    """Each photo decoded onto ``device``, or the ``ImageError`` saying why it cannot be.

    The batch keeps ``decode_each``'s budget: JPEGs for the device are admitted cheapest first
    within ``max_batch_bytes`` of ``decoding_cost``, and the CPU decoder gets what is left of it
    for the rest. ``map_each`` maps the header checks and the CPU fallback (e.g. a pool's ``map``).
    """
    headers = list(map_each(partial(device_header, max_pixels=max_pixels), photos))
    jpegs, spent = [], 0
    for i in sorted((i for i, (turn, _) in enumerate(headers) if turn), key=lambda i: headers[i][1]):
        if spent + headers[i][1] <= max_batch_bytes:
            jpegs.append(i)
            spent += headers[i][1]
    results: dict[int, DeviceImage | ImageError] = {}
    for i, pixels in zip(jpegs, decode_jpegs([photos[i] for i in jpegs], device), strict=True):
        if pixels is not None:
            results[i] = _upright(pixels, headers[i][0])
    rest = [i for i in range(len(photos)) if i not in results]
    left = max_batch_bytes - sum(headers[i][1] for i in results)
    fallback = decode_each([photos[i] for i in rest], max_pixels=max_pixels, max_batch_bytes=left, map_each=map_each)
    for i, outcome in zip(rest, fallback, strict=True):
        results[i] = outcome if isinstance(outcome, ImageError) else DeviceImage.upload(outcome, device)
    return [results[i] for i in range(len(photos))]


def device_header(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(EXIF orientation 1–8, ``decoding_cost``) of a JPEG the device decoder may take; (0, 0) leaves
    the photo to the CPU decoder, which applies its own rules (and errors) to it."""
    if not data.startswith(JPEG_MAGIC):
        return 0, 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=("JPEG",))
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    except _HEADER_ERRORS:
        return 0, 0
    plain = image.format == "JPEG" and image.mode in _DEVICE_MODES and getattr(image, "n_frames", 1) == 1
    cost = decoding_cost(image)
    fits = 0 < width * height <= max_pixels and cost <= DEFAULT_MAX_DECODED_BYTES
    return (orientation, cost) if plain and fits and orientation in range(1, 9) else (0, 0)


def decode_jpegs(photos: Sequence[bytes], device: torch.device) -> list[torch.Tensor | None]:
    """(3, H, W) uint8 RGB per JPEG, decoded on ``device`` in one call; None where the decoder refuses one."""
    if not photos:
        return []
    data = [torch.frombuffer(bytearray(photo), dtype=torch.uint8) for photo in photos]
    try:
        return list(_decode(data, device))
    except RuntimeError:  # the batched call fails whole: find the bad ones one by one
        return [_decode_one(one, device) for one in data]


def _decode_one(data: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    try:
        return _decode([data], device)[0]
    except RuntimeError:
        return None


def _decode(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    with warnings.catch_warnings():
        # torchvision ≥ 0.29 points to TorchCodec on every call; its decoder still works.
        warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
        return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))


def _upright(pixels: torch.Tensor, orientation: int) -> DeviceImage:
    """(3, H, W) → an upright (H, W, 3) image, turned as ``PIL.ImageOps.exif_transpose`` turns it."""
    image = pixels.permute(1, 2, 0)
    if orientation in (5, 6, 7, 8):
        image = image.transpose(0, 1)
    if orientation in (3, 4, 7, 8):
        image = image.flip(0)
    if orientation in (2, 3, 6, 7):
        image = image.flip(1)
    notes = () if orientation == 1 else (f"rotated upright from EXIF orientation {orientation}",)
    return DeviceImage(image, "JPEG", notes)
