"""Cases: filtered, sorted, paginated listing and prefix search on names and aliases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from storage.database import Database
from storage.errors import InvalidArgumentError, NotFoundError
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository
from storage.repositories.matches import MatchRepository
from storage.repositories.users import UserRepository
from storage.tables import Access, CasePriority, CaseStatus, Role
from tests.storage.helpers import add_image, new_faces, unit_vectors


@pytest.fixture()
def seeded(db: Database, make_user) -> dict:
    reporter, other, investigator = make_user(Role.REPORTER), make_user(Role.REPORTER), make_user()
    seen = datetime(2026, 5, 1, tzinfo=UTC)
    with db.transaction() as session:
        cases = CaseRepository(session)
        made = {
            "amina": cases.create(
                full_name="Amina Wanjiru Hassan",
                aliases=["Mimi"],
                reporter_id=reporter.id,
                priority=CasePriority.URGENT,
                last_seen_at=seen,
                assignee_id=investigator.id,
            ),
            "jose": cases.create(
                full_name="José Núñez",
                aliases=["Pepe", "Joselito"],
                reporter_id=other.id,
                last_seen_at=seen + timedelta(days=3),
            ),
            "yohannes": cases.create(
                full_name="ዮሐንስ Yohannes Tesfaye",
                reporter_id=other.id,
                priority=CasePriority.LOW,
                retention_until=date(2026, 1, 1),
            ),
        }
        cases.update(case_id=made["yohannes"].id, changes={"status": CaseStatus.FOUND_ALIVE})
        UserRepository(session).grant(
            user_id=reporter.id, case_id=made["jose"].id, access=Access.VIEW, granted_by_id=None
        )
    return {"reporter": reporter, "investigator": investigator, **made}


def _names(page) -> list[str]:
    return [case.full_name for case in page.items]


def test_text_search_finds_prefixes_of_names_and_aliases(db: Database, seeded: dict) -> None:
    with db.transaction() as session:
        cases = CaseRepository(session)
        assert _names(cases.find(text="amin hass")) == ["Amina Wanjiru Hassan"]
        assert _names(cases.find(text="joseli")) == ["José Núñez"]
        assert _names(cases.find(text="núñez")) == ["José Núñez"]
        assert _names(cases.find(text="NÚÑ")) == ["José Núñez"]
        assert _names(cases.find(text="ዮሐ")) == ["ዮሐንስ Yohannes Tesfaye"]
        assert cases.find(text="amina pepe").total == 0
        with pytest.raises(InvalidArgumentError, match="no letters"):
            cases.find(text="&|!:*")


def test_filters_sorting_and_pages(db: Database, seeded: dict) -> None:
    with db.transaction() as session:
        cases = CaseRepository(session)
        assert _names(cases.find(statuses=[CaseStatus.OPEN], sort="last_seen")) == [
            "José Núñez",
            "Amina Wanjiru Hassan",
        ]
        assert _names(cases.find(sort="priority"))[0] == "Amina Wanjiru Hassan"
        assert _names(cases.find(sort="priority", descending=False))[0] == "ዮሐንስ Yohannes Tesfaye"
        assert _names(cases.find(assignee_id=seeded["investigator"].id)) == ["Amina Wanjiru Hassan"]
        assert set(_names(cases.find(visible_to=seeded["reporter"].id))) == {"Amina Wanjiru Hassan", "José Núñez"}
        first = cases.find(sort="number", descending=False, page=1, page_size=2)
        second = cases.find(sort="number", descending=False, page=2, page_size=2)
        assert (first.total, len(first.items), len(second.items)) == (3, 2, 1)
        assert _names(first) + _names(second) == ["Amina Wanjiru Hassan", "José Núñez", "ዮሐንስ Yohannes Tesfaye"]
        assert cases.find(has_matches=True).total == 0 and cases.find(has_matches=False).total == 3
        later = datetime(2026, 5, 2, tzinfo=UTC)
        assert _names(cases.find(last_seen_from=later)) == ["José Núñez"]
        with pytest.raises(InvalidArgumentError, match="cannot sort"):
            cases.find(sort="secret_column")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="page_size"):
            cases.find(page_size=10_000)


def test_updates_and_lookups(db: Database, seeded: dict) -> None:
    with db.transaction() as session:
        cases = CaseRepository(session)
        closed = cases.get(case_id=seeded["yohannes"].id)
        assert closed.status is CaseStatus.FOUND_ALIVE and closed.closed_at is not None
        assert cases.due_for_erasure(on=date(2026, 6, 1)) == [closed.id]
        with pytest.raises(InvalidArgumentError, match="reporter_id"):
            cases.update(case_id=closed.id, changes={"reporter_id": None})
        with pytest.raises(NotFoundError, match="no cases row"):
            cases.get(case_id=seeded["reporter"].id)
        updated = cases.update(case_id=seeded["jose"].id, changes={"aliases": ("Pepito",)})
        assert updated.aliases == ["Pepito"]
        session.flush()
        assert _names(cases.find(text="pepito")) == ["José Núñez"]


def test_has_matches(db: Database, seeded: dict) -> None:

    with db.transaction() as session:
        [face] = FaceRepository(session).add(
            image_id=add_image(session), pack="p", faces=new_faces(unit_vectors(1, 8, 0))
        )
        MatchRepository(session).record(
            case_id=seeded["jose"].id,
            face_id=face.id,
            reference_face_id=None,
            similarity=0.7,
            false_accept_rate=1e-4,
            pack="p",
            threshold=0.4,
        )
        assert _names(CaseRepository(session).find(has_matches=True)) == ["José Núñez"]
