"""The case gallery: reference faces of open cases, searched exactly.

A searched face meets every reference face, and the centroid (normalised mean) of each case
with several photos; cases are ranked by their most similar photo. Children's photos are also
searched by themselves, for the comparisons across an age gap (``pipeline.ages``). What the
scores mean is ``pipeline.candidates``'s business.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.ages import AgeGap, AgeGapRule, PhotoAge, across_gap, calendar_years
from pipeline.calibration import OperatingPoint
from pipeline.match import CaseRanking, l2_normalize, rank_cases

Hit = tuple[uuid.UUID, float, uuid.UUID]  # case, similarity of its best face, that face


@dataclass(frozen=True)
class GalleryFace:
    """One reference face: its case, its (D,) embedding, and the person's age in the photo when known."""

    face_id: uuid.UUID
    case_id: uuid.UUID
    vector: NDArray[np.float32]
    age: PhotoAge | None = None


@dataclass(frozen=True)
class Centroids:
    """The cases with several photos. case: (C,) rows of the index's ``case_ids``; photos: (C,) how
    many; matrix: (C, D) unit centroids; column: a case's row here by its id."""

    case: NDArray[np.int64]
    photos: NDArray[np.int64]
    matrix: NDArray[np.float32]
    column: dict[uuid.UUID, int]


@dataclass(frozen=True)
class GalleryIndex:
    """Faces sorted by case. face_case: (N,) rows of ``case_ids``; starts: (cases + 1,) where each
    case's faces begin; vectors: (N, D) unit rows on the CPU; matrix: the same, or where a
    ``DeviceCaseGallery`` keeps them."""

    face_ids: list[uuid.UUID]
    face_case: NDArray[np.int64]
    case_ids: list[uuid.UUID]
    starts: NDArray[np.int64]
    vectors: NDArray[np.float32]
    centroids: Centroids
    matrix: Any


@dataclass(frozen=True)
class CentroidHit:
    """A case's centroid against a searched face: its similarity and how many photos it averages."""

    similarity: float
    photos: int


@dataclass(frozen=True)
class _AgedIndex:
    """The faces whose age is known, on the CPU. taken: (N,) ordinal day of each photo; ages: (N,) years."""

    faces: GalleryIndex
    taken: NDArray[np.int64]
    ages: NDArray[np.float64]


