"""Match review for the API: people decide; with the two-person rule, two supervisors confirm."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from serving.auth.policy import Action, authorize
from serving.metrics import metrics
from serving.services.live_gallery import PackInfo
from serving.services.match_views import MatchView, view_match
from serving.services.notify import Event, Notifier, case_followers, case_workers
from storage.audit import AuditLog
from storage.database import Database
from storage.repositories.cases import CaseRepository
from storage.repositories.common import Page
from storage.repositories.matches import MatchRepository
from storage.tables import Case, Match, MatchReview, NotificationKind, ReviewDecision, ReviewStatus, User


@dataclass(frozen=True)
class QueueEntry:
    match: Match
    case: Case


class MatchService:
    def __init__(
        self, db: Database, pack: PackInfo, *, two_person_rule: bool, hold: timedelta = timedelta(minutes=10)
    ) -> None:
        self.db, self.pack, self.two_person_rule, self.hold = db, pack, two_person_rule, hold

    def find(self, user: User, **filters: Any) -> Page[Match]:
        authorize(user, Action.READ_MATCHES)
        with self.db.transaction() as session:
            return MatchRepository(session).find(**filters)

    def get(self, user: User, match_id: uuid.UUID) -> Match:
        authorize(user, Action.READ_MATCHES)
        with self.db.transaction() as session:
            return MatchRepository(session).get(match_id=match_id)

    def reviews(self, user: User, match_id: uuid.UUID) -> list[MatchReview]:
        authorize(user, Action.READ_MATCHES)
        with self.db.transaction() as session:
            MatchRepository(session).get(match_id=match_id)
            return MatchRepository(session).reviews(match_id=match_id)

    def detail(self, user: User, match_id: uuid.UUID) -> MatchView:
        """Everything a reviewer weighs: both faces, every reference of the case, ages, the pack's rates."""
        authorize(user, Action.READ_MATCHES)
        with self.db.transaction() as session:
            return view_match(session, MatchRepository(session).get(match_id=match_id), self.pack.calibration)

    def queue(self, user: User, *, page: int, page_size: int) -> Page[QueueEntry]:
        """What waits for this reviewer: undecided matches of open cases, most urgent first."""
        authorize(user, Action.REVIEW_MATCH)
        with self.db.transaction() as session:
            found = MatchRepository(session).queue(reviewer_id=user.id, page=page, page_size=page_size)
            ids = {match.case_id for match in found.items}
            cases = {case.id: case for case in session.scalars(sa.select(Case).where(Case.id.in_(ids)))}
            entries = [QueueEntry(match=match, case=cases[match.case_id]) for match in found.items]
            return Page(items=entries, total=found.total, page=found.page, page_size=found.page_size)

    def take_next(self, user: User) -> MatchView | None:
        """Hold the first match of the queue nobody else holds and show it; None when the queue is empty."""
        authorize(user, Action.REVIEW_MATCH)
        with self.db.transaction() as session:
            match = MatchRepository(session).take_next(reviewer_id=user.id, hold=self.hold)
            return view_match(session, match, self.pack.calibration) if match else None

    def claim(self, user: User, match_id: uuid.UUID) -> Match:
        authorize(user, Action.REVIEW_MATCH)
        with self.db.transaction() as session:
            return MatchRepository(session).claim(match_id=match_id, reviewer_id=user.id, hold=self.hold)

    def release(self, user: User, match_id: uuid.UUID) -> Match:
        authorize(user, Action.REVIEW_MATCH)
        with self.db.transaction() as session:
            return MatchRepository(session).release(match_id=match_id, reviewer_id=user.id)

    def review(self, user: User, match_id: uuid.UUID, decision: ReviewDecision, note: str | None) -> Match:
        """Record a decision with the pack and threshold in force; tell people when a match is confirmed."""
        authorize(user, Action.REVIEW_MATCH)
        with self.db.transaction() as session:
            matches = MatchRepository(session)
            current = matches.get(match_id=match_id, lock=True)
            before = current.status
            self._check_decider(user, current, decision)
            match = matches.review(
                match_id=match_id,
                reviewer_id=user.id,
                decision=decision,
                note=note,
                pack=current.pack,
                threshold=current.threshold,  # the one the match was found at
                confirmations_required=2 if self.two_person_rule else 1,
            )
            metrics().reviews.inc(tags={"decision": decision.value})
            AuditLog(session).append(
                actor=f"user:{user.id}",
                action="match.review",
                target_type="match",
                target_id=match_id,
                details={"decision": decision.value, "status": match.status.value, "case_id": str(match.case_id)},
            )
            if match.status is ReviewStatus.CONFIRMED and before is not ReviewStatus.CONFIRMED:
                case = CaseRepository(session).get(case_id=match.case_id)
                event = Event(
                    NotificationKind.MATCH_CONFIRMED,
                    f"A match for case {case.number} was confirmed",
                    "Two reviewers confirmed that a sighting shows this person." if self.two_person_rule else "",
                    case_id=case.id,
                    match_id=match.id,
                )
                Notifier(session).send(event, case_followers(case) | case_workers(session, case))
            session.flush()
            session.refresh(match)
            return match

    def _check_decider(self, user: User, match: Match, decision: ReviewDecision) -> None:
        """The deciding confirmation (the second one under the two-person rule) and undoing a
        confirmed match are a supervisor's; a first confirmation may come from any reviewer."""
        second = match.first_confirmed_by_id not in (None, user.id)
        if decision is ReviewDecision.CONFIRM and self.two_person_rule and second:
            authorize(user, Action.CONFIRM_MATCH)
        if decision is ReviewDecision.REOPEN and match.status is ReviewStatus.CONFIRMED:
            authorize(user, Action.REOPEN_MATCH)
