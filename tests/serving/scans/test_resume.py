"""Kill `sura scan` halfway (SIGKILL to the driver) and run it again: the same database as a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from pipeline.engine import FaceEngine
from storage.database import Database
from storage.embedded import EmbeddedPostgres
from storage.photos import PARTIAL, PhotoStore
from storage.tables import Case, Image, ImageSource, Job, JobStatus
from tests.postgres import fresh_database
from tests.serving.scans.conftest import PACK, Archive, Stored, build_archive, enrol_into, stored

SURA = Path(sys.executable).parent / "sura"


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Archive:
    people = sorted(p.name for p in (faces_dir / "people").iterdir())
    scenes = sorted(p.name for p in (faces_dir / "scenes").iterdir())
    return build_archive(tmp_path_factory.mktemp("big"), faces_dir, people[:-3], scenes, people[-3:])


@pytest.fixture()
def second_db(pg_server: EmbeddedPostgres) -> Iterator[Database]:
    with fresh_database(pg_server) as url:
        engine = sa.create_engine(url)
        yield Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
        engine.dispose()


def start_scan(db: Database, source: Path, photos: Path) -> subprocess.Popen[str]:
    import ray

    env = {
        **os.environ,
        "SURA_DB__URL": db.engine.url.render_as_string(hide_password=False),
        "SURA_PHOTOS__DIRECTORY": str(photos),
        "SURA_MODELS__PACK": PACK,
        "SURA_SCAN__LEASE_S": "3",
        "SURA_SCAN__WRITE_BATCH": "4",
        "SURA_SCAN__LOCATE_BATCH": "4",
        "RAY_ADDRESS": ray.get_runtime_context().gcs_address,  # the session's cluster: only the driver dies
    }
    return subprocess.Popen(
        [str(SURA), "scan", str(source), "--source-label", "resume test"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return output


def snapshot(db: Database) -> tuple[Stored, set[tuple[str, str]]]:
    """What is stored, with matches named by case name (case ids differ between databases)."""
    with db.transaction() as session:
        names = dict(session.execute(sa.select(Case.id, Case.full_name)).all())
    now = stored(db)
    return now, {(names[case], digest) for case, digest in now.matches}


def scanned(db: Database) -> int:
    with db.transaction() as session:
        query = sa.select(sa.func.count()).select_from(Image).where(Image.source == ImageSource.ARCHIVE_SCAN)
        return int(session.scalar(query) or 0)


def test_a_killed_scan_resumes_to_what_a_clean_run_stores(
    db: Database,
    second_db: Database,
    ray_cluster: None,
    big_archive: Archive,
    engine: FaceEngine,
    faces_dir: Path,
    tmp_path: Path,
) -> None:
    reference = faces_dir / "people" / "fr_biden" / sorted(os.listdir(faces_dir / "people" / "fr_biden"))[0]
    enrol_into(db, engine, "Case Biden", reference)
    enrol_into(second_db, engine, "Case Biden", reference)

    finish(start_scan(db, big_archive.root, tmp_path / "clean"))
    clean, clean_matches = snapshot(db)
    assert clean.faces > 0 and clean_matches, "the clean run stored faces and matched the case"

    killed = start_scan(second_db, big_archive.root, tmp_path / "resumed")
    deadline = time.monotonic() + 300
    while scanned(second_db) < 8:
        assert killed.poll() is None, killed.communicate()[0]
        assert time.monotonic() < deadline, "the scan stored nothing in 300 s"
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    halfway = scanned(second_db)
    assert 0 < halfway < len(clean.images), "the driver was killed halfway"

    output = finish(start_scan(second_db, big_archive.root, tmp_path / "resumed"))
    assert "attempt 2" in output
    resumed, resumed_matches = snapshot(second_db)
    # The same photos (by content; which of two identical files named one is a matter of order)
    assert set(resumed.images.values()) == set(clean.images.values()) and len(resumed.images) == len(clean.images)
    assert resumed.faces == clean.faces
    assert resumed_matches == clean_matches
    with second_db.transaction() as session:
        [job] = session.scalars(sa.select(Job)).all()
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2
    assert (job.result or {})["stored"] == len(clean.images)
    assert (job.result or {})["faces"] == clean.faces
    files = {p.name for p in (tmp_path / "clean").rglob("*") if p.is_file()}
    resumed_files = {p.name for p in (tmp_path / "resumed").rglob("*") if p.is_file()}
    # A photo being written when the driver (and with it its actors) died is left half-written
    # under a name of its own; the retention job sweeps those.
    assert {name for name in resumed_files if not name.startswith(PARTIAL)} == files
    assert PhotoStore(tmp_path / "resumed").sweep_partial(timedelta(0)) == len(resumed_files - files)
    assert {p.name for p in (tmp_path / "resumed").rglob("*") if p.is_file()} == files
