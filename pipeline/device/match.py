"""Matching on the device: one matmul against the gallery, then top-k, nothing bigger than (Q, k) to the host.

``DeviceCaseGallery`` is a ``CaseGallery`` whose reference faces live on a torch device and
whose case ranking (best face per case, top-k cases) runs there too; results are the same as
``pipeline.match.rank_cases`` gives (ties aside).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from pipeline.match import CaseGallery, CaseRanking, l2_normalize


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

    def search(self, queries: NDArray[np.float32], k: int) -> list[list[tuple[uuid.UUID, float, uuid.UUID]]]:
        """Per query: up to ``k`` (case, similarity of its best face, that face), best first."""
        if not self.faces or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        face_ids, _, case_ids, (matrix, face_case) = self._build()
        vectors = torch.from_numpy(l2_normalize(queries)).to(matrix.device)
        ranked = rank_cases_tensors(vectors @ matrix.T, face_case, len(case_ids), k)
        return [
            [(case_ids[c], float(s), face_ids[f]) for c, s, f in zip(cs, ss, fs, strict=True)]
            for cs, ss, fs in zip(ranked.case, ranked.similarity, ranked.face, strict=True)
        ]

    def _build(self) -> tuple[list[uuid.UUID], NDArray[np.int64], list[uuid.UUID], Any]:
        if self._index is None:
            face_ids, face_case, case_ids, matrix = super()._build()
            on_device = torch.as_tensor(matrix, device=self.device), torch.from_numpy(face_case).to(self.device)
            self._index = (face_ids, face_case, case_ids, on_device)
        return self._index
