"""The Ray Data stages of a scan: read (and skip stored photos) → locate (decode, detect, align) → embed.

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

from models.registry import PackSources, load_embedder, load_locator, resolve_pack
from models.session import RuntimeOptions
from pipeline.decode import DecodedImage, decode_image
from pipeline.engine import EngineOptions, embed_in_chunks
from pipeline.errors import ImageError
from pipeline.jobs.sources import SourceItem, read_items
from pipeline.types import AlignedFaces, Face
from storage.photos import PhotoStore

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

    With a database ``dsn`` the actor keeps one connection to look digests up, a batch per query.
    """

    def __init__(self, max_bytes: int, dsn: str | None = None) -> None:
        self.max_bytes, self.dsn = max_bytes, dsn
        self._connection: Any = None

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
        if self.dsn is None or not digests:
            return set()
        import psycopg  # only scans that write to a database need it

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.dsn, autocommit=True)
        rows = self._connection.execute(
            "SELECT content_sha256 FROM images WHERE content_sha256 = ANY(%s)", (digests,)
        ).fetchall()
        return {row[0] for row in rows}


class LocateStage:
    """Decodes, stores and locates faces in photos (an actor holding the pack's detector)."""

    def __init__(self, models: StageModels, photos_dir: str) -> None:
        pack = resolve_pack(models.pack, models.sources)
        self.locator = load_locator(pack, models.runtime, models.engine)
        self.max_pixels = models.max_pixels
        self.photos = PhotoStore(Path(photos_dir))
        self.pool = ThreadPoolExecutor(models.decode_workers, thread_name_prefix="decode")  # Pillow frees the GIL

    def __call__(self, batch: Batch) -> Batch:
        rows = len(batch["key"])
        errors = list(batch["error"])
        todo = [i for i in range(rows) if not errors[i] and not batch["known"][i]]
        results = list(self.pool.map(self._decode, [batch["data"][i] for i in todo]))
        decoded: dict[int, DecodedImage] = {}
        for i, result in zip(todo, results, strict=True):
            if isinstance(result, DecodedImage):
                decoded[i] = result
            else:
                errors[i] = result
        order = sorted(decoded)
        out: dict[str, list[Any]] = {
            name: [] for name in ("uri", "width", "height", "format", "faces", "block", "crops")
        }
        if order:
            located = self.locator.locate([decoded[i].pixels for i in order])
            per_image = located.per_image([(decoded[i].width, decoded[i].height) for i in order])
            bounds = np.concatenate([[0], np.cumsum(located.detections.counts())]).astype(int)
        position = {i: n for n, i in enumerate(order)}
        for i in range(rows):
            if i not in position:
                for name, empty in (
                    ("uri", ""),
                    ("width", 0),
                    ("height", 0),
                    ("format", ""),
                    ("faces", 0),
                    ("block", b""),
                    ("crops", b""),
                ):
                    out[name].append(empty)
                continue
            n, image = position[i], decoded[i]
            faces = per_image[n].faces
            suffix = "." + image.format.lower() if image.format != "unknown" else ""
            out["uri"].append(self.photos.put(batch["data"][i], suffix=suffix)[1])
            out["width"].append(image.width)
            out["height"].append(image.height)
            out["format"].append(image.format)
            out["faces"].append(len(faces))
            out["block"].append(_block(faces).to_bytes())
            out["crops"].append(located.aligned.crops[bounds[n] : bounds[n + 1]].tobytes())
        kept = {k: v for k, v in batch.items() if k != "data"}
        return {
            **kept,
            "error": np.array(errors, dtype=object),
            **{k: np.array(v, dtype=object) for k, v in out.items()},
        }

    def _decode(self, data: bytes) -> DecodedImage | str:
        try:
            return decode_image(data, max_pixels=self.max_pixels)
        except ImageError as error:
            return str(error)


class EmbedStage:
    """Embeds every face of a batch of photos in chunked network calls (an actor holding the embedder)."""

    def __init__(self, models: StageModels) -> None:
        pack = resolve_pack(models.pack, models.sources)
        self.embedder = load_embedder(pack, models.runtime)
        self.size = pack.embedder.input_size
        self.chunk = models.engine.embed_batch

    def __call__(self, batch: Batch) -> Batch:
        counts = [int(c) for c in batch["faces"]]
        shape = (-1, self.size, self.size, 3)
        crops = [
            np.frombuffer(c, dtype=np.uint8).reshape(shape) for c, n in zip(batch["crops"], counts, strict=True) if n
        ]
        joined = np.concatenate(crops) if crops else np.zeros((0, self.size, self.size, 3), np.uint8)
        index = np.repeat(np.arange(len(crops)), [len(c) for c in crops])
        vectors = embed_in_chunks(self.embedder, AlignedFaces(joined, index), self.chunk)
        parts = iter(np.split(vectors, np.cumsum([len(c) for c in crops])[:-1]) if crops else [])
        embeddings = [next(parts).astype(np.float32).tobytes() if n else b"" for n in counts]
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
