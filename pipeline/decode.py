"""Turn untrusted bytes into an upright RGB uint8 array, or say clearly why not.

Only the formats of ``ACCEPTED_FORMATS`` are opened (HEIF too when a plugin such as
pillow-heif is registered), never every decoder Pillow has. Before any pixel is decoded the
header is checked: the pixel count, and the memory decoding will take in the image's mode
(16-bit, alpha and CMYK images cost more per pixel than 8-bit RGB). Animated images give their
first frame; at most ``FRAMES_COUNTED`` frames are counted for the note, never all of them.
"""

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
DEFAULT_MAX_DECODED_BYTES = 2**30
DEFAULT_MAX_BATCH_BYTES = 2 * 2**30
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
FRAMES_COUNTED = 100

Mapper = Callable[[Callable[[bytes], Any], Iterable[bytes]], Iterable[Any]]

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA"})
# Bytes per pixel decoding holds at its peak: Pillow's own buffer plus what the conversion to
# RGB (below) makes beside it; any other mode is costed as the dearest.
_PEAK_BYTES_PER_PIXEL = {
    "1": 8, "L": 5, "P": 8, "RGB": 7, "RGBA": 11, "LA": 15, "PA": 15, "CMYK": 11, "YCbCr": 11,
    "I;16": 7, "I;16B": 7, "I;16L": 7, "I;16N": 7, "I": 16, "F": 16,
}  # fmt: skip
_DEAREST = max(_PEAK_BYTES_PER_PIXEL.values())
_UPRIGHT_COPY = 4


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


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
) -> DecodedImage:
    """Decode image bytes (one of ``accepted_formats()``) into upright RGB.

    EXIF orientation is applied, grey/palette/CMYK/16-bit/alpha images become RGB,
    animated images give their first frame, and the pixel count and the memory decoding
    needs (``decoding_cost``) are checked from the header before any pixel data is decoded.
    """
    image = _open(data, max_pixels)
    cost = decoding_cost(image)
    if cost > max_decoded_bytes:
        raise ImageTooLargeError(
            f"the {image.width}x{image.height} {image.mode} image needs {_mb(cost)} MB to decode; "
            f"the limit is {_mb(max_decoded_bytes)} MB"
        )
    notes: list[str] = []
    frames = _frames(image, data)
    if frames != 1:
        counted = f"more than {FRAMES_COUNTED}" if frames is None else str(frames)
        notes.append(f"animated image: only the first of {counted} frames was analysed")
    try:
        image.load()
        image = _upright(image, notes)
        pixels = _to_rgb(image, notes)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError(f"the {image.format or 'image'} data is truncated or corrupt") from exc
    return DecodedImage(pixels=pixels, format=image.format or "unknown", notes=tuple(notes))


def decode_each(
    photos: Sequence[bytes],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    map_each: Mapper = map,
) -> list[DecodedImage | ImageError]:
    """Each photo decoded, or the ``ImageError`` saying why it cannot be: one bad photo never fails the rest.

    The batch decodes within ``max_batch_bytes`` (the ``decoding_cost`` of its photos summed):
    photos are admitted cheapest first, and those that no longer fit are refused with an
    ``ImageTooLargeError`` (alone, or in a smaller batch, they may pass).
    ``map_each``: how to map over the photos, e.g. a thread pool's ``map`` (Pillow frees the GIL).
    """
    costs = list(map_each(partial(_cost_or_error, max_pixels=max_pixels), photos))
    admitted, spent = set(), 0
    for i in sorted(range(len(photos)), key=lambda i: costs[i] if isinstance(costs[i], int) else 0):
        cost = costs[i]
        if isinstance(cost, int) and cost > DEFAULT_MAX_DECODED_BYTES:
            admitted.add(i)  # refused on its own by decode_image, before it costs anything
        elif isinstance(cost, int) and spent + cost <= max_batch_bytes:
            admitted.add(i)
            spent += cost
    todo = [i for i in range(len(photos)) if i in admitted]
    outcomes = map_each(partial(_decode_or_error, max_pixels=max_pixels), [photos[i] for i in todo])
    decoded = dict(zip(todo, outcomes, strict=True))
    return [decoded[i] if i in decoded else _refusal(costs[i], max_batch_bytes) for i in range(len(photos))]


def decoding_cost(image: Image.Image) -> int:
    """Bytes decoding ``image`` (opened, not loaded) holds at its peak, from its size and mode."""
    per_pixel = _PEAK_BYTES_PER_PIXEL.get(image.mode, _DEAREST)
    if image.mode == "P" and "transparency" in image.info:  # composited on white, like alpha
        per_pixel = _PEAK_BYTES_PER_PIXEL["PA"]
    # Plus an upright copy, in case EXIF turns it: a PNG's EXIF may follow its pixels, unread yet.
    return image.width * image.height * (per_pixel + _UPRIGHT_COPY)


