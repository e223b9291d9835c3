"""A sync's bookkeeping: opening a stored source, the query and sync logs, and a record's stored form.

A record's content is its mapped fields as JSON can hold them plus its photo reference (or
the photo's bytes); its digest decides whether a later sync has anything new to store. The
query log is written in its own transactions, so it survives a sync that fails.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from configs.settings import ExternalSettings
from serving.external.fetch import FetchLimits
from serving.external.remote import Connection, Query, Selection
from storage.database import Database
from storage.external.credentials import CredentialBox
from storage.repositories.external import ExternalRepository
from storage.tables import ExternalDatabase, PhotoKind, SchemaMapping, SyncLog


@dataclass
class SyncCounts:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    photos: int = 0
    faces: int = 0
    matches: int = 0


def connection_of(source: ExternalDatabase, box: CredentialBox) -> Connection:
    credentials = box.open(source.credentials_encrypted, source.id) if source.credentials_encrypted else {}
    return Connection(source.kind, source.location, credentials, tuple(source.allowed_hosts or ()))


def selection_of(mapping: SchemaMapping, photo_max_bytes: int) -> Selection:
    """What a sync reads; a bytes photo column no further than one byte past ``photo_max_bytes``."""
    wanted = [mapping.id_column, mapping.updated_column, mapping.photo_column, *mapping.field_map.values()]
    capped = mapping.photo_column if mapping.photo_kind is PhotoKind.BYTES else None
    return Selection(
        source=mapping.source,
        id_column=mapping.id_column,
        updated_column=mapping.updated_column,
        columns=list(dict.fromkeys(c for c in wanted if c)),
        byte_limits={capped: photo_max_bytes + 1} if capped else {},
    )


def fetch_limits(settings: ExternalSettings) -> FetchLimits:
    return FetchLimits(settings.photo_max_bytes, settings.fetch_timeout_s, settings.max_redirects)


def query_logger(
    db: Database, database_id: uuid.UUID, sync_log_id: uuid.UUID | None, actor: str
) -> Callable[[Query], None]:
    """Write each remote query to the query log in its own transaction (kept if the sync fails)."""

    def log(query: Query) -> None:
        with db.transaction() as session:
            ExternalRepository(session).log_query(
                database_id=database_id,
                sync_log_id=sync_log_id,
                text=query.text,
                parameters=query.parameters,
                rows=query.rows,
                duration_ms=query.duration_ms,
                actor=actor,
            )

    return log


def sync_summary(log: SyncLog) -> dict[str, Any]:
    seconds = (log.finished_at - log.started_at).total_seconds() if log.finished_at else None
    return {
        "sync_log_id": str(log.id),
        "status": log.status.value,
        "records_seen": log.records_seen,
        "records_created": log.records_created,
        "records_updated": log.records_updated,
        "records_unchanged": log.records_unchanged,
        "records_failed": log.records_failed,
        "photos": log.photos,
        "faces": log.faces,
        "matches": log.matches,
        "seconds": seconds,
        "error": log.error,
    }


def write_counts(log: SyncLog, counts: SyncCounts) -> None:
    log.records_seen, log.records_created, log.records_updated = counts.seen, counts.created, counts.updated
    log.records_unchanged, log.records_failed = counts.unchanged, counts.failed
    log.photos, log.faces, log.matches = counts.photos, counts.faces, counts.matches


def read_under(root: Path, name: str, max_bytes: int) -> bytes:
    """A path photo: only inside the mapping's folder (no way out by ``..`` or links)."""
    base = root.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or path == base:
        raise ValueError("the path lies outside the source's photo folder")
    if path.stat().st_size > max_bytes:
        raise ValueError(f"the file is over the limit of {max_bytes} bytes")
    return path.read_bytes()


def plain(value: Any) -> Any:
    """A remote value as JSON can keep it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    return value


def record_digest(data: dict[str, Any], photo: Any) -> str:
    """What a record's content is: its mapped fields and its photo (the bytes, or where they are)."""
    hasher = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
    if isinstance(photo, bytes | bytearray | memoryview):
        hasher.update(hashlib.sha256(bytes(photo)).digest())
    elif photo is not None:
        hasher.update(str(photo).encode())
    return hasher.hexdigest()
