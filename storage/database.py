"""The database a process uses: a configured server, or the embedded one; migrated on open."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.embedded import EmbeddedPostgres
from storage.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0008"  # the newest migration; a test checks it is the head of the scripts
_MIGRATION_LOCK = 0x5A5A_0001


@dataclass
class Database:
    """An engine and a session factory; ``server`` is the embedded PostgreSQL when one was started."""

    engine: Engine
    sessions: sessionmaker[Session]
    server: EmbeddedPostgres | None = None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with self.sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
        if self.server is not None:
            self.server.stop()


def open_database(
    url: str | None, *, data_dir: Path, statement_timeout_ms: int = 30_000, migrate: bool = True
) -> Database:
    """Connect to ``url``, or start the embedded server on ``data_dir`` when there is none."""
    server = None
    if url is None:
        server = EmbeddedPostgres(data_dir)
        url = server.start()
    # Parameters hold embeddings and personal details; errors are logged and stored on job rows.
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args={"options": f"-c statement_timeout={statement_timeout_ms}"},
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        if migrate:
            upgrade(engine)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        if server is not None:
            server.stop()
        raise DatabaseUnavailableError(f"cannot reach the database: {exc.orig}") from exc
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), server=server)


def alembic_config(engine: Engine) -> Config:
    """Alembic's configuration for our migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """The newest migration applied to the database, or None for an empty one."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every migration not applied yet: safe on every start, by several processes at once."""
    with engine.connect() as lock:
        # Gateway replicas start together; one migrates, the others wait here and find nothing to do.
        lock.execute(sa.select(sa.func.pg_advisory_lock(_MIGRATION_LOCK)))
        try:
            command.upgrade(alembic_config(engine), "head")
        finally:
            lock.execute(sa.select(sa.func.pg_advisory_unlock(_MIGRATION_LOCK)))
    logger.info("database schema is at the newest migration")
