"""Retro search: a case's reference face against every sighting face stored before it (real PostgreSQL)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from models.registry import PackSources, load_engine, resolve_pack
from pipeline.candidates import MatchPolicy
from pipeline.decode import read_image_file
from pipeline.engine import EngineOptions, FaceEngine
from serving.services.cases import CaseService
from serving.services.retro import RETRO_JOB, retro_search
from serving.services.sightings import PackInfo
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
