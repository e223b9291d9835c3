"""Missing-person cases: create, change, find, list with filters and name search."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.errors import InvalidArgumentError
from storage.repositories.common import Page, get_or_raise, paginate
from storage.tables import Case, CaseGrant, CasePriority, CaseStatus, Match, ReviewStatus, Sex

CaseSort = Literal["created", "updated", "last_seen", "priority", "number", "name"]
EDITABLE = frozenset(
    {
        "full_name",
        "aliases",
        "sex",
        "date_of_birth",
        "last_seen_at",
        "last_seen_place",
        "description",
        "status",
        "priority",
        "assignee_id",
        "consent_biometric",
        "consent_recorded_at",
        "consent_recorded_by_id",
        "retention_until",
    }
)
_PRIORITY_RANK = sa.case(
    {CasePriority.URGENT: 3, CasePriority.HIGH: 2, CasePriority.NORMAL: 1, CasePriority.LOW: 0},
    value=Case.priority,
)
_SORTS: dict[str, Any] = {
    "created": Case.created_at,
    "updated": Case.updated_at,
    "last_seen": Case.last_seen_at,
    "priority": _PRIORITY_RANK,
    "number": Case.number,
    "name": Case.full_name,
}
_CLOSED = (CaseStatus.FOUND_ALIVE, CaseStatus.FOUND_DECEASED, CaseStatus.CLOSED, CaseStatus.WITHDRAWN)


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        *,
        full_name: str,
        reporter_id: uuid.UUID | None,
        aliases: Sequence[str] = (),
        sex: Sex = Sex.UNKNOWN,
        priority: CasePriority = CasePriority.NORMAL,
        status: CaseStatus = CaseStatus.OPEN,
        **details: Any,
    ) -> Case:
        """Open a case; ``details`` may set any other editable field. Consent given here counts as
        recorded now unless ``consent_recorded_at`` says otherwise."""
        _check_fields(details)
        details.setdefault("consent_recorded_at", sa.func.now() if details.get("consent_biometric") else None)
        case = Case(
            full_name=full_name,
            aliases=list(aliases),
            sex=sex,
            priority=priority,
            reporter_id=reporter_id,
            status=status,
            **details,
        )
        self.session.add(case)
        self.session.flush()
        return case

    def get(self, *, case_id: uuid.UUID, lock: bool = False) -> Case:
        return get_or_raise(self.session, Case, case_id, lock=lock)

    def update(self, *, case_id: uuid.UUID, changes: Mapping[str, Any]) -> Case:
        """Change editable fields; moving to a closed status stamps ``closed_at``."""
        _check_fields(changes)
        case = self.get(case_id=case_id, lock=True)
        for name, value in changes.items():
            setattr(case, name, list(value) if name == "aliases" else value)
        if "status" in changes:
            case.closed_at = sa.func.now() if changes["status"] in _CLOSED else None
        self.session.flush()
        return case

    def find(
        self,
        *,
        text: str | None = None,
        statuses: Sequence[CaseStatus] = (),
        priorities: Sequence[CasePriority] = (),
        assignee_id: uuid.UUID | None = None,
        reporter_id: uuid.UUID | None = None,
        visible_to: uuid.UUID | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        last_seen_from: datetime | None = None,
        last_seen_to: datetime | None = None,
        has_matches: bool | None = None,
        sort: CaseSort = "created",
        descending: bool = True,
        page: int = 1,
        page_size: int = 50,
    ) -> Page[Case]:
        """Cases matching every given filter, one page of them, with the total.

        text: words matched as prefixes against names and aliases ("jo sm" finds "John Smith").
        visible_to: only cases this user reported or was granted (how reporters see cases).
        """
        if sort not in _SORTS:
            raise InvalidArgumentError(f"cannot sort cases by {sort!r}; use one of {', '.join(_SORTS)}")
        query = sa.select(Case)
        conditions = [
            Case.status.in_(statuses) if statuses else None,
            Case.priority.in_(priorities) if priorities else None,
            Case.assignee_id == assignee_id if assignee_id else None,
            Case.reporter_id == reporter_id if reporter_id else None,
            Case.created_at >= created_from if created_from else None,
            Case.created_at < created_to if created_to else None,
            Case.last_seen_at >= last_seen_from if last_seen_from else None,
            Case.last_seen_at < last_seen_to if last_seen_to else None,
        ]
        query = query.where(*(c for c in conditions if c is not None))
        if visible_to is not None:
            granted = sa.select(CaseGrant.case_id).where(CaseGrant.user_id == visible_to)
            query = query.where(sa.or_(Case.reporter_id == visible_to, Case.id.in_(granted)))
        if has_matches is not None:
            # A reporter learns of confirmed matches only, never of pending or rejected ones.
            decided = [Match.status == ReviewStatus.CONFIRMED] if visible_to is not None else []
            matched = sa.exists().where(Match.case_id == Case.id, *decided)
            query = query.where(matched if has_matches else ~matched)
        if text is not None:
            words = re.findall(r"\w+", text)
            if not words:
                raise InvalidArgumentError("the search text has no letters or digits")
            query = query.where(
                Case.search_vector.op("@@")(sa.func.to_tsquery("simple", " & ".join(f"{w}:*" for w in words)))
            )
        order = _SORTS[sort].desc().nulls_last() if descending else _SORTS[sort].asc().nulls_last()
        return paginate(self.session, query.order_by(order, Case.number), page=page, page_size=page_size)

    def due_for_erasure(self, *, on: date) -> list[uuid.UUID]:
        """Cases whose retention date has passed: the daily cleanup erases them."""
        return list(self.session.scalars(sa.select(Case.id).where(Case.retention_until < on).order_by(Case.number)))


def _check_fields(changes: Mapping[str, Any]) -> None:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidArgumentError(f"cases have no editable field(s) {', '.join(sorted(unknown))}")
