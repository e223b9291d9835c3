"""A real Ray Serve application for the API and deployment tests: one per session.

It runs the shared SCRFD + MobileFaceNet pack on the CPU (deployments take no CPU share, so
two cores suffice), two Matcher replicas, and its own database, photo folder and token key.
"""

from __future__ import annotations

import email
import email.message
import secrets
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.orm import sessionmaker

from configs.faces import ModelSettings, PipelineSettings
from configs.settings import ScanSettings, SmtpSettings
from serving.auth.passwords import hash_password
from storage.database import Database
from storage.embedded import EmbeddedPostgres
from storage.repositories.users import UserRepository
from storage.tables import Role
from tests.postgres import fresh_database

PACK = "shared-scrfd"
PASSWORD = "a passphrase long enough"
UPLOAD_LIMIT = 3 * 2**20


@dataclass(frozen=True)
class Service:
    """The running application: its URL, database, token key and one user per role."""

    url: str
    db: Database
    token_secret: str
    users: dict[Role, uuid.UUID]
    tokens: dict[Role, str]
    args: Any
    scan_root: Path  # the one folder the API may scan

    def client(self, role: Role | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=120)

    def sign_in(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        with httpx.Client(base_url=f"{self.url}/api/v1", timeout=120) as api:
            reply = api.post("/auth/token", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def as_token(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=120)


def pack_threshold() -> float:
    """The test pack's operating threshold, as its calibration table says."""
    from models.registry import PackSources, resolve_pack

    return resolve_pack(PACK, PackSources()).calibration.threshold()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ray_serve(ray_cluster: None) -> Iterator[int]:
    """Serve on the session's Ray, listening on a free port."""
    from ray import serve

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port}, logging_config={"enable_access_log": False})
    yield port
    serve.shutdown()


@dataclass
class Inbox:
    """Mail received by a real SMTP server (aiosmtpd) listening on localhost."""

    port: int
    messages: list[email.message.Message] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Receiver:
    """A local HTTP endpoint recording every webhook POST: (headers, body)."""

    url: str
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    box = Inbox(port=_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    port = _free_port()
    box = Receiver(url=f"http://127.0.0.1:{port}/hooks/sura")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            box.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield box
    server.shutdown()
    server.server_close()


def database_of(url: str) -> Database:
    """A plain connection to a test database (the tests' own view of what the service stored)."""
    engine = sa.create_engine(url)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


def app_args(url: str, secret: str, *, inbox: Inbox | None = None, scan_root: Path | None = None) -> Any:
    """The test application's arguments: the shared SCRFD pack on the CPU, deployments taking no CPU share."""
    from serving.app import AppArgs, Batching, Scaling

    return AppArgs(
        models=ModelSettings(pack=PACK, allow_research_only=True),
        pipeline=PipelineSettings(detect_batch=8, embed_batch=32),
        db_url=SecretStr(url),
        token_secret=SecretStr(secret),
        photos_dir=Path(tempfile.mkdtemp(prefix="sura-photos-")),
        max_upload_bytes=UPLOAD_LIMIT,
        detector=Batching(num_cpus=0, max_batch_size=8, batch_wait_timeout_s=0.05),
        embedder=Batching(num_cpus=0, max_batch_size=8, batch_wait_timeout_s=0.05),
        matcher=Scaling(num_cpus=0, min_replicas=2, max_replicas=2),
        gateway=Scaling(num_cpus=0),
        workers=Scaling(num_cpus=0),
        smtp=SmtpSettings(
            host="127.0.0.1",
            port=inbox.port,
            starttls=False,
            sender="SuraSmart <sura@test>",
            webhook_allowed_hosts=["127.0.0.1"],  # the receiver: plain http on loopback
        )
        if inbox
        else None,
        session_check_seconds=0.2,
        scan=ScanSettings(
            allowed_sources=[str(scan_root)] if scan_root else [],
            read_batch=8,
            locate_batch=4,
            embed_batch=8,
            write_batch=8,
        ),
    )


@pytest.fixture(scope="session")
def service(
    ray_serve: int, pg_server: EmbeddedPostgres, shared: Path, inbox: Inbox, receiver: Receiver
) -> Iterator[Service]:
    from ray import serve

    with fresh_database(pg_server) as url:
        db = database_of(url)
        users = {}
        with db.transaction() as session:
            for role in Role:
                users[role] = (
                    UserRepository(session)
                    .create(
                        email=f"{role}@example.org",
                        full_name=f"Test {role}",
                        role=role,
                        password_hash=hash_password(PASSWORD),
                    )
                    .id
                )
        secret = secrets.token_urlsafe(48)
        scan_root = Path(tempfile.mkdtemp(prefix="sura-scans-"))
        args = app_args(url, secret, inbox=inbox, scan_root=scan_root)
        from serving.app import build_app

        serve.run(build_app(args), name="sura", route_prefix="/")
        base = f"http://127.0.0.1:{ray_serve}"
        tokens = {}
        with httpx.Client(base_url=f"{base}/api/v1", timeout=120) as client:
            for role in Role:
                reply = client.post("/auth/token", json={"email": f"{role}@example.org", "password": PASSWORD})
                tokens[role] = reply.json()["access_token"]
        yield Service(url=base, db=db, token_secret=secret, users=users, tokens=tokens, args=args, scan_root=scan_root)
        serve.delete("sura")
        db.engine.dispose()


@pytest.fixture()
def upload() -> Callable[[Path | bytes, str], dict]:
    """Multipart ``files`` for one photo."""

    def make(photo: Path | bytes, content_type: str = "image/jpeg") -> dict:
        data = photo.read_bytes() if isinstance(photo, Path) else photo
        name = photo.name if isinstance(photo, Path) else "photo.jpg"
        return {"photo": (name, data, content_type)}

    return make
