"""Downloads from partner servers (photo URLs, HTTPS feeds), guarded against server-side request forgery.

Only http(s); no user names or passwords in URLs; every address a host name resolves to must
be public unless the administrator allowed that host by name, so a record cannot make the
service call its own network (loopback, private, link-local, cloud metadata addresses).
Redirects are followed by hand, a few at most, each target checked again, and credentials
are not sent to another host. Size and time are capped while reading.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx


class FetchRefusedError(Exception):
    """Raised when a URL may not be fetched (its scheme, or where its host points)."""


class FetchError(Exception):
    """Raised when a download fails: an error status, too large, too slow, too many redirects."""


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 25 * 2**20
    timeout_s: float = 20.0
    max_redirects: int = 3


def check_url(url: str, allowed_hosts: Iterable[str] = ()) -> None:
    """FetchRefusedError unless ``url`` is http(s) to public addresses or to an allowed host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefusedError(f"only http and https URLs are fetched, not {parts.scheme or 'a bare path'}")
    if parts.username or parts.password:
        raise FetchRefusedError("URLs may not carry a user name or password; use the source's credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchRefusedError("the URL names no host")
    if host in {h.lower() for h in allowed_hosts}:
        return
    try:
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"the host {host} cannot be resolved") from exc
    for text in resolved:
        address = ipaddress.ip_address(text.split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            raise FetchRefusedError(
                f"{host} points at a non-public address ({address}); an administrator must allow the host by name"
            )


def fetch(
    url: str,
    *,
    allowed_hosts: Iterable[str] = (),
    limits: FetchLimits = FetchLimits(),
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The body of ``url`` (status 200), within ``limits``."""
    allowed = list(allowed_hosts)
    deadline = time.monotonic() + limits.timeout_s
    origin = urlsplit(url).hostname
    with httpx.Client(follow_redirects=False, timeout=limits.timeout_s, trust_env=False) as client:
        for _ in range(limits.max_redirects + 1):
            check_url(url, allowed)
            same_host = urlsplit(url).hostname == origin
            try:
                with client.stream("GET", url, headers=dict(headers or {}) if same_host else None) as reply:
                    if reply.is_redirect:
                        url = urljoin(url, reply.headers.get("location", ""))
                        continue
                    if reply.status_code != 200:
                        raise FetchError(f"the server answered HTTP {reply.status_code}")
                    return _read(reply, limits.max_bytes, deadline)
            except httpx.TimeoutException as exc:
                raise FetchError(f"no answer within {limits.timeout_s:.0f} s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"the download failed: {type(exc).__name__}") from exc
    raise FetchError(f"more than {limits.max_redirects} redirects")


def _read(reply: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = reply.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"the file has {declared} bytes, over the limit of {max_bytes}")
    chunks, size = [], 0
    for chunk in reply.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"the file is over the limit of {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError("the download took too long")
        chunks.append(chunk)
    return b"".join(chunks)
