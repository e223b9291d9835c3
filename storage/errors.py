"""Errors raised by the storage layer; ``serving`` maps them to HTTP statuses once.

StorageError
├── DatabaseUnavailableError
├── NotFoundError
├── ConflictError
├── InvalidTransitionError
├── LeaseLostError
├── AuditChainError
└── InvalidArgumentError
"""


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
