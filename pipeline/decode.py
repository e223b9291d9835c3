"""Turn untrusted bytes into an upright RGB uint8 array, or say clearly why not."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 50 * 2**20

Mapper = Callable[[Callable[[bytes], Any], Iterable[bytes]], Iterable[Any]]

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image and what decoding had to do to get it.

    pixels: (H, W, 3) uint8, RGB, C-contiguous.
    """

    pixels: NDArray[np.uint8]
    format: str
    notes: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode image bytes (any format Pillow reads) into upright RGB.

    EXIF orientation is applied, grey/palette/CMYK/16-bit/alpha images become RGB,
    animated images give their first frame, and the pixel count is checked from the
    header before any pixel data is decoded.
    """
    if not data:
        raise EmptyImageError("the file is empty (0 bytes)")
    image = _open(data, max_pixels)
    notes: list[str] = []
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"animated image: only the first of {frames} frames was analysed")
    try:
        image.load()
        image = _upright(image, notes)
        pixels = _to_rgb(image, notes)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError(f"the {image.format or 'image'} data is truncated or corrupt") from exc
    return DecodedImage(pixels=pixels, format=image.format or "unknown", notes=tuple(notes))


def decode_each(
    photos: Sequence[bytes], *, max_pixels: int = DEFAULT_MAX_PIXELS, map_each: Mapper = map
) -> list[DecodedImage | ImageError]:
    """Each photo decoded, or the ``ImageError`` saying why it cannot be: one bad photo never fails the rest.

    ``map_each``: how to map over the photos, e.g. a thread pool's ``map`` (Pillow frees the GIL).
    """
    return list(map_each(partial(_decode_or_error, max_pixels=max_pixels), photos))


def _decode_or_error(data: bytes, *, max_pixels: int) -> DecodedImage | ImageError:
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageError as error:
        return error


def read_image_file(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodedImage:
    """Read and decode one image file, refusing files over ``max_bytes`` before reading them."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ImageTooLargeError(f"the file has {size} bytes; the limit is {max_bytes}")
    return decode_image(path.read_bytes(), max_pixels=max_pixels)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"the image has more than {max_pixels} pixels") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError("not an image in any format we can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError("the image header is corrupt") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImageError(f"the image header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    return image


def _upright(image: Image.Image, notes: list[str]) -> Image.Image:
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (None, 1):
        return image
    upright = ImageOps.exif_transpose(image)
    notes.append(f"rotated upright from EXIF orientation {orientation}")
    return upright


def _to_rgb(image: Image.Image, notes: list[str]) -> NDArray[np.uint8]:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        grey = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        if mode in _SIXTEEN_BIT_MODES or grey.max(initial=0) > 255:
            grey >>= 8
            notes.append("16-bit image reduced to 8 bits")
        return np.ascontiguousarray(np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2))
    if mode == "F":
        grey = np.clip(np.nan_to_num(np.asarray(image)), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
        notes.append("transparent areas composited on white")
    elif mode == "CMYK":
        notes.append("converted from CMYK")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
