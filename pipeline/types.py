"""What flows between the pipeline steps: frozen, array-backed, checked on creation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pipeline.errors import BatchMismatchError


def check_batch(step: str, expected: int, actual: int) -> None:
    """Raise when a step's output batch length differs from its input's."""
    if expected != actual:
        raise BatchMismatchError(f"{step} returned {actual} results for {expected} inputs")


@dataclass(frozen=True)
class Detections:
    """Faces found in a batch of ``num_images`` images, flattened over the batch.

    boxes: (F, 4) float32 x1, y1, x2, y2 in original image pixels.
    landmarks: (F, 5, 2) float32 x, y in original image pixels (the pack's point scheme).
    scores: (F,) float32 detector confidence.
    image_index: (F,) int64, which image of the batch each face belongs to (ascending).
    """

    boxes: NDArray[np.float32]
    landmarks: NDArray[np.float32]
    scores: NDArray[np.float32]
    image_index: NDArray[np.int64]
    num_images: int

    def __post_init__(self) -> None:
        count = len(self.scores)
        if self.boxes.shape != (count, 4) or self.landmarks.shape != (count, 5, 2):
            raise BatchMismatchError(
                f"detections disagree: boxes {self.boxes.shape}, landmarks "
                f"{self.landmarks.shape}, scores {self.scores.shape}"
            )
        check_batch("detection index", count, len(self.image_index))

    @classmethod
    def empty(cls, num_images: int) -> Detections:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            landmarks=np.zeros((0, 5, 2), np.float32),
            scores=np.zeros((0,), np.float32),
            image_index=np.zeros((0,), np.int64),
            num_images=num_images,
        )

    @classmethod
    def concat(cls, parts: list[Detections], num_images: int) -> Detections:
        """Join per-image (or per-chunk) detections whose indices are already global."""
        if not parts:
            return cls.empty(num_images)
        return cls(
            boxes=np.concatenate([p.boxes for p in parts]),
            landmarks=np.concatenate([p.landmarks for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            image_index=np.concatenate([p.image_index for p in parts]),
            num_images=num_images,
        )

    @classmethod
    def merge(cls, parts: list[Detections], num_images: int) -> Detections:
        """Join detections of disjoint sets of images, ordered by image again."""
        joined = cls.concat(parts, num_images)
        return joined.select(np.argsort(joined.image_index, kind="stable"))

    def __len__(self) -> int:
        return len(self.scores)

    def counts(self) -> NDArray[np.int64]:
        """(num_images,) number of faces per image."""
        return np.bincount(self.image_index, minlength=self.num_images).astype(np.int64)

    def select(self, mask: NDArray[np.bool_] | NDArray[np.int64]) -> Detections:
        """The detections picked by a boolean mask or an index array, in that order."""
        return Detections(
            boxes=self.boxes[mask],
            landmarks=self.landmarks[mask],
            scores=self.scores[mask],
            image_index=self.image_index[mask],
            num_images=self.num_images,
        )

    def reindexed(self, mapping: NDArray[np.int64], num_images: int) -> Detections:
        """Map each face's image index through ``mapping`` (sub-batch → full batch)."""
        return Detections(
            boxes=self.boxes,
            landmarks=self.landmarks,
            scores=self.scores,
            image_index=mapping[self.image_index],
            num_images=num_images,
        )


@dataclass(frozen=True)
class AlignedFaces:
    """Face crops aligned for an embedder, one per detection.

    crops: (F, S, S, 3) uint8 RGB.
    image_index: (F,) int64, as in the detections they came from.
    """

    crops: NDArray[np.uint8]
    image_index: NDArray[np.int64]

    def __post_init__(self) -> None:
        check_batch("alignment", len(self.image_index), len(self.crops))

    def __len__(self) -> int:
        return len(self.crops)


@dataclass(frozen=True)
class Face:
    """One detected face of one image.

    box: (4,) x1, y1, x2, y2; landmarks: (5, 2); embedding: (D,) unit-length float32 or None.
    """

    box: NDArray[np.float32]
    landmarks: NDArray[np.float32]
    score: float
    quality: float
    sharpness: float
    embedding: NDArray[np.float32] | None = None

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))


@dataclass(frozen=True)
class ImageFaces:
    """Every face of one image, with what the engine had to do to find them."""

    width: int
    height: int
    faces: tuple[Face, ...]
    padded_retry: bool = False
