"""Who may do what: one table of actions and roles, plus per-case grants. Routes ask here.

Roles decide which actions a user may take at all; for case actions, reporters are further
held to the cases they opened or were granted. Every route names its action, and the RBAC
test walks the OpenAPI document to check each route against an expected matrix.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from serving.errors import PermissionDeniedError
from storage.errors import NotFoundError
from storage.tables import Access, Case, CaseGrant, Role, User


class Action(enum.StrEnum):
    READ_PROFILE = "read_profile"
    CHANGE_PASSWORD = "change_password"
    MANAGE_USERS = "manage_users"
    CREATE_CASE = "create_case"
    READ_CASE = "read_case"
    EDIT_CASE = "edit_case"
    ASSIGN_CASE = "assign_case"
    ERASE_CASE = "erase_case"
    SHORTEN_RETENTION = "shorten_retention"
    GRANT_CASE = "grant_case"
    RECORD_CONSENT = "record_consent"
    ENROL_PHOTO = "enrol_photo"
    SEARCH = "search"
    RECORD_SIGHTING = "record_sighting"
    VIEW_IMAGES = "view_images"
    READ_MATCHES = "read_matches"
    REVIEW_MATCH = "review_match"
    CONFIRM_MATCH = "confirm_match"
    REOPEN_MATCH = "reopen_match"
    READ_NOTIFICATIONS = "read_notifications"
    READ_JOBS = "read_jobs"
    CANCEL_JOB = "cancel_job"
    START_SCAN = "start_scan"
    MANAGE_EXTERNAL = "manage_external"
    READ_AUDIT = "read_audit"


_EVERYONE = frozenset(Role)
_CASEWORK = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.INVESTIGATOR})
_LEADS = frozenset({Role.ADMIN, Role.SUPERVISOR})

ROLES: dict[Action, frozenset[Role]] = {
    Action.READ_PROFILE: _EVERYONE,
    Action.CHANGE_PASSWORD: _EVERYONE,
    Action.MANAGE_USERS: frozenset({Role.ADMIN}),
    Action.CREATE_CASE: _CASEWORK | {Role.REPORTER},
    Action.READ_CASE: _CASEWORK | {Role.REPORTER},
    Action.EDIT_CASE: _CASEWORK | {Role.REPORTER},
    Action.ASSIGN_CASE: _LEADS,
    Action.ERASE_CASE: frozenset({Role.ADMIN}),
    Action.SHORTEN_RETENTION: frozenset({Role.ADMIN}),  # a case kept for less time is erased sooner
    Action.GRANT_CASE: _LEADS,
    Action.RECORD_CONSENT: _LEADS,  # they hold the signed consent form; reporters' say-so waits for them
    Action.ENROL_PHOTO: _CASEWORK | {Role.REPORTER},
    Action.SEARCH: _CASEWORK,
    Action.RECORD_SIGHTING: _CASEWORK,
    Action.VIEW_IMAGES: _CASEWORK | {Role.REPORTER},  # reporters: their cases' reference photos only
    Action.READ_MATCHES: _CASEWORK,
    Action.REVIEW_MATCH: _CASEWORK,
    Action.CONFIRM_MATCH: _LEADS,  # the deciding confirmation; anyone reviewing when the two-person rule is off
    Action.REOPEN_MATCH: _LEADS,  # a confirmed match is undone by a supervisor only
    Action.READ_NOTIFICATIONS: _EVERYONE,
    Action.READ_JOBS: _CASEWORK,
    Action.CANCEL_JOB: _CASEWORK,
    Action.START_SCAN: _CASEWORK,
    Action.MANAGE_EXTERNAL: frozenset({Role.ADMIN}),
    Action.READ_AUDIT: frozenset({Role.ADMIN, Role.AUDITOR}),
}
# What a reporter needs on a case they did not open to take a case action there.
CASE_ACCESS: dict[Action, frozenset[Access]] = {
    Action.READ_CASE: frozenset({Access.VIEW, Access.EDIT, Access.REVIEW}),
    Action.EDIT_CASE: frozenset({Access.EDIT}),
    Action.ENROL_PHOTO: frozenset({Access.EDIT}),
}
# Case fields a reporter may change on a case they may edit (investigators change any).
REPORTER_FIELDS = frozenset(
    {"full_name", "aliases", "sex", "date_of_birth", "last_seen_at", "last_seen_place", "description"}
)


def authorize(user: User, action: Action) -> None:
    """Raise PermissionDeniedError unless ``user``'s role may do ``action`` at all."""
    if user.role not in ROLES[action]:
        raise PermissionDeniedError(f"a {user.role} may not {action.replace('_', ' ')}")


def authorize_case(session: Session, user: User, action: Action, case: Case) -> None:
    """Raise PermissionDeniedError unless ``user`` may do ``action`` on this ``case``.

    To a reporter with no part in the case it does not exist (NotFoundError): they cannot learn
    which cases there are. One granted less than the action needs is told it is not allowed.
    """
    authorize(user, action)
    if user.role is not Role.REPORTER or case.reporter_id == user.id:
        return
    grant = session.scalar(
        sa.select(CaseGrant.access).where(CaseGrant.user_id == user.id, CaseGrant.case_id == case.id)
    )
    if grant is None:
        raise NotFoundError(f"no cases row with id {case.id}")
    if grant not in CASE_ACCESS.get(action, frozenset()):
        raise PermissionDeniedError("your access to this case does not allow that")
