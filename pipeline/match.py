"""Compare embeddings: unit length, cosine similarity, top-k against a gallery, candidates with their meaning."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.calibration import Calibration


@dataclass(frozen=True)
class TopK:
    """Best gallery entries per query, best first.

    index: (Q, k) int64 gallery rows; similarity: (Q, k) float32 cosine similarity.
    """

    index: NDArray[np.int64]
    similarity: NDArray[np.float32]


def l2_normalize(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """(N, D) → (N, D) float32 rows of unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def cosine_matrix(queries: NDArray[np.float32], gallery: NDArray[np.float32]) -> NDArray[np.float32]:
    """(Q, D) × (G, D) unit vectors → (Q, G) cosine similarities."""
    return queries @ gallery.T


def search_gallery(queries: NDArray[np.float32], gallery: NDArray[np.float32], k: int) -> TopK:
    """Exact top-k cosine search of unit-length ``queries`` (Q, D) in ``gallery`` (G, D)."""
    k = min(k, len(gallery))
    similarity = cosine_matrix(queries, gallery)
    if k == 0:
        empty = np.zeros((len(queries), 0))
        return TopK(index=empty.astype(np.int64), similarity=empty.astype(np.float32))
    part = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(similarity, part, axis=1), axis=1, kind="stable")
    index = np.take_along_axis(part, order, axis=1)
    return TopK(index=index.astype(np.int64), similarity=np.take_along_axis(similarity, index, axis=1))


@dataclass(frozen=True)
class CaseRanking:
    """Best cases per query, best first.

    case: (Q, k) int64 rows of the case list; similarity: (Q, k) float32 best face of that
    case; face: (Q, k) int64 gallery row of that best face.
    """

    case: NDArray[np.int64]
    similarity: NDArray[np.float32]
    face: NDArray[np.int64]


def rank_cases(similarity: NDArray[np.float32], face_case: NDArray[np.int64], k: int) -> CaseRanking:
    """Top-k cases per query, a case scoring as its most similar reference face.

    similarity: (Q, N) query × gallery face similarities; face_case: (N,) each face's case
    row, sorted ascending (faces of a case are contiguous).
    """
    queries = len(similarity)
    if similarity.shape[1] == 0 or k == 0:
        empty = np.zeros((queries, 0), np.int64)
        return CaseRanking(empty, empty.astype(np.float32), empty)
    starts = np.flatnonzero(np.r_[True, face_case[1:] != face_case[:-1]])
    best = np.maximum.reduceat(similarity, starts, axis=1)  # (Q, cases present)
    k = min(k, best.shape[1])
    top = np.argsort(-best, axis=1, kind="stable")[:, :k]
    ends = np.r_[starts[1:], similarity.shape[1]]
    face = np.empty_like(top)
    for q in range(queries):
        for j, group in enumerate(top[q]):
            face[q, j] = starts[group] + int(np.argmax(similarity[q, starts[group] : ends[group]]))
    return CaseRanking(face_case[starts][top], np.take_along_axis(best, top, axis=1), face)


class CaseGallery:
    """Reference faces of open cases, searched by exact cosine (numpy, or torch on a GPU)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.faces: dict[uuid.UUID, tuple[uuid.UUID, NDArray[np.float32]]] = {}
        self._index: tuple[list[uuid.UUID], NDArray[np.int64], list[uuid.UUID], Any] | None = None

    def replace(self, rows: list[tuple[uuid.UUID, uuid.UUID, NDArray[np.float32]]]) -> None:
        self.faces = {face: (case, vector) for face, case, vector in rows}
        self._index = None

    def add(self, face: uuid.UUID, case: uuid.UUID, vector: NDArray[np.float32]) -> None:
        self.faces[face] = (case, vector)
        self._index = None

    def remove_face(self, face: uuid.UUID) -> None:
        if self.faces.pop(face, None) is not None:
            self._index = None

    def remove_case(self, case: uuid.UUID) -> None:
        doomed = [face for face, (owner, _) in self.faces.items() if owner == case]
        for face in doomed:
            del self.faces[face]
        if doomed:
            self._index = None

    def cases(self) -> int:
        return len({case for case, _ in self.faces.values()})

    def search(self, queries: NDArray[np.float32], k: int) -> list[list[tuple[uuid.UUID, float, uuid.UUID]]]:
        """Per query: up to ``k`` (case, similarity of its best face, that face), best first."""
        if not self.faces or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        face_ids, face_case, case_ids, matrix = self._build()
        similarity = self._similarity(l2_normalize(queries), matrix)
        ranked = rank_cases(similarity, face_case, k)
        return [
            [(case_ids[c], float(s), face_ids[f]) for c, s, f in zip(cs, ss, fs, strict=True)]
            for cs, ss, fs in zip(ranked.case, ranked.similarity, ranked.face, strict=True)
        ]

    def _build(self) -> tuple[list[uuid.UUID], NDArray[np.int64], list[uuid.UUID], Any]:
        if self._index is None:
            ordered = sorted(self.faces.items(), key=lambda item: item[1][0])
            case_ids = sorted({case for _, (case, _) in ordered})
            row = {case: i for i, case in enumerate(case_ids)}
            face_case = np.array([row[case] for _, (case, _) in ordered], dtype=np.int64)
            matrix: Any = l2_normalize(np.stack([vector for _, (_, vector) in ordered]))
            if self.device == "cuda":
                import torch

                matrix = torch.from_numpy(matrix).to("cuda")
            self._index = ([face for face, _ in ordered], face_case, case_ids, matrix)
        return self._index

    def _similarity(self, queries: NDArray[np.float32], matrix: Any) -> NDArray[np.float32]:
        if self.device == "cuda":
            import torch

            return (torch.from_numpy(queries).to("cuda") @ matrix.T).cpu().numpy()
        return queries @ matrix.T


@dataclass(frozen=True)
class Candidate:
    """A case that resembles a face, with what its score means under the pack's calibration."""

    case_id: uuid.UUID
    similarity: float
    false_accept_rate: float
    above_threshold: bool
    reference_face_id: uuid.UUID


def rank_candidates(
    gallery: CaseGallery, calibration: Calibration, vectors: NDArray[np.float32], k: int
) -> list[list[Candidate]]:
    """Per face embedding (F, D): the ``k`` closest open cases with their calibrated meaning."""
    if len(vectors) == 0:
        return []
    threshold = calibration.threshold()
    found = gallery.search(np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1), k)
    return [
        [
            Candidate(
                case_id=case,
                similarity=similarity,
                false_accept_rate=float(calibration.false_accept_rate(np.array([similarity]))[0]),
                above_threshold=similarity >= threshold,
                reference_face_id=face,
            )
            for case, similarity, face in hits
        ]
        for hits in found
    ]
