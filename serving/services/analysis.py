"""Faces of one photo for jobs that record sightings outside a request: through the Serve chain or a local engine."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from pipeline.decode import decode_image
from pipeline.engine import FaceEngine
from pipeline.types import Face
from serving.deployments.messages import PhotoError


@dataclass(frozen=True)
class PhotoFaces:
    """A photo's faces with their (F, D) embeddings, and what the photo is."""

    faces: list[Face]
    vectors: NDArray[np.float32]
    width: int
    height: int
    format: str


class Analyser(Protocol):
    def analyse(self, photo: bytes) -> PhotoFaces:
        """Every face of ``photo``; an ``ImageError`` says why a photo cannot be read."""
        ...


class ServeAnalyser:
    """The Detector and Embedder deployments, called from a worker thread (blocking on their answers)."""

    def __init__(self, detector: Any, embedder: Any) -> None:
        self.detector, self.embedder = detector, embedder

    def analyse(self, photo: bytes) -> PhotoFaces:
        located = self.detector.locate.remote(photo).result()
        if isinstance(located, PhotoError):
            raise located.exception()
        faces = list(located.faces.faces)
        vectors = self.embedder.embed.remote(located.crops).result() if faces else np.zeros((0, 1), np.float32)
        return PhotoFaces(faces, vectors, located.faces.width, located.faces.height, located.format)


class EngineAnalyser:
    """A face engine in this process (the command line, tests)."""

    def __init__(self, engine: FaceEngine, *, max_pixels: int) -> None:
        self.engine, self.max_pixels = engine, max_pixels

    def analyse(self, photo: bytes) -> PhotoFaces:
        image = decode_image(photo, max_pixels=self.max_pixels)
        [found] = self.engine.analyse([image.pixels])
        faces = [replace(face, embedding=None) for face in found.faces]
        vectors = (
            np.stack([np.asarray(face.embedding, np.float32) for face in found.faces])
            if found.faces
            else np.zeros((0, self.engine.embedder.embedding_size), np.float32)
        )
        return PhotoFaces(faces, vectors, image.width, image.height, image.format)
