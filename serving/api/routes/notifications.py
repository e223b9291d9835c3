"""In-app notifications and how each user wants to be told (in-app, e-mail, signed webhook)."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from serving.api.deps import State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.work import MarkedRead, NotificationOut, PreferenceIn, PreferenceOut, UnreadCount
from serving.auth.policy import Action
from serving.services.notify import webhook_secret
from storage.audit import AuditLog
from storage.errors import InvalidArgumentError
from storage.repositories.notifications import NotificationRepository
from storage.tables import Channel, NotificationPreference, User

router = APIRouter(prefix="/notifications", tags=["notifications"])
Reader = Annotated[User, permitted(Action.READ_NOTIFICATIONS)]


@router.get("", responses=errors(401, 422))
async def list_notifications(
    user: Reader,
    state: State,
    unread_only: bool = False,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[NotificationOut]:
    """The signed-in user's notifications, newest first."""
    with state.db.transaction() as session:
        found = NotificationRepository(session).find(
            user_id=user.id, unread_only=unread_only, page=page, page_size=page_size
        )
    return page_of(NotificationOut, found)


@router.get("/unread-count", responses=errors(401))
async def unread_count(user: Reader, state: State) -> UnreadCount:
    with state.db.transaction() as session:
        return UnreadCount(unread=NotificationRepository(session).unread_count(user_id=user.id))


@router.post("/{notification_id}/read", responses=errors(401, 404, 422))
async def mark_read(notification_id: uuid.UUID, user: Reader, state: State) -> MarkedRead:
    with state.db.transaction() as session:
        marked = NotificationRepository(session).mark_read(user_id=user.id, notification_id=notification_id)
        _audit_read(session, user, marked)
    return MarkedRead(marked=marked)


@router.post("/read-all", responses=errors(401))
async def mark_all_read(user: Reader, state: State) -> MarkedRead:
    with state.db.transaction() as session:
        marked = NotificationRepository(session).mark_read(user_id=user.id)
        _audit_read(session, user, marked)
    return MarkedRead(marked=marked)


@router.get("/preferences", responses=errors(401))
async def list_preferences(user: Reader, state: State) -> list[PreferenceOut]:
    """What the user asked for; in-app is on for every kind unless turned off here."""
    with state.db.transaction() as session:
        rows = session.scalars(sa.select(NotificationPreference).where(NotificationPreference.user_id == user.id))
        return [_preference_out(state.token_secret, row) for row in rows]


@router.put("/preferences", responses=errors(401, 422))
async def set_preference(body: PreferenceIn, user: Reader, state: State) -> PreferenceOut:
    """Turn one kind of event on one channel on or off. Webhooks need an http(s) URL as ``target``."""
    if body.channel is Channel.WEBHOOK and body.enabled and not (body.target or "").startswith(("https://", "http://")):
        raise InvalidArgumentError("a webhook needs an http(s) URL as its target")
    with state.db.transaction() as session:
        row = NotificationRepository(session).set_preference(
            user_id=user.id, kind=body.kind, channel=body.channel, enabled=body.enabled, target=body.target
        )
        AuditLog(session).append(
            actor=f"user:{user.id}",
            action="notification.preference",
            target_type="user",
            target_id=user.id,
            details={"kind": body.kind.value, "channel": body.channel.value, "enabled": body.enabled},
        )
        return _preference_out(state.token_secret, row)


def _preference_out(server_secret: str, row: NotificationPreference) -> PreferenceOut:
    secret = webhook_secret(server_secret, row.id) if row.channel is Channel.WEBHOOK else None
    return PreferenceOut(
        kind=row.kind, channel=row.channel, enabled=row.enabled, target=row.target, signing_secret=secret
    )


def _audit_read(session: sa.orm.Session, user: User, marked: int) -> None:
    AuditLog(session).append(
        actor=f"user:{user.id}",
        action="notification.read",
        target_type="user",
        target_id=user.id,
        details={"marked": marked},
    )
