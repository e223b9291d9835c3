"""`sura migrate` on a real PostgreSQL given by SURA_DB__URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from configs.settings import get_settings
from serving.cli.main import cli
from storage.database import HEAD

pytestmark = pytest.mark.postgres


@pytest.fixture()
def empty_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    monkeypatch.setenv("SURA_DB__URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_migrate_builds_the_schema(empty_database: str) -> None:
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 0 and result.stdout == f"database schema at revision {HEAD}\n"
    assert "cases" in sa.inspect(sa.create_engine(empty_database)).get_table_names()


def test_unreachable_database_is_a_cli_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURA_DB__URL", "postgresql+psycopg://nobody@/nothing?host=/nonexistent")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["migrate"])
    get_settings.cache_clear()
    assert result.exit_code == 1 and "cannot reach the database" in result.stderr


def test_status_says_what_it_can_when_the_service_is_down(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURA_DB__URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["status", "--url", "http://127.0.0.1:9"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "not reachable" in result.output and "gallery" in result.output and "jobs" in result.output
    assert "audit: not verified" in result.output
