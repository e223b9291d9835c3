"""The first reference photos a new service receives, many at once: every one is stored.

A pack's vector index is made when the service starts, so the very first enrolments on an
empty database race only on their own rows (creating the index inside requests deadlocked).
"""

from __future__ import annotations

import io
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from serving.auth.passwords import hash_password
from storage.embedded import EmbeddedPostgres
from storage.repositories.cases import CaseRepository
from storage.repositories.users import UserRepository
from storage.tables import Face, Role
from tests.postgres import fresh_database
from tests.serving.conftest import PASSWORD, app_args, database_of

PHOTOS = 16


@pytest.fixture()
def fresh_service(ray_serve: int, pg_server: EmbeddedPostgres, shared: Path) -> Iterator[tuple[str, str, str]]:
    """A second application on an empty database: (its API URL, an investigator's token, the database URL)."""
    from ray import serve

    from serving.app import build_app

    with fresh_database(pg_server) as url:
        db = database_of(url)
        with db.transaction() as session:
            UserRepository(session).create(
                email="first@example.org",
                full_name="First",
                role=Role.INVESTIGATOR,
                password_hash=hash_password(PASSWORD),
            )
        serve.run(build_app(app_args(url, secrets.token_urlsafe(48))), name="fresh", route_prefix="/fresh")
        api = f"http://127.0.0.1:{ray_serve}/fresh/api/v1"
        reply = httpx.post(f"{api}/auth/token", json={"email": "first@example.org", "password": PASSWORD}, timeout=60)
        try:
            yield api, reply.json()["access_token"], url
        finally:
            serve.delete("fresh")
            db.engine.dispose()


def _variants(photo: Path, count: int) -> list[bytes]:
    """``count`` different files of one portrait (other JPEG qualities), each a new photo by content."""
    image = Image.open(photo).convert("RGB")
    variants = []
    for quality in range(95 - count, 95):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        variants.append(buffer.getvalue())
    return variants


def test_sixteen_first_enrolments_at_once_all_succeed(fresh_service: tuple[str, str, str], faces_dir: Path) -> None:
    api, token, url = fresh_service
    db = database_of(url)
    with db.transaction() as session:
        reporter = UserRepository(session).find(role=Role.INVESTIGATOR, active=True, page=1, page_size=1).items[0]
        cases = [
            CaseRepository(session).create(full_name=f"Case {n}", reporter_id=reporter.id).id for n in range(PHOTOS)
        ]
    photos = _variants(faces_dir / "people" / "fr_obama" / "examples__obama.jpg", PHOTOS)

    def enrol(case_id: uuid.UUID, photo: bytes) -> httpx.Response:
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
            return client.post(f"/cases/{case_id}/photos", files={"photo": ("p.jpg", photo, "image/jpeg")})

    with ThreadPoolExecutor(PHOTOS) as pool:
        replies = list(pool.map(enrol, cases, photos))
    assert [r.status_code for r in replies] == [201] * PHOTOS, [r.text for r in replies if r.status_code != 201]
    with db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Face)) == PHOTOS
    db.engine.dispose()
