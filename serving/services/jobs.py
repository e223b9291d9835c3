"""What each kind of queued job does: deliver a notification, enforce retention, scan, retro-search."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from configs.settings import SmtpSettings
from serving.metrics import metrics
from serving.scans.scanner import Scanner
from serving.services.delivery import send_email, send_webhook
from serving.services.live_gallery import PackInfo
from serving.services.notify import DELIVERY_JOBS, Event, Notifier, webhook_secret
from serving.services.retro import RETRO_JOB, retro_search
from serving.services.scans import SCAN_JOB
from serving.services.sync import SYNC_JOB, Syncer
from storage.database import Database
from storage.erasure import ErasureReason, erase_case
from storage.errors import StorageError, describe_error
from storage.jobs import JobQueue
from storage.leases import keep_lease
from storage.photos import PhotoStore
from storage.repositories.cases import CaseRepository
from storage.tables import Job, JobStatus, Notification, NotificationKind, NotificationPreference, User

logger = logging.getLogger(__name__)

RETENTION_JOB = "retention.cleanup"


class UnknownJobError(Exception):
    """Raised when a job's kind has no handler here."""


class JobHandlers:
    def __init__(
        self,
        db: Database,
        photos: PhotoStore,
        smtp: SmtpSettings,
        server_secret: str,
        *,
        matching: PackInfo | None = None,
        scanner: Scanner | None = None,
        syncer: Syncer | None = None,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.db, self.photos, self.smtp, self.server_secret = db, photos, smtp, server_secret
        self.matching, self.scanner, self.syncer, self.lease = matching, scanner, syncer, lease
        self._kinds: dict[str, Callable[[dict[str, Any], Job], dict[str, Any]]] = {
            "deliver.email": self.deliver_email,
            "deliver.webhook": self.deliver_webhook,
            RETENTION_JOB: self.retention_cleanup,
            RETRO_JOB: self.retro_search,
            SCAN_JOB: self.scan,
            SYNC_JOB: self.sync,
        }

    @property
    def kinds(self) -> list[str]:
        return list(self._kinds)

    def execute(self, job: Job, *, worker: str) -> JobStatus:
        """Run a job ``worker`` holds, keeping its lease, and record the outcome; returns the job's status.

        A failure is recorded by ``describe_error`` only: never a bound parameter, an embedding or a name.
        """
        started = time.perf_counter()
        try:
            with keep_lease(self.db, job_id=job.id, worker=worker, lease=self.lease):
                result = self.run(job)
        except Exception as error:
            _observe(job.kind, started, ok=False)
            return self._finish(job, worker, error=describe_error(error))
        _observe(job.kind, started, ok=True)
        return self._finish(job, worker, result=result)

    def run(self, job: Job) -> dict[str, Any]:
        """Do the job; returns its result. Raising fails this attempt (the queue retries)."""
        handler = self._kinds.get(job.kind)
        if handler is None:
            raise UnknownJobError(f"no handler for jobs of kind {job.kind!r}")
        return handler(job.payload, job)

    def deliver_email(self, payload: dict[str, Any], job: Job) -> dict[str, Any]:
        note, preference, user = self._delivery(payload)
        if not preference.enabled:
            return {"skipped": "the preference was turned off"}
        send_email(self.smtp, to=preference.target or user.email, note=note)
        return {"delivered": True}

    def deliver_webhook(self, payload: dict[str, Any], job: Job) -> dict[str, Any]:
        note, preference, _ = self._delivery(payload)
        if not preference.enabled or not preference.target:
            return {"skipped": "the preference was turned off"}
        secret = webhook_secret(self.server_secret, preference.id)
        allowed = self.smtp.webhook_allowed_hosts
        send_webhook(preference.target, secret=secret, note=note, delivery=str(job.id), allowed_hosts=allowed)
        return {"delivered": True}

    def retention_cleanup(self, payload: dict[str, Any], job: Job) -> dict[str, Any]:
        """Erase every case whose retention date has passed, each in its own transaction."""
        with self.db.transaction() as session:
            due = CaseRepository(session).due_for_erasure(on=datetime.now(UTC).date())
        files = 0
        for case_id in due:
            with self.db.transaction() as session:
                report = erase_case(
                    session, case_id=case_id, actor="system:retention", reason=ErasureReason.RETENTION_EXPIRED
                )
            for uri in report.storage_uris:
                self.photos.delete(uri)
            files += len(report.storage_uris)
        partial = self.photos.sweep_partial(timedelta(hours=1))
        logger.info("retention cleanup erased %d cases and %d photo files", len(due), files)
        return {"erased_cases": len(due), "deleted_files": files, "partial_files_removed": partial}

    def retro_search(self, payload: dict[str, Any], job: Job) -> dict[str, Any]:
        if self.matching is None:
            raise UnknownJobError("this worker has no pack to match with")
        with self.db.transaction() as session:
            return retro_search(session, face_id=uuid.UUID(payload["face_id"]), pack=self.matching)

    def scan(self, payload: dict[str, Any], job: Job) -> dict[str, Any]:
        if self.scanner is None:
            raise UnknownJobError("this worker does not run scans")
        return self.scanner.run(job, lease=self.lease)

    def sync(self, payload: dict[str, Any], job: Job) -> dict[str, Any]:
        """One run of an external source; a failed run (remote gone) is a result, not a retry."""
        if self.syncer is None:
            raise UnknownJobError("this worker does not sync external sources")
        return self.syncer.run(uuid.UUID(payload["database_id"]), job_id=job.id, actor=f"job:{job.id}")

    def _finish(
        self, job: Job, worker: str, *, result: dict[str, Any] | None = None, error: str | None = None
    ) -> JobStatus:
        try:
            with self.db.transaction() as session:
                queue = JobQueue(session)
                done = (
                    queue.complete(job_id=job.id, worker=worker, result=result)
                    if error is None
                    else queue.fail(job_id=job.id, worker=worker, error=error)
                )
                if done.created_by_id and done.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                    kind = "finished" if done.status is JobStatus.SUCCEEDED else "failed"
                    event = Event(NotificationKind.JOB_FINISHED, f"Job {done.kind} {kind}", job_id=done.id)
                    Notifier(session).send(event, [done.created_by_id])
                return done.status
        except StorageError as exc:  # e.g. the lease was lost to another worker meanwhile
            logger.warning("job %s: could not record its outcome: %s", job.id, describe_error(exc))
            return JobStatus.FAILED

    def _delivery(self, payload: dict[str, Any]) -> tuple[Notification, NotificationPreference, User]:
        with self.db.transaction() as session:
            note = session.get(Notification, uuid.UUID(payload["notification_id"]))
            preference = session.get(NotificationPreference, uuid.UUID(payload["preference_id"]))
            if note is None or preference is None:
                raise LookupError("the notification or its preference no longer exists")
            user = session.get(User, preference.user_id)
            if user is None:
                raise LookupError("the user of the preference no longer exists")
            for row in (note, preference, user):
                session.expunge(row)
            return note, preference, user


def _observe(kind: str, started: float, *, ok: bool) -> None:
    outcome = "succeeded" if ok else "failed"
    metrics().job_seconds.observe(time.perf_counter() - started, tags={"kind": kind, "outcome": outcome})
    channel = next((c.value for c, delivery in DELIVERY_JOBS.items() if delivery == kind), None)
    if channel is not None:
        metrics().deliveries.inc(tags={"channel": channel, "outcome": "delivered" if ok else "failed"})
