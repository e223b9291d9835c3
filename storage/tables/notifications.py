"""What users are told, and how they want to be told."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, Keyed, enum_type, owner_key


class NotificationKind(enum.StrEnum):
    MATCH_FOUND = "match_found"
    MATCH_CONFIRMED = "match_confirmed"
    CASE_UPDATED = "case_updated"
    SYNC_FAILED = "sync_failed"
    JOB_FINISHED = "job_finished"


class Channel(enum.StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    WEBHOOK = "webhook"


class Notification(Keyed, Base):
    """An in-app message. ``data`` holds ids only; erasing a case erases what was said about it."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_unread", "user_id", "read_at"),)

    user_id: Mapped[uuid.UUID] = owner_key("users")
    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind, "notification_kind"))
    case_id: Mapped[uuid.UUID | None] = owner_key("cases", nullable=True)
    match_id: Mapped[uuid.UUID | None] = owner_key("matches", nullable=True)
    job_id: Mapped[uuid.UUID | None] = owner_key("jobs", nullable=True, ondelete="SET NULL")
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    read_at: Mapped[datetime | None]


class NotificationPreference(Keyed, Base):
    """Whether a user gets one kind of event on one channel, and where (address or URL)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (sa.UniqueConstraint("user_id", "kind", "channel"),)

    user_id: Mapped[uuid.UUID] = owner_key("users")
    kind: Mapped[NotificationKind] = mapped_column(enum_type(NotificationKind, "notification_kind"))
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, "channel"))
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    target: Mapped[str | None] = mapped_column(sa.Text)
