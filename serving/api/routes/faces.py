"""Searching photos against open cases, recording sightings, enrolling reference photos."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, status

from pipeline.candidates import Candidate
from pipeline.types import Face
from serving.api.deps import Photo, State, errors, permitted
from serving.api.schemas.faces import (
    AgeGapOut,
    CandidateOut,
    CentroidOut,
    EnrolmentProblem,
    EnrolResponse,
    FaceOut,
    IntakeWarningOut,
    MatchOut,
    OperatingPointOut,
    PhotoInfo,
    SearchFaceOut,
    SearchResponse,
    SightingFaceOut,
    SightingResponse,
)
from serving.auth.policy import Action
from serving.services.faces import Intake
from serving.services.references import FaceChoice
from serving.services.sightings import Sighting
from storage.tables import User

router = APIRouter(tags=["faces"])
TopK = Annotated[int, Query(ge=1, le=20, description="Candidate cases per face (at most 20).")]
ERRORS = errors(400, 401, 403, 413, 415, 422, 503)
_NUMBER = r"\s*\d+(?:\.\d+)?\s*"
_BOX = rf"^{_NUMBER}(?:,{_NUMBER}){{3}}$"


@router.post("/search", responses=ERRORS)
async def search(
    user: Annotated[User, permitted(Action.SEARCH)], photo: Photo, state: State, k: TopK = 5
) -> SearchResponse:
    """Every face of a photo with its closest open cases. Nothing is stored but an audit entry (who
    searched, how many faces and candidates); candidates under the threshold go to reviewers only."""
    analysis, ranking = await state.faces.search_for(user, photo.data, k=k)
    located, point = analysis.located, ranking.point
    return SearchResponse(
        pack=state.faces.pack.name,
        threshold=point.threshold,
        operating_point=OperatingPointOut(
            threshold=point.threshold,
            false_accept_rate=point.far,
            gallery_faces=point.gallery_faces,
            comparisons=point.comparisons,
            centroid_thresholds=dict(point.centroid_thresholds),
            expected_wrong_candidates=point.expected_wrong,
        ),
        photo=_photo_info(
            located.faces.width, located.faces.height, located.format, located.notes, located.faces.padded_retry
        ),
        faces=[
            SearchFaceOut(face=face_out(face), candidates=[_candidate_out(c) for c in hits])
            for face, hits in zip(located.faces.faces, ranking.candidates, strict=True)
        ],
    )


@router.post("/sightings", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def record_sighting(
    user: Annotated[User, permitted(Action.RECORD_SIGHTING)],
    photo: Photo,
    state: State,
    k: TopK = 5,
    taken_at: Annotated[datetime | None, Form(description="When the photo was taken, if known.")] = None,
) -> SightingResponse:
    """Store a photo of someone who turned up, its faces, and a pending match for every case above threshold."""
    sighting = await state.faces.record_sighting(photo.data, suffix=photo.suffix, user=user, taken_at=taken_at, k=k)
    return _sighting_out(sighting, state.faces.pack.name)


@router.post(
    "/cases/{case_id}/photos",
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(400, 401, 403, 404, 409, 413, 415, 503),
        422: {"model": EnrolmentProblem, "description": "No usable face, or several and none chosen."},
    },
)
async def enrol_photo(
    case_id: uuid.UUID,
    user: Annotated[User, permitted(Action.ENROL_PHOTO)],
    photo: Photo,
    state: State,
    face: Annotated[int | None, Form(ge=0, description="Which face (`index` from a 422's `faces`).")] = None,
    face_box: Annotated[str | None, Form(pattern=_BOX, description="Or a box around it: x1,y1,x2,y2.")] = None,
    strict: Annotated[bool, Form(description="Refuse small, soft or crowded photos instead of warning.")] = False,
    taken_at: Annotated[datetime | None, Form(description="When the photo was taken, if known.")] = None,
    age_years: Annotated[
        float | None,
        Form(
            ge=0,
            le=130,
            description="The person's age in this photo, if known (else the date of birth and `taken_at` tell). "
            "A child's photo compared with photos taken years later is put forward by rank, flagged `age_gap`.",
        ),
    ] = None,
) -> EnrolResponse:
    """Add a reference photo to a case. With several faces, the one the photo is of (largest, nearest
    the centre) is taken when it stands out; otherwise choose one with `face` or `face_box`. Refused
    (422, with the faces found): no_face, too_small, several_faces; small or soft faces are accepted
    with `warnings` (strict mode refuses them). 409: the case is not open, or the photo is already
    stored as a sighting or for another case."""
    box = _box_of(face_box)
    intake = Intake(
        choice=FaceChoice(index=face, box=box) if face is not None or box else None,
        strict=strict,
        taken_at=taken_at,
        age_years=age_years,
    )
    enrolment = await state.faces.enrol(case_id, photo.data, suffix=photo.suffix, user=user, intake=intake)
    return EnrolResponse(
        case_id=enrolment.case_id,
        image_id=enrolment.image_id,
        face_id=enrolment.face_id,
        face=face_out(enrolment.face),
        created=enrolment.created,
        faces_found=enrolment.faces_found,
        warnings=[IntakeWarningOut(code=w.code, detail=w.detail) for w in enrolment.warnings],
    )


def _candidate_out(candidate: Candidate) -> CandidateOut:
    gap, centroid = candidate.age_gap, candidate.centroid
    return CandidateOut(
        case_id=candidate.case_id,
        similarity=candidate.similarity,
        false_accept_rate=candidate.false_accept_rate,
        above_threshold=candidate.above_threshold,
        centroid=CentroidOut(**vars(centroid)) if centroid else None,
        age_gap=AgeGapOut(reference_age_years=gap.reference_age_years, years_apart=gap.years_apart) if gap else None,
    )


def _box_of(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in text.split(","))
    return (x1, y1, x2, y2)


def face_out(face: Face) -> FaceOut:
    return FaceOut(
        box=[round(float(v), 1) for v in face.box],
        landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in face.landmarks],
        score=round(face.score, 4),
        quality=round(face.quality, 4),
    )


def _photo_info(width: int, height: int, fmt: str, notes: tuple[str, ...], padded: bool) -> PhotoInfo:
    extra = ["no face at first: found after padding the photo (tight crop or ID-style photo)"] if padded else []
    return PhotoInfo(width=width, height=height, format=fmt, notes=[*notes, *extra])


def _sighting_out(sighting: Sighting, pack: str) -> SightingResponse:
    return SightingResponse(
        image_id=sighting.image_id,
        created=sighting.created,
        pack=pack,
        faces=[
            SightingFaceOut(
                face_id=stored.face_id,
                face=face_out(stored.face),
                matches=[
                    MatchOut(
                        match_id=m.id,
                        case_id=m.case_id,
                        similarity=m.similarity,
                        false_accept_rate=m.false_accept_rate,
                        status=m.status,
                        age_gap=m.age_gap,
                    )
                    for m in stored.matches
                ],
            )
            for stored in sighting.faces
        ],
    )
