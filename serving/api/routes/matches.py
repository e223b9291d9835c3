"""Candidate matches and their review."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.deps import State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.work import MatchDetail, ReviewIn, ReviewOut
from serving.auth.policy import Action
from storage.tables import ReviewStatus, User

router = APIRouter(prefix="/matches", tags=["matches"])
Reader = Annotated[User, permitted(Action.READ_MATCHES)]


@router.get("", responses=errors(401, 403, 422))
async def list_matches(
    user: Reader,
    state: State,
    case_id: uuid.UUID | None = None,
    status_: Annotated[list[ReviewStatus], Query(alias="status")] = [],  # noqa: B006 - FastAPI copies defaults
    min_similarity: Annotated[float | None, Query(ge=-1, le=1)] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
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
        page=page,
        page_size=page_size,
    )
    return page_of(MatchDetail, found)


@router.get("/{match_id}", responses=errors(401, 403, 404, 422))
async def read_match(match_id: uuid.UUID, user: Reader, state: State) -> MatchDetail:
    match = await asyncio.to_thread(state.matches.get, user, match_id)
    return MatchDetail.model_validate(match, from_attributes=True)


@router.get("/{match_id}/reviews", responses=errors(401, 403, 404, 422))
async def list_reviews(match_id: uuid.UUID, user: Reader, state: State) -> list[ReviewOut]:
    """Every decision taken on the match, oldest first, with the pack and threshold in force."""
    reviews = await asyncio.to_thread(state.matches.reviews, user, match_id)
    return [ReviewOut.model_validate(r, from_attributes=True) for r in reviews]


@router.post("/{match_id}/review", responses=errors(401, 403, 404, 409, 422))
async def review_match(
    match_id: uuid.UUID, body: ReviewIn, user: Annotated[User, permitted(Action.REVIEW_MATCH)], state: State
) -> MatchDetail:
    """Confirm, reject, mark inconclusive or reopen. A decided match must be reopened before a new decision;
    with the two-person rule, two different supervisors must confirm."""
    match = await asyncio.to_thread(state.matches.review, user, match_id, body.decision, body.note)
    return MatchDetail.model_validate(match, from_attributes=True)
