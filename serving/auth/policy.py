"""Who may do what: one table of actions and roles, plus per-case grants. Routes ask here."""

from __future__ import annotations

import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from serving.errors import PermissionDeniedError
from storage.tables import Access, Case, CaseGrant, Role, User


class Action(enum.StrEnum):
    SEARCH = "search"
    RECORD_SIGHTING = "record_sighting"
    ENROL_PHOTO = "enrol_photo"


_WORKERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.INVESTIGATOR})
ROLES: dict[Action, frozenset[Role]] = {
    Action.SEARCH: _WORKERS,
    Action.RECORD_SIGHTING: _WORKERS,
    Action.ENROL_PHOTO: _WORKERS | {Role.REPORTER},
}
# What a reporter needs on a case (besides having opened it) to do a case action.
CASE_ACCESS: dict[Action, frozenset[Access]] = {Action.ENROL_PHOTO: frozenset({Access.EDIT})}


def authorize(user: User, action: Action) -> None:
    """Raise PermissionDeniedError unless ``user``'s role may do ``action`` at all."""
    if user.role not in ROLES[action]:
        raise PermissionDeniedError(f"a {user.role} may not {action.replace('_', ' ')}")


def authorize_case(session: Session, user: User, action: Action, case: Case) -> None:
    """Raise PermissionDeniedError unless ``user`` may do ``action`` on this ``case``."""
    authorize(user, action)
    if user.role is Role.REPORTER and not _reporter_may(session, user.id, case, action):
        raise PermissionDeniedError("reporters act only on cases they opened or were granted")


def _reporter_may(session: Session, user_id: uuid.UUID, case: Case, action: Action) -> bool:
    if case.reporter_id == user_id:
        return True
    grant = session.scalar(
        sa.select(CaseGrant.access).where(CaseGrant.user_id == user_id, CaseGrant.case_id == case.id)
    )
    return grant is not None and grant in CASE_ACCESS.get(action, frozenset())
