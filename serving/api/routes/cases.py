"""Missing-person cases: open, list and search, read, change, assign, grant, erase; their reference photos."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from serving.api.deps import PageNumber, State, errors, permitted
from serving.api.schemas.cases import CaseCreate, CaseOut, CaseUpdate, Erasure, ErasureOut, ReferencePhotoOut
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.people import GrantIn, GrantOut
from serving.auth.policy import Action
from storage.repositories.cases import CaseSort
from storage.tables import CasePriority, CaseStatus, User

router = APIRouter(prefix="/cases", tags=["cases"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 422))
async def open_case(body: CaseCreate, user: Annotated[User, permitted(Action.CREATE_CASE)], state: State) -> CaseOut:
    """Open a case for a missing person; the one who opens it is its reporter."""
    case = await asyncio.to_thread(state.cases.create, user, body.model_dump())
    return CaseOut.model_validate(case, from_attributes=True)


@router.get("", responses=errors(401, 403, 422))
async def list_cases(
    user: Annotated[User, permitted(Action.READ_CASE)],
    state: State,
    q: Annotated[
        str | None, Query(max_length=200, description="Words matched as prefixes of names and aliases.")
    ] = None,
    status_: Annotated[list[CaseStatus], Query(alias="status")] = [],  # noqa: B006 - FastAPI copies defaults
    priority: Annotated[list[CasePriority], Query()] = [],  # noqa: B006
    assignee_id: uuid.UUID | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    last_seen_from: datetime | None = None,
    last_seen_to: datetime | None = None,
    has_matches: bool | None = None,
    sort: CaseSort = "created",
    descending: bool = True,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CaseOut]:
    """Cases, filtered, searched, sorted and paged; reporters see only cases they opened or were granted."""
    found = await asyncio.to_thread(
        state.cases.find,
        user,
        text=q,
        statuses=status_,
        priorities=priority,
        assignee_id=assignee_id,
        created_from=created_from,
        created_to=created_to,
        last_seen_from=last_seen_from,
        last_seen_to=last_seen_to,
        has_matches=has_matches,
        sort=sort,
        descending=descending,
        page=page,
        page_size=page_size,
    )
    return page_of(CaseOut, found)


@router.get("/{case_id}", responses=errors(401, 403, 404, 422))
async def read_case(case_id: uuid.UUID, user: Annotated[User, permitted(Action.READ_CASE)], state: State) -> CaseOut:
    case = await asyncio.to_thread(state.cases.get, user, case_id)
    return CaseOut.model_validate(case, from_attributes=True)


@router.patch("/{case_id}", responses=errors(401, 403, 404, 422))
async def update_case(
    case_id: uuid.UUID, body: CaseUpdate, user: Annotated[User, permitted(Action.EDIT_CASE)], state: State
) -> CaseOut:
    """Change the fields given. Closing a case (any status but open) takes its faces out of matching."""
    changes = body.model_dump(exclude_unset=True)
    case = await asyncio.to_thread(state.cases.update, user, case_id, changes)
    return CaseOut.model_validate(case, from_attributes=True)


@router.post("/{case_id}/erase", responses=errors(401, 403, 404, 422))
async def erase_case(
    case_id: uuid.UUID, body: Erasure, user: Annotated[User, permitted(Action.ERASE_CASE)], state: State
) -> ErasureOut:
    """Erase the case with its photos, faces, embeddings and matches, and the sighting photos matched to it
    and to no other case. Only the audit log keeps that it happened."""
    report = await asyncio.to_thread(state.cases.erase, user, case_id, body.reason)
    return ErasureOut(
        case_id=report.case_id,
        images=report.images,
        faces=report.faces,
        matches=report.matches,
        notifications=report.notifications,
        sightings=report.sightings,
    )


@router.get("/{case_id}/photos", responses=errors(401, 403, 404, 422))
async def list_reference_photos(
    case_id: uuid.UUID, user: Annotated[User, permitted(Action.READ_CASE)], state: State
) -> list[ReferencePhotoOut]:
    """The case's reference faces (one per enrolled photo)."""
    faces = await asyncio.to_thread(state.cases.reference_faces, user, case_id)
    return [
        ReferencePhotoOut(
            face_id=f.id,
            image_id=f.image_id,
            pack=f.pack,
            quality=f.quality,
            detection_score=f.detection_score,
            age_years=f.age_years,
            created_at=f.created_at,
        )
        for f in faces
    ]


@router.post("/{case_id}/grants", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 404, 422))
async def grant_access(
    case_id: uuid.UUID, body: GrantIn, user: Annotated[User, permitted(Action.GRANT_CASE)], state: State
) -> GrantOut:
    """Give a user access to this case beyond their role (a family member, an investigator from elsewhere)."""
    grant = await asyncio.to_thread(state.cases.grant, user, case_id, body.user_id, body.access)
    return GrantOut(user_id=grant.user_id, case_id=grant.case_id, access=grant.access)


@router.get("/{case_id}/grants", responses=errors(401, 403, 404, 422))
async def list_grants(
    case_id: uuid.UUID, user: Annotated[User, permitted(Action.GRANT_CASE)], state: State
) -> list[GrantOut]:
    """Who was given access to this case beyond their role."""
    grants = await asyncio.to_thread(state.cases.grants, user, case_id)
    return [GrantOut(user_id=g.user_id, case_id=g.case_id, access=g.access) for g in grants]


@router.delete(
    "/{case_id}/grants/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404, 422)
)
async def revoke_grant(
    case_id: uuid.UUID, user_id: uuid.UUID, user: Annotated[User, permitted(Action.GRANT_CASE)], state: State
) -> None:
    """Take a user's access to this case away."""
    await asyncio.to_thread(state.cases.revoke, user, case_id, user_id)
