"""The audit chain's head, anchored outside the database, signed with a key the database never holds.

The chain in ``storage.audit`` finds edits, deletions and cut-off tails, but the database's owner
could rewrite the tail and ``audit_head`` together and the chain would check out again. So the
head (number and hash) is written, now and then, to an append-only file outside the database, each
line signed (HMAC-SHA256) with a key derived from the service's secret. ``check`` then demands that
every anchored entry still has the hash it had: a rewritten past no longer matches its anchor.
What happened after the newest anchor is only as safe as the chain itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.audit import ChainReport
from storage.tables import AuditEntry, AuditHead


@dataclass(frozen=True)
class AuditAnchor:
    path: Path
    key: bytes

    @classmethod
    def with_secret(cls, path: Path, secret: str) -> AuditAnchor:
        return cls(path, hmac.new(secret.encode(), b"sura audit anchor", hashlib.sha256).digest())

    def record(self, session: Session) -> int | None:
        """Anchor the chain's current head (nothing when the log is empty or already anchored there)."""
        head = session.get(AuditHead, 1)
        if head is None or head.seq == self._last_seq():
            return None
        line = {"seq": head.seq, "hash": head.row_hash, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        line["mac"] = self._mac(line)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, (json.dumps(line, sort_keys=True) + "\n").encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return head.seq

    def check(self, session: Session) -> ChainReport:
        """Every anchor signed by us and still matching the chain; ``checked`` counts the anchors."""
        anchors = self._lines()
        for number, line in enumerate(anchors, start=1):
            if not hmac.compare_digest(str(line.get("mac", "")), self._mac(line)):
                return ChainReport(number - 1, None if "seq" not in line else int(line["seq"]), _forged(number))
        for number, line in enumerate(anchors, start=1):
            seq = int(line["seq"])
            stored = session.scalar(sa.select(AuditEntry.row_hash).where(AuditEntry.seq == seq))
            if stored is None:
                return ChainReport(number - 1, seq, f"entry {seq} was anchored but is gone: the log was cut back")
            if stored != line["hash"]:
                return ChainReport(number - 1, seq, f"entry {seq} differs from its anchor: the chain was rewritten")
        return ChainReport(len(anchors))

    def _mac(self, line: dict[str, Any]) -> str:
        message = f"{line.get('seq')}|{line.get('hash')}|{line.get('at')}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def _lines(self) -> list[dict[str, Any]]:
        """The anchor lines; one that does not parse reads as unsigned (and is reported so)."""
        if not self.path.exists():
            return []
        return [_parse(text) for text in self.path.read_text().splitlines() if text.strip()]

    def _last_seq(self) -> int | None:
        lines = self._lines()
        return int(str(lines[-1]["seq"])) if lines else None


def _parse(text: str) -> dict[str, Any]:
    try:
        line = json.loads(text)
    except ValueError:
        return {}
    return line if isinstance(line, dict) else {}


def _forged(number: int) -> str:
    return f"anchor line {number} is not signed with this service's key"
