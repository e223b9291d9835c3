"""The durable job queue and the schedules that feed it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, Keyed, enum_type, owner_key


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPriority(enum.IntEnum):
    """Lower runs first."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


class Job(Keyed, Base):
    """One unit of long work. A worker holds it under a lease; an expired lease frees it again."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint("priority BETWEEN 0 AND 2", name="priority_range"),
        sa.CheckConstraint("progress BETWEEN 0 AND 1", name="progress_range"),
        sa.Index("ix_jobs_claimable", "priority", "run_after", postgresql_where=sa.text("status = 'queued'")),
        sa.Index("ix_jobs_leased", "lease_expires_at", postgresql_where=sa.text("status = 'running'")),
    )

    kind: Mapped[str] = mapped_column(sa.String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    priority: Mapped[int] = mapped_column(sa.SmallInteger, default=JobPriority.NORMAL)
    status: Mapped[JobStatus] = mapped_column(enum_type(JobStatus, "job_status"), index=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(default=3, server_default="3")
    run_after: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))
    lease_expires_at: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    progress: Mapped[float] = mapped_column(default=0.0, server_default="0")
    progress_detail: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = owner_key("users", nullable=True, ondelete="SET NULL")
    schedule_id: Mapped[uuid.UUID | None] = owner_key("job_schedules", nullable=True, ondelete="SET NULL")


class JobSchedule(Keyed, Base):
    """A job that recurs (daily retention cleanup, periodic sync): due when ``next_run_at`` passes."""

    __tablename__ = "job_schedules"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    priority: Mapped[int] = mapped_column(sa.SmallInteger, default=JobPriority.NORMAL)
    max_attempts: Mapped[int] = mapped_column(default=3, server_default="3")
    interval_seconds: Mapped[int]
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
