"""Jobs: the list, and one job's progress (a scan's counts), refreshing while it runs."""

from __future__ import annotations

import math
import uuid
from typing import Annotated

from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from serving.api.deps import State
from serving.ui.session import Posted, Signed
from serving.ui.web import PREFIX, page_router, redirect, render
from storage.tables import JobStatus

router = page_router()
PAGE_SIZE = 25
REFRESH_SECONDS = 3
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)


@router.get("/jobs")
def jobs(
    request: Request, state: State, viewer: Signed, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> HTMLResponse:
    """Newest first; investigators see the jobs they started, supervisors and admins all."""
    found = state.jobs.find(viewer.user, statuses=[], kind=None, page=page, page_size=PAGE_SIZE)
    return render(request, "jobs.html", found=found, pages=max(1, math.ceil(found.total / PAGE_SIZE)))


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: uuid.UUID, state: State, viewer: Signed, refresh: bool = True) -> HTMLResponse:
    job = state.jobs.get(viewer.user, job_id)
    running = job.status in UNFINISHED
    detail = job.result if job.result is not None else job.progress_detail
    counts = {k: v for k, v in detail.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    failures = detail.get("failures") if isinstance(detail.get("failures"), list) else []
    return render(
        request,
        "job.html",
        job=job,
        counts=counts,
        failures=failures,
        refresh_seconds=REFRESH_SECONDS if running and refresh else None,
        running=running,
    )


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: uuid.UUID, state: State, viewer: Posted) -> Response:
    state.jobs.cancel(viewer.user, job_id)
    return redirect(f"{PREFIX}/jobs/{job_id}")
