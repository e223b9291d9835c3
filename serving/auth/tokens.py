"""Signed access tokens (JWT, HS256 only) carrying a user id and role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from serving.errors import AuthenticationError
from storage.tables import Role

ALGORITHM = "HS256"  # pinned: tokens claiming any other algorithm, "none" included, are refused
ISSUER = "surasmart"


@dataclass(frozen=True)
class AccessClaims:
    """Who a valid access token speaks for."""

    user_id: uuid.UUID
    role: Role
    session_id: uuid.UUID
    expires_at: datetime


def issue_access_token(
    *, user_id: uuid.UUID, role: Role, session_id: uuid.UUID, secret: str, lifetime: timedelta
) -> tuple[str, int]:
    """A new access token for one sign-in session, and its lifetime in seconds."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "role": role.value,
        "typ": "access",
        "iss": ISSUER,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), int(lifetime.total_seconds())


def read_access_token(token: str, *, secret: str) -> AccessClaims:
    """The claims of a valid, unexpired access token; AuthenticationError for anything else."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "sid", "role", "typ", "exp", "iat"]},
        )
        if claims["typ"] != "access":
            raise AuthenticationError("not an access token")
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            role=Role(claims["role"]),
            session_id=uuid.UUID(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("the access token has expired") from exc
    except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
        raise AuthenticationError("the access token is not valid") from exc
