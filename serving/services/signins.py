"""Sign-ins: access tokens (1 h) and rotating refresh tokens (7 d) in families.

A sign-in starts a family. Every refresh spends the presented refresh token and returns a
new one of the same family; presenting a spent token again means it was stolen or replayed,
and the whole family (every token it grew into) is revoked. Access tokens carry the family
id, so a revoked family stops working within the gateway's few-second user cache.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
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
from storage.tables import RefreshToken, SignInAttempt, User


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


@dataclass(frozen=True)
class SignInPolicy:
    """Token lifetimes and how many failed sign-ins an e-mail address and a client get per window."""

    secret: str
    access_lifetime: timedelta = timedelta(hours=1)
    refresh_lifetime: timedelta = timedelta(days=7)
    failures_allowed: int = 5  # per e-mail address
    lockout: timedelta = timedelta(minutes=15)
    client_failures_allowed: int = 100  # per client address, whatever e-mail addresses it tries


class LoginThrottle:
    """Sign-in attempts per e-mail address (known or not, so it reveals nothing) and per client
    address, kept in the database so that every gateway replica counts the same attempts.

    An attempt is counted before its password is checked, under a lock per key, so that many
    attempts at once cannot slip past the count; a successful sign-in takes its own attempt back
    and clears the address's earlier failures.
    """

    def __init__(self, db: Database, *, per_email: int, per_client: int, window: timedelta) -> None:
        self.db, self.window = db, window
        self.limits = {"email": per_email, "client": per_client}

    def attempt(self, email: str, client: str | None) -> list[uuid.UUID]:
        """Count an attempt (RateLimitedError when a key has used up its window); returns its rows."""
        keys = {f"email:{email.lower()}": self.limits["email"]}
        if client:
            keys[f"client:{client}"] = self.limits["client"]
        with self.db.transaction() as session:
            now: datetime = session.execute(sa.select(sa.func.now())).scalar_one()
            for key in sorted(keys):  # one order for the locks: no deadlock between attempts
                session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))
            stale = sa.delete(SignInAttempt).where(
                SignInAttempt.key.in_(keys), SignInAttempt.created_at < now - self.window
            )
            session.execute(stale)
            for key, allowed in keys.items():
                count, oldest = session.execute(
                    sa.select(sa.func.count(), sa.func.min(SignInAttempt.created_at)).where(SignInAttempt.key == key)
                ).one()
                if count >= allowed:
                    wait = int((oldest + self.window - now).total_seconds()) + 1
                    raise RateLimitedError(f"too many failed sign-ins: try again in {wait} s", retry_after=wait)
            rows = [SignInAttempt(key=key) for key in keys]
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def succeeded(self, email: str, attempt: list[uuid.UUID]) -> None:
        with self.db.transaction() as session:
            session.execute(
                sa.delete(SignInAttempt).where(
                    sa.or_(SignInAttempt.id.in_(attempt), SignInAttempt.key == f"email:{email.lower()}")
                )
            )


class SignInService:
    def __init__(self, db: Database, policy: SignInPolicy) -> None:
        self.db, self.policy = db, policy
        self.throttle = LoginThrottle(
            db, per_email=policy.failures_allowed, per_client=policy.client_failures_allowed, window=policy.lockout
        )

    def sign_in(self, email: str, password: str, client: str | None = None) -> TokenPair:
        """Tokens for a right e-mail and password; one message, and the same work, for every wrong
        combination (an unknown address and a disabled account included)."""
        attempt = self.throttle.attempt(email, client)
        with self.db.transaction() as session:
            user = UserRepository(session).find_by_email(email=email)
            if user is None:
                dummy_verify(password)
            matches = user is not None and verify_password(user.password_hash, password)
            valid = matches and user is not None and user.is_active
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
            raise AuthenticationError("wrong e-mail address or password")
        self.throttle.succeeded(email, attempt)
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
