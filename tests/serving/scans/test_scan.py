"""Scans on real Ray Data, real models and a real PostgreSQL: every face once, matches for open cases only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.decode import decode_image
from pipeline.engine import FaceEngine
from serving.scans.scanner import Scanner
from serving.services.scans import SCAN_JOB, ScanRequest, normalise_source
from storage.database import Database
from storage.jobs import JobQueue
from storage.tables import CaseStatus, Job, JobStatus
from tests.serving.scans.conftest import PACK, Archive, EnrolCase, stored

LEASE = timedelta(seconds=30)


def run_scan(db: Database, scanner: Scanner, source: Path, **options: object) -> Job:
    request = ScanRequest(source=normalise_source(str(source)), pack=PACK, source_label="test archive")
    with db.transaction() as session:
        job = JobQueue(session).start(kind=SCAN_JOB, worker="test", lease=LEASE, payload=request.payload())
    result = scanner.run(job, lease=LEASE, **options)
    with db.transaction() as session:
        return JobQueue(session).complete(job_id=job.id, worker="test", result=result)


def test_a_scan_stores_every_face_once_and_matches_only_open_cases(
    db: Database, scanner: Scanner, archive: Archive, enrol_case: EnrolCase, engine: FaceEngine, faces_dir: Path
) -> None:
    people = faces_dir / "people"
    references = [
        people / "fr_obama" / "examples__obama.jpg",
        sorted((people / "deepface_id04").iterdir())[0],
        next((people / "fr_paul_allen").iterdir()),  # a person not in the archive
        next((people / "deepface_id02").iterdir()),
    ]
    obama = enrol_case("Case A", references[0])
    id04 = enrol_case("Case B", references[1])
    absent = enrol_case("Case C", references[2])
    closed = enrol_case("Case D", references[3], status=CaseStatus.CLOSED)

    job = run_scan(db, scanner, archive.root)

    # Reference photos that are also in the archive are stored already: not sightings again.
    enrolled = {path.read_bytes() for path in references}
    distinct = {data for data in archive.photos.values()} - enrolled
    expected_faces = sum(len(engine.analyse([decode_image(data).pixels])[0].faces) for data in distinct)
    after = stored(db)
    assert len(after.images) == len(distinct)
    assert after.faces == expected_faces
    result = job.result or {}
    assert job.status is JobStatus.SUCCEEDED and job.progress == 1.0
    assert result["files"] == result["seen"] == len(archive.photos) + len(archive.broken)
    assert (result["stored"], result["faces"], result["duplicates"]) == (len(distinct), expected_faces, 1)
    assert result["already_stored"] == len(archive.photos) - len(distinct) - 1
    assert {f["file"] for f in result["failures"]} == archive.broken
    assert all(f["reason"] for f in result["failures"])

    matched = {case for case, _ in after.matches}
    assert matched == {obama, id04}, "only open cases whose person is in the archive"
    assert absent not in matched and closed not in matched
    shows = {obama: ("fr_obama/", "fr_obama_and_biden", "fr_two_people"), id04: ("deepface_id04/",)}
    for case, digest in after.matches:
        keys = archive.keys_of(digest)
        assert any(part in key for part in shows[case] for key in keys), f"{keys} matched a case it does not show"
    assert {key for case, digest in after.matches if case == obama for key in archive.keys_of(digest)} >= {
        "people/fr_obama/examples__obama2.jpg",
        "scenes/fr_obama_and_biden.jpg",
    }

    again = run_scan(db, scanner, archive.root)
    assert stored(db) == after, "a second run of the same scan changes nothing"
    assert (again.result or {})["stored"] == 0
    assert (again.result or {})["already_stored"] == len(archive.photos)


def test_an_overlapping_archive_adds_only_what_is_new(
    db: Database, scanner: Scanner, archive: Archive, tmp_path: Path
) -> None:
    run_scan(db, scanner, archive.root / "people")
    first = stored(db)
    job = run_scan(db, scanner, archive.root)
    result = job.result or {}
    known = set(first.images.values())
    assert result["already_stored"] == len(known) + 1  # and the zipped copy of one of them
    assert result["stored"] == len(set(archive.photos.values())) - len(known)
    assert len(stored(db).images) == len(set(archive.photos.values()))  # no reference photos here
    assert set(first.images.values()) <= set(stored(db).images.values())


def test_a_cancelled_scan_stops_at_the_next_batch(db: Database, scanner: Scanner, archive: Archive) -> None:
    request = ScanRequest(source=normalise_source(str(archive.root)), pack=PACK)
    with db.transaction() as session:
        job = JobQueue(session).start(kind=SCAN_JOB, worker="test", lease=LEASE, payload=request.payload())

    def cancel_once(progress: object) -> None:
        with db.transaction() as session:
            if not JobQueue(session).get(job_id=job.id).cancel_requested:
                JobQueue(session).cancel(job_id=job.id)

    result = scanner.run(job, lease=LEASE, on_progress=cancel_once)
    assert result["cancelled"] is True
    assert result["seen"] < result["files"]
    with db.transaction() as session:
        done = JobQueue(session).complete(job_id=job.id, worker="test", result=result)
    assert done.status is JobStatus.CANCELLED
    assert len(stored(db).images) == result["stored"]


def test_a_source_that_does_not_exist_fails_clearly(db: Database, scanner: Scanner, tmp_path: Path) -> None:
    from serving.scans.sources import SourceError

    with pytest.raises(SourceError, match="no such"):
        run_scan(db, scanner, tmp_path / "nowhere")
