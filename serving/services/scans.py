"""Archive scans: the face pipeline as a Ray Data job; every photo stored once and matched like a sighting.

The driver lists the source, streams it through the stages of ``pipeline.jobs.stages`` and
writes what comes out a batch at a time: one transaction stores a batch's photos, faces and
matches *and* the job's progress, so the job row never claims more than the database holds.
A photo is known by its content hash, so re-running a scan, resuming a killed one or scanning
an overlapping archive stores nothing twice: photos already stored are dropped right after
they are read. Matching uses the open cases as they are when each batch is written.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from configs.settings import ModelSettings, PipelineSettings, ScanSettings
from models.packs import ModelPack
from models.registry import resolve_pack
from pipeline.jobs.sources import SourceItem, list_source
from pipeline.jobs.stages import Batch, EmbedStage, FaceBlock, LocateStage, ReadStage, StageModels
from serving.errors import PermissionDeniedError
from serving.services.sightings import LiveGallery, PackInfo, PhotoRecord, record_sighting
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import InvalidArgumentError, LeaseLostError
from storage.jobs import JobQueue
from storage.tables import ImageSource, Job, JobPriority, JobStatus

logger = logging.getLogger(__name__)

SCAN_JOB = "scan"


@dataclass(frozen=True)
class ScanRequest:
    """What to scan (the job's payload): a folder, archive, list file or URI, with the pack to use."""

    source: str
    pack: str
    source_label: str | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ScanRequest:
        return cls(source=payload["source"], pack=payload["pack"], source_label=payload.get("source_label"))

    def payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanProgress:
    """A scan's counts, kept in the job row.

    ``stored``, ``faces`` and ``matches`` count what the job added, over all its attempts;
    the others count the current attempt (a resumed scan sees its earlier photos as stored).
    """

    files: int = 0
    seen: int = 0
    already_stored: int = 0
    duplicates: int = 0
    failed: int = 0
    stored: int = 0
    faces: int = 0
    matches: int = 0
    attempt: int = 1
    failures: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def resumed(cls, detail: dict[str, Any] | None, *, files: int, attempt: int) -> ScanProgress:
        before = detail or {}
        return cls(
            files=files,
            stored=int(before.get("stored", 0)),
            faces=int(before.get("faces", 0)),
            matches=int(before.get("matches", 0)),
            attempt=attempt,
        )

    @property
    def fraction(self) -> float:
        return self.seen / self.files if self.files else 1.0

    def detail(self) -> dict[str, Any]:
        return asdict(self)


class Scanner:
    """Runs scan jobs: on the Ray cluster this process is connected to, writing to ``db``."""

    def __init__(
        self,
        db: Database,
        *,
        photos_dir: Path,
        models: ModelSettings,
        pipeline: PipelineSettings,
        scan: ScanSettings,
    ) -> None:
        self.db, self.photos_dir = db, photos_dir
        self.models, self.pipeline, self.scan = models, pipeline, scan

    def run(
        self,
        job: Job,
        *,
        lease: timedelta,
        items: list[SourceItem] | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> dict[str, Any]:
        """Scan the job's source to the end (or until cancelled); returns the final counts.

        ``job`` must be held by its ``lease_owner``; the lease is renewed while the scan runs,
        and a lost lease (someone else took the job over) stops it with ``LeaseLostError``.
        ``items`` are the source's files when the caller listed them already.
        """
        request = ScanRequest.from_payload(job.payload)
        items = list_source(request.source) if items is None else items
        pack = resolve_pack(request.pack, self.models.sources())
        progress = ScanProgress.resumed(job.progress_detail, files=len(items), attempt=job.attempts)
        writer = _Writer(self.db, job, pack, request, progress, self.scan, lease)
        logger.info("scan job %s: %d files, attempt %d", job.id, len(items), job.attempts)
        with _heartbeat(self.db, job, lease) as lost:
            for batch in self.batches(items, request) if items else ():
                if lost.is_set():
                    raise LeaseLostError(f"job {job.id} was taken over by another worker")
                cancelled = writer.write(batch)
                if on_progress is not None:
                    on_progress(progress)
                if cancelled:
                    logger.info("scan job %s: cancelled after %d of %d files", job.id, progress.seen, len(items))
                    return {**progress.detail(), "cancelled": True}
        return progress.detail()

    def batches(self, items: list[SourceItem], request: ScanRequest) -> Iterator[Batch]:
        """The pipeline's output for ``items``, a write batch at a time; nothing is stored here."""
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the caller shows one bar for the whole scan
        context.print_on_execution_start = False
        models, scan = self.models, self.scan
        stage_models = StageModels(
            pack=request.pack,
            sources=models.sources(),
            runtime=models.runtime(),
            engine=self.pipeline.engine(),
            max_pixels=self.pipeline.max_pixels,
            max_bytes=self.pipeline.max_bytes,
            decode_workers=self.pipeline.decode_workers,
        )
        gpus = scan.gpus_per_actor(models.device)
        rows = [{"key": item.key, "location": item.location, "member": item.member or ""} for item in items]
        blocks = max(1, min(len(rows) // scan.read_batch, 10_000))
        dsn = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        dataset = (
            ray.data.from_items(rows, override_num_blocks=blocks)
            .map_batches(
                ReadStage,
                fn_constructor_kwargs={"max_bytes": self.pipeline.max_bytes, "dsn": dsn},
                batch_size=scan.read_batch,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=scan.read_actors),
                num_cpus=0.25,
            )
            .map_batches(
                LocateStage,
                fn_constructor_kwargs={"models": stage_models, "photos_dir": str(self.photos_dir)},
                batch_size=scan.locate_batch,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=scan.locate_actors),
                num_cpus=scan.num_cpus,
                num_gpus=gpus,
            )
            .map_batches(
                EmbedStage,
                fn_constructor_kwargs={"models": stage_models},
                batch_size=scan.embed_batch,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=scan.embed_actors),
                num_cpus=scan.num_cpus,
                num_gpus=gpus,
            )
        )
        yield from dataset.iter_batches(batch_size=scan.write_batch, batch_format="numpy")


class _Writer:
    """Stores batches of scanned photos and the job's progress, each batch in one transaction."""

    def __init__(
        self,
        db: Database,
        job: Job,
        pack: ModelPack,
        request: ScanRequest,
        progress: ScanProgress,
        scan: ScanSettings,
        lease: timedelta,
    ) -> None:
        self.db, self.job, self.request, self.progress, self.scan, self.lease = db, job, request, progress, scan, lease
        self.info = PackInfo(pack.name, pack.calibration.threshold())
        self.dimension = pack.embedder.embedding_size
        self.gallery = LiveGallery(self.info, pack.calibration)

    def write(self, batch: Batch) -> bool:
        """Store one batch; True when someone asked to cancel the job."""
        progress = self.progress
        images: list[str] = []  # those stored by this batch
        faces, matches = progress.faces, progress.matches
        with self.db.transaction() as session:
            self.gallery.refresh(session)  # once per batch, not per photo
            for i in range(len(batch["key"])):
                progress.seen += 1
                if batch["error"][i]:
                    progress.failed += 1
                    if len(progress.failures) < self.scan.failures_listed:
                        progress.failures.append({"file": str(batch["key"][i]), "reason": str(batch["error"][i])})
                elif batch["known"][i]:
                    progress.already_stored += 1
                else:
                    self._record(session, batch, i, images)
            if images:  # last: the audit chain's lock is held only until the commit right after
                AuditLog(session).append(
                    actor=f"job:{self.job.id}",
                    action="scan.record",
                    target_type="job",
                    target_id=self.job.id,
                    details={"images": images, "faces": progress.faces - faces, "matches": progress.matches - matches},
                )
            return JobQueue(session).heartbeat(
                job_id=self.job.id,
                worker=str(self.job.lease_owner),
                lease=self.lease,
                progress=progress.fraction,
                detail=progress.detail(),
            )

    def _record(self, session: Any, batch: Batch, i: int, images: list[str]) -> None:
        count = int(batch["faces"][i])
        vectors = np.frombuffer(batch["embeddings"][i], np.float32).reshape(count, self.dimension)
        faces = FaceBlock.from_bytes(batch["block"][i], count).faces(vectors)
        candidates = self.gallery.candidates(vectors, self.scan.matches_per_face)
        photo = PhotoRecord(
            digest=str(batch["digest"][i]),
            uri=str(batch["uri"][i]),
            size=int(batch["size"][i]),
            width=int(batch["width"][i]),
            height=int(batch["height"][i]),
            format=str(batch["format"][i]),
            source=ImageSource.ARCHIVE_SCAN,
            uploaded_by_id=self.job.created_by_id,
            source_label=self.request.source_label,
            source_key=str(batch["key"][i]),
        )
        sighting = record_sighting(
            session,
            photo=photo,
            faces=faces,
            vectors=vectors,
            candidates=candidates,
            pack=self.info,
            actor=f"job:{self.job.id}",
            audit=False,
        )
        if not sighting.created:  # the same photo twice in this source, or stored meanwhile by another scan
            self.progress.duplicates += 1
            return
        images.append(str(sighting.image_id))
        self.progress.stored += 1
        self.progress.faces += len(sighting.faces)
        self.progress.matches += sum(len(face.matches) for face in sighting.faces)


@contextmanager
def _heartbeat(db: Database, job: Job, lease: timedelta) -> Iterator[threading.Event]:
    """Renew the job's lease in the background (model loading can outlast it); the event says it was lost."""
    lost, stop = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                with db.transaction() as session:
                    JobQueue(session).heartbeat(job_id=job.id, worker=str(job.lease_owner), lease=lease)
            except LeaseLostError:
                lost.set()
                return
            except (sa.exc.SQLAlchemyError, OSError) as exc:  # a blip: the next beat tries again
                logger.warning("scan job %s: could not renew the lease: %s", job.id, type(exc).__name__)

    thread = threading.Thread(target=beat, name=f"lease-{job.id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def same_scan(job: Job, request: ScanRequest) -> bool:
    """Whether an unfinished job scans the same source with the same pack (and may be resumed)."""
    return (
        job.kind == SCAN_JOB and job.payload.get("source") == request.source and job.payload.get("pack") == request.pack
    )


def normalise_source(source: str) -> str:
    """A local path made absolute (so the same folder is the same scan from anywhere); URIs as given."""
    return source if "://" in source else str(Path(source).expanduser().resolve())


def check_api_source(source: str, allowed: list[str]) -> str:
    """The normalised source if it lies under an allowed folder or URI prefix (PermissionDeniedError if not).

    The API reads files on the server's side, so only configured places may be scanned from it.
    """
    if not allowed:
        raise PermissionDeniedError("this server allows no scans through the API (see SURA_SCAN__ALLOWED_SOURCES)")
    wanted = normalise_source(source)
    for root in allowed:
        if "://" in root:
            prefix = root.rstrip("/")
            if wanted == prefix or wanted.startswith(prefix + "/"):
                return wanted
        elif "://" not in wanted and Path(wanted).is_relative_to(Path(root).expanduser().resolve()):
            if not Path(wanted).exists():
                raise InvalidArgumentError("no such folder, archive or list file on the server")
            return wanted
    raise PermissionDeniedError("the source lies outside the folders and prefixes this server may scan")


def start_scan(session: Any, *, request: ScanRequest, priority: JobPriority, created_by_id: uuid.UUID | None) -> Job:
    """Queue a scan for the job workers (a scan of the same source still unfinished is returned instead)."""
    queue = JobQueue(session)
    for job in queue.find(statuses=[JobStatus.QUEUED, JobStatus.RUNNING], kind=SCAN_JOB, page_size=200).items:
        if same_scan(job, request):
            return job
    return queue.enqueue(
        kind=SCAN_JOB, payload=request.payload(), priority=priority, max_attempts=5, created_by_id=created_by_id
    )
