"""Decode files ahead of the models, in threads, keeping order and keeping failures."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from pipeline.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DecodedImage, read_image_file
from pipeline.engine import FaceEngine
from pipeline.errors import ImageError
from pipeline.types import ImageFaces


@dataclass(frozen=True)
class FileResult:
    """One file's outcome: its faces, or why it could not be read (never both)."""

    path: Path
    image: DecodedImage | None = None
    faces: ImageFaces | None = None
    error: str | None = None


def analyse_files(
    engine: FaceEngine,
    paths: Sequence[Path],
    *,
    embed: bool = True,
    workers: int = 2,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Iterator[FileResult]:
    """Results for ``paths`` in order; decoding runs ``workers`` threads ahead of the models."""
    batch_size = engine.options.detect_batch

    def read(path: Path) -> FileResult:
        try:
            return FileResult(path=path, image=read_image_file(path, max_bytes=max_bytes, max_pixels=max_pixels))
        except ImageError as exc:
            return FileResult(path=path, error=str(exc))
        except OSError as exc:
            return FileResult(path=path, error=f"cannot read the file: {exc.strerror or exc}")

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for chunk in _chunks(_read_ahead(pool, read, paths, max(2 * batch_size, 4 * workers)), batch_size):
            pixels = [r.image.pixels for r in chunk if r.image is not None]
            analysed = iter(engine.analyse(pixels, embed=embed))
            for result in chunk:
                if result.image is None:
                    yield result
                else:
                    yield FileResult(path=result.path, image=result.image, faces=next(analysed))


def _read_ahead(
    pool: ThreadPoolExecutor, read: Callable[[Path], FileResult], paths: Sequence[Path], window: int
) -> Iterator[FileResult]:
    """Like ``pool.map`` but with at most ``window`` files decoded and waiting, so memory stays bounded."""
    pending: deque[Future[FileResult]] = deque()
    for path in paths:
        pending.append(pool.submit(read, path))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _chunks(items: Iterable[FileResult], size: int) -> Iterator[list[FileResult]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def largest_face(faces: ImageFaces) -> int | None:
    """Index of the face with the largest box, or None when there is none."""
    if not faces.faces:
        return None
    areas = [float(np.prod(face.box[2:] - face.box[:2])) for face in faces.faces]
    return int(np.argmax(areas))
