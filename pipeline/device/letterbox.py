"""Letterbox a batch of device images into one normalised detector input, as ``pipeline.letterbox`` does."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

# The CPU letterbox's own fitting rule, so both paths give the network the same input size.
from pipeline.letterbox import _fitted_size


def letterbox_tensors(
    images: Sequence[torch.Tensor],
    size: tuple[int, int],
    canvas: tuple[int, int] | None = None,
    *,
    mean: float,
    std: float,
    bgr: bool,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, H, W) ``(x - mean) / std`` in the model's channel order, and (N, 2) float32 x, y scales.

    images: (H, W, 3) uint8 RGB on one device. Each is resized (``resize_linear``) to fit
    ``size`` = (width, height) into the top-left corner of a zero ``canvas`` (default
    ``size``); images of one shape are resized together.
    """
    device = images[0].device
    width, height = canvas or size
    batch = torch.zeros((len(images), 3, height, width), dtype=torch.float32, device=device)
    scale = torch.empty((len(images), 2), dtype=torch.float32)
    for shape, members in _by_shape(images).items():
        new_w, new_h = _fitted_size(shape, size)
        stacked = torch.stack([images[i] for i in members]).permute(0, 3, 1, 2)
        if (new_h, new_w) != shape:
            stacked = resize_linear(stacked, (new_h, new_w))
        batch[torch.tensor(members, device=device), :, :new_h, :new_w] = stacked.float()
        scale[members] = torch.tensor((new_w / shape[1], new_h / shape[0]))
    return normalise(batch, mean=mean, std=std, bgr=bgr, dtype=dtype), scale.to(device)


def resize_linear(batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) uint8 → (N, C, h, w) uint8 as ``cv2.resize(..., INTER_LINEAR)`` gives it, bit for bit.

    cv2 weighs neighbours in 11-bit fixed point and rounds in its own order; a plain float
    bilinear differs by one level on ~1 in 8 pixels, enough to move a face at the border of a
    photo by pixels. Exact halving is a 2×2 mean, as cv2 switches to INTER_AREA for it.
    """
    height, width = size
    if (2 * height, 2 * width) == tuple(batch.shape[-2:]):
        pixels = batch.int()
        total = pixels[..., 0::2, 0::2] + pixels[..., 0::2, 1::2] + pixels[..., 1::2, 0::2] + pixels[..., 1::2, 1::2]
        return ((total + 2) >> 2).to(torch.uint8)
    x0, x1, a0, a1 = _linear_taps(int(batch.shape[-1]), width, batch.device, clamp=True)
    y0, y1, b0, b1 = _linear_taps(int(batch.shape[-2]), height, batch.device, clamp=False)
    rows = batch.index_select(-1, x0).int() * a0 + batch.index_select(-1, x1).int() * a1
    top, bottom = rows.index_select(-2, y0) >> 4, rows.index_select(-2, y1) >> 4
    value = ((top * b0[:, None]) >> 16) + ((bottom * b1[:, None]) >> 16)
    return ((value + 2) >> 2).clamp_(0, 255).to(torch.uint8)


@lru_cache(maxsize=256)
def _linear_taps(
    source: int, target: int, device: torch.device, *, clamp: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """cv2's two source indices and int16 weights (summing to 2048) per target index along one axis.

    Its float32 coordinates; along x a coordinate outside the image takes the edge pixel whole
    (``clamp``), along y only the row index is clamped.
    """
    position = ((np.arange(target) + 0.5) * (source / target) - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = position - first.astype(np.float32)
    if clamp:
        outside = (first < 0) | (first >= source - 1)
        fraction[outside] = 0
        first = np.where(first < 0, 0, np.where(first >= source - 1, source - 1, first))
    near = np.rint((np.float32(1) - fraction) * np.float32(2048)).astype(np.int32)
    far = np.rint(fraction * np.float32(2048)).astype(np.int32)
    low, high = (torch.from_numpy(np.clip(i, 0, source - 1)).to(device) for i in (first, first + 1))
    return low, high, torch.from_numpy(near).to(device), torch.from_numpy(far).to(device)


def normalise(
    batch: torch.Tensor, *, mean: float, std: float, bgr: bool, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(N, 3, H, W) RGB pixels 0–255 → ``(x - mean) / std`` of ``dtype`` in the model's channel order."""
    batch = (batch.float() - mean) * (1.0 / std)
    return (batch.flip(1) if bgr else batch).to(dtype)


def pad_tensors(images: Sequence[torch.Tensor], ratio: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each (H, W, 3) image inside a black border of ``ratio`` × its longer side.

    Like ``pipeline.letterbox.pad_images`` (which says why black): returns the padded images
    and (N, 2) float32 x, y offsets (on the images' device) to subtract from coordinates found in them.
    """
    padded, borders = [], []
    for image in images:
        height, width = image.shape[:2]
        border = max(1, round(ratio * max(height, width)))
        framed = image.new_zeros((height + 2 * border, width + 2 * border, *image.shape[2:]))
        framed[border : border + height, border : border + width] = image
        padded.append(framed)
        borders.append(float(border))
    device = images[0].device if images else torch.device("cpu")
    return padded, torch.tensor(borders, device=device)[:, None].repeat(1, 2)


def _by_shape(images: Sequence[torch.Tensor]) -> dict[tuple[int, int], list[int]]:
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, image in enumerate(images):
        groups[(int(image.shape[0]), int(image.shape[1]))].append(i)
    return groups
