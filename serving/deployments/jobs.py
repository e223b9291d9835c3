"""The JobWorker deployment: takes jobs from the durable queue and runs them, inside the Serve app.

Each replica runs one scan and one other job at a time, each under a lease it renews while
the job runs; a replica that dies loses its leases and another runs the jobs again (a scan
resumes: the photos it stored are skipped). When the queue is empty the
replica turns due schedules (the daily retention cleanup) into jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ray import serve

from configs.settings import Settings
from models.registry import resolve_pack
from serving.metrics import metrics, record_verification
from serving.scans.scanner import Scanner
from serving.services.analysis import ServeAnalyser
from serving.services.audit import audit_anchor, verify_anchored
from serving.services.jobs import RETENTION_JOB, JobHandlers
from serving.services.live_gallery import PackInfo
from serving.services.scans import SCAN_JOB
from serving.services.sync import Syncer
from storage.audit import AuditLog
from storage.database import open_database
from storage.errors import describe_error
from storage.external.credentials import CredentialBox
from storage.job_census import census
from storage.jobs import JobQueue
from storage.photos import PhotoStore
from storage.tables import Job, JobStatus

logger = logging.getLogger(__name__)
CENSUS_SECONDS = 15  # how often the queue's gauges are refreshed


@serve.deployment(name="JobWorker", max_ongoing_requests=16)
class JobWorker:
    async def __init__(self, detector: Any, embedder: Any, settings: Settings) -> None:  # type: ignore[misc]
        # Serve awaits this __init__; detector and embedder are deployment handles.
        if settings.db.url is None or settings.auth.secret_key is None:
            raise ValueError("the job worker needs the database URL and the token key in its settings")
        self.poll_interval_s = settings.jobs.poll_interval_s
        self.db = open_database(settings.db.url.get_secret_value(), data_dir=Path(), migrate=False)
        self.lease = timedelta(seconds=settings.jobs.lease_s)
        pack = resolve_pack(settings.models.pack, settings.models.sources())
        matching = PackInfo.of(pack, settings.matching.policy())
        photos = PhotoStore(settings.photos.directory)
        syncer = Syncer(
            self.db,
            box=CredentialBox.from_secret(settings.credentials_secret()),
            settings=settings.external,
            analyser=ServeAnalyser(detector, embedder),
            photos=photos,
            pack=matching,
        )
        scanner = Scanner(
            self.db,
            photos_dir=settings.photos.directory,
            models=settings.models,
            pipeline=settings.pipeline,
            scan=settings.scan,
            matching=settings.matching,
        )
        self.handlers = JobHandlers(
            self.db,
            photos,
            settings.smtp,
            settings.auth.secret_key.get_secret_value(),
            matching=matching,
            scanner=scanner,
            syncer=syncer,
            lease=self.lease,
        )
        self.name = f"jobs-{serve.get_replica_context().replica_id.unique_id}"
        self.done = {"succeeded": 0, "failed": 0}
        interval = timedelta(seconds=settings.jobs.retention_interval_s)
        with self.db.transaction() as session:
            JobQueue(session).schedule(name="retention-cleanup", kind=RETENTION_JOB, interval=interval)
        # Scans take hours; they run beside the short jobs, never in front of a notification.
        quick = sorted(set(self.handlers.kinds) - {SCAN_JOB})
        self._tasks = [asyncio.create_task(self._run([SCAN_JOB])), asyncio.create_task(self._run(quick))]
        self.anchor = audit_anchor(settings)
        if self.anchor is not None:
            self._tasks.append(asyncio.create_task(self._every(settings.audit.anchor_interval_s, self._anchor)))
        self._tasks.append(asyncio.create_task(self._every(settings.audit.verify_interval_s, self._verify)))
        self._tasks.append(asyncio.create_task(self._every(CENSUS_SECONDS, self._census)))

    async def status(self) -> dict[str, Any]:
        return {"worker": self.name, "running": not any(task.done() for task in self._tasks), **self.done}

    async def _run(self, kinds: list[str]) -> None:
        while True:
            try:
                job = await asyncio.to_thread(self._claim, kinds)
                if job is None:
                    await asyncio.to_thread(self._enqueue_due)
                    await asyncio.sleep(self.poll_interval_s)
                else:
                    await self._execute(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive any single failure
                logger.exception("job worker %s: unexpected failure; continuing", self.name)
                await asyncio.sleep(self.poll_interval_s)

    async def _execute(self, job: Job) -> None:
        outcome = await asyncio.to_thread(self.handlers.execute, job, worker=self.name)
        self.done["succeeded" if outcome is JobStatus.SUCCEEDED else "failed"] += 1

    async def _every(self, seconds: float, chore: Callable[[], None]) -> None:
        """Do ``chore`` now and every ``seconds``; a failed round is logged and tried again next time."""
        while True:
            try:
                await asyncio.to_thread(chore)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("job worker %s: %s failed: %s", self.name, chore.__name__, describe_error(error))
            await asyncio.sleep(seconds)

    def _anchor(self) -> None:
        """The audit chain's head, anchored outside the database (see storage.anchor)."""
        if self.anchor is not None:
            with self.db.transaction() as session:
                self.anchor.record(session)

    def _verify(self) -> None:
        """Walk the audit chain (and its anchors) now and then, so that a broken one raises an alert."""
        with self.db.transaction() as session:
            report = verify_anchored(session, self.anchor)
            details = {"checked": report.checked, "first_bad_seq": report.first_bad_seq, "reason": report.reason}
            outcome = "success" if report.ok else "failure"
            AuditLog(session).append(actor=f"job:{self.name}", action="audit.verify", outcome=outcome, details=details)
        record_verification(report.ok)
        if not report.ok:
            logger.error("audit log broken at entry %s", report.first_bad_seq)

    def _census(self) -> None:
        """The queue's size and the oldest wait per kind, for the metrics (zero where there is none)."""
        with self.db.transaction() as session:
            rows = census(session)
        found = {(kind, status): (count, age) for kind, status, count, age in rows}
        gauges = metrics()
        for kind in self.handlers.kinds:
            for status in (JobStatus.QUEUED, JobStatus.RUNNING):
                gauges.jobs.set(found.get((kind, status), (0, 0.0))[0], tags={"kind": kind, "status": status.value})
            gauges.job_oldest.set(found.get((kind, JobStatus.QUEUED), (0, 0.0))[1], tags={"kind": kind})

    def _claim(self, kinds: list[str]) -> Job | None:
        with self.db.transaction() as session:
            return JobQueue(session).claim(worker=self.name, lease=self.lease, kinds=kinds)

    def _enqueue_due(self) -> None:
        with self.db.transaction() as session:
            JobQueue(session).enqueue_due()
