"""1:N through the API: searches report the operating point of the gallery they searched, and a child's
reference photo taken years before a sighting puts the case forward by rank, flagged, whatever the
threshold says; ages reach the matchers when a case's date of birth changes."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from models.registry import PackSources, resolve_pack
from pipeline.calibration import operating_point
from storage.tables import Case, Face, Role
from tests.helpers import eventually
from tests.serving.conftest import PACK, Service

# Two people the test pack scores about 0.23 apart: above the age-gap floor (FAR 1e-1), under any threshold.
REFERENCE = "deepface_id01/img7.jpg"
LATER = "deepface_id07/img26.jpg"


def _copy(path: Path) -> bytes:
    """The photo re-encoded: the same face in a file no other test stores (photos are stored once)."""
    out = io.BytesIO()
    Image.open(path).convert("RGB").save(out, "JPEG", quality=93)
    return out.getvalue()


@pytest.fixture(scope="module")
def child_case(service: Service, faces_dir: Path) -> Iterator[dict[str, Any]]:
    """An open, consented case with one reference photo taken in 2008, the date of birth not yet known."""
    with service.client(Role.SUPERVISOR) as api:
        case = api.post("/cases", json={"full_name": "Age Gap Child", "consent_biometric": True}).json()
        reply = api.post(
            f"/cases/{case['id']}/photos",
            files={"photo": ("child.jpg", _copy(faces_dir / "people" / REFERENCE))},
            data={"taken_at": "2008-06-01T12:00:00Z"},
        )
        assert reply.status_code == 201, reply.text
        yield case
        api.patch(f"/cases/{case['id']}", json={"status": "closed"})  # out of the galleries of later tests


def _candidate(api: httpx.Client, photo: bytes, case_id: str) -> dict[str, Any] | None:
    reply = api.post("/search", files={"photo": ("later.jpg", photo)}, params={"k": 1})
    assert reply.status_code == 200, reply.text
    return next((c for f in reply.json()["faces"] for c in f["candidates"] if c["case_id"] == case_id), None)


def test_a_search_reports_the_operating_point_of_the_gallery(
    service: Service, child_case: dict[str, Any], faces_dir: Path, upload: Callable
) -> None:
    with service.client(Role.INVESTIGATOR) as api:
        body = api.post("/search", files=upload(faces_dir / "people" / LATER)).json()
    point = body["operating_point"]
    with service.db.transaction() as session:
        query = sa.select(Face.case_id).join(Case, Case.id == Face.case_id).where(Face.pack == PACK, Case.matchable)
        photos = list(session.execute(query.add_columns(sa.func.count()).group_by(Face.case_id)).tuples())
    faces, several = sum(n for _, n in photos), sum(n >= 2 for _, n in photos)
    calibration = resolve_pack(PACK, PackSources()).calibration
    expected = operating_point(calibration, faces, max_wrong=0.1, multi_photo_cases=several)
    assert point["gallery_faces"] == faces > 0 and point["comparisons"] == expected.comparisons
    assert point["false_accept_rate"] == pytest.approx(expected.far)
    assert point["threshold"] == body["threshold"] == pytest.approx(expected.threshold, abs=1e-6)
    assert point["expected_wrong_candidates"] == pytest.approx(min(0.1, expected.comparisons * 1e-3))
    assert {int(m) for m in point["centroid_thresholds"]} == {m for m, _ in calibration.centroid}
    for face in body["faces"]:
        assert all(c["above_threshold"] == (c["similarity"] >= point["threshold"]) for c in face["candidates"])


def test_a_childs_photo_years_before_puts_the_case_forward_flagged(
    service: Service, child_case: dict[str, Any], faces_dir: Path
) -> None:
    later, case_id = _copy(faces_dir / "people" / LATER), child_case["id"]
    with service.client(Role.INVESTIGATOR) as api:
        before = _candidate(api, later, case_id)
        assert before is None or (before["age_gap"] is None and not before["above_threshold"]), before
    with service.client(Role.SUPERVISOR) as api:  # born 2002: the reference photo shows a six-year-old
        assert api.patch(f"/cases/{case_id}", json={"date_of_birth": "2002-06-01"}).status_code == 200
    with service.client(Role.INVESTIGATOR) as api:
        eventually(lambda: (_candidate(api, later, case_id) or {}).get("age_gap") is not None, within=10)
        flagged = _candidate(api, later, case_id)
        assert flagged is not None and not flagged["above_threshold"]
        assert flagged["age_gap"]["reference_age_years"] == pytest.approx(6.0)
        assert flagged["age_gap"]["years_apart"] >= 18
        sighting = api.post("/sightings", files={"photo": ("later.jpg", later)})
        assert sighting.status_code == 201, sighting.text
        [match] = [m for f in sighting.json()["faces"] for m in f["matches"] if m["case_id"] == case_id]
        assert match["age_gap"] and match["status"] == "pending"
        detail = api.get(f"/matches/{match['match_id']}").json()
    assert detail["age_gap"] and detail["reference_age_years"] == pytest.approx(6.0) and detail["years_apart"] >= 18
    assert detail["similarity"] < detail["threshold"], "put forward by rank, under the threshold"
    assert detail["operating_far"] > 0 and detail["gallery_faces"] >= 1
    with service.client(Role.INVESTIGATOR) as api:
        flagged_only = api.get("/matches", params={"case_id": case_id, "age_gap": True}).json()
        unflagged = api.get("/matches", params={"case_id": case_id, "age_gap": False}).json()
    assert [m["id"] for m in flagged_only["items"]] == [match["match_id"]] and unflagged["total"] == 0

    with service.client(Role.SUPERVISOR) as api:  # born 1978: the same photo shows an adult of 30
        assert api.patch(f"/cases/{case_id}", json={"date_of_birth": "1978-06-01"}).status_code == 200
    with service.client(Role.INVESTIGATOR) as api:
        eventually(lambda: (_candidate(api, later, case_id) or {}).get("age_gap") is None, within=10)
