"""Holes a review found, each closed: searches are audited and capped, retention cannot erase by the
back door, grants can be listed and revoked."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from storage.tables import AuditEntry, Role
from tests.serving.conftest import Service


def _audit(service: Service, action: str, actor: uuid.UUID) -> list[AuditEntry]:
    with service.db.transaction() as session:
        query = sa.select(AuditEntry).where(AuditEntry.action == action, AuditEntry.actor == f"user:{actor}")
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_every_search_is_audited_without_biometric_data(service: Service, upload: Callable, faces_dir: Path) -> None:
    before = len(_audit(service, "search", service.users[Role.SUPERVISOR]))
    with service.client(Role.SUPERVISOR) as api:
        reply = api.post("/search", files=upload(faces_dir / "scenes" / "fr_two_people.jpg"), params={"k": 3})
        assert reply.status_code == 200
        assert api.post("/search", files=upload(faces_dir / "scenes" / "t1.jpg"), params={"k": 21}).status_code == 422
    entries = _audit(service, "search", service.users[Role.SUPERVISOR])
    assert len(entries) == before + 1
    details = entries[-1].details
    assert details["faces"] == len(reply.json()["faces"]) and details["pack"] == "shared-scrfd"
    assert details["candidates"] == sum(len(f["candidates"]) for f in reply.json()["faces"])
    assert set(details) == {"pack", "faces", "candidates", "above_threshold", "age_gap"}


def test_retention_cannot_erase_by_the_back_door(service: Service) -> None:
    today = datetime.now(UTC).date()
    with service.client(Role.INVESTIGATOR) as api:
        past = api.post(
            "/cases",
            json={"full_name": "Kept", "consent_biometric": True, "retention_until": str(today - timedelta(days=1))},
        )
        assert past.status_code == 422 and "future" in past.json()["detail"]
        case = api.post(
            "/cases",
            json={"full_name": "Kept", "consent_biometric": True, "retention_until": str(today + timedelta(days=90))},
        ).json()
        url = f"/cases/{case['id']}"
        assert api.patch(url, json={"retention_until": str(today - timedelta(days=3))}).status_code == 422
        assert api.patch(url, json={"retention_until": str(today + timedelta(days=30))}).status_code == 403
        assert api.patch(url, json={"retention_until": str(today + timedelta(days=400))}).status_code == 200
    with service.client(Role.ADMIN) as admin:
        shorter = admin.patch(url, json={"retention_until": str(today + timedelta(days=30))})
        assert shorter.status_code == 200 and shorter.json()["retention_until"] == str(today + timedelta(days=30))
    entry = _audit(service, "case.update", service.users[Role.ADMIN])[-1]
    assert entry.target_id == case["id"]
    assert entry.details["retention_from"] == str(today + timedelta(days=400))
    assert entry.details["retention_to"] == str(today + timedelta(days=30))


def test_grants_are_listed_and_revoked(service: Service) -> None:
    reporter = service.users[Role.REPORTER]
    with service.client(Role.SUPERVISOR) as api:
        case_id = api.post("/cases", json={"full_name": "Granted", "consent_biometric": True}).json()["id"]
        given = api.post(f"/cases/{case_id}/grants", json={"user_id": str(reporter), "access": "view"})
        assert given.status_code == 201
        assert api.get(f"/cases/{case_id}/grants").json() == [
            {"user_id": str(reporter), "case_id": case_id, "access": "view"}
        ]
    with service.client(Role.REPORTER) as api:
        assert api.get(f"/cases/{case_id}").status_code == 200
    with service.client(Role.SUPERVISOR) as api:
        assert api.delete(f"/cases/{case_id}/grants/{reporter}").status_code == 204
        assert api.delete(f"/cases/{case_id}/grants/{reporter}").status_code == 404
        assert api.get(f"/cases/{case_id}/grants").json() == []
    with service.client(Role.REPORTER) as api:
        assert api.get(f"/cases/{case_id}").status_code == 404
    assert _audit(service, "case.revoke", service.users[Role.SUPERVISOR])[-1].target_id == case_id
