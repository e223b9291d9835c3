"""Candidate matches and their review by people (never decided by the machine)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.ages import AgeGap
from storage.errors import ConflictError, InvalidArgumentError, InvalidTransitionError
from storage.repositories.common import Page, get_or_raise, paginate
from storage.tables import Case, CasePriority, Match, MatchReview, ReviewDecision, ReviewStatus

# What each decision may follow. A decided match must be reopened before it is decided again.
ALLOWED: dict[ReviewStatus, frozenset[ReviewDecision]] = {
    ReviewStatus.PENDING: frozenset({ReviewDecision.CONFIRM, ReviewDecision.REJECT, ReviewDecision.INCONCLUSIVE}),
    ReviewStatus.INCONCLUSIVE: frozenset({ReviewDecision.CONFIRM, ReviewDecision.REJECT, ReviewDecision.REOPEN}),
    ReviewStatus.CONFIRMED: frozenset({ReviewDecision.REOPEN}),
    ReviewStatus.REJECTED: frozenset({ReviewDecision.REOPEN}),
}
_OUTCOME = {
    ReviewDecision.CONFIRM: ReviewStatus.CONFIRMED,
    ReviewDecision.REJECT: ReviewStatus.REJECTED,
    ReviewDecision.INCONCLUSIVE: ReviewStatus.INCONCLUSIVE,
    ReviewDecision.REOPEN: ReviewStatus.PENDING,
}

# What is waiting for a person: never decided, or decided inconclusive.
UNDECIDED = (ReviewStatus.PENDING, ReviewStatus.INCONCLUSIVE)
_URGENCY = sa.case(
    {CasePriority.URGENT: 0, CasePriority.HIGH: 1, CasePriority.NORMAL: 2, CasePriority.LOW: 3},
    value=Case.priority,
    else_=4,
)


class MatchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        *,
        case_id: uuid.UUID,
        face_id: uuid.UUID,
        reference_face_id: uuid.UUID | None,
        similarity: float,
        false_accept_rate: float,
        pack: str,
        threshold: float,
        operating_far: float | None = None,
        gallery_faces: int | None = None,
        centroid: tuple[float, float] | None = None,
        age_gap: AgeGap | None = None,
    ) -> tuple[Match, bool]:
        """The match of this case and face, and whether this call created it: re-runs add nothing.

        operating_far, gallery_faces: the operating point ``threshold`` belongs to; centroid: (similarity,
        per-case FAR) of the face against the case's centroid, for cases of several photos; age_gap: the match
        was put forward by rank across an age gap (a child's reference photo), not by the threshold.
        """
        statement = (
            insert(Match)
            .values(
                id=uuid.uuid4(),
                case_id=case_id,
                face_id=face_id,
                reference_face_id=reference_face_id,
                similarity=similarity,
                false_accept_rate=false_accept_rate,
                pack=pack,
                threshold=threshold,
                operating_far=operating_far,
                gallery_faces=gallery_faces,
                centroid_similarity=centroid[0] if centroid else None,
                centroid_false_accept_rate=centroid[1] if centroid else None,
                age_gap=age_gap is not None,
                reference_age_years=age_gap.reference_age_years if age_gap else None,
                years_apart=age_gap.years_apart if age_gap else None,
                status=ReviewStatus.PENDING,
            )
            .on_conflict_do_nothing(index_elements=["case_id", "face_id"])
            .returning(Match.id)
        )
        created = self.session.execute(statement).scalar_one_or_none() is not None
        match = self.session.scalars(sa.select(Match).where(Match.case_id == case_id, Match.face_id == face_id)).one()
        return match, created

    def get(self, *, match_id: uuid.UUID, lock: bool = False) -> Match:
        return get_or_raise(self.session, Match, match_id, lock=lock)

    def find(
        self,
        *,
        case_ids: Sequence[uuid.UUID] | None = None,
        statuses: Sequence[ReviewStatus] = (),
        min_similarity: float | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        age_gap: bool | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> Page[Match]:
        """Matches, most similar first, filtered by case, status, score, date and age gap (put forward by rank)."""
        conditions = [
            Match.age_gap.is_(age_gap) if age_gap is not None else None,
            Match.case_id.in_(case_ids) if case_ids is not None else None,
            Match.status.in_(statuses) if statuses else None,
            Match.similarity >= min_similarity if min_similarity is not None else None,
            Match.created_at >= created_from if created_from else None,
            Match.created_at < created_to if created_to else None,
        ]
        query = sa.select(Match).where(*(c for c in conditions if c is not None))
        return paginate(self.session, query.order_by(Match.similarity.desc(), Match.id), page=page, page_size=page_size)

    def queue(self, *, reviewer_id: uuid.UUID, page: int = 1, page_size: int = 50) -> Page[Match]:
        """Undecided matches of open cases, most urgent case first, then most similar.

        Leaves out the matches this reviewer confirmed first: the second confirmation is someone else's.
        """
        return paginate(self.session, self._queue_query(reviewer_id), page=page, page_size=page_size)

    def take_next(self, *, reviewer_id: uuid.UUID, hold: timedelta) -> Match | None:
        """Claim the first match of the queue nobody else holds (None when there is none)."""
        free = sa.or_(
            Match.claimed_until.is_(None), Match.claimed_until < sa.func.now(), Match.claimed_by_id == reviewer_id
        )
        query = self._queue_query(reviewer_id).where(free).limit(1).with_for_update(of=Match, skip_locked=True)
        match = self.session.scalars(query).first()
        return self.claim(match_id=match.id, reviewer_id=reviewer_id, hold=hold) if match else None

    def claim(self, *, match_id: uuid.UUID, reviewer_id: uuid.UUID, hold: timedelta) -> Match:
        """Hold an undecided match for ``hold``; ConflictError while another reviewer holds it."""
        match = self.get(match_id=match_id, lock=True)
        if match.status not in UNDECIDED:
            raise InvalidTransitionError(f"a {match.status} match is not waiting for review")
        self._check_not_held(match, reviewer_id)
        match.claimed_by_id, match.claimed_until = reviewer_id, sa.func.now() + hold
        self.session.flush()
        self.session.refresh(match)
        return match

    def release(self, *, match_id: uuid.UUID, reviewer_id: uuid.UUID) -> Match:
        """Give a held match back to the queue (only its holder can; an expired hold is anyone's)."""
        match = self.get(match_id=match_id, lock=True)
        self._check_not_held(match, reviewer_id)
        match.claimed_by_id, match.claimed_until = None, None
        self.session.flush()
        return match

    def _check_not_held(self, match: Match, reviewer_id: uuid.UUID) -> None:
        if match.claimed_by_id in (None, reviewer_id) or match.claimed_until is None:
            return
        now: datetime = self.session.execute(sa.select(sa.func.now())).scalar_one()
        if now < match.claimed_until:
            raise ConflictError(f"another reviewer holds this match until {match.claimed_until:%H:%M:%S %Z}")

    def _queue_query(self, reviewer_id: uuid.UUID) -> sa.Select[Any]:
        not_mine = sa.or_(Match.first_confirmed_by_id.is_(None), Match.first_confirmed_by_id != reviewer_id)
        return (
            sa.select(Match)
            .join(Case, Case.id == Match.case_id)
            .where(Match.status.in_(UNDECIDED), Case.matchable, not_mine)
            .order_by(_URGENCY, Match.similarity.desc(), Match.created_at, Match.id)
        )

    def review(
        self,
        *,
        match_id: uuid.UUID,
        reviewer_id: uuid.UUID,
        decision: ReviewDecision,
        pack: str,
        threshold: float,
        note: str | None = None,
        confirmations_required: int = 1,
    ) -> Match:
        """Apply one reviewer's decision, or raise InvalidTransitionError naming why not.

        With ``confirmations_required=2`` (the two-person rule) a first confirmation is recorded
        and the match stays undecided until a different reviewer confirms it too.
        """
        if confirmations_required not in (1, 2):
            raise InvalidArgumentError("a match needs one or two confirmations")
        match = self.get(match_id=match_id, lock=True)
        self._check_not_held(match, reviewer_id)
        if decision not in ALLOWED[match.status]:
            raise InvalidTransitionError(f"a {match.status} match cannot take the decision {decision}")
        status = _OUTCOME[decision]
        if decision is ReviewDecision.CONFIRM and confirmations_required == 2:
            if match.first_confirmed_by_id == reviewer_id:
                raise InvalidTransitionError("the second confirmation must come from a different reviewer")
            if match.first_confirmed_by_id is None:
                match.first_confirmed_by_id, status = reviewer_id, match.status
        if decision is not ReviewDecision.CONFIRM:
            match.first_confirmed_by_id = None
        match.status, match.reviewed_at = status, sa.func.now()
        match.claimed_by_id, match.claimed_until = None, None
        if note is not None:
            match.notes = note
        self.session.add(
            MatchReview(
                match_id=match.id,
                reviewer_id=reviewer_id,
                decision=decision,
                status_after=status,
                note=note,
                pack=pack,
                threshold=threshold,
            )
        )
        self.session.flush()
        return match

    def reviews(self, *, match_id: uuid.UUID) -> list[MatchReview]:
        query = sa.select(MatchReview).where(MatchReview.match_id == match_id).order_by(MatchReview.created_at)
        return list(self.session.scalars(query))
