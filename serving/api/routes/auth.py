"""Signing in and out: access tokens, rotating refresh tokens."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, status

from serving.api.deps import State, errors
from serving.api.schemas.people import RefreshRequest, TokenRequest, TokenResponse
from serving.services.signins import TokenPair

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", responses=errors(401, 422, 429))
async def obtain_token(body: TokenRequest, request: Request, state: State) -> TokenResponse:
    """E-mail and password for an access token (1 h) and a refresh token (7 d). Wrong input never says which part;
    429 after too many failures for the address (or from the client)."""
    client = request.client.host if request.client else None
    return _tokens(await asyncio.to_thread(state.signins.sign_in, body.email, body.password, client))


@router.post("/refresh", responses=errors(401, 422))
async def refresh_token(body: RefreshRequest, state: State) -> TokenResponse:
    """Spend a refresh token for a new pair. Presenting a spent one ends every session of that sign-in."""
    return _tokens(await asyncio.to_thread(state.signins.refresh, body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 422))
async def logout(body: RefreshRequest, state: State) -> None:
    """End the sign-in the refresh token belongs to; its access tokens stop working within seconds."""
    await asyncio.to_thread(state.signins.sign_out, body.refresh_token)


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        refresh_expires_in=pair.refresh_expires_in,
    )
