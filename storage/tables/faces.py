"""Photos, the faces found in them, and candidate matches between sighting faces and cases."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, Keyed, enum_type, owner_key


class ImageSource(enum.StrEnum):
    CASE_REFERENCE = "case_reference"
    UPLOAD = "upload"
    ARCHIVE_SCAN = "archive_scan"
    EXTERNAL_DATABASE = "external_database"


class ProcessingStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    INCONCLUSIVE = "inconclusive"


class ReviewDecision(enum.StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    INCONCLUSIVE = "inconclusive"
    REOPEN = "reopen"


class Image(Keyed, Base):
    """One stored photo, identified by its content: the same bytes are one image."""

    __tablename__ = "images"

    content_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    storage_uri: Mapped[str] = mapped_column(sa.Text)
    byte_size: Mapped[int] = mapped_column(sa.BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    format: Mapped[str | None] = mapped_column(sa.String(16))
    taken_at: Mapped[datetime | None]
    source: Mapped[ImageSource] = mapped_column(enum_type(ImageSource, "image_source"), index=True)
    source_label: Mapped[str | None] = mapped_column(sa.String(200))  # e.g. "Shelter intake, March"
    source_key: Mapped[str | None] = mapped_column(sa.Text)  # the file within its archive or folder
    case_id: Mapped[uuid.UUID | None] = owner_key("cases", nullable=True)  # reference photos only
    external_record_id: Mapped[uuid.UUID | None] = owner_key("external_records", nullable=True, ondelete="SET NULL")
    uploaded_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    status: Mapped[ProcessingStatus] = mapped_column(enum_type(ProcessingStatus, "processing_status"), index=True)
    error: Mapped[str | None] = mapped_column(sa.Text)


class Face(Keyed, Base):
    """One detected face and its embedding.

    ``embedding`` has no fixed dimension: packs differ (128, 512) and are never compared.
    Each pack gets its own partial HNSW index over ``embedding::vector(dimension)``
    (see ``storage.repositories.faces``). ``case_id`` is set for a case's reference faces and
    NULL for sightings, so searches can stay within cases or within sightings.
    """

    __tablename__ = "faces"
    __table_args__ = (
        sa.Index("ix_faces_pack_case", "pack", "case_id"),
        sa.CheckConstraint("vector_dims(embedding) = dimension", name="embedding_dimension"),
        sa.CheckConstraint("age_years IS NULL OR age_years BETWEEN 0 AND 130", name="age_years_range"),
    )

    image_id: Mapped[uuid.UUID] = owner_key("images")
    case_id: Mapped[uuid.UUID | None] = owner_key("cases", nullable=True)
    pack: Mapped[str] = mapped_column(sa.String(64))
    dimension: Mapped[int] = mapped_column(sa.SmallInteger)
    box: Mapped[list[float]] = mapped_column(ARRAY(sa.REAL))  # x1, y1, x2, y2 in image pixels
    landmarks: Mapped[list[float]] = mapped_column(ARRAY(sa.REAL))  # five x, y pairs
    detection_score: Mapped[float] = mapped_column(sa.REAL)
    quality: Mapped[float] = mapped_column(sa.REAL)
    embedding: Mapped[list[float]] = mapped_column(Vector())
    # A reference face: the person's age in the photo as the reporter stated it (else the date of birth tells).
    age_years: Mapped[float | None] = mapped_column(sa.REAL)


class Match(Keyed, Base):
    """A sighting face that resembles a case, waiting for people to decide. One per pair."""

    __tablename__ = "matches"
    __table_args__ = (sa.UniqueConstraint("case_id", "face_id"),)

    case_id: Mapped[uuid.UUID] = owner_key("cases")
    face_id: Mapped[uuid.UUID] = owner_key("faces")
    reference_face_id: Mapped[uuid.UUID | None] = owner_key("faces", nullable=True, ondelete="SET NULL")
    similarity: Mapped[float] = mapped_column(sa.REAL)
    false_accept_rate: Mapped[float] = mapped_column(sa.Double)
    pack: Mapped[str] = mapped_column(sa.String(64))
    threshold: Mapped[float] = mapped_column(sa.REAL)
    # The operating point: the pair false-accept rate at ``threshold`` and the reference faces searched.
    operating_far: Mapped[float | None] = mapped_column(sa.Double)
    gallery_faces: Mapped[int | None]
    # A case of several photos: the searched face against their centroid, and that score's per-case FAR.
    centroid_similarity: Mapped[float | None] = mapped_column(sa.REAL)
    centroid_false_accept_rate: Mapped[float | None] = mapped_column(sa.Double)
    # Put forward by rank, not the threshold: a child's reference photo taken years before the sighting.
    age_gap: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    reference_age_years: Mapped[float | None] = mapped_column(sa.REAL)
    years_apart: Mapped[float | None] = mapped_column(sa.REAL)
    status: Mapped[ReviewStatus] = mapped_column(enum_type(ReviewStatus, "review_status"), index=True)
    first_confirmed_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    reviewed_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(sa.Text)
    # A reviewer working on the match holds it until then; nobody else may decide it meanwhile.
    claimed_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    claimed_until: Mapped[datetime | None]


class MatchReview(Keyed, Base):
    """One reviewer's decision on a match, with the pack and threshold in force at the time."""

    __tablename__ = "match_reviews"

    match_id: Mapped[uuid.UUID] = owner_key("matches")
    reviewer_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    decision: Mapped[ReviewDecision] = mapped_column(enum_type(ReviewDecision, "review_decision"))
    status_after: Mapped[ReviewStatus] = mapped_column(enum_type(ReviewStatus, "review_status"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    pack: Mapped[str] = mapped_column(sa.String(64))
    threshold: Mapped[float] = mapped_column(sa.REAL)
