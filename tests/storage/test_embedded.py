"""The embedded server: starts from nothing, keeps its data across program runs, leaves no process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from storage.embedded import EmbeddedPostgres
from storage.errors import DatabaseUnavailableError

PROGRAM = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import sqlalchemy as sa
    from storage.database import open_database
    db = open_database(None, data_dir=Path(sys.argv[1]))
    with db.engine.begin() as connection:
        if sys.argv[2] == "write":
            connection.execute(sa.text("CREATE TABLE notes (body text)"))
            connection.execute(sa.text("INSERT INTO notes VALUES ('kept')"))
        print(connection.execute(sa.text("SELECT body FROM notes")).scalar_one())
    """
)  # no explicit close: the server must stop when the program exits


def _servers_on(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE and str(data_dir) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def _run(data_dir: Path, mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(data_dir), mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_starts_fresh_keeps_data_and_stops(pg_root: Path) -> None:
    data_dir = pg_root / "program"
    assert _run(data_dir, "write") == "kept"
    assert (data_dir / "pgdata" / "PG_VERSION").exists()
    assert _servers_on(data_dir) == [], "the server outlived the program that started it"
    assert _run(data_dir, "read") == "kept"
    assert _servers_on(data_dir) == []


def test_a_running_server_is_shared_not_stopped(pg_root: Path) -> None:
    data_dir = pg_root / "shared"
    with EmbeddedPostgres(data_dir) as first:
        second = EmbeddedPostgres(data_dir)
        assert second.start() == first.url
        second.stop()  # it did not start the server, so it must not stop it
        assert _servers_on(data_dir)
    assert _servers_on(data_dir) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_data_dir_the_server_user_cannot_reach_is_refused(pg_root: Path) -> None:
    private = pg_root / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(DatabaseUnavailableError, match="cannot enter"):
        EmbeddedPostgres(private / "db").start()
