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

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
    """Answer every known error with its status and ``{"error": kind, "detail": reason}``."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        body: dict[str, Any] = {"error": getattr(error, "code", type(error).__name__), "detail": str(error)}
        if getattr(error, "faces", ()):
            body["faces"] = list(error.faces)  # type: ignore[attr-defined]
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
        if isinstance(error, RateLimitedError):
            headers = {"Retry-After": str(error.retry_after)}
        return JSONResponse(status_code=status_for(error), content=body, headers=headers)

    for kind, _ in STATUS:
        app.add_exception_handler(kind, handle)
