"""External sources, their mappings, imported records, sync runs and the log of every remote query."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.repositories.common import Page, get_or_raise, paginate
from storage.tables import ExternalDatabase, ExternalRecord, QueryLog, SchemaMapping, SyncLog, SyncStatus

Outcome = Literal["created", "updated", "unchanged"]


class ExternalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, source: ExternalDatabase) -> ExternalDatabase:
        self.session.add(source)
        self.session.flush()
        return source

    def get(self, *, database_id: uuid.UUID, lock: bool = False) -> ExternalDatabase:
        return get_or_raise(self.session, ExternalDatabase, database_id, lock=lock)

    def find(self, *, page: int = 1, page_size: int = 50) -> Page[ExternalDatabase]:
        query = sa.select(ExternalDatabase).order_by(ExternalDatabase.name)
        return paginate(self.session, query, page=page, page_size=page_size)

    def delete(self, *, database_id: uuid.UUID) -> None:
        self.session.delete(self.get(database_id=database_id))
        self.session.flush()

    def mapping(self, *, database_id: uuid.UUID) -> SchemaMapping | None:
        return self.session.scalar(sa.select(SchemaMapping).where(SchemaMapping.database_id == database_id))

    def set_mapping(self, *, database_id: uuid.UUID, **fields: Any) -> SchemaMapping:
        mapping = self.mapping(database_id=database_id)
        if mapping is None:
            mapping = SchemaMapping(database_id=database_id, **fields)
            self.session.add(mapping)
        else:
            for name, value in fields.items():
                setattr(mapping, name, value)
        self.session.flush()
        return mapping

    def record_digest(self, *, database_id: uuid.UUID, remote_id: str) -> str | None:
        """The content hash of the record as last imported, or None if it never was."""
        return self.session.scalar(
            sa.select(ExternalRecord.content_sha256).where(
                ExternalRecord.database_id == database_id, ExternalRecord.remote_id == remote_id
            )
        )

    def upsert_record(
        self, *, database_id: uuid.UUID, remote_id: str, remote_updated: str | None, digest: str, data: dict[str, Any]
    ) -> tuple[ExternalRecord, Outcome]:
        """The record (database, remote id) as it now is, and whether this call created or changed it."""
        existing = self.session.scalar(
            sa.select(ExternalRecord)
            .where(ExternalRecord.database_id == database_id, ExternalRecord.remote_id == remote_id)
            .with_for_update()
        )
        if existing is not None:
            if existing.content_sha256 == digest:
                return existing, "unchanged"
            existing.content_sha256, existing.data, existing.remote_updated = digest, data, remote_updated
            self.session.flush()
            return existing, "updated"
        statement = (
            insert(ExternalRecord)
            .values(
                id=uuid.uuid4(),
                database_id=database_id,
                remote_id=remote_id,
                remote_updated=remote_updated,
                content_sha256=digest,
                data=data,
            )
            .on_conflict_do_nothing(index_elements=["database_id", "remote_id"])
            .returning(ExternalRecord)
        )
        created = self.session.scalars(statement).one_or_none()
        if created is None:  # another sync of the same source inserted it meanwhile
            return self.upsert_record(
                database_id=database_id, remote_id=remote_id, remote_updated=remote_updated, digest=digest, data=data
            )
        return created, "created"

    def records(self, *, database_id: uuid.UUID) -> int:
        query = sa.select(sa.func.count()).select_from(ExternalRecord).where(ExternalRecord.database_id == database_id)
        return int(self.session.scalar(query) or 0)

    def start_sync(self, *, database_id: uuid.UUID, job_id: uuid.UUID | None, watermark: str | None) -> SyncLog:
        log = SyncLog(database_id=database_id, job_id=job_id, status=SyncStatus.RUNNING, watermark_before=watermark)
        self.session.add(log)
        self.session.flush()
        return log

    def syncs(self, *, database_id: uuid.UUID, page: int = 1, page_size: int = 50) -> Page[SyncLog]:
        query = (
            sa.select(SyncLog).where(SyncLog.database_id == database_id).order_by(SyncLog.started_at.desc(), SyncLog.id)
        )
        return paginate(self.session, query, page=page, page_size=page_size)

    def log_query(
        self,
        *,
        database_id: uuid.UUID,
        sync_log_id: uuid.UUID | None,
        text: str,
        parameters: dict[str, Any],
        rows: int | None,
        duration_ms: float,
        actor: str,
    ) -> QueryLog:
        entry = QueryLog(
            database_id=database_id,
            sync_log_id=sync_log_id,
            query_text=text,
            parameters=parameters,
            row_count=rows,
            duration_ms=duration_ms,
            actor=actor,
        )
        self.session.add(entry)
        self.session.flush()
        return entry

    def queries(self, *, database_id: uuid.UUID, page: int = 1, page_size: int = 50) -> Page[QueryLog]:
        query = (
            sa.select(QueryLog)
            .where(QueryLog.database_id == database_id)
            .order_by(QueryLog.created_at.desc(), QueryLog.id)
        )
        return paginate(self.session, query, page=page, page_size=page_size)
