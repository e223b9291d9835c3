"""Photo bytes in, located faces out: decoding and locating as one step, wherever the pixels live.

The Serve ``Detector`` and the scan's locate stage call a ``PhotoLocator``. On the CPU it is
``DecodingLocator`` (Pillow, then the numpy pipeline); on a GPU the device path decodes JPEGs
onto the device and keeps the pixels there (``pipeline.device.engine.DeviceLocator``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.decode import DEFAULT_MAX_PIXELS, DecodedImage, Mapper, decode_each
from pipeline.engine import FaceLocator, LocatedImage, locate_each
from pipeline.errors import ImageError


@dataclass(frozen=True)
class PhotoFaces:
    """One photo's faces (no embeddings yet) with their aligned crops, and how it was decoded."""

    located: LocatedImage
    format: str
    notes: tuple[str, ...] = ()


class PhotoLocator(Protocol):
    """Decodes photos and locates their faces; one bad photo never fails the rest."""

    description: str

    def locate_photos(
        self, photos: Sequence[bytes], *, max_pixels: int = DEFAULT_MAX_PIXELS, map_each: Mapper = map
    ) -> list[PhotoFaces | ImageError]: ...


class DecodingLocator:
    """``decode_each`` on the CPU, then any ``FaceLocator`` on the decoded arrays."""

    def __init__(self, locator: FaceLocator) -> None:
        self.locator = locator
        self.description = locator.detector.description

    def locate_photos(
        self, photos: Sequence[bytes], *, max_pixels: int = DEFAULT_MAX_PIXELS, map_each: Mapper = map
    ) -> list[PhotoFaces | ImageError]:
        """Per photo: its faces, or the ``ImageError`` saying why it cannot be read.

        ``map_each``: how to map the decoding over the photos, e.g. a thread pool's ``map``.
        """
        decoded = decode_each(photos, max_pixels=max_pixels, map_each=map_each)
        readable = [d for d in decoded if isinstance(d, DecodedImage)]
        located = iter(locate_each(self.locator, [d.pixels for d in readable]))
        return [d if isinstance(d, ImageError) else PhotoFaces(next(located), d.format, d.notes) for d in decoded]
