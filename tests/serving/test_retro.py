"""Retro search: a case's reference face against every sighting face stored before it (real PostgreSQL)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image as PILImage

from models.registry import PackSources, load_engine, resolve_pack
from pipeline.candidates import MatchPolicy
from pipeline.decode import read_image_file
from pipeline.engine import EngineOptions, FaceEngine
from serving.services.cases import CaseService
from serving.services.live_gallery import LiveGallery, PackInfo
from serving.services.retro import RETRO_JOB, queue_children_retro, retro_search
from serving.services.sightings import PhotoRecord, SightingRecorder
from storage.database import Database
from storage.jobs import JobQueue
from storage.photos import PhotoStore
from storage.repositories.faces import FaceRepository, ImageRepository, NewFace
from storage.tables import Case, CaseStatus, Face, Image, ImageSource, Job, Match, Notification, ProcessingStatus, Role
from tests.serving.scans.conftest import PACK, enrol_into

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def engine(shared: Path) -> FaceEngine:
    return load_engine(resolve_pack(PACK, PackSources()), options=EngineOptions())


def store_sightings(db: Database, engine: FaceEngine, photos: list[Path]) -> None:
    for photo in photos:
        [found] = engine.analyse([read_image_file(photo).pixels])
        data = photo.read_bytes()
        with db.transaction() as session:
            image, _ = ImageRepository(session).add(
                content_sha256=hashlib.sha256(data).hexdigest(),
                storage_uri=f"file://{photo}",
                byte_size=len(data),
                source=ImageSource.ARCHIVE_SCAN,
                status=ProcessingStatus.DONE,
                source_key=f"{photo.parent.name}/{photo.name}",
            )
            faces = [
                NewFace(f.box.tolist(), f.landmarks.reshape(-1).tolist(), f.score, f.quality, np.asarray(f.embedding))
                for f in found.faces
            ]
            FaceRepository(session).add(image_id=image.id, pack=PACK, faces=faces)


def matched_keys(db: Database) -> list[str]:
    with db.transaction() as session:
        query = (
            sa.select(Image.source_key)
            .join(Face, Face.image_id == Image.id)
            .join(Match, Match.face_id == Face.id)
            .order_by(Image.source_key)
        )
        return list(session.scalars(query))


def test_a_new_reference_face_finds_the_sightings_stored_before(
    db: Database, engine: FaceEngine, faces_dir: Path, make_user
) -> None:
    person = sorted((faces_dir / "people" / "deepface_id06").iterdir())
    others = sorted((faces_dir / "people" / "deepface_id05").iterdir())
    store_sightings(db, engine, person[1:] + others)
    case_id = enrol_into(db, engine, "Retro", person[0])
    with db.transaction() as session:
        [reference] = FaceRepository(session).for_case(case_id=case_id)
        case = session.get(Case, case_id)
        assert case is not None
        case.assignee_id = make_user(Role.INVESTIGATOR).id
    pack = PackInfo.of(resolve_pack(PACK, PackSources()), MatchPolicy())

    with db.transaction() as session:
        first = retro_search(session, face_id=reference.id, pack=pack)
    keys = matched_keys(db)
    assert first["new_matches"] == len(keys) >= len(person) - 2
    assert all(key.startswith("deepface_id06/") for key in keys)
    with db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == len(keys)
        again = retro_search(session, face_id=reference.id, pack=pack)
        other_pack = retro_search(session, face_id=reference.id, pack=replace(pack, name="dlib"))
    assert again["new_matches"] == 0 and matched_keys(db) == keys
    assert "pack" in str(other_pack["skipped"])


def test_reopening_a_case_searches_its_faces_again(
    db: Database, engine: FaceEngine, faces_dir: Path, make_user
) -> None:
    photo = sorted((faces_dir / "people" / "deepface_id06").iterdir())[0]
    case_id = enrol_into(db, engine, "Closed For A While", photo, status=CaseStatus.CLOSED)
    pack = PackInfo.of(resolve_pack(PACK, PackSources()), MatchPolicy())
    with db.transaction() as session:
        [reference] = FaceRepository(session).for_case(case_id=case_id)
        assert retro_search(session, face_id=reference.id, pack=pack) == {
            "skipped": "the case is not open, or its consent is not recorded"
        }
    admin = make_user(Role.ADMIN)
    CaseService(db, PhotoStore(Path("/nonexistent"))).update(admin, case_id, {"status": CaseStatus.OPEN})
    with db.transaction() as session:
        jobs = session.scalars(sa.select(Job).where(Job.kind == RETRO_JOB)).all()
        assert [job.payload for job in jobs] == [{"face_id": str(reference.id), "pack": PACK}]
        assert JobQueue(session).get(job_id=jobs[0].id).priority == 0


def _fresh(photo: Path, folder: Path) -> Path:
    """The photo re-encoded under ``folder``: the same face in a file no other test stores."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / photo.name
    PILImage.open(photo).convert("RGB").save(copy, "JPEG", quality=94)
    return copy


