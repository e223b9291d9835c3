"""Archive scans: the face pipeline as a Ray Data job; every photo stored once and matched like a sighting.

The driver lists the source, streams it through the stages of ``serving.scans.stages`` and
writes what comes out a batch at a time (``serving.scans.writer``): one transaction stores a
batch's photos, faces and matches *and* the job's progress, so the job row never claims more
than the database holds. A photo is known by its content hash, so re-running a scan,
resuming a killed one or scanning an overlapping archive stores nothing twice: photos
already stored are dropped right after they are read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from configs.faces import MatchingSettings, ModelSettings, PipelineSettings
from configs.settings import ScanSettings
from models.registry import resolve_pack
from serving.scans.sources import SourceItem, list_source
from serving.scans.stages import Batch, EmbedStage, LocateStage, ReadStage, StageModels
from serving.scans.writer import BatchWriter, ScanProgress
from serving.services.retro import queue_children_retro
from serving.services.scans import ScanRequest
from storage.database import Database
from storage.tables import Job

logger = logging.getLogger(__name__)


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
        matching: MatchingSettings | None = None,
    ) -> None:
        self.db, self.photos_dir = db, photos_dir
        self.models, self.pipeline, self.scan = models, pipeline, scan
        self.policy = (matching or MatchingSettings()).policy()

    def run(
        self,
        job: Job,
        *,
        lease: timedelta,
        items: list[SourceItem] | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> dict[str, Any]:
        """Scan the job's source to the end (or until cancelled); returns the final counts.

        ``job`` must be held by its ``lease_owner``, who keeps the lease (``keep_lease``); each
        batch renews it too, and a lost lease (someone else took the job over) stops the scan
        with ``LeaseLostError``. ``items`` are the source's files when the caller listed them.
        A job someone started through the API (it names who) is listed within the allowed sources
        as it runs, so a list file changed since, or a link, cannot take it elsewhere.
        """
        request = ScanRequest.from_payload(job.payload)
        if items is None:
            allowed = self.scan.allowed_sources if job.created_by_id is not None else None
            items = list_source(request.source, allowed=allowed)
        pack = resolve_pack(request.pack, self.models.sources())
        progress = ScanProgress.resumed(job.progress_detail, files=len(items), attempt=job.attempts)
        writer = BatchWriter(self.db, job, pack, request, progress, self.scan, lease, self.policy)
        logger.info("scan job %s: %d files, attempt %d", job.id, len(items), job.attempts)
        try:
            for batch in self.batches(items, request) if items else ():
                cancelled = writer.write(batch)
                if on_progress is not None:
                    on_progress(progress)
                if cancelled:
                    logger.info("scan job %s: cancelled after %d of %d files", job.id, progress.seen, len(items))
                    return {**progress.detail(), "cancelled": True}
            return progress.detail()
        finally:
            if progress.stored:  # what was stored, even by a scan that stops early
                with self.db.transaction() as session:
                    queue_children_retro(session, pack=pack.name, policy=self.policy)

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
        db_url = SecretStr(self.db.engine.url.render_as_string(hide_password=False))
        dataset = (
            ray.data.from_items(rows, override_num_blocks=blocks)
            .map_batches(
                ReadStage,
                fn_constructor_kwargs={"max_bytes": self.pipeline.max_bytes, "db_url": db_url},
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
