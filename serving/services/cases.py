"""Cases for the API: who may open, read, change, assign, grant and erase them; audited and notified."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from serving.auth.policy import REPORTER_FIELDS, ROLES, Action, authorize, authorize_case
from serving.errors import PermissionDeniedError
from serving.services.notify import Event, Notifier, case_followers
from serving.services.retro import queue_retro_search
from storage.audit import AuditLog
from storage.database import Database
from storage.erasure import ErasureReason, ErasureReport, erase_case
from storage.errors import InvalidArgumentError
from storage.photos import PhotoStore
from storage.repositories.cases import CaseRepository
from storage.repositories.common import Page
from storage.repositories.faces import FaceRepository
from storage.repositories.users import UserRepository
from storage.tables import Access, Case, CaseGrant, CaseStatus, Face, NotificationKind, Role, User

logger = logging.getLogger(__name__)

_CASE_WORKER_ROLES = (Role.INVESTIGATOR, Role.SUPERVISOR, Role.ADMIN)


class CaseService:
    def __init__(self, db: Database, photos: PhotoStore) -> None:
        self.db, self.photos = db, photos

    def create(self, user: User, fields: Mapping[str, Any]) -> Case:
        authorize(user, Action.CREATE_CASE)
        _refuse_past(fields.get("retention_until"))
        # A reporter's case waits for an investigator to accept it; consent counts once a supervisor records it.
        status = CaseStatus.SUBMITTED if user.role is Role.REPORTER else CaseStatus.OPEN
        consent = _consent_change(user, bool(fields.get("consent_biometric")), recorded=False)
        with self.db.transaction() as session:
            case = CaseRepository(session).create(reporter_id=user.id, status=status, **fields, **consent)
            AuditLog(session).append(
                actor=_actor(user),
                action="case.create",
                target_type="case",
                target_id=case.id,
                details={
                    "number": case.number,
                    "priority": case.priority.value,
                    "status": status.value,
                    "consent_recorded": consent["consent_recorded_at"] is not None,
                },
            )
            session.flush()
            session.refresh(case)
            return case

    def get(self, user: User, case_id: uuid.UUID) -> Case:
        with self.db.transaction() as session:
            case = CaseRepository(session).get(case_id=case_id)
            authorize_case(session, user, Action.READ_CASE, case)
            return case

    def find(self, user: User, **filters: Any) -> Page[Case]:
        """Cases matching ``filters``; reporters see only cases they opened or were granted."""
        authorize(user, Action.READ_CASE)
        visible_to = user.id if user.role is Role.REPORTER else None
        with self.db.transaction() as session:
            return CaseRepository(session).find(visible_to=visible_to, **filters)

    def update(self, user: User, case_id: uuid.UUID, changes: Mapping[str, Any]) -> Case:
        """Change a case; reporters only describe it or withdraw it; assigning is for supervisors."""
        with self.db.transaction() as session:
            cases = CaseRepository(session)
            case = cases.get(case_id=case_id, lock=True)
            authorize_case(session, user, Action.EDIT_CASE, case)
            self._check_change(session, user, changes)
            retention = _check_retention(user, case, changes)
            if "consent_biometric" in changes:
                given = bool(changes["consent_biometric"])
                changes = {**changes, **_consent_change(user, given, recorded=case.consent_recorded_at is not None)}
            was_matchable = case.matchable
            case = cases.update(case_id=case_id, changes=changes)
            session.refresh(case)
            if case.matchable and not was_matchable:  # sightings stored meanwhile were never matched against it
                queue_retro_search(session, FaceRepository(session).for_case(case_id=case_id))
            AuditLog(session).append(
                actor=_actor(user),
                action="case.update",
                target_type="case",
                target_id=case_id,
                details={"fields": sorted(changes), "status": case.status.value, **retention},
            )
            Notifier(session).send(
                Event(NotificationKind.CASE_UPDATED, f"Case {case.number} was updated", case_id=case.id),
                case_followers(case),
                skip=user.id,
            )
            session.flush()
            session.refresh(case)
            return case

    def erase(self, user: User, case_id: uuid.UUID, reason: ErasureReason) -> ErasureReport:
        """Remove the case and all its biometric data; the photo files go too."""
        authorize(user, Action.ERASE_CASE)
        with self.db.transaction() as session:
            report = erase_case(session, case_id=case_id, actor=_actor(user), reason=reason)
        for uri in report.storage_uris:
            self.photos.delete(uri)
        logger.info("case erased with %d photo files", len(report.storage_uris))
        return report

    def reference_faces(self, user: User, case_id: uuid.UUID) -> list[Face]:
        with self.db.transaction() as session:
            case = CaseRepository(session).get(case_id=case_id)
            authorize_case(session, user, Action.READ_CASE, case)
            return FaceRepository(session).for_case(case_id=case_id)

    def grants(self, user: User, case_id: uuid.UUID) -> list[CaseGrant]:
        authorize(user, Action.GRANT_CASE)
        with self.db.transaction() as session:
            CaseRepository(session).get(case_id=case_id)
            return UserRepository(session).grants_of_case(case_id=case_id)

    def revoke(self, user: User, case_id: uuid.UUID, grantee: uuid.UUID) -> None:
        """Take a user's grant on this case away (NotFoundError when they had none); audited."""
        authorize(user, Action.GRANT_CASE)
        with self.db.transaction() as session:
            CaseRepository(session).get(case_id=case_id)
            UserRepository(session).revoke(user_id=grantee, case_id=case_id)
            AuditLog(session).append(
                actor=_actor(user),
                action="case.revoke",
                target_type="case",
                target_id=case_id,
                details={"user_id": str(grantee)},
            )

    def grant(self, user: User, case_id: uuid.UUID, grantee: uuid.UUID, access: Access) -> CaseGrant:
        authorize(user, Action.GRANT_CASE)
        with self.db.transaction() as session:
            CaseRepository(session).get(case_id=case_id)
            UserRepository(session).get(user_id=grantee)
            grant = UserRepository(session).grant(
                user_id=grantee, case_id=case_id, access=access, granted_by_id=user.id
            )
            AuditLog(session).append(
                actor=_actor(user),
                action="case.grant",
                target_type="case",
                target_id=case_id,
                details={"user_id": str(grantee), "access": access.value},
            )
            return grant

    def _check_change(self, session: sa.orm.Session, user: User, changes: Mapping[str, Any]) -> None:
        if user.role is Role.REPORTER:
            extra = set(changes) - REPORTER_FIELDS - {"status", "consent_biometric"}
            withdrawing = changes.get("status", CaseStatus.WITHDRAWN) is CaseStatus.WITHDRAWN
            if extra or not withdrawing or changes.get("consent_biometric", False):
                raise PermissionDeniedError(
                    "reporters may describe their case, withdraw it or withdraw consent, nothing more"
                )
        if "assignee_id" in changes:
            authorize(user, Action.ASSIGN_CASE)
            if changes["assignee_id"] is not None:
                assignee = UserRepository(session).get(user_id=changes["assignee_id"])
                if assignee.role not in _CASE_WORKER_ROLES or not assignee.is_active:
                    raise InvalidArgumentError("cases are assigned to active investigators or supervisors")


