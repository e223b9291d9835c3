"""The control plane over HTTP: cases, notifications, jobs, audit, and bad input everywhere."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from storage.jobs import JobQueue
from storage.repositories.cases import CaseRepository
from storage.tables import JobPriority, JobStatus, Role
from tests.serving.conftest import Service


def _open(service: Service, role: Role = Role.INVESTIGATOR, **fields: object) -> dict:
    body = {"full_name": "Test Person", "consent_biometric": True, **fields}
    with service.client(role) as api:
        reply = api.post("/cases", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


def test_cases_filters_search_sorting_and_pages(service: Service) -> None:
    tag = uuid.uuid4().hex[:6]
    made = [
        _open(service, full_name=f"Zawadi{tag} Achieng", aliases=[f"Zaza{tag}"], priority="urgent"),
        _open(service, full_name=f"Baraka{tag} Otieno", priority="low"),
        _open(service, Role.REPORTER, full_name=f"Neema{tag} Wanjiru"),
    ]
    with service.client(Role.SUPERVISOR) as api:
        found = api.get("/cases", params={"q": f"zaza{tag}"}).json()
        assert [c["id"] for c in found["items"]] == [made[0]["id"]] and found["total"] == 1
        assert api.get("/cases", params={"q": tag[:4] + "zzz"}).json()["total"] == 0
        urgent = api.get("/cases", params={"priority": "urgent", "q": f"zawadi{tag}"}).json()
        assert urgent["total"] == 1
        paged = api.get("/cases", params={"q": tag, "page_size": 2, "sort": "number", "descending": False})
        assert paged.status_code == 200
        everything = [
            c["id"]
            for c in api.get("/cases", params={"sort": "number", "descending": False, "page_size": 200}).json()["items"]
        ]
        assert everything.index(made[0]["id"]) < everything.index(made[1]["id"]) < everything.index(made[2]["id"])
        assert api.get("/cases", params={"sort": "password"}).status_code == 422
        assert api.get("/cases", params={"status": "lost"}).status_code == 422
    with service.client(Role.REPORTER) as api:
        mine = {c["id"] for c in api.get("/cases", params={"page_size": 200}).json()["items"]}
        assert made[2]["id"] in mine and made[0]["id"] not in mine
        assert api.get(f"/cases/{made[0]['id']}").status_code == 404  # not theirs: it does not exist for them
        assert api.get(f"/cases/{made[2]['id']}").json()["reporter_id"] == str(service.users[Role.REPORTER])


def test_case_changes_by_role(service: Service) -> None:
    case = _open(service, Role.REPORTER)
    with service.client(Role.REPORTER) as api:
        assert api.patch(f"/cases/{case['id']}", json={"description": "blue jacket"}).status_code == 200
        assert api.patch(f"/cases/{case['id']}", json={"status": "found_alive"}).status_code == 403
        assert (
            api.patch(f"/cases/{case['id']}", json={"assignee_id": str(service.users[Role.INVESTIGATOR])}).status_code
            == 403
        )
    with service.client(Role.INVESTIGATOR) as api:
        assert (
            api.patch(f"/cases/{case['id']}", json={"assignee_id": str(service.users[Role.INVESTIGATOR])}).status_code
            == 403
        )
        closed = api.patch(f"/cases/{case['id']}", json={"status": "found_alive"})
        assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    with service.client(Role.SUPERVISOR) as api:
        bad = api.patch(f"/cases/{case['id']}", json={"assignee_id": str(service.users[Role.REPORTER])})
        assert bad.status_code == 422 and "assigned" in bad.json()["detail"]
    with service.client(Role.REPORTER) as api:
        updates = [n for n in api.get("/notifications").json()["items"] if n["case_id"] == case["id"]]
        assert updates and updates[0]["kind"] == "case_updated"


def test_erasure_over_the_api(service: Service, faces_dir) -> None:
    case = _open(service)
    photo = faces_dir / "people" / "fr_rose_leslie" / "examples__knn_examples__train__rose_leslie__img1.jpg"
    with service.client(Role.INVESTIGATOR) as api:
        assert (
            api.post(f"/cases/{case['id']}/photos", files={"photo": (photo.name, photo.read_bytes())}).status_code
            == 201
        )
        assert len(api.get(f"/cases/{case['id']}/photos").json()) == 1
    with service.client(Role.ADMIN) as api:
        assert api.post(f"/cases/{case['id']}/erase", json={"reason": "because"}).status_code == 422
        erased = api.post(f"/cases/{case['id']}/erase", json={"reason": "subject_request"})
        assert erased.status_code == 200 and erased.json()["faces"] == 1
        assert api.get(f"/cases/{case['id']}").status_code == 404
        entries = api.get("/audit", params={"action": "case.erase", "target_id": case["id"]}).json()["items"]
        assert len(entries) == 1 and entries[0]["details"]["reason"] == "subject_request"


def test_notifications_read_and_preferences(service: Service) -> None:
    case = _open(service, Role.REPORTER)
    with service.client(Role.INVESTIGATOR) as api:
        api.patch(f"/cases/{case['id']}", json={"description": "seen at the bus station"})
    with service.client(Role.REPORTER) as api:
        unread = api.get("/notifications", params={"unread_only": True}).json()["items"]
        assert unread
        assert api.post(f"/notifications/{unread[0]['id']}/read").json() == {"marked": 1}
        assert api.post(f"/notifications/{uuid.uuid4()}/read").status_code == 404
        api.post("/notifications/read-all")
        assert api.get("/notifications/unread-count").json() == {"unread": 0}
        no_url = api.put(
            "/notifications/preferences", json={"kind": "case_updated", "channel": "webhook", "enabled": True}
        )
        assert no_url.status_code == 422
        off = api.put(
            "/notifications/preferences", json={"kind": "case_updated", "channel": "in_app", "enabled": False}
        )
        assert off.status_code == 200 and off.json()["signing_secret"] is None
        assert any(p["channel"] == "in_app" for p in api.get("/notifications/preferences").json())
        api.put("/notifications/preferences", json={"kind": "case_updated", "channel": "in_app", "enabled": True})


def test_jobs_list_cancel_and_retention(service: Service) -> None:
    with service.db.transaction() as session:
        expired = CaseRepository(session).create(
            full_name="Past Retention", reporter_id=None, retention_until=date.today() - timedelta(days=1)
        )
        queue = JobQueue(session)
        waiting = queue.enqueue(
            kind="archive_scan",
            created_by_id=service.users[Role.INVESTIGATOR],
            run_after=datetime.now(UTC) + timedelta(hours=1),
        )
        cleanup = queue.enqueue(
            kind="retention.cleanup", priority=JobPriority.HIGH, created_by_id=service.users[Role.SUPERVISOR]
        )
    with service.client(Role.INVESTIGATOR) as api:
        mine = {j["id"] for j in api.get("/jobs", params={"page_size": 200}).json()["items"]}
        assert str(waiting.id) in mine and str(cleanup.id) not in mine
        assert api.get(f"/jobs/{cleanup.id}").status_code == 403
        cancelled = api.post(f"/jobs/{waiting.id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert api.post(f"/jobs/{waiting.id}/cancel").status_code == 409
    with service.client(Role.SUPERVISOR) as api:
        deadline = time.monotonic() + 30
        while (job := api.get(f"/jobs/{cleanup.id}").json())["status"] != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job["status"] == JobStatus.SUCCEEDED and job["result"]["erased_cases"] >= 1
        assert api.get(f"/cases/{expired.id}").status_code == 404
        done = [n for n in api.get("/notifications").json()["items"] if n["job_id"] == str(cleanup.id)]
        assert done and done[0]["kind"] == "job_finished"


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/cases", b"{not json"),
        ("POST", "/cases", b'{"full_name": "A", "consent_biometric": true, "shoe_size": 44}'),
        ("POST", "/cases", b'{"full_name": 42, "consent_biometric": "maybe"}'),
        ("POST", "/cases", b'{"full_name": "' + b"x" * 400 + b'", "consent_biometric": true}'),
        ("POST", "/auth/token", b'{"email": "not an address", "password": "x"}'),
        ("PATCH", "/cases/not-a-uuid", b'{"description": "x"}'),
        ("PUT", "/notifications/preferences", b'{"kind": "gossip", "channel": "email", "enabled": true}'),
        ("POST", "/users", b"[]"),
    ],
)
def test_malformed_input_gets_a_4xx_with_a_reason(service: Service, method: str, path: str, payload: bytes) -> None:
    with service.client(Role.ADMIN) as api:
        reply = api.request(method, path, content=payload, headers={"content-type": "application/json"})
    assert 400 <= reply.status_code < 500 and reply.json()["detail"]


def test_unknown_ids_and_oversized_bodies(service: Service) -> None:
    unknown = uuid.uuid4()
    with service.client(Role.ADMIN) as api:
        for path in (f"/cases/{unknown}", f"/matches/{unknown}", f"/jobs/{unknown}", f"/cases/{unknown}/photos"):
            reply = api.get(path)
            assert reply.status_code == 404 and reply.json()["detail"], path
        assert api.patch(f"/users/{unknown}", json={"is_active": False}).status_code == 404
        assert api.post(f"/matches/{unknown}/review", json={"decision": "confirm"}).status_code == 404
        huge = b'{"full_name": "A", "consent_biometric": true, "description": "' + b"x" * (4 * 2**20) + b'"}'
        reply = api.post("/cases", content=huge, headers={"content-type": "application/json"})
        assert reply.status_code == 413 and reply.json()["detail"]


def test_audit_filters(service: Service) -> None:
    with service.client(Role.AUDITOR) as api:
        logins = api.get("/audit", params={"action": "auth.login", "page_size": 5}).json()
        assert logins["total"] >= 5 and all(e["action"] == "auth.login" for e in logins["items"])
        seqs = [e["seq"] for e in logins["items"]]
        assert seqs == sorted(seqs, reverse=True)
        since = api.get("/audit", params={"since": (datetime.now(UTC) + timedelta(days=1)).isoformat()}).json()
        assert since["total"] == 0