def test_a_childs_reference_flags_only_the_sightings_under_threshold(
    db: Database, engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    person = [_fresh(p, tmp_path / "deepface_id09") for p in sorted((faces_dir / "people" / "deepface_id09").iterdir())]
    store_sightings(db, engine, person[1:])  # stored today
    case_id = enrol_into(db, engine, "Retro Child", person[0])
    with db.transaction() as session:
        [reference] = FaceRepository(session).for_case(case_id=case_id)
        case, image = session.get(Case, case_id), session.get(Image, reference.image_id)
        assert case is not None and image is not None
        case.date_of_birth, image.taken_at = date(2004, 1, 1), datetime(2010, 1, 1, tzinfo=UTC)  # a six-year-old
    pack = PackInfo.of(resolve_pack(PACK, PackSources()), MatchPolicy())

    with db.transaction() as session:
        result = retro_search(session, face_id=reference.id, pack=pack)
        matches = session.scalars(sa.select(Match).where(Match.case_id == case_id)).all()
    above = [m for m in matches if m.similarity >= m.threshold]
    assert above, "the same person, sixteen years later, still passes the threshold here"
    assert not any(m.age_gap for m in above), "a sighting above the threshold needs no age-gap flag"
    assert all(m.age_gap for m in matches if m.similarity < m.threshold)
    assert result["age_gap"] == sum(m.age_gap for m in matches) and result["new_matches"] == len(matches)


def _record(db: Database, engine: FaceEngine, recorder: SightingRecorder, photos: list[Path]) -> None:
    with db.transaction() as session:
        recorder.refresh(session)
        for photo in photos:
            decoded = read_image_file(photo)
            [found] = engine.analyse([decoded.pixels])
            data = photo.read_bytes()
            record = PhotoRecord(
                digest=hashlib.sha256(data).hexdigest(),
                uri=f"file://{photo}",
                size=len(data),
                width=decoded.pixels.shape[1],
                height=decoded.pixels.shape[0],
                format="JPEG",
                source=ImageSource.ARCHIVE_SCAN,
                uploaded_by_id=None,
            )
            vectors = np.stack([face.embedding for face in found.faces]).astype(np.float32)
            recorder.record(session, photo=record, faces=found.faces, vectors=vectors, actor="test")


def test_bulk_sightings_leave_children_to_one_search_per_childs_photo(
    db: Database, engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    people = faces_dir / "people"
    case_id = enrol_into(db, engine, "Bulk Child", _fresh(people / "deepface_id01" / "img7.jpg", tmp_path))
    with db.transaction() as session:
        [reference] = FaceRepository(session).for_case(case_id=case_id)
        case, image = session.get(Case, case_id), session.get(Image, reference.image_id)
        assert case is not None and image is not None
        case.date_of_birth, image.taken_at = date(2004, 1, 1), datetime(2010, 1, 1, tzinfo=UTC)  # a six-year-old
    # Another person, scored above the age-gap floor and under the threshold (0.23 and 0.20 by the test pack).
    scanned, submitted = (
        _fresh(people / "deepface_id07" / name, tmp_path / "later") for name in ("img26.jpg", "img44.jpg")
    )
    pack = PackInfo.of(resolve_pack(PACK, PackSources()), MatchPolicy())

    def flagged() -> int:
        with db.transaction() as session:
            query = sa.select(sa.func.count()).select_from(Match).where(Match.case_id == case_id, Match.age_gap)
            return int(session.scalar(query) or 0)

    _record(db, engine, SightingRecorder(pack, LiveGallery(pack), bulk=True), [scanned])
    assert flagged() == 0, "a photo of a scan or a sync puts no child's case forward by itself"
    _record(db, engine, SightingRecorder(pack, LiveGallery(pack)), [submitted])
    assert flagged() > 0, "one a person submits does (the test is meaningless otherwise)"
    with db.transaction() as session:
        assert queue_children_retro(session, pack=PACK, policy=pack.policy) >= 1
        jobs = session.scalars(sa.select(Job).where(Job.kind == RETRO_JOB, Job.finished_at.is_(None))).all()
        assert {"face_id": str(reference.id), "pack": PACK} in [job.payload for job in jobs]
        assert queue_children_retro(session, pack=PACK, policy=pack.policy) == 0, "queued once"
        adult = queue_children_retro(session, pack=PACK, policy=MatchPolicy(age_gap=None))
    assert adult == 0
