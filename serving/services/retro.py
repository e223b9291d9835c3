"""Retro search: a case's new reference face searched against every sighting face stored before (pgvector).

The operating point is set by how many sighting faces there are, as a searched face's is by the
number of reference faces; a child's reference photo also puts forward the closest sightings
photographed years later, flagged (``pipeline.ages``).

It runs as a queued job, one per reference face, so enrolment answers at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from sqlalchemy.orm import Session

from pipeline.ages import AgeGap, age_gap, photo_age
from pipeline.calibration import OperatingPoint, operating_point
from pipeline.candidates import MatchPolicy
from serving.services.live_gallery import PackInfo
from serving.services.sightings import announce
from storage.audit import AuditLog
from storage.jobs import JobQueue
from storage.repositories.faces import FaceHit, FaceRepository
from storage.repositories.matches import MatchRepository
from storage.tables import Case, Image, JobPriority
from storage.tables import Face as FaceRow

RETRO_JOB = "retro.search"
RETRO_LIMIT = 1000  # sighting faces looked at per reference face, nearest first


def queue_retro_search(session: Session, faces: Sequence[FaceRow]) -> None:
    """Search these reference faces against all stored sightings, soon, in a job (one per face)."""
    queue = JobQueue(session)
    for face in faces:
        queue.enqueue(kind=RETRO_JOB, payload={"face_id": str(face.id), "pack": face.pack}, priority=JobPriority.HIGH)


def queue_children_retro(session: Session, *, pack: str, policy: MatchPolicy) -> int:
    """After sightings stored in bulk (a scan, a sync): search again each open case's reference photos
    that show a child, so each puts forward its closest sightings photographed years later. A bulk
    photo does not put children's cases forward by itself (one of thousands would bring up to
    ``candidates`` each): here the top few are per child's photo. Returns the jobs queued."""
    rule = policy.age_gap
    if rule is None:
        return 0
    queue, queued = JobQueue(session), 0
    for face in FaceRepository(session).open_case_faces(pack=pack):
        if face.age is not None and face.age.age_years < rule.child_under:
            identity = {"face_id": str(face.face_id), "pack": pack}
            queued += queue.enqueue_once(kind=RETRO_JOB, identity=identity, payload=identity)[1]
    return queued


def retro_search(session: Session, *, face_id: uuid.UUID, pack: PackInfo) -> dict[str, object]:
    """Record a pending match for every stored sighting face above threshold for this reference face,
    and, when its photo shows a child, for the closest sightings photographed years later."""
    face = session.get(FaceRow, face_id)
    if face is None or face.case_id is None:
        return {"skipped": "the reference face no longer exists"}
    if face.pack != pack.name:
        return {"skipped": f"the face belongs to pack {face.pack}, this worker matches {pack.name}"}
    case = session.get(Case, face.case_id)
    if case is None or not case.matchable:
        return {"skipped": "the case is not open, or its consent is not recorded"}
    faces = FaceRepository(session)
    point = operating_point(pack.calibration, faces.count_sightings(pack=pack.name), pack.policy.max_wrong)
    vector = np.asarray(face.embedding, np.float32)
    hits = faces.search(pack=pack.name, vector=vector, k=RETRO_LIMIT, sightings_only=True)
    above = [hit for hit in hits if hit.similarity >= point.threshold]
    # The flag says why a sighting is put forward: one above the threshold needs no other reason.
    passed = {hit.face_id for hit in above}
    across = _across_age_gap(session, face, case, hits, pack)
    gaps = {face_id: gap for face_id, gap in across.items() if face_id not in passed}
    chosen = above + [hit for hit in hits if hit.face_id in gaps]
    fresh = sum(_record(session, case, face, hit, point, pack, gaps.get(hit.face_id)) for hit in chosen)
    AuditLog(session).append(
        actor="system:retro-search",
        action="case.retro_search",
        target_type="case",
        target_id=case.id,
        details={"face_id": str(face.id), "above_threshold": len(above), "age_gap": len(gaps), "new_matches": fresh},
    )
    return {"searched": len(hits), "above_threshold": len(above), "age_gap": len(gaps), "new_matches": fresh}


def _across_age_gap(
    session: Session, face: FaceRow, case: Case, hits: Sequence[FaceHit], pack: PackInfo
) -> dict[uuid.UUID, AgeGap]:
    """The closest sightings photographed years after this reference photo of a child, with the gap."""
    rule = pack.policy.age_gap
    image = session.get(Image, face.image_id)
    photo = photo_age(
        taken_at=image.taken_at if image else None,
        date_of_birth=case.date_of_birth,
        stated_age=face.age_years,
        last_seen_at=case.last_seen_at,
    )
    if rule is None or photo is None or not hits:
        return {}
    floor = pack.calibration.threshold(rule.floor_far)
    days = FaceRepository(session).sighting_days(face_ids=[hit.face_id for hit in hits if hit.similarity >= floor])
    gaps = {face_id: age_gap(rule, photo, day) for face_id, day in days.items()}
    ordered = [hit for hit in hits if gaps.get(hit.face_id) is not None]  # hits come best first
    return {hit.face_id: gap for hit in ordered[: rule.candidates] if (gap := gaps[hit.face_id]) is not None}


def _record(
    session: Session, case: Case, face: FaceRow, hit: FaceHit, point: OperatingPoint, pack: PackInfo, gap: AgeGap | None
) -> bool:
    match, created = MatchRepository(session).record(
        case_id=case.id,
        face_id=hit.face_id,
        reference_face_id=face.id,
        similarity=hit.similarity,
        false_accept_rate=float(pack.calibration.false_accept_rate(np.array([hit.similarity]))[0]),
        pack=pack.name,
        threshold=point.threshold,
        operating_far=point.far,
        gallery_faces=point.gallery_faces,
        age_gap=gap,
    )
    if created:
        announce(session, match)
    return created
