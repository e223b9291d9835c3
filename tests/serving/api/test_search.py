"""End to end over HTTP: enrol reference photos, search held-back photos, record sightings."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.repositories.cases import CaseRepository
from storage.tables import Match, ReviewStatus, Role
from tests.serving.conftest import Service, pack_threshold

IDENTITIES = ("deepface_id01", "deepface_id03", "deepface_id07", "fr_guido_van_rossum", "fr_steve_wozniak")


@pytest.fixture(scope="module")
def enrolled(service: Service, faces_dir: Path) -> dict[str, tuple[uuid.UUID, list[Path]]]:
    """A case per identity with its first three photos enrolled; the rest are held back."""
    cases = {}
    with service.db.transaction() as session:
        for name in IDENTITIES:
            cases[name] = (
                CaseRepository(session)
                .create(full_name=name, reporter_id=service.users[Role.REPORTER], consent_biometric=True)
                .id
            )
    result = {}
    with service.client(Role.INVESTIGATOR) as api:
        for name in IDENTITIES:
            photos = sorted((faces_dir / "people" / name).iterdir())
            for photo in photos[:3]:
                reply = api.post(f"/cases/{cases[name]}/photos", files={"photo": (photo.name, photo.read_bytes())})
                assert reply.status_code == 201, (name, photo.name, reply.text)
            result[name] = (cases[name], photos[3:])
    _wait_for_gallery(service, faces=3 * len(IDENTITIES))
    return result


def _wait_for_gallery(service: Service, *, faces: int, timeout: float = 10.0) -> None:
    from ray import serve

    matcher = serve.get_deployment_handle("Matcher", app_name="sura")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(matcher.status.remote().result()["faces"] >= faces for _ in range(4)):
            return
        time.sleep(0.1)
    raise AssertionError("the matchers did not receive the enrolled faces")


def test_held_back_photos_find_their_case_first(service: Service, enrolled: dict, upload: Callable) -> None:
    probes = 0
    with service.client(Role.INVESTIGATOR) as api:
        for name, (case_id, held_back) in enrolled.items():
            for photo in held_back:
                reply = api.post("/search", files=upload(photo), params={"k": 3})
                assert reply.status_code == 200, reply.text
                body = reply.json()
                best = max(body["faces"], key=lambda f: f["face"]["box"][2] - f["face"]["box"][0])
                top = best["candidates"][0]
                assert top["case_id"] == str(case_id), (name, photo.name, best["candidates"])
                assert top["above_threshold"] and 0 < top["false_accept_rate"] <= 1e-2
                probes += 1
    assert probes >= 10


def test_someone_not_enrolled_has_no_candidate_above_threshold(
    service: Service, enrolled: dict, faces_dir: Path, upload: Callable
) -> None:
    with service.client(Role.SUPERVISOR) as api:
        reply = api.post("/search", files=upload(faces_dir / "scenes" / "fr_test_unknown_elon_musk.jpg"))
    body = reply.json()
    assert reply.status_code == 200 and body["faces"]
    assert all(not c["above_threshold"] for face in body["faces"] for c in face["candidates"])
    assert body["threshold"] == pytest.approx(pack_threshold(), abs=1e-3)


def test_sighting_records_pending_matches_once(service: Service, enrolled: dict, upload: Callable) -> None:
    case_id, held_back = enrolled["fr_guido_van_rossum"]
    with service.client(Role.INVESTIGATOR) as api:
        first = api.post("/sightings", files=upload(held_back[0]))
        again = api.post("/sightings", files=upload(held_back[0]))
    assert first.status_code == again.status_code == 201
    one, two = first.json(), again.json()
    assert one["created"] and not two["created"] and one["image_id"] == two["image_id"]
    matches = [m for face in one["faces"] for m in face["matches"]]
    assert [m["case_id"] for m in matches] == [str(case_id)] and matches[0]["status"] == "pending"
    assert [m["match_id"] for face in two["faces"] for m in face["matches"]] == [matches[0]["match_id"]]
    with service.db.transaction() as session:
        stored = session.scalars(sa.select(Match).where(Match.case_id == case_id)).all()
    assert len(stored) == 1 and stored[0].status is ReviewStatus.PENDING


def test_search_stores_nothing(service: Service, enrolled: dict, upload: Callable, faces_dir: Path) -> None:
    from storage.tables import Image

    with service.db.transaction() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(Image))
    with service.client(Role.INVESTIGATOR) as api:
        assert api.post("/search", files=upload(faces_dir / "scenes" / "t1.jpg")).status_code == 200
    with service.db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Image)) == before
