"""Recording a sighting photo: once per content, its faces, and a pending match per case above threshold.

Shared by the API (one photo) and archive scans (many): the same rules, the same notifications.
The other direction is the retro search: a case's new reference face is searched against every
sighting face stored before (pgvector), as a queued job.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from models.packs import Calibration
from pipeline.match import CaseGallery
from pipeline.types import Face
from serving.deployments.messages import Candidate
from serving.services.notify import Event, Notifier, case_workers
from storage.audit import AuditLog
from storage.jobs import JobQueue
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository, ImageRepository, NewFace
from storage.repositories.matches import MatchRepository
from storage.tables import Case, CaseStatus, Image, ImageSource, JobPriority, Match, NotificationKind, ProcessingStatus
from storage.tables import Face as FaceRow

RETRO_JOB = "retro.search"
RETRO_LIMIT = 1000  # sighting faces looked at per reference face, nearest first


@dataclass(frozen=True)
class PackInfo:
    name: str
    threshold: float


@dataclass(frozen=True)
class PhotoRecord:
    """What is stored about the photo itself."""

    digest: str
    uri: str
    size: int
    width: int
    height: int
    format: str
    source: ImageSource
    uploaded_by_id: uuid.UUID | None
    taken_at: datetime | None = None
    source_label: str | None = None  # scans: what the archive is, in the investigator's words
    source_key: str | None = None  # scans: the file within the archive or folder
    external_record_id: uuid.UUID | None = None  # external sources: the record the photo came with


@dataclass(frozen=True)
class StoredFace:
    face_id: uuid.UUID
    face: Face
    matches: list[Match]


@dataclass(frozen=True)
class Sighting:
    image_id: uuid.UUID
    created: bool
    faces: list[StoredFace]


def rank_candidates(
    gallery: CaseGallery, calibration: Calibration, vectors: NDArray[np.float32], k: int
) -> list[list[Candidate]]:
    """Per face embedding: the ``k`` closest open cases with their calibrated meaning."""
    if len(vectors) == 0:
        return []
    threshold = calibration.threshold()
    found = gallery.search(np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1), k)
    return [
        [
            Candidate(
                case_id=case,
                similarity=similarity,
                false_accept_rate=float(calibration.false_accept_rate(np.array([similarity]))[0]),
                above_threshold=similarity >= threshold,
                reference_face_id=face,
            )
            for case, similarity, face in hits
        ]
        for hits in found
    ]


class LiveGallery:
    """The reference faces of open cases of one pack, for matching outside the Serve chain.

    ``refresh`` reloads them when a case or reference face of the pack changed since the last
    look (one cheap query), so a batch job matches against the cases as they are when it writes.
    """

    def __init__(self, pack: PackInfo, calibration: Calibration) -> None:
        self.pack, self.calibration = pack, calibration
        self.gallery = CaseGallery()
        self.version: tuple[object, ...] | None = None

    def refresh(self, session: Session) -> None:
        faces = FaceRepository(session)
        version = faces.gallery_version(pack=self.pack.name)
        if version != self.version:
            self.gallery.replace(faces.open_case_faces(pack=self.pack.name))
            self.version = version

    def candidates(self, vectors: NDArray[np.float32], k: int) -> list[list[Candidate]]:
        return rank_candidates(self.gallery, self.calibration, vectors, k)


def record_sighting(
    session: Session,
    *,
    photo: PhotoRecord,
    faces: Sequence[Face],
    vectors: NDArray[np.float32],
    candidates: Sequence[Sequence[Candidate]],
    pack: PackInfo,
    actor: str,
    audit: bool = True,
) -> Sighting:
    """Store the photo, its faces and new matches; a photo stored before is returned as it was.

    ``audit=False`` leaves the audit entry to the caller (a scan writes one per batch).
    """
    image, created = add_image(session, photo)
    if not created:
        return Sighting(image.id, False, stored_faces(session, image.id))
    rows = FaceRepository(session).add(image_id=image.id, pack=pack.name, faces=new_faces(faces, vectors))
    matches = MatchRepository(session)
    stored = []
    for row, face, hits in zip(rows, faces, candidates, strict=True):
        made = [
            matches.record(
                case_id=hit.case_id,
                face_id=row.id,
                reference_face_id=hit.reference_face_id,
                similarity=hit.similarity,
                false_accept_rate=hit.false_accept_rate,
                pack=pack.name,
                threshold=pack.threshold,
            )
            for hit in hits
            if hit.above_threshold
        ]
        for match, fresh in made:
            if fresh:
                announce(session, match)
        stored.append(StoredFace(row.id, face, [match for match, _ in made]))
    if not audit:
        return Sighting(image.id, True, stored)
    AuditLog(session).append(
        actor=actor,
        action="sighting.record",
        target_type="image",
        target_id=image.id,
        details={"faces": len(rows), "matches": sum(len(s.matches) for s in stored), "source": photo.source.value},
    )
    return Sighting(image.id, True, stored)


def add_image(session: Session, photo: PhotoRecord, **details: object) -> tuple[Image, bool]:
    return ImageRepository(session).add(
        content_sha256=photo.digest,
        storage_uri=photo.uri,
        byte_size=photo.size,
        source=photo.source,
        status=ProcessingStatus.DONE,
        width=photo.width,
        height=photo.height,
        format=photo.format[:16],
        uploaded_by_id=photo.uploaded_by_id,
        taken_at=photo.taken_at,
        source_label=photo.source_label,
        source_key=photo.source_key,
        external_record_id=photo.external_record_id,
        **details,
    )


def new_faces(faces: Sequence[Face], vectors: NDArray[np.float32]) -> list[NewFace]:
    return [
        NewFace(
            box=face.box.tolist(),
            landmarks=face.landmarks.reshape(-1).tolist(),
            detection_score=face.score,
            quality=face.quality,
            embedding=vector,
        )
        for face, vector in zip(faces, vectors, strict=True)
    ]


def announce(session: Session, match: Match) -> None:
    """A new candidate match: tell the people who work the case."""
    case = CaseRepository(session).get(case_id=match.case_id)
    event = Event(
        NotificationKind.MATCH_FOUND,
        f"Possible match for case {case.number}",
        f"A sighting resembles the case (similarity {match.similarity:.2f}, "
        f"false-accept rate {match.false_accept_rate:.0e}). It waits for review.",
        case_id=case.id,
        match_id=match.id,
    )
    Notifier(session).send(event, case_workers(session, case))


def stored_faces(session: Session, image_id: uuid.UUID) -> list[StoredFace]:
    """The faces and matches stored when the same photo was recorded before."""
    query = (
        sa.select(FaceRow).where(FaceRow.image_id == image_id, FaceRow.case_id.is_(None)).order_by(FaceRow.created_at)
    )
    stored = []
    for row in session.scalars(query):
        face = Face(
            box=np.asarray(row.box, np.float32),
            landmarks=np.asarray(row.landmarks, np.float32).reshape(5, 2),
            score=row.detection_score,
            quality=row.quality,
            sharpness=0.0,
        )
        query_matches = sa.select(Match).where(Match.face_id == row.id).order_by(Match.similarity.desc())
        stored.append(StoredFace(row.id, face, list(session.scalars(query_matches))))
    return stored


def queue_retro_search(session: Session, faces: Sequence[FaceRow]) -> None:
    """Search these reference faces against all stored sightings, soon, in a job (one per face)."""
    queue = JobQueue(session)
    for face in faces:
        queue.enqueue(kind=RETRO_JOB, payload={"face_id": str(face.id), "pack": face.pack}, priority=JobPriority.HIGH)


def retro_search(session: Session, *, face_id: uuid.UUID, calibration: Calibration, pack: str) -> dict[str, object]:
    """Record a pending match for every stored sighting face above threshold for this reference face."""
    face = session.get(FaceRow, face_id)
    if face is None or face.case_id is None:
        return {"skipped": "the reference face no longer exists"}
    if face.pack != pack:
        return {"skipped": f"the face belongs to pack {face.pack}, this worker matches {pack}"}
    case = session.get(Case, face.case_id)
    if case is None or case.status is not CaseStatus.OPEN:
        return {"skipped": "the case is no longer open"}
    threshold = calibration.threshold()
    hits = FaceRepository(session).search(
        pack=pack, vector=np.asarray(face.embedding, np.float32), k=RETRO_LIMIT, sightings_only=True
    )
    matches = MatchRepository(session)
    above = [hit for hit in hits if hit.similarity >= threshold]
    fresh = 0
    for hit in above:
        match, created = matches.record(
            case_id=case.id,
            face_id=hit.face_id,
            reference_face_id=face.id,
            similarity=hit.similarity,
            false_accept_rate=float(calibration.false_accept_rate(np.array([hit.similarity]))[0]),
            pack=pack,
            threshold=threshold,
        )
        if created:
            announce(session, match)
            fresh += 1
    AuditLog(session).append(
        actor="system:retro-search",
        action="case.retro_search",
        target_type="case",
        target_id=case.id,
        details={"face_id": str(face.id), "above_threshold": len(above), "new_matches": fresh},
    )
    return {"searched": len(hits), "above_threshold": len(above), "new_matches": fresh}
