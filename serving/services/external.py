"""External sources for administrators: register, test, map (checked against the remote), sync, inspect.

Credentials are sealed before they are stored and never leave this module; the API sees only
whether a source has any. A new location drops them (unless new ones come with it), so they are
never sent to a place they were not given for. A location may not be the service's own
database, whatever hosts are allowed. A mapping is checked against the remote's columns when it
is saved, so a misspelt column is an error then, not at 2 AM.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from configs.settings import ExternalSettings
from serving.external.endpoints import EndpointError, check_not_own, endpoint_of
from serving.external.fetch import FetchRefusedError, check_url_form
from serving.external.remote import SQL_KINDS, RemoteError, RemoteSource, open_source, sql_url
from serving.services.sync import SYNC_JOB
from serving.services.sync_records import connection_of, fetch_limits, query_logger
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import ConflictError, InvalidArgumentError
from storage.external.credentials import CredentialBox
from storage.jobs import JobQueue
from storage.repositories.common import Page
from storage.repositories.external import ExternalRepository
from storage.tables import (
    ExternalDatabase,
    Job,
    JobPriority,
    PhotoKind,
    QueryLog,
    SchemaMapping,
    SourceKind,
    SyncLog,
    User,
)

# What a remote record may fill in: our names for the fields of a person seen somewhere.
TARGET_FIELDS = ("full_name", "aliases", "sex", "date_of_birth", "event_date", "location", "notes")
EDITABLE = ("name", "location", "enabled", "sync_interval_seconds", "allowed_hosts")


class MappingError(InvalidArgumentError):
    """Raised when a mapping does not fit the remote source; the message names the columns."""

    code = "mapping_invalid"


class ExternalService:
    def __init__(self, db: Database, box: CredentialBox, settings: ExternalSettings) -> None:
        self.db, self.box, self.settings = db, box, settings

    def create(self, user: User, fields: dict[str, Any]) -> ExternalDatabase:
        kind = SourceKind(fields["kind"])
        self._check_location(kind, fields["location"])
        source = ExternalDatabase(
            id=uuid.uuid4(),
            name=fields["name"],
            kind=kind,
            location=fields["location"],
            enabled=fields.get("enabled", True),
            sync_interval_seconds=fields.get("sync_interval_seconds"),
            allowed_hosts=list(fields.get("allowed_hosts") or []),
            created_by_id=user.id,
        )
        if fields.get("credentials"):
            source.credentials_encrypted = self.box.seal(fields["credentials"], source.id)
        with _unique_name(), self.db.transaction() as session:
            ExternalRepository(session).add(source)
            _schedule(session, source)
            self._audit(session, user, "external.create", source.id, {"kind": kind.value})
            session.flush()
            session.refresh(source)
            return source

    def update(self, user: User, database_id: uuid.UUID, changes: dict[str, Any]) -> ExternalDatabase:
        with _unique_name(), self.db.transaction() as session:
            source = ExternalRepository(session).get(database_id=database_id, lock=True)
            moved = "location" in changes and changes["location"] != source.location
            if moved:
                self._check_location(source.kind, changes["location"])
                if "credentials" not in changes:  # they were given for the old place
                    source.credentials_encrypted = None
            for name in EDITABLE:
                if name in changes:
                    setattr(source, name, list(changes[name] or []) if name == "allowed_hosts" else changes[name])
            if "credentials" in changes:  # None or {} removes them
                credentials = changes["credentials"]
                source.credentials_encrypted = self.box.seal(credentials, source.id) if credentials else None
            _schedule(session, source)
            details: dict[str, Any] = {"fields": sorted(changes)}
            if moved and "credentials" not in changes:
                details["credentials_cleared"] = True
            self._audit(session, user, "external.update", source.id, details)
            session.flush()
            session.refresh(source)
            return source

    def delete(self, user: User, database_id: uuid.UUID) -> None:
        """Forget the source, its mapping, records and logs; photos already imported stay as sightings."""
        with self.db.transaction() as session:
            ExternalRepository(session).delete(database_id=database_id)
            JobQueue(session).unschedule(name=_schedule_name(database_id))
            self._audit(session, user, "external.delete", database_id, {})

    def get(self, database_id: uuid.UUID) -> ExternalDatabase:
        with self.db.transaction() as session:
            return ExternalRepository(session).get(database_id=database_id)

    def find(self, *, page: int, page_size: int) -> Page[ExternalDatabase]:
        with self.db.transaction() as session:
            return ExternalRepository(session).find(page=page, page_size=page_size)

    def test(self, user: User, database_id: uuid.UUID) -> tuple[bool, list[str], str | None]:
        """Connect and list what the source offers: (reachable, tables or feed paths, why not)."""
        source = self.get(database_id)
        try:
            with self._remote(source, user) as remote:
                tables = remote.tables()
        except RemoteError as exc:
            outcome: tuple[bool, list[str], str | None] = (False, [], str(exc))
        else:
            outcome = (True, tables, None)
        with self.db.transaction() as session:
            self._audit(session, user, "external.test", database_id, {"ok": outcome[0]})
        return outcome

    def mapping(self, database_id: uuid.UUID) -> SchemaMapping | None:
        with self.db.transaction() as session:
            ExternalRepository(session).get(database_id=database_id)
            return ExternalRepository(session).mapping(database_id=database_id)

    def set_mapping(self, user: User, database_id: uuid.UUID, fields: dict[str, Any]) -> SchemaMapping:
        """Check the mapping against the remote's columns, then store it."""
        source = self.get(database_id)
        _check_mapping_shape(fields)
        try:
            with self._remote(source, user) as remote:
                columns = remote.columns(fields["source"])
        except RemoteError as exc:
            raise MappingError(f"the mapping cannot be checked: {exc}") from exc
        named = [
            fields["id_column"],
            fields.get("updated_column"),
            fields.get("photo_column"),
            *fields["field_map"].values(),
        ]
        missing = sorted({column for column in named if column and column not in columns})
        if missing:
            raise MappingError(f"the source has no column named {', '.join(missing)}")
        with self.db.transaction() as session:
            stored = ExternalRepository(session).set_mapping(
                database_id=database_id,
                source=fields["source"],
                id_column=fields["id_column"],
                updated_column=fields.get("updated_column"),
                field_map=dict(fields["field_map"]),
                photo_column=fields.get("photo_column"),
                photo_kind=PhotoKind(fields["photo_kind"]) if fields.get("photo_kind") else None,
                photo_root=fields.get("photo_root"),
                validated_at=sa.func.now(),
            )
            ExternalRepository(session).get(database_id=database_id, lock=True).watermark = None
            self._audit(session, user, "external.mapping", database_id, {"columns": len(set(named) - {None})})
            session.flush()
            session.refresh(stored)
            return stored

    def start_sync(self, user: User, database_id: uuid.UUID) -> Job:
        """Queue a sync (an unfinished one of the same source is returned instead)."""
        with self.db.transaction() as session:
            ExternalRepository(session).get(database_id=database_id)
            job, created = JobQueue(session).enqueue_once(
                kind=SYNC_JOB, identity={"database_id": str(database_id)}, created_by_id=user.id
            )
            if not created:
                return job
            self._audit(session, user, "external.sync", database_id, {"job_id": str(job.id)})
            session.flush()
            session.refresh(job)
            return job

    def syncs(self, database_id: uuid.UUID, *, page: int, page_size: int) -> Page[SyncLog]:
        with self.db.transaction() as session:
            ExternalRepository(session).get(database_id=database_id)
            return ExternalRepository(session).syncs(database_id=database_id, page=page, page_size=page_size)

    def queries(self, database_id: uuid.UUID, *, page: int, page_size: int) -> Page[QueryLog]:
        with self.db.transaction() as session:
            ExternalRepository(session).get(database_id=database_id)
            return ExternalRepository(session).queries(database_id=database_id, page=page, page_size=page_size)

    @contextmanager
    def _remote(self, source: ExternalDatabase, user: User) -> Iterator[RemoteSource]:
        """The source opened on ``user``'s behalf (queries logged as theirs), closed afterwards."""
        remote = open_source(
            connection_of(source, self.box),
            log=query_logger(self.db, source.id, None, f"user:{user.id}"),
            statement_timeout_ms=self.settings.statement_timeout_ms,
            limits=fetch_limits(self.settings),
            own_database=self.db.engine.url,
        )
        try:
            yield remote
        finally:
            remote.close()

    def _check_location(self, kind: SourceKind, location: str) -> None:
        """The location's form (where it points is checked when connecting); never the service's own database."""
        try:
            if kind in SQL_KINDS:
                url = sql_url(kind, location)
                if kind is not SourceKind.SQLITE:
                    check_not_own(endpoint_of(url), self.db.engine.url)
            else:
                check_url_form(location)
        except (RemoteError, FetchRefusedError, EndpointError) as exc:
            raise InvalidArgumentError(str(exc)) from exc

    def _audit(self, session: Any, user: User, action: str, target: uuid.UUID, details: dict[str, Any]) -> None:
        AuditLog(session).append(
            actor=f"user:{user.id}", action=action, target_type="external_database", target_id=target, details=details
        )


@contextmanager
def _unique_name() -> Iterator[None]:
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise ConflictError("another source has this name") from exc


def _check_mapping_shape(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields["field_map"]) - set(TARGET_FIELDS))
    if unknown:
        raise MappingError(f"unknown fields {', '.join(unknown)}; a record has {', '.join(TARGET_FIELDS)}")
    if fields.get("photo_column") and not fields.get("photo_kind"):
        raise MappingError("say what the photo column holds: photo_kind bytes, url or path")
    if fields.get("photo_kind") == PhotoKind.PATH and not fields.get("photo_root"):
        raise MappingError("path photos need photo_root, the folder they must lie under")


def _schedule_name(database_id: uuid.UUID) -> str:
    return f"external-sync:{database_id}"


def _schedule(session: Any, source: ExternalDatabase) -> None:
    queue = JobQueue(session)
    if source.enabled and source.sync_interval_seconds:
        queue.schedule(
            name=_schedule_name(source.id),
            kind=SYNC_JOB,
            interval=timedelta(seconds=source.sync_interval_seconds),
            payload={"database_id": str(source.id)},
            priority=JobPriority.LOW,
        )
    else:
        queue.unschedule(name=_schedule_name(source.id))
