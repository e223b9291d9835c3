"""Five-point similarity alignment on the device: the transform solved in closed form, crops by ``grid_sample``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
from torch.nn import functional

from pipeline.align import ARCFACE_TEMPLATE
from pipeline.types import check_batch

# Images of one shape are sampled in one call, at most this many pixels of them at a time.
_PIXELS_PER_CALL = 2**26


def similarity_matrices(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least-squares similarity transforms from each point set onto ``target``: (F, 2, 3).

    source: (F, P, 2); target: (P, 2). A 2-D similarity ``[[a, -b], [b, a]] p + t`` is linear
    in (a, b, t), so its least-squares fit is closed-form; it equals Umeyama's estimate (no
    reflection), which ``pipeline.align.estimate_similarity`` computes by SVD.
    """
    src = source.double()
    dst = target.double().to(src.device)
    src_mean, dst_mean = src.mean(dim=1, keepdim=True), dst.mean(dim=0)
    x, y = (src - src_mean).unbind(-1)
    u, v = (dst - dst_mean).unbind(-1)
    norm = (x * x + y * y).sum(dim=1).clamp_min(1e-12)
    a = (x * u + y * v).sum(dim=1) / norm
    b = (x * v - y * u).sum(dim=1) / norm
    linear = torch.stack([torch.stack([a, -b], dim=1), torch.stack([b, a], dim=1)], dim=1)
    shift = dst_mean - (linear @ src_mean.transpose(1, 2)).squeeze(2)
    return torch.cat([linear, shift[:, :, None]], dim=2).float()


def sampling_grids(matrices: torch.Tensor, image_sizes: torch.Tensor, size: int) -> torch.Tensor:
    """(F, S, S, 2) ``grid_sample`` grids that warp each face like ``cv2.warpAffine(image, matrix)``.

    matrices: (F, 2, 3) image → crop pixels; image_sizes: (F, 2) width, height of each face's image.
    """
    count = len(matrices)
    linear, shift = matrices[:, :, :2].double(), matrices[:, :, 2:].double()
    inverse = torch.linalg.inv(linear)
    crop_to_image = torch.cat([inverse, -inverse @ shift], dim=2)
    # Normalised output coordinates (align_corners=False) → crop pixels, and image pixels → normalised.
    half = size / 2.0
    from_output = torch.tensor([[half, 0.0, half - 0.5], [0.0, half, half - 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    sizes = image_sizes.double()
    to_input = torch.zeros((count, 2, 3), dtype=torch.float64, device=matrices.device)
    to_input[:, 0, 0], to_input[:, 1, 1] = 2.0 / sizes[:, 0], 2.0 / sizes[:, 1]
    to_input[:, :, 2] = 1.0 / sizes - 1.0
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=matrices.device).expand(count, 1, 3)
    theta = to_input @ torch.cat([crop_to_image, bottom], dim=1) @ from_output.to(matrices.device)
    return functional.affine_grid(theta.float(), [count, 3, size, size], align_corners=False)


def align_tensors(
    images: Sequence[torch.Tensor], landmarks: torch.Tensor, image_index: torch.Tensor, size: int = 112
) -> torch.Tensor:
    """(F, 3, S, S) uint8 crops of every face warped onto the ArcFace template at ``size`` pixels.

    images: (H, W, 3) uint8 RGB; landmarks: (F, 5, 2) in their pixels; image_index: (F,)
    ascending. Outside the image is black, as ``pipeline.align.align_faces`` leaves it.
    """
    check_batch("alignment index", len(landmarks), len(image_index))
    device = landmarks.device
    crops = torch.zeros((len(landmarks), 3, size, size), dtype=torch.uint8, device=device)
    if len(landmarks) == 0:
        return crops
    template = torch.from_numpy(ARCFACE_TEMPLATE * (size / 112.0)).to(device)
    owners = image_index.tolist()
    sizes = torch.tensor([images[i].shape[1::-1] for i in owners], device=device)
    grids = sampling_grids(similarity_matrices(landmarks, template), sizes, size)
    for members in _same_shape_chunks(images, owners):
        crops[members] = _sample(images, owners, grids, members)
    return crops


def _sample(images: Sequence[torch.Tensor], owners: list[int], grids: torch.Tensor, faces: list[int]) -> torch.Tensor:
    """Crops of ``faces`` (all from images of one shape): one ``grid_sample`` over their images."""
    sources = sorted({owners[k] for k in faces})
    slot = {image: n for n, image in enumerate(sources)}
    seen: dict[int, int] = defaultdict(int)
    rank = []
    for k in faces:  # the face's position among its image's faces
        rank.append(seen[owners[k]])
        seen[owners[k]] += 1
    size, device = grids.shape[1], grids.device
    padded = torch.full((len(sources), max(rank) + 1, size, size, 2), -2.0, device=device)
    which = torch.tensor([slot[owners[k]] for k in faces], device=device), torch.tensor(rank, device=device)
    padded[which] = grids[faces]
    stacked = torch.stack([images[i] for i in sources]).permute(0, 3, 1, 2).float()
    flat = padded.reshape(len(sources), -1, size, 2)
    sampled = functional.grid_sample(stacked, flat, mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.reshape(len(sources), 3, -1, size, size).permute(0, 2, 1, 3, 4)
    return sampled[which].round_().clamp_(0, 255).to(torch.uint8)


def _same_shape_chunks(images: Sequence[torch.Tensor], owners: list[int]) -> list[list[int]]:
    """Face positions grouped by their image's shape, each group cut to ``_PIXELS_PER_CALL``."""
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for k, owner in enumerate(owners):
        groups[tuple(images[owner].shape)].append(k)
    chunks = []
    for shape, faces in groups.items():
        per_call = max(1, _PIXELS_PER_CALL // (shape[0] * shape[1]))
        sources = sorted({owners[k] for k in faces})
        for start in range(0, len(sources), per_call):
            batch = set(sources[start : start + per_call])
            chunks.append([k for k in faces if owners[k] in batch])
    return chunks
