"""What the deployments send each other: small frozen records, pickled by Ray."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from pipeline.types import ImageFaces


@dataclass(frozen=True)
class LocatedPhoto:
    """A decoded photo's faces (no embeddings yet) and their aligned crops (F, S, S, 3)."""

    faces: ImageFaces
    crops: NDArray[np.uint8]
    format: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhotoError:
    """Why a photo could not be read: ``kind`` names an ``ImageError`` subclass."""

    kind: str
    message: str


@dataclass(frozen=True)
class Candidate:
    """A case that resembles a face, with what its score means under the pack's calibration."""

    case_id: uuid.UUID
    similarity: float
    false_accept_rate: float
    above_threshold: bool
    reference_face_id: uuid.UUID


@dataclass
class BatchLog:
    """The sizes of the last batches a deployment ran (for tests, load scripts and health)."""

    sizes: deque[int] = field(default_factory=lambda: deque(maxlen=1000))

    def record(self, size: int) -> None:
        self.sizes.append(size)

    def snapshot(self) -> list[int]:
        return list(self.sizes)
