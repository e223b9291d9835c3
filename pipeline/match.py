"""Compare embeddings: unit length, cosine similarity, top-k faces, top-k cases by their best face."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


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
