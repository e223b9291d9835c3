"""Telling people: an in-app notification each, and a delivery job per e-mail or webhook they asked for.

Notifications carry case numbers and ids, never names or photos: they leave the system by
e-mail and webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.jobs import JobQueue
from storage.repositories.notifications import NotificationRepository
from storage.tables import (
    Case,
    CaseGrant,
    Channel,
    JobPriority,
    NotificationKind,
    NotificationPreference,
    Role,
    User,
)

DELIVERY_JOBS = {Channel.EMAIL: "deliver.email", Channel.WEBHOOK: "deliver.webhook"}


@dataclass(frozen=True)
class Event:
    kind: NotificationKind
    title: str
    body: str = ""
    case_id: uuid.UUID | None = None
    match_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None


class Notifier:
    def __init__(self, session: Session) -> None:
        self.session = session

    def send(self, event: Event, recipients: Iterable[uuid.UUID | None], *, skip: uuid.UUID | None = None) -> int:
        """Notify each recipient (not ``skip``, who caused the event); returns how many."""
        users = {user for user in recipients if user is not None and user != skip}
        if not users:
            return 0
        preferences = self.session.scalars(
            sa.select(NotificationPreference).where(
                NotificationPreference.user_id.in_(users), NotificationPreference.kind == event.kind
            )
        ).all()
        muted = {p.user_id for p in preferences if p.channel is Channel.IN_APP and not p.enabled}
        notes = NotificationRepository(self.session)
        queue = JobQueue(self.session)
        for user in users:
            note = notes.create(
                user_id=user,
                kind=event.kind,
                title=event.title,
                body=event.body,
                case_id=event.case_id,
                match_id=event.match_id,
                job_id=event.job_id,
                read_at=sa.func.now() if user in muted else None,
            )
            for preference in preferences:
                if preference.user_id == user and preference.enabled and preference.channel in DELIVERY_JOBS:
                    queue.enqueue(
                        kind=DELIVERY_JOBS[preference.channel],
                        priority=JobPriority.HIGH,
                        max_attempts=5,
                        payload={"notification_id": str(note.id), "preference_id": str(preference.id)},
                    )
        return len(users)


def case_workers(session: Session, case: Case) -> set[uuid.UUID]:
    """Who works a case: its assignee and investigators or supervisors granted on it; else every supervisor."""
    granted = session.scalars(
        sa.select(CaseGrant.user_id)
        .join(User, User.id == CaseGrant.user_id)
        .where(CaseGrant.case_id == case.id, User.role.in_([Role.INVESTIGATOR, Role.SUPERVISOR]), User.is_active)
    ).all()
    workers = {*granted, *([case.assignee_id] if case.assignee_id else [])}
    if workers:
        return workers
    return set(session.scalars(sa.select(User.id).where(User.role == Role.SUPERVISOR, User.is_active)))


def case_followers(case: Case) -> set[uuid.UUID]:
    """Who follows a case's outcome: the reporter and the assignee."""
    return {user for user in (case.reporter_id, case.assignee_id) if user is not None}


def webhook_secret(server_secret: str, preference_id: uuid.UUID) -> str:
    """The per-webhook signing key, derived (never stored): HMAC of the server key and the preference."""
    return hmac.new(server_secret.encode(), f"webhook:{preference_id}".encode(), hashlib.sha256).hexdigest()
