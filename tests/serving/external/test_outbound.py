"""The outbound guard for every call the service makes (photo downloads, feeds, webhooks), against real servers.

Names resolve once and the connection goes to the address that was checked (no DNS rebinding);
headers go to the origin they were meant for only; webhooks go over https to public addresses
(or to hosts allowed by name), and their failures say nothing about the network behind them.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from serving.external.fetch import FetchError, FetchLimits, FetchRefusedError, check_url, fetch, open_pinned
from serving.services.delivery import DeliveryError, send_webhook, signature
from storage.tables import Notification, NotificationKind


@dataclass
class Server:
    """A local HTTP server: what it answers (path → (status, headers)) and every request it saw."""

    url: str
    port: int
    answers: dict[str, tuple[int, dict[str, str]]]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (method, path, headers)


@pytest.fixture()
def servers() -> Iterator[Callable[[], Server]]:
    started: list[ThreadingHTTPServer] = []

    def start() -> Server:
        answers: dict[str, tuple[int, dict[str, str]]] = {}
        seen: list[tuple[str, str, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers = answers.get(self.path, (200, {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"fine")

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(httpd)
        port = httpd.server_address[1]
        return Server(f"http://127.0.0.1:{port}", port, answers, seen)

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def _note() -> Notification:
    return Notification(
        id=uuid.uuid4(),
        kind=NotificationKind.MATCH_FOUND,
        title="Possible match for case C-1",
        body="",
        created_at=datetime.now(UTC),
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])  # public when checked, then rebound inside
    real_resolve, connected = socket.getaddrinfo, []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real_resolve(next(answers) if host == "rebind.test" else host, port, *args, **kwargs)

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        connected.append(address[0])
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", connect)
    with pytest.raises(FetchError):
        fetch("http://rebind.test:8080/photo.jpg", limits=FetchLimits(timeout_s=3))
    assert connected == ["93.184.216.34"], "the connection resolved the name again after the check"


def test_the_host_name_is_still_sent_to_the_address(servers: Callable[[], Server]) -> None:
    server = servers()
    target = check_url(f"{server.url}/ok", allowed_hosts=["127.0.0.1"])
    assert (target.host, target.port, target.address) == ("127.0.0.1", server.port, "127.0.0.1")
    assert fetch(f"http://localhost:{server.port}/ok", allowed_hosts=["localhost"]) == b"fine"
    assert server.seen[-1][2]["host"] == f"localhost:{server.port}"


def test_headers_are_not_resent_to_another_port_of_the_same_host(servers: Callable[[], Server]) -> None:
    origin, other = servers(), servers()
    origin.answers["/moved"] = (302, {"Location": f"{other.url}/ok"})
    secret = {"Authorization": "Bearer partner-secret"}
    assert fetch(f"{origin.url}/moved", allowed_hosts=["127.0.0.1"], headers=secret) == b"fine"
    assert origin.seen[0][2]["authorization"] == "Bearer partner-secret"
    assert "authorization" not in other.seen[0][2], "the credentials followed the redirect to another port"
    origin.answers["/here"] = (302, {"Location": "/ok"})
    fetch(f"{origin.url}/here", allowed_hosts=["127.0.0.1"], headers=secret)
    assert origin.seen[-1][2]["authorization"] == "Bearer partner-secret", "the same origin keeps them"


def test_https_only_refuses_plain_http_unless_the_host_is_allowed() -> None:
    with pytest.raises(FetchRefusedError, match="https"):
        check_url("http://93.184.216.34/hook", https_only=True)
    check_url("http://127.0.0.1:9/hook", allowed_hosts=["127.0.0.1"], https_only=True)


def test_webhooks_do_not_reach_the_service_network(servers: Callable[[], Server]) -> None:
    inside = servers()
    for target in (f"{inside.url}/hook", f"http://localhost:{inside.port}/hook", "http://169.254.169.254/latest"):
        with pytest.raises(DeliveryError):
            send_webhook(target, secret="k", note=_note(), delivery="d-1")
    assert inside.seen == []


def test_a_webhook_to_an_allowed_host_is_delivered_and_signed(servers: Callable[[], Server]) -> None:
    receiver = servers()
    send_webhook(f"{receiver.url}/hook", secret="k", note=_note(), delivery="d-2", allowed_hosts=["127.0.0.1"])
    [(method, path, headers)] = receiver.seen
    assert (method, path, headers["x-sura-delivery"]) == ("POST", "/hook", "d-2")
    assert headers["x-sura-signature"].startswith("sha256=") and signature("k", "1", b"") != headers["x-sura-signature"]


def test_webhook_failures_carry_no_remote_detail(servers: Callable[[], Server]) -> None:
    """A closed port, an error status and a refused address read the same: no port scanner in /jobs."""
    receiver = servers()
    receiver.answers["/broken"] = (500, {})
    receiver.answers["/moved"] = (301, {"Location": "http://10.0.0.1/"})
    targets = [
        f"http://127.0.0.1:{_closed_port()}/hook",
        f"{receiver.url}/broken",
        f"{receiver.url}/moved",
        f"http://127.0.0.1:{receiver.port}/hook?x=1",
    ]
    messages = set()
    for target in targets:
        allowed = ["127.0.0.1"] if target != targets[-1] else []
        with pytest.raises(DeliveryError) as failure:
            send_webhook(target, secret="k", note=_note(), delivery="d-3", allowed_hosts=allowed)
        messages.add(str(failure.value))
    assert len(messages) == 1, messages
    [message] = messages
    assert not any(word in message for word in ("500", "301", "Connect", "127.0.0.1", str(receiver.port)))


def test_https_keeps_the_name_for_the_certificate_while_connecting_to_the_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def public(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real("93.184.216.34" if host == "hooks.example.org" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", public)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    target = check_url("https://hooks.example.org/sura", https_only=True)
    with httpx.Client(transport=httpx.MockTransport(answer)) as client, open_pinned(client, "POST", target) as reply:
        assert reply.status_code == 204
    [request] = seen
    assert (request.url.host, request.url.port, request.headers["host"]) == ("93.184.216.34", None, "hooks.example.org")
    assert request.extensions["sni_hostname"] == "hooks.example.org", "TLS would verify the address, not the name"
