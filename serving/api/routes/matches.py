"""Candidate matches and their review."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from serving.api.deps import PageNumber, State, errors, permitted
from serving.api.routes.images import image_links
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.review import CaseBrief, FaceSeenOut, ImageLinks, MatchViewOut, QueueItem
from serving.api.schemas.work import MatchDetail, ReviewIn, ReviewOut
from serving.auth.policy import Action
from serving.services.images import Purpose
from serving.services.match_views import FaceSeen, MatchView
from storage.tables import ReviewStatus, User

router = APIRouter(prefix="/matches", tags=["matches"])
Reader = Annotated[User, permitted(Action.READ_MATCHES)]
Reviewer = Annotated[User, permitted(Action.REVIEW_MATCH)]


@router.get("", responses=errors(401, 403, 422))
async def list_matches(
    user: Reader,
    state: State,
    case_id: uuid.UUID | None = None,
    status_: Annotated[list[ReviewStatus], Query(alias="status")] = [],  # noqa: B006 - FastAPI copies defaults
    min_similarity: Annotated[float | None, Query(ge=-1, le=1)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    age_gap: Annotated[
        bool | None, Query(description="Only (true) or no (false) matches put forward across an age gap.")
    ] = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[MatchDetail]:
    """Matches, most similar first."""
    found = await asyncio.to_thread(
        state.matches.find,
        user,
        case_ids=[case_id] if case_id else None,
        statuses=status_,
        min_similarity=min_similarity,
        created_from=created_from,
        created_to=created_to,
        age_gap=age_gap,
        page=page,
        page_size=page_size,
    )
    return page_of(MatchDetail, found)


@router.get("/{match_id}", responses=errors(401, 403, 404, 422))
async def read_match(match_id: uuid.UUID, user: Reader, state: State) -> MatchViewOut:
    """The match with what a reviewer weighs: the sighting face, every reference face of the case with
    its own similarity and false-accept rate, when each photo was taken, ages and the gap in years."""
    view = await asyncio.to_thread(state.matches.detail, user, match_id)
    return match_view_out(view)


@router.post("/{match_id}/claim", responses=errors(401, 403, 404, 409, 422))
async def claim_match(match_id: uuid.UUID, user: Reviewer, state: State) -> MatchDetail:
    """Hold an undecided match while you review it (a few minutes); 409 while someone else holds it."""
    match = await asyncio.to_thread(state.matches.claim, user, match_id)
    return MatchDetail.model_validate(match, from_attributes=True)


@router.delete("/{match_id}/claim", responses=errors(401, 403, 404, 409, 422))
async def release_match(match_id: uuid.UUID, user: Reviewer, state: State) -> MatchDetail:
    """Give a held match back to the queue."""
    match = await asyncio.to_thread(state.matches.release, user, match_id)
    return MatchDetail.model_validate(match, from_attributes=True)


@router.get("/{match_id}/reviews", responses=errors(401, 403, 404, 422))
async def list_reviews(match_id: uuid.UUID, user: Reader, state: State) -> list[ReviewOut]:
    """Every decision taken on the match, oldest first, with the pack and threshold in force."""
    reviews = await asyncio.to_thread(state.matches.reviews, user, match_id)
    return [ReviewOut.model_validate(r, from_attributes=True) for r in reviews]


@router.post("/{match_id}/review", responses=errors(401, 403, 404, 409, 422))
async def review_match(match_id: uuid.UUID, body: ReviewIn, user: Reviewer, state: State) -> MatchDetail:
    """Confirm, reject, mark inconclusive or reopen. A decided match must be reopened before a new decision.
    With the two-person rule, a match is confirmed by two different reviewers, the second of them a
    supervisor; reopening a confirmed match is a supervisor's too. 409 while another reviewer holds it."""
    match = await asyncio.to_thread(state.matches.review, user, match_id, body.decision, body.note)
    return MatchDetail.model_validate(match, from_attributes=True)


review_router = APIRouter(prefix="/review", tags=["matches"])


@review_router.get("/queue", responses=errors(401, 403, 422))
async def review_queue(
    user: Reviewer,
    state: State,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[QueueItem]:
    """Undecided matches of open cases: most urgent case first, then most similar. Matches you
    confirmed first are left out (the second confirmation is someone else's); held ones show who holds them."""
    found = await asyncio.to_thread(state.matches.queue, user, page=page, page_size=page_size)
    items = [QueueItem.model_validate({**_detail(entry.match), "case": _case(entry.case)}) for entry in found.items]
    return Page[QueueItem](items=items, total=found.total, page=found.page, page_size=found.page_size)


@review_router.post("/next", responses={204: {"description": "Nothing waits for you."}, **errors(401, 403)})
async def take_next(user: Reviewer, state: State) -> MatchViewOut | None:
    """Hold the first match of your queue that nobody else holds, and show it; 204 when there is none."""
    view = await asyncio.to_thread(state.matches.take_next, user)
    if view is None:
        return Response(status_code=204)  # type: ignore[return-value]
    return match_view_out(view)


def match_view_out(view: MatchView) -> MatchViewOut:
    purpose = Purpose(match_id=view.match.id)
    return MatchViewOut.model_validate(
        {
            **_detail(view.match),
            "case": _case(view.case),
            "sighting": _seen(view.sighting, purpose),
            "references": [_seen(face, purpose) for face in view.references],
            "age_gap_years": view.age_gap_years,
        }
    )


def _detail(match: object) -> dict[str, object]:
    return MatchDetail.model_validate(match, from_attributes=True).model_dump()


def _case(case: object) -> CaseBrief:
    return CaseBrief.model_validate(case, from_attributes=True)


def _seen(face: FaceSeen, purpose: Purpose) -> FaceSeenOut:
    return FaceSeenOut(**vars(face), images=ImageLinks(**image_links(face.face_id, face.image_id, purpose)))