def _consent_change(user: User, given: bool, *, recorded: bool) -> dict[str, Any]:
    """The consent fields for consent given or withdrawn by ``user``.

    Anyone who may edit the case (the family included) may withdraw consent, which takes the case
    out of matching at once; recording it is a supervisor's (or admin's), who checked the form.
    Consent stated by someone else is kept as stated and waits for a supervisor.
    """
    if not given:
        return {"consent_recorded_at": None, "consent_recorded_by_id": None}
    if user.role not in ROLES[Action.RECORD_CONSENT]:
        return {} if recorded else {"consent_recorded_at": None}
    return {"consent_recorded_at": sa.func.now(), "consent_recorded_by_id": user.id}


def _check_retention(user: User, case: Case, changes: Mapping[str, Any]) -> dict[str, str | None]:
    """Refuse a retention day that is not in the future; keeping a case for less time is an
    administrator's decision. Returns the change for the audit entry."""
    if "retention_until" not in changes:
        return {}
    new, old = changes["retention_until"], case.retention_until
    _refuse_past(new)
    if new is not None and (old is None or new < old):
        authorize(user, Action.SHORTEN_RETENTION)
    return {"retention_from": old.isoformat() if old else None, "retention_to": new.isoformat() if new else None}


def _refuse_past(day: date | None) -> None:
    if day is not None and day <= datetime.now(UTC).date():
        raise InvalidArgumentError(
            "retention_until must be a day in the future; to erase a case now, an administrator uses /erase"
        )


def _actor(user: User) -> str:
    return f"user:{user.id}"
