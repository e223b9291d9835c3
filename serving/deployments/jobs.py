"""The JobWorker deployment: takes jobs from the durable queue and runs them, inside the Serve app.

Each replica runs one scan and one other job at a time, each under a lease it renews while
the job runs; a replica that dies loses its leases and another runs the jobs again (a scan
resumes: the photos it stored are skipped). When the queue is empty the
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

from configs.settings import ExternalSettings, ModelSettings, PipelineSettings, ScanSettings, SmtpSettings
from models.packs import Calibration
from serving.services.analysis import ServeAnalyser
from serving.services.jobs import RETENTION_JOB, JobHandlers, Matching
from serving.services.notify import Event, Notifier
from serving.services.scans import SCAN_JOB, Scanner
from serving.services.sightings import PackInfo
from serving.services.sync import Syncer
from storage.database import open_database
from storage.errors import StorageError
from storage.external.credentials import CredentialBox
from storage.jobs import JobQueue
from storage.photos import PhotoStore
from storage.tables import Job, JobStatus, NotificationKind

logger = logging.getLogger(__name__)


class JobWorkerConfig(BaseModel):
    db_url: SecretStr
    token_secret: SecretStr
    photos_dir: Path
    smtp: SmtpSettings
    pack: str
    calibration: list[tuple[float, float]]
    operating_far: float
    models: ModelSettings
    pipeline: PipelineSettings
    scan: ScanSettings
    credentials_secret: SecretStr
    external: ExternalSettings
    poll_interval_s: float = 1.0
    lease_s: float = 120.0
    retention_interval_s: int = 86_400


@serve.deployment(name="JobWorker", max_ongoing_requests=16)
class JobWorker:
    async def __init__(self, detector: Any, embedder: Any, config: JobWorkerConfig) -> None:  # type: ignore[misc]
        self.config = config  # Serve awaits this __init__; detector and embedder are deployment handles
        self.db = open_database(config.db_url.get_secret_value(), data_dir=Path(), migrate=False)
        self.lease = timedelta(seconds=config.lease_s)
        calibration = Calibration(points=tuple(config.calibration), source="pack", operating_far=config.operating_far)
        scanner = Scanner(
            self.db, photos_dir=config.photos_dir, models=config.models, pipeline=config.pipeline, scan=config.scan
        )
        photos = PhotoStore(config.photos_dir)
        pack = PackInfo(config.pack, calibration.threshold())
        syncer = Syncer(
            self.db,
            box=CredentialBox.from_secret(config.credentials_secret.get_secret_value()),
            settings=config.external,
            analyser=ServeAnalyser(detector, embedder),
            photos=photos,
            pack=pack,
            calibration=calibration,
        )
        self.handlers = JobHandlers(
            self.db,
            photos,
            config.smtp,
            config.token_secret.get_secret_value(),
            matching=Matching(config.pack, calibration),
            scanner=scanner,
            syncer=syncer,
            lease=self.lease,
        )
        self.name = f"jobs-{serve.get_replica_context().replica_id.unique_id}"
        self.done = {"succeeded": 0, "failed": 0}
        with self.db.transaction() as session:
            JobQueue(session).schedule(
                name="retention-cleanup", kind=RETENTION_JOB, interval=timedelta(seconds=config.retention_interval_s)
            )
        # Scans take hours; they run beside the short jobs, never in front of a notification.
        quick = sorted(set(self.handlers.kinds) - {SCAN_JOB})
        self._tasks = [asyncio.create_task(self._run([SCAN_JOB])), asyncio.create_task(self._run(quick))]

    async def status(self) -> dict[str, Any]:
        return {"worker": self.name, "running": not any(task.done() for task in self._tasks), **self.done}

    async def _run(self, kinds: list[str]) -> None:
        while True:
            try:
                job = await asyncio.to_thread(self._claim, kinds)
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

    def _claim(self, kinds: list[str]) -> Job | None:
        with self.db.transaction() as session:
            return JobQueue(session).claim(worker=self.name, lease=self.lease, kinds=kinds)

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