class CaseGallery:
    """Reference faces of open cases, searched by exact cosine on the CPU (``DeviceCaseGallery``: torch)."""

    def __init__(self) -> None:
        self.faces: dict[uuid.UUID, GalleryFace] = {}
        self._index: GalleryIndex | None = None
        self._aged: _AgedIndex | None = None

    def replace(self, faces: Iterable[GalleryFace]) -> None:
        self.faces = {face.face_id: face for face in faces}
        self._changed()

    def add(self, face: GalleryFace) -> None:
        self.faces[face.face_id] = face
        self._changed()

    def remove_face(self, face_id: uuid.UUID) -> None:
        if self.faces.pop(face_id, None) is not None:
            self._changed()

    def remove_case(self, case_id: uuid.UUID) -> None:
        doomed = [face.face_id for face in self.faces.values() if face.case_id == case_id]
        for face_id in doomed:
            del self.faces[face_id]
        if doomed:
            self._changed()

    def cases(self) -> int:
        return len({face.case_id for face in self.faces.values()})

    def holds(self, case_id: uuid.UUID) -> bool:
        return any(face.case_id == case_id for face in self.faces.values())

    def multi_photo_cases(self) -> int:
        return len(self._built().centroids.case) if self.faces else 0

    def search(self, queries: NDArray[np.float32], k: int) -> list[list[Hit]]:
        """Per query: up to ``k`` (case, similarity of its best face, that face), best first."""
        if not self.faces or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        index = self._built()
        return case_hits(index, self._rank(l2_normalize(queries), index, k))

    def search_centroids(
        self, queries: NDArray[np.float32], point: OperatingPoint, wanted: list[set[uuid.UUID]]
    ) -> list[dict[uuid.UUID, CentroidHit]]:
        """Per query: the centroids of the ``wanted`` cases, and of every case whose centroid passes its
        threshold at ``point``. Cases with several photos are far fewer than faces: on the CPU."""
        if not self.faces or len(queries) == 0:
            return [{} for _ in range(len(queries))]
        index = self._built()
        found = index.centroids
        similarity = l2_normalize(queries) @ found.matrix.T  # (Q, C)
        limit = np.full(len(found.case), np.inf)
        for photos, threshold in point.centroid_thresholds:
            limit[found.photos >= photos] = threshold
        hits = []
        for q, row in enumerate(similarity):
            columns = set(np.flatnonzero(row >= limit).tolist())
            columns |= {found.column[case] for case in wanted[q] if case in found.column}
            hits.append(
                {
                    index.case_ids[found.case[c]]: CentroidHit(float(row[c]), int(found.photos[c]))
                    for c in sorted(columns)
                }
            )
        return hits

    def best_faces(self, query: NDArray[np.float32], cases: list[uuid.UUID]) -> list[Hit]:
        """The most similar photo of each of these cases to one (D,) query (on the CPU)."""
        index, vector = self._built(), l2_normalize(np.asarray(query, np.float32)[None])[0]
        rows = {case: row for row, case in enumerate(index.case_ids)}
        found = []
        for case in cases:
            start, stop = int(index.starts[rows[case]]), int(index.starts[rows[case] + 1])
            similarity = index.vectors[start:stop] @ vector
            best = int(np.argmax(similarity))
            found.append((case, float(similarity[best]), index.face_ids[start + best]))
        return found

    def search_aged(
        self, queries: NDArray[np.float32], probe_day: date, rule: AgeGapRule, floor: float
    ) -> list[list[tuple[Hit, AgeGap]]]:
        """Per query: the best ``rule.candidates`` cases by their reference photos that show a child at
        least ``rule.min_years`` before ``probe_day``, at or above similarity ``floor``, with the gap.
        Children's photos are few: they are searched on the CPU whatever the device."""
        aged = self._aged_index()
        apart = calendar_years(aged.taken, np.array(probe_day.toordinal()))
        rows = np.flatnonzero(across_gap(rule, aged.ages, apart))
        if len(rows) == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        similarity = l2_normalize(queries) @ aged.faces.matrix[rows].T
        ranked = rank_cases(similarity, aged.faces.face_case[rows], rule.candidates)
        faces = rows[ranked.face]
        return [
            [(hit, AgeGap.of(aged.ages[f], apart[f])) for hit, f in zip(hits, row, strict=True) if hit[1] >= floor]
            for hits, row in zip(case_hits(aged.faces, replace(ranked, face=faces)), faces, strict=True)
        ]

    def _built(self) -> GalleryIndex:
        if self._index is None:
            self._index = self._place(index_faces(list(self.faces.values())))
        return self._index

    def _place(self, index: GalleryIndex) -> GalleryIndex:
        """The index where searches run: as it is, on the CPU."""
        return index

    def _rank(self, queries: NDArray[np.float32], index: GalleryIndex, k: int) -> CaseRanking:
        return rank_cases(queries @ index.matrix.T, index.face_case, k)

    def _changed(self) -> None:
        self._index = None
        self._aged = None

    def _aged_index(self) -> _AgedIndex:
        if self._aged is None:
            index = index_faces([face for face in self.faces.values() if face.age is not None])
            photos = [self.faces[face_id].age for face_id in index.face_ids]
            taken = np.array([photo.taken_on.toordinal() for photo in photos if photo], dtype=np.int64)
            ages = np.array([photo.age_years for photo in photos if photo], dtype=np.float64)
            self._aged = _AgedIndex(index, taken, ages)
        return self._aged


def index_faces(faces: list[GalleryFace]) -> GalleryIndex:
    """The faces sorted by case, as arrays (what ``rank_cases`` needs), with the centroids of cases
    of several photos."""
    ordered = sorted(faces, key=lambda face: face.case_id)
    case_ids = sorted({face.case_id for face in ordered})
    row = {case: i for i, case in enumerate(case_ids)}
    face_case = np.array([row[face.case_id] for face in ordered], dtype=np.int64)
    dimension = len(ordered[0].vector) if ordered else 0
    vectors = l2_normalize(np.stack([face.vector for face in ordered]) if ordered else np.zeros((0, dimension)))
    counts = np.bincount(face_case, minlength=len(case_ids)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    face_ids = [face.face_id for face in ordered]
    return GalleryIndex(face_ids, face_case, case_ids, starts, vectors, _centroids(vectors, counts, case_ids), vectors)


def _centroids(vectors: NDArray[np.float32], counts: NDArray[np.int64], case_ids: list[uuid.UUID]) -> Centroids:
    several = np.flatnonzero(counts >= 2)
    if len(vectors) == 0:
        return Centroids(several, counts[several], np.zeros((0, vectors.shape[1]), np.float32), {})
    sums = np.add.reduceat(vectors, np.concatenate([[0], np.cumsum(counts)[:-1]]), axis=0)
    column = {case_ids[case]: c for c, case in enumerate(several.tolist())}
    return Centroids(several, counts[several], l2_normalize(sums[several]), column)


def case_hits(index: GalleryIndex, ranked: CaseRanking) -> list[list[Hit]]:
    """A ranking's rows of ``index`` as (case, similarity, face) per query."""
    return [
        [(index.case_ids[c], float(s), index.face_ids[f]) for c, s, f in zip(cs, ss, fs, strict=True)]
        for cs, ss, fs in zip(ranked.case, ranked.similarity, ranked.face, strict=True)
    ]
