"""Detect → align → quality → embed for a batch of images, with a retry for tight crops.

``FaceLocator`` is everything before the embedding network and ``FaceEngine`` adds it; the
Serve deployments and the scan stages run the two halves in different processes through
``locate_each`` and ``embed_groups``, ``sura faces`` runs both here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pipeline.letterbox import pad_images
from pipeline.quality import FaceQuality, assess_quality
from pipeline.types import AlignedFaces, Detections, Face, ImageFaces, check_batch


class FaceDetector(Protocol):
    """Finds faces in a batch of (H, W, 3) uint8 RGB images."""

    description: str

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> Detections: ...


class FaceAligner(Protocol):
    """Cuts each detected face out the way an embedder expects it."""

    def align(self, images: Sequence[NDArray[np.uint8]], detections: Detections) -> AlignedFaces: ...


class FaceEmbedder(Protocol):
    """Turns aligned faces into unit-length embeddings."""

    embedding_size: int
    description: str

    def embed(self, faces: AlignedFaces) -> NDArray[np.float32]: ...


@dataclass(frozen=True)
class EngineOptions:
    """Batch sizes, and how much border the tight-crop retry adds (0 turns it off).

    The defaults suit a few CPU cores, where onnxruntime gains nothing from large batches;
    on a GPU use tens of images and hundreds of faces per batch.
    """

    detect_batch: int = 4
    embed_batch: int = 16
    pad_ratio: float = 0.5


@dataclass(frozen=True)
class LocatedFaces:
    """The faces of a batch of images, aligned and assessed, not yet embedded.

    retried: (N,) which images needed the padded retry to show a face.
    """

    detections: Detections
    retried: NDArray[np.bool_]
    aligned: AlignedFaces
    quality: FaceQuality

    def per_image(
        self, sizes: Sequence[tuple[int, int]], embeddings: NDArray[np.float32] | None = None
    ) -> list[ImageFaces]:
        """One ``ImageFaces`` per image of the batch; ``sizes`` are (width, height)."""
        found, quality = self.detections, self.quality
        check_batch("image sizes", found.num_images, len(sizes))
        faces = [
            Face(
                box=found.boxes[k],
                landmarks=found.landmarks[k],
                score=float(found.scores[k]),
                quality=float(quality.score[k]),
                sharpness=float(quality.sharpness[k]),
                embedding=None if embeddings is None else embeddings[k],
            )
            for k in range(len(found))
        ]
        bounds = np.concatenate([[0], np.cumsum(found.counts())])
        return [
            ImageFaces(
                width=width,
                height=height,
                faces=tuple(faces[bounds[i] : bounds[i + 1]]),
                padded_retry=bool(self.retried[i]),
            )
            for i, (width, height) in enumerate(sizes)
        ]


class FaceLocator:
    """Detection with the tight-crop retry, alignment and quality: the steps before embedding."""

    def __init__(self, detector: FaceDetector, aligner: FaceAligner, options: EngineOptions | None = None) -> None:
        self.detector = detector
        self.aligner = aligner
        self.options = options or EngineOptions()

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> tuple[Detections, NDArray[np.bool_]]:
        """Faces of every image, and (N,) which images needed the padded retry to find any.

        Scene-trained detectors miss faces that fill the frame (ID photos, tight crops), so
        images with no face are searched again inside a black border (``pad_images``).
        """
        found = self._detect_chunks(images)
        retried = np.zeros(len(images), dtype=bool)
        empty = np.flatnonzero(found.counts() == 0)
        if self.options.pad_ratio <= 0 or len(empty) == 0:
            return found, retried
        originals = [images[i] for i in empty.tolist()]
        padded, offsets = pad_images(originals, self.options.pad_ratio)
        again = _shift(self._detect_chunks(padded), offsets)
        again = again.select(_centre_inside(again, originals))
        retried[empty[np.unique(again.image_index)]] = True
        again = again.reindexed(empty.astype(np.int64), len(images))
        return Detections.merge([found, again], len(images)), retried

    def locate(self, images: Sequence[NDArray[np.uint8]]) -> LocatedFaces:
        """The faces of a batch, aligned and assessed, as arrays over the whole batch."""
        detections, retried = self.detect(images)
        aligned = self.aligner.align(images, detections)
        return LocatedFaces(detections, retried, aligned, assess_quality(detections, aligned))

    def _detect_chunks(self, images: Sequence[NDArray[np.uint8]]) -> Detections:
        step = self.options.detect_batch
        parts = []
        for start in range(0, len(images), step):
            chunk = self.detector.detect(images[start : start + step])
            check_batch("detection", len(images[start : start + step]), chunk.num_images)
            index = np.arange(start, start + chunk.num_images, dtype=np.int64)
            parts.append(chunk.reindexed(index, len(images)))
        return Detections.concat(parts, len(images))


class FaceEngine:
    """The whole face pipeline over one model pack: a locator and an embedder."""

    def __init__(self, locator: FaceLocator, embedder: FaceEmbedder) -> None:
        self.locator = locator
        self.embedder = embedder

    @property
    def detector(self) -> FaceDetector:
        return self.locator.detector

    @property
    def options(self) -> EngineOptions:
        return self.locator.options

    @property
    def description(self) -> str:
        """What runs the networks, e.g. ``onnxruntime CPUExecutionProvider``."""
        parts = dict.fromkeys([self.detector.description, self.embedder.description])
        return " / ".join(parts)

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> tuple[Detections, NDArray[np.bool_]]:
        return self.locator.detect(images)

    def embed(self, faces: AlignedFaces) -> NDArray[np.float32]:
        """(F, D) unit-length embeddings of aligned faces, in chunks of ``embed_batch``."""
        return embed_in_chunks(self.embedder, faces, self.options.embed_batch)

    def analyse(self, images: Sequence[NDArray[np.uint8]], *, embed: bool = True) -> list[ImageFaces]:
        """Every face of every image: box, landmarks, score, quality and (if asked) embedding."""
        located = self.locator.locate(images)
        vectors = self.embed(located.aligned) if embed else None
        return located.per_image([(int(i.shape[1]), int(i.shape[0])) for i in images], vectors)


@dataclass(frozen=True)
class LocatedImage:
    """One image's faces (no embeddings yet) and their aligned crops (F, S, S, 3)."""

    faces: ImageFaces
    crops: NDArray[np.uint8]


