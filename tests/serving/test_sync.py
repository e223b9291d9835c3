"""External-source sync against real second databases (PostgreSQL, SQLite) and a real HTTP server.

The faces are found by the shared SCRFD engine in this process (the service uses its Serve
chain instead); everything else is the product's code: sealed credentials, read-only remote
sessions, pages after the watermark, upserts by remote id, sightings, matches, logs.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from configs.settings import ExternalSettings
from models.registry import PackSources, load_engine, resolve_pack
from pipeline.engine import EngineOptions, FaceEngine
from serving.external.fetch import FetchLimits
from serving.external.remote import Connection, Query, Selection, Watermark, open_source
from serving.services.analysis import EngineAnalyser
from serving.services.external import ExternalService, MappingError
from serving.services.live_gallery import PackInfo
from serving.services.sync import Syncer
from storage.database import Database
from storage.embedded import EmbeddedPostgres
from storage.external.credentials import CredentialBox
from storage.photos import PhotoStore
from storage.tables import (
    Case,
    ExternalRecord,
    Face,
    Image,
    ImageSource,
    JobSchedule,
    Match,
    Notification,
    QueryLog,
    Role,
    SourceKind,
    User,
)
from tests.serving.scans.conftest import PACK, enrol_into

pytestmark = pytest.mark.postgres

PASSWORD = "not-a-real-password-7c1f"
PEOPLE = [  # (identity folder, index of the photo used) for the remote rows, in order
    ("deepface_id01", 0),
    ("deepface_id02", 0),
    ("deepface_id03", 0),
    ("fr_paul_allen", 0),
    ("fr_rose_leslie", 0),
    ("deepface_id04", 0),
]


@pytest.fixture(scope="module")
def engine(shared: Path) -> FaceEngine:
    return load_engine(resolve_pack(PACK, PackSources()), options=EngineOptions())


def photo_of(faces_dir: Path, identity: str, index: int = 0) -> Path:
    return sorted((faces_dir / "people" / identity).iterdir())[index]


class Remote:
    """A second PostgreSQL database the test seeds and changes: intake.people with photos as bytes."""

    def __init__(self, server: EmbeddedPostgres) -> None:
        self.server = server
        self.name = f"remote_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(server.url.replace("/sura_template?", "/postgres?"), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{self.name}" TEMPLATE template0'))
        self.url = server.url.replace("/sura_template?", f"/{self.name}?")
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        with self.engine.begin() as connection:
            connection.execute(sa.text("CREATE SCHEMA intake"))
            connection.execute(
                sa.text(
                    "CREATE TABLE intake.people (person_no integer PRIMARY KEY, full_name text, sex text, "
                    "dob date, updated_at timestamptz NOT NULL, photo bytea)"
                )
            )

    def add(self, number: int, name: str, photo: Path, when: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO intake.people VALUES (:n, :name, 'unknown', DATE '1990-01-01', :when, :photo)"),
                {"n": number, "name": name, "when": when, "photo": photo.read_bytes()},
            )

    def rename(self, number: int, name: str, when: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE intake.people SET full_name = :name, updated_at = :when WHERE person_no = :n"),
                {"n": number, "name": name, "when": when},
            )

    def drop(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


@pytest.fixture()
def remote(pg_server: EmbeddedPostgres) -> Iterator[Callable[[], Remote]]:
    made: list[Remote] = []

    def make() -> Remote:
        made.append(Remote(pg_server))
        return made[-1]

    yield make
    for database in made:
        database.drop()
        database.admin.dispose()


@pytest.fixture()
def services(db: Database, engine: FaceEngine, tmp_path: Path) -> tuple[ExternalService, Syncer]:
    box = CredentialBox.from_secret("a test secret that is long enough for the box")
    settings = ExternalSettings(page_size=2, statement_timeout_ms=5_000)
    pack = resolve_pack(PACK, PackSources())
    syncer = Syncer(
        db,
        box=box,
        settings=settings,
        analyser=EngineAnalyser(engine, max_pixels=40_000_000),
        photos=PhotoStore(tmp_path / "photos"),
        pack=PackInfo(PACK, pack.calibration),
    )
    return ExternalService(db, box, settings), syncer


def seeded(remote: Callable[[], Remote], faces_dir: Path) -> tuple[Remote, datetime]:
    database = remote()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number, (identity, index) in enumerate(PEOPLE, start=1):
        database.add(number, f"Person {number}", photo_of(faces_dir, identity, index), start + timedelta(hours=number))
    return database, start


BYTES_MAPPING = {
    "source": "intake.people",
    "id_column": "person_no",
    "updated_column": "updated_at",
    "field_map": {"full_name": "full_name", "sex": "sex", "date_of_birth": "dob"},
    "photo_column": "photo",
    "photo_kind": "bytes",
}


def stored(db: Database) -> tuple[int, int, int]:
    """(records, photos from external sources, their faces)."""
    with db.transaction() as session:
        records = session.scalar(sa.select(sa.func.count()).select_from(ExternalRecord))
        images = session.scalar(
            sa.select(sa.func.count()).select_from(Image).where(Image.source == ImageSource.EXTERNAL_DATABASE)
        )
        faces = session.scalar(
            sa.select(sa.func.count())
            .select_from(Face)
            .join(Image, Image.id == Face.image_id)
            .where(Image.source == ImageSource.EXTERNAL_DATABASE)
        )
    return int(records or 0), int(images or 0), int(faces or 0)


def register(service: ExternalService, admin: User, location: str, **fields: Any) -> uuid.UUID:
    """A PostgreSQL source on the test server, whose socket (local, like the service's) is allowed by its path."""
    fields.setdefault("allowed_hosts", [sa.make_url(location).query["host"]])
    return service.create(
        admin,
        {"name": f"Registry {uuid.uuid4().hex[:6]}", "kind": "postgresql", "location": location, **fields},
    ).id


def test_syncs_are_incremental_and_idempotent(
    db: Database,
    services: tuple[ExternalService, Syncer],
    remote: Callable[[], Remote],
    faces_dir: Path,
    make_user: Callable[..., User],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    service, syncer = services
    admin = make_user(Role.ADMIN)
    database, start = seeded(remote, faces_dir)
    source = register(service, admin, database.url, credentials={"password": PASSWORD})
    service.set_mapping(admin, source, BYTES_MAPPING)

    first = syncer.run(source)
    assert first["status"] == "succeeded", first
    assert (first["records_seen"], first["records_created"], first["photos"]) == (6, 6, 6)
    after_first = stored(db)
    assert after_first[:2] == (6, 6) and after_first[2] >= 6

    second = syncer.run(source)
    assert (second["status"], second["records_seen"]) == ("succeeded", 0)
    assert stored(db) == after_first, "a sync with no remote change changes nothing"

    database.rename(2, "Person Two", start + timedelta(days=1))
    database.rename(5, "Person Five", start + timedelta(days=1, minutes=1))
    database.add(7, "Person 7", photo_of(faces_dir, "deepface_id05"), start + timedelta(days=2))
    third = syncer.run(source)
    assert third["status"] == "succeeded", third
    touched = (third["records_seen"], third["records_updated"], third["records_created"], third["records_unchanged"])
    assert touched == (3, 2, 1, 0), "exactly the two changed rows and the new one"
    assert third["photos"] == 1, "a renamed record keeps its photo: nothing new to store"
    assert stored(db)[:2] == (7, 7)
    with db.transaction() as session:
        names = dict(session.execute(sa.select(ExternalRecord.remote_id, ExternalRecord.data)).all())
        queries = session.scalars(sa.select(QueryLog)).all()
    assert names["2"]["full_name"] == "Person Two" and names["7"]["date_of_birth"] == "1990-01-01"

    assert queries and all(q.actor for q in queries)
    assert any(q.row_count == 2 and "LIMIT" in q.query_text.upper() for q in queries)
    logged = " ".join(q.query_text + str(q.parameters) for q in queries) + caplog.text
    assert PASSWORD not in logged, "the password never reaches the query log or the logs"
    assert all(n not in caplog.text for n in ("Person 1", "Person Two")), "no names in the logs"


def test_a_record_of_a_missing_person_becomes_a_pending_match(
    db: Database,
    services: tuple[ExternalService, Syncer],
    remote: Callable[[], Remote],
    engine: FaceEngine,
    faces_dir: Path,
    make_user: Callable[..., User],
) -> None:
    service, syncer = services
    admin, investigator = make_user(Role.ADMIN), make_user(Role.INVESTIGATOR)
    case_id = enrol_into(db, engine, "Looked For", faces_dir / "people" / "fr_obama" / "examples__obama.jpg")
    with db.transaction() as session:
        session.get_one(Case, case_id).assignee_id = investigator.id
    database = remote()
    admitted = datetime(2019, 5, 4, 9, 30, tzinfo=UTC)
    database.add(1, "Admitted Patient", faces_dir / "people" / "fr_obama" / "examples__obama2.jpg", admitted)
    database.add(2, "Someone Else", photo_of(faces_dir, "deepface_id06"), admitted)
    source = register(service, admin, database.url)
    field_map = {**BYTES_MAPPING["field_map"], "event_date": "updated_at"}  # when the record's photo was taken
    service.set_mapping(admin, source, {**BYTES_MAPPING, "field_map": field_map})

    result = syncer.run(source)
    assert result["status"] == "succeeded" and result["matches"] == 1, result
    with db.transaction() as session:
        [match] = session.scalars(sa.select(Match)).all()
        notes = session.scalars(sa.select(Notification).where(Notification.user_id == investigator.id)).all()
        [(key, taken_at)] = session.execute(
            sa.select(Image.source_key, Image.taken_at)
            .join(Face, Face.image_id == Image.id)
            .where(Face.id == match.face_id)
        ).all()
    assert match.case_id == case_id and match.status.value == "pending"
    assert key == "1" and [n.match_id for n in notes] == [match.id]
    assert taken_at == admitted, "the record's event date dates its photo"


def test_a_mapping_is_checked_against_the_remote_when_saved(
    services: tuple[ExternalService, Syncer], remote: Callable[[], Remote], make_user: Callable[..., User]
) -> None:
    service, _ = services
    admin = make_user(Role.ADMIN)
    source = register(service, admin, remote().url)
    wrong = {**BYTES_MAPPING, "field_map": {"full_name": "fullname", "sex": "sex"}}
    with pytest.raises(MappingError, match="no column named fullname"):
        service.set_mapping(admin, source, wrong)
    with pytest.raises(MappingError, match="no column named nowhere"):
        service.set_mapping(admin, source, {**BYTES_MAPPING, "updated_column": "nowhere"})
    with pytest.raises(MappingError, match="no table"):
        service.set_mapping(admin, source, {**BYTES_MAPPING, "source": "intake.nobody"})
    with pytest.raises(MappingError, match="unknown fields shoe_size"):
        service.set_mapping(admin, source, {**BYTES_MAPPING, "field_map": {"shoe_size": "sex"}})
    assert service.mapping(source) is None, "nothing invalid was stored"


def test_a_source_with_an_interval_is_synced_on_a_schedule(
    db: Database, services: tuple[ExternalService, Syncer], remote: Callable[[], Remote], make_user: Callable[..., User]
) -> None:
    service, _ = services
    admin = make_user(Role.ADMIN)
    source = register(service, admin, remote().url, sync_interval_seconds=3600)

    def schedule() -> tuple[bool, int, dict[str, Any]] | None:
        with db.transaction() as session:
            row = session.scalar(sa.select(JobSchedule).where(JobSchedule.name == f"external-sync:{source}"))
            return None if row is None else (row.enabled, row.interval_seconds, row.payload)

    assert schedule() == (True, 3600, {"database_id": str(source)})
    service.update(admin, source, {"enabled": False})
    assert schedule() == (False, 3600, {"database_id": str(source)})
    service.delete(admin, source)
    assert schedule() is not None and schedule()[0] is False  # type: ignore[index]


def test_a_remote_that_goes_away_mid_sync_loses_nothing_and_the_next_run_goes_on(
    db: Database,
    services: tuple[ExternalService, Syncer],
    remote: Callable[[], Remote],
    faces_dir: Path,
    make_user: Callable[..., User],
) -> None:
    service, syncer = services
    admin = make_user(Role.ADMIN)
    database, _ = seeded(remote, faces_dir)
    source = register(service, admin, database.url)
    service.set_mapping(admin, source, BYTES_MAPPING)

    def vanish(counts: object) -> None:
        database.drop()

    failed = syncer.run(source, on_page=vanish)
    assert failed["status"] == "failed" and failed["records_created"] == 2, failed
    assert "does not exist" in failed["error"] or "connect" in failed["error"], failed["error"]
    assert stored(db)[:2] == (2, 2), "what the first page imported stays"

    again, _ = seeded(remote, faces_dir)  # the partner restores the database elsewhere
    service.update(admin, source, {"location": again.url})
    resumed = syncer.run(source)
    assert resumed["status"] == "succeeded" and resumed["records_seen"] == 4, "it goes on from the watermark"
    assert stored(db)[:2] == (6, 6)


_FEEDS: dict[str, bytes] = {}  # path → JSON body, served beside the photos


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _FEEDS.get(self.path)
        if body is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve_json(base: str, value: object) -> str:
    path = f"/feeds/{uuid.uuid4().hex}.json"
    _FEEDS[path] = json.dumps(value).encode()
    return base + path


@pytest.fixture()
def photo_server(faces_dir: Path) -> Iterator[str]:
    """The test photos over HTTP on 127.0.0.1 (a partner on the local network, as far as the guard knows)."""
    handler = functools.partial(_Handler, directory=str(faces_dir / "people"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sqlite_sources_with_path_and_url_photos_and_the_address_guard(
    db: Database,
    services: tuple[ExternalService, Syncer],
    faces_dir: Path,
    photo_server: str,
    tmp_path: Path,
    make_user: Callable[..., User],
) -> None:
    service, syncer = services
    admin = make_user(Role.ADMIN)
    names = [f"{identity}/{photo_of(faces_dir, identity).name}" for identity, _ in PEOPLE[:3]]
    file = tmp_path / "shelter.db"
    with sqlite3.connect(file) as remote_db:
        remote_db.execute("CREATE TABLE admissions (id INTEGER PRIMARY KEY, name TEXT, picture TEXT, link TEXT)")
        rows = [(i, f"Admitted {i}", name, f"{photo_server}/{name}") for i, name in enumerate(names, start=1)]
        rows.append((9, "Sneaky", "../../../../etc/passwd", "http://169.254.169.254/latest/meta-data"))
        remote_db.executemany("INSERT INTO admissions VALUES (?, ?, ?, ?)", rows)
    location = f"sqlite:///{file}"

    by_path = service.create(admin, {"name": "Shelter files", "kind": "sqlite", "location": location}).id
    mapping = {
        "source": "admissions",
        "id_column": "id",
        "field_map": {"full_name": "name"},
        "photo_column": "picture",
        "photo_kind": "path",
        "photo_root": str(faces_dir / "people"),
    }
    service.set_mapping(admin, by_path, mapping)
    result = syncer.run(by_path)
    assert (result["records_created"], result["photos"], result["records_failed"]) == (4, 3, 1), result

    by_url = service.create(admin, {"name": "Shelter links", "kind": "sqlite", "location": location}).id
    service.set_mapping(admin, by_url, {**mapping, "photo_column": "link", "photo_kind": "url"})
    refused = syncer.run(by_url)
    assert (refused["records_created"], refused["photos"], refused["records_failed"]) == (4, 0, 4), refused
    with db.transaction() as session:
        errors = [
            r.data["photo_error"]
            for r in session.scalars(sa.select(ExternalRecord).where(ExternalRecord.database_id == by_url))
        ]
    assert all("non-public address" in error for error in errors), errors

    allowed = service.create(
        admin,
        {"name": "Shelter links, allowed", "kind": "sqlite", "location": location, "allowed_hosts": ["127.0.0.1"]},
    ).id
    service.set_mapping(admin, allowed, {**mapping, "photo_column": "link", "photo_kind": "url"})
    fetched = syncer.run(allowed)
    assert fetched["records_created"] == 4 and fetched["records_failed"] == 1, fetched
    assert fetched["photos"] == 0, "the same photos were stored by the path source already"
    with sqlite3.connect(file) as remote_db:
        assert remote_db.execute("SELECT count(*) FROM admissions").fetchone() == (4,), "the remote was only read"


def test_a_json_feed_is_read_through_the_guard(
    db: Database,
    services: tuple[ExternalService, Syncer],
    faces_dir: Path,
    photo_server: str,
    make_user: Callable[..., User],
) -> None:
    service, syncer = services
    admin = make_user(Role.ADMIN)
    names = [f"{identity}/{photo_of(faces_dir, identity).name}" for identity, _ in PEOPLE[3:]]
    records = [
        {"id": i, "name": f"Found {i}", "changed": i * 10, "photo": f"{photo_server}/{n}"}
        for i, n in enumerate(names, start=1)
    ]
    feed_url = f"{photo_server}/feeds/none.json"
    mapping = {
        "source": "data.records",
        "id_column": "id",
        "updated_column": "changed",
        "field_map": {"full_name": "name"},
        "photo_column": "photo",
        "photo_kind": "url",
    }
    headers = {"headers": {"Authorization": f"Bearer {PASSWORD}"}}

    guarded = service.create(
        admin, {"name": "Feed", "kind": "https_json", "location": feed_url, "credentials": headers}
    )
    ok, _, error = service.test(admin, guarded.id)
    assert not ok and "non-public address" in str(error)

    served = _serve_json(photo_server, {"data": {"records": records}})
    try:
        source = service.create(
            admin,
            {
                "name": "Feed, allowed",
                "kind": "https_json",
                "location": served,
                "allowed_hosts": ["127.0.0.1"],
                "credentials": headers,
            },
        ).id
        with pytest.raises(MappingError, match="no column named nom"):
            service.set_mapping(admin, source, {**mapping, "field_map": {"full_name": "nom"}})
        service.set_mapping(admin, source, mapping)
        first = syncer.run(source)
        assert (first["status"], first["records_created"], first["photos"]) == ("succeeded", 3, 3), first
        assert syncer.run(source)["records_seen"] == 0
    finally:
        _FEEDS.clear()
    with db.transaction() as session:
        logged = [q.query_text + str(q.parameters) for q in session.scalars(sa.select(QueryLog))]
    assert any(text.startswith("GET http://127.0.0.1") for text in logged) and PASSWORD not in str(logged)


def test_a_csv_feed_pages_after_its_watermark(photo_server: str) -> None:
    path = f"/feeds/{uuid.uuid4().hex}.csv"
    _FEEDS[path] = b"id,name,changed\n3,Cee,20\n1,Ay,10\n2,Bee,10\n4,,30\n"
    logged: list[Query] = []
    connection = Connection(SourceKind.HTTPS_CSV, photo_server + path, {}, ("127.0.0.1",))
    feed = open_source(connection, log=logged.append, statement_timeout_ms=1000, limits=FetchLimits())
    try:
        assert feed.tables() == [""] and set(feed.columns("")) == {"id", "name", "changed"}
        selection = Selection("", "id", "changed", ["id", "name", "changed"])
        first = feed.page(selection, None, 2)
        assert [row["id"] for row in first] == ["1", "2"], "numbers sort as numbers; ties by id"
        rest = feed.page(selection, Watermark(first[-1]["changed"], first[-1]["id"]), 10)
        assert [row["id"] for row in rest] == ["3", "4"]
    finally:
        feed.close()
        _FEEDS.pop(path)
    assert [q.rows for q in logged] == [4], "fetched once"
