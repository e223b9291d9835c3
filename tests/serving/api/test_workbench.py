"""What reviewers see and do: face and photo images (object-level rules, every view audited),
a match with every reference face and the ages, the review queue with holds, the two-person rule,
and reference photos with several faces."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from storage.tables import AuditEntry, Role
from tests.serving.conftest import PASSWORD, Service

PERSON = "deepface_id04"  # no other test of the service enrols or records this identity


def _new_user(service: Service, role: Role) -> tuple[uuid.UUID, httpx.Client]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@workbench.example.org"
    with service.client(Role.ADMIN) as api:
        reply = api.post("/users", json={"email": email, "full_name": "Bench", "role": role, "password": PASSWORD})
    assert reply.status_code == 201, reply.text
    return uuid.UUID(reply.json()["id"]), service.as_token(service.sign_in(email)["access_token"])


@pytest.fixture(scope="module")
def bench(service: Service, faces_dir: Path) -> Iterator[dict[str, Any]]:
    """A reporter's case (born 1990) with two dated reference photos and a sighting matched to it."""
    photos = sorted((faces_dir / "people" / PERSON).iterdir())
    with service.client(Role.REPORTER) as reporter:
        case = reporter.post(
            "/cases",
            json={
                "full_name": "Bench Person",
                "date_of_birth": "1990-06-01",
                "priority": "urgent",
                "consent_biometric": True,
            },
        ).json()
        references = []
        for photo, year in ((photos[0], 2000), (photos[1], 2010)):
            reply = reporter.post(
                f"/cases/{case['id']}/photos",
                files={"photo": (photo.name, photo.read_bytes())},
                data={"taken_at": f"{year}-06-01T12:00:00Z"},
            )
            assert reply.status_code == 201, reply.text
            references.append(reply.json())
    with service.client(Role.SUPERVISOR) as supervisor:  # accepts the case, records the family's consent
        accepted = supervisor.patch(f"/cases/{case['id']}", json={"status": "open", "consent_biometric": True})
        assert accepted.status_code == 200 and accepted.json()["status"] == "open"
    with service.client(Role.INVESTIGATOR) as api:
        sighting = api.post(
            "/sightings",
            files={"photo": (photos[2].name, photos[2].read_bytes())},
            data={"taken_at": "2020-06-01T12:00:00Z"},
        ).json()
    [(face, match)] = [(f, m) for f in sighting["faces"] for m in f["matches"] if m["case_id"] == case["id"]]
    yield {"case": case, "references": references, "sighting": sighting, "face": face, "match_id": match["match_id"]}


def _views(service: Service, actor: uuid.UUID, target: str) -> list[AuditEntry]:
    with service.db.transaction() as session:
        query = sa.select(AuditEntry).where(AuditEntry.actor == f"user:{actor}", AuditEntry.target_id == target)
        return list(session.scalars(query))


def _is_jpeg(reply: httpx.Response) -> bool:
    Image.open(io.BytesIO(reply.content)).verify()
    return reply.headers["content-type"] == "image/jpeg" and "no-store" in reply.headers["cache-control"]


def test_a_match_shows_both_faces_every_reference_and_the_ages(service: Service, bench: dict[str, Any]) -> None:
    with service.client(Role.INVESTIGATOR) as api:
        view = api.get(f"/matches/{bench['match_id']}").json()
        sighting = view["sighting"]
        assert sighting["face_id"] == bench["face"]["face_id"] and sighting["age_years"] == 30.0
        assert [r["age_years"] for r in view["references"]] in ([10.0, 20.0], [20.0, 10.0])
        assert {r["face_id"] for r in view["references"]} == {r["face_id"] for r in bench["references"]}
        assert all(-1 <= r["similarity"] <= 1 and 0 < r["false_accept_rate"] <= 1 for r in view["references"])
        best = max(r["similarity"] for r in view["references"])
        assert abs(best - view["similarity"]) < 1e-3
        assert view["age_gap_years"] in (10.0, 20.0) and view["pack"] == "shared-scrfd" and view["threshold"] > 0
        assert view["case"]["number"] == bench["case"]["number"] and view["case"]["priority"] == "urgent"
        for link in (sighting["images"]["aligned"], sighting["images"]["context"], sighting["images"]["photo"]):
            assert _is_jpeg(api.get(link.removeprefix("/api/v1")))
    entries = _views(service, service.users[Role.INVESTIGATOR], sighting["face_id"])
    assert {e.details["crop"] for e in entries} >= {"aligned", "context"}
    assert all(e.details["match_id"] == bench["match_id"] and e.action == "face.view" for e in entries)
    photo_views = _views(service, service.users[Role.INVESTIGATOR], sighting["image_id"])
    assert photo_views and photo_views[-1].action == "photo.view"


