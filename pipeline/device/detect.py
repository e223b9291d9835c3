"""SCRFD and YuNet outputs decoded on the device, with ``torchvision.ops.batched_nms`` per image.

The same arithmetic as ``pipeline.detect``, on tensors: candidates above the score threshold
are mapped to original pixels, then overlapping ones are suppressed within each image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from torchvision.ops import batched_nms

from pipeline.detect import STRIDES, DetectionParams, anchor_grid
from pipeline.device.types import DeviceDetections
from pipeline.types import check_batch

TensorDecoder = Callable[[Sequence[torch.Tensor], tuple[int, int], torch.Tensor, DetectionParams], DeviceDetections]


def decode_scrfd_tensors(
    outputs: Sequence[torch.Tensor], input_size: tuple[int, int], scale: torch.Tensor, params: DetectionParams
) -> DeviceDetections:
    """SCRFD's 9 outputs (scores, boxes, landmarks per stride, each (N, A_s, C)) → detections.

    input_size: (width, height) of the network input; scale: (N, 2) from ``letterbox_tensors``.
    """
    levels = len(outputs) // 3
    scores, deltas, points = (_stack(outputs[k * levels : (k + 1) * levels]) for k in range(3))
    corners, stride = _grid_for(outputs[:levels], input_size)
    image, anchor = torch.nonzero(scores[..., 0] >= params.score_threshold, as_tuple=True)
    step = stride[anchor, None]
    distance = deltas[image, anchor] * step
    corner = corners[anchor]
    boxes = torch.cat([corner - distance[:, :2], corner + distance[:, 2:]], dim=1)
    landmarks = corner[:, None, :] + points[image, anchor].reshape(-1, 5, 2) * step[:, :, None]
    return finish_tensors(boxes, landmarks, scores[image, anchor, 0], image, scale, params)


def decode_yunet_tensors(
    outputs: Sequence[torch.Tensor], input_size: tuple[int, int], scale: torch.Tensor, params: DetectionParams
) -> DeviceDetections:
    """YuNet's 12 outputs (class, objectness, boxes, landmarks per stride) → detections, as OpenCV decodes them."""
    cls, obj, deltas, points = (_stack(outputs[k * 3 : (k + 1) * 3]) for k in range(4))
    confidence = torch.sqrt(cls[..., 0].clamp(0, 1) * obj[..., 0].clamp(0, 1))
    corners, stride = _grid_for(outputs[:3], input_size)
    image, anchor = torch.nonzero(confidence >= params.score_threshold, as_tuple=True)
    step = stride[anchor, None]
    delta = deltas[image, anchor]
    centre = corners[anchor] + delta[:, :2] * step
    half = torch.exp(delta[:, 2:]) * step / 2
    boxes = torch.cat([centre - half, centre + half], dim=1)
    landmarks = corners[anchor][:, None, :] + points[image, anchor].reshape(-1, 5, 2) * step[:, :, None]
    return finish_tensors(boxes, landmarks, confidence[image, anchor], image, scale, params)


def finish_tensors(
    boxes: torch.Tensor,
    landmarks: torch.Tensor,
    scores: torch.Tensor,
    image: torch.Tensor,
    scale: torch.Tensor,
    params: DetectionParams,
) -> DeviceDetections:
    """Map candidates to original pixels, suppress overlaps per image, order by image then score, cap faces."""
    factor = scale[image]
    boxes = boxes / factor.repeat(1, 2)
    landmarks = landmarks / factor[:, None, :]
    keep = batched_nms(boxes, scores, image, params.nms_iou)  # best score first over the whole batch
    keep = keep[torch.sort(image[keep], stable=True).indices]
    if params.max_faces:
        kept = image[keep]
        rank = torch.arange(len(keep), device=keep.device) - torch.searchsorted(kept, kept)
        keep = keep[rank < params.max_faces]
    return DeviceDetections(boxes[keep], landmarks[keep], scores[keep], image[keep], num_images=len(scale))


def _stack(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    batch = len(parts[0])
    for part in parts:
        check_batch("detector output", batch, len(part))
    return torch.cat([part.float() for part in parts], dim=1)


def _grid_for(level_scores: Sequence[torch.Tensor], input_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    width, height = input_size
    strides = STRIDES[: len(level_scores)]
    per_cell = tuple(
        part.shape[1] // ((-(-height // s)) * (-(-width // s))) for part, s in zip(level_scores, strides, strict=True)
    )
    return _device_grid(width, height, strides, per_cell, level_scores[0].device)


@lru_cache(maxsize=64)
def _device_grid(
    width: int, height: int, strides: tuple[int, ...], per_cell: tuple[int, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    corners, steps = anchor_grid(width, height, strides, per_cell)
    return torch.from_numpy(corners).to(device), torch.from_numpy(steps).to(device)
