"""Signing in and out, and where a signed-in user starts."""

from __future__ import annotations

import contextlib
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse

from serving.api.deps import State
from serving.auth.policy import Action
from serving.errors import AuthenticationError, RateLimitedError
from serving.ui.session import REFRESH_COOKIE as REFRESH
from serving.ui.session import Posted, Signed, check_same_site, forget, remember
from serving.ui.web import PREFIX, page_router, redirect, render

router = page_router()


def safe_next(target: str) -> str:
    """Where to go after signing in: a page of this site only (never another host)."""
    parts = urlsplit(target)
    local = not parts.scheme and not parts.netloc and "\\" not in target
    return target if local and (parts.path == PREFIX or parts.path.startswith(PREFIX + "/")) else PREFIX


@router.get("/")
def home(request: Request, viewer: Signed) -> Response:
    """Reviewers start at the queue, reporters at their cases; other roles have no pages here."""
    if viewer.may(Action.REVIEW_MATCH):
        return redirect(f"{PREFIX}/queue")
    if viewer.may(Action.READ_CASE):
        return redirect(f"{PREFIX}/cases")
    return render(request, "home.html")


@router.get("/sign-in")
def sign_in_page(request: Request, next: str = "") -> HTMLResponse:
    return render(request, "sign_in.html", next=safe_next(next), email="", problem=None)


@router.post("/sign-in")
def sign_in(
    request: Request,
    state: State,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_same_site(request)
    try:
        pair = state.signins.sign_in(email, password)
    except (AuthenticationError, RateLimitedError) as error:
        limited = isinstance(error, RateLimitedError)
        page = render(
            request,
            "sign_in.html",
            status=429 if limited else 401,
            next=safe_next(next),
            email=email,
            problem=str(error) if limited else "Wrong e-mail address or password.",
        )
        if isinstance(error, RateLimitedError):
            page.headers["Retry-After"] = str(error.retry_after)
        return page
    remember(request, pair)
    return redirect(safe_next(next))


@router.post("/sign-out")
def sign_out(request: Request, state: State, viewer: Posted) -> Response:
    """End the sign-in (every token of it), not only this browser's cookies."""
    refresh = request.cookies.get(REFRESH)
    if refresh:
        with contextlib.suppress(AuthenticationError):  # already ended
            state.signins.sign_out(refresh)
    forget(request)
    request.state.viewer = None
    return redirect(f"{PREFIX}/sign-in")
