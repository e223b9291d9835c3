"""External sources: what administrators send and see (credentials go in, never come out)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, SecretStr

from serving.api.schemas.common import Strict
from storage.tables import PhotoKind, SourceKind, SyncStatus


class Credentials(Strict):
    """A database password, or HTTP headers for a feed (e.g. Authorization)."""

    password: SecretStr | None = None
    headers: dict[str, SecretStr] | None = None

    def plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.password is not None:
            out["password"] = self.password.get_secret_value()
        if self.headers:
            out["headers"] = {name: value.get_secret_value() for name, value in self.headers.items()}
        return out


class ExternalIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: SourceKind
    location: str = Field(
        min_length=1,
        max_length=2000,
        description="postgresql://user@host/db, mysql://…, sqlite:////path/file.db or an https:// feed; no password.",
    )
    credentials: Credentials | None = None
    enabled: bool = True
    sync_interval_seconds: int | None = Field(default=None, ge=300, description="Sync on a schedule; none: by hand.")
    allowed_hosts: list[str] = Field(
        default_factory=list, max_length=50, description="Fetched despite private addresses."
    )


class ExternalPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    location: str | None = Field(default=None, min_length=1, max_length=2000)
    credentials: Credentials | None = None
    enabled: bool | None = None
    sync_interval_seconds: int | None = Field(default=None, ge=300)
    allowed_hosts: list[str] | None = Field(default=None, max_length=50)

    def changes(self) -> dict[str, Any]:
        changes = self.model_dump(exclude_unset=True, exclude={"credentials"})
        if "credentials" in self.model_fields_set:
            changes["credentials"] = self.credentials.plain() if self.credentials else None
        return changes


class ExternalOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: SourceKind
    location: str
    has_credentials: bool
    enabled: bool
    sync_interval_seconds: int | None
    allowed_hosts: list[str]
    last_sync_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, source: Any) -> ExternalOut:
        return cls(
            id=source.id,
            name=source.name,
            kind=source.kind,
            location=source.location,
            has_credentials=source.credentials_encrypted is not None,
            enabled=source.enabled,
            sync_interval_seconds=source.sync_interval_seconds,
            allowed_hosts=list(source.allowed_hosts or []),
            last_sync_at=source.last_sync_at,
            created_at=source.created_at,
        )


class ConnectionTest(BaseModel):
    ok: bool
    tables: list[str]
    error: str | None


class MappingIn(Strict):
    source: str = Field(
        default="", max_length=500, description="Table or view (schema.table); a feed's path to its list."
    )
    id_column: str = Field(min_length=1, max_length=200)
    updated_column: str | None = Field(default=None, max_length=200, description="Updated-at or a growing number.")
    field_map: dict[str, str] = Field(default_factory=dict, description="Our field → the remote column.")
    photo_column: str | None = Field(default=None, max_length=200)
    photo_kind: PhotoKind | None = None
    photo_root: str | None = Field(default=None, max_length=2000, description="For path photos: their folder.")


class MappingOut(BaseModel):
    source: str
    id_column: str
    updated_column: str | None
    field_map: dict[str, Any]
    photo_column: str | None
    photo_kind: PhotoKind | None
    photo_root: str | None
    validated_at: datetime | None


class SyncLogOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID | None
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    records_seen: int
    records_created: int
    records_updated: int
    records_unchanged: int
    records_failed: int
    photos: int
    faces: int
    matches: int
    error: str | None


class QueryOut(BaseModel):
    id: uuid.UUID
    sync_log_id: uuid.UUID | None
    query_text: str
    parameters: dict[str, Any]
    row_count: int | None
    duration_ms: float | None
    actor: str
    created_at: datetime
