"""Sign-ins: access tokens (1 h) and rotating refresh tokens (7 d) in families.

A sign-in starts a family. Every refresh spends the presented refresh token and returns a
new one of the same family; presenting a spent token again means it was stolen or replayed,
and the whole family (every token it grew into) is revoked. Access tokens carry the family
id, so a revoked family stops working within the gateway's few-second user cache.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from serving.auth.passwords import MIN_LENGTH, dummy_verify, hash_password, verify_password
from serving.auth.tokens import issue_access_token
from serving.errors import AuthenticationError, RateLimitedError
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import InvalidArgumentError
from storage.repositories.users import UserRepository
from storage.tables import RefreshToken, User


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class SignInPolicy:
    """Token lifetimes and how many failed sign-ins an address gets per window."""

    secret: str
    access_lifetime: timedelta = timedelta(hours=1)
    refresh_lifetime: timedelta = timedelta(days=7)
    failures_allowed: int = 5
    lockout: timedelta = timedelta(minutes=15)


class LoginThrottle:
    """Failed sign-ins per address (known or not, so it reveals nothing), kept in this process."""

    def __init__(self, allowed: int, window: timedelta) -> None:
        self.allowed, self.window = allowed, window.total_seconds()
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, email: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._failures.get(email.lower(), deque())
            while recent and now - recent[0] > self.window:
                recent.popleft()
            if len(recent) >= self.allowed:
                wait = int(self.window - (now - recent[0])) + 1
                raise RateLimitedError(f"too many failed sign-ins: try again in {wait} s", retry_after=wait)

    def failed(self, email: str) -> None:
        with self._lock:
            self._failures.setdefault(email.lower(), deque()).append(time.monotonic())

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email.lower(), None)


class SignInService:
    def __init__(self, db: Database, policy: SignInPolicy) -> None:
        self.db, self.policy = db, policy
        self.throttle = LoginThrottle(policy.failures_allowed, policy.lockout)

    def sign_in(self, email: str, password: str) -> TokenPair:
        """Tokens for a right e-mail and password; one message for every wrong combination."""
        self.throttle.check(email)
        with self.db.transaction() as session:
            user = UserRepository(session).find_by_email(email=email)
            if user is None:
                dummy_verify(password)
            valid = user is not None and user.is_active and verify_password(user.password_hash, password)
            if user is not None:
                AuditLog(session).append(
                    actor=f"user:{user.id}",
                    action="auth.login",
                    target_type="user",
                    target_id=user.id,
                    outcome="success" if valid else "denied",
                )
            if valid and user is not None:
                user.last_login_at = sa.func.now()
                pair = self._issue(session, user, family=uuid.uuid4())
        if not valid:
            self.throttle.failed(email)
            raise AuthenticationError("wrong e-mail address or password")
        self.throttle.succeeded(email)
        return pair

    def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair; a spent one revokes its whole family."""
        with self.db.transaction() as session:
            row = session.scalar(
                sa.select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token)).with_for_update()
            )
            if row is None or row.revoked_at is not None or row.expires_at <= datetime.now(UTC):
                raise AuthenticationError("the refresh token is not valid")
            if row.used_at is not None:
                reused = row.family_id, row.user_id
            else:
                reused = None
                user = session.get(User, row.user_id)
                if user is None or not user.is_active:
                    raise AuthenticationError("the account is disabled or no longer exists")
                row.used_at = sa.func.now()
                pair = self._issue(session, user, family=row.family_id, replacing=row)
                AuditLog(session).append(
                    actor=f"user:{user.id}", action="auth.refresh", target_type="user", target_id=user.id
                )
        if reused is not None:
            self._revoke_family(*reused, reason="refresh_token_reused")
            raise AuthenticationError("this refresh token was already used: every session of that sign-in is ended")
        return pair

    def sign_out(self, refresh_token: str) -> None:
        """End the sign-in the refresh token belongs to (its whole family)."""
        with self.db.transaction() as session:
            row = session.scalar(sa.select(RefreshToken).where(RefreshToken.token_hash == _digest(refresh_token)))
            found = (row.family_id, row.user_id) if row is not None else None
        if found is None:
            raise AuthenticationError("the refresh token is not valid")
        self._revoke_family(*found, reason="logout")

    def change_password(self, user: User, *, current: str, new: str, keep_signin: uuid.UUID) -> None:
        """Set a new password and end every other sign-in of the user."""
        if len(new) < MIN_LENGTH:
            raise InvalidArgumentError(f"the new password must have at least {MIN_LENGTH} characters")
        with self.db.transaction() as session:
            stored = session.get(User, user.id, with_for_update=True)
            if stored is None or not verify_password(stored.password_hash, current):
                raise AuthenticationError("the current password is wrong")
            stored.password_hash, stored.password_changed_at = hash_password(new), sa.func.now()
            ended = session.execute(
                sa.update(RefreshToken)
                .where(
                    RefreshToken.user_id == user.id,
                    RefreshToken.family_id != keep_signin,
                    RefreshToken.revoked_at.is_(None),
                )
                .values(revoked_at=sa.func.now())
                .returning(RefreshToken.family_id)
            ).scalars()
            AuditLog(session).append(
                actor=f"user:{user.id}",
                action="auth.password_change",
                target_type="user",
                target_id=user.id,
                details={"other_sessions_ended": len(set(ended))},
            )

    def signin_active(self, session: Session, family: uuid.UUID) -> bool:
        """False once any token of the sign-in was revoked (logout, reuse, password change)."""
        revoked = sa.select(RefreshToken.id).where(
            RefreshToken.family_id == family, RefreshToken.revoked_at.isnot(None)
        )
        return session.scalar(sa.select(sa.exists(revoked))) is False

    def _issue(
        self, session: Session, user: User, *, family: uuid.UUID, replacing: RefreshToken | None = None
    ) -> TokenPair:
        refresh = secrets.token_urlsafe(32)
        row = RefreshToken(
            user_id=user.id,
            family_id=family,
            token_hash=_digest(refresh),
            expires_at=datetime.now(UTC) + self.policy.refresh_lifetime,
        )
        session.add(row)
        session.flush()
        if replacing is not None:
            replacing.replaced_by_id = row.id
        access, lifetime = issue_access_token(
            user_id=user.id,
            role=user.role,
            session_id=family,
            secret=self.policy.secret,
            lifetime=self.policy.access_lifetime,
        )
        return TokenPair(access, refresh, lifetime, int(self.policy.refresh_lifetime.total_seconds()))

    def _revoke_family(self, family: uuid.UUID, user_id: uuid.UUID, *, reason: str) -> None:
        with self.db.transaction() as session:
            session.execute(
                sa.update(RefreshToken)
                .where(RefreshToken.family_id == family, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=sa.func.now())
            )
            AuditLog(session).append(
                actor=f"user:{user_id}",
                action="auth.session_end",
                target_type="user",
                target_id=user_id,
                outcome="success",
                details={"reason": reason},
            )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