def test_reporters_see_their_own_reference_faces_and_nothing_else(service: Service, bench: dict[str, Any]) -> None:
    case_id, reference = bench["case"]["id"], bench["references"][0]
    sighting = bench["face"]["face_id"]
    own = f"/faces/{reference['face_id']}/crop?case_id={case_id}"
    with service.client(Role.REPORTER) as reporter:
        assert _is_jpeg(reporter.get(own))
        assert _is_jpeg(reporter.get(f"/photos/{reference['image_id']}?case_id={case_id}&max_side=64"))
        assert (
            max(
                Image.open(
                    io.BytesIO(reporter.get(f"/photos/{reference['image_id']}?case_id={case_id}&max_side=64").content)
                ).size
            )
            == 64
        )
        # a sighting, even one matched to their case, or viewed "for a match": not found
        assert reporter.get(f"/faces/{sighting}/crop?case_id={case_id}").status_code == 404
        assert reporter.get(f"/photos/{bench['sighting']['image_id']}?case_id={case_id}").status_code == 404
        assert reporter.get(f"/faces/{reference['face_id']}/crop?match_id={bench['match_id']}").status_code == 404
        assert reporter.get(f"/faces/{uuid.uuid4()}/crop?case_id={case_id}").status_code == 404
    assert _views(service, service.users[Role.REPORTER], reference["face_id"])[-1].details == {
        "crop": "aligned",
        "case_id": case_id,
    }
    _, other_reporter = _new_user(service, Role.REPORTER)
    with other_reporter:
        assert other_reporter.get(own).status_code == 404
        assert other_reporter.get(f"/photos/{reference['image_id']}?case_id={case_id}").status_code == 404
    with service.client(Role.AUDITOR) as auditor:
        assert auditor.get(own).status_code == 403
    with service.client(Role.INVESTIGATOR) as api:
        assert _is_jpeg(api.get(f"/faces/{sighting}/crop?case_id={case_id}&kind=context"))
        assert api.get(f"/faces/{sighting}/crop").status_code == 422  # no reason given
        assert api.get(f"/faces/{sighting}/crop?case_id={uuid.uuid4()}").status_code == 404
        unrelated = api.post("/cases", json={"full_name": "Unrelated", "consent_biometric": True}).json()["id"]
        assert api.get(f"/faces/{sighting}/crop?case_id={unrelated}").status_code == 422


def test_the_queue_holds_and_the_two_person_rule(service: Service, bench: dict[str, Any]) -> None:
    match_id = bench["match_id"]
    _, other_investigator = _new_user(service, Role.INVESTIGATOR)
    with service.client(Role.INVESTIGATOR) as first, other_investigator as second:
        queue = first.get("/review/queue").json()["items"]
        urgencies = [item["case"]["priority"] for item in queue]
        assert "urgent" in urgencies and urgencies.index("urgent") == 0
        held = first.post(f"/matches/{match_id}/claim")
        assert held.status_code == 200 and held.json()["claimed_by_id"] == str(service.users[Role.INVESTIGATOR])
        assert second.post(f"/matches/{match_id}/claim").status_code == 409
        refused = second.post(f"/matches/{match_id}/review", json={"decision": "reject"})
        assert refused.status_code == 409 and "holds" in refused.json()["detail"]
        taken = second.post("/review/next")
        assert taken.status_code == 204 or taken.json()["id"] != match_id
        if taken.status_code == 200:
            assert second.delete(f"/matches/{taken.json()['id']}/claim").status_code == 200
        confirmed_once = first.post(f"/matches/{match_id}/review", json={"decision": "confirm"})
        assert confirmed_once.json()["status"] == "pending" and confirmed_once.json()["claimed_by_id"] is None
        assert match_id not in [item["id"] for item in first.get("/review/queue?page_size=200").json()["items"]]
        # the second, deciding confirmation is a supervisor's
        assert second.post(f"/matches/{match_id}/review", json={"decision": "confirm"}).status_code == 403
    with service.client(Role.SUPERVISOR) as supervisor:
        waiting = [i for i in supervisor.get("/review/queue?page_size=200").json()["items"] if i["id"] == match_id]
        assert waiting and waiting[0]["first_confirmed_by_id"] == str(service.users[Role.INVESTIGATOR])
        assert (
            supervisor.post(f"/matches/{match_id}/review", json={"decision": "confirm"}).json()["status"] == "confirmed"
        )
    with service.client(Role.INVESTIGATOR) as api:
        assert api.post(f"/matches/{match_id}/review", json={"decision": "reopen"}).status_code == 403


def test_a_reference_photo_with_several_faces_lets_the_caller_choose(service: Service, faces_dir: Path) -> None:
    scene = (faces_dir / "scenes" / "fr_two_people.jpg").read_bytes()
    with service.client(Role.INVESTIGATOR) as api:
        case_id = api.post("/cases", json={"full_name": "Two People", "consent_biometric": True}).json()["id"]
        refused = api.post(f"/cases/{case_id}/photos", files={"photo": ("s.jpg", scene)}, data={"strict": "true"})
        assert refused.status_code == 422 and refused.json()["error"] == "several_faces"
        faces = refused.json()["faces"]
        assert len(faces) >= 2 and all(f["crop_jpeg_base64"] and len(f["box"]) == 4 for f in faces)
        chosen = api.post(f"/cases/{case_id}/photos", files={"photo": ("s.jpg", scene)}, data={"face": "1"})
        assert chosen.status_code == 201, chosen.text
        assert chosen.json()["faces_found"] == len(faces) and "other_faces" in [
            w["code"] for w in chosen.json()["warnings"]
        ]
        assert abs(chosen.json()["face"]["box"][0] - faces[1]["box"][0]) < 1
        again = api.post(f"/cases/{case_id}/photos", files={"photo": ("s.jpg", scene)}, data={"face": "1"})
        assert again.status_code == 201 and not again.json()["created"]
        other = api.post(f"/cases/{case_id}/photos", files={"photo": ("s.jpg", scene)}, data={"face": "0"})
        assert other.status_code == 409  # one reference per photo
        second_case = api.post("/cases", json={"full_name": "Two People, the other", "consent_biometric": True}).json()[
            "id"
        ]
        box = ",".join(str(v) for v in faces[0]["box"])
        by_box = api.post(f"/cases/{second_case}/photos", files={"photo": ("s.jpg", scene)}, data={"face_box": box})
        assert by_box.status_code == 409  # the photo belongs to the first case: never shared
        bad = api.post(f"/cases/{case_id}/photos", files={"photo": ("s.jpg", scene)}, data={"face_box": "1,2,3"})
        assert bad.status_code == 422
