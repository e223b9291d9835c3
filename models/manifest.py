"""Read a local pack from a small TOML manifest: how users bring their own ONNX models.

name = "my-pack"
root = "../models"            # folder of the files, relative to this manifest
licence = "…"
research_only = false

[detector]                    # kind = "scrfd" | "yunet"
kind = "scrfd"
file = "scrfd_500m_bnkps.onnx"
sha256 = "…"                  # optional; checked before loading
input_size = [640, 640]       # optional, with mean, std, channels ("rgb" | "bgr"),
                              # score_threshold, nms_iou, max_faces, and canvas:
                              # "fit" (default; trims padding) or "square" (fixed-size
                              # inputs such as YuNet's)

[embedder]                    # kind = "arcface": 5-point alignment onto 112×112
kind = "arcface"
file = "mobilefacenet.onnx"
embedding_size = 128          # optional: mean, std, channels, sha256, and mirrored
                              # (true: each face and its mirror image, added)

[calibration]
source = "what the thresholds were measured on"
operating_far = 1e-3
thresholds = [[1e-2, 0.35], [1e-3, 0.45]]   # [false-accept rate, cosine threshold]
centroid_2 = [[1e-2, 0.40], [1e-3, 0.50]]   # optional: a face against the centroid of a case
centroid_3 = [[1e-2, 0.42], [1e-3, 0.52]]   # with 2 (3 or more) reference photos, per case
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, cast

from models.errors import PackManifestError
from models.packs import (
    Calibration,
    Canvas,
    DetectorKind,
    DetectorSpec,
    EmbedderSpec,
    ModelFile,
    ModelPack,
    Preprocess,
)
from pipeline.detect import DetectionParams

_ONNX_DETECTORS = ("scrfd", "yunet")
_ONNX_EMBEDDERS = ("arcface",)


def load_manifest(path: Path) -> ModelPack:
    """Parse and check a pack manifest; errors name the file and the offending key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PackManifestError(f"pack manifest not found: {path}") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PackManifestError(f"{path}: not a readable TOML manifest: {exc}") from exc
    reader = _Reader(path, data)
    root = (path.parent / reader.get("root", str, ".")).resolve()
    return ModelPack(
        name=reader.get("name", str),
        detector=_detector(reader.table("detector"), root),
        embedder=_embedder(reader.table("embedder"), root),
        calibration=_calibration(reader.table("calibration")),
        licence=reader.get("licence", str, "not stated"),
        research_only=reader.get("research_only", bool, False),
    )


def _detector(reader: _Reader, root: Path) -> DetectorSpec:
    kind = reader.choice("kind", _ONNX_DETECTORS)
    size = reader.get("input_size", list, [640, 640])
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 and v % 32 == 0 for v in size):
        raise reader.error("input_size", "must be [width, height], positive multiples of 32")
    width, height = size
    defaults = (0.0, 1.0, "bgr") if kind == "yunet" else (127.5, 128.0, "rgb")
    return DetectorSpec(
        kind=cast(DetectorKind, kind),
        file=_file(reader, root),
        input_size=(int(width), int(height)),
        canvas=cast(Canvas, reader.choice("canvas", ("fit", "square"), "square" if kind == "yunet" else "fit")),
        preprocess=_preprocess(reader, *defaults),
        params=DetectionParams(
            score_threshold=reader.get("score_threshold", float, 0.5),
            nms_iou=reader.get("nms_iou", float, 0.4),
            max_faces=reader.get("max_faces", int, 0),
        ),
    )


def _embedder(reader: _Reader, root: Path) -> EmbedderSpec:
    reader.choice("kind", _ONNX_EMBEDDERS)
    return EmbedderSpec(
        kind="arcface",
        file=_file(reader, root),
        embedding_size=reader.get("embedding_size", int),
        input_size=reader.get("input_size", int, 112),
        preprocess=_preprocess(reader, 127.5, 128.0, "rgb"),
        mirrored=reader.get("mirrored", bool, False),
    )


def _calibration(reader: _Reader) -> Calibration:
    centroid = tuple(
        (int(key.removeprefix("centroid_")), _points(reader, key))
        for key in sorted(reader.data)
        if key.startswith("centroid_") and key.removeprefix("centroid_").isdigit()
    )
    for m, _ in centroid:
        if m < 2:
            raise reader.error(f"centroid_{m}", "names too few photos: a centroid needs at least 2 per case")
    return Calibration(
        points=_points(reader, "thresholds"),
        source=reader.get("source", str),
        operating_far=reader.get("operating_far", float, 1e-3),
        centroid=centroid,
    )


def _points(reader: _Reader, key: str) -> tuple[tuple[float, float], ...]:
    points = reader.get(key, list)
    try:
        pairs = tuple((float(far), float(threshold)) for far, threshold in points)
    except (TypeError, ValueError) as exc:
        raise reader.error(key, "must be a list of [far, threshold] pairs") from exc
    if not pairs or any(not 0 < far <= 1 for far, _ in pairs):
        raise reader.error(key, "needs at least one pair with 0 < far <= 1")
    return pairs


def _file(reader: _Reader, root: Path) -> ModelFile:
    return ModelFile(path=root / reader.get("file", str), sha256=reader.get("sha256", str, None))


def _preprocess(reader: _Reader, mean: float, std: float, channels: str) -> Preprocess:
    order = reader.choice("channels", ("rgb", "bgr"), channels)
    return Preprocess(mean=reader.get("mean", float, mean), std=reader.get("std", float, std), bgr=order == "bgr")


_REQUIRED = object()


class _Reader:
    """Typed access to one table of a manifest, with errors that say where."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix

    def error(self, key: str, problem: str) -> PackManifestError:
        return PackManifestError(f"{self.path}: '{self.prefix}{key}' {problem}")

    def table(self, key: str) -> _Reader:
        return _Reader(self.path, self.get(key, dict), f"{self.prefix}{key}.")

    def get(self, key: str, kind: type, default: Any = _REQUIRED) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, "is missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(key, f"must be {kind.__name__}, not {type(value).__name__}")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = _REQUIRED) -> str:
        value = self.get(key, str, default)
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(options)}, not {value!r}")
        return value