def accepted_formats() -> tuple[str, ...]:
    """The formats opened: ``ACCEPTED_FORMATS``, and HEIF when a plugin (pillow-heif) registered it."""
    Image.init()
    return (*ACCEPTED_FORMATS, "HEIF") if "HEIF" in Image.OPEN else ACCEPTED_FORMATS


def _decode_or_error(data: bytes, *, max_pixels: int) -> DecodedImage | ImageError:
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageError as error:
        return error


def _cost_or_error(data: bytes, *, max_pixels: int) -> int | ImageError:
    """The decoding cost from the header, or the error opening it raises (the photo's outcome then)."""
    try:
        return decoding_cost(_open(data, max_pixels))
    except ImageError as error:
        return error


def _refusal(cost: int | ImageError, budget: int) -> ImageError:
    if isinstance(cost, ImageError):
        return cost
    return ImageTooLargeError(
        f"decoding it needs {_mb(cost)} MB, more than is left of its batch's {_mb(budget)} MB; "
        "send it alone or in a smaller batch"
    )


def _mb(size: int) -> int:
    return -(-size // 2**20)


def read_image_file(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> DecodedImage:
    """Read and decode one image file, refusing files over ``max_bytes`` before reading them."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ImageTooLargeError(f"the file has {size} bytes; the limit is {max_bytes}")
    return decode_image(path.read_bytes(), max_pixels=max_pixels)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image opened from its header (no pixels decoded yet), in an accepted format and within ``max_pixels``."""
    if not data:
        raise EmptyImageError("the file is empty (0 bytes)")
    formats = accepted_formats()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=formats)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"the image has more than {max_pixels} pixels") from exc
    except UnidentifiedImageError as exc:
        names = ", ".join("WebP" if name == "WEBP" else name for name in formats)
        raise UnsupportedImageError(f"not an image in any format we accept ({names})") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptImageError("the image header is corrupt") from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImageError(f"the image header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    return image


def _frames(image: Image.Image, data: bytes) -> int | None:
    """How many frames the image has, or None for more than ``FRAMES_COUNTED``: counted, never all walked."""
    if not getattr(image, "is_animated", False):
        return 1
    if image.format == "GIF":
        return _gif_frames(data, FRAMES_COUNTED)
    if image.format == "TIFF":  # each page is found by walking the chain of directories before it
        for frame in range(1, FRAMES_COUNTED + 1):
            try:
                image.seek(frame)
            except EOFError:
                image.seek(0)
                return frame
        image.seek(0)
        return None
    return int(getattr(image, "n_frames", 1))  # PNG, WebP and MPO give it in their headers


def _gif_frames(data: bytes, limit: int) -> int | None:
    """The frames of a GIF counted from its blocks (Pillow counts by reading every frame), up to ``limit``."""
    flags = data[10] if len(data) > 10 else 0
    at, frames = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0), 0
    while at < len(data) and data[at] != 0x3B:
        if data[at] == 0x2C:
            frames += 1
            if frames > limit:
                return None
            local = data[at + 9] if at + 9 < len(data) else 0
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # descriptor, colours, LZW code size
        elif data[at] == 0x21:
            at += 2  # introducer and label
        else:
            break  # not a block: the rest is damaged, and the first frame decides
        while at < len(data) and data[at]:  # data sub-blocks up to the empty one
            at += data[at] + 1
        at += 1
    return max(frames, 1)


def _upright(image: Image.Image, notes: list[str]) -> Image.Image:
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (None, 1):
        return image
    upright = ImageOps.exif_transpose(image)
    notes.append(f"rotated upright from EXIF orientation {orientation}")
    return upright


def _to_rgb(image: Image.Image, notes: list[str]) -> NDArray[np.uint8]:
    """RGB pixels, with as few full-size copies beside Pillow's buffer as ``_PEAK_BYTES_PER_PIXEL`` says."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        deep = np.asarray(image)
        high = deep.view(np.uint8)[:, 1::2] if deep.dtype.byteorder in "<=" else deep.view(np.uint8)[:, 0::2]
        notes.append("16-bit image reduced to 8 bits")
        return _grey_to_rgb(high)
    if mode == "I":
        grey = np.clip(np.asarray(image), 0, 65535)
        if grey.max(initial=0) > 255:
            grey >>= 8
            notes.append("16-bit image reduced to 8 bits")
        return _grey_to_rgb(grey.astype(np.uint8))
    if mode == "L":
        return _grey_to_rgb(np.asarray(image))
    if mode == "F":
        values = np.array(image)
        np.clip(np.nan_to_num(values, copy=False), 0, 255, out=values)
        return _grey_to_rgb(values.astype(np.uint8))
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba)
        image = flat
        notes.append("transparent areas composited on white")
    elif mode == "CMYK":
        notes.append("converted from CMYK")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _grey_to_rgb(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    rgb = np.empty((*grey.shape, 3), dtype=np.uint8)
    rgb[...] = grey[:, :, None]
    return rgb
