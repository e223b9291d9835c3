"""`sura migrate` and `sura audit verify`: the database from the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from configs.settings import get_settings
from serving.services.audit import audit_anchor, verify_anchored
from storage.database import Database, current_revision, open_database
from storage.errors import StorageError


@contextmanager
def database(*, migrate: bool = True) -> Iterator[Database]:
    """The configured database (or the embedded one), closed on exit; errors become CLI errors."""
    settings = get_settings().db
    url = settings.url.get_secret_value() if settings.url else None
    try:
        db = open_database(
            url, data_dir=settings.data_dir, statement_timeout_ms=settings.statement_timeout_ms, migrate=migrate
        )
    except StorageError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield db
    finally:
        db.close()


@click.command()
def migrate() -> None:
    """Bring the database schema up to date (the service also does this when it starts)."""
    with database() as db:
        click.echo(f"database schema at revision {current_revision(db.engine)}")


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command()
def verify() -> None:
    """Check every entry's hash and link, and the anchors outside the database; name the first entry that fails."""
    with database() as db, db.transaction() as session:
        report = verify_anchored(session, audit_anchor(get_settings()))
    if report.ok:
        click.echo(f"audit log intact: {report.checked} entries verified")
        return
    click.echo(f"audit log broken at entry {report.first_bad_seq}: {report.reason}", err=True)
    click.echo(f"({report.checked} entries before it verified)", err=True)
    sys.exit(1)
