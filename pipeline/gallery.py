"""The case gallery: reference faces of open cases, searched exactly, and candidates with their meaning.

A searched face meets every reference face; a case scores as its most similar reference photo.
What a score means comes from the pack's calibration and the size of the gallery (the operating
point). A child's reference photo taken years before the searched one is put forward by rank
instead, flagged (``pipeline.ages``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.ages import DAYS_PER_YEAR, AgeGap, AgeGapRule, PhotoAge, across_gap
from pipeline.calibration import Calibration, OperatingPoint, operating_point
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
class GalleryIndex:
    """Faces sorted by case. face_case: (N,) rows of ``case_ids``; matrix: (N, D) unit rows, or where a
    ``DeviceCaseGallery`` keeps them."""

    face_ids: list[uuid.UUID]
    face_case: NDArray[np.int64]
    case_ids: list[uuid.UUID]
    matrix: Any


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

    def search(self, queries: NDArray[np.float32], k: int) -> list[list[Hit]]:
        """Per query: up to ``k`` (case, similarity of its best face, that face), best first."""
        if not self.faces or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        if self._index is None:
            self._index = self._place(index_faces(list(self.faces.values())))
        ranked = self._rank(l2_normalize(queries), self._index, k)
        return case_hits(self._index, ranked)

    def search_aged(
        self, queries: NDArray[np.float32], probe_day: date, rule: AgeGapRule, floor: float
    ) -> list[list[tuple[Hit, AgeGap]]]:
        """Per query: the best ``rule.candidates`` cases by their reference photos that show a child at
        least ``rule.min_years`` before ``probe_day``, at or above similarity ``floor``, with the gap.
        Children's photos are few: they are searched on the CPU whatever the device."""
        aged = self._aged_index()
        apart = (probe_day.toordinal() - aged.taken) / DAYS_PER_YEAR
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
    """The faces sorted by case, as arrays (what ``rank_cases`` needs)."""
    ordered = sorted(faces, key=lambda face: face.case_id)
    case_ids = sorted({face.case_id for face in ordered})
    row = {case: i for i, case in enumerate(case_ids)}
    face_case = np.array([row[face.case_id] for face in ordered], dtype=np.int64)
    dimension = len(ordered[0].vector) if ordered else 0
    matrix = l2_normalize(np.stack([face.vector for face in ordered])) if ordered else np.zeros((0, dimension))
    return GalleryIndex([face.face_id for face in ordered], face_case, case_ids, matrix)


def case_hits(index: GalleryIndex, ranked: CaseRanking) -> list[list[Hit]]:
    """A ranking's rows of ``index`` as (case, similarity, face) per query."""
    return [
        [(index.case_ids[c], float(s), index.face_ids[f]) for c, s, f in zip(cs, ss, fs, strict=True)]
        for cs, ss, fs in zip(ranked.case, ranked.similarity, ranked.face, strict=True)
    ]


@dataclass(frozen=True)
class MatchPolicy:
    """How candidates are judged beyond their score.

    max_wrong: wrong cases above threshold allowed per face searched, on average (None: the pack's
    own operating point at any gallery size); age_gap: children's photos years before the searched
    one (None: judged by the threshold like the rest).
    """

    max_wrong: float | None = 0.1
    age_gap: AgeGapRule | None = field(default_factory=AgeGapRule)


@dataclass(frozen=True)
class Candidate:
    """A case that resembles a face, with what its score means under the pack's calibration."""

    case_id: uuid.UUID
    similarity: float
    false_accept_rate: float
    above_threshold: bool
    reference_face_id: uuid.UUID
    age_gap: AgeGap | None = None  # below threshold, put forward by rank: a child's photo taken years before

    @property
    def for_review(self) -> bool:
        """Worth a person's look: above the threshold, or put forward across an age gap."""
        return self.above_threshold or self.age_gap is not None


@dataclass(frozen=True)
class Ranking:
    """Candidates per face searched (best first) and the operating point they were judged at."""

    point: OperatingPoint
    candidates: list[list[Candidate]]


def rank_candidates(
    gallery: CaseGallery,
    calibration: Calibration,
    vectors: NDArray[np.float32],
    k: int,
    *,
    policy: MatchPolicy | None = None,
    probe_day: date | None = None,
) -> Ranking:
    """Per face embedding (F, D): the ``k`` closest open cases, and (with ``probe_day``, the day the
    searched photo was taken) the cases put forward across an age gap, with their calibrated meaning."""
    policy = policy or MatchPolicy()
    point = operating_point(calibration, len(gallery.faces), policy.max_wrong)
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    found = gallery.search(vectors, k)
    rule = policy.age_gap
    if rule is None or probe_day is None or not gallery.faces:
        aged: list[list[tuple[Hit, AgeGap]]] = [[] for _ in found]
    else:
        aged = gallery.search_aged(vectors, probe_day, rule, calibration.threshold(rule.floor_far))
    return Ranking(point, [_candidates(hits, more, calibration, point) for hits, more in zip(found, aged, strict=True)])


def _candidates(
    hits: list[Hit], aged: list[tuple[Hit, AgeGap]], calibration: Calibration, point: OperatingPoint
) -> list[Candidate]:
    gaps = {hit[0]: gap for hit, gap in aged}
    chosen = hits + [hit for hit, _ in aged if hit[0] not in {case for case, _, _ in hits}]
    rates = calibration.false_accept_rate(np.array([similarity for _, similarity, _ in chosen]))
    candidates = []
    for (case, similarity, face), rate in zip(chosen, rates, strict=True):
        above = similarity >= point.threshold
        # The flag says why a case is put forward: one above the threshold needs no other reason.
        candidates.append(Candidate(case, similarity, float(rate), above, face, None if above else gaps.get(case)))
    return sorted(candidates, key=lambda candidate: -candidate.similarity)
