"""Small builders the storage tests share."""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
from sqlalchemy.orm import Session

from storage.repositories.faces import ImageRepository, NewFace
from storage.tables import ImageSource


def add_image(
    session: Session, source: ImageSource = ImageSource.UPLOAD, case_id: uuid.UUID | None = None
) -> uuid.UUID:
    """A stored photo with random content; returns its id."""
    digest = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    image, _ = ImageRepository(session).add(
        content_sha256=digest, storage_uri=f"file:///photos/{digest}.jpg", byte_size=1, source=source, case_id=case_id
    )
    return image.id


def unit_vectors(rows: int, dims: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def new_faces(vectors: np.ndarray) -> list[NewFace]:
    return [
        NewFace(box=(0, 0, 10, 10), landmarks=[0.0] * 10, detection_score=0.9, quality=0.8, embedding=vector)
        for vector in vectors
    ]
