"""Nobody is matched without recorded consent, and a reporter alone cannot put anyone on the watchlist:
a reporter's case waits as "submitted" until accepted, consent counts once a supervisor records it."""

from __future__ import annotations

from pathlib import Path

from storage.tables import AuditEntry, Role
from tests.helpers import eventually
from tests.serving.conftest import Service

PERSON = "deepface_id05"  # no other test of the service enrols or records this identity


def _candidate_cases(api, photo: Path) -> set[str]:  # type: ignore[no-untyped-def]
    reply = api.post("/search", files={"photo": (photo.name, photo.read_bytes())})
    assert reply.status_code == 200, reply.text
    return {c["case_id"] for f in reply.json()["faces"] for c in f["candidates"] if c["above_threshold"]}


def test_a_case_is_matched_only_once_accepted_and_consented(service: Service, faces_dir: Path) -> None:
    photos = sorted((faces_dir / "people" / PERSON).iterdir())
    with service.client(Role.REPORTER) as reporter:
        case = reporter.post("/cases", json={"full_name": "Consent Person", "consent_biometric": True}).json()
        assert case["status"] == "submitted"
        for photo in photos[:2]:
            assert (
                reporter.post(
                    f"/cases/{case['id']}/photos", files={"photo": (photo.name, photo.read_bytes())}
                ).status_code
                == 201
            )
        assert reporter.patch(f"/cases/{case['id']}", json={"status": "open"}).status_code == 403
    url = f"/cases/{case['id']}"
    with service.client(Role.INVESTIGATOR) as api:
        sighting = api.post("/sightings", files={"photo": (photos[2].name, photos[2].read_bytes())}).json()
        assert all(m["case_id"] != case["id"] for f in sighting["faces"] for m in f["matches"])
        assert api.patch(url, json={"status": "open"}).json()["status"] == "open"  # accepted
        assert case["id"] not in _candidate_cases(api, photos[3])  # consent stated, not recorded
        assert api.patch(url, json={"consent_biometric": True}).status_code == 200  # already stated: nothing new
        assert case["id"] not in _candidate_cases(api, photos[3])
    with service.client(Role.SUPERVISOR) as supervisor:
        assert supervisor.patch(url, json={"consent_biometric": True}).status_code == 200
        eventually(lambda: case["id"] in _candidate_cases(supervisor, photos[3]), within=30)
        # the sighting stored while it waited is found by the retro search
        eventually(lambda: supervisor.get("/matches", params={"case_id": case["id"]}).json()["total"] >= 1, within=60)
    with service.db.transaction() as session:
        entry = (
            session.query(AuditEntry)
            .filter(AuditEntry.target_id == case["id"], AuditEntry.actor == f"user:{service.users[Role.SUPERVISOR]}")
            .order_by(AuditEntry.seq.desc())
            .first()
        )
        assert entry is not None and "consent_recorded_at" in entry.details["fields"]

    with service.client(Role.REPORTER) as reporter:  # the family withdraws consent: out of matching at once
        mine = reporter.get("/cases", params={"has_matches": True, "page_size": 200}).json()["items"]
        assert case["id"] not in [c["id"] for c in mine]  # pending matches are not a reporter's to know
        assert reporter.patch(url, json={"consent_biometric": False}).status_code == 200
    with service.client(Role.INVESTIGATOR) as api:
        eventually(lambda: case["id"] not in _candidate_cases(api, photos[3]), within=30)
