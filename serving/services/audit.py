"""The audit log for auditors and administrators: its entries, and a walk of its hash chain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from serving.auth.policy import Action, authorize
from storage.audit import AuditLog, ChainReport
from storage.database import Database
from storage.repositories.common import Page
from storage.tables import AuditEntry, User


class AuditService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def find(
        self,
        user: User,
        *,
        actor: str | None,
        actions: Sequence[str],
        target_type: str | None,
        target_id: str | None,
        since: datetime | None,
        until: datetime | None,
        page: int,
        page_size: int,
    ) -> Page[AuditEntry]:
        """Entries, newest first, filtered by who, what, on what and when."""
        authorize(user, Action.READ_AUDIT)
        with self.db.transaction() as session:
            return AuditLog(session).find(
                actor=actor,
                actions=actions,
                target_type=target_type,
                target_id=target_id,
                since=since,
                until=until,
                page=page,
                page_size=page_size,
            )

    def verify(self, user: User) -> ChainReport:
        """Walk the whole chain; the report names the first entry that does not check out."""
        authorize(user, Action.READ_AUDIT)
        with self.db.transaction() as session:
            return AuditLog(session).verify()
