"""Sign-in sessions: rotation, reuse revokes the family, logout and password change end sessions."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa

from serving.auth.passwords import hash_password
from storage.repositories.users import UserRepository
from storage.tables import Role, SignInAttempt
from tests.serving.conftest import PASSWORD, Service


def _user(service: Service, role: Role = Role.INVESTIGATOR) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    with service.db.transaction() as session:
        UserRepository(session).create(
            email=email, full_name="Session Test", role=role, password_hash=hash_password(PASSWORD)
        )
    return email


def _me(service: Service, access: str) -> int:
    with service.as_token(access) as api:
        return api.get("/users/me").status_code


def _eventually(check: object, expected: int, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while (status := check()) != expected and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.1)
    assert status == expected


def _refresh(service: Service, token: str) -> httpx.Response:
    with service.client() as api:
        return api.post("/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_and_reuse_revokes_the_family(service: Service) -> None:
    first = service.sign_in(_user(service))
    second = _refresh(service, first["refresh_token"])
    assert second.status_code == 200
    second_pair = second.json()
    assert second_pair["refresh_token"] != first["refresh_token"]
    assert second_pair["expires_in"] == 3600 and second_pair["refresh_expires_in"] == 7 * 86400
    assert _me(service, second_pair["access_token"]) == 200
    reused = _refresh(service, first["refresh_token"])
    assert reused.status_code == 401 and "already used" in reused.json()["detail"]
    assert _refresh(service, second_pair["refresh_token"]).status_code == 401, "the whole family is revoked"
    _eventually(lambda: _me(service, second_pair["access_token"]), 401)
    assert _refresh(service, "x" * 43).status_code == 401


def test_logout_ends_the_session_only(service: Service) -> None:
    email = _user(service)
    phone, laptop = service.sign_in(email), service.sign_in(email)
    with service.client() as api:
        assert api.post("/auth/logout", json={"refresh_token": phone["refresh_token"]}).status_code == 204
    assert _refresh(service, phone["refresh_token"]).status_code == 401
    _eventually(lambda: _me(service, phone["access_token"]), 401)
    assert _me(service, laptop["access_token"]) == 200


def test_password_change_ends_other_sessions(service: Service) -> None:
    email = _user(service)
    here, elsewhere = service.sign_in(email), service.sign_in(email)
    with service.as_token(here["access_token"]) as api:
        wrong = api.post("/users/me/password", json={"current_password": "nope", "new_password": "x" * 20})
        short = api.post("/users/me/password", json={"current_password": PASSWORD, "new_password": "short"})
        done = api.post(
            "/users/me/password", json={"current_password": PASSWORD, "new_password": "a new pass phrase 2"}
        )
    assert wrong.status_code == 401 and short.status_code == 422 and done.status_code == 204
    assert _refresh(service, elsewhere["refresh_token"]).status_code == 401
    _eventually(lambda: _me(service, elsewhere["access_token"]), 401)
    assert _me(service, here["access_token"]) == 200
    assert service.sign_in(email, "a new pass phrase 2")["access_token"]


def test_failed_sign_ins_are_throttled_without_revealing_accounts(service: Service) -> None:
    known, unknown = _user(service), f"{uuid.uuid4().hex[:10]}@example.org"
    with service.client() as api:
        for email in (known, unknown):
            statuses = [
                api.post("/auth/token", json={"email": email, "password": "wrong!"}).status_code for _ in range(6)
            ]
            assert statuses == [401] * 5 + [429], email
            blocked = api.post("/auth/token", json={"email": email, "password": PASSWORD})
            assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_many_wrong_attempts_at_once_do_not_slip_past_the_count(service: Service) -> None:
    """Sixteen wrong passwords sent together: the count is shared and taken before the check, so at most
    five are even tried (the rest are 429), and the failures are recorded in the database."""
    email = _user(service)

    def attempt(_: int) -> int:
        with service.client() as api:
            return api.post("/auth/token", json={"email": email, "password": "wrong!"}).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(attempt, range(16)))
    assert statuses.count(401) <= 5 and statuses.count(429) >= 11, statuses
    with service.db.transaction() as session:
        recorded = session.scalar(
            sa.select(sa.func.count()).select_from(SignInAttempt).where(SignInAttempt.key == f"email:{email}")
        )
    assert recorded == statuses.count(401)


def test_disabled_account_stops_working(service: Service) -> None:
    email = _user(service)
    tokens = service.sign_in(email)
    with service.db.transaction() as session:
        user = UserRepository(session).find_by_email(email=email)
        assert user is not None
        user_id = user.id
    with service.client(Role.ADMIN) as api:
        assert api.patch(f"/users/{user_id}", json={"is_active": False}).status_code == 200
    _eventually(lambda: _me(service, tokens["access_token"]), 401)
    with service.client() as api:
        assert api.post("/auth/token", json={"email": email, "password": PASSWORD}).status_code == 401
