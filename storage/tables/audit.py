"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base


class AuditEntry(Base):
    """One action. ``seq`` counts from 1 without gaps; ``row_hash`` = sha256(prev_hash + content).

    UPDATE, DELETE and TRUNCATE are refused by triggers (created by the first migration).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_target", "target_type", "target_id"),
        sa.Index("ix_audit_log_actor", "actor"),
    )

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(100), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(50))
    target_id: Mapped[str | None] = mapped_column(sa.String(100))
    outcome: Mapped[str] = mapped_column(sa.String(20))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    row_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditHead(Base):
    """The newest entry's position and hash, so that cutting rows off the end is detected too."""

    __tablename__ = "audit_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    row_hash: Mapped[str] = mapped_column(sa.String(64))
