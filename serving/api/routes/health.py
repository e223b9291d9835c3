"""Liveness and readiness: cheap, and open without a token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter, Response

from serving.api.deps import State
from serving.api.schemas.faces import HealthResponse, ReadyResponse

router = APIRouter(prefix="/health", tags=["health"])


@router.get("")
async def live() -> HealthResponse:
    """The gateway answers."""
    return HealthResponse(time=datetime.now(UTC))


@router.get("/ready", responses={503: {"model": ReadyResponse, "description": "Not ready yet."}})
async def ready(state: State, response: Response) -> ReadyResponse:
    """The database answers, the models are loaded and the case gallery is synced."""
    checks = {"database": await asyncio.to_thread(_database_answers, state)}
    faces = state.faces
    for name, call in (
        ("detector", faces.detector.batch_sizes),
        ("embedder", faces.embedder.batch_sizes),
        ("matcher", faces.matcher.ready),
    ):
        try:
            result = await asyncio.wait_for(call.remote(), timeout=5)
            checks[name] = result is not False
        except Exception:
            checks[name] = False
    body = ReadyResponse(ready=all(checks.values()), checks=checks)
    if not body.ready:
        response.status_code = 503
    return body


def _database_answers(state: State) -> bool:
    try:
        with state.db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
