"""Who a token speaks for, looked up once every few seconds rather than on every request."""

from __future__ import annotations

import threading
import time
import uuid

from serving.errors import AuthenticationError
from storage.database import Database
from storage.tables import User

USER_TTL_SECONDS = 5.0  # a disabled account or a changed role takes effect within this


class ActiveUsers:
    """Active users by id, each re-read from the database after ``ttl`` seconds."""

    def __init__(self, db: Database, ttl: float = USER_TTL_SECONDS) -> None:
        self.db, self.ttl = db, ttl
        self._known: dict[uuid.UUID, tuple[float, User]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: uuid.UUID) -> User:
        """The active user with this id; AuthenticationError when gone or disabled."""
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(user_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        with self.db.transaction() as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active:
                with self._lock:
                    self._known.pop(user_id, None)
                raise AuthenticationError("the account is disabled or no longer exists")
            session.expunge(user)
        with self._lock:
            self._known[user_id] = (now, user)
        return user
