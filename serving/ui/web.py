"""What every page shares: templates, the security headers, error pages and the static files.

Every /ui route is a ``UiRoute``: whatever it answers, or whatever it raises, leaves as a page (or
an image) with the strict Content-Security-Policy and ``no-store``; errors become a page naming
the reason with the status the API would give, never a stack trace.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from serving.auth.policy import Action
from serving.errors import RateLimitedError, status_for
from storage.errors import NotFoundError

logger = logging.getLogger(__name__)

PREFIX = "/ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
TITLES = {
    400: "The request is not valid",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    415: "Not an image",
    422: "Cannot be used",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Not ready yet",
}
# The same words for "unknown" and "not yours", so that a 404 never tells which it was.
NOT_FOUND = "There is no such page, or you may not see it."
BROKEN = "Something went wrong on our side; it was logged. Try again in a moment."


class SignInRequiredError(Exception):
    """Raised when a page needs a signed-in user and the browser has no valid sign-in."""


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


def _assets() -> dict[str, Asset]:
    kinds = {".css": "text/css", ".js": "text/javascript"}
    found = {}
    for entry in (resources.files("serving.ui") / "static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if suffix in kinds:
            body = entry.read_bytes()
            found[entry.name] = Asset(body, kinds[suffix], hashlib.sha256(body).hexdigest()[:12])
    return found


ASSETS = _assets()


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content so that it can be cached for long."""
    return f"{PREFIX}/static/{name}?v={ASSETS[name].version}"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def clock(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC") if moment else "—"


def _day(moment: date | datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "—"


def _far(rate: float | None) -> str:
    """A false-accept rate as people read it: 1 in how many strangers would score this high."""
    if rate is None:
        return "—"
    return f"{rate:.1e} (1 in {round(1 / rate):,})" if rate > 0 else "0"


def _short(value: uuid.UUID | None) -> str:
    return str(value)[:8] if value else "—"


@jinja2.pass_context
def _who(context: jinja2.runtime.Context, user_id: uuid.UUID | None) -> str:
    """A reviewer as the page names them (the service gives ids, not names, to non-admins)."""
    if user_id is None:
        return "—"
    viewer = context.get("viewer")
    return "you" if viewer is not None and viewer.user.id == user_id else f"reviewer {_short(user_id)}"


def holder(match: Any) -> uuid.UUID | None:
    """Who holds a match now (a lapsed hold is nobody's)."""
    until = match.claimed_until
    return match.claimed_by_id if until is not None and until > datetime.now(UTC) else None


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("serving.ui", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(when=_when, clock=clock, day=_day, far=_far, short=_short)
TEMPLATES.globals.update(static=static_url, who=_who, holder=holder, A=Action, prefix=PREFIX)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page; ``viewer`` (the signed-in user, if any) is known to every template."""
    viewer = getattr(request.state, "viewer", None)
    page = TEMPLATES.get_template(template).render(viewer=viewer, path=request.url.path, **context)
    return HTMLResponse(page, status_code=status)


def redirect(url: str) -> RedirectResponse:
    """After a form: see the result with a GET (303), so that reloading never posts twice."""
    return RedirectResponse(url, status_code=303)


def failure(request: Request, error: Exception) -> Response:
    """The page for something that went wrong, with the status the API would answer."""
    if isinstance(error, SignInRequiredError):
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(f"{PREFIX}/sign-in?next={quote(target, safe='/')}")
        status, reason = 401, "Your sign-in has ended. Sign in again, then repeat what you did."
    elif isinstance(error, RequestValidationError):
        status = 422
        reason = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in error.errors())
    elif isinstance(error, HTTPException):
        status, reason = error.status_code, str(error.detail)
    else:
        status, reason = status_for(error), str(error)
    if status >= 500:
        route = getattr(request.scope.get("route"), "path", "?")
        logger.error("page %s %s failed: %s", request.method, route, type(error).__name__, exc_info=error)
        reason = BROKEN if status == 500 else reason
    if status == 404:
        reason = NOT_FOUND
    response = render(request, "error.html", status=status, title=TITLES.get(status, "Error"), reason=reason)
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def secured(request: Request, response: Response) -> Response:
    """Every /ui answer: the strict CSP and friends, never cached unless it says so, cookies as staged."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    for change in getattr(request.state, "cookie_changes", ()):
        change(response)
    return response


class UiRoute(APIRoute):
    """A route whose answers, errors included, are pages with the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                response = await handle(request)
            except Exception as error:  # every failure becomes a page; none shows a stack trace
                response = failure(request, error)
            return secured(request, response)

        return guarded


def page_router() -> APIRouter:
    return APIRouter(route_class=UiRoute)


assets = page_router()


@assets.get("/static/{name}")
def static_file(name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFoundError(f"no static file {name}")
    return Response(asset.body, media_type=asset.media_type, headers={"Cache-Control": "public, max-age=86400"})
