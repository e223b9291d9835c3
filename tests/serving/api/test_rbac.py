"""Every route of the OpenAPI document, called as every role and with every kind of bad token.

The matrix below is the specification. A route missing from it (a new route nobody decided a
policy for) fails the test, as does a route that answers differently from it. Allowed calls
send an empty body or an unknown id, so they reach the route and change nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from storage.tables import Role
from tests.serving.conftest import Service

A, S, V, R, U = Role.ADMIN, Role.SUPERVISOR, Role.INVESTIGATOR, Role.REPORTER, Role.AUDITOR  # V: investigator
EVERYONE = {A, S, V, R, U}
PUBLIC = None
MATRIX: dict[tuple[str, str], set[Role] | None] = {
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/api/v1/health/ready"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/auth/refresh"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): PUBLIC,
    ("GET", "/api/v1/users/me"): EVERYONE,
    ("POST", "/api/v1/users/me/password"): EVERYONE,
    ("GET", "/api/v1/users"): {A},
    ("POST", "/api/v1/users"): {A},
    ("PATCH", "/api/v1/users/{user_id}"): {A},
    ("POST", "/api/v1/cases"): {A, S, V, R},
    ("GET", "/api/v1/cases"): {A, S, V, R},
    ("GET", "/api/v1/cases/{case_id}"): {A, S, V, R},
    ("PATCH", "/api/v1/cases/{case_id}"): {A, S, V, R},
    ("POST", "/api/v1/cases/{case_id}/erase"): {A},
    ("GET", "/api/v1/cases/{case_id}/photos"): {A, S, V, R},
    ("POST", "/api/v1/cases/{case_id}/photos"): {A, S, V, R},
    ("POST", "/api/v1/cases/{case_id}/grants"): {A, S},
    ("GET", "/api/v1/cases/{case_id}/grants"): {A, S},
    ("DELETE", "/api/v1/cases/{case_id}/grants/{user_id}"): {A, S},
    ("POST", "/api/v1/search"): {A, S, V},
    ("POST", "/api/v1/sightings"): {A, S, V},
    ("GET", "/api/v1/matches"): {A, S, V},
    ("GET", "/api/v1/matches/{match_id}"): {A, S, V},
    ("GET", "/api/v1/matches/{match_id}/reviews"): {A, S, V},
    ("POST", "/api/v1/matches/{match_id}/review"): {A, S, V},
    ("POST", "/api/v1/matches/{match_id}/claim"): {A, S, V},
    ("DELETE", "/api/v1/matches/{match_id}/claim"): {A, S, V},
    ("GET", "/api/v1/review/queue"): {A, S, V},
    ("POST", "/api/v1/review/next"): {A, S, V},
    ("GET", "/api/v1/faces/{face_id}/crop"): {A, S, V, R},
    ("GET", "/api/v1/photos/{image_id}"): {A, S, V, R},
    ("GET", "/api/v1/notifications"): EVERYONE,
    ("GET", "/api/v1/notifications/unread-count"): EVERYONE,
    ("POST", "/api/v1/notifications/{notification_id}/read"): EVERYONE,
    ("POST", "/api/v1/notifications/read-all"): EVERYONE,
    ("GET", "/api/v1/notifications/preferences"): EVERYONE,
    ("PUT", "/api/v1/notifications/preferences"): EVERYONE,
    ("GET", "/api/v1/jobs"): {A, S, V},
    ("GET", "/api/v1/jobs/{job_id}"): {A, S, V},
    ("POST", "/api/v1/jobs/{job_id}/cancel"): {A, S, V},
    ("POST", "/api/v1/scans"): {A, S, V},
    ("POST", "/api/v1/external-databases"): {A},
    ("GET", "/api/v1/external-databases"): {A},
    ("GET", "/api/v1/external-databases/{database_id}"): {A},
    ("PATCH", "/api/v1/external-databases/{database_id}"): {A},
    ("DELETE", "/api/v1/external-databases/{database_id}"): {A},
    ("POST", "/api/v1/external-databases/{database_id}/test"): {A},
    ("GET", "/api/v1/external-databases/{database_id}/mapping"): {A},
    ("PUT", "/api/v1/external-databases/{database_id}/mapping"): {A},
    ("POST", "/api/v1/external-databases/{database_id}/sync"): {A},
    ("GET", "/api/v1/external-databases/{database_id}/syncs"): {A},
    ("GET", "/api/v1/external-databases/{database_id}/queries"): {A},
    ("GET", "/api/v1/audit"): {A, U},
    ("GET", "/api/v1/audit/verify"): {A, U},
}


def _routes(service: Service) -> list[tuple[str, str]]:
    document = httpx.get(f"{service.url}/api/v1/openapi.json", timeout=60).json()
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


def _call(api: httpx.Client, method: str, path: str) -> httpx.Response:
    url = path.removeprefix("/api/v1")
    for name in ("user_id", "case_id", "match_id", "notification_id", "job_id", "database_id", "face_id", "image_id"):
        url = url.replace("{" + name + "}", str(uuid.uuid4()))
    reply = api.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
    if url == "/review/next" and reply.status_code == 200:  # it held a real match: give it back
        api.delete(f"/matches/{reply.json()['id']}/claim")
    return reply


def _bad_tokens(service: Service) -> dict[str, str]:
    now = datetime.now(UTC)
    claims = {
        "sub": str(service.users[A]),
        "sid": str(uuid.uuid4()),
        "role": "admin",
        "typ": "access",
        "iss": "surasmart",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    return {
        "expired": jwt.encode({**claims, "exp": now - timedelta(seconds=5)}, service.token_secret, algorithm="HS256"),
        "other key": jwt.encode(claims, "a different key of forty-eight characters!!", algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
    }


def test_every_route_has_a_policy(service: Service) -> None:
    routes = set(_routes(service))
    assert routes - set(MATRIX) == set(), "routes without an access policy in the matrix"
    assert set(MATRIX) - routes == set(), "the matrix names routes that do not exist"


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_answers_as_the_matrix_says(service: Service, route: tuple[str, str]) -> None:
    method, path = route
    allowed = MATRIX[route]
    outcomes = {}
    with service.client() as api:
        outcomes["no token"] = _call(api, method, path).status_code
    for label, token in _bad_tokens(service).items():
        with service.as_token(token) as api:
            outcomes[label] = _call(api, method, path).status_code
    for role in Role:
        with service.client(role) as api:
            outcomes[role.value] = _call(api, method, path).status_code
    for label, status in outcomes.items():
        assert status < 500, f"{method} {path} as {label}: {status}"
        if allowed is PUBLIC:
            assert status != 401, f"{method} {path} is public but refused {label}"
        elif label in Role._value2member_map_:
            expected_denied = Role(label) not in allowed
            assert (status == 403) == expected_denied and status != 401, f"{method} {path} as {label}: {status}"
        else:
            assert status == 401, f"{method} {path} with {label}: {status}"
