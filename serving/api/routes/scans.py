"""Archive scans started through the API: queued for the job workers, followed at /jobs/{id}."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, status

from serving.api.deps import State, errors, permitted
from serving.api.schemas.work import JobOut, ScanIn
from serving.auth.policy import Action
from storage.tables import JobPriority, User

router = APIRouter(prefix="/scans", tags=["jobs"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=errors(401, 403, 409, 422))
async def create_scan(body: ScanIn, user: Annotated[User, permitted(Action.START_SCAN)], state: State) -> JobOut:
    """Scan a folder, archive, list file or object-store prefix the server may read (see the settings).

    Every photo is stored once and matched against the open cases; the job's progress says how
    far it got. Asking again while a scan of the same source is unfinished returns that scan; 409
    when it is another investigator's (whose jobs you do not see).
    """
    job = await asyncio.to_thread(
        state.jobs.start_scan,
        user,
        source=body.source,
        source_label=body.source_label,
        priority=JobPriority[body.priority.upper()],
    )
    return JobOut.model_validate(job, from_attributes=True)
