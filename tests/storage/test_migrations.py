"""Migrations build the schema from nothing, match the tables exactly, and undo cleanly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from storage.database import HEAD, Database, alembic_config, current_revision, open_database
from storage.errors import DatabaseUnavailableError
from storage.tables import Base


def test_upgrade_from_empty_has_no_drift(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    assert current_revision(db.engine) is None
    config = alembic_config(db.engine)
    command.upgrade(config, "head")
    assert current_revision(db.engine) == HEAD
    command.check(config)  # raises when the tables and the migrations disagree
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
    tables = set(sa.inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_downgrade_and_upgrade_again(db: Database) -> None:
    config = alembic_config(db.engine)
    command.downgrade(config, "base")
    assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
    command.upgrade(config, "head")
    command.check(config)


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailableError, match="cannot reach the database"):
        open_database("postgresql+psycopg://nobody@/nothing?host=/nonexistent", data_dir=None)  # type: ignore[arg-type]


def test_processes_starting_together_migrate_once(db: Database) -> None:
    import threading

    from storage.database import upgrade

    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    failures: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(db.engine)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and current_revision(db.engine) == HEAD
