"""The audit log: append-only and hash-chained, so that edits and deletions show.

Every entry stores ``prev_hash`` (the previous entry's hash, zeros for the first) and
``row_hash`` = sha256(prev_hash + canonical JSON of its content). Entries are numbered from 1
without gaps under an advisory lock, and ``audit_head`` remembers the newest one, so that
changing, deleting or cutting off entries (even by the table owner with triggers disabled)
is found by ``verify``. Details must hold ids and counts only, never names or biometric data.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.repositories.common import Page, paginate
from storage.tables import AuditEntry, AuditHead

GENESIS = "0" * 64
_APPEND_LOCK = 0x5A5A_A0D1  # pg_advisory_xact_lock key that serialises appends


@dataclass(frozen=True)
class ChainReport:
    """What ``verify`` found: how many entries check out, and the first that does not."""

    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


class AuditLog:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        *,
        actor: str,
        action: str,
        target_type: str | None = None,
        target_id: str | uuid.UUID | None = None,
        outcome: str = "success",
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add an entry in the caller's transaction (the lock is held until it ends)."""
        self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_APPEND_LOCK)))
        head = self.session.get(AuditHead, 1, populate_existing=True)
        entry = AuditEntry(
            seq=head.seq + 1 if head else 1,
            occurred_at=datetime.now(UTC),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            outcome=outcome,
            details=details or {},
            prev_hash=head.row_hash if head else GENESIS,
        )
        entry.row_hash = entry_hash(entry)
        self.session.add(entry)
        if head is None:
            self.session.add(AuditHead(id=1, seq=entry.seq, row_hash=entry.row_hash))
        else:
            head.seq, head.row_hash = entry.seq, entry.row_hash
        self.session.flush()
        return entry

    def verify(self) -> ChainReport:
        """Walk the whole chain; name the first entry whose number, link or hash is wrong."""
        expected_seq, previous, checked = 1, GENESIS, 0
        for entry in self.session.scalars(
            sa.select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
        ):
            if entry.seq != expected_seq:
                return ChainReport(checked, expected_seq, f"entry {expected_seq} is missing (deleted)")
            if entry.prev_hash != previous:
                return ChainReport(checked, entry.seq, f"entry {entry.seq} does not link to entry {entry.seq - 1}")
            if entry_hash(entry) != entry.row_hash:
                return ChainReport(checked, entry.seq, f"entry {entry.seq} was changed after it was written")
            expected_seq, previous, checked = entry.seq + 1, entry.row_hash, checked + 1
        head = self.session.get(AuditHead, 1, populate_existing=True)
        head_seq, head_hash = (head.seq, head.row_hash) if head else (0, GENESIS)
        if head_seq != checked or head_hash != previous:
            return ChainReport(checked, checked + 1, f"entries after {checked} were removed (the log had {head_seq})")
        return ChainReport(checked)

    def find(
        self,
        *,
        actor: str | None = None,
        actions: Sequence[str] = (),
        target_type: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page[AuditEntry]:
        """Entries, newest first, filtered by who, what, on what and when."""
        conditions = [
            AuditEntry.actor == actor if actor else None,
            AuditEntry.action.in_(actions) if actions else None,
            AuditEntry.target_type == target_type if target_type else None,
            AuditEntry.target_id == target_id if target_id else None,
            AuditEntry.occurred_at >= since if since else None,
            AuditEntry.occurred_at < until if until else None,
        ]
        query = sa.select(AuditEntry).where(*(c for c in conditions if c is not None))
        return paginate(self.session, query.order_by(AuditEntry.seq.desc()), page=page, page_size=page_size)


def entry_hash(entry: AuditEntry) -> str:
    """sha256 of the previous hash and the entry's content in canonical JSON."""
    content = {
        "seq": entry.seq,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "outcome": entry.outcome,
        "details": entry.details,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((entry.prev_hash + canonical).encode()).hexdigest()
