"""Users: one account per address (any case), argon2id hashes only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.errors import ConflictError
from storage.repositories.users import UserRepository
from storage.tables import Role


def test_email_is_unique_whatever_its_case(db: Database, password_hash: str) -> None:
    with db.transaction() as session:
        users = UserRepository(session)
        made = users.create(
            email="Officer@Example.org", full_name="Officer", role=Role.ADMIN, password_hash=password_hash
        )
        assert users.find_by_email(email="  officer@example.ORG ").id == made.id
        with pytest.raises(ConflictError):
            users.create(email="OFFICER@example.org", full_name="Twin", role=Role.AUDITOR, password_hash=password_hash)
        assert users.find(role=Role.ADMIN).total == 1


def test_only_argon2id_hashes_are_stored(db: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError, match="argon2id"), db.transaction() as session:
        UserRepository(session).create(
            email="a@example.org", full_name="A", role=Role.REPORTER, password_hash="hunter2"
        )
