"""Scans through the API: the job workers run them; a case opened afterwards finds the faces (retro search)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import sqlalchemy as sa
from PIL import Image as PILImage

from storage.tables import Face, Image, Role
from tests.helpers import eventually
from tests.serving.conftest import Service

PERSON, OTHERS = "deepface_id09", ("deepface_id10", "fr_alex_lacamoire")


def _fresh_copy(photo: Path, target: Path) -> None:
    """The photo re-encoded, so no other test of this session has stored the same content."""
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    PILImage.open(photo).convert("RGB").save(buffer, format="JPEG", quality=93)
    target.write_bytes(buffer.getvalue())


def test_scan_first_then_open_the_case_and_its_matches_appear(service: Service, faces_dir: Path) -> None:
    photos = sorted((faces_dir / "people" / PERSON).iterdir())
    held_back, scanned = photos[0], photos[1:]
    folder = service.scan_root / f"intake-{uuid.uuid4().hex[:8]}"
    for photo in scanned:
        _fresh_copy(photo, folder / PERSON / photo.name)
    for other in OTHERS:
        for photo in sorted((faces_dir / "people" / other).iterdir()):
            _fresh_copy(photo, folder / other / photo.name)
    (folder / "readme.txt").write_text("not a photo")

    with service.client(Role.INVESTIGATOR) as api:
        started = api.post("/scans", json={"source": str(folder), "source_label": "shelter intake"})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        again = api.post("/scans", json={"source": str(folder) + "/"})
        assert again.json()["id"] == job_id, "an unfinished scan of the same folder is not started twice"
        job = eventually(
            lambda: (j := api.get(f"/jobs/{job_id}").json())["status"] in ("succeeded", "failed") and j, within=240
        )
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["stored"] == len(list(folder.rglob("*.jpg"))) + len(list(folder.rglob("*.png")))
    assert [f["file"] for f in result["failures"]] == ["readme.txt"]

    with service.client(Role.SUPERVISOR) as api:  # a supervisor records the consent: the case is matched
        case = api.post("/cases", json={"full_name": "Retro Search", "consent_biometric": True}).json()
        enrolled = api.post(f"/cases/{case['id']}/photos", files={"photo": (held_back.name, held_back.read_bytes())})
        assert enrolled.status_code == 201, enrolled.text
        matches = eventually(lambda: api.get("/matches", params={"case_id": case["id"]}).json()["items"], within=60)
    with service.db.transaction() as session:
        keys = session.scalars(
            sa.select(Image.source_key)
            .join(Face, Face.image_id == Image.id)
            .where(Face.id.in_([uuid.UUID(m["face_id"]) for m in matches]))
        ).all()
    assert keys and all(key.startswith(f"{PERSON}/") for key in keys), keys
    assert len(set(keys)) >= len(scanned) - 1, "nearly every scanned photo of the person is found"


def test_the_api_scans_only_where_it_may(service: Service, tmp_path: Path) -> None:
    with service.client(Role.SUPERVISOR) as api:
        outside = api.post("/scans", json={"source": str(tmp_path)})
        assert outside.status_code == 403 and "outside" in outside.json()["detail"]
        escape = api.post("/scans", json={"source": str(service.scan_root / ".." / tmp_path.name)})
        assert escape.status_code == 403
        missing = api.post("/scans", json={"source": str(service.scan_root / "nothing-here")})
        assert missing.status_code == 422 and "no such" in missing.json()["detail"]
        uri = api.post("/scans", json={"source": "s3://somebody-else/bucket"})
        assert uri.status_code == 403
        assert api.post("/scans", json={"source": ""}).status_code == 422
        assert api.post("/scans", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
        assert api.post("/scans", json={"source": str(service.scan_root), "priority": "urgent"}).status_code == 422
