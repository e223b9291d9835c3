"""Where uploaded photos live: files named by their sha256, under one folder.

The database keeps each photo's ``storage_uri``; erasure hands those URIs back to be deleted
here. A cluster mounts the folder on every node (or later swaps this for an object store).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from storage.errors import InvalidArgumentError, NotFoundError

PARTIAL = ".partial-"  # a file being written; a process killed meanwhile leaves it behind


class PhotoStore:
    """Content-addressed photo files, private to the service's user."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def put(self, data: bytes, *, suffix: str = "") -> tuple[str, str]:
        """Store ``data`` once; returns (sha256, storage URI). Writing the same bytes again is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest, suffix)
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=PARTIAL, delete=False) as handle:
                handle.write(data)
            os.replace(handle.name, path)
        return digest, path.as_uri()

    def read(self, uri: str) -> bytes:
        path = self._local(uri)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError("the stored photo file is missing") from exc

    def delete(self, uri: str) -> None:
        """Remove a stored photo (erasure); a file already gone is fine."""
        self._local(uri).unlink(missing_ok=True)

    def sweep_partial(self, older_than: timedelta) -> int:
        """Remove files left half-written by a killed process; returns how many."""
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for path in self.root.glob(f"*/*/{PARTIAL}*"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _path(self, digest: str, suffix: str) -> Path:
        clean = suffix.lower() if suffix in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"} else ""
        return self.root / digest[:2] / digest[2:4] / f"{digest}{clean}"

    def _local(self, uri: str) -> Path:
        parsed = urlparse(uri)
        path = Path(parsed.path).resolve()
        if parsed.scheme != "file" or self.root not in path.parents:
            raise InvalidArgumentError("not a photo of this store")
        return path
