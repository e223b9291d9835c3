"""Sign in: e-mail and password for an access token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from serving.api.deps import State
from serving.api.schemas import TokenRequest, TokenResponse
from serving.auth.passwords import dummy_verify, verify_password
from serving.auth.tokens import issue_access_token
from serving.errors import AuthenticationError
from storage.audit import AuditLog
from storage.repositories.users import UserRepository

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses={401: {"description": "Wrong e-mail or password (never says which)."}})
async def obtain_token(body: TokenRequest, state: State) -> TokenResponse:
    """Exchange an e-mail address and password for an access token."""
    return await asyncio.to_thread(_sign_in, state, body)


def _sign_in(state: State, body: TokenRequest) -> TokenResponse:
    with state.db.transaction() as session:
        user = UserRepository(session).find_by_email(email=body.email)
        if user is None:
            dummy_verify(body.password)
        valid = user is not None and user.is_active and verify_password(user.password_hash, body.password)
        if user is not None:
            AuditLog(session).append(
                actor=f"user:{user.id}",
                action="auth.login",
                target_type="user",
                target_id=user.id,
                outcome="success" if valid else "denied",
            )
    if not valid or user is None:
        raise AuthenticationError("wrong e-mail address or password")
    token, lifetime = issue_access_token(
        user_id=user.id, role=user.role, secret=state.token_secret, lifetime=state.token_lifetime
    )
    return TokenResponse(access_token=token, expires_in=lifetime)
