"""The download guard: refused addresses, allowed hosts, limits and redirects, against a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from serving.external.fetch import FetchError, FetchLimits, FetchRefusedError, check_url, fetch


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.org/x", "only http and https"),
        ("https://user:secret@example.org/x", "user name or password"),
        ("http://127.0.0.1/x", "non-public address"),
        ("http://localhost:8080/x", "non-public address"),
        ("http://10.1.2.3/x", "non-public address"),
        ("http://169.254.169.254/latest/meta-data", "non-public address"),
        ("http://[::1]/x", "non-public address"),
        ("http://[::ffff:192.168.0.1]/x", "non-public address"),
        ("http://0.0.0.0/x", "non-public address"),
    ],
)
def test_the_guard_refuses_urls_into_the_service_network(url: str, reason: str) -> None:
    with pytest.raises(FetchRefusedError, match=reason):
        check_url(url)


def test_an_allowed_host_is_fetched_by_name_only() -> None:
    check_url("http://127.0.0.1:9/x", allowed_hosts=["127.0.0.1"])
    with pytest.raises(FetchRefusedError):
        check_url("http://localhost:9/x", allowed_hosts=["127.0.0.1"])


@pytest.fixture()
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/big":
                self.send_response(200)
                self.send_header("Content-Length", str(10_000))
                self.end_headers()
                self.wfile.write(b"x" * 10_000)
            elif self.path.startswith("/hop"):
                hops = int(self.path.removeprefix("/hop") or 0)
                self.send_response(302)
                target = f"/hop{hops + 1}" if hops < 5 else "/ok"
                self.send_header("Location", target if hops != 1 else "http://localhost:1/inside")
                self.end_headers()
            else:
                self.send_response(200 if self.path == "/ok" else 404)
                self.end_headers()
                self.wfile.write(b"fine" if self.path == "/ok" else b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_downloads_are_limited_and_redirects_checked(server: str) -> None:
    allowed = ["127.0.0.1"]
    assert fetch(f"{server}/ok", allowed_hosts=allowed) == b"fine"
    with pytest.raises(FetchRefusedError):
        fetch(f"{server}/ok")  # not allowed by name
    with pytest.raises(FetchError, match="over the limit"):
        fetch(f"{server}/big", allowed_hosts=allowed, limits=FetchLimits(max_bytes=1000))
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{server}/missing", allowed_hosts=allowed)
    with pytest.raises(FetchRefusedError, match="localhost"):
        fetch(f"{server}/hop1", allowed_hosts=allowed)  # redirected into the service's own network
    with pytest.raises(FetchError, match="redirects"):
        fetch(f"{server}/hop2", allowed_hosts=allowed, limits=FetchLimits(max_redirects=2))
