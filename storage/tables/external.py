"""Partner and government databases SuraSmart reads from, and the record of every read."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, Keyed, enum_type, owner_key


class SourceKind(enum.StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    SQLITE = "sqlite"
    HTTPS_JSON = "https_json"
    HTTPS_CSV = "https_csv"


class PhotoKind(enum.StrEnum):
    BYTES = "bytes"
    URL = "url"
    PATH = "path"


class SyncStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ExternalDatabase(Keyed, Base):
    """A remote source. ``location`` carries no secret; credentials are encrypted at rest."""

    __tablename__ = "external_databases"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[SourceKind] = mapped_column(enum_type(SourceKind, "source_kind"))
    location: Mapped[str] = mapped_column(sa.Text)
    credentials_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    sync_interval_seconds: Mapped[int | None]
    # Hosts that may be fetched although they resolve to private addresses (partners on a VPN).
    allowed_hosts: Mapped[list[str]] = mapped_column(
        postgresql.ARRAY(sa.String(255)), default=list, server_default="{}"
    )
    watermark: Mapped[str | None] = mapped_column(sa.Text)
    last_sync_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")


class SchemaMapping(Keyed, Base):
    """Which remote table or feed, and how its fields map to ours and to a photo."""

    __tablename__ = "schema_mappings"

    database_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("external_databases.id", ondelete="CASCADE"), unique=True
    )
    source: Mapped[str] = mapped_column(sa.Text)
    id_column: Mapped[str] = mapped_column(sa.String(200))
    updated_column: Mapped[str | None] = mapped_column(sa.String(200))
    field_map: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    photo_column: Mapped[str | None] = mapped_column(sa.String(200))
    photo_kind: Mapped[PhotoKind | None] = mapped_column(enum_type(PhotoKind, "photo_kind"))
    photo_root: Mapped[str | None] = mapped_column(sa.Text)  # path photos must lie under this folder
    validated_at: Mapped[datetime | None]


class ExternalRecord(Keyed, Base):
    """One remote record as last imported; (database, remote id) makes upserts idempotent."""

    __tablename__ = "external_records"
    __table_args__ = (sa.UniqueConstraint("database_id", "remote_id"),)

    database_id: Mapped[uuid.UUID] = owner_key("external_databases")
    remote_id: Mapped[str] = mapped_column(sa.String(200))
    remote_updated: Mapped[str | None] = mapped_column(sa.Text)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")


class SyncLog(Keyed, Base):
    """One sync run and what it did."""

    __tablename__ = "sync_logs"

    database_id: Mapped[uuid.UUID] = owner_key("external_databases")
    job_id: Mapped[uuid.UUID | None] = owner_key("jobs", nullable=True, ondelete="SET NULL")
    status: Mapped[SyncStatus] = mapped_column(enum_type(SyncStatus, "sync_status"))
    started_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    finished_at: Mapped[datetime | None]
    records_seen: Mapped[int] = mapped_column(default=0, server_default="0")
    records_created: Mapped[int] = mapped_column(default=0, server_default="0")
    records_updated: Mapped[int] = mapped_column(default=0, server_default="0")
    records_unchanged: Mapped[int] = mapped_column(default=0, server_default="0")
    records_failed: Mapped[int] = mapped_column(default=0, server_default="0")
    photos: Mapped[int] = mapped_column(default=0, server_default="0")
    faces: Mapped[int] = mapped_column(default=0, server_default="0")
    matches: Mapped[int] = mapped_column(default=0, server_default="0")
    watermark_before: Mapped[str | None] = mapped_column(sa.Text)
    watermark_after: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)


class QueryLog(Keyed, Base):
    """Every query sent to a remote source: text, parameters, rows, duration, and on whose behalf."""

    __tablename__ = "query_logs"

    database_id: Mapped[uuid.UUID] = owner_key("external_databases")
    sync_log_id: Mapped[uuid.UUID | None] = owner_key("sync_logs", nullable=True, ondelete="SET NULL")
    query_text: Mapped[str] = mapped_column(sa.Text)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    row_count: Mapped[int | None]
    duration_ms: Mapped[float | None]
    actor: Mapped[str] = mapped_column(sa.String(200))
