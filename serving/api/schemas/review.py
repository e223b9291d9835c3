"""A match as reviewers see it, and the review queue."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from serving.api.schemas.work import MatchDetail
from storage.tables import CasePriority, CaseStatus


class ImageLinks(BaseModel):
    """Where to fetch the face's images with a token; each fetch is audited for this match."""

    aligned: str = Field(description="The aligned face (JPEG), as the embedder saw it.")
    context: str = Field(description="The face with its surroundings (JPEG).")
    photo: str = Field(description="The whole photo, downscaled (JPEG).")


class FaceSeenOut(BaseModel):
    face_id: uuid.UUID
    image_id: uuid.UUID
    box: list[float] = Field(description="x1, y1, x2, y2 in the photo's pixels.")
    detection_score: float
    quality: float
    taken_at: datetime | None
    age_years: float | None = Field(description="The person's age in the photo, from the case's date of birth.")
    similarity: float | None = Field(default=None, description="To the sighting face (reference faces only).")
    false_accept_rate: float | None = Field(default=None, description="Calibrated for that similarity.")
    years_apart: float | None = Field(default=None, description="How long after this photo the sighting was taken.")
    images: ImageLinks


class CaseBrief(BaseModel):
    id: uuid.UUID
    number: int
    full_name: str
    priority: CasePriority
    status: CaseStatus
    date_of_birth: date | None


class MatchViewOut(MatchDetail):
    case: CaseBrief
    sighting: FaceSeenOut
    references: list[FaceSeenOut] = Field(
        description="Every reference face of the case in the match's pack, best first."
    )
    age_gap_years: float | None = Field(
        description="Between the sighting and the closest reference, when both are dated."
    )


class QueueItem(MatchDetail):
    case: CaseBrief
