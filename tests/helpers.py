"""Constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
ONNX_PACKS = ("shared-scrfd", "shared-scrfd-2.5g", "shared-yunet")
ALL_PACKS = ("dlib", *ONNX_PACKS)


def eventually(probe: Callable[[], Any], within: float = 30.0, every: float = 0.2) -> Any:
    """The first truthy result of ``probe``, polled until ``within`` seconds have passed (then fail)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(every)
    raise AssertionError(f"it did not happen within {within:.0f} s")
