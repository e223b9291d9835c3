"""How the job queue stands, for the metrics and `sura status`: counts and the oldest wait per kind."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.tables import Job, JobStatus


def census(session: Session) -> list[tuple[str, JobStatus, int, float]]:
    """(kind, status, how many, seconds the oldest has waited since it could run) of queued and running jobs."""
    waited = sa.func.coalesce(sa.func.max(sa.extract("epoch", sa.func.now() - Job.run_after)), 0)
    query = (
        sa.select(Job.kind, Job.status, sa.func.count(), waited)
        .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .group_by(Job.kind, Job.status)
    )
    return [(kind, status, count, max(float(age), 0.0)) for kind, status, count, age in session.execute(query)]
