"""One error shape everywhere, bodies bounded while they stream, and nobody unsigned gets a body read."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator

import httpx
import pytest

from storage.tables import Role
from tests.serving.conftest import Service

MIB = 2**20


def _is_problem(reply: httpx.Response) -> bool:
    body = reply.json()
    return isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("detail"), str)


def test_validation_errors_are_problems_with_a_reason_per_field(service: Service) -> None:
    with service.client(Role.INVESTIGATOR) as api:
        reply = api.post("/cases", json={"full_name": 42})
    assert reply.status_code == 422 and _is_problem(reply), reply.text
    fields = {f["field"]: f["reason"] for f in reply.json()["fields"]}
    assert "body.consent_biometric" in fields and "body.full_name" in fields


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/cases/{case}", {"status": None}),
        ("/cases/{case}", {"full_name": None}),
        ("/cases/{case}", {"priority": None, "description": "x"}),
        ("/users/{user}", {"full_name": None}),
        ("/users/{user}", {"role": None}),
    ],
)
def test_null_for_a_required_field_is_refused(service: Service, path: str, body: dict[str, object]) -> None:
    with service.client(Role.ADMIN) as api:
        case = api.post("/cases", json={"full_name": "Null Case", "consent_biometric": True}).json()["id"]
        url = path.format(case=case, user=service.users[Role.INVESTIGATOR])
        reply = api.patch(url, json=body)
    assert reply.status_code == 422 and _is_problem(reply), reply.text
    assert "null" in reply.json()["detail"]


def test_unknown_routes_methods_and_huge_pages_are_problems(service: Service) -> None:
    with service.client(Role.ADMIN) as api:
        missing = api.get("/no/such/route")
        wrong_method = api.put("/health")
        huge_page = api.get("/cases", params={"page": 2**63})
        far_page = api.get("/matches", params={"page": 10**9})
    assert missing.status_code == 404 and _is_problem(missing)
    assert wrong_method.status_code == 405 and _is_problem(wrong_method)
    assert huge_page.status_code == 422 and _is_problem(huge_page)
    assert far_page.status_code == 422 and _is_problem(far_page)


def test_every_documented_error_is_a_problem(service: Service) -> None:
    document = httpx.get(f"{service.url}/api/v1/openapi.json", timeout=60).json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]["$ref"]
                    assert schema.endswith(("/Problem", "/EnrolmentProblem")), (method, path, status, schema)


def _chunks(total: int, sent: list[int]) -> Iterator[bytes]:
    block = b"x" * (256 * 1024)
    while sent[0] < total:
        sent[0] += len(block)
        yield block


def _flood(url: str, path: str, headers: dict[str, str], total: int) -> tuple[int | None, int]:
    """Send a chunked body of ``total`` bytes, watching for an answer after every chunk.

    Returns the status the server answered with (None: it closed without one) and how many body
    bytes had been sent by then: an answer long before the end means the body was not read first.
    """
    address = urllib.parse.urlsplit(url)
    block = b"x" * (64 * 1024)
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "transfer-encoding": "chunked"}.items())
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=30) as conn:
        conn.sendall(f"POST /api/v1{path} HTTP/1.1\r\nhost: {address.netloc}\r\n{head}\r\n".encode())
        while sent < total:
            if select.select([conn], [], [], 0)[0]:
                break
            try:
                conn.sendall(chunk)
            except OSError:
                break
            sent += len(block)
        answer = conn.recv(200)
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1") else None
    return status, sent


@pytest.mark.parametrize(("path", "signed"), [("/auth/token", False), ("/search", False), ("/cases", True)])
def test_a_chunked_flood_is_cut_off_early(service: Service, path: str, signed: bool) -> None:
    """50 MiB sent without a Content-Length: refused (401 unsigned, 413 too large) before it is all sent.

    The gateway answers at once (no token) or at the route's limit; Ray Serve's proxy queues what the
    client sent meanwhile, so an ingress in front should bound bodies too (see k8s/)."""
    kind = "application/json" if path != "/search" else "multipart/form-data; boundary=b"
    headers = {"content-type": kind}
    if signed:
        headers["authorization"] = f"Bearer {service.tokens[Role.INVESTIGATOR]}"
    started = time.monotonic()
    status, sent = _flood(service.url, path, headers, 50 * MIB)
    elapsed = time.monotonic() - started
    expected = 401 if path == "/search" else 413
    assert status == expected, (path, status)
    assert elapsed < 10, (path, sent // MIB, elapsed)
    if expected == 401:  # refused on its headers: the answer comes before the body is all sent
        assert sent < 50 * MIB, (path, sent // MIB)


def test_a_route_cut_off_leaves_the_service_answering(service: Service) -> None:
    stop = threading.Event()

    def flood() -> None:
        with service.client() as api:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    api.post("/search", content=_chunks(8 * MIB, [0]), headers={"content-type": "text/plain"})

    worker = threading.Thread(target=flood, daemon=True)
    worker.start()
    try:
        with service.client(Role.INVESTIGATOR) as api:
            assert api.get(f"/cases/{uuid.uuid4()}").status_code == 404
    finally:
        stop.set()
        worker.join(timeout=30)
