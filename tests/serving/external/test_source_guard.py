"""Where an external source may point: never the service's own database, hosts guarded like URLs,
SQLite kept read-only, credentials never carried to a new location, and photo bytes read within their limit."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from configs.settings import ExternalSettings
from pipeline.calibration import Calibration
from pipeline.errors import CorruptImageError
from serving.external.fetch import FetchLimits
from serving.external.remote import Connection, RemoteError, Selection, open_source
from serving.services.external import ExternalService
from serving.services.live_gallery import PackInfo
from serving.services.sync import Syncer
from storage.database import Database
from storage.embedded import EmbeddedPostgres
from storage.errors import InvalidArgumentError
from storage.external.credentials import CredentialBox
from storage.photos import PhotoStore
from storage.tables import ExternalDatabase, ExternalRecord, Role, SourceKind, User

pytestmark = pytest.mark.postgres

BOX = CredentialBox.from_secret("a test secret that is long enough for the box")


@pytest.fixture()
def service(db: Database) -> ExternalService:
    return ExternalService(db, BOX, ExternalSettings(statement_timeout_ms=1000))


@pytest.fixture()
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN)


def _socket_of(url: sa.URL | str) -> str:
    return str(sa.make_url(url).query["host"])


@pytest.fixture()
def sibling(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """Another database on the service's own server (reached through its socket), with one table."""
    name = f"partner_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_server.url.replace("/sura_template?", "/postgres?"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    url = pg_server.url.replace("/sura_template?", f"/{name}?")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE people (id integer PRIMARY KEY, photo bytea)"))
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_services_own_database_is_refused_even_when_its_socket_is_allowed(
    service: ExternalService, admin: User, db: Database
) -> None:
    own = db.engine.url
    socket_dir = _socket_of(own)
    for location in (
        own.render_as_string(hide_password=False),
        own.set(drivername="postgresql", query={"host": socket_dir + "/"}).render_as_string(hide_password=False),
        own.set(drivername="postgresql", query={"host": f"{socket_dir}/../{Path(socket_dir).name}"}).render_as_string(
            hide_password=False
        ),
    ):
        with pytest.raises(InvalidArgumentError, match="own database"):
            service.create(
                admin,
                {"name": f"s-{uuid.uuid4().hex[:6]}", "kind": "postgresql", "location": location,
                 "allowed_hosts": [socket_dir]},
            )  # fmt: skip


def test_options_that_redirect_the_connection_are_refused(service: ExternalService, admin: User) -> None:
    for location in (
        "postgresql://reader@partner.example.org/registry?hostaddr=127.0.0.1",
        "postgresql://reader@partner.example.org/registry?options=-c%20default_transaction_read_only%3Doff",
        "postgresql://reader@partner.example.org/registry?service=sura",
        "postgresql://reader@/registry",  # no host: libpq's own default socket
    ):
        with pytest.raises(InvalidArgumentError):
            service.create(admin, {"name": f"s-{uuid.uuid4().hex[:6]}", "kind": "postgresql", "location": location})


def test_database_hosts_are_guarded_like_urls(service: ExternalService, admin: User, sibling: str) -> None:
    private = service.create(
        admin, {"name": "Private", "kind": "postgresql", "location": "postgresql://reader@10.1.2.3/registry"}
    )
    ok, _, error = service.test(admin, private.id)
    assert not ok and "non-public address" in str(error), error
    local = service.create(admin, {"name": "Local socket", "kind": "postgresql", "location": sibling})
    ok, _, error = service.test(admin, local.id)
    assert not ok and "socket" in str(error), error
    allowed = service.update(admin, local.id, {"allowed_hosts": [_socket_of(sibling)]})
    assert service.test(admin, allowed.id)[:2] == (True, ["people"])


def test_an_sqlite_path_cannot_drop_read_only_mode(tmp_path: Path) -> None:
    file = tmp_path / "shelter.db"
    with sqlite3.connect(file) as remote:
        remote.execute("CREATE TABLE admissions (id INTEGER PRIMARY KEY)")

    def opened(location: str) -> Any:
        return open_source(
            Connection(SourceKind.SQLITE, location, {}), log=lambda query: None, statement_timeout_ms=1000,
            limits=FetchLimits(),
        )  # fmt: skip

    source = opened(f"sqlite:///{file}#")  # today "file:/…/shelter.db#?mode=ro": the mode became a fragment
    try:
        with pytest.raises(sa.exc.OperationalError), source.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE written (x INTEGER)"))
    finally:
        source.close()
    with pytest.raises(RemoteError, match="may not set mode"):
        opened(f"sqlite:///{file}?mode=rw")
    with sqlite3.connect(file) as remote:
        tables = [row[0] for row in remote.execute("SELECT name FROM sqlite_master")]
    assert tables == ["admissions"]


