"""Reading partner databases and feeds: read-only, parameterised, time- and row-limited, every query logged.

A ``RemoteSource`` lists the tables it offers, describes a table's columns (so a mapping can
be checked when it is saved) and hands out pages of rows after a watermark, oldest change
first. SQL sources (PostgreSQL, MySQL, SQLite through SQLAlchemy) run in read-only sessions
with a statement timeout; identifiers are quoted by SQLAlchemy and values are bound, never
pasted. HTTPS feeds are the other kind of source (``feeds``). Each query is reported to
``log`` with its text, parameters, row count and duration; the credentials never are.

Where an SQL source connects is checked like a URL (``endpoints``): one server, no option
that connects elsewhere, never the service's own database, non-public addresses and local
sockets only when allowed by name, and the checked address is the one connected to. An
SQLite path is passed percent-encoded, so no ``#`` or ``?`` in it can drop ``mode=ro``.
Columns named in ``Selection.byte_limits`` (a bytes photo) are read only that far.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote

import sqlalchemy as sa

from serving.external.endpoints import EndpointError, check_options, pinned_connection
from serving.external.fetch import FetchLimits
from storage.tables import SourceKind

SQL_KINDS = (SourceKind.POSTGRESQL, SourceKind.MYSQL, SourceKind.SQLITE)
_DRIVERS = {SourceKind.POSTGRESQL: "postgresql+psycopg", SourceKind.MYSQL: "mysql+pymysql", SourceKind.SQLITE: "sqlite"}


class RemoteError(Exception):
    """Raised when a remote source cannot be reached, read or understood; the message says why."""


@dataclass(frozen=True)
class Query:
    text: str
    parameters: dict[str, Any]
    rows: int | None
    duration_ms: float


QueryLogger = Callable[[Query], None]


@dataclass(frozen=True)
class Connection:
    """Where a source is (no secret in ``location``) and its opened credentials."""

    kind: SourceKind
    location: str
    credentials: Mapping[str, Any]
    allowed_hosts: Sequence[str] = ()


@dataclass(frozen=True)
class Selection:
    """Which rows a sync reads: the table or feed path, its id column and its change column.

    byte_limits: columns read no further than so many bytes (a bytes photo: its limit + 1, so
    that a longer one is seen to be too long without being read whole).
    """

    source: str
    id_column: str
    updated_column: str | None
    columns: Sequence[str]
    byte_limits: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Watermark:
    """Where the last sync stopped: the change column's value and the id of the last row read."""

    updated: Any
    remote_id: Any

    def dump(self) -> str:
        return json.dumps({"updated": _tag(self.updated), "remote_id": _tag(self.remote_id)})

    @classmethod
    def load(cls, text: str | None) -> Watermark | None:
        if not text:
            return None
        value = json.loads(text)
        return cls(_untag(value["updated"]), _untag(value["remote_id"]))


class RemoteSource(Protocol):
    def tables(self) -> list[str]: ...

    def columns(self, source: str) -> dict[str, str]: ...

    def page(self, selection: Selection, after: Watermark | None, limit: int) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def open_source(
    connection: Connection,
    *,
    log: QueryLogger,
    statement_timeout_ms: int,
    limits: FetchLimits,
    own_database: sa.URL | None = None,
) -> RemoteSource:
    """The source, ready to read; ``own_database``: the service's database URL, which a source may never be."""
    if connection.kind in SQL_KINDS:
        return SqlSource(connection, log=log, statement_timeout_ms=statement_timeout_ms, own_database=own_database)
    # Imported here: feeds are built on this module's types, so a top-level import would be circular.
    from serving.external.feeds import FeedSource

    return FeedSource(connection, log=log, limits=limits)


def sql_url(kind: SourceKind, location: str, password: str | None = None) -> sa.URL:
    """The SQLAlchemy URL of a source: ``location`` may not carry a password (it is not secret)."""
    try:
        url = sa.make_url(location)
    except sa.exc.ArgumentError as exc:
        raise RemoteError(f"not a database URL: {exc}") from exc
    if url.password is not None:
        raise RemoteError("the location may not contain a password: give it as a credential")
    if url.get_backend_name() != kind.value:
        raise RemoteError(f"a {kind.value} source needs a {kind.value}:// URL")
    try:
        check_options(kind, url)
    except EndpointError as exc:
        raise RemoteError(str(exc)) from exc
    url = url.set(drivername=_DRIVERS[kind])
    if kind is SourceKind.SQLITE:
        if not url.database:
            raise RemoteError("an SQLite source names its file: sqlite:////path/to/file.db")
        return url.set(database=f"file:{quote(url.database)}?mode=ro", query={"uri": "true"})
    return url.set(password=password) if password else url


