"""The audit log for auditors and administrators: its entries, and a walk of its hash chain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from configs.settings import Settings, embedded_anchor
from serving.auth.policy import Action, authorize
from serving.metrics import record_verification
from storage.anchor import AuditAnchor
from storage.audit import AuditLog, ChainReport
from storage.database import Database
from storage.repositories.common import Page
from storage.tables import AuditEntry, User


class AuditService:
    def __init__(self, db: Database, anchor: AuditAnchor | None = None) -> None:
        self.db, self.anchor = db, anchor

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
        """Walk the whole chain, then check it against its anchors outside the database; the report
        names the first entry that does not check out."""
        authorize(user, Action.READ_AUDIT)
        with self.db.transaction() as session:
            report = verify_anchored(session, self.anchor)
        record_verification(report.ok)
        return report


def verify_anchored(session: Session, anchor: AuditAnchor | None) -> ChainReport:
    """The chain's own check and, when there is an anchor file, the anchors' (the first failure of the two)."""
    chain = AuditLog(session).verify()
    if not chain.ok or anchor is None:
        return chain
    anchored = anchor.check(session)
    return chain if anchored.ok else ChainReport(chain.checked, anchored.first_bad_seq, anchored.reason)


def audit_anchor(settings: Settings) -> AuditAnchor | None:
    """The anchor the settings name, signed with a key derived from the token secret (never in the database)."""
    path = settings.audit.anchor_file or (embedded_anchor() if settings.db.url is None else None)
    return None if path is None else AuditAnchor.with_secret(path, settings.token_secret())
