"""Matches and their review, notifications, jobs and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field

from serving.api.schemas.common import Strict
from storage.tables import Channel, JobStatus, NotificationKind, ReviewDecision, ReviewStatus


class MatchDetail(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    face_id: uuid.UUID
    reference_face_id: uuid.UUID | None
    similarity: float
    false_accept_rate: float = Field(description="Calibrated; floored at the smallest rate the pack measured.")
    pack: str
    threshold: float = Field(description="The threshold in force when the match was found (the operating point's).")
    operating_far: float | None = Field(
        description="The false-accept rate per compared photo at `threshold` (made stricter as the gallery grows)."
    )
    gallery_faces: int | None = Field(description="How many reference photos the searched face was compared with.")
    centroid_similarity: float | None = Field(
        description="The face against the centroid (normalised mean) of the case's photos, when it has several."
    )
    centroid_false_accept_rate: float | None = Field(
        description="How often a different person's face scores this high against such a centroid (per case)."
    )
    age_gap: bool = Field(
        description="Put forward by rank, not by the threshold: a child's reference photo taken years before."
    )
    reference_age_years: float | None = Field(description="With `age_gap`: the person's age in the reference photo.")
    years_apart: float | None = Field(description="With `age_gap`: years between the reference photo and the sighting.")
    status: ReviewStatus
    first_confirmed_by_id: uuid.UUID | None = Field(description="Set while waiting for a second confirmation.")
    claimed_by_id: uuid.UUID | None = Field(description="The reviewer working on it, until `claimed_until`.")
    claimed_until: datetime | None
    reviewed_at: datetime | None
    notes: str | None
    created_at: datetime


class ReviewIn(Strict):
    decision: ReviewDecision
    note: str | None = Field(default=None, max_length=5000)


class ReviewOut(BaseModel):
    reviewer_id: uuid.UUID | None
    decision: ReviewDecision
    status_after: ReviewStatus
    note: str | None
    pack: str
    threshold: float
    created_at: datetime


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: NotificationKind
    title: str
    body: str
    case_id: uuid.UUID | None
    match_id: uuid.UUID | None
    job_id: uuid.UUID | None
    read_at: datetime | None
    created_at: datetime


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


class PreferenceIn(Strict):
    kind: NotificationKind
    channel: Channel
    enabled: bool
    target: str | None = Field(
        default=None, max_length=2000, description="E-mail address (default: the account's) or webhook URL."
    )


class PreferenceOut(BaseModel):
    kind: NotificationKind
    channel: Channel
    enabled: bool
    target: str | None
    signing_secret: str | None = Field(
        description="Webhooks only: the key of the X-Sura-Signature HMAC-SHA256 over 'timestamp.body'."
    )


class WebhookTarget(BaseModel):
    url: AnyHttpUrl


class ScanIn(Strict):
    source: str = Field(
        min_length=1, max_length=4000, description="A folder, archive or list file on the server, or a URI."
    )
    source_label: str | None = Field(default=None, max_length=200, description="What the archive is, e.g. its sender.")
    priority: Literal["high", "normal", "low"] = "normal"


class JobOut(BaseModel):
    id: uuid.UUID
    kind: str
    status: JobStatus
    priority: int
    attempts: int
    max_attempts: int
    progress: float
    progress_detail: dict[str, Any]
    last_error: str | None
    result: dict[str, Any] | None
    cancel_requested: bool
    created_by_id: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class AuditEntryOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    details: dict[str, Any]
    row_hash: str


class ChainReportOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
