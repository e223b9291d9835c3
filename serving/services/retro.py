"""Retro search: a case's new reference face searched against every sighting face stored before (pgvector).

It runs as a queued job, one per reference face, so enrolment answers at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from sqlalchemy.orm import Session

from pipeline.calibration import Calibration
from serving.services.sightings import announce
from storage.audit import AuditLog
from storage.jobs import JobQueue
from storage.repositories.faces import FaceRepository
from storage.repositories.matches import MatchRepository
from storage.tables import Case, JobPriority
from storage.tables import Face as FaceRow

RETRO_JOB = "retro.search"
RETRO_LIMIT = 1000  # sighting faces looked at per reference face, nearest first


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
    if case is None or not case.matchable:
        return {"skipped": "the case is not open, or its consent is not recorded"}
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
