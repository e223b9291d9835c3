"""Recording a sighting photo: once per content, its faces, and a pending match per case above threshold.

One recorder serves the API (one photo), archive scans and external syncs (batches): the same
rules, the same notifications, the same audit. The other direction, a case's new reference
face searched against the sightings stored before, is ``serving.services.retro``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from pipeline.calibration import OperatingPoint
from pipeline.candidates import Candidate, Ranking
from pipeline.types import Face
from serving.metrics import metrics
from serving.services.live_gallery import LiveGallery, PackInfo, probe_day
from serving.services.notify import Event, Notifier, case_workers
from storage.audit import AuditLog
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository, ImageRepository, NewFace
from storage.repositories.matches import MatchRepository
from storage.tables import Face as FaceRow
from storage.tables import Image, ImageSource, Match, NotificationKind, ProcessingStatus

MATCHES_PER_FACE = 10  # cases a face is compared with when no caller says otherwise


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


@dataclass(frozen=True)
class BatchAudit:
    """The one audit entry a batch of sightings gets (a scan's batch: the job is its target)."""

    action: str
    target_type: str
    target_id: uuid.UUID


class SightingRecorder:
    """The one place a sighting is stored: the photo once by content, its faces, a pending match per
    case above threshold, the notifications of new matches and the audit entry.

    The API passes the Matcher's candidates; jobs (scans, syncs) match against ``gallery``,
    refreshed once per batch.
    """

    def __init__(
        self,
        pack: PackInfo,
        gallery: LiveGallery | None = None,
        matches_per_face: int = MATCHES_PER_FACE,
        *,
        bulk: bool = False,
    ) -> None:
        """``bulk``: photos come by the thousand (scans, syncs), and none puts children's cases forward
        across an age gap by itself; the caller queues ``queue_children_retro`` afterwards."""
        self.pack, self.gallery, self.matches_per_face, self.bulk = pack, gallery, matches_per_face, bulk

    def refresh(self, session: Session) -> None:
        """Bring the gallery up to the open cases as they are now (one cheap query when nothing changed)."""
        if self.gallery is not None:
            self.gallery.refresh(session)

    def record(
        self,
        session: Session,
        *,
        photo: PhotoRecord,
        faces: Sequence[Face],
        vectors: NDArray[np.float32],
        actor: str,
        ranking: Ranking | None = None,
        audit: bool = True,
    ) -> Sighting:
        """Store one photo; a photo stored before is returned as it was. ``audit=False``: the caller audits.
        ``ranking``: the Matcher's candidates for ``vectors`` (else the recorder's gallery ranks them)."""
        image, created = add_image(session, photo)
        if not created:
            return Sighting(image.id, False, stored_faces(session, image.id))
        if ranking is None:
            ranking = self._rank(vectors, None if self.bulk else probe_day(photo.taken_at))
        rows = FaceRepository(session).add(image_id=image.id, pack=self.pack.name, faces=new_faces(faces, vectors))
        stored = [
            StoredFace(row.id, face, self._matches(session, row.id, hits, ranking.point))
            for row, face, hits in zip(rows, faces, ranking.candidates, strict=True)
        ]
        if audit:
            details = {"faces": len(rows), "matches": _count_matches(stored), "source": photo.source.value}
            AuditLog(session).append(
                actor=actor, action="sighting.record", target_type="image", target_id=image.id, details=details
            )
        return Sighting(image.id, True, stored)

    def record_batch(
        self,
        session: Session,
        photos: Sequence[tuple[PhotoRecord, Sequence[Face], NDArray[np.float32]]],
        *,
        actor: str,
        audit: BatchAudit,
    ) -> list[Sighting]:
        """Store a batch of photos in the caller's transaction, matched against the gallery as it is now,
        with one audit entry for the batch (written last: the audit chain's lock is held only until commit)."""
        self.refresh(session)
        sightings = [self.record(session, photo=p, faces=f, vectors=v, actor=actor, audit=False) for p, f, v in photos]
        created = [s for s in sightings if s.created]
        if created:
            details = {
                "images": [str(s.image_id) for s in created],
                "faces": sum(len(s.faces) for s in created),
                "matches": sum(_count_matches(s.faces) for s in created),
            }
            AuditLog(session).append(
                actor=actor,
                action=audit.action,
                target_type=audit.target_type,
                target_id=audit.target_id,
                details=details,
            )
        return sightings

    def _rank(self, vectors: NDArray[np.float32], day: date | None) -> Ranking:
        if self.gallery is None:
            raise ValueError("a recorder without a gallery needs the candidates from its caller")
        return self.gallery.rank(vectors, self.matches_per_face, day)

    def _matches(
        self, session: Session, face_id: uuid.UUID, hits: Sequence[Candidate], point: OperatingPoint
    ) -> list[Match]:
        """A pending match per case above threshold or put forward across an age gap; the people
        working a case hear of new ones."""
        repository, made = MatchRepository(session), []
        for hit in hits:
            if not hit.for_review:
                continue
            match, fresh = repository.record(
                case_id=hit.case_id,
                face_id=face_id,
                reference_face_id=hit.reference_face_id,
                similarity=hit.similarity,
                false_accept_rate=hit.false_accept_rate,
                pack=self.pack.name,
                threshold=point.threshold,
                operating_far=point.far,
                gallery_faces=point.gallery_faces,
                centroid=(hit.centroid.similarity, hit.centroid.false_accept_rate) if hit.centroid else None,
                age_gap=hit.age_gap,
            )
            if fresh:
                announce(session, match)
            made.append(match)
        return made


def _count_matches(faces: Sequence[StoredFace]) -> int:
    return sum(len(face.matches) for face in faces)


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
    metrics().matches_created.inc()
    case = CaseRepository(session).get(case_id=match.case_id)
    across = (
        f" Put forward across an age gap: the reference photo shows the person at {match.reference_age_years:g}, "
        f"{match.years_apart:g} years before; the score means less than usual."
        if match.age_gap
        else ""
    )
    event = Event(
        NotificationKind.MATCH_FOUND,
        f"Possible match for case {case.number}",
        f"A sighting resembles the case (similarity {match.similarity:.2f}, "
        f"false-accept rate {match.false_accept_rate:.0e}).{across} It waits for review.",
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
