"""Syncing an external source: new and changed records since the watermark, their photos as sightings.

One run reads pages of rows after the source's watermark, oldest change first. Each record is
upserted by (source, remote id): unchanged content is skipped; new or changed content is stored,
and its photo (a bytes column, a URL fetched through the SSRF guard, or a file under the
mapping's folder) goes through the face pipeline and is recorded like any sighting, with
matches and notifications. Every page commits its records and moves the watermark, so a run
that fails (the remote went away) keeps what it imported and the next run goes on from there.
Every remote query lands in the query log; the run's counts in its sync log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from configs.settings import ExternalSettings
from pipeline.errors import ImageError
from serving.external.fetch import FetchError, FetchRefusedError, fetch
from serving.external.remote import RemoteError, RemoteSource, Watermark, open_source
from serving.metrics import metrics
from serving.services.analysis import Analyser, PhotoFaces
from serving.services.live_gallery import LiveGallery, PackInfo
from serving.services.retro import queue_children_retro
from serving.services.sightings import PhotoRecord, SightingRecorder
from serving.services.sync_records import (
    SyncCounts,
    connection_of,
    fetch_limits,
    plain,
    query_logger,
    read_under,
    record_digest,
    selection_of,
    sync_summary,
    write_counts,
)
from storage.database import Database
from storage.errors import describe_error
from storage.external.credentials import CredentialBox, CredentialsError
from storage.photos import PhotoStore
from storage.repositories.external import ExternalRepository
from storage.tables import ExternalDatabase, ImageSource, PhotoKind, SchemaMapping, SyncLog, SyncStatus

logger = logging.getLogger(__name__)

SYNC_JOB = "external.sync"


class SyncError(Exception):
    """Raised when a source cannot be synced at all (disabled, no mapping); the sync log says why."""


class Syncer:
    """Runs syncs; ``analyser`` finds the faces (the Serve chain in a worker, an engine elsewhere)."""

    def __init__(
        self,
        db: Database,
        *,
        box: CredentialBox,
        settings: ExternalSettings,
        analyser: Analyser,
        photos: PhotoStore,
        pack: PackInfo,
    ) -> None:
        self.db, self.box, self.settings, self.analyser, self.photos = db, box, settings, analyser, photos
        self.recorder = SightingRecorder(pack, LiveGallery(pack), bulk=True)

    def run(
        self,
        database_id: uuid.UUID,
        *,
        job_id: uuid.UUID | None = None,
        actor: str = "system:sync",
        on_page: Callable[[SyncCounts], None] | None = None,
    ) -> dict[str, Any]:
        """One sync run of the source; returns its sync log as a dict (a failed run included)."""
        with self.db.transaction() as session:
            repository = ExternalRepository(session)
            source = repository.get(database_id=database_id)
            mapping = repository.mapping(database_id=database_id)
            log = repository.start_sync(database_id=database_id, job_id=job_id, watermark=source.watermark)
            session.expunge(source)
            if mapping is not None:
                session.expunge(mapping)
        counts, error = SyncCounts(), None
        remote: RemoteSource | None = None
        started = datetime.now(UTC)
        try:
            if not source.enabled:
                raise SyncError("the source is disabled")
            if mapping is None or mapping.validated_at is None:
                raise SyncError("the source has no validated mapping yet")
            remote = open_source(
                connection_of(source, self.box),
                log=query_logger(self.db, database_id, log.id, actor),
                statement_timeout_ms=self.settings.statement_timeout_ms,
                limits=fetch_limits(self.settings),
                own_database=self.db.engine.url,
            )
            self._pages(source, mapping, remote, counts, log.id, actor, on_page)
        except (RemoteError, SyncError, CredentialsError) as exc:
            error = str(exc)
        except Exception as exc:  # recorded, then raised again so the job is retried
            error = describe_error(exc)
            self._finish(log.id, database_id, counts, error, started)
            raise
        finally:
            if remote is not None:
                remote.close()
        if counts.photos:
            with self.db.transaction() as session:
                queue_children_retro(session, pack=self.recorder.pack.name, policy=self.recorder.pack.policy)
        return self._finish(log.id, database_id, counts, error, started)

    def _pages(
        self,
        source: ExternalDatabase,
        mapping: SchemaMapping,
        remote: RemoteSource,
        counts: SyncCounts,
        log_id: uuid.UUID,
        actor: str,
        on_page: Callable[[SyncCounts], None] | None,
    ) -> None:
        selection = selection_of(mapping, self.settings.photo_max_bytes)
        watermark = Watermark.load(source.watermark)
        while counts.seen < self.settings.max_rows_per_sync:
            limit = min(self.settings.page_size, self.settings.max_rows_per_sync - counts.seen)
            rows = remote.page(selection, watermark, limit)
            # Once a page, not once a record; a case opened mid-page is matched from the next page on.
            with self.db.transaction() as session:
                self.recorder.refresh(session)
            for row in rows:
                self._record(source, mapping, row, counts, actor)
            finished = len(rows) < limit
            if rows:
                last = rows[-1]
                watermark = Watermark(
                    last.get(mapping.updated_column) if mapping.updated_column else None, last[mapping.id_column]
                )
            if finished and not mapping.updated_column:
                watermark = None  # without a change column every run reads everything (unchanged rows are skipped)
            with self.db.transaction() as session:
                row_of = ExternalRepository(session).get(database_id=source.id, lock=True)
                row_of.watermark = watermark.dump() if watermark else None
                write_counts(session.get_one(SyncLog, log_id), counts)
            if on_page is not None:
                on_page(counts)
            if finished:
                return

    def _record(
        self, source: ExternalDatabase, mapping: SchemaMapping, row: dict[str, Any], counts: SyncCounts, actor: str
    ) -> None:
        counts.seen += 1
        remote_id = str(row[mapping.id_column])
        data = {target: plain(row.get(column)) for target, column in mapping.field_map.items()}
        reference = row.get(mapping.photo_column) if mapping.photo_column else None
        digest = record_digest(data, reference)
        with self.db.transaction() as session:
            if ExternalRepository(session).record_digest(database_id=source.id, remote_id=remote_id) == digest:
                counts.unchanged += 1
                return
        found, photo, problem = None, None, None
        if reference not in (None, b"", ""):
            photo, problem = self._photo(source, mapping, reference)
        if photo is not None:  # the slow part, outside any transaction
            try:
                found = self.analyser.analyse(photo)
            except ImageError as exc:
                problem = f"the photo is unreadable: {exc}"
        if problem:
            counts.failed += 1
            data = {**data, "photo_error": problem}
        updated = row.get(mapping.updated_column) if mapping.updated_column else None
        with self.db.transaction() as session:
            record, outcome = ExternalRepository(session).upsert_record(
                database_id=source.id,
                remote_id=remote_id,
                remote_updated=None if updated is None else str(plain(updated)),
                digest=digest,
                data=data,
            )
            setattr(counts, outcome, getattr(counts, outcome) + 1)
            if outcome != "unchanged" and photo is not None and found is not None:
                taken_at = event_time(data.get("event_date"))
                self._sighting(session, photo, found, record.id, source, remote_id, counts, actor, taken_at)

    def _photo(
        self, source: ExternalDatabase, mapping: SchemaMapping, reference: Any
    ) -> tuple[bytes | None, str | None]:
        """The photo's bytes, or why there are none (the record is imported either way)."""
        limits = fetch_limits(self.settings)
        try:
            if mapping.photo_kind is PhotoKind.BYTES:  # read one byte past the limit at most (selection_of)
                if len(reference) > limits.max_bytes:
                    return None, f"the photo is over the limit of {limits.max_bytes} bytes"
                return bytes(reference), None
            if mapping.photo_kind is PhotoKind.URL:
                return fetch(str(reference), allowed_hosts=source.allowed_hosts or (), limits=limits), None
            return read_under(Path(mapping.photo_root or "/nonexistent"), str(reference), limits.max_bytes), None
        except (FetchError, FetchRefusedError, OSError, ValueError, TypeError) as exc:
            return None, f"cannot get the photo: {exc}"

    def _sighting(
        self,
        session: Session,
        photo: bytes,
        found: PhotoFaces,
        record_id: uuid.UUID,
        source: ExternalDatabase,
        remote_id: str,
        counts: SyncCounts,
        actor: str,
        taken_at: datetime | None,
    ) -> None:
        digest, uri = self.photos.put(photo, suffix="." + found.format.lower() if found.format != "unknown" else "")
        sighting = self.recorder.record(
            session,
            photo=PhotoRecord(
                digest=digest,
                uri=uri,
                size=len(photo),
                width=found.width,
                height=found.height,
                format=found.format,
                source=ImageSource.EXTERNAL_DATABASE,
                uploaded_by_id=None,
                source_label=source.name[:200],
                source_key=remote_id,
                external_record_id=record_id,
                taken_at=taken_at,
            ),
            faces=found.faces,
            vectors=found.vectors,
            actor=actor,
        )
        if sighting.created:
            counts.photos += 1
            counts.faces += len(sighting.faces)
            counts.matches += sum(len(face.matches) for face in sighting.faces)

    def _finish(
        self, log_id: uuid.UUID, database_id: uuid.UUID, counts: SyncCounts, error: str | None, started: datetime
    ) -> dict[str, Any]:
        with self.db.transaction() as session:
            log = session.get_one(SyncLog, log_id)
            write_counts(log, counts)
            log.status = SyncStatus.FAILED if error else SyncStatus.SUCCEEDED
            log.error, log.finished_at = error, sa.func.now()
            source = ExternalRepository(session).get(database_id=database_id, lock=True)
            log.watermark_after = source.watermark
            source.last_sync_at = started
            session.flush()
            session.refresh(log)
        for outcome in ("created", "updated", "unchanged", "failed"):
            if rows := getattr(counts, outcome):  # Ray's counters refuse an increment of 0
                metrics().sync_rows.inc(rows, tags={"outcome": outcome})
        return sync_summary(log)


def event_time(value: Any) -> datetime | None:
    """A record's event date as the moment its photo was taken (a day alone: its start, UTC; a time without
    a zone: UTC); None when the source gives none or something that is not a date."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
