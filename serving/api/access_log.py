"""One log line per request: its id, method, route template, status and duration — never a body,
a query string, a name or an embedding (the route template, not the path, so ids stay out too).

The request id comes from the caller's ``X-Request-ID`` when it is a plain token, else a new one,
and goes back in the answer's ``X-Request-ID``, so that a user's report finds its line.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A child of Serve's logger: the lines land in the replica's log beside Serve's own.
logger = logging.getLogger("ray.serve").getChild("sura.requests")
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class AccessLog:
    def __init__(self, app: ASGIApp, *, log_format: Literal["text", "json"] = "text") -> None:
        self.app, self.log_format = app, log_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _PLAIN_ID.match(given) else uuid.uuid4().hex
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._line(request_id, scope, status, time.perf_counter() - started)

    def _line(self, request_id: str, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "(no route)"
        fields = {
            "request_id": request_id,
            "method": scope["method"],
            "route": route,
            "status": status,
            "ms": round(seconds * 1000, 1),
        }
        if self.log_format == "json":
            logger.info(json.dumps(fields, separators=(",", ":")))
        else:
            logger.info("request %s %s %s %s %.1f ms", request_id, fields["method"], route, status, fields["ms"])
