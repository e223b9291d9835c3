"""The audit log: appends chain, the database refuses changes, and tampering is named by `sura audit verify`."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from configs.settings import get_settings
from serving.cli.main import cli
from storage.audit import AuditLog, entry_hash
from storage.database import Database
from storage.tables import AuditEntry


@pytest.fixture()
def chain(db: Database) -> Database:
    with db.transaction() as session:
        log = AuditLog(session)
        for n in range(5):
            log.append(
                actor="user:42",
                action="case.update",
                target_type="case",
                target_id=f"c{n}",
                details={"fields": ["status"], "n": n, "note": "ñ"},
            )
    return db


@pytest.fixture()
def verify(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Runs `sura audit verify` against the test database: (exit code, stdout, stderr)."""
    monkeypatch.setenv("SURA_DB__URL", database_url)
    get_settings.cache_clear()

    def run() -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["audit", "verify"])
        return result.exit_code, result.stdout, result.stderr

    yield run
    get_settings.cache_clear()


def _as_owner(db: Database, statement: str) -> None:
    """Tamper the way a database owner could: switch the triggers off, change rows, switch them on."""
    with db.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        connection.execute(sa.text(statement))
        connection.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def test_intact_chain_verifies(chain: Database, verify) -> None:
    assert verify() == (0, "audit log intact: 5 entries verified\n", "")


def test_edited_row_is_named(chain: Database, verify) -> None:
    _as_owner(chain, "UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 3")
    code, _, err = verify()
    assert code == 1 and "broken at entry 3: entry 3 was changed" in err


def test_rehashed_edit_breaks_the_next_link(chain: Database, verify) -> None:
    with chain.transaction() as session:
        entry = session.get(AuditEntry, 3)
        entry.actor = "user:7"
        forged = entry_hash(entry)
        session.expunge(entry)
    _as_owner(chain, f"UPDATE audit_log SET actor = 'user:7', row_hash = '{forged}' WHERE seq = 3")
    code, _, err = verify()
    assert code == 1 and "broken at entry 4: entry 4 does not link to entry 3" in err


def test_deleted_rows_are_named(chain: Database, verify) -> None:
    _as_owner(chain, "DELETE FROM audit_log WHERE seq = 2")
    code, _, err = verify()
    assert code == 1 and "broken at entry 2: entry 2 is missing" in err


def test_cut_off_tail_is_noticed(chain: Database, verify) -> None:
    _as_owner(chain, "DELETE FROM audit_log WHERE seq = 5")
    code, _, err = verify()
    assert code == 1 and "entries after 4 were removed (the log had 5)" in err


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
)
def test_database_refuses_changes(chain: Database, statement: str) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), chain.engine.begin() as connection:
        connection.execute(sa.text(statement))


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    def append_many(worker: int) -> None:
        for n in range(20):
            with db.transaction() as session:
                AuditLog(session).append(actor=f"job:{worker}", action="image.process", details={"n": n})

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.transaction() as session:
        log = AuditLog(session)
        assert log.verify().checked == 80 and log.verify().ok
        page = log.find(actor="job:2", page_size=100)
        assert page.total == 20 and [e.seq for e in page.items] == sorted((e.seq for e in page.items), reverse=True)