def locate_each(locator: FaceLocator, images: Sequence[NDArray[np.uint8]]) -> list[LocatedImage]:
    """``locator.locate`` over a batch, cut back into one ``LocatedImage`` per image."""
    located = locator.locate(images)
    per_image = located.per_image([(int(i.shape[1]), int(i.shape[0])) for i in images])
    bounds = np.cumsum(np.r_[0, located.detections.counts()]).tolist()
    return [LocatedImage(faces, located.aligned.crops[bounds[n] : bounds[n + 1]]) for n, faces in enumerate(per_image)]


def embed_groups(embedder: FaceEmbedder, groups: Sequence[NDArray[np.uint8]], step: int) -> list[NDArray[np.float32]]:
    """The (F, D) embeddings of each group of aligned crops (F, S, S, 3), all groups in shared chunks."""
    counts = [len(group) for group in groups]
    if sum(counts) == 0:
        return [np.zeros((0, embedder.embedding_size), np.float32) for _ in groups]
    crops = np.concatenate([group for group in groups if len(group)])
    index = np.repeat(np.arange(len(groups)), counts)
    vectors = embed_in_chunks(embedder, AlignedFaces(crops, index), step)
    return np.split(vectors, np.cumsum(counts)[:-1])


def embed_in_chunks(embedder: FaceEmbedder, faces: AlignedFaces, step: int) -> NDArray[np.float32]:
    """(F, D) embeddings of ``faces``, ``step`` faces per network call."""
    parts = [
        embedder.embed(AlignedFaces(faces.crops[i : i + step], faces.image_index[i : i + step]))
        for i in range(0, len(faces), step)
    ]
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.embedding_size), np.float32)
    check_batch("embedding", len(faces), len(vectors))
    return vectors


def _shift(detections: Detections, offsets: NDArray[np.float32]) -> Detections:
    offset = offsets[detections.image_index]
    return Detections(
        boxes=detections.boxes - np.tile(offset, 2),
        landmarks=detections.landmarks - offset[:, None, :],
        scores=detections.scores,
        image_index=detections.image_index,
        num_images=detections.num_images,
    )


def _centre_inside(detections: Detections, images: Sequence[NDArray[np.uint8]]) -> NDArray[np.bool_]:
    sizes = np.array([image.shape[1::-1] for image in images], dtype=np.float32).reshape(-1, 2)
    centre = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2
    limit = sizes[detections.image_index]
    return np.all((centre >= 0) & (centre < limit), axis=1)
