"""The audit log, for auditors and administrators: read it and verify its hash chain."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.deps import PageNumber, State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.work import AuditEntryOut, ChainReportOut
from serving.auth.policy import Action
from storage.tables import User

router = APIRouter(prefix="/audit", tags=["audit"])
Auditor = Annotated[User, permitted(Action.READ_AUDIT)]


@router.get("", responses=errors(401, 403, 422))
async def list_entries(
    user: Auditor,
    state: State,
    actor: str | None = None,
    action: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AuditEntryOut]:
    """Entries, newest first. They hold ids and counts, never names or biometric data."""
    found = await asyncio.to_thread(
        state.audit.find,
        user,
        actor=actor,
        actions=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
        page=page,
        page_size=page_size,
    )
    return page_of(AuditEntryOut, found)


@router.get("/verify", responses=errors(401, 403))
async def verify_chain(user: Auditor, state: State) -> ChainReportOut:
    """Walk the whole hash chain; name the first entry that does not check out."""
    report = await asyncio.to_thread(state.audit.verify, user)
    return ChainReportOut(
        ok=report.ok, checked=report.checked, first_bad_seq=report.first_bad_seq, reason=report.reason
    )
