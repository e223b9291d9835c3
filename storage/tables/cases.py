"""Missing-person cases."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, Keyed, enum_type, owner_key


class CaseStatus(enum.StrEnum):
    SUBMITTED = "submitted"  # opened by a reporter; matched once an investigator accepts it
    OPEN = "open"
    FOUND_ALIVE = "found_alive"
    FOUND_DECEASED = "found_deceased"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class CasePriority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


# Names and aliases in one tsvector; the 'simple' configuration neither stems nor drops words,
# which suits names in any language. sura_join_names is array_to_string declared IMMUTABLE
# (created by the first migration) because a generated column needs an immutable expression.
MATCHABLE = "status = 'open' AND consent_recorded_at IS NOT NULL"
SEARCH_EXPRESSION = "to_tsvector('simple', full_name || ' ' || sura_join_names(aliases))"


class Case(Keyed, Base):
    """A missing person, opened by a reporter and worked by investigators."""

    __tablename__ = "cases"
    __table_args__ = (sa.Index("ix_cases_search", "search_vector", postgresql_using="gin"),)

    number: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(300))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), default=list, server_default="{}")
    sex: Mapped[Sex] = mapped_column(enum_type(Sex, "sex"), default=Sex.UNKNOWN)
    date_of_birth: Mapped[date | None]
    last_seen_at: Mapped[datetime | None] = mapped_column(index=True)
    last_seen_place: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[CaseStatus] = mapped_column(enum_type(CaseStatus, "case_status"), index=True)
    priority: Mapped[CasePriority] = mapped_column(enum_type(CasePriority, "case_priority"), index=True)
    reporter_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    assignee_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    consent_biometric: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    consent_recorded_at: Mapped[datetime | None]
    consent_recorded_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    # Matched (in the galleries, in retro searches) only while open and with consent recorded.
    matchable: Mapped[bool] = mapped_column(sa.Computed(MATCHABLE, persisted=True), index=True)
    retention_until: Mapped[date | None] = mapped_column(index=True)
    closed_at: Mapped[datetime | None]
    search_vector: Mapped[str] = mapped_column(TSVECTOR, sa.Computed(SEARCH_EXPRESSION, persisted=True))
