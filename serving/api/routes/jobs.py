"""Long work on the durable queue: list, follow and cancel jobs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.deps import PageNumber, State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.work import JobOut
from serving.auth.policy import Action
from storage.tables import JobStatus, User

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("", responses=errors(401, 403, 422))
async def list_jobs(
    user: Annotated[User, permitted(Action.READ_JOBS)],
    state: State,
    status_: Annotated[list[JobStatus], Query(alias="status")] = [],  # noqa: B006 - FastAPI copies defaults
    kind: str | None = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[JobOut]:
    """Jobs, newest first; investigators see the jobs they started, supervisors and admins all."""
    found = await asyncio.to_thread(state.jobs.find, user, statuses=status_, kind=kind, page=page, page_size=page_size)
    return page_of(JobOut, found)


@router.get("/{job_id}", responses=errors(401, 403, 404, 422))
async def read_job(job_id: uuid.UUID, user: Annotated[User, permitted(Action.READ_JOBS)], state: State) -> JobOut:
    job = await asyncio.to_thread(state.jobs.get, user, job_id)
    return JobOut.model_validate(job, from_attributes=True)


@router.post("/{job_id}/cancel", responses=errors(401, 403, 404, 409, 422))
async def cancel_job(job_id: uuid.UUID, user: Annotated[User, permitted(Action.CANCEL_JOB)], state: State) -> JobOut:
    """Cancel a queued job now, or ask a running one to stop at its next heartbeat."""
    job = await asyncio.to_thread(state.jobs.cancel, user, job_id)
    return JobOut.model_validate(job, from_attributes=True)
