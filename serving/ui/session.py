"""Signing in to the page: tokens in cookies, refreshed transparently, and a CSRF token per sign-in.

The access and refresh tokens live in two cookies (HttpOnly, SameSite=Strict, Path=/ui, Secure
behind TLS), so no script and no URL ever holds them. Every form carries a CSRF token bound to
the sign-in (an HMAC of its session id under the gateway's token key), checked on every POST,
together with the browser's own word on where the request came from.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request, Response

from serving.api.deps import State
from serving.auth.policy import ROLES, Action
from serving.auth.tokens import read_access_token
from serving.errors import AuthenticationError, PermissionDeniedError
from serving.services.signins import SignInService, TokenPair
from serving.ui.web import PREFIX, SignInRequiredError
from storage.tables import User

ACCESS_COOKIE = "sura_access"
REFRESH_COOKIE = "sura_refresh"
GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of this browser and the CSRF token of their sign-in."""

    user: User
    csrf: str

    def may(self, action: Action) -> bool:
        return self.user.role in ROLES[action]


def csrf_token(secret: str, session_id: uuid.UUID) -> str:
    return hmac.new(secret.encode(), b"sura-ui-csrf:" + session_id.bytes, hashlib.sha256).hexdigest()


class RefreshGrace:
    """Refreshes of the last few seconds and the pair each gave.

    Requests that arrive together with the same expired access token each try to refresh it;
    only the first spends the refresh token, and the others get the same new pair, instead of
    looking like a stolen token replayed (which would end the sign-in). Per process: refreshes
    are rare (once an hour per sign-in), so one lock is enough.
    """

    def __init__(self, seconds: float = GRACE_SECONDS) -> None:
        self.seconds = seconds
        self._recent: dict[str, tuple[float, TokenPair]] = {}
        self._lock = threading.Lock()

    def refresh(self, signins: SignInService, token: str) -> TokenPair:
        key, now = hashlib.sha256(token.encode()).hexdigest(), time.monotonic()
        with self._lock:
            self._recent = {k: v for k, v in self._recent.items() if now - v[0] < self.seconds}
            if key in self._recent:
                return self._recent[key][1]
            pair = signins.refresh(token)
            self._recent[key] = (now, pair)
            return pair


GRACE = RefreshGrace()


def _secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly, or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _stage(request: Request, change: Callable[[Response], None]) -> None:
    """Cookie changes are applied to whatever response the request ends with, error pages included."""
    if not hasattr(request.state, "cookie_changes"):
        request.state.cookie_changes = []
    request.state.cookie_changes.append(change)


def remember(request: Request, pair: TokenPair) -> None:
    """Keep a new token pair in the browser's cookies."""
    secure = _secure(request)

    def apply(response: Response) -> None:
        for name, value, seconds in (
            (ACCESS_COOKIE, pair.access_token, pair.expires_in),
            (REFRESH_COOKIE, pair.refresh_token, pair.refresh_expires_in),
        ):
            response.set_cookie(
                name, value, max_age=seconds, path=PREFIX, secure=secure, httponly=True, samesite="strict"
            )

    _stage(request, apply)


def forget(request: Request) -> None:
    """Remove the tokens from the browser."""
    secure = _secure(request)

    def apply(response: Response) -> None:
        for name in (ACCESS_COOKIE, REFRESH_COOKIE):
            response.delete_cookie(name, path=PREFIX, secure=secure, httponly=True, samesite="strict")

    _stage(request, apply)


def _admit(request: Request, state: State, access_token: str) -> Viewer:
    claims = read_access_token(access_token, secret=state.token_secret)
    user = state.active_users.get(claims.user_id, claims.session_id)
    viewer = Viewer(user=user, csrf=csrf_token(state.token_secret, claims.session_id))
    request.state.viewer = viewer
    return viewer


def signed_in(request: Request, state: State) -> Viewer:
    """The signed-in user; an expired access token is refreshed on the way. SignInRequiredError otherwise.

    A plain ``def``: FastAPI runs it in a thread, as it may look the user up in the database.
    """
    access, refresh = request.cookies.get(ACCESS_COOKIE), request.cookies.get(REFRESH_COOKIE)
    if access:
        try:
            return _admit(request, state, access)
        except AuthenticationError:
            pass  # expired, or its sign-in ended: the refresh token decides
    if not refresh:
        if access:
            forget(request)
        raise SignInRequiredError
    try:
        pair = GRACE.refresh(state.signins, refresh)
        viewer = _admit(request, state, pair.access_token)
    except AuthenticationError:
        forget(request)
        raise SignInRequiredError from None
    remember(request, pair)
    return viewer


Signed = Annotated[Viewer, Depends(signed_in)]


def check_same_site(request: Request) -> None:
    """Refuse a POST the browser says came from another site (Fetch metadata, then Origin).

    ``Origin: null`` is what Chromium sends under ``Referrer-Policy: no-referrer``; the CSRF
    token still has to match.
    """
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    foreign_origin = origin not in (None, "null") and urlsplit(origin).netloc != request.headers.get("host")
    if site not in (None, "same-origin", "none") or foreign_origin:
        raise PermissionDeniedError("this form was sent from another site")


def check_form(request: Request, viewer: Viewer, csrf: str) -> None:
    """Refuse a form without this sign-in's CSRF token (403)."""
    check_same_site(request)
    if not hmac.compare_digest(csrf.encode(), viewer.csrf.encode()):
        raise PermissionDeniedError("the form is out of date or did not come from this page: reload it and try again")


def posted(request: Request, viewer: Signed, csrf: Annotated[str, Form()] = "") -> Viewer:
    """The signed-in user of a form that carries their CSRF token."""
    check_form(request, viewer, csrf)
    return viewer


Posted = Annotated[Viewer, Depends(posted)]
