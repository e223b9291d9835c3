"""Errors raised by the storage layer; ``serving`` maps them to HTTP statuses once.

StorageError
├── DatabaseUnavailableError
├── NotFoundError
├── ConflictError
├── InvalidTransitionError
├── LeaseLostError
├── AuditChainError
└── InvalidArgumentError

``describe_error`` turns any exception into a short text safe for logs and job rows.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

MAX_DESCRIPTION = 500
# PostgreSQL quotes identifiers and input values alike; an identifier is a plain word of at
# most 63 bytes, anything else in quotes is a value (an embedding typed as text, say).
_QUOTED = re.compile(r'"([^"]*)"')
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$.]{0,62}")


class StorageError(Exception):
    """Raised when the database cannot do what was asked."""


class DatabaseUnavailableError(StorageError):
    """Raised when no database can be reached or the embedded server cannot start."""


class NotFoundError(StorageError):
    """Raised when a row asked for by id does not exist."""


class ConflictError(StorageError):
    """Raised when a write would break a uniqueness rule (same e-mail, same content hash …)."""


class InvalidTransitionError(StorageError):
    """Raised when a status change is not allowed from the current status."""


class LeaseLostError(StorageError):
    """Raised when a worker reports on a job whose lease it no longer holds."""


class AuditChainError(StorageError):
    """Raised when the audit log cannot be appended to or read for verification."""


class InvalidArgumentError(StorageError):
    """Raised when a value cannot be stored as given (a malformed pack name, a bad page size)."""


def describe_error(exc: BaseException) -> str:
    """What went wrong, in one short line that holds no SQL parameters or quoted values.

    A database error is named by its class and the first line of the driver's message (the
    rest holds the statement and, in constraint details, the offending values).
    """
    if isinstance(exc, sa.exc.StatementError) and exc.orig is not None:
        lines = str(exc.orig).strip().splitlines() or [""]
        text = f"{type(exc).__name__} ({type(exc.orig).__name__}): {_QUOTED.sub(_keep_identifier, lines[0])}"
    elif isinstance(exc, sa.exc.StatementError):
        text = type(exc).__name__  # its own text is the statement and its parameters
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _keep_identifier(quoted: re.Match[str]) -> str:
    return quoted.group(0) if _IDENTIFIER.fullmatch(quoted.group(1)) else '"…"'
