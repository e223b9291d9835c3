"""The Ray Data stages of a scan: read (and skip stored photos) → locate (decode, detect, align) → embed.

The stages run the engine's own batch functions (``PhotoLocator.locate_photos``, ``embed_groups``),
the same ones the Serve deployments run; with ``SURA_MODELS__DEVICE=cuda`` both stay on the GPU.

Each stage maps a batch (a dict of numpy columns) to a batch. Locating decodes inside the
stage's own process, so decoded pixels never cross Ray's object store: only the photo bytes
go in, only faces, 112×112 crops and embeddings come out. Arrays travel as raw bytes columns
(``FaceBlock``), which Arrow stores without any extension types.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import SecretStr

from models.registry import PackSources, load_embedder, load_photo_locator, resolve_pack
from models.session import RuntimeOptions
from pipeline.engine import EngineOptions, embed_groups
from pipeline.photos import PhotoFaces
from pipeline.types import Face
from serving.scans.sources import SourceItem, read_items
from storage.database import Database, open_database
from storage.photos import PhotoStore
from storage.repositories.faces import ImageRepository

Batch = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class StageModels:
    """Which pack and runtime a stage's actors load (plain dataclasses, picklable without pydantic)."""

    pack: str
    sources: PackSources
    runtime: RuntimeOptions
    engine: EngineOptions
    max_pixels: int
    max_bytes: int
    decode_workers: int = 2


@dataclass(frozen=True)
class FaceBlock:
    """The faces of one photo as arrays: boxes (F, 4), landmarks (F, 5, 2), score/quality/sharpness (F,)."""

    boxes: NDArray[np.float32]
    landmarks: NDArray[np.float32]
    scores: NDArray[np.float32]
    quality: NDArray[np.float32]
    sharpness: NDArray[np.float32]

    def to_bytes(self) -> bytes:
        return b"".join(
            a.astype(np.float32).tobytes()
            for a in (self.boxes, self.landmarks, self.scores, self.quality, self.sharpness)
        )

    @classmethod
    def from_bytes(cls, data: bytes, count: int) -> FaceBlock:
        flat = np.frombuffer(data, dtype=np.float32)
        cuts = np.cumsum([count * 4, count * 10, count, count])
        boxes, points, scores, quality, sharpness = np.split(flat, cuts)
        return cls(boxes.reshape(count, 4), points.reshape(count, 5, 2), scores, quality, sharpness)

    def faces(self, embeddings: NDArray[np.float32]) -> list[Face]:
        return [
            Face(
                box=self.boxes[k],
                landmarks=self.landmarks[k],
                score=float(self.scores[k]),
                quality=float(self.quality[k]),
                sharpness=float(self.sharpness[k]),
                embedding=embeddings[k],
            )
            for k in range(len(self.scores))
        ]


class ReadStage:
    """Reads each file and hashes it; photos already stored (by content) are marked ``known`` and not passed on.

    With a database URL the actor asks the image repository which digests are stored, a batch
    per query. The URL arrives as a ``SecretStr``, so no repr or log line of Ray's shows it.
    """

    def __init__(self, max_bytes: int, db_url: SecretStr | None = None) -> None:
        self.max_bytes, self.db_url = max_bytes, db_url
        self._db: Database | None = None

    def __call__(self, batch: Batch) -> Batch:
        items = [
            SourceItem(str(k), str(loc), str(m) or None)
            for k, loc, m in zip(batch["key"], batch["location"], batch["member"], strict=True)
        ]
        read = read_items(items, max_bytes=self.max_bytes)
        data = [b if isinstance(b, bytes) else b"" for b in read]
        digests = [hashlib.sha256(d).hexdigest() for d in data]
        stored = self._stored([d for d, b in zip(digests, read, strict=True) if isinstance(b, bytes)])
        known = [isinstance(b, bytes) and d in stored for d, b in zip(digests, read, strict=True)]
        return {
            **batch,
            "data": np.array([b"" if k else d for d, k in zip(data, known, strict=True)], dtype=object),
            "size": np.array([len(d) for d in data], dtype=np.int64),
            "digest": np.array(digests, dtype=object),
            "known": np.array(known, dtype=bool),
            "error": np.array(
                ["" if isinstance(b, bytes) else f"cannot read the file: {b}" for b in read], dtype=object
            ),
        }

    def _stored(self, digests: list[str]) -> set[str]:
        if self.db_url is None or not digests:
            return set()
        if self._db is None:
            self._db = open_database(self.db_url.get_secret_value(), data_dir=Path(), migrate=False)
        with self._db.transaction() as session:
            return ImageRepository(session).known_digests(digests)


