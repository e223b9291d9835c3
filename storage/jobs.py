"""A durable job queue in PostgreSQL.

A worker claims a job with ``FOR UPDATE SKIP LOCKED``, so two workers never take the same
one, and holds it under a lease that it renews with ``heartbeat``. A worker that dies stops
renewing; once the lease expires the job is queued again (or failed, when its attempts are
used up). Failures retry with exponential backoff. Schedules are rows with a next-run time
that ``enqueue_due`` turns into jobs. All times are the database's clock, shared by every
worker. Each method runs in the caller's transaction: commit right after ``claim``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.errors import InvalidTransitionError, LeaseLostError
from storage.repositories.common import Page, affected_rows, get_or_raise, paginate
from storage.tables import Job, JobPriority, JobSchedule, JobStatus

MAX_BACKOFF = timedelta(hours=1)
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobQueue:
    def __init__(self, session: Session, *, backoff_base: timedelta = timedelta(seconds=10)) -> None:
        self.session = session
        self.backoff_base = backoff_base

    def enqueue(
        self,
        *,
        kind: str,
        payload: dict[str, Any] | None = None,
        priority: JobPriority = JobPriority.NORMAL,
        max_attempts: int = 3,
        run_after: datetime | None = None,
        created_by_id: uuid.UUID | None = None,
        schedule_id: uuid.UUID | None = None,
    ) -> Job:
        job = Job(
            kind=kind,
            payload=payload or {},
            priority=int(priority),
            status=JobStatus.QUEUED,
            max_attempts=max_attempts,
            created_by_id=created_by_id,
            schedule_id=schedule_id,
        )
        if run_after is not None:
            job.run_after = run_after
        self.session.add(job)
        self.session.flush()
        return job

    def start(
        self,
        *,
        kind: str,
        worker: str,
        lease: timedelta,
        payload: dict[str, Any] | None = None,
        priority: JobPriority = JobPriority.NORMAL,
        max_attempts: int = 3,
        created_by_id: uuid.UUID | None = None,
    ) -> Job:
        """A new job that ``worker`` runs itself, now (a command-line scan): it is never queued first."""
        job = self.enqueue(
            kind=kind, payload=payload, priority=priority, max_attempts=max_attempts, created_by_id=created_by_id
        )
        taken = self.take(job_id=job.id, worker=worker, lease=lease)
        assert taken is not None  # nobody else sees the job before this transaction commits
        return taken

    def take(self, *, job_id: uuid.UUID, worker: str, lease: timedelta) -> Job | None:
        """Claim this job if it is queued or its worker's lease has lapsed; None when someone holds it."""
        takeable = sa.or_(
            Job.status == JobStatus.QUEUED,
            sa.and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < sa.func.now()),
        )
        return self._run(sa.and_(Job.id == job_id, takeable), worker, lease)

    def claim(self, *, worker: str, lease: timedelta, kinds: Sequence[str] | None = None) -> Job | None:
        """Take the most urgent due job (high before low, older first), or None when none is due."""
        self.release_expired()
        candidate = (
            sa.select(Job.id)
            .where(Job.status == JobStatus.QUEUED, Job.run_after <= sa.func.now())
            .order_by(Job.priority, Job.run_after, Job.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if kinds is not None:
            candidate = candidate.where(Job.kind.in_(kinds))
        return self._run(Job.id == candidate.scalar_subquery(), worker, lease)

    def heartbeat(
        self,
        *,
        job_id: uuid.UUID,
        worker: str,
        lease: timedelta,
        progress: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Renew the lease and record progress (0–1); True when someone asked to cancel the job."""
        job = self._held(job_id, worker)
        job.lease_expires_at = sa.func.now() + lease
        if progress is not None:
            job.progress = min(max(progress, 0.0), 1.0)
        if detail is not None:
            job.progress_detail = detail
        self.session.flush()
        return job.cancel_requested

    def complete(self, *, job_id: uuid.UUID, worker: str, result: dict[str, Any] | None = None) -> Job:
        job = self._held(job_id, worker)
        status = JobStatus.CANCELLED if job.cancel_requested else JobStatus.SUCCEEDED
        self._finish(job, status, result=result, progress=1.0 if status is JobStatus.SUCCEEDED else job.progress)
        return job

    def fail(self, *, job_id: uuid.UUID, worker: str, error: str) -> Job:
        """Record a failed attempt: retry after a growing delay, or stop at ``max_attempts``."""
        job = self._held(job_id, worker)
        job.last_error = error
        if job.attempts >= job.max_attempts or job.cancel_requested:
            self._finish(job, JobStatus.CANCELLED if job.cancel_requested else JobStatus.FAILED)
        else:
            delay = min(self.backoff_base * 2 ** (job.attempts - 1), MAX_BACKOFF)
            job.status, job.run_after = JobStatus.QUEUED, sa.func.now() + delay
            job.lease_owner = job.lease_expires_at = None
        self.session.flush()
        return job

    def cancel(self, *, job_id: uuid.UUID) -> Job:
        """Cancel a queued job now; ask a running one to stop (its worker sees it on heartbeat)."""
        job = get_or_raise(self.session, Job, job_id, lock=True)
        if job.status in _FINISHED:
            raise InvalidTransitionError(f"the job has already {job.status}")
        if job.status is JobStatus.QUEUED:
            self._finish(job, JobStatus.CANCELLED)
        else:
            job.cancel_requested = True
            self.session.flush()
        return job

    def release_expired(self) -> int:
        """Free jobs whose worker stopped renewing its lease; returns how many."""
        used_up = Job.attempts >= Job.max_attempts
        statement = (
            sa.update(Job)
            .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < sa.func.now())
            .values(
                status=sa.case((used_up, JobStatus.FAILED.value), else_=JobStatus.QUEUED.value),
                finished_at=sa.case((used_up, sa.func.now()), else_=None),
                last_error=sa.func.concat("the lease of ", Job.lease_owner, " expired: the worker stopped"),
                lease_owner=None,
                lease_expires_at=None,
                run_after=sa.func.now(),
            )
            .execution_options(synchronize_session=False)
        )
        return affected_rows(self.session, statement)

    def get(self, *, job_id: uuid.UUID) -> Job:
        return get_or_raise(self.session, Job, job_id)

    def find(
        self,
        *,
        statuses: Sequence[JobStatus] = (),
        kind: str | None = None,
        created_by_id: uuid.UUID | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page[Job]:
        query = sa.select(Job).order_by(Job.created_at.desc(), Job.id)
        if statuses:
            query = query.where(Job.status.in_(statuses))
        if kind is not None:
            query = query.where(Job.kind == kind)
        if created_by_id is not None:
            query = query.where(Job.created_by_id == created_by_id)
        return paginate(self.session, query, page=page, page_size=page_size)

    def unfinished(self, *, kind: str, payload: dict[str, Any]) -> list[Job]:
        """Queued or running jobs of ``kind`` whose payload holds ``payload`` (oldest first)."""
        query = (
            sa.select(Job)
            .where(
                Job.kind == kind,
                Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                Job.payload.contains(payload),
            )
            .order_by(Job.created_at)
        )
        return list(self.session.scalars(query))

    def enqueue_once(self, *, kind: str, identity: dict[str, Any], **job: Any) -> tuple[Job, bool]:
        """The unfinished job of ``kind`` whose payload holds ``identity``, else a new one (``enqueue``'s
        arguments); True when it is new. Callers racing on the same identity wait for each other."""
        key = json.dumps([kind, identity], sort_keys=True, default=str)
        self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
        if unfinished := self.unfinished(kind=kind, payload=identity):
            return unfinished[0], False
        payload = {**identity, **job.pop("payload", {})}
        return self.enqueue(kind=kind, payload=payload, **job), True

    def schedule(
        self,
        *,
        name: str,
        kind: str,
        interval: timedelta,
        payload: dict[str, Any] | None = None,
        first_run_at: datetime | None = None,
        priority: JobPriority = JobPriority.LOW,
    ) -> JobSchedule:
        """Create or change a recurring job, e.g. the daily retention cleanup."""
        schedule = self.session.scalar(sa.select(JobSchedule).where(JobSchedule.name == name))
        if schedule is None:
            schedule = JobSchedule(name=name, next_run_at=first_run_at or sa.func.now())
            self.session.add(schedule)
        schedule.kind, schedule.payload, schedule.priority = kind, payload or {}, int(priority)
        schedule.enabled = True
        schedule.interval_seconds = int(interval.total_seconds())
        self.session.flush()
        return schedule

    def unschedule(self, *, name: str) -> bool:
        """Stop a recurring job (its row stays, disabled); False when there was none."""
        schedule = self.session.scalar(sa.select(JobSchedule).where(JobSchedule.name == name))
        if schedule is None:
            return False
        schedule.enabled = False
        self.session.flush()
        return True

    def enqueue_due(self) -> list[Job]:
        """One job for every enabled schedule whose time has come; each schedule moves on."""
        due = self.session.scalars(
            sa.select(JobSchedule)
            .where(JobSchedule.enabled, JobSchedule.next_run_at <= sa.func.now())
            .with_for_update(skip_locked=True)
        ).all()
        jobs = []
        for schedule in due:
            jobs.append(
                self.enqueue(
                    kind=schedule.kind,
                    payload=schedule.payload,
                    priority=JobPriority(schedule.priority),
                    max_attempts=schedule.max_attempts,
                    schedule_id=schedule.id,
                )
            )
            schedule.next_run_at = sa.func.now() + timedelta(seconds=schedule.interval_seconds)
        self.session.flush()
        return jobs

    def _run(self, which: sa.ColumnElement[bool], worker: str, lease: timedelta) -> Job | None:
        """Mark the job ``which`` selects as running under ``worker``'s lease; None when there is none."""
        statement = (
            sa.update(Job)
            .where(which)
            .values(
                status=JobStatus.RUNNING,
                lease_owner=worker,
                lease_expires_at=sa.func.now() + lease,
                attempts=Job.attempts + 1,
                started_at=sa.func.coalesce(Job.started_at, sa.func.now()),
            )
            .returning(Job)
        )
        return self.session.scalars(statement, execution_options={"populate_existing": True}).one_or_none()

    def _held(self, job_id: uuid.UUID, worker: str) -> Job:
        job = get_or_raise(self.session, Job, job_id, lock=True)
        if job.status is not JobStatus.RUNNING or job.lease_owner != worker:
            raise LeaseLostError(f"worker {worker} no longer holds job {job_id} (it is {job.status})")
        return job

    def _finish(
        self, job: Job, status: JobStatus, *, result: dict[str, Any] | None = None, progress: float | None = None
    ) -> None:
        job.status, job.finished_at = status, sa.func.now()
        job.lease_owner = job.lease_expires_at = None
        if result is not None:
            job.result = result
        if progress is not None:
            job.progress = progress
        self.session.flush()
