"""The JobWorker deployment: takes jobs from the durable queue and runs them, inside the Serve app.

Each replica claims one job at a time under a lease it renews while the job runs; a replica
that dies loses its lease and another runs the job again. When the queue is empty the
replica turns due schedules (the daily retention cleanup) into jobs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from ray import serve

from configs.settings import SmtpSettings
from serving.services.jobs import RETENTION_JOB, JobHandlers
from serving.services.notify import Event, Notifier
from storage.database import open_database
from storage.errors import StorageError
from storage.jobs import JobQueue
from storage.photos import PhotoStore
from storage.tables import Job, JobStatus, NotificationKind

logger = logging.getLogger(__name__)


class JobWorkerConfig(BaseModel):
    db_url: SecretStr
    token_secret: SecretStr
    photos_dir: Path
    smtp: SmtpSettings
    poll_interval_s: float = 1.0
    lease_s: float = 120.0
    retention_interval_s: int = 86_400


@serve.deployment(name="JobWorker", max_ongoing_requests=16)
class JobWorker:
    async def __init__(self, config: JobWorkerConfig) -> None:  # type: ignore[misc]  # Serve awaits it
        self.config = config
        self.db = open_database(config.db_url.get_secret_value(), data_dir=Path(), migrate=False)
        self.handlers = JobHandlers(
            self.db, PhotoStore(config.photos_dir), config.smtp, config.token_secret.get_secret_value()
        )
        self.name = f"jobs-{serve.get_replica_context().replica_id.unique_id}"
        self.lease = timedelta(seconds=config.lease_s)
        self.done = {"succeeded": 0, "failed": 0}
        with self.db.transaction() as session:
            JobQueue(session).schedule(
                name="retention-cleanup", kind=RETENTION_JOB, interval=timedelta(seconds=config.retention_interval_s)
            )
        self._task = asyncio.create_task(self._run())

    async def status(self) -> dict[str, Any]:
        return {"worker": self.name, "running": not self._task.done(), **self.done}

    async def _run(self) -> None:
        while True:
            try:
                job = await asyncio.to_thread(self._claim)
                if job is None:
                    await asyncio.to_thread(self._enqueue_due)
                    await asyncio.sleep(self.config.poll_interval_s)
                else:
                    await self._execute(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive any single failure
                logger.exception("job worker %s: unexpected failure; continuing", self.name)
                await asyncio.sleep(self.config.poll_interval_s)

    async def _execute(self, job: Job) -> None:
        beats = asyncio.create_task(self._heartbeats(job))
        try:
            result = await asyncio.to_thread(self.handlers.run, job)
        except Exception as error:
            outcome = await asyncio.to_thread(self._finish, job, error=f"{type(error).__name__}: {error}")
        else:
            outcome = await asyncio.to_thread(self._finish, job, result=result)
        finally:
            beats.cancel()
        self.done["succeeded" if outcome is JobStatus.SUCCEEDED else "failed"] += 1

    async def _heartbeats(self, job: Job) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            await asyncio.to_thread(self._renew, job)

    def _claim(self) -> Job | None:
        with self.db.transaction() as session:
            return JobQueue(session).claim(worker=self.name, lease=self.lease)

    def _renew(self, job: Job) -> None:
        with self.db.transaction() as session:
            JobQueue(session).heartbeat(job_id=job.id, worker=self.name, lease=self.lease)

    def _enqueue_due(self) -> None:
        with self.db.transaction() as session:
            JobQueue(session).enqueue_due()

    def _finish(self, job: Job, *, result: dict[str, Any] | None = None, error: str | None = None) -> JobStatus:
        try:
            with self.db.transaction() as session:
                queue = JobQueue(session)
                done = (
                    queue.complete(job_id=job.id, worker=self.name, result=result)
                    if error is None
                    else (queue.fail(job_id=job.id, worker=self.name, error=error))
                )
                if done.created_by_id and done.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                    kind = "finished" if done.status is JobStatus.SUCCEEDED else "failed"
                    Notifier(session).send(
                        Event(NotificationKind.JOB_FINISHED, f"Job {done.kind} {kind}", job_id=done.id),
                        [done.created_by_id],
                    )
                return done.status
        except StorageError as exc:  # e.g. the lease was lost to another worker meanwhile
            logger.warning("job %s: could not record its outcome: %s", job.id, exc)
            return JobStatus.FAILED
