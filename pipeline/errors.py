"""Errors raised by the pure pipeline steps.

PipelineError
├── ImageError
│   ├── EmptyImageError
│   ├── UnsupportedImageError
│   ├── CorruptImageError
│   └── ImageTooLargeError
└── BatchMismatchError
"""


class PipelineError(Exception):
    """Raised when a pipeline step cannot process its input."""


class ImageError(PipelineError):
    """Raised when bytes cannot be turned into an RGB image."""


class EmptyImageError(ImageError):
    """Raised when an image file has no bytes at all."""


class UnsupportedImageError(ImageError):
    """Raised when bytes are not in any image format we accept (``pipeline.decode.accepted_formats``)."""


class CorruptImageError(ImageError):
    """Raised when an image's format is known but its data is truncated or broken."""


class ImageTooLargeError(ImageError):
    """Raised when an image has more pixels, or needs more memory to decode, than its limit or its batch's budget."""


class BatchMismatchError(PipelineError):
    """Raised when a step returns a batch whose length differs from its input's."""