class SqlSource:
    """A remote SQL database, read-only."""

    def __init__(
        self, connection: Connection, *, log: QueryLogger, statement_timeout_ms: int, own_database: sa.URL | None
    ) -> None:
        self.log = log
        url = sql_url(connection.kind, connection.location, connection.credentials.get("password"))
        pinned: dict[str, Any] = {}
        if connection.kind is not SourceKind.SQLITE:
            try:
                url, pinned = pinned_connection(connection.kind, url, connection.allowed_hosts, own_database)
            except EndpointError as exc:
                raise RemoteError(str(exc)) from exc
        timeout_s = max(1, statement_timeout_ms // 1000)
        arguments: dict[str, Any] = {}
        if connection.kind is SourceKind.POSTGRESQL:
            arguments = {
                "options": f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout_ms}",
                "connect_timeout": timeout_s,
                **pinned,
            }
        elif connection.kind is SourceKind.MYSQL:
            arguments = {"connect_timeout": timeout_s, "read_timeout": timeout_s}
        elif connection.kind is SourceKind.SQLITE:
            arguments = {"timeout": timeout_s}
        self.engine = sa.create_engine(url, connect_args=arguments, poolclass=sa.pool.NullPool, hide_parameters=True)
        if connection.kind is SourceKind.MYSQL:
            sa.event.listen(self.engine, "connect", _mysql_read_only(statement_timeout_ms))

    def tables(self) -> list[str]:
        inspector = self._inspect()
        return sorted([*inspector.get_table_names(), *inspector.get_view_names()])

    def columns(self, source: str) -> dict[str, str]:
        schema, name = _split(source)
        inspector = self._inspect()
        try:
            found = inspector.get_columns(name, schema=schema)
        except sa.exc.NoSuchTableError as exc:
            raise RemoteError(f"the source has no table or view named {source}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise RemoteError(f"cannot read the table's columns: {_reason(exc)}") from exc
        return {column["name"]: str(column["type"]) for column in found}

    def page(self, selection: Selection, after: Watermark | None, limit: int) -> list[dict[str, Any]]:
        schema, name = _split(selection.source)
        table = sa.table(name, *(sa.column(c) for c in selection.columns), schema=schema)
        key = table.c[selection.id_column]
        limits = selection.byte_limits
        picked = [sa.func.substr(c, 1, limits[c.name]).label(c.name) if c.name in limits else c for c in table.c]
        query = sa.select(*picked).limit(limit)
        if selection.updated_column:
            changed = table.c[selection.updated_column]
            query = query.order_by(changed, key)
            if after is not None:
                query = query.where(
                    sa.or_(changed > after.updated, sa.and_(changed == after.updated, key > after.remote_id))
                )
        else:
            query = query.order_by(key)
            if after is not None:
                query = query.where(key > after.remote_id)
        compiled = query.compile(self.engine)
        started = time.perf_counter()
        try:
            with self.engine.connect() as connection:
                rows = [dict(row._mapping) for row in connection.execute(query)]
        except sa.exc.SQLAlchemyError as exc:
            self._log(str(compiled), compiled.params, None, started)
            raise RemoteError(f"the query failed: {_reason(exc)}") from exc
        self._log(str(compiled), compiled.params, len(rows), started)
        return rows

    def close(self) -> None:
        self.engine.dispose()

    def _inspect(self) -> sa.Inspector:
        started = time.perf_counter()
        try:
            inspector = sa.inspect(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise RemoteError(f"cannot connect: {_reason(exc)}") from exc
        finally:
            self._log("-- connect and read the catalogue", {}, None, started)
        return inspector

    def _log(self, text: str, parameters: Mapping[str, Any], rows: int | None, started: float) -> None:
        safe = {key: _tag(value) for key, value in parameters.items()}
        self.log(Query(text, safe, rows, (time.perf_counter() - started) * 1000))


def _split(source: str) -> tuple[str | None, str]:
    schema, _, name = source.rpartition(".")
    if not name:
        raise RemoteError("no table named")
    return schema or None, name


def _reason(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {str(original).splitlines()[0] if str(original) else ''}"


def _mysql_read_only(timeout_ms: int) -> Callable[..., None]:
    def configure(connection: Any, _record: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute("SET SESSION MAX_EXECUTION_TIME = %s", (timeout_ms,))

    return configure


def _tag(value: Any) -> Any:
    """A JSON form of a watermark or parameter value that loads back as the same type."""
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        [(kind, text)] = value.items()
        if kind == "datetime":
            return datetime.fromisoformat(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "decimal":
            return Decimal(text)
    return value
