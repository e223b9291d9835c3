"""Archive scans started through the API: queued for the job workers, followed at /jobs/{id}."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, status

from serving.api.deps import State, errors, permitted
from serving.api.schemas.work import JobOut, ScanIn
from serving.auth.policy import Action
from serving.services.scans import ScanRequest, check_api_source, start_scan
from storage.audit import AuditLog
from storage.tables import JobPriority, User

router = APIRouter(prefix="/scans", tags=["jobs"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=errors(401, 403, 422))
async def create_scan(body: ScanIn, user: Annotated[User, permitted(Action.START_SCAN)], state: State) -> JobOut:
    """Scan a folder, archive, list file or object-store prefix the server may read (see the settings).

    Every photo is stored once and matched against the open cases; the job's progress says how
    far it got. Asking again while a scan of the same source is unfinished returns that scan.
    """
    source = await asyncio.to_thread(check_api_source, body.source, list(state.scan_sources))
    request = ScanRequest(source=source, pack=state.pack, source_label=body.source_label)
    with state.db.transaction() as session:
        job = start_scan(session, request=request, priority=JobPriority[body.priority.upper()], created_by_id=user.id)
        AuditLog(session).append(actor=f"user:{user.id}", action="scan.start", target_type="job", target_id=job.id)
        session.flush()
        session.refresh(job)
        return JobOut.model_validate(job, from_attributes=True)
