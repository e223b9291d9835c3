"""Photos and faces, and k-NN search of faces by embedding within one model pack.

Packs have different embedding sizes and must never be compared, so all packs share one
``faces.embedding`` column of type ``vector`` (any dimension) and each pack gets its own
partial HNSW index on ``(embedding::vector(D)) vector_cosine_ops WHERE pack = '<pack>'``,
made at start-up by ``storage.indexes.prepare_pack_index``, never here. A search casts to
the same ``vector(D)`` and names the pack as a literal, so the planner can use that pack's
index; nothing else needs a table per dimension.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.ages import photo_age
from pipeline.gallery import GalleryFace
from storage.errors import InvalidArgumentError
from storage.indexes import DEFAULT_EF_SEARCH, check_indexable, pack_literal
from storage.repositories.common import get_or_raise
from storage.tables import Case, Face, Image, ImageSource, ProcessingStatus


@dataclass(frozen=True)
class NewFace:
    """A face to store: box (x1, y1, x2, y2), ten landmark coordinates, scores, embedding (D,)."""

    box: Sequence[float]
    landmarks: Sequence[float]
    detection_score: float
    quality: float
    embedding: NDArray[np.float32] | Sequence[float]
    age_years: float | None = None  # reference faces: the person's age in the photo, as stated


@dataclass(frozen=True)
class FaceHit:
    """A face found by search, best first; ``case_id`` is None for sightings."""

    face_id: uuid.UUID
    image_id: uuid.UUID
    case_id: uuid.UUID | None
    similarity: float


def reference_faces(pack: str) -> sa.Select[*tuple[Any, ...]]:
    """The reference faces of matchable cases of ``pack`` with what dates their photos (rows for
    ``gallery_face``): one query for the service's matchers and the jobs' galleries."""
    return (
        sa.select(
            Face.id,
            Face.case_id,
            Face.embedding,
            Face.age_years,
            Image.taken_at,
            Case.date_of_birth,
            Case.last_seen_at,
        )
        .join(Case, Case.id == Face.case_id)
        .join(Image, Image.id == Face.image_id)
        .where(Face.pack == pack, Case.matchable)
    )


def gallery_face(row: Any) -> GalleryFace:
    """A row of ``reference_faces`` (SQLAlchemy's, or psycopg's named tuple) as a gallery entry."""
    vector = row.embedding.to_numpy() if hasattr(row.embedding, "to_numpy") else row.embedding
    age = photo_age(
        taken_at=row.taken_at, date_of_birth=row.date_of_birth, stated_age=row.age_years, last_seen_at=row.last_seen_at
    )
    return GalleryFace(row.id, row.case_id, np.asarray(vector, np.float32), age)


class ImageRepository:
    """Photos, one row per distinct content."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        *,
        content_sha256: str,
        storage_uri: str,
        byte_size: int,
        source: ImageSource,
        status: ProcessingStatus = ProcessingStatus.PENDING,
        **details: Any,
    ) -> tuple[Image, bool]:
        """The image with this content, and whether this call created it (re-uploads create nothing)."""
        values = dict(
            id=uuid.uuid4(),
            content_sha256=content_sha256,
            storage_uri=storage_uri,
            byte_size=byte_size,
            source=source,
            status=status,
            **details,
        )
        statement = insert(Image).values(**values).on_conflict_do_nothing(index_elements=["content_sha256"])
        image = self.session.scalars(statement.returning(Image)).one_or_none()
        if image is not None:
            return image, True
        return self.session.scalars(sa.select(Image).where(Image.content_sha256 == content_sha256)).one(), False

    def get(self, *, image_id: uuid.UUID) -> Image:
        return get_or_raise(self.session, Image, image_id)

    def known_digests(self, digests: Sequence[str]) -> set[str]:
        """Which of these content hashes are stored already."""
        query = sa.select(Image.content_sha256).where(Image.content_sha256.in_(list(digests)))
        return set(self.session.scalars(query))

    def set_status(self, *, image_id: uuid.UUID, status: ProcessingStatus, error: str | None = None) -> Image:
        image = self.get(image_id=image_id)
        image.status, image.error = status, error
        self.session.flush()
        return image


class FaceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, *, image_id: uuid.UUID, pack: str, faces: Sequence[NewFace], case_id: uuid.UUID | None = None
    ) -> list[Face]:
        """Store an image's faces (a case's reference faces when ``case_id`` is given).

        Creates no index: the pack's is prepared at start-up (``storage.indexes``).
        """
        if not faces:
            return []
        dimension = len(faces[0].embedding)
        if any(len(face.embedding) != dimension for face in faces):
            raise InvalidArgumentError("all faces of one call must have embeddings of one size")
        check_indexable(pack, dimension)
        rows = [
            Face(
                image_id=image_id,
                case_id=case_id,
                pack=pack,
                dimension=dimension,
                box=[float(v) for v in face.box],
                landmarks=[float(v) for v in face.landmarks],
                detection_score=float(face.detection_score),
                quality=float(face.quality),
                embedding=np.asarray(face.embedding, dtype=np.float32),
                age_years=face.age_years,
            )
            for face in faces
        ]
        self.session.add_all(rows)
        self.session.flush()
        return rows

    def for_case(self, *, case_id: uuid.UUID, pack: str | None = None) -> list[Face]:
        query = sa.select(Face).where(Face.case_id == case_id).order_by(Face.created_at)
        return list(self.session.scalars(query.where(Face.pack == pack) if pack else query))

    def open_case_faces(self, *, pack: str) -> list[GalleryFace]:
        """Every reference face of a matchable case (open, consent recorded), with the age in its photo."""
        return [gallery_face(row) for row in self.session.execute(reference_faces(pack))]

    def count_sightings(self, *, pack: str) -> int:
        """Sighting faces of ``pack``: the gallery a case's reference face is searched against."""
        query = sa.select(sa.func.count()).select_from(Face).where(Face.pack == pack, Face.case_id.is_(None))
        return int(self.session.execute(query).scalar_one())

    def sighting_days(self, *, face_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, date]:
        """The day each sighting face's photo was taken, else the day it was stored."""
        day = sa.func.coalesce(Image.taken_at, Image.created_at)
        query = sa.select(Face.id, day.label("day")).join(Image, Image.id == Face.image_id)
        return {row.id: row.day.date() for row in self.session.execute(query.where(Face.id.in_(list(face_ids))))}

    def gallery_version(self, *, pack: str) -> tuple[Any, ...]:
        """Changes whenever a reference face or an open case of ``pack`` is added, changed or removed."""
        query = (
            sa.select(sa.func.count(), sa.func.max(Face.created_at), sa.func.max(Case.updated_at))
            .join(Case, Case.id == Face.case_id)
            .where(Face.pack == pack, Case.matchable)
        )
        return tuple(self.session.execute(query).one())

    def search(
        self,
        *,
        pack: str,
        vector: NDArray[np.float32] | Sequence[float],
        k: int = 10,
        case_ids: Sequence[uuid.UUID] | None = None,
        sightings_only: bool = False,
        exact: bool = False,
        ef_search: int = DEFAULT_EF_SEARCH,
    ) -> list[FaceHit]:
        """The ``k`` faces of ``pack`` nearest to ``vector`` by cosine, best first.

        case_ids: only reference faces of these cases; sightings_only: only faces of no case.
        exact: scan every candidate instead of walking the HNSW graph (slower, never misses).
        ef_search: HNSW candidate list size (recall against speed); set for this transaction.
        """
        literal = pack_literal(pack)
        if not 1 <= k <= 1000:
            raise InvalidArgumentError("k must be between 1 and 1000")
        distance = sa.cast(Face.embedding, Vector(len(vector))).cosine_distance(np.asarray(vector, np.float32))
        query = sa.select(Face.id, Face.image_id, Face.case_id, distance.label("distance")).where(Face.pack == literal)
        if case_ids is not None:
            query = query.where(Face.case_id.in_(case_ids))
        elif sightings_only:
            query = query.where(Face.case_id.is_(None))
        if not exact:
            self._set_local("hnsw.ef_search", str(min(max(ef_search, k), 1000)))
            if case_ids is not None or sightings_only:
                self._set_local("hnsw.iterative_scan", "relaxed_order")
        # Adding zero leaves the order alone but no longer matches the index expression.
        rows = self.session.execute(query.order_by(distance + 0 if exact else distance).limit(k)).all()
        hits = [FaceHit(row.id, row.image_id, row.case_id, 1.0 - float(row.distance)) for row in rows]
        return sorted(hits, key=lambda hit: -hit.similarity)

    def _set_local(self, name: str, value: str) -> None:
        self.session.execute(sa.select(sa.func.set_config(name, value, True)))
