"""Greedy non-maximum suppression, per image, for a whole batch at once."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def batched_nms(
    boxes: NDArray[np.float32],
    scores: NDArray[np.float32],
    image_index: NDArray[np.int64],
    iou_threshold: float,
) -> NDArray[np.int64]:
    """Indices of the boxes kept, best score first within each image, images ascending.

    boxes: (K, 4) x1, y1, x2, y2; scores: (K,); image_index: (K,). Boxes of different
    images never suppress each other: each image's boxes are shifted to their own region.
    """
    if len(scores) == 0:
        return np.zeros((0,), dtype=np.int64)
    span = float(boxes.max() - boxes.min()) + 1.0
    shifted = boxes + (image_index.astype(np.float32) * span)[:, None]
    keep = _nms(shifted, scores, iou_threshold)
    return keep[np.lexsort((-scores[keep], image_index[keep]))]


def _nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou_threshold: float) -> NDArray[np.int64]:
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
