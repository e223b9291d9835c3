"""`sura scan SOURCE`: a folder, archive, list file or object-store prefix, through the whole pipeline.

The command drives a Ray Data job on the cluster at ``RAY_ADDRESS`` (``ray job submit -- sura
scan …``), or on a local Ray it starts itself. Running it again for the same source resumes
an unfinished scan: the job is taken over once its last driver stops renewing the lease, and
photos already stored are skipped. While another driver or a service worker holds the job,
the command follows its progress instead.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import timedelta
from typing import Any

import click

from configs.settings import Settings, get_settings
from models.errors import ModelError
from models.registry import resolve_pack
from serving.cli.common import engine_options, with_overrides
from serving.cli.database import database
from serving.cli.progress import progress
from serving.scans.scanner import Scanner
from serving.scans.sources import SourceError, SourceItem, list_source
from serving.scans.writer import ScanProgress
from serving.services.scans import SCAN_JOB, ScanRequest, normalise_source
from storage.database import Database
from storage.errors import StorageError, describe_error
from storage.indexes import prepare_pack_index
from storage.jobs import JobQueue
from storage.leases import keep_lease
from storage.tables import Job, JobPriority

FAILURES_SHOWN = 20


@click.command("scan")
@click.argument("source")
@engine_options
@click.option("--source-label", help="What the archive is (e.g. 'Shelter intake, March'); kept with each photo.")
@click.option(
    "--priority",
    type=click.Choice(["high", "normal", "low"]),
    default="normal",
    show_default=True,
    help="Job priority.",
)
def scan_command(
    source: str, pack_name: str | None, backend: str | None, device: str | None, source_label: str | None, priority: str
) -> None:
    """Find, store and match every face in SOURCE: a folder (recursive, archives inside opened too),
    a .zip, .tar or .tar.gz, a text file listing paths or URIs, or a URI such as s3://bucket/prefix.

    Every photo is stored once (by content): running the same scan again, or scanning an
    overlapping archive, adds nothing twice, and a scan that was killed resumes where it stopped.
    """
    settings = with_overrides(get_settings(), pack_name, backend, device)
    request = ScanRequest(source=normalise_source(source), pack=settings.models.pack, source_label=source_label)
    try:
        items = list_source(request.source)
        pack = resolve_pack(request.pack, settings.models.sources())  # fetched once here, not by every actor
    except (SourceError, ModelError) as exc:
        raise click.ClickException(str(exc)) from exc
    worker = f"cli:{socket.gethostname()}:{os.getpid()}"
    lease = timedelta(seconds=settings.scan.lease_s)
    with database() as db:
        prepare_pack_index(db, pack=pack.name, dimension=pack.embedding_size)
        job = _claim(db, request, worker, lease, JobPriority[priority.upper()])
        if job is None:
            return  # another driver finished it while we waited
        click.echo(
            f"scan job {job.id}: {len(items)} files" + (f" (attempt {job.attempts})" if job.attempts > 1 else "")
        )
        _connect_ray(settings)
        scanner = Scanner(
            db,
            photos_dir=settings.photos.directory,
            models=settings.models,
            pipeline=settings.pipeline,
            scan=settings.scan,
            matching=settings.matching,
        )
        result = _drive(db, scanner, job, items, worker, lease)
    _report(result)
    if result.get("cancelled"):
        sys.exit(1)


def _claim(db: Database, request: ScanRequest, worker: str, lease: timedelta, priority: JobPriority) -> Job | None:
    """The job to drive: an unfinished scan of this source taken over, or a new one; None if it finished."""
    announced = False
    while True:
        with db.transaction() as session:
            queue = JobQueue(session)
            unfinished = queue.unfinished(kind=SCAN_JOB, payload=request.identity())
            if not unfinished:
                if announced:
                    return None
                return queue.start(
                    kind=SCAN_JOB,
                    worker=worker,
                    lease=lease,
                    payload=request.payload(),
                    priority=priority,
                    max_attempts=5,
                )
            for job in unfinished:
                taken = queue.take(job_id=job.id, worker=worker, lease=lease)
                if taken is not None:
                    return taken
            held = unfinished[0]
        if not announced:
            click.echo(
                f"job {held.id} is scanning this source on {held.lease_owner}; following it "
                f"(it is taken over here if that worker stops)"
            )
            announced = True
        _show(held)
        time.sleep(min(2.0, lease.total_seconds() / 3))


def _show(job: Job) -> None:
    detail = job.progress_detail or {}
    click.echo(f"  {detail.get('seen', 0)}/{detail.get('files', '?')} files, {detail.get('faces', 0)} faces", err=True)


def _connect_ray(settings: Settings) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}
    if not os.environ.get("RAY_ADDRESS") and settings.scan.object_store_mb:
        options["object_store_memory"] = settings.scan.object_store_mb * 2**20
    ray.init(**options)


def _drive(
    db: Database, scanner: Scanner, job: Job, items: list[SourceItem], worker: str, lease: timedelta
) -> dict[str, Any]:
    with progress(len(items), "scanning", "files") as shown:

        def advance(done: ScanProgress) -> None:
            shown.advance_to(done.seen)

        try:
            with keep_lease(db, job_id=job.id, worker=worker, lease=lease):
                result = scanner.run(job, lease=lease, items=items, on_progress=advance)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: run the same command again to resume", err=True)
            sys.exit(130)
        except Exception as exc:
            _fail(db, job, worker, describe_error(exc))
            reason = describe_error(exc)
            raise click.ClickException(f"the scan failed: {reason} (run the same command again to resume)") from exc
    with db.transaction() as session:
        JobQueue(session).complete(job_id=job.id, worker=worker, result=result)
    return result


def _fail(db: Database, job: Job, worker: str, error: str) -> None:
    try:
        with db.transaction() as session:
            JobQueue(session).fail(job_id=job.id, worker=worker, error=error)
    except StorageError:
        pass  # the lease is gone: whoever holds the job now records its outcome


def _report(result: dict[str, Any]) -> None:
    click.echo(
        f"{result['seen']} files: {result['stored']} photos stored with {result['faces']} faces "
        f"and {result['matches']} new matches in all; {result['already_stored']} stored before, "
        f"{result['duplicates']} duplicates, {result['failed']} unreadable"
    )
    for failure in result["failures"][:FAILURES_SHOWN]:
        click.echo(f"  unreadable: {failure['file']}: {failure['reason']}", err=True)
    if result["failed"] > FAILURES_SHOWN:
        click.echo(f"  … and {result['failed'] - FAILURES_SHOWN} more (listed in the job's progress)", err=True)
    if result.get("cancelled"):
        click.echo("the scan was cancelled", err=True)
