"""Bad uploads and bad tokens get a 4xx with a reason, and the service stays healthy."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
import sqlalchemy as sa
from PIL import Image

from storage.tables import Role
from tests.serving.conftest import UPLOAD_LIMIT, Service


def _huge_png_header() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _gif_frames() -> bytes:
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "content_type", "status", "reason"),
    [
        ("empty", lambda t1: b"", "image/jpeg", 400, "empty"),
        ("truncated", lambda t1: t1[: len(t1) // 2], "image/jpeg", 400, "truncated or corrupt"),
        ("text as jpeg", lambda t1: b"just some words\n", "image/jpeg", 415, "not an image"),
        ("text type", lambda t1: t1, "text/plain", 415, "not an image"),
        ("bomb header", lambda t1: _huge_png_header(), "image/png", 413, "pixels"),
        ("too many bytes", lambda t1: t1 * (UPLOAD_LIMIT // len(t1) + 2), "image/jpeg", 413, "larger than"),
    ],
)
def test_bad_uploads(
    service: Service, faces_dir: Path, name: str, make: Callable, content_type: str, status: int, reason: str
) -> None:
    t1 = (faces_dir / "scenes" / "t1.jpg").read_bytes()
    with service.client(Role.INVESTIGATOR) as api:
        reply = api.post("/search", files={"photo": ("upload.jpg", make(t1), content_type)})
    assert reply.status_code == status, (name, reply.text)
    assert reason in reply.json()["detail"]


def test_missing_file_and_wrong_body(service: Service) -> None:
    with service.client(Role.INVESTIGATOR) as api:
        assert api.post("/search").status_code == 422
        assert api.post("/search", json={"photo": "base64?"}).status_code == 422
        assert api.post("/search", files={"picture": ("a.jpg", b"x", "image/jpeg")}).status_code == 422
        assert api.post("/search", params={"k": 0}, files={"photo": ("a.jpg", b"x", "image/jpeg")}).status_code == 422


def test_animated_gif_is_read_from_its_first_frame(service: Service) -> None:
    with service.client(Role.INVESTIGATOR) as api:
        reply = api.post("/search", files={"photo": ("anim.gif", _gif_frames(), "image/gif")})
    assert reply.status_code == 200 and any("first of 2 frames" in n for n in reply.json()["photo"]["notes"])


def _token(secret: str, **changes: object) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "00000000-0000-0000-0000-000000000001",
        "sid": "00000000-0000-0000-0000-000000000002",
        "role": "admin",
        "typ": "access",
        "iss": "surasmart",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    claims.update(changes)
    algorithm = claims.pop("alg", "HS256")
    return jwt.encode(claims, secret if algorithm != "none" else None, algorithm=algorithm)  # type: ignore[arg-type]


def test_tokens_are_checked(service: Service, faces_dir: Path) -> None:
    photo = {"photo": ("t1.jpg", (faces_dir / "scenes" / "t1.jpg").read_bytes(), "image/jpeg")}
    admin = str(service.users[Role.ADMIN])
    forged = {
        "none": None,
        "garbage": "not-a-jwt",
        "expired": _token(service.token_secret, sub=admin, exp=datetime.now(UTC) - timedelta(seconds=1)),
        "other key": _token("someone else's key that is long enough", sub=admin),
        "alg none": _token("", sub=admin, alg="none"),
        "unknown user": _token(service.token_secret),
        "refresh typ": _token(service.token_secret, sub=admin, typ="refresh"),
    }
    with service.client() as api:
        for label, token in forged.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            reply = api.post("/search", files=photo, headers=headers)
            assert reply.status_code == 401, label
            assert reply.headers["www-authenticate"] == "Bearer"
        good = _token(service.token_secret, sub=admin)
        assert api.post("/search", files=photo, headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_roles_are_checked(service: Service, faces_dir: Path, upload: Callable) -> None:
    photo = faces_dir / "scenes" / "t1.jpg"
    for role, expected in ((Role.REPORTER, 403), (Role.AUDITOR, 403), (Role.ADMIN, 200), (Role.SUPERVISOR, 200)):
        with service.client(role) as api:
            assert api.post("/search", files=upload(photo)).status_code == expected, role


def test_wrong_password_does_not_say_which_part_was_wrong(service: Service) -> None:
    with service.client() as api:
        unknown = api.post("/auth/token", json={"email": "nobody@example.org", "password": "whatever it is"})
        wrong = api.post("/auth/token", json={"email": "admin@example.org", "password": "whatever it is"})
        bad_json = api.post("/auth/token", content=b"{not json", headers={"content-type": "application/json"})
    assert unknown.status_code == wrong.status_code == 401 and unknown.json() == wrong.json()
    assert bad_json.status_code == 422


def test_still_healthy_after_bad_requests(service: Service, faces_dir: Path, upload: Callable) -> None:
    with service.client() as api:
        assert api.get("/health").status_code == 200
        ready = api.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["ready"]
    with service.client(Role.INVESTIGATOR) as api:
        assert len(api.post("/search", files=upload(faces_dir / "scenes" / "t1.jpg")).json()["faces"]) == 6


def _wait_for_lock_waiter(service: Service, table: str, timeout: float = 60.0) -> None:
    """Until some connection waits for a lock on ``table`` (the blocked request reached its SQL)."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE NOT l.granted AND c.relname = :table"
    )
    deadline = time.monotonic() + timeout
    with service.db.engine.connect() as probe:
        while probe.execute(waiting, {"table": table}).scalar_one() == 0:
            assert time.monotonic() < deadline, f"no request ever waited on {table}"
            time.sleep(0.1)
            probe.rollback()


def test_a_route_waiting_on_sql_does_not_block_the_event_loop(service: Service) -> None:
    replies: list[httpx.Response] = []

    def read_audit() -> None:
        with service.client(Role.AUDITOR) as api:
            replies.append(api.get("/audit", params={"page_size": 1}))

    holder = service.db.engine.connect()
    transaction = holder.begin()
    reader = threading.Thread(target=read_audit, daemon=True)
    try:
        holder.execute(sa.text("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE"))
        reader.start()
        _wait_for_lock_waiter(service, "audit_log")
        with httpx.Client(base_url=f"{service.url}/api/v1", timeout=2.0) as api:
            for attempt in range(5):
                try:
                    assert api.get("/health").status_code == 200
                except httpx.TimeoutException:
                    pytest.fail(f"/health gave no answer within 2 s (try {attempt + 1}) while /audit waited on SQL")
                time.sleep(0.2)
        assert reader.is_alive() and not replies  # still waiting: the lock really held it up
    finally:
        transaction.rollback()
        holder.close()
    reader.join(timeout=60)
    assert [r.status_code for r in replies] == [200]
