"""Jobs for the API: list, follow and cancel them (investigators only their own), and start archive scans."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from serving.auth.policy import Action, authorize
from serving.errors import PermissionDeniedError
from serving.services.scans import ScanRequest, check_api_source, start_scan
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import ConflictError
from storage.jobs import JobQueue
from storage.repositories.common import Page
from storage.tables import Job, JobPriority, JobStatus, Role, User


class JobService:
    def __init__(self, db: Database, *, pack: str, scan_sources: Sequence[str] = ()) -> None:
        self.db, self.pack, self.scan_sources = db, pack, tuple(scan_sources)

    def find(
        self, user: User, *, statuses: Sequence[JobStatus], kind: str | None, page: int, page_size: int
    ) -> Page[Job]:
        """Jobs, newest first; investigators see the jobs they started, supervisors and admins all."""
        authorize(user, Action.READ_JOBS)
        mine = user.id if user.role is Role.INVESTIGATOR else None
        with self.db.transaction() as session:
            return JobQueue(session).find(
                statuses=statuses, kind=kind, created_by_id=mine, page=page, page_size=page_size
            )

    def get(self, user: User, job_id: uuid.UUID) -> Job:
        authorize(user, Action.READ_JOBS)
        with self.db.transaction() as session:
            job = JobQueue(session).get(job_id=job_id)
            _check_owner(user, job)
            return job

    def cancel(self, user: User, job_id: uuid.UUID) -> Job:
        """Cancel a queued job now, or ask a running one to stop at its next heartbeat."""
        authorize(user, Action.CANCEL_JOB)
        with self.db.transaction() as session:
            queue = JobQueue(session)
            _check_owner(user, queue.get(job_id=job_id))
            job = queue.cancel(job_id=job_id)
            AuditLog(session).append(actor=f"user:{user.id}", action="job.cancel", target_type="job", target_id=job_id)
            session.flush()
            session.refresh(job)
            return job

    def start_scan(self, user: User, *, source: str, source_label: str | None, priority: JobPriority) -> Job:
        """Queue a scan of a configured place on the server (an unfinished scan of the same source is returned)."""
        authorize(user, Action.START_SCAN)
        request = ScanRequest(
            source=check_api_source(source, list(self.scan_sources)), pack=self.pack, source_label=source_label
        )
        with self.db.transaction() as session:
            job, created = start_scan(session, request=request, priority=priority, created_by_id=user.id)
            if not created and not _may_see(user, job):
                raise ConflictError("this source is being scanned already, in a job another user started")
            AuditLog(session).append(actor=f"user:{user.id}", action="scan.start", target_type="job", target_id=job.id)
            session.flush()
            session.refresh(job)
            return job


def _may_see(user: User, job: Job) -> bool:
    return user.role is not Role.INVESTIGATOR or job.created_by_id == user.id


def _check_owner(user: User, job: Job) -> None:
    if not _may_see(user, job):
        raise PermissionDeniedError("investigators see and cancel only the jobs they started")
