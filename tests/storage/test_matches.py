"""Matches: one per case and face, and review moves that follow the rules."""

from __future__ import annotations

import uuid

import pytest

from storage.database import Database
from storage.errors import InvalidTransitionError
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository
from storage.repositories.matches import MatchRepository
from storage.tables import ReviewDecision, ReviewStatus, Role
from tests.storage.helpers import add_image, new_faces, unit_vectors


@pytest.fixture()
def match_id(db: Database) -> uuid.UUID:
    with db.transaction() as session:
        case = CaseRepository(session).create(full_name="Grace Achieng", reporter_id=None)
        [face] = FaceRepository(session).add(
            image_id=add_image(session), pack="p", faces=new_faces(unit_vectors(1, 8, 0))
        )
        match, created = MatchRepository(session).record(
            case_id=case.id,
            face_id=face.id,
            reference_face_id=None,
            similarity=0.61,
            false_accept_rate=2e-4,
            pack="p",
            threshold=0.4,
        )
        assert created and match.status is ReviewStatus.PENDING
        again, created_again = MatchRepository(session).record(
            case_id=case.id,
            face_id=face.id,
            reference_face_id=None,
            similarity=0.99,
            false_accept_rate=0.0,
            pack="p",
            threshold=0.4,
        )
        assert not created_again and again.id == match.id and again.similarity == pytest.approx(0.61)
    return match.id


def _review(db: Database, match_id: uuid.UUID, reviewer: uuid.UUID, decision: ReviewDecision, required: int = 1):
    with db.transaction() as session:
        return MatchRepository(session).review(
            match_id=match_id,
            reviewer_id=reviewer,
            decision=decision,
            pack="p",
            threshold=0.4,
            note=f"{decision} by reviewer",
            confirmations_required=required,
        )


def test_rejected_match_must_be_reopened_before_confirming(db: Database, match_id: uuid.UUID, make_user) -> None:
    reviewer = make_user(Role.INVESTIGATOR).id
    assert _review(db, match_id, reviewer, ReviewDecision.REJECT).status is ReviewStatus.REJECTED
    with pytest.raises(InvalidTransitionError, match="a rejected match cannot take the decision confirm"):
        _review(db, match_id, reviewer, ReviewDecision.CONFIRM)
    assert _review(db, match_id, reviewer, ReviewDecision.REOPEN).status is ReviewStatus.PENDING
    assert _review(db, match_id, reviewer, ReviewDecision.INCONCLUSIVE).status is ReviewStatus.INCONCLUSIVE
    assert _review(db, match_id, reviewer, ReviewDecision.CONFIRM).status is ReviewStatus.CONFIRMED
    with pytest.raises(InvalidTransitionError):
        _review(db, match_id, reviewer, ReviewDecision.REJECT)
    with db.transaction() as session:
        history = MatchRepository(session).reviews(match_id=match_id)
        assert [r.decision for r in history] == ["reject", "reopen", "inconclusive", "confirm"]
        assert all(r.pack == "p" and r.threshold == pytest.approx(0.4) for r in history)


def test_two_person_rule(db: Database, match_id: uuid.UUID, make_user) -> None:
    first, second = make_user(Role.SUPERVISOR).id, make_user(Role.SUPERVISOR).id
    assert _review(db, match_id, first, ReviewDecision.CONFIRM, 2).status is ReviewStatus.PENDING
    with pytest.raises(InvalidTransitionError, match="different reviewer"):
        _review(db, match_id, first, ReviewDecision.CONFIRM, 2)
    confirmed = _review(db, match_id, second, ReviewDecision.CONFIRM, 2)
    assert confirmed.status is ReviewStatus.CONFIRMED and confirmed.first_confirmed_by_id == first
    _review(db, match_id, second, ReviewDecision.REOPEN, 2)
    reopened = _review(db, match_id, second, ReviewDecision.CONFIRM, 2)
    assert reopened.status is ReviewStatus.PENDING, "a reopened match needs two confirmations again"


def test_listing_filters(db: Database, match_id: uuid.UUID, make_user) -> None:
    with db.transaction() as session:
        matches = MatchRepository(session)
        assert matches.find(statuses=[ReviewStatus.PENDING]).total == 1
        assert matches.find(min_similarity=0.7).total == 0
        assert matches.find(case_ids=[]).total == 0
