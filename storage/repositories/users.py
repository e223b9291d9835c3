"""Users and their per-case grants."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.errors import ConflictError, NotFoundError
from storage.repositories.common import Page, affected_rows, get_or_raise, paginate
from storage.tables import Access, CaseGrant, Role, User


class UserRepository:
    """Accounts. Passwords arrive hashed (argon2id); the table refuses anything else."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, *, email: str, full_name: str, role: Role, password_hash: str) -> User:
        if self.find_by_email(email=email) is not None:
            raise ConflictError("a user with this e-mail address exists")
        user = User(email=email.strip(), full_name=full_name, role=role, password_hash=password_hash)
        self.session.add(user)
        self.session.flush()
        return user

    def get(self, *, user_id: uuid.UUID) -> User:
        return get_or_raise(self.session, User, user_id)

    def find_by_email(self, *, email: str) -> User | None:
        """The user with this address (case-insensitive), or None: logins must not reveal which."""
        return self.session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.strip().lower()))

    def find(
        self, *, role: Role | None = None, active: bool | None = None, page: int = 1, page_size: int = 50
    ) -> Page[User]:
        query = sa.select(User).order_by(User.email)
        if role is not None:
            query = query.where(User.role == role)
        if active is not None:
            query = query.where(User.is_active == active)
        return paginate(self.session, query, page=page, page_size=page_size)

    def grant(
        self, *, user_id: uuid.UUID, case_id: uuid.UUID, access: Access, granted_by_id: uuid.UUID | None
    ) -> CaseGrant:
        """Give (or change) a user's access to one case."""
        grant = self.session.scalar(
            sa.select(CaseGrant).where(CaseGrant.user_id == user_id, CaseGrant.case_id == case_id)
        )
        if grant is None:
            grant = CaseGrant(user_id=user_id, case_id=case_id, access=access, granted_by_id=granted_by_id)
            self.session.add(grant)
        else:
            grant.access, grant.granted_by_id = access, granted_by_id
        self.session.flush()
        return grant

    def grants_of_case(self, *, case_id: uuid.UUID) -> list[CaseGrant]:
        query = sa.select(CaseGrant).where(CaseGrant.case_id == case_id).order_by(CaseGrant.created_at)
        return list(self.session.scalars(query))

    def revoke(self, *, user_id: uuid.UUID, case_id: uuid.UUID) -> None:
        """Remove one grant; NotFoundError when the user had none on the case."""
        removed = affected_rows(
            self.session, sa.delete(CaseGrant).where(CaseGrant.user_id == user_id, CaseGrant.case_id == case_id)
        )
        if not removed:
            raise NotFoundError(f"no case_grants row for user {user_id} on case {case_id}")

    def grants(self, *, user_id: uuid.UUID) -> list[CaseGrant]:
        return list(self.session.scalars(sa.select(CaseGrant).where(CaseGrant.user_id == user_id)))
