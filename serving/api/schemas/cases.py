"""Missing-person cases and their reference photos."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import ClassVar

from pydantic import BaseModel, Field

from serving.api.schemas.common import Patch, Strict
from storage.erasure import ErasureReason
from storage.tables import CasePriority, CaseStatus, Sex


class CaseFields(Strict):
    aliases: list[str] = Field(default_factory=list, max_length=50)
    sex: Sex = Sex.UNKNOWN
    date_of_birth: date | None = None
    last_seen_at: datetime | None = None
    last_seen_place: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=10_000)
    priority: CasePriority = CasePriority.NORMAL
    consent_biometric: bool = Field(description="The person (or family) agreed to face matching.")
    retention_until: date | None = Field(default=None, description="Erased automatically after this day.")


class CaseCreate(CaseFields):
    full_name: str = Field(min_length=1, max_length=300)


class CaseUpdate(Patch):
    """Only the fields given change. Reporters may change the descriptive ones and withdraw."""

    required: ClassVar[frozenset[str]] = frozenset(
        {"full_name", "aliases", "sex", "status", "priority", "consent_biometric"}
    )

    full_name: str | None = Field(default=None, min_length=1, max_length=300)
    aliases: list[str] | None = Field(default=None, max_length=50)
    sex: Sex | None = None
    date_of_birth: date | None = None
    last_seen_at: datetime | None = None
    last_seen_place: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=10_000)
    status: CaseStatus | None = None
    priority: CasePriority | None = None
    assignee_id: uuid.UUID | None = None
    consent_biometric: bool | None = None
    retention_until: date | None = None


class CaseOut(BaseModel):
    id: uuid.UUID
    number: int
    full_name: str
    aliases: list[str]
    sex: Sex
    date_of_birth: date | None
    last_seen_at: datetime | None
    last_seen_place: str | None
    description: str | None
    status: CaseStatus
    priority: CasePriority
    reporter_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    consent_biometric: bool
    retention_until: date | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReferencePhotoOut(BaseModel):
    face_id: uuid.UUID
    image_id: uuid.UUID
    pack: str
    quality: float
    detection_score: float
    age_years: float | None = Field(description="The person's age in the photo, as stated when it was added.")
    created_at: datetime


class Erasure(Strict):
    reason: ErasureReason


class ErasureOut(BaseModel):
    case_id: uuid.UUID
    images: int
    faces: int
    matches: int
    notifications: int
    sightings: int = Field(description="Sighting photos matched to this case only, erased with it.")
