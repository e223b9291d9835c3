"""Face quality on the device: the measures and formula of ``pipeline.quality``, on tensors."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional

from pipeline.quality import GOOD_FACE_SIZE, GOOD_SHARPNESS, SHARPNESS_SIZE, FaceQuality
from pipeline.types import check_batch

# cv2's fixed-point RGB → grey weights for uint8: 0.299, 0.587, 0.114 in units of 2**-15 (OpenCV 5;
# OpenCV 4 rounds them to 2**-14, one level apart on ~0.3 % of pixels, ~1e-4 of the sharpness).
_GREY_WEIGHTS = (9798, 19235, 3735)
_GREY_SHIFT = 15
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sharpness_tensors(crops: torch.Tensor) -> torch.Tensor:
    """(F,) float32 variance of the Laplacian of each (3, S, S) uint8 RGB crop's grey image.

    Matches ``pipeline.quality``: cv2's grey conversion, shrunk to ``SHARPNESS_SIZE`` by area
    if larger (cv2's INTER_AREA), a 3×3 Laplacian with reflected borders.
    """
    weights = torch.tensor(_GREY_WEIGHTS, dtype=torch.int32, device=crops.device)
    grey = ((crops.int() * weights[:, None, None]).sum(dim=1, keepdim=True) + (1 << _GREY_SHIFT - 1)) >> _GREY_SHIFT
    grey = grey.float()
    if grey.shape[-1] != SHARPNESS_SIZE:
        area = _area_weights(int(grey.shape[-1]), SHARPNESS_SIZE).to(crops.device)
        grey = torch.floor(area @ grey @ area.T + 0.5)
    kernel = _LAPLACIAN.to(crops.device)[None, None]
    laplacian = functional.conv2d(functional.pad(grey, (1, 1, 1, 1), mode="reflect"), kernel)
    return laplacian.flatten(1).var(dim=1, unbiased=False)


@lru_cache(maxsize=8)
def _area_weights(source: int, target: int) -> torch.Tensor:
    """(target, source) float32 weights of cv2's INTER_AREA along one axis: each target pixel
    averages the source pixels its cell covers, partly covered ones by the part they share."""
    scale = source / target
    weights = np.zeros((target, source), np.float64)
    for index in range(target):
        start, end = index * scale, min(index * scale + scale, source)
        for pixel in range(int(np.floor(start)), int(np.ceil(end))):
            weights[index, pixel] = min(end, pixel + 1) - max(start, pixel)
    weights[weights <= 1e-3] = 0.0  # cv2 drops slivers under 1e-3 of a pixel
    return torch.from_numpy(weights / weights.sum(axis=1, keepdims=True)).float()


def assess_quality_tensors(boxes: torch.Tensor, scores: torch.Tensor, crops: torch.Tensor) -> FaceQuality:
    """Quality of every face (boxes (F, 4), scores (F,), aligned crops (F, 3, S, S) uint8), back on the host."""
    check_batch("quality", len(boxes), len(crops))
    size = torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    sharpness = sharpness_tensors(crops) if len(crops) else torch.zeros_like(size)
    score = (size / GOOD_FACE_SIZE).clamp(0, 1) * (sharpness / GOOD_SHARPNESS).clamp(0, 1) * scores.clamp(0, 1)
    host = torch.stack([size, sharpness, score]).float().cpu().numpy().astype(np.float32)
    return FaceQuality(size=host[0], sharpness=host[1], score=host[2])
