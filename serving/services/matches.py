"""Match review for the API: people decide; with the two-person rule, two supervisors confirm."""

from __future__ import annotations

import uuid
from typing import Any

from serving.auth.policy import Action, authorize
from serving.services.notify import Event, Notifier, case_followers, case_workers
from serving.services.sightings import PackInfo
from storage.audit import AuditLog
from storage.database import Database
from storage.repositories.cases import CaseRepository
from storage.repositories.common import Page
from storage.repositories.matches import MatchRepository
from storage.tables import Match, MatchReview, NotificationKind, ReviewDecision, ReviewStatus, User


class MatchService:
    def __init__(self, db: Database, pack: PackInfo, *, two_person_rule: bool) -> None:
        self.db, self.pack, self.two_person_rule = db, pack, two_person_rule

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

    def review(self, user: User, match_id: uuid.UUID, decision: ReviewDecision, note: str | None) -> Match:
        """Record a decision with the pack and threshold in force; tell people when a match is confirmed."""
        authorize(user, Action.REVIEW_MATCH)
        if decision is ReviewDecision.CONFIRM and self.two_person_rule:
            authorize(user, Action.CONFIRM_MATCH)
        with self.db.transaction() as session:
            matches = MatchRepository(session)
            before = matches.get(match_id=match_id, lock=True).status
            match = matches.review(
                match_id=match_id,
                reviewer_id=user.id,
                decision=decision,
                note=note,
                pack=self.pack.name,
                threshold=self.pack.threshold,
                confirmations_required=2 if self.two_person_rule else 1,
            )
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
