"""Erasing a case: its photos, faces, embeddings, matches and notifications, leaving no trace
but an audit entry that says it happened (with counts, never names or biometric data).

Sighting photos that were matched to the erased case and to no other case go too: they were
kept because they might show that person. Sightings that also matched another case stay, without
their match to the erased one.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.audit import AuditLog
from storage.repositories.common import get_or_raise
from storage.tables import Case, CaseGrant, Face, Image, Match, MatchReview, Notification


class ErasureReason(enum.StrEnum):
    """Why a case was erased: a fixed list, so that no free text reaches the audit log."""

    RETENTION_EXPIRED = "retention_expired"
    SUBJECT_REQUEST = "subject_request"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    LEGAL_ORDER = "legal_order"
    OPENED_IN_ERROR = "opened_in_error"


@dataclass(frozen=True)
class ErasureReport:
    """What was removed. ``storage_uris`` are the photo files the caller must delete too."""

    case_id: uuid.UUID
    images: int
    faces: int
    matches: int
    reviews: int
    notifications: int
    grants: int
    storage_uris: tuple[str, ...]
    sightings: int = 0  # sighting photos matched to this case only, erased with it


def erase_case(session: Session, *, case_id: uuid.UUID, actor: str, reason: ErasureReason) -> ErasureReport:
    """Delete the case and everything that belongs to it, and audit that, in one transaction."""
    case = get_or_raise(session, Case, case_id, lock=True)
    matches = sa.select(Match.id).where(Match.case_id == case_id)
    sightings = _sightings_of_only(session, case_id)
    report = ErasureReport(
        case_id=case_id,
        images=_count(session, Image, Image.case_id == case_id),
        faces=_count(session, Face, Face.case_id == case_id),
        matches=_count(session, Match, Match.case_id == case_id),
        reviews=_count(session, MatchReview, MatchReview.match_id.in_(matches)),
        notifications=_count(
            session, Notification, sa.or_(Notification.case_id == case_id, Notification.match_id.in_(matches))
        ),
        grants=_count(session, CaseGrant, CaseGrant.case_id == case_id),
        storage_uris=tuple(
            session.scalars(
                sa.select(Image.storage_uri).where(sa.or_(Image.case_id == case_id, Image.id.in_(sightings)))
            )
        ),
        sightings=len(sightings),
    )
    if sightings:
        session.execute(sa.delete(Image).where(Image.id.in_(sightings)))
    session.delete(case)  # the foreign keys cascade to every row counted above
    session.flush()
    details = {
        "reason": ErasureReason(reason).value,
        "case_number": case.number,
        "images": report.images,
        "faces": report.faces,
        "matches": report.matches,
        "reviews": report.reviews,
        "notifications": report.notifications,
        "grants": report.grants,
        "stored_files": len(report.storage_uris),
        "sightings": report.sightings,
    }
    AuditLog(session).append(actor=actor, action="case.erase", target_type="case", target_id=case_id, details=details)
    return report


def _sightings_of_only(session: Session, case_id: uuid.UUID) -> list[uuid.UUID]:
    """Sighting photos with a face matched to this case and no face matched to any other."""
    matched = sa.select(Face.image_id).join(Match, Match.face_id == Face.id)
    mine = matched.where(Match.case_id == case_id, Face.case_id.is_(None))
    others = matched.where(Match.case_id != case_id)
    return list(session.scalars(mine.except_(others)))


def _count(session: Session, table: type, condition: sa.ColumnElement[bool]) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(table).where(condition)) or 0
