"""Matching on the device: one matmul against the gallery, then top-k, nothing bigger than (Q, k) to the host.

``DeviceCaseGallery`` is a ``CaseGallery`` whose reference faces live on a torch device and
whose case ranking (best face per case, top-k cases) runs there too; results are the same as
``pipeline.match.rank_cases`` gives (ties aside).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from numpy.typing import NDArray

from pipeline.gallery import CaseGallery, GalleryIndex
from pipeline.match import CaseRanking


def rank_cases_tensors(similarity: torch.Tensor, face_case: torch.Tensor, cases: int, k: int) -> CaseRanking:
    """Top-k cases per query, a case scoring as its most similar reference face (as ``rank_cases``).

    similarity: (Q, G) float32; face_case: (G,) int64 each face's case row, in ``range(cases)``.
    """
    queries, faces = similarity.shape
    k = min(k, cases)
    if faces == 0 or k == 0:
        empty = np.zeros((queries, 0), np.int64)
        return CaseRanking(empty, empty.astype(np.float32), empty)
    owner = face_case.expand(queries, faces)
    best = similarity.new_full((queries, cases), -torch.inf).scatter_reduce(1, owner, similarity, "amax")
    score, case = torch.topk(best, k, dim=1)
    rows = torch.arange(faces, device=similarity.device).expand(queries, faces)
    winners = torch.where(similarity == best.gather(1, owner), rows, faces)  # the first face reaching its case's best
    first = torch.full_like(best, faces, dtype=torch.int64).scatter_reduce(1, owner, winners, "amin")
    face = first.gather(1, case)
    return CaseRanking(case.cpu().numpy(), score.float().cpu().numpy(), face.cpu().numpy())


class DeviceCaseGallery(CaseGallery):
    """Reference faces of open cases on a torch ``device`` ("cuda", "cpu"), searched and ranked there."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device

    def _place(self, index: GalleryIndex) -> GalleryIndex:
        matrix = torch.as_tensor(index.matrix, device=self.device)
        return replace(index, matrix=(matrix, torch.from_numpy(index.face_case).to(self.device)))

    def _rank(self, queries: NDArray[np.float32], index: GalleryIndex, k: int) -> CaseRanking:
        matrix, face_case = index.matrix
        vectors = torch.from_numpy(queries).to(matrix.device)
        return rank_cases_tensors(vectors @ matrix.T, face_case, len(index.case_ids), k)
