"""A user's in-app notifications and how they want to be told; marking read and preferences audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from serving.auth.policy import Action, authorize
from serving.external.fetch import FetchRefusedError, check_url_form
from serving.services.notify import webhook_secret
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import InvalidArgumentError
from storage.repositories.common import Page
from storage.repositories.notifications import NotificationRepository
from storage.tables import Channel, Notification, NotificationKind, NotificationPreference, User


@dataclass(frozen=True)
class Preference:
    """One kind of event on one channel; webhooks carry the key their calls are signed with."""

    kind: NotificationKind
    channel: Channel
    enabled: bool
    target: str | None
    signing_secret: str | None


class NotificationService:
    def __init__(self, db: Database, server_secret: str) -> None:
        self.db, self.server_secret = db, server_secret

    def find(self, user: User, *, unread_only: bool, page: int, page_size: int) -> Page[Notification]:
        """The user's notifications, newest first."""
        authorize(user, Action.READ_NOTIFICATIONS)
        with self.db.transaction() as session:
            return NotificationRepository(session).find(
                user_id=user.id, unread_only=unread_only, page=page, page_size=page_size
            )

    def unread_count(self, user: User) -> int:
        authorize(user, Action.READ_NOTIFICATIONS)
        with self.db.transaction() as session:
            return NotificationRepository(session).unread_count(user_id=user.id)

    def mark_read(self, user: User, notification_id: uuid.UUID) -> int:
        """Mark one of the user's notifications read; how many were unread (0 or 1)."""
        return self._mark(user, notification_id)

    def mark_all_read(self, user: User) -> int:
        """Mark every unread notification of the user read; how many there were."""
        return self._mark(user, None)

    def preferences(self, user: User) -> list[Preference]:
        """What the user asked for; in-app is on for every kind unless turned off."""
        authorize(user, Action.READ_NOTIFICATIONS)
        with self.db.transaction() as session:
            rows = session.scalars(sa.select(NotificationPreference).where(NotificationPreference.user_id == user.id))
            return [self._preference(row) for row in rows]

    def set_preference(
        self, user: User, *, kind: NotificationKind, channel: Channel, enabled: bool, target: str | None
    ) -> Preference:
        """Turn one kind of event on one channel on or off; an enabled webhook needs an http(s) URL.

        The URL's form is checked here (a host, no credentials); where it points is checked by the
        outbound guard at every delivery: https to a public address, or a host the server allows.
        """
        authorize(user, Action.READ_NOTIFICATIONS)
        if channel is Channel.WEBHOOK and enabled:
            _check_webhook(target)
        with self.db.transaction() as session:
            row = NotificationRepository(session).set_preference(
                user_id=user.id, kind=kind, channel=channel, enabled=enabled, target=target
            )
            AuditLog(session).append(
                actor=f"user:{user.id}",
                action="notification.preference",
                target_type="user",
                target_id=user.id,
                details={"kind": kind.value, "channel": channel.value, "enabled": enabled},
            )
            return self._preference(row)

    def _mark(self, user: User, notification_id: uuid.UUID | None) -> int:
        authorize(user, Action.READ_NOTIFICATIONS)
        with self.db.transaction() as session:
            marked = NotificationRepository(session).mark_read(user_id=user.id, notification_id=notification_id)
            _audit_read(session, user, marked)
            return marked

    def _preference(self, row: NotificationPreference) -> Preference:
        # Derived from the server key, never stored: only its owner sees it, here.
        secret = webhook_secret(self.server_secret, row.id) if row.channel is Channel.WEBHOOK else None
        return Preference(
            kind=row.kind, channel=row.channel, enabled=row.enabled, target=row.target, signing_secret=secret
        )


def _check_webhook(target: str | None) -> None:
    try:
        check_url_form(target or "")
    except FetchRefusedError as exc:
        raise InvalidArgumentError(f"a webhook needs an http(s) URL with a host and no credentials: {exc}") from exc


def _audit_read(session: Session, user: User, marked: int) -> None:
    AuditLog(session).append(
        actor=f"user:{user.id}",
        action="notification.read",
        target_type="user",
        target_id=user.id,
        details={"marked": marked},
    )