@pytest.fixture()
def feeds() -> Iterator[Callable[[], tuple[str, list[dict[str, str]]]]]:
    started: list[ThreadingHTTPServer] = []

    def start() -> tuple[str, list[dict[str, str]]]:
        seen: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"records": []}')

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/feed.json", seen

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def test_a_new_location_does_not_get_the_old_credentials(
    service: ExternalService, admin: User, db: Database, feeds: Callable[[], tuple[str, list[dict[str, str]]]]
) -> None:
    first, first_seen = feeds()
    second, second_seen = feeds()
    source = service.create(
        admin,
        {
            "name": "Feed",
            "kind": "https_json",
            "location": first,
            "allowed_hosts": ["127.0.0.1"],
            "credentials": {"headers": {"Authorization": "Bearer partner-secret"}},
        },
    )
    assert service.test(admin, source.id)[0] and first_seen[-1]["authorization"] == "Bearer partner-secret"
    moved = service.update(admin, source.id, {"location": second})
    assert moved.credentials_encrypted is None, "the sealed credentials stayed with the new location"
    assert service.test(admin, source.id)[0]
    assert "authorization" not in second_seen[-1]
    again = service.update(
        admin, source.id, {"location": first, "credentials": {"headers": {"Authorization": "Bearer new"}}}
    )
    assert again.credentials_encrypted is not None, "credentials given with the new location are kept"
    with db.transaction() as session:
        assert session.get_one(ExternalDatabase, source.id).credentials_encrypted is not None


def test_a_bytes_photo_is_read_no_further_than_its_limit(sibling: str) -> None:
    engine = sa.create_engine(sibling, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO people VALUES (1, :big), (2, :small)"), {"big": b"x" * 3_000_000, "small": b"ok"}
        )
    engine.dispose()
    source = open_source(
        Connection(SourceKind.POSTGRESQL, sibling, {}, (_socket_of(sibling),)),
        log=lambda query: None,
        statement_timeout_ms=5000,
        limits=FetchLimits(),
    )
    try:
        selection = Selection("people", "id", None, ["id", "photo"], byte_limits={"photo": 1001})
        rows = source.page(selection, None, 10)
    finally:
        source.close()
    assert [(row["id"], len(row["photo"])) for row in rows] == [(1, 1001), (2, 2)]


class _Unreadable:
    """The face pipeline's stand-in (this test is about what reaches it): every photo is unreadable."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def analyse(self, photo: bytes) -> Any:
        self.sizes.append(len(photo))
        raise CorruptImageError("not a photo")


def test_a_sync_refuses_a_bytes_photo_over_the_limit_and_goes_on(
    db: Database, service: ExternalService, admin: User, sibling: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(sibling, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        rows = [{"id": 1, "photo": b"x" * 3_000_000}, {"id": 2, "photo": b"small"}]
        connection.execute(sa.text("INSERT INTO people VALUES (:id, :photo)"), rows)
    engine.dispose()
    source = service.create(
        admin,
        {
            "name": "Registry",
            "kind": "postgresql",
            "location": sibling,
            "allowed_hosts": [_socket_of(sibling)],
        },
    )
    mapping = {"source": "people", "id_column": "id", "field_map": {}, "photo_column": "photo", "photo_kind": "bytes"}
    service.set_mapping(admin, source.id, mapping)
    analyser = _Unreadable()
    calibration = Calibration(points=((1e-3, 0.4),), source="test")
    syncer = Syncer(
        db,
        box=BOX,
        settings=ExternalSettings(photo_max_bytes=1_000_000),
        analyser=analyser,
        photos=PhotoStore(tmp_path / "photos"),
        pack=PackInfo("shared-scrfd", calibration),
    )
    result = syncer.run(source.id)
    assert (result["status"], result["records_seen"], result["records_failed"]) == ("succeeded", 2, 2), result
    assert analyser.sizes == [5], "only the photo within the limit went on to the face pipeline"
    with db.transaction() as session:
        query = sa.select(ExternalRecord.remote_id, ExternalRecord.data["photo_error"].astext)
        errors = {remote_id: error for remote_id, error in session.execute(query).all()}
    assert "over the limit of 1000000 bytes" in errors["1"] and "unreadable" in errors["2"], errors