class LocateStage:
    """Decodes, stores and locates faces in photos (an actor holding the pack's detector)."""

    def __init__(self, models: StageModels, photos_dir: str) -> None:
        pack = resolve_pack(models.pack, models.sources)
        self.locator = load_photo_locator(pack, models.runtime, models.engine)
        self.max_pixels = models.max_pixels
        self.photos = PhotoStore(Path(photos_dir))
        self.pool = ThreadPoolExecutor(models.decode_workers, thread_name_prefix="decode")  # Pillow frees the GIL

    def __call__(self, batch: Batch) -> Batch:
        errors = list(batch["error"])
        todo = [i for i in range(len(errors)) if not errors[i] and not batch["known"][i]]
        data = [batch["data"][i] for i in todo]
        found = self.locator.locate_photos(data, max_pixels=self.max_pixels, map_each=self.pool.map)
        photos = {i: f for i, f in zip(todo, found, strict=True) if isinstance(f, PhotoFaces)}
        for i, outcome in zip(todo, found, strict=True):
            if not isinstance(outcome, PhotoFaces):
                errors[i] = str(outcome)
        rows = [self._row(batch["data"][i], photos[i]) if i in photos else _NO_ROW for i in range(len(errors))]
        kept = {k: v for k, v in batch.items() if k != "data"}
        columns = {name: np.array([row[n] for row in rows], dtype=object) for n, name in enumerate(_LOCATED)}
        return {**kept, "error": np.array(errors, dtype=object), **columns}

    def _row(self, data: bytes, photo: PhotoFaces) -> tuple[Any, ...]:
        """The stored photo's uri, size, format and faces, in the order of ``_LOCATED``."""
        suffix = "." + photo.format.lower() if photo.format != "unknown" else ""
        image, crops = photo.located.faces, photo.located.crops
        uri = self.photos.put(data, suffix=suffix)[1]
        return (
            uri,
            image.width,
            image.height,
            photo.format,
            len(image.faces),
            _block(image.faces).to_bytes(),
            crops.tobytes(),
        )


_LOCATED = ("uri", "width", "height", "format", "faces", "block", "crops")
_NO_ROW: tuple[Any, ...] = ("", 0, 0, "", 0, b"", b"")


class EmbedStage:
    """Embeds every face of a batch of photos in chunked network calls (an actor holding the embedder)."""

    def __init__(self, models: StageModels) -> None:
        pack = resolve_pack(models.pack, models.sources)
        self.embedder = load_embedder(pack, models.runtime)
        self.size = pack.embedder.input_size
        self.chunk = models.engine.embed_batch

    def __call__(self, batch: Batch) -> Batch:
        shape = (-1, self.size, self.size, 3)
        groups = [np.frombuffer(c, dtype=np.uint8).reshape(shape) for c in batch["crops"]]
        vectors = embed_groups(self.embedder, groups, self.chunk)
        embeddings = [v.astype(np.float32).tobytes() if len(v) else b"" for v in vectors]
        kept = {k: v for k, v in batch.items() if k != "crops"}
        return {**kept, "embeddings": np.array(embeddings, dtype=object)}


def _block(faces: tuple[Face, ...]) -> FaceBlock:
    return FaceBlock(
        boxes=np.array([f.box for f in faces], np.float32).reshape(-1, 4),
        landmarks=np.array([f.landmarks for f in faces], np.float32).reshape(-1, 5, 2),
        scores=np.array([f.score for f in faces], np.float32),
        quality=np.array([f.quality for f in faces], np.float32),
        sharpness=np.array([f.sharpness for f in faces], np.float32),
    )
