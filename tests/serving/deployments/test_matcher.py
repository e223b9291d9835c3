"""The matchers: every replica sees a new reference photo, a closed case and an erased one within 2 s."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from ray import serve

from storage.erasure import ErasureReason, erase_case
from storage.repositories.cases import CaseRepository
from storage.tables import CaseStatus, Role
from tests.serving.conftest import Service


def _every_replica(case_id: uuid.UUID, present: bool, within: float = 2.0) -> float:
    """Seconds until both matcher replicas agree the case is (or is not) in their gallery."""
    matcher = serve.get_deployment_handle("Matcher", app_name="sura")
    started, agreed = time.monotonic(), {}
    while time.monotonic() - started < within:
        replica, holds = matcher.holds.remote(case_id).result()
        agreed[replica] = holds == present
        if len(agreed) == 2 and all(agreed.values()):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"replicas did not agree within {within} s: {agreed}")


def test_new_closed_and_erased_cases_reach_every_replica(service: Service, faces_dir: Path) -> None:
    photo = faces_dir / "people" / "fr_paul_allen" / "paul_allen.jpg"
    with service.db.transaction() as session:
        case_id = CaseRepository(session).create(full_name="Sync Test", reporter_id=None, consent_biometric=True).id
    with service.client(Role.INVESTIGATOR) as api:
        assert (
            api.post(f"/cases/{case_id}/photos", files={"photo": (photo.name, photo.read_bytes())}).status_code == 201
        )
    assert _every_replica(case_id, present=True) < 2.0
    with service.db.transaction() as session:
        CaseRepository(session).update(case_id=case_id, changes={"status": CaseStatus.CLOSED})
    _every_replica(case_id, present=False)
    with service.db.transaction() as session:
        CaseRepository(session).update(case_id=case_id, changes={"status": CaseStatus.OPEN})
    _every_replica(case_id, present=True)
    with service.db.transaction() as session:
        erase_case(session, case_id=case_id, actor="test", reason=ErasureReason.OPENED_IN_ERROR)
    _every_replica(case_id, present=False)
