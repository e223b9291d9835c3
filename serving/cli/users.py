"""`sura user create`: accounts from the command line (how the first admin gets in)."""

from __future__ import annotations

import click

from serving.auth.passwords import MIN_LENGTH, hash_password
from serving.cli.database import database
from storage.audit import AuditLog
from storage.errors import ConflictError
from storage.repositories.users import UserRepository
from storage.tables import Role


@click.group()
def user() -> None:
    """Manage user accounts."""


@user.command()
@click.option("--email", required=True, help="Sign-in address.")
@click.option("--name", "full_name", required=True, help="Full name, as colleagues know it.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.password_option(help="Asked for (twice) when not given; at least 12 characters.")
def create(email: str, full_name: str, role: str, password: str) -> None:
    """Create a user (the first one is usually --role admin)."""
    if len(password) < MIN_LENGTH:
        raise click.ClickException(f"the password must have at least {MIN_LENGTH} characters")
    with database() as db, db.transaction() as session:
        try:
            made = UserRepository(session).create(
                email=email, full_name=full_name, role=Role(role), password_hash=hash_password(password)
            )
        except ConflictError as exc:
            raise click.ClickException(str(exc)) from exc
        AuditLog(session).append(
            actor="cli", action="user.create", target_type="user", target_id=made.id, details={"role": role}
        )
        click.echo(f"created {role} {made.id}")
