"""In-app notifications and how each user wants to be told (in-app, e-mail, signed webhook)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from serving.api.deps import PageNumber, State, errors, permitted
from serving.api.schemas.common import Page, page_of
from serving.api.schemas.work import MarkedRead, NotificationOut, PreferenceIn, PreferenceOut, UnreadCount
from serving.auth.policy import Action
from storage.tables import User

router = APIRouter(prefix="/notifications", tags=["notifications"])
Reader = Annotated[User, permitted(Action.READ_NOTIFICATIONS)]


@router.get("", responses=errors(401, 422))
async def list_notifications(
    user: Reader,
    state: State,
    unread_only: bool = False,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[NotificationOut]:
    """The signed-in user's notifications, newest first."""
    found = await asyncio.to_thread(
        state.notifications.find, user, unread_only=unread_only, page=page, page_size=page_size
    )
    return page_of(NotificationOut, found)


@router.get("/unread-count", responses=errors(401))
async def unread_count(user: Reader, state: State) -> UnreadCount:
    return UnreadCount(unread=await asyncio.to_thread(state.notifications.unread_count, user))


@router.post("/{notification_id}/read", responses=errors(401, 404, 422))
async def mark_read(notification_id: uuid.UUID, user: Reader, state: State) -> MarkedRead:
    return MarkedRead(marked=await asyncio.to_thread(state.notifications.mark_read, user, notification_id))


@router.post("/read-all", responses=errors(401))
async def mark_all_read(user: Reader, state: State) -> MarkedRead:
    return MarkedRead(marked=await asyncio.to_thread(state.notifications.mark_all_read, user))


@router.get("/preferences", responses=errors(401))
async def list_preferences(user: Reader, state: State) -> list[PreferenceOut]:
    """What the user asked for; in-app is on for every kind unless turned off here."""
    preferences = await asyncio.to_thread(state.notifications.preferences, user)
    return [PreferenceOut.model_validate(p, from_attributes=True) for p in preferences]


@router.put("/preferences", responses=errors(401, 422))
async def set_preference(body: PreferenceIn, user: Reader, state: State) -> PreferenceOut:
    """Turn one kind of event on one channel on or off. Webhooks need an http(s) URL as ``target``."""
    preference = await asyncio.to_thread(
        state.notifications.set_preference,
        user,
        kind=body.kind,
        channel=body.channel,
        enabled=body.enabled,
        target=body.target,
    )
    return PreferenceOut.model_validate(preference, from_attributes=True)
