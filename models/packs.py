"""Model packs: which detector and embedder, their files, preprocessing and calibration.

Embeddings of different packs are never compared: a pack's name travels with every vector.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from models.errors import ModelFileError
from pipeline.calibration import Calibration
from pipeline.detect import DetectionParams

DetectorKind = Literal["scrfd", "yunet", "dlib-hog"]
EmbedderKind = Literal["arcface", "dlib-resnet"]
Canvas = Literal["fit", "square"]


@dataclass(frozen=True)
class ModelFile:
    """A weights file and, when known, the sha256 it must have."""

    path: Path
    sha256: str | None = None

    def verified(self) -> Path:
        """The path, after checking the file exists and matches its sha256."""
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        if self.sha256:
            stat = self.path.stat()
            actual = _sha256(self.path, stat.st_size, stat.st_mtime_ns)
            if actual != self.sha256.lower():
                raise ModelFileError(
                    f"{self.path} has sha256 {actual}, expected {self.sha256}: "
                    "the file is corrupt or not the one the pack names"
                )
        return self.path


@dataclass(frozen=True)
class Preprocess:
    """Pixel normalisation ``(x - mean) / std`` and channel order of a network's input."""

    mean: float = 127.5
    std: float = 128.0
    bgr: bool = False


@dataclass(frozen=True)
class DetectorSpec:
    """A face detector: SCRFD or YuNet (ONNX), or dlib's HOG with its 5-point predictor.

    input_size: (width, height) images are letterboxed to (ONNX detectors).
    canvas: "fit" trims the letterbox canvas to the batch's images (networks with free
    spatial dimensions); "square" always uses ``input_size``, as InsightFace does.
    upsample / max_side: dlib only; images are first shrunk to ``max_side`` pixels.
    """

    kind: DetectorKind
    file: ModelFile
    input_size: tuple[int, int] = (640, 640)
    canvas: Canvas = "fit"
    preprocess: Preprocess = field(default_factory=Preprocess)
    params: DetectionParams = field(default_factory=DetectionParams)
    upsample: int = 1
    max_side: int = 1024


@dataclass(frozen=True)
class EmbedderSpec:
    """A face embedder and the alignment it expects.

    preprocess None: read it from the graph the way InsightFace does (see ``models.embedder``).
    mirrored: embed each face and its mirror image and add the two (twice the embedding work;
    it pays with dlib's embedder, not with the ArcFace-style ones: see the README).
    """

    kind: EmbedderKind
    file: ModelFile
    embedding_size: int
    input_size: int = 112
    preprocess: Preprocess | None = field(default_factory=Preprocess)
    mirrored: bool = False


@dataclass(frozen=True)
class ModelPack:
    """Everything needed to turn photos into comparable embeddings."""

    name: str
    detector: DetectorSpec
    embedder: EmbedderSpec
    calibration: Calibration
    licence: str
    research_only: bool = False
    metric: Literal["cosine"] = "cosine"

    @property
    def embedding_size(self) -> int:
        return self.embedder.embedding_size


@lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the cache key, so a file that changes is hashed again.
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()
