"""User accounts for administrators: list, create and change them; every change audited."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from serving.auth.passwords import hash_password
from serving.auth.policy import Action, authorize
from serving.auth.users import ActiveUsers
from storage.audit import AuditLog
from storage.database import Database
from storage.repositories.common import Page
from storage.repositories.users import UserRepository
from storage.tables import Role, User


class UserService:
    def __init__(self, db: Database, active: ActiveUsers) -> None:
        self.db, self.active = db, active

    def find(self, admin: User, *, role: Role | None, active: bool | None, page: int, page_size: int) -> Page[User]:
        """Accounts by e-mail address."""
        authorize(admin, Action.MANAGE_USERS)
        with self.db.transaction() as session:
            return UserRepository(session).find(role=role, active=active, page=page, page_size=page_size)

    def create(self, admin: User, *, email: str, full_name: str, role: Role, password: str) -> User:
        """A new account with an initial password; the password is hashed before any row is locked."""
        authorize(admin, Action.MANAGE_USERS)
        password_hash = hash_password(password)
        with self.db.transaction() as session:
            user = UserRepository(session).create(
                email=email, full_name=full_name, role=role, password_hash=password_hash
            )
            AuditLog(session).append(
                actor=f"user:{admin.id}",
                action="user.create",
                target_type="user",
                target_id=user.id,
                details={"role": role.value},
            )
            session.flush()
            session.refresh(user)
            return user

    def update(self, admin: User, user_id: uuid.UUID, changes: Mapping[str, Any]) -> User:
        """Rename, change the role of, disable or re-enable an account; this replica forgets it at once."""
        authorize(admin, Action.MANAGE_USERS)
        with self.db.transaction() as session:
            user = UserRepository(session).get(user_id=user_id)
            for name, value in changes.items():
                setattr(user, name, value)
            AuditLog(session).append(
                actor=f"user:{admin.id}",
                action="user.update",
                target_type="user",
                target_id=user_id,
                details={"fields": sorted(changes)},
            )
            session.flush()
            session.refresh(user)
        self.active.forget(user_id)
        return user
