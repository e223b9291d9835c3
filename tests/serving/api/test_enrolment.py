"""Reference photos: exactly one usable face, or a reason; only on open cases the user may touch."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from storage.repositories.cases import CaseRepository
from storage.repositories.users import UserRepository
from storage.tables import Access, CaseStatus, Role
from tests.serving.conftest import Service


@pytest.fixture()
def case_id(service: Service) -> uuid.UUID:
    with service.db.transaction() as session:
        return CaseRepository(session).create(full_name="Test Case", reporter_id=service.users[Role.REPORTER]).id


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _portrait(faces_dir: Path) -> np.ndarray:
    return np.asarray(Image.open(faces_dir / "people" / "fr_obama" / "examples__obama.jpg").convert("RGB"))


@pytest.mark.parametrize("reason", ["no_face", "several_faces", "too_small", "too_blurred"])
def test_unusable_photos_say_why(service: Service, case_id: uuid.UUID, faces_dir: Path, reason: str) -> None:
    portrait = _portrait(faces_dir)
    photos = {
        "no_face": (faces_dir / "scenes" / "mask_white.jpg").read_bytes(),
        "several_faces": (faces_dir / "scenes" / "t1.jpg").read_bytes(),
        "too_small": _jpeg(cv2.resize(portrait, None, fx=0.08, fy=0.08, interpolation=cv2.INTER_AREA)),
        "too_blurred": _jpeg(cv2.GaussianBlur(portrait, (0, 0), sigmaX=max(portrait.shape) / 100)),
    }
    strict = {"strict": "true"} if reason in ("several_faces", "too_blurred") else {}
    with service.client(Role.INVESTIGATOR) as api:
        reply = api.post(
            f"/cases/{case_id}/photos", files={"photo": ("p.jpg", photos[reason], "image/jpeg")}, data=strict
        )
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == reason


def test_a_soft_photo_is_taken_with_a_warning(service: Service, case_id: uuid.UUID, faces_dir: Path) -> None:
    portrait = _portrait(faces_dir)
    soft = _jpeg(cv2.GaussianBlur(portrait, (0, 0), sigmaX=max(portrait.shape) / 100))
    with service.client(Role.INVESTIGATOR) as api:
        reply = api.post(f"/cases/{case_id}/photos", files={"photo": ("p.jpg", soft, "image/jpeg")})
    assert reply.status_code == 201, reply.text
    assert [w["code"] for w in reply.json()["warnings"]] == ["blurred"]


def test_enrolment_is_idempotent_and_audited(service: Service, case_id: uuid.UUID, faces_dir: Path) -> None:
    photo = faces_dir / "people" / "fr_obama" / "examples__obama.jpg"
    with service.client(Role.INVESTIGATOR) as api:
        first = api.post(f"/cases/{case_id}/photos", files={"photo": (photo.name, photo.read_bytes())})
        again = api.post(f"/cases/{case_id}/photos", files={"photo": (photo.name, photo.read_bytes())})
    assert first.status_code == again.status_code == 201
    assert first.json()["created"] and not again.json()["created"]
    assert first.json()["face_id"] == again.json()["face_id"]
    from storage.audit import AuditLog

    with service.db.transaction() as session:
        entries = AuditLog(session).find(actions=["case.photo.enrol"], target_id=str(case_id)).items
    assert len(entries) == 1 and set(entries[0].details) == {"image_id", "face_id"}


def test_only_open_cases_and_known_cases(
    service: Service, case_id: uuid.UUID, faces_dir: Path, upload: Callable
) -> None:
    photo = faces_dir / "people" / "fr_obama" / "examples__obama2.jpg"
    with service.db.transaction() as session:
        CaseRepository(session).update(case_id=case_id, changes={"status": CaseStatus.FOUND_ALIVE})
    with service.client(Role.INVESTIGATOR) as api:
        closed = api.post(f"/cases/{case_id}/photos", files=upload(photo))
        unknown = api.post(f"/cases/{uuid.uuid4()}/photos", files=upload(photo))
        not_a_uuid = api.post("/cases/42/photos", files=upload(photo))
    assert closed.status_code == 409 and "found_alive" in closed.json()["detail"]
    assert unknown.status_code == 404 and not_a_uuid.status_code == 422


def test_reporters_enrol_on_their_own_cases_only(service: Service, case_id: uuid.UUID, faces_dir: Path) -> None:
    photo = faces_dir / "people" / "fr_biden" / "examples__knn_examples__train__biden__biden.jpg"
    second = faces_dir / "people" / "fr_biden" / "examples__knn_examples__train__biden__biden2.jpg"
    with service.db.transaction() as session:
        other = CaseRepository(session).create(full_name="Someone Else's", reporter_id=service.users[Role.ADMIN]).id
    with service.client(Role.REPORTER) as api:
        own = api.post(f"/cases/{case_id}/photos", files={"photo": (photo.name, photo.read_bytes())})
        foreign = api.post(f"/cases/{other}/photos", files={"photo": (photo.name, photo.read_bytes())})
        with service.db.transaction() as session:
            UserRepository(session).grant(
                user_id=service.users[Role.REPORTER],
                case_id=other,
                access=Access.EDIT,
                granted_by_id=service.users[Role.ADMIN],
            )
        granted = api.post(f"/cases/{other}/photos", files={"photo": (second.name, second.read_bytes())})
        shared = api.post(f"/cases/{other}/photos", files={"photo": (photo.name, photo.read_bytes())})
    assert own.status_code == 201 and foreign.status_code == 404 and granted.status_code == 201
    assert shared.status_code == 409, "one photo cannot be a reference of two cases"
    with service.client(Role.AUDITOR) as api:
        assert (
            api.post(f"/cases/{case_id}/photos", files={"photo": (photo.name, photo.read_bytes())}).status_code == 403
        )
