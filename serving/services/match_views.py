"""A match as a reviewer needs to see it: the sighting face beside every reference face of the case.

Each reference gets its own similarity and calibrated false-accept rate; each photo its date and,
when the case has a date of birth, the person's age in it, so that an age gap is plain to see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

import numpy as np
from sqlalchemy.orm import Session

from pipeline.ages import years_between
from pipeline.calibration import Calibration
from storage.errors import NotFoundError
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository
from storage.tables import Case, Face, Image, Match


@dataclass(frozen=True)
class FaceSeen:
    """One face of a match: where it is, how good it is, when its photo was taken."""

    face_id: uuid.UUID
    image_id: uuid.UUID
    box: list[float]
    detection_score: float
    quality: float
    taken_at: datetime | None
    age_years: float | None  # the person's age in the photo: as stated for it, else from the date of birth
    similarity: float | None = None  # to the sighting face (references only)
    false_accept_rate: float | None = None
    years_apart: float | None = None  # sighting photo taken this long after the reference


@dataclass(frozen=True)
class MatchView:
    match: Match
    case: Case
    sighting: FaceSeen
    references: list[FaceSeen]  # best first
    age_gap_years: float | None  # between the sighting and the best reference, when both dates are known


def view_match(session: Session, match: Match, calibration: Calibration | None) -> MatchView:
    case = CaseRepository(session).get(case_id=match.case_id)
    sighting_face = session.get(Face, match.face_id)
    if sighting_face is None:  # the foreign key keeps it; erasure removes the match with it
        raise NotFoundError(f"no faces row with id {match.face_id}")
    sighting = _seen(session, sighting_face, case.date_of_birth)
    probe = np.asarray(sighting_face.embedding, np.float32)
    references = []
    for face in FaceRepository(session).for_case(case_id=case.id, pack=match.pack):
        similarity = float(np.dot(np.asarray(face.embedding, np.float32), probe))
        rate = float(calibration.false_accept_rate(np.array([similarity]))[0]) if calibration else None
        seen = _seen(session, face, case.date_of_birth)
        apart = _years(seen.taken_at, sighting.taken_at)
        references.append(replace(seen, similarity=round(similarity, 4), false_accept_rate=rate, years_apart=apart))
    references.sort(key=lambda r: -(r.similarity or 0.0))
    best = next((r for r in references if r.face_id == match.reference_face_id), references[0] if references else None)
    gap = best.years_apart if best else None
    return MatchView(match=match, case=case, sighting=sighting, references=references, age_gap_years=gap)


def _seen(session: Session, face: Face, born: date | None) -> FaceSeen:
    image = session.get(Image, face.image_id)
    taken = image.taken_at if image else None
    return FaceSeen(
        face_id=face.id,
        image_id=face.image_id,
        box=[round(float(v), 1) for v in face.box],
        detection_score=round(float(face.detection_score), 4),
        quality=round(float(face.quality), 4),
        taken_at=taken,
        age_years=round(face.age_years, 1) if face.age_years is not None else _years(born, taken),
    )


def _years(start: date | datetime | None, end: date | datetime | None) -> float | None:
    return None if start is None or end is None else round(years_between(start, end), 1)
