"""The serving layer's own errors, and the one table that maps every error to an HTTP status.

ServingError
├── AuthenticationError     401
├── PermissionDeniedError   403
├── UploadError             400 (UploadTooLargeError 413, UnsupportedMediaError 415)
├── EnrolmentError          422
├── RateLimitedError        429
└── NotReadyError           503
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import ModelError
from pipeline.errors import CorruptImageError, EmptyImageError, ImageTooLargeError, UnsupportedImageError
from storage.errors import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotFoundError,
)


class ServingError(Exception):
    """Raised when a request cannot be served as asked."""


class AuthenticationError(ServingError):
    """Raised when a request carries no valid access token, or a login fails."""


class PermissionDeniedError(ServingError):
    """Raised when the user's role or grants do not allow the action."""


class UploadError(ServingError):
    """Raised when an upload is missing or malformed."""


class UploadTooLargeError(UploadError):
    """Raised when an upload exceeds the size limit."""


class UnsupportedMediaError(UploadError):
    """Raised when an upload's content type is not an image type."""


class EnrolmentError(ServingError):
    """Raised when a reference photo is unusable; ``code`` says why (no_face, several_faces, …).

    ``faces`` describes the faces that were found, so that the caller can choose one.
    """

    def __init__(self, code: str, message: str, faces: tuple[dict[str, Any], ...] = ()) -> None:
        super().__init__(message)
        self.code, self.faces = code, faces


class RateLimitedError(ServingError):
    """Raised when too many failed sign-ins came for one address; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotReadyError(ServingError):
    """Raised when models or the gallery are not loaded yet."""


logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5  # a replica restarts, a database reconnects, in about this long

# First match wins, so subclasses come before their parents.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (UploadTooLargeError, 413),
    (UnsupportedMediaError, 415),
    (UploadError, 400),
    (EnrolmentError, 422),
    (RateLimitedError, 429),
    (NotReadyError, 503),
    (EmptyImageError, 400),
    (CorruptImageError, 400),
    (ImageTooLargeError, 413),
    (UnsupportedImageError, 415),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidTransitionError, 409),
    (InvalidArgumentError, 422),
    (DatabaseUnavailableError, 503),
    (ModelError, 503),
)


def status_for(error: Exception) -> int:
    """The HTTP status of an error raised while serving a request (500 if it is unexpected)."""
    return next((status for kind, status in STATUS if isinstance(error, kind)), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with its status and one shape, ``{"error": kind, "detail": reason}``:
    ours, invalid requests (with a reason per field), unknown routes and methods, and the unexpected."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        body: dict[str, Any] = {"error": getattr(error, "code", type(error).__name__), "detail": str(error)}
        if getattr(error, "faces", ()):
            body["faces"] = list(error.faces)  # type: ignore[attr-defined]
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
        if isinstance(error, RateLimitedError):
            headers = {"Retry-After": str(error.retry_after)}
        if status_for(error) == 503:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse(status_code=status_for(error), content=body, headers=headers)

    for kind, _ in STATUS:
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    fields = [
        {"field": ".".join(str(part) for part in problem["loc"]), "reason": _reason(problem)}
        for problem in error.errors()
    ]
    summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:3]) or "the request is invalid"
    body = {"error": "invalid_request", "detail": summary, "fields": fields}
    return JSONResponse(status_code=422, content=body)


def _reason(problem: Any) -> str:
    # pydantic prefixes a validator's own message with "Value error, "; the message is the reason
    return str(problem.get("msg", "invalid")).removeprefix("Value error, ")


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    kinds = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
    body = {"error": kinds.get(error.status_code, "http_error"), "detail": str(error.detail)}
    return JSONResponse(status_code=error.status_code, content=body, headers=getattr(error, "headers", None))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.error("unexpected %s on %s %s", type(error).__name__, request.method, request.url.path, exc_info=error)
    body = {"error": "internal_error", "detail": "an unexpected error; it was logged without the request's data"}
    return JSONResponse(status_code=500, content=body)
