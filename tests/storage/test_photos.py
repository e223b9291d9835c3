"""The photo store: content-addressed files, and half-written ones swept later."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from storage.photos import PARTIAL, PhotoStore


def test_a_photo_is_stored_once_and_half_written_files_are_swept(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path)
    digest, uri = store.put(b"a photo", suffix=".jpg")
    assert store.put(b"a photo", suffix=".jpg") == (digest, uri)
    assert store.read(uri) == b"a photo"
    folder = Path(uri.removeprefix("file://")).parent
    stale, fresh = folder / f"{PARTIAL}stale", folder / f"{PARTIAL}fresh"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    assert store.sweep_partial(timedelta(minutes=30)) == 1
    assert not stale.exists() and fresh.exists() and store.read(uri) == b"a photo"
