"""In-app notifications and per-user delivery preferences."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.repositories.common import Page, affected_rows, get_or_raise, paginate
from storage.tables import Channel, Notification, NotificationKind, NotificationPreference


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self, *, user_id: uuid.UUID, kind: NotificationKind, title: str, body: str = "", **links: Any
    ) -> Notification:
        """A notification; ``links`` may set case_id, match_id, job_id and data (ids only)."""
        notification = Notification(user_id=user_id, kind=kind, title=title, body=body, **links)
        self.session.add(notification)
        self.session.flush()
        return notification

    def find(
        self, *, user_id: uuid.UUID, unread_only: bool = False, page: int = 1, page_size: int = 50
    ) -> Page[Notification]:
        query = sa.select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        return paginate(self.session, query.order_by(Notification.created_at.desc()), page=page, page_size=page_size)

    def unread_count(self, *, user_id: uuid.UUID) -> int:
        condition = sa.and_(Notification.user_id == user_id, Notification.read_at.is_(None))
        return self.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(condition)) or 0

    def mark_read(self, *, user_id: uuid.UUID, notification_id: uuid.UUID | None = None) -> int:
        """Mark one (or, without an id, every) unread notification of the user read; returns how many."""
        condition = [Notification.user_id == user_id, Notification.read_at.is_(None)]
        if notification_id is not None:
            get_or_raise(self.session, Notification, notification_id)
            condition.append(Notification.id == notification_id)
        statement = sa.update(Notification).where(*condition).values(read_at=sa.func.now())
        return affected_rows(self.session, statement.execution_options(synchronize_session=False))

    def set_preference(
        self, *, user_id: uuid.UUID, kind: NotificationKind, channel: Channel, enabled: bool, target: str | None = None
    ) -> NotificationPreference:
        query = sa.select(NotificationPreference).where(
            NotificationPreference.user_id == user_id,
            NotificationPreference.kind == kind,
            NotificationPreference.channel == channel,
        )
        preference = self.session.scalar(query)
        if preference is None:
            preference = NotificationPreference(user_id=user_id, kind=kind, channel=channel)
            self.session.add(preference)
        preference.enabled, preference.target = enabled, target
        self.session.flush()
        return preference
