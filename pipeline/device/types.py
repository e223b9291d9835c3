"""``Detections`` as tensors on a device: the same fields, shapes and order as ``pipeline.types``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.errors import BatchMismatchError
from pipeline.types import Detections, check_batch


@dataclass(frozen=True)
class DeviceDetections:
    """Faces of ``num_images`` images, flattened over the batch, on one device.

    boxes: (F, 4) float32; landmarks: (F, 5, 2) float32; scores: (F,) float32; image_index:
    (F,) int64 ascending. Coordinates are original image pixels, as in ``Detections``.
    """

    boxes: torch.Tensor
    landmarks: torch.Tensor
    scores: torch.Tensor
    image_index: torch.Tensor
    num_images: int

    def __post_init__(self) -> None:
        count = len(self.scores)
        if self.boxes.shape != (count, 4) or self.landmarks.shape != (count, 5, 2):
            raise BatchMismatchError(
                f"detections disagree: boxes {tuple(self.boxes.shape)}, landmarks "
                f"{tuple(self.landmarks.shape)}, scores {tuple(self.scores.shape)}"
            )
        check_batch("detection index", count, len(self.image_index))

    @classmethod
    def empty(cls, num_images: int, device: torch.device) -> DeviceDetections:
        return cls(
            boxes=torch.zeros((0, 4), device=device),
            landmarks=torch.zeros((0, 5, 2), device=device),
            scores=torch.zeros((0,), device=device),
            image_index=torch.zeros((0,), dtype=torch.int64, device=device),
            num_images=num_images,
        )

    @classmethod
    def merge(cls, parts: Sequence[DeviceDetections], num_images: int, device: torch.device) -> DeviceDetections:
        """Join detections whose indices are already global, ordered by image (stable within an image)."""
        if not parts:
            return cls.empty(num_images, device)
        joined = cls(
            boxes=torch.cat([p.boxes for p in parts]),
            landmarks=torch.cat([p.landmarks for p in parts]),
            scores=torch.cat([p.scores for p in parts]),
            image_index=torch.cat([p.image_index for p in parts]),
            num_images=num_images,
        )
        return joined.select(torch.sort(joined.image_index, stable=True).indices)

    def __len__(self) -> int:
        return len(self.scores)

    def counts(self) -> torch.Tensor:
        """(num_images,) int64 number of faces per image."""
        return torch.bincount(self.image_index, minlength=self.num_images)

    def select(self, index: torch.Tensor) -> DeviceDetections:
        """The detections picked by a boolean mask or an index tensor, in that order."""
        return DeviceDetections(
            self.boxes[index], self.landmarks[index], self.scores[index], self.image_index[index], self.num_images
        )

    def reindexed(self, mapping: torch.Tensor, num_images: int) -> DeviceDetections:
        """Map each face's image index through ``mapping`` (sub-batch → full batch)."""
        return DeviceDetections(self.boxes, self.landmarks, self.scores, mapping[self.image_index], num_images)

    def shifted(self, offsets: torch.Tensor) -> DeviceDetections:
        """Coordinates minus each image's (N, 2) x, y offset (from a padded image back to the original)."""
        offset = offsets[self.image_index]
        return DeviceDetections(
            self.boxes - offset.repeat(1, 2),
            self.landmarks - offset[:, None, :],
            self.scores,
            self.image_index,
            self.num_images,
        )

    def to_host(self) -> Detections:
        return Detections(
            boxes=self.boxes.float().cpu().numpy(),
            landmarks=self.landmarks.float().cpu().numpy(),
            scores=self.scores.float().cpu().numpy(),
            image_index=self.image_index.cpu().numpy().astype(np.int64),
            num_images=self.num_images,
        )
