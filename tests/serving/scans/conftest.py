"""Archives built from ../shared/faces, cases enrolled with the offline engine, and a scanner per test."""

from __future__ import annotations

import hashlib
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from configs.faces import ModelSettings, PipelineSettings
from configs.settings import ScanSettings
from models.registry import PackSources, load_engine, resolve_pack
from pipeline.decode import read_image_file
from pipeline.engine import EngineOptions, FaceEngine
from serving.scans.scanner import Scanner
from storage.database import Database
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository, ImageRepository, NewFace
from storage.tables import CaseStatus, Face, Image, ImageSource, Match, ProcessingStatus

PACK = "shared-scrfd"
BROKEN = {"notes.txt": b"not a photo", "empty.jpg": b"", "broken.zip": b"PK\x03\x04 not really"}


@dataclass(frozen=True)
class Archive:
    """A folder to scan: photos (some inside a nested zip, one twice) and files that are not photos."""

    root: Path
    photos: dict[str, bytes]  # readable photo files by key, duplicates included
    broken: set[str]  # keys of the files that must fail

    def keys_of(self, digest: str) -> set[str]:
        return {key for key, data in self.photos.items() if hashlib.sha256(data).hexdigest() == digest}


def build_archive(root: Path, faces_dir: Path, people: list[str], scenes: list[str], zipped: list[str]) -> Archive:
    photos: dict[str, bytes] = {}
    for person in people:
        for photo in sorted((faces_dir / "people" / person).iterdir()):
            key = f"people/{person}/{photo.name}"
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, root / key)
            photos[key] = photo.read_bytes()
    for scene in scenes:
        (root / "scenes").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(faces_dir / "scenes" / scene, root / "scenes" / scene)
        photos[f"scenes/{scene}"] = (faces_dir / "scenes" / scene).read_bytes()
    (root / "partner").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(root / "partner" / "intake.zip", "w") as bundle:
        for person in zipped:
            for photo in sorted((faces_dir / "people" / person).iterdir()):
                bundle.write(photo, f"{person}/{photo.name}")
                photos[f"partner/intake.zip!{person}/{photo.name}"] = photo.read_bytes()
        first = next(iter(photos))
        bundle.writestr("copy-of-a-photo.jpg", photos[first])  # the same content twice
        photos["partner/intake.zip!copy-of-a-photo.jpg"] = photos[first]
    (root / "partner" / "scans").mkdir()
    truncated = (faces_dir / "scenes" / "t1.jpg").read_bytes()[:4000]
    (root / "partner" / "scans" / "truncated.jpg").write_bytes(truncated)
    for name, data in BROKEN.items():
        (root / name).write_bytes(data)
    return Archive(root, photos, {*BROKEN, "partner/scans/truncated.jpg"})


@pytest.fixture(scope="session")
def engine(shared: Path) -> FaceEngine:
    return load_engine(resolve_pack(PACK, PackSources()), options=EngineOptions())


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Archive:
    return build_archive(
        tmp_path_factory.mktemp("archive"),
        faces_dir,
        people=["fr_obama", "deepface_id01", "deepface_id02", "deepface_id03"],
        scenes=["fr_obama_and_biden.jpg", "t1.jpg", "deepface_couple.jpg", "fr_two_people.jpg"],
        zipped=["deepface_id04", "deepface_id05"],
    )


@pytest.fixture()
def scanner(db: Database, ray_cluster: None, tmp_path: Path) -> Scanner:
    return Scanner(
        db,
        photos_dir=tmp_path / "photos",
        models=ModelSettings(pack=PACK),
        pipeline=PipelineSettings(),
        scan=ScanSettings(read_batch=8, locate_batch=4, embed_batch=8, write_batch=8),
    )


EnrolCase = Callable[..., uuid.UUID]


def enrol_into(
    db: Database, engine: FaceEngine, name: str, photo: Path, *, status: CaseStatus = CaseStatus.OPEN
) -> uuid.UUID:
    """Open a case whose reference face comes from ``photo`` (the largest face in it)."""
    [found] = engine.analyse([read_image_file(photo).pixels])
    face = max(found.faces, key=lambda f: f.size)
    data = photo.read_bytes()
    with db.transaction() as session:
        case = CaseRepository(session).create(full_name=name, reporter_id=None, consent_biometric=True)
        image, _ = ImageRepository(session).add(
            content_sha256=hashlib.sha256(data).hexdigest(),
            storage_uri=f"file://{photo}",
            byte_size=len(data),
            source=ImageSource.CASE_REFERENCE,
            status=ProcessingStatus.DONE,
            case_id=case.id,
        )
        new = NewFace(
            face.box.tolist(), face.landmarks.reshape(-1).tolist(), face.score, face.quality, np.asarray(face.embedding)
        )
        FaceRepository(session).add(image_id=image.id, pack=PACK, faces=[new], case_id=case.id)
        case.status = status
        return case.id


@pytest.fixture()
def enrol_case(db: Database, engine: FaceEngine) -> EnrolCase:
    """``enrol_into`` the test's database."""

    def enrol(name: str, photo: Path, *, status: CaseStatus = CaseStatus.OPEN) -> uuid.UUID:
        return enrol_into(db, engine, name, photo, status=status)

    return enrol


@dataclass(frozen=True)
class Stored:
    """What a database holds after a scan: photos by key, sighting faces, matches as (case, photo digest)."""

    images: dict[str, str]
    faces: int
    matches: set[tuple[uuid.UUID, str]]


def stored(db: Database) -> Stored:
    with db.transaction() as session:
        images = dict(
            session.execute(
                sa.select(Image.source_key, Image.content_sha256).where(Image.source == ImageSource.ARCHIVE_SCAN)
            ).all()
        )
        faces = session.scalar(sa.select(sa.func.count()).select_from(Face).where(Face.case_id.is_(None)))
        matches = session.execute(
            sa.select(Match.case_id, Image.content_sha256)
            .join(Face, Face.id == Match.face_id)
            .join(Image, Image.id == Face.image_id)
        ).all()
    return Stored(images, int(faces or 0), {(case, str(key)) for case, key in matches})
