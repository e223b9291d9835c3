"""The outbound guard: every call the service makes out (photo URLs, HTTPS feeds, webhooks) goes through it.

Only http(s) (https alone where the caller asks, unless the host is allowed); no user names or
passwords in URLs; every address a host name resolves to must be public unless the
administrator allowed that host by name, so a record or a webhook cannot make the service call
its own network (loopback, private, link-local, cloud metadata addresses). The name is
resolved once, by the check, and the connection goes to the address that was checked, with
the name still sent as the Host header and as TLS server name (the certificate is verified for
the name): a name that resolves elsewhere a moment later (DNS rebinding) is never connected to.
Redirects are followed by hand, a few at most, each target checked again, and headers
(credentials) are sent to the first origin only — scheme, host and port. Size and time are
capped while reading.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin

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


@dataclass(frozen=True)
class Target:
    """A URL checked and its host resolved once: connections go to ``address``, speaking to ``host``."""

    url: httpx.URL
    host: str
    port: int
    address: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.url.scheme, self.host, self.port)


def check_url_form(url: str, allowed_hosts: Iterable[str] = (), *, https_only: bool = False) -> httpx.URL:
    """The URL parsed, FetchRefusedError unless its form may be fetched (no name is resolved here)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise FetchRefusedError("not a URL that can be fetched") from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchRefusedError(f"only http and https URLs are fetched, not {parsed.scheme or 'a bare path'}")
    if parsed.userinfo:
        raise FetchRefusedError("URLs may not carry a user name or password; use the source's credentials")
    host = parsed.host.lower()
    if not host:
        raise FetchRefusedError("the URL names no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise FetchRefusedError("the URL names a port out of range")
    if https_only and parsed.scheme != "https" and host not in {h.lower() for h in allowed_hosts}:
        raise FetchRefusedError("only https URLs are called, unless an administrator allowed the host by name")
    return parsed


def check_url(url: str, allowed_hosts: Iterable[str] = (), *, https_only: bool = False) -> Target:
    """The target to connect to: FetchRefusedError unless ``url`` goes to public addresses or to an allowed host.

    The name is resolved here, once; every address it gives must be public unless the host is
    allowed by name, and the connection is made to the first of them (``open_pinned``).
    """
    allowed = {h.lower() for h in allowed_hosts}
    parsed = check_url_form(url, allowed, https_only=https_only)
    host, port = parsed.host.lower(), parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        resolved = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"the host {host} cannot be resolved") from exc
    if not resolved:
        raise FetchError(f"the host {host} cannot be resolved")
    for text in resolved if host not in allowed else ():
        address = ipaddress.ip_address(text.split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not (mapped or address).is_global:
            raise FetchRefusedError(
                f"{host} points at a non-public address ({address}); an administrator must allow the host by name"
            )
    return Target(parsed, host, port, resolved[0])


@contextmanager
def open_pinned(
    client: httpx.Client,
    method: str,
    target: Target,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> Iterator[httpx.Response]:
    """A streamed request to ``target``'s checked address, with its host name as Host and TLS server name."""
    request = client.build_request(
        method,
        target.url.copy_with(host=target.address.split("%")[0]),
        headers={**(headers or {}), "Host": target.url.netloc.decode("ascii")},
        content=content,
        extensions={"sni_hostname": target.url.raw_host.decode("ascii")} if target.url.scheme == "https" else {},
    )
    reply = client.send(request, stream=True)
    try:
        yield reply
    finally:
        reply.close()


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
    origin: tuple[str, str, int] | None = None
    with httpx.Client(follow_redirects=False, timeout=limits.timeout_s, trust_env=False) as client:
        for _ in range(limits.max_redirects + 1):
            target = check_url(url, allowed)
            origin = origin or target.origin
            sent = dict(headers or {}) if target.origin == origin else None
            try:
                with open_pinned(client, "GET", target, headers=sent) as reply:
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
