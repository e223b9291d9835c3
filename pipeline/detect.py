"""Decode anchor-free face detector outputs (SCRFD, YuNet) for a whole batch at once.

Both networks predict, for every cell of strides 8/16/32 (SCRFD: two anchors per cell),
a score, a box and five landmarks relative to the cell; decoding is pure arithmetic on
arrays of shape (N, anchors, C), followed by per-image non-maximum suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from pipeline.nms import batched_nms
from pipeline.types import Detections, check_batch

STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class DetectionParams:
    """How confident a detection must be and how much two detections may overlap."""

    score_threshold: float = 0.5
    nms_iou: float = 0.4
    max_faces: int = 0  # 0: keep every face


@lru_cache(maxsize=32)
def anchor_grid(
    width: int, height: int, strides: tuple[int, ...], per_cell: tuple[int, ...]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Top-left corners of every anchor cell, and each anchor's stride.

    Returns (A, 2) x, y in input pixels and (A,) strides, in the networks' output order:
    stride by stride, row-major cells, ``per_cell`` anchors per cell.
    """
    corners, steps = [], []
    for stride, repeat in zip(strides, per_cell, strict=True):
        rows, cols = -(-height // stride), -(-width // stride)
        ys, xs = np.mgrid[:rows, :cols]
        cells = np.stack([xs, ys], axis=-1).reshape(-1, 2) * stride
        corners.append(np.repeat(cells, repeat, axis=0))
        steps.append(np.full(len(corners[-1]), stride))
    return np.concatenate(corners).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode_scrfd(
    outputs: Sequence[NDArray[np.float32]],
    input_size: tuple[int, int],
    scale: NDArray[np.float32],
    params: DetectionParams,
) -> Detections:
    """SCRFD outputs → detections in original pixels.

    outputs: 9 arrays, scores (N, A_s, 1) for strides 8/16/32, then boxes (N, A_s, 4), then
    landmarks (N, A_s, 10); boxes and landmarks are distances from the cell corner in strides.
    input_size: (width, height) of the network input; scale: (N, 2) from ``letterbox``.
    """
    levels = len(outputs) // 3
    scores, deltas, points = (_stack(outputs[k * levels : (k + 1) * levels]) for k in range(3))
    corners, stride = _grid_for(outputs[:levels], input_size)
    image, anchor = np.nonzero(scores[..., 0] >= params.score_threshold)
    step = stride[anchor, None]
    distance = deltas[image, anchor] * step
    corner = corners[anchor]
    boxes = np.concatenate([corner - distance[:, :2], corner + distance[:, 2:]], axis=1)
    landmarks = corner[:, None, :] + points[image, anchor].reshape(-1, 5, 2) * step[:, :, None]
    return finish_detections(boxes, landmarks, scores[image, anchor, 0], image, scale, params)


def decode_yunet(
    outputs: Sequence[NDArray[np.float32]],
    input_size: tuple[int, int],
    scale: NDArray[np.float32],
    params: DetectionParams,
) -> Detections:
    """YuNet outputs → detections in original pixels, as OpenCV's ``FaceDetectorYN`` decodes them.

    outputs: 12 arrays, class (N, A_s, 1), objectness (N, A_s, 1), boxes (N, A_s, 4: centre
    offset in strides, log size in strides) and landmarks (N, A_s, 10), each for strides 8/16/32.
    """
    cls, obj, deltas, points = (_stack(outputs[k * 3 : (k + 1) * 3]) for k in range(4))
    confidence = np.sqrt(np.clip(cls[..., 0], 0, 1) * np.clip(obj[..., 0], 0, 1))
    corners, stride = _grid_for(outputs[:3], input_size)
    image, anchor = np.nonzero(confidence >= params.score_threshold)
    step = stride[anchor, None]
    delta = deltas[image, anchor]
    centre = corners[anchor] + delta[:, :2] * step
    half = np.exp(delta[:, 2:]) * step / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    landmarks = corners[anchor][:, None, :] + points[image, anchor].reshape(-1, 5, 2) * step[:, :, None]
    return finish_detections(boxes, landmarks, confidence[image, anchor], image, scale, params)


def finish_detections(
    boxes: NDArray[np.float32],
    landmarks: NDArray[np.float32],
    scores: NDArray[np.float32],
    image: NDArray[np.int64],
    scale: NDArray[np.float32],
    params: DetectionParams,
) -> Detections:
    """Map candidates from input to original pixels, suppress overlaps, cap faces per image."""
    factor = scale[image]
    boxes = (boxes / np.tile(factor, 2)).astype(np.float32)
    landmarks = (landmarks / factor[:, None, :]).astype(np.float32)
    image = image.astype(np.int64)
    keep = batched_nms(boxes, scores.astype(np.float32), image, params.nms_iou)
    if params.max_faces:
        rank = np.arange(len(keep)) - np.searchsorted(image[keep], image[keep])
        keep = keep[rank < params.max_faces]
    return Detections(
        boxes=boxes[keep],
        landmarks=landmarks[keep],
        scores=scores[keep].astype(np.float32),
        image_index=image[keep],
        num_images=len(scale),
    )


def _stack(parts: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
    batch = len(parts[0])
    for part in parts:
        check_batch("detector output", batch, len(part))
    return np.concatenate(parts, axis=1)


def _grid_for(
    level_scores: Sequence[NDArray[np.float32]], input_size: tuple[int, int]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    width, height = input_size
    strides = STRIDES[: len(level_scores)]
    per_cell = tuple(
        part.shape[1] // ((-(-height // s)) * (-(-width // s))) for part, s in zip(level_scores, strides, strict=True)
    )
    return anchor_grid(width, height, strides, per_cell)
