"""Five-point similarity alignment onto the ArcFace 112×112 template."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from pipeline.types import AlignedFaces, Detections, check_batch

# Eye centres, nose tip and mouth corners (image-left first) of the template ArcFace-family
# recognisers were trained on, for a 112×112 crop.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def estimate_similarity(source: NDArray[np.float32], target: NDArray[np.float32]) -> NDArray[np.float32]:
    """Least-squares similarity transforms (Umeyama) from each point set onto ``target``.

    source: (F, P, 2); target: (P, 2). Returns (F, 2, 3) affine matrices for ``cv2.warpAffine``.
    """
    source = source.astype(np.float64)
    target = target.astype(np.float64)
    src_mean = source.mean(axis=1)
    dst_mean = target.mean(axis=0)
    src = source - src_mean[:, None, :]
    dst = target - dst_mean
    covariance = np.einsum("pi,fpj->fij", dst, src) / source.shape[1]
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones((len(source), 2))
    sign[np.linalg.det(covariance) < 0, 1] = -1.0
    rotation = u @ (sign[:, :, None] * vt)
    variance = (src**2).sum(axis=(1, 2)) / source.shape[1]
    scale = (singular * sign).sum(axis=1) / np.maximum(variance, 1e-12)
    linear = scale[:, None, None] * rotation
    shift = dst_mean - np.einsum("fij,fj->fi", linear, src_mean)
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(np.float32)


def align_faces(images: Sequence[NDArray[np.uint8]], detections: Detections, size: int = 112) -> AlignedFaces:
    """Warp every detected face onto the ArcFace template, scaled to ``size`` pixels.

    images: the batch the detections came from, each (H, W, 3) uint8 RGB.
    """
    check_batch("alignment input", detections.num_images, len(images))
    template = ARCFACE_TEMPLATE * (size / 112.0)
    matrices = estimate_similarity(detections.landmarks, template)
    crops = np.empty((len(detections), size, size, 3), dtype=np.uint8)
    for k, (matrix, index) in enumerate(zip(matrices, detections.image_index, strict=True)):
        crops[k] = cv2.warpAffine(images[index], matrix, (size, size), borderValue=0.0)
    return AlignedFaces(crops=crops, image_index=detections.image_index)


class ArcFaceAligner:
    """Aligns onto the ArcFace template at ``size`` pixels (``FaceAligner`` for ArcFace-style packs)."""

    def __init__(self, size: int = 112) -> None:
        self.size = size

    def align(self, images: Sequence[NDArray[np.uint8]], detections: Detections) -> AlignedFaces:
        return align_faces(images, detections, self.size)
