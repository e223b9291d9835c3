"""Erasing a case leaves no row of it behind, and an audit entry without personal data."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from storage.audit import AuditLog
from storage.database import Database
from storage.erasure import ErasureReason, erase_case
from storage.errors import NotFoundError
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository
from storage.repositories.matches import MatchRepository
from storage.repositories.notifications import NotificationRepository
from storage.repositories.users import UserRepository
from storage.tables import (
    Access,
    Case,
    CaseGrant,
    Face,
    Image,
    ImageSource,
    Match,
    MatchReview,
    Notification,
    NotificationKind,
    ReviewDecision,
    Role,
)
from tests.storage.helpers import add_image, new_faces, unit_vectors

NAME = "Wanjiku Njeri Kamau"


def test_erasure_removes_everything_and_audits_without_biometrics(db: Database, make_user) -> None:
    investigator = make_user(Role.INVESTIGATOR)
    with db.transaction() as session:
        case = CaseRepository(session).create(full_name=NAME, aliases=["Shiru"], reporter_id=None)
        keep = CaseRepository(session).create(full_name="Other Person", reporter_id=None)
        faces = FaceRepository(session)
        references = [
            faces.add(
                image_id=add_image(session, ImageSource.CASE_REFERENCE, case.id),
                pack="p",
                faces=new_faces(unit_vectors(1, 16, seed)),
                case_id=case.id,
            )[0]
            for seed in range(3)
        ]
        sighting = faces.add(image_id=add_image(session), pack="p", faces=new_faces(unit_vectors(2, 16, 9)))
        kept_reference = faces.add(
            image_id=add_image(session, ImageSource.CASE_REFERENCE, keep.id),
            pack="p",
            faces=new_faces(unit_vectors(1, 16, 5)),
            case_id=keep.id,
        )[0]
        matches = MatchRepository(session)
        match, _ = matches.record(
            case_id=case.id,
            face_id=sighting[0].id,
            reference_face_id=references[0].id,
            similarity=0.8,
            false_accept_rate=1e-5,
            pack="p",
            threshold=0.4,
        )
        kept_match, _ = matches.record(
            case_id=keep.id,
            face_id=sighting[1].id,
            reference_face_id=kept_reference.id,
            similarity=0.5,
            false_accept_rate=1e-3,
            pack="p",
            threshold=0.4,
        )
        matches.review(
            match_id=match.id,
            reviewer_id=investigator.id,
            decision=ReviewDecision.CONFIRM,
            pack="p",
            threshold=0.4,
            note=f"looks like {NAME}",
        )
        notes = NotificationRepository(session)
        notes.create(
            user_id=investigator.id, kind=NotificationKind.MATCH_FOUND, title=f"Match for {NAME}", match_id=match.id
        )
        notes.create(
            user_id=investigator.id, kind=NotificationKind.CASE_UPDATED, title=f"{NAME} updated", case_id=case.id
        )
        UserRepository(session).grant(user_id=investigator.id, case_id=case.id, access=Access.EDIT, granted_by_id=None)
        case_id, number = case.id, case.number

    with db.transaction() as session:
        report = erase_case(
            session, case_id=case_id, actor=f"user:{investigator.id}", reason=ErasureReason.SUBJECT_REQUEST
        )
    assert (report.images, report.faces, report.matches, report.reviews, report.notifications, report.grants) == (
        3,
        3,
        1,
        1,
        2,
        1,
    )
    assert len(report.storage_uris) == 3 and all(uri.startswith("file:///photos/") for uri in report.storage_uris)

    with db.transaction() as session:
        for table, column in [
            (Case, Case.id),
            (Image, Image.case_id),
            (Face, Face.case_id),
            (Match, Match.case_id),
            (Notification, Notification.case_id),
            (CaseGrant, CaseGrant.case_id),
        ]:
            assert session.scalar(sa.select(sa.func.count()).select_from(table).where(column == case_id)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(MatchReview)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
        orphans = session.scalar(
            sa.select(sa.func.count()).select_from(Face).where(~Face.image_id.in_(sa.select(Image.id)))
        )
        assert orphans == 0
        assert session.get(Match, kept_match.id) is not None and session.get(Face, sighting[0].id) is not None
        searchable = FaceRepository(session).search(pack="p", vector=unit_vectors(1, 16, 0)[0], k=10, exact=True)
        assert all(hit.case_id != case_id for hit in searchable)

        log = AuditLog(session)
        [entry] = log.find(actions=["case.erase"]).items
        assert entry.target_id == str(case_id) and log.verify().ok
        assert entry.details["case_number"] == number and entry.details["reason"] == "subject_request"
        recorded = json.dumps(entry.details)
        assert all(word not in recorded for word in ("Wanjiku", "Njeri", "Kamau", "Shiru", "embedding", "file://"))
        assert all(isinstance(value, int | str) for value in entry.details.values())

    with pytest.raises(NotFoundError), db.transaction() as session:
        erase_case(session, case_id=case_id, actor="system", reason=ErasureReason.RETENTION_EXPIRED)


def test_a_sighting_matched_to_the_erased_case_only_goes_with_it(db: Database) -> None:
    with db.transaction() as session:
        case = CaseRepository(session).create(full_name=NAME, reporter_id=None)
        other = CaseRepository(session).create(full_name="Other Person", reporter_id=None)
        faces, matches = FaceRepository(session), MatchRepository(session)
        references = {
            owner.id: faces.add(
                image_id=add_image(session, ImageSource.CASE_REFERENCE, owner.id),
                pack="p",
                faces=new_faces(unit_vectors(1, 16, seed)),
                case_id=owner.id,
            )[0]
            for seed, owner in enumerate((case, other))
        }
        only_theirs = faces.add(image_id=add_image(session), pack="p", faces=new_faces(unit_vectors(2, 16, 7)))
        shared = faces.add(image_id=add_image(session), pack="p", faces=new_faces(unit_vectors(1, 16, 8)))
        for face, owner in ((only_theirs[0], case), (shared[0], case), (shared[0], other)):
            matches.record(
                case_id=owner.id,
                face_id=face.id,
                reference_face_id=references[owner.id].id,
                similarity=0.7,
                false_accept_rate=1e-4,
                pack="p",
                threshold=0.4,
            )
        gone, kept = only_theirs[0].image_id, shared[0].image_id
        case_id = case.id

    with db.transaction() as session:
        report = erase_case(session, case_id=case_id, actor="system", reason=ErasureReason.SUBJECT_REQUEST)
    assert report.sightings == 1 and len(report.storage_uris) == 2
    with db.transaction() as session:
        assert session.get(Image, gone) is None and session.get(Image, kept) is not None
        assert session.scalar(sa.select(sa.func.count()).select_from(Face).where(Face.image_id == gone)) == 0
        assert [m.case_id for m in session.scalars(sa.select(Match).where(Match.face_id == shared[0].id))] == [other.id]
        [entry] = AuditLog(session).find(actions=["case.erase"], target_id=str(case_id)).items
        assert entry.details["sightings"] == 1
