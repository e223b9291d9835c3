"""The whole story, over HTTP, with a real SMTP server and a real webhook receiver.

A reporter opens a case with photos; a supervisor assigns it; the investigator, who asked for
e-mail and webhooks, records a sighting of the same person; a pending match appears and reaches
the investigator by e-mail and by a signed webhook; the investigator confirms it and a supervisor
gives the second, deciding confirmation; the reporter is told; and the audit chain verifies and lists every step.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

from storage.tables import Role
from tests.helpers import eventually
from tests.serving.conftest import PASSWORD, Inbox, Receiver, Service, pack_threshold

PERSON = "deepface_id08"


def _new_user(service: Service, role: Role) -> tuple[uuid.UUID, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@story.example.org"
    with service.client(Role.ADMIN) as api:
        reply = api.post(
            "/users", json={"email": email, "full_name": f"Story {role}", "role": role, "password": PASSWORD}
        )
    assert reply.status_code == 201, reply.text
    return uuid.UUID(reply.json()["id"]), service.sign_in(email)["access_token"]


def test_from_missing_to_confirmed(service: Service, faces_dir: Path, inbox: Inbox, receiver: Receiver) -> None:
    photos = sorted((faces_dir / "people" / PERSON).iterdir())
    investigator_id, investigator = _new_user(service, Role.INVESTIGATOR)
    _, second_supervisor = _new_user(service, Role.SUPERVISOR)

    with service.client(Role.REPORTER) as reporter:
        opened = reporter.post(
            "/cases",
            json={"full_name": "Grace Wambui", "aliases": ["Shiro"], "consent_biometric": True, "priority": "high"},
        )
        assert opened.status_code == 201, opened.text
        case = opened.json()
        for photo in photos[:3]:
            enrolled = reporter.post(f"/cases/{case['id']}/photos", files={"photo": (photo.name, photo.read_bytes())})
            assert enrolled.status_code == 201, enrolled.text
    with service.client(Role.SUPERVISOR) as supervisor:
        assert case["status"] == "submitted"  # a reporter's case waits to be accepted
        assigned = supervisor.patch(
            f"/cases/{case['id']}",
            json={"assignee_id": str(investigator_id), "status": "open", "consent_biometric": True},
        )
        assert assigned.status_code == 200 and assigned.json()["assignee_id"] == str(investigator_id)

    with service.as_token(investigator) as api:
        mail = api.put(
            "/notifications/preferences",
            json={
                "kind": "match_found",
                "channel": "email",
                "enabled": True,
                "target": "investigator@story.example.org",
            },
        )
        hook = api.put(
            "/notifications/preferences",
            json={"kind": "match_found", "channel": "webhook", "enabled": True, "target": receiver.url},
        )
        assert mail.status_code == hook.status_code == 200
        secret = hook.json()["signing_secret"]
        sighting = api.post("/sightings", files={"photo": (photos[3].name, photos[3].read_bytes())})
        assert sighting.status_code == 201, sighting.text
        matches = [m for face in sighting.json()["faces"] for m in face["matches"] if m["case_id"] == case["id"]]
        assert len(matches) == 1 and matches[0]["status"] == "pending"
        match_id = matches[0]["match_id"]
        notes = eventually(lambda: [n for n in api.get("/notifications").json()["items"] if n["match_id"] == match_id])
        assert notes[0]["kind"] == "match_found" and f"case {case['number']}" in notes[0]["title"]

    message = eventually(lambda: [m for m in inbox.messages if m["To"] == "investigator@story.example.org"])[0]
    assert f"case {case['number']}" in message["Subject"] and "Grace" not in message.as_string()
    headers, body = eventually(lambda: [c for c in receiver.calls if json.loads(c[1])["match_id"] == match_id])[0]
    expected = hmac.new(secret.encode(), headers["x-sura-timestamp"].encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers["x-sura-signature"], "sha256=" + expected.hexdigest())
    assert "Grace" not in body.decode()

    with service.as_token(investigator) as api:
        first = api.post(f"/matches/{match_id}/review", json={"decision": "confirm", "note": "same ears"})
        again = api.post(f"/matches/{match_id}/review", json={"decision": "confirm"})
    assert first.status_code == 200 and first.json()["status"] == "pending"
    assert first.json()["first_confirmed_by_id"] == str(investigator_id)
    assert again.status_code == 409 and "different reviewer" in again.json()["detail"]
    with service.as_token(second_supervisor) as supervisor:
        second = supervisor.post(f"/matches/{match_id}/review", json={"decision": "confirm"})
        reviews = supervisor.get(f"/matches/{match_id}/reviews").json()
    assert second.status_code == 200 and second.json()["status"] == "confirmed"
    assert [r["decision"] for r in reviews] == ["confirm", "confirm"]
    assert all(r["pack"] == "shared-scrfd" and abs(r["threshold"] - pack_threshold()) < 1e-3 for r in reviews)

    with service.client(Role.REPORTER) as reporter:
        told = eventually(
            lambda: [
                n
                for n in reporter.get("/notifications").json()["items"]
                if n["kind"] == "match_confirmed" and n["match_id"] == match_id
            ]
        )
        assert told and reporter.get("/notifications/unread-count").json()["unread"] >= 1

    with service.client(Role.AUDITOR) as auditor:
        assert auditor.get("/audit/verify").json() | {"checked": 0} == {
            "ok": True,
            "checked": 0,
            "first_bad_seq": None,
            "reason": None,
        }
        entries = []
        for target in (case["id"], match_id, sighting.json()["image_id"]):
            entries += auditor.get("/audit", params={"target_id": target, "page_size": 200}).json()["items"]
    actions = sorted(e["action"] for e in entries)
    assert actions == sorted(
        [
            "case.create",
            *["case.photo.enrol"] * 3,
            *["case.retro_search"] * 3,
            "case.update",
            "sighting.record",
            "match.review",
            "match.review",
        ]
    ), actions
    assert "Grace" not in json.dumps(entries)
