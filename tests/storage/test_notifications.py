"""Notifications: unread counts, marking read (one or all), preferences per kind and channel."""

from __future__ import annotations

import uuid

import pytest

from storage.database import Database
from storage.errors import NotFoundError
from storage.repositories.notifications import NotificationRepository
from storage.tables import Channel, NotificationKind, Role


def test_unread_and_mark_read(db: Database, make_user) -> None:
    user, other = make_user(Role.INVESTIGATOR), make_user(Role.INVESTIGATOR)
    with db.transaction() as session:
        notes = NotificationRepository(session)
        first = notes.create(user_id=user.id, kind=NotificationKind.MATCH_FOUND, title="New candidate match")
        for _ in range(2):
            notes.create(user_id=user.id, kind=NotificationKind.JOB_FINISHED, title="Scan finished")
        notes.create(user_id=other.id, kind=NotificationKind.JOB_FINISHED, title="Scan finished")
        assert notes.unread_count(user_id=user.id) == 3
        assert notes.mark_read(user_id=user.id, notification_id=first.id) == 1
        assert notes.mark_read(user_id=other.id, notification_id=first.id) == 0, "not someone else's"
        assert notes.find(user_id=user.id, unread_only=True).total == 2
        assert notes.mark_read(user_id=user.id) == 2
        assert notes.unread_count(user_id=user.id) == 0 and notes.unread_count(user_id=other.id) == 1
        with pytest.raises(NotFoundError):
            notes.mark_read(user_id=user.id, notification_id=uuid.uuid4())


def test_preferences_are_one_per_kind_and_channel(db: Database, make_user) -> None:
    user = make_user()
    with db.transaction() as session:
        notes = NotificationRepository(session)
        first = notes.set_preference(
            user_id=user.id,
            kind=NotificationKind.MATCH_FOUND,
            channel=Channel.WEBHOOK,
            enabled=True,
            target="https://ngo.example.org/hooks/sura",
        )
        again = notes.set_preference(
            user_id=user.id, kind=NotificationKind.MATCH_FOUND, channel=Channel.WEBHOOK, enabled=False
        )
        assert again.id == first.id and not again.enabled and again.target is None
