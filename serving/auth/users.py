"""Who a token speaks for, looked up once every few seconds rather than on every request."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from serving.errors import AuthenticationError
from storage.database import Database
from storage.tables import User

USER_TTL_SECONDS = 5.0  # a disabled account, a changed role or an ended session counts within this


class ActiveUsers:
    """The users behind valid sessions, each re-checked in the database after ``ttl`` seconds."""

    def __init__(
        self, db: Database, session_active: Callable[[Session, uuid.UUID], bool], ttl: float = USER_TTL_SECONDS
    ) -> None:
        self.db, self.session_active, self.ttl = db, session_active, ttl
        self._known: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> User:
        """The active user of a live session; AuthenticationError when gone, disabled or signed out."""
        key, now = (user_id, session_id), time.monotonic()
        with self._lock:
            cached = self._known.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        with self.db.transaction() as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active or not self.session_active(session, session_id):
                with self._lock:
                    self._known.pop(key, None)
                raise AuthenticationError("the session has ended or the account is disabled")
            session.expunge(user)
        with self._lock:
            self._known[key] = (now, user)
        return user

    def forget(self, user_id: uuid.UUID) -> None:
        """Drop a user's cached sessions here (after a change made through this replica)."""
        with self._lock:
            for key in [k for k in self._known if k[0] == user_id]:
                del self._known[key]
