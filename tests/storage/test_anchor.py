"""The database's owner rewrites the chain's tail and its head together: the chain checks out, the anchor does not."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from storage.anchor import AuditAnchor
from storage.audit import AuditLog, entry_hash
from storage.database import Database
from storage.tables import AuditEntry, AuditHead

SECRET = "a service secret the database never sees, long enough"


def _append(db: Database, count: int, start: int = 0) -> None:
    with db.transaction() as session:
        for n in range(start, start + count):
            AuditLog(session).append(actor="user:1", action="case.update", target_id=f"c{n}", details={"n": n})


def _rewrite_from(db: Database, seq: int, actor: str) -> None:
    """What an owner with the tables to themselves can do: change an entry, rehash everything after it,
    and move audit_head along, so that the chain verifies again."""
    with db.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    with db.transaction() as session:
        entries = list(session.scalars(sa.select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq)))
        previous = session.scalar(sa.select(AuditEntry.row_hash).where(AuditEntry.seq == seq - 1))
        for entry in entries:
            entry.actor = actor if entry.seq == seq else entry.actor
            entry.prev_hash = previous
            entry.row_hash = previous = entry_hash(entry)
        head = session.get(AuditHead, 1)
        head.row_hash = previous
    with db.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def test_a_rewritten_tail_is_found_by_its_anchor(db: Database, tmp_path: Path) -> None:
    anchor = AuditAnchor.with_secret(tmp_path / "anchor.jsonl", SECRET)
    _append(db, 4)
    with db.transaction() as session:
        assert anchor.record(session) == 4 and anchor.record(session) is None  # once per head
    _append(db, 2, start=4)
    with db.transaction() as session:
        assert anchor.record(session) == 6
        assert anchor.check(session).ok and anchor.check(session).checked == 2

    _rewrite_from(db, 3, actor="user:2")
    with db.transaction() as session:
        assert AuditLog(session).verify().ok  # the chain alone cannot tell
        report = anchor.check(session)
    assert not report.ok and report.first_bad_seq == 4 and "rewritten" in (report.reason or "")


def test_a_forged_or_cut_anchor_is_named(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    anchor = AuditAnchor.with_secret(path, SECRET)
    _append(db, 3)
    with db.transaction() as session:
        anchor.record(session)
    forged = json.loads(path.read_text())
    forged["hash"] = "0" * 64
    path.write_text(path.read_text() + json.dumps(forged) + "\n")
    with db.transaction() as session:
        report = anchor.check(session)
    assert not report.ok and "not signed" in (report.reason or "")
    other_key = AuditAnchor.with_secret(tmp_path / "other.jsonl", "another secret, another service, long enough")
    with db.transaction() as session:
        other_key.record(session)
    (tmp_path / "other.jsonl").write_text((tmp_path / "other.jsonl").read_text())
    with db.transaction() as session:
        assert not AuditAnchor.with_secret(tmp_path / "other.jsonl", SECRET).check(session).ok
