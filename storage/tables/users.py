"""People who use SuraSmart, what they may do, and their sessions."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, Keyed, enum_type, owner_key


class Role(enum.StrEnum):
    """What a user is, which decides what they may do (one policy module decides)."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    INVESTIGATOR = "investigator"
    REPORTER = "reporter"
    AUDITOR = "auditor"


class Access(enum.StrEnum):
    """What a per-case grant adds on top of a user's role."""

    VIEW = "view"
    EDIT = "edit"
    REVIEW = "review"


class User(Keyed, Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.Index("uq_users_email_lower", sa.func.lower(sa.column("email")), unique=True),
        sa.CheckConstraint("password_hash LIKE '$argon2id$%'", name="argon2id"),
    )

    email: Mapped[str] = mapped_column(sa.String(320))
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))  # argon2id, never the password
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    password_changed_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    last_login_at: Mapped[datetime | None]


class CaseGrant(Keyed, Base):
    """A user's access to one case beyond their role (e.g. a reporter's family member)."""

    __tablename__ = "case_grants"
    __table_args__ = (sa.UniqueConstraint("user_id", "case_id"),)

    user_id: Mapped[uuid.UUID] = owner_key("users")
    case_id: Mapped[uuid.UUID] = owner_key("cases")
    access: Mapped[Access] = mapped_column(enum_type(Access, "access"))
    granted_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")


class SignInAttempt(Keyed, Base):
    """A sign-in attempt not (yet) known to have succeeded, per throttle key (an e-mail address or
    a client address): shared by every gateway replica, counted before the password is checked."""

    __tablename__ = "signin_attempts"

    key: Mapped[str] = mapped_column(sa.String(400), index=True)


class RefreshToken(Keyed, Base):
    """One issued refresh token. Rotation links tokens into a family; reuse revokes the family."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = owner_key("users")
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 of the token
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    replaced_by_id: Mapped[uuid.UUID | None] = owner_key("refresh_tokens", nullable=True, ondelete="SET NULL")
