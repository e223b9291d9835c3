"""Constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
ONNX_PACKS = ("shared-scrfd", "shared-scrfd-2.5g", "shared-yunet")
ALL_PACKS = ("dlib", *ONNX_PACKS)
