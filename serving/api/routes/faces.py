"""Searching photos against open cases, recording sightings, enrolling reference photos."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, status

from pipeline.types import Face
from serving.api.deps import CurrentUser, Photo, State
from serving.api.schemas import (
    CandidateOut,
    EnrolResponse,
    FaceOut,
    MatchOut,
    PhotoInfo,
    SearchFaceOut,
    SearchResponse,
    SightingFaceOut,
    SightingResponse,
)
from serving.auth.policy import Action, authorize
from serving.services.faces import Sighting

router = APIRouter(tags=["faces"])
TopK = Annotated[int, Query(ge=1, le=50, description="Candidate cases per face.")]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Empty, truncated or corrupt photo."},
    401: {"description": "No valid access token."},
    403: {"description": "The user's role may not do this."},
    413: {"description": "Photo larger than the byte or pixel limit."},
    415: {"description": "Not an image."},
    503: {"description": "Models or the case gallery are not ready."},
}


@router.post("/search", responses=ERRORS)
async def search(photo: Photo, user: CurrentUser, state: State, k: TopK = 5) -> SearchResponse:
    """Every face of a photo with its closest open cases. Nothing is stored."""
    authorize(user, Action.SEARCH)
    analysis, candidates = await state.faces.search(photo.data, k=k)
    located = analysis.located
    return SearchResponse(
        pack=state.faces.pack.name,
        threshold=state.faces.pack.threshold,
        photo=_photo_info(
            located.faces.width, located.faces.height, located.format, located.notes, located.faces.padded_retry
        ),
        faces=[
            SearchFaceOut(face=face_out(face), candidates=[CandidateOut(**vars(c)) for c in hits])
            for face, hits in zip(located.faces.faces, candidates or [[]] * len(located.faces.faces), strict=True)
        ],
    )


@router.post("/sightings", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def record_sighting(
    photo: Photo,
    user: CurrentUser,
    state: State,
    k: TopK = 5,
    taken_at: Annotated[datetime | None, Form(description="When the photo was taken, if known.")] = None,
) -> SightingResponse:
    """Store a photo of someone who turned up, its faces, and a pending match for every case above threshold."""
    authorize(user, Action.RECORD_SIGHTING)
    sighting = await state.faces.record_sighting(photo.data, suffix=photo.suffix, user=user, taken_at=taken_at, k=k)
    return _sighting_out(sighting, state.faces.pack.name)


@router.post(
    "/cases/{case_id}/photos",
    status_code=status.HTTP_201_CREATED,
    responses={
        **ERRORS,
        404: {"description": "No such case."},
        409: {"description": "The case is not open."},
        422: {"description": "No usable face: no_face, several_faces, too_small or too_blurred."},
    },
)
async def enrol_photo(case_id: uuid.UUID, photo: Photo, user: CurrentUser, state: State) -> EnrolResponse:
    """Add a reference photo to a case: it must show exactly one usable face."""
    enrolment = await state.faces.enrol(case_id, photo.data, suffix=photo.suffix, user=user)
    return EnrolResponse(
        case_id=enrolment.case_id,
        image_id=enrolment.image_id,
        face_id=enrolment.face_id,
        face=face_out(enrolment.face),
        created=enrolment.created,
    )


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
                    )
                    for m in stored.matches
                ],
            )
            for stored in sighting.faces
        ],
    )
