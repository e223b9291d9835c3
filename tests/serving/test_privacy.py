"""A database error while a job stores a sighting leaves no embedding in the job row, the sync log or the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from configs.settings import ExternalSettings, SmtpSettings
from models.registry import PackSources, resolve_pack
from pipeline.engine import FaceEngine
from serving.services.analysis import EngineAnalyser
from serving.services.external import ExternalService
from serving.services.jobs import JobHandlers
from serving.services.live_gallery import PackInfo
from serving.services.sync import Syncer
from storage.database import open_database
from storage.external.credentials import CredentialBox
from storage.jobs import JobQueue
from storage.photos import PhotoStore
from storage.tables import Job, Role, SyncLog, User
from tests.serving.scans.conftest import PACK
from tests.serving.test_sync import BYTES_MAPPING, PASSWORD, Remote, engine, register, remote, seeded

pytestmark = pytest.mark.postgres
__all__ = ["engine", "remote"]  # fixtures shared with the sync tests

# Eight numbers in a row with several decimals: what a printed embedding looks like.
VECTOR_TEXT = re.compile(r"(-?\d\.\d{4,}[,\s]+){8}")
REFUSE_FACES = """
CREATE FUNCTION refuse_faces() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'faces are refused here'; END $$
LANGUAGE plpgsql;
CREATE TRIGGER refuse_faces BEFORE INSERT ON faces FOR EACH ROW EXECUTE FUNCTION refuse_faces();
"""


def test_a_failed_sighting_leaves_no_embedding_behind(
    database_url: str,
    engine: FaceEngine,
    remote: Callable[[], Remote],
    faces_dir: Path,
    make_user: Callable[..., User],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    db = open_database(database_url, data_dir=tmp_path, migrate=False)  # the product's engine settings
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
    handlers = JobHandlers(db, PhotoStore(tmp_path / "photos"), SmtpSettings(), "x" * 40, syncer=syncer)
    service, admin = ExternalService(db, box, settings), make_user(Role.ADMIN)
    database, _ = seeded(remote, faces_dir)
    source = register(service, admin, database.url, credentials={"password": PASSWORD})
    service.set_mapping(admin, source, BYTES_MAPPING)
    with db.engine.begin() as connection:
        connection.execute(sa.text(REFUSE_FACES))

    service.start_sync(admin, source)
    with db.transaction() as session:
        job = JobQueue(session).claim(worker="test-worker", lease=timedelta(minutes=1))
    assert job is not None
    handlers.execute(job, worker="test-worker")

    with db.transaction() as session:
        row = session.get_one(Job, job.id)
        sync_error = session.scalars(sa.select(SyncLog.error)).one()
    assert row.last_error and "faces are refused here" in row.last_error, row.last_error
    assert sync_error and "faces are refused here" in sync_error
    for text in (row.last_error, sync_error, caplog.text):
        assert not VECTOR_TEXT.search(text), "an embedding was printed"
        assert "parameters" not in text.lower() or "hidden" in text.lower()
    db.close()
