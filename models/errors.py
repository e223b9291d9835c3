"""Errors raised while finding, fetching and running face models.

ModelError
├── PackError
│   ├── PackNotFoundError
│   ├── PackManifestError
│   └── UnknownKindError
├── ModelFileError
├── DownloadError
├── BackendUnavailableError
├── ProviderUnavailableError
└── ModelOutputError
"""


class ModelError(Exception):
    """Raised when a face model cannot be found, loaded or run."""


class PackError(ModelError):
    """Raised when a model pack cannot be resolved."""


class PackNotFoundError(PackError):
    """Raised when no pack of the requested name or path exists."""


class PackManifestError(PackError):
    """Raised when a pack manifest is unreadable or describes an impossible pack."""


class UnknownKindError(PackError):
    """Raised when a pack names a detector or embedder kind no factory knows."""


class ModelFileError(ModelError):
    """Raised when a model file is missing, unreadable or fails its sha256 check."""


class DownloadError(ModelError):
    """Raised when a pack download fails; nothing half-written is left behind."""


class BackendUnavailableError(ModelError):
    """Raised when a runtime backend (torch, onnx2torch, dlib) is not installed."""


class ProviderUnavailableError(ModelError):
    """Raised when a requested execution provider or device was not granted."""


class ModelOutputError(ModelError):
    """Raised when a model returns outputs of an unexpected shape or count."""
