"""Fixtures for tests that need PostgreSQL: one embedded server per session, a fresh database per test.

Every test database is a copy of a migrated template, so tests can commit, race and tamper
freely without seeing each other.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.orm import sessionmaker

from storage.database import Database, upgrade
from storage.embedded import EmbeddedPostgres
from storage.repositories.users import UserRepository
from storage.tables import Role, User

TEMPLATE = "sura_template"


@pytest.fixture(scope="session")
def pg_root() -> Iterator[Path]:
    """A folder the server's system user can enter (pytest's own tmp folders are private)."""
    folder = Path(tempfile.mkdtemp(prefix="sura-test-pg-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_root: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(pg_root / "server", database=TEMPLATE)
    server.start()
    engine = sa.create_engine(server.url)
    upgrade(engine)
    engine.dispose()
    yield server
    server.stop()


@contextmanager
def fresh_database(server: EmbeddedPostgres) -> Iterator[str]:
    """The URL of a new, migrated database copied from the template; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server.url.replace(f"/{TEMPLATE}?", "/postgres?"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'))
    try:
        yield server.url.replace(f"/{TEMPLATE}?", f"/{name}?")
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def database_url(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, migrated database of its own for one test."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture()
def db(database_url: str) -> Iterator[Database]:
    engine = sa.create_engine(database_url)
    yield Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
    engine.dispose()


@pytest.fixture(scope="session")
def password_hash() -> str:
    return PasswordHasher().hash("correct horse battery staple")


@pytest.fixture()
def make_user(db: Database, password_hash: str):
    """A factory for committed users of a role."""

    def make(role: Role = Role.INVESTIGATOR) -> User:
        with db.transaction() as session:
            return UserRepository(session).create(
                email=f"{uuid.uuid4().hex[:8]}@example.org",
                full_name="Test User",
                role=role,
                password_hash=password_hash,
            )

    return make
