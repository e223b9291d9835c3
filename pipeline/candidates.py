"""Candidates and what their scores mean: the cases a searched face resembles, judged at the gallery's
operating point.

A case is above threshold when its most similar photo passes the pair threshold, or, with several
photos, when the centroid of its photos passes the centroid threshold for that many photos. At
the same number of wrong cases, the second test finds 2–3 points more true matches at FAR 1e-4
and 6–9 at 1e-5 with dlib's embeddings on the calibration set, and changes nothing measurable
with the ArcFace-style packs. Below the threshold, a child's photo taken years before the
searched one puts its case forward by rank, flagged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from numpy.typing import NDArray

from pipeline.ages import AgeGap, AgeGapRule
from pipeline.calibration import Calibration, OperatingPoint, operating_point, rate_of
from pipeline.gallery import CaseGallery, CentroidHit, Hit


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
class Centroid:
    """A case's centroid against the face: similarity, photos averaged, its calibrated per-case FAR."""

    similarity: float
    photos: int
    false_accept_rate: float


@dataclass(frozen=True)
class Candidate:
    """A case that resembles a face, with what its score means under the pack's calibration.

    similarity, false_accept_rate and reference_face_id are its most similar photo's (per pair),
    or, put forward across an age gap (below threshold, by rank), the child's photo's; centroid, for
    cases of several photos whose pack measured it.
    """

    case_id: uuid.UUID
    similarity: float
    false_accept_rate: float
    above_threshold: bool
    reference_face_id: uuid.UUID
    age_gap: AgeGap | None = None
    centroid: Centroid | None = None

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
    """Per face embedding (F, D): the ``k`` closest open cases, those whose centroid passes, and (with
    ``probe_day``, the day the searched photo was taken) the cases put forward across an age gap."""
    policy = policy or MatchPolicy()
    point = operating_point(calibration, len(gallery.faces), policy.max_wrong, gallery.multi_photo_cases())
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    found = gallery.search(vectors, k)
    wanted = [{case for case, _, _ in hits} for hits in found]
    centroids = gallery.search_centroids(vectors, point, wanted) if calibration.centroid else [{} for _ in found]
    rule = policy.age_gap
    if rule is None or probe_day is None or not gallery.faces:
        aged: list[list[tuple[Hit, AgeGap]]] = [[] for _ in found]
    else:
        aged = gallery.search_aged(vectors, probe_day, rule, calibration.threshold(rule.floor_far))
    ranked = []
    for q, hits in enumerate(found):
        more = gallery.best_faces(vectors[q], sorted(set(centroids[q]) - wanted[q]))
        ranked.append(_candidates(hits + more, centroids[q], aged[q], calibration, point))
    return Ranking(point, ranked)


def _candidates(
    hits: list[Hit],
    centroids: dict[uuid.UUID, CentroidHit],
    aged: list[tuple[Hit, AgeGap]],
    calibration: Calibration,
    point: OperatingPoint,
) -> list[Candidate]:
    across = {hit[0]: (hit, gap) for hit, gap in aged}
    ranked = {case for case, _, _ in hits}
    chosen = hits + [hit for hit, _ in aged if hit[0] not in ranked]
    judged = []
    for case, similarity, face in chosen:
        centroid = _centroid(centroids.get(case), calibration)
        above = similarity >= point.threshold or _passes(centroid, point)
        # The flag says why a case is put forward: one above the threshold needs no other reason. A case
        # put forward across the gap shows the child's photo that did it, with its score.
        gap = None
        if not above and case in across:
            (_, similarity, face), gap = across[case]
        judged.append((case, similarity, face, above, gap, centroid))
    rates = calibration.false_accept_rate(np.array([similarity for _, similarity, *_ in judged]))
    candidates = [
        Candidate(case, similarity, float(rate), above, face, gap, centroid)
        for (case, similarity, face, above, gap, centroid), rate in zip(judged, rates, strict=True)
    ]
    return sorted(candidates, key=lambda candidate: -candidate.similarity)


def _centroid(hit: CentroidHit | None, calibration: Calibration) -> Centroid | None:
    table = calibration.centroid_table(hit.photos) if hit else None
    if hit is None or table is None:
        return None
    return Centroid(hit.similarity, hit.photos, float(rate_of(table, np.array([hit.similarity]))[0]))


def _passes(centroid: Centroid | None, point: OperatingPoint) -> bool:
    threshold = point.centroid_threshold(centroid.photos) if centroid else None
    return centroid is not None and threshold is not None and centroid.similarity >= threshold
