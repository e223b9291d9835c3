"""What the deployments send each other: small frozen records, pickled by Ray."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from ray import serve

from pipeline import errors as image_errors
from pipeline.decode import DecodedImage
from pipeline.engine import LocatedImage
from pipeline.errors import ImageError
from pipeline.types import ImageFaces


@dataclass(frozen=True)
class LocatedPhoto:
    """A decoded photo's faces (no embeddings yet) and their aligned crops (F, S, S, 3)."""

    faces: ImageFaces
    crops: NDArray[np.uint8]
    format: str
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, located: LocatedImage, image: DecodedImage) -> LocatedPhoto:
        return cls(located.faces, located.crops, image.format, image.notes)


@dataclass(frozen=True)
class PhotoError:
    """Why a photo could not be read: ``kind`` names an ``ImageError`` subclass."""

    kind: str
    message: str

    @classmethod
    def of(cls, error: ImageError) -> PhotoError:
        return cls(kind=type(error).__name__, message=str(error))

    def exception(self) -> ImageError:
        """The ``ImageError`` this stands for, to raise on the caller's side."""
        kind = getattr(image_errors, self.kind, None)
        if isinstance(kind, type) and issubclass(kind, ImageError):
            return kind(self.message)
        return ImageError(self.message)


@dataclass
class BatchLog:
    """A batched replica's limits in force and the sizes of its last batches (for tests and ops)."""

    max_batch_size: int
    batch_wait_timeout_s: float = 0.01
    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1000))

    def apply(self, method: Any, config: dict[str, Any]) -> None:
        """Set the limits of a ``@serve.batch`` method from a ``user_config``."""
        self.max_batch_size = int(config.get("max_batch_size", self.max_batch_size))
        self.batch_wait_timeout_s = float(config.get("batch_wait_timeout_s", self.batch_wait_timeout_s))
        method.set_max_batch_size(self.max_batch_size)
        method.set_batch_wait_timeout_s(self.batch_wait_timeout_s)

    def limits(self) -> dict[str, Any]:
        return {
            "replica": serve.get_replica_context().replica_id.unique_id,
            "max_batch_size": self.max_batch_size,
            "batch_wait_timeout_s": self.batch_wait_timeout_s,
        }

    def record(self, size: int) -> None:
        self.sizes.append(size)

    def snapshot(self) -> list[int]:
        return list(self.sizes)
