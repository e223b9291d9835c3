"""External sources (administrators only): register, test, map, sync, and what each sync and query did."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from serving.api.deps import PageNumber, State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.external import (
    ConnectionTest,
    ExternalIn,
    ExternalOut,
    ExternalPatch,
    MappingIn,
    MappingOut,
    QueryOut,
    SyncLogOut,
)
from serving.api.schemas.work import JobOut
from serving.auth.policy import Action
from storage.errors import NotFoundError
from storage.tables import User

router = APIRouter(prefix="/external-databases", tags=["external databases"])
Admin = Annotated[User, permitted(Action.MANAGE_EXTERNAL)]
PageSize = Annotated[int, Query(ge=1, le=200)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(401, 403, 409, 422))
async def create_source(body: ExternalIn, user: Admin, state: State) -> ExternalOut:
    """Register a source; its password or headers are sealed at once and never shown again."""
    fields = body.model_dump(exclude={"credentials"})
    fields["credentials"] = body.credentials.plain() if body.credentials else None
    source = await asyncio.to_thread(state.external.create, user, fields)
    return ExternalOut.of(source)


@router.get("", responses=errors(401, 403, 422))
async def list_sources(user: Admin, state: State, page: PageNumber = 1, page_size: PageSize = 50) -> Page[ExternalOut]:
    found = await asyncio.to_thread(state.external.find, page=page, page_size=page_size)
    return Page[ExternalOut](
        items=[ExternalOut.of(s) for s in found.items], total=found.total, page=found.page, page_size=found.page_size
    )


@router.get("/{database_id}", responses=errors(401, 403, 404, 422))
async def read_source(database_id: uuid.UUID, user: Admin, state: State) -> ExternalOut:
    return ExternalOut.of(await asyncio.to_thread(state.external.get, database_id))


@router.patch("/{database_id}", responses=errors(401, 403, 404, 409, 422))
async def change_source(database_id: uuid.UUID, body: ExternalPatch, user: Admin, state: State) -> ExternalOut:
    """Change a source; ``credentials`` replaces them (null removes them)."""
    return ExternalOut.of(await asyncio.to_thread(state.external.update, user, database_id, body.changes()))


@router.delete("/{database_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404, 422))
async def delete_source(database_id: uuid.UUID, user: Admin, state: State) -> Response:
    """Forget the source with its mapping, records and logs; imported photos stay as sightings."""
    await asyncio.to_thread(state.external.delete, user, database_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{database_id}/test", responses=errors(401, 403, 404, 422))
async def test_source(database_id: uuid.UUID, user: Admin, state: State) -> ConnectionTest:
    """Connect and list the tables (or the feed); an unreachable source answers ok: false with the reason."""
    ok, tables, error = await asyncio.to_thread(state.external.test, user, database_id)
    return ConnectionTest(ok=ok, tables=tables, error=error)


@router.get("/{database_id}/mapping", responses=errors(401, 403, 404, 422))
async def read_mapping(database_id: uuid.UUID, user: Admin, state: State) -> MappingOut:
    mapping = await asyncio.to_thread(state.external.mapping, database_id)
    if mapping is None:
        raise NotFoundError("the source has no mapping yet")
    return MappingOut.model_validate(mapping, from_attributes=True)


@router.put("/{database_id}/mapping", responses=errors(401, 403, 404, 422))
async def put_mapping(database_id: uuid.UUID, body: MappingIn, user: Admin, state: State) -> MappingOut:
    """Store the mapping once the remote has every column it names (422 names the missing ones)."""
    mapping = await asyncio.to_thread(state.external.set_mapping, user, database_id, body.model_dump())
    return MappingOut.model_validate(mapping, from_attributes=True)


@router.post("/{database_id}/sync", status_code=status.HTTP_202_ACCEPTED, responses=errors(401, 403, 404, 422))
async def sync_source(database_id: uuid.UUID, user: Admin, state: State) -> JobOut:
    """Queue a sync now (besides the schedule); follow it at /jobs/{id} and /syncs."""
    job = await asyncio.to_thread(state.external.start_sync, user, database_id)
    return JobOut.model_validate(job, from_attributes=True)


@router.get("/{database_id}/syncs", responses=errors(401, 403, 404, 422))
async def list_syncs(
    database_id: uuid.UUID, user: Admin, state: State, page: PageNumber = 1, page_size: PageSize = 50
) -> Page[SyncLogOut]:
    found = await asyncio.to_thread(state.external.syncs, database_id, page=page, page_size=page_size)
    return page_of(SyncLogOut, found)


@router.get("/{database_id}/queries", responses=errors(401, 403, 404, 422))
async def list_queries(
    database_id: uuid.UUID, user: Admin, state: State, page: PageNumber = 1, page_size: PageSize = 50
) -> Page[QueryOut]:
    """Every query sent to the source: its text, parameters, rows, duration and on whose behalf."""
    found = await asyncio.to_thread(state.external.queries, database_id, page=page, page_size=page_size)
    return page_of(QueryOut, found)
