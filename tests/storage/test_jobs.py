"""The job queue: racing workers, dead workers, failing jobs, priorities, schedules, cancels."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.errors import InvalidTransitionError, LeaseLostError
from storage.jobs import JobQueue
from storage.tables import Job, JobPriority, JobStatus

LEASE = timedelta(seconds=30)


def _claim(db: Database, worker: str, lease: timedelta = LEASE) -> Job | None:
    with db.transaction() as session:
        return JobQueue(session).claim(worker=worker, lease=lease)


def test_two_racing_workers_run_each_job_once(db: Database) -> None:
    with db.transaction() as session:
        queue = JobQueue(session)
        expected = {queue.enqueue(kind="process_image", payload={"n": n}).id for n in range(200)}
    done: list[tuple[str, uuid.UUID]] = []

    def work(name: str) -> None:
        while (job := _claim(db, name)) is not None:
            with db.transaction() as session:
                JobQueue(session).complete(job_id=job.id, worker=name, result={"by": name})
            done.append((name, job.id))

    workers = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert Counter(job_id for _, job_id in done) == Counter(expected), "a job ran twice or never"
    assert {name for name, _ in done} == {"worker-0", "worker-1"}
    with db.transaction() as session:
        rows = session.execute(sa.select(Job.status, Job.attempts, Job.result)).all()
    assert all(status is JobStatus.SUCCEEDED and attempts == 1 for status, attempts, _ in rows)


KILLED_WORKER = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker
    from storage.database import Database
    from storage.jobs import JobQueue
    engine = sa.create_engine(sys.argv[1])
    db = Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
    with db.transaction() as session:
        job = JobQueue(session).claim(worker="doomed", lease=timedelta(seconds=1.5))
    print(job.id, flush=True)
    time.sleep(600)
    """
)


def test_a_killed_worker_loses_its_job_to_another(db: Database, database_url: str) -> None:
    with db.transaction() as session:
        job_id = JobQueue(session).enqueue(kind="archive_scan").id
    doomed = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, database_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert doomed.stdout is not None
    assert doomed.stdout.readline().strip() == str(job_id)
    doomed.kill()
    doomed.wait()
    assert _claim(db, "survivor") is None, "the lease has not expired yet"
    deadline = time.monotonic() + 10
    while (job := _claim(db, "survivor")) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job is not None and job.id == job_id
    assert job.attempts == 2 and job.lease_owner == "survivor"
    assert "lease of doomed expired" in (job.last_error or "")


def test_failing_job_stops_at_max_attempts_with_its_last_error(db: Database) -> None:
    with db.transaction() as session:
        job_id = JobQueue(session).enqueue(kind="sync", max_attempts=3).id
    for attempt in range(1, 4):
        deadline = time.monotonic() + 5
        while (job := _claim(db, "w")) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job is not None and job.attempts == attempt
        with db.transaction() as session:
            failed = JobQueue(session, backoff_base=timedelta(milliseconds=50)).fail(
                job_id=job_id, worker="w", error=f"remote database timed out ({attempt})"
            )
    assert failed.status is JobStatus.FAILED and failed.last_error == "remote database timed out (3)"
    assert _claim(db, "w") is None


def test_backoff_delays_the_retry(db: Database) -> None:
    with db.transaction() as session:
        job_id = JobQueue(session).enqueue(kind="sync").id
    assert _claim(db, "w") is not None
    with db.transaction() as session:
        retry = JobQueue(session, backoff_base=timedelta(minutes=5)).fail(job_id=job_id, worker="w", error="e")
        assert retry.status is JobStatus.QUEUED
        assert retry.run_after > datetime.now(UTC) + timedelta(minutes=4)
    assert _claim(db, "w") is None


def test_high_priority_first(db: Database) -> None:
    with db.transaction() as session:
        queue = JobQueue(session)
        low = queue.enqueue(kind="cleanup", priority=JobPriority.LOW).id
        normal = queue.enqueue(kind="scan").id
        high = queue.enqueue(kind="sighting", priority=JobPriority.HIGH).id
    assert [_claim(db, "w").id for _ in range(3)] == [high, normal, low]  # type: ignore[union-attr]


def test_schedules_enqueue_when_due_and_move_on(db: Database) -> None:
    with db.transaction() as session:
        queue = JobQueue(session)
        queue.schedule(
            name="daily-retention",
            kind="retention_cleanup",
            interval=timedelta(days=1),
            first_run_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        queue.schedule(
            name="later", kind="sync", interval=timedelta(hours=1), first_run_at=datetime.now(UTC) + timedelta(hours=1)
        )
    with db.transaction() as session:
        [job] = JobQueue(session).enqueue_due()
        assert job.kind == "retention_cleanup" and job.priority == JobPriority.LOW
    with db.transaction() as session:
        assert JobQueue(session).enqueue_due() == []


def test_cancel_queued_and_running_jobs(db: Database) -> None:
    with db.transaction() as session:
        queue = JobQueue(session)
        queued = queue.enqueue(kind="scan").id
        running = queue.enqueue(kind="scan", priority=JobPriority.HIGH).id
    assert _claim(db, "w").id == running  # type: ignore[union-attr]
    with db.transaction() as session:
        queue = JobQueue(session)
        assert queue.cancel(job_id=queued).status is JobStatus.CANCELLED
        assert queue.cancel(job_id=running).status is JobStatus.RUNNING
    with db.transaction() as session:
        queue = JobQueue(session)
        assert queue.heartbeat(job_id=running, worker="w", lease=LEASE, progress=0.5) is True
        assert queue.complete(job_id=running, worker="w").status is JobStatus.CANCELLED
    with pytest.raises(InvalidTransitionError, match="already cancelled"), db.transaction() as session:
        JobQueue(session).cancel(job_id=queued)


def test_a_worker_whose_lease_expired_cannot_report(db: Database) -> None:
    with db.transaction() as session:
        job_id = JobQueue(session).enqueue(kind="scan").id
    assert _claim(db, "slow", lease=timedelta(milliseconds=200)) is not None
    time.sleep(0.3)
    assert _claim(db, "fast").id == job_id  # type: ignore[union-attr]
    with pytest.raises(LeaseLostError, match="no longer holds"), db.transaction() as session:
        JobQueue(session).heartbeat(job_id=job_id, worker="slow", lease=LEASE)
