"""What every request passes before any route reads it: a token, when the route needs one, and a
body limit that holds while the body streams in (chunked bodies declare no length).

A request without a valid access token for a signed-in route is answered 401 before one byte of
its body is read; a body larger than its route allows is cut off at the limit with 413.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth.tokens import read_access_token
from serving.errors import AuthenticationError

API = "/api/v1"
# Routes anyone may call: signing in, health, the API's own description; the web page checks its own cookie.
PUBLIC = re.compile(rf"^({API}/auth/|{API}/health|{API}/openapi\.json$|/docs|/redoc|/ui(/|$))")
# Routes that take a photo upload; every other body is small JSON.
UPLOADS = re.compile(rf"^({API}/search|{API}/sightings|{API}/cases/[^/]+/photos|/ui/.*)$")


@dataclass(frozen=True)
class Limits:
    photo_bytes: int  # an upload route's whole body (the photo and its multipart framing)
    json_bytes: int = 2**20


class RequestGuard:
    def __init__(self, app: ASGIApp, *, limits: Limits, token_secret: str) -> None:
        self.app, self.limits, self.secret = app, limits, token_secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Under a route prefix (Serve's route_prefix) the path starts with the root path: routes match after it.
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        headers = dict(scope.get("headers", ()))
        limit = self.limits.photo_bytes if UPLOADS.match(path) else self.limits.json_bytes
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            await _problem(send, 413, "UploadTooLargeError", f"the request body is larger than {limit} bytes")
            return
        if not PUBLIC.match(path) and not self._signed(headers.get(b"authorization")):
            await _problem(send, 401, "AuthenticationError", "a valid access token is required", bearer=True)
            return
        await self.app(scope, _bounded(receive, limit), send)

    def _signed(self, authorization: bytes | None) -> bool:
        """A well-formed, unexpired token signed with our key (the route checks the sign-in itself)."""
        scheme, _, token = (authorization or b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        try:
            read_access_token(token.strip(), secret=self.secret)
        except AuthenticationError:
            return False
        return True


def _bounded(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses, with 413, a body growing past ``limit`` while it streams in."""
    received = 0

    async def bounded() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTPException passes FastAPI's body parsing unchanged and is answered as a Problem.
                raise HTTPException(413, f"the request body is larger than {limit} bytes")
        return message

    return bounded


async def _problem(send: Send, status: int, error: str, detail: str, *, bearer: bool = False) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
