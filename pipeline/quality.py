"""How usable a face is for recognition: size, sharpness, detector confidence."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from pipeline.types import AlignedFaces, Detections, check_batch

# Below these a face still matches, but less reliably; quality falls off linearly.
GOOD_FACE_SIZE = 64.0  # pixels, shorter side of the detection box
GOOD_SHARPNESS = 200.0  # variance of the Laplacian of the grey crop at 112×112
SHARPNESS_SIZE = 112  # crops of every pack are measured at one size, so the numbers compare


@dataclass(frozen=True)
class FaceQuality:
    """Per-face measures, each (F,) float32.

    size: shorter box side in pixels; sharpness: variance of the Laplacian of the aligned
    crop (low = blurred); score: 0–1 combination of size, sharpness and detector confidence.
    """

    size: NDArray[np.float32]
    sharpness: NDArray[np.float32]
    score: NDArray[np.float32]


def assess_quality(detections: Detections, aligned: AlignedFaces) -> FaceQuality:
    """Quality of every aligned face of a batch."""
    check_batch("quality", len(detections), len(aligned))
    boxes = detections.boxes
    size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).astype(np.float32)
    sharpness = np.array([_sharpness(crop) for crop in aligned.crops], dtype=np.float32)
    score = (
        np.clip(size / GOOD_FACE_SIZE, 0, 1)
        * np.clip(sharpness / GOOD_SHARPNESS, 0, 1)
        * np.clip(detections.scores, 0, 1)
    )
    return FaceQuality(size=size, sharpness=sharpness, score=score.astype(np.float32))


def _sharpness(crop: NDArray[np.uint8]) -> float:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if grey.shape[0] != SHARPNESS_SIZE:
        grey = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


# A face is the one a photo is "of" when it stands out this much over the next most prominent.
MAIN_FACE_MARGIN = 2.0


def prominence(box: NDArray[np.float32], width: int, height: int) -> float:
    """How much a face is what the photo shows: box area, discounted the further it sits from the centre."""
    x1, y1, x2, y2 = (float(v) for v in box)
    area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    off = np.hypot((x1 + x2) / 2 - width / 2, (y1 + y2) / 2 - height / 2) / max(np.hypot(width, height) / 2, 1.0)
    return area * max(1.0 - float(off), 0.1)


def main_face(boxes: NDArray[np.float32], width: int, height: int, *, margin: float = 1.0) -> int | None:
    """Index of the photo's main face (largest, nearest the centre) among (F, 4) boxes.

    With ``margin`` > 1 the main face must be that many times more prominent than the runner-up;
    None when there is no face or none stands out so.
    """
    if len(boxes) == 0:
        return None
    ranks = np.array([prominence(box, width, height) for box in boxes])
    order = np.argsort(-ranks, kind="stable")
    if len(order) > 1 and ranks[order[0]] < margin * ranks[order[1]]:
        return None
    return int(order[0])
