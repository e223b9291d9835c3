"""Where an SQL source connects: its location checked like a URL, never the service's own database.

A location names one server, by host and port or by a Unix socket (PostgreSQL ``?host=/dir``,
MySQL ``?unix_socket=``), and no option that could connect elsewhere or loosen the read-only
session (``hostaddr``, ``service``, ``options`` …: only ``QUERY_OPTIONS`` pass). The service's
own database (same server, same database name) is refused always. When connecting, a host name
is resolved once: every address must be public unless the administrator allowed the host by
name, and the connection goes to the checked address (libpq's ``hostaddr``, so TLS still
verifies the name). A socket is local, so it needs allowing too, by its path.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from storage.tables import SourceKind

QUERY_OPTIONS = {
    SourceKind.POSTGRESQL: frozenset({"host", "sslmode", "application_name"}),
    SourceKind.MYSQL: frozenset({"charset", "unix_socket"}),
    SourceKind.SQLITE: frozenset(),
}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


class EndpointError(Exception):
    """Raised when a source's location may not be connected to; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """One database server and database: a host and port, or a socket folder (``host`` None)."""

    host: str | None
    port: int
    socket: Path | None
    database: str | None

    def same_server(self, other: Endpoint) -> bool:
        if self.socket is not None or other.socket is not None:
            return self.socket == other.socket and self.port == other.port
        return (self.host or "").lower() == (other.host or "").lower() and self.port == other.port


def check_options(kind: SourceKind, url: sa.URL) -> None:
    """EndpointError for a query option outside ``QUERY_OPTIONS`` of the kind, or given twice."""
    unknown = sorted(set(url.query) - QUERY_OPTIONS[kind])
    if unknown:
        raise EndpointError(f"the location may not set {', '.join(unknown)}")
    if any(not isinstance(value, str) for value in url.query.values()):
        raise EndpointError("the location may name one server only")


def endpoint_of(url: sa.URL) -> Endpoint:
    """The server and database ``url`` names (EndpointError for none, or several)."""
    backend = url.get_backend_name()
    socket_dir = url.query.get("host") if backend == "postgresql" else url.query.get("unix_socket")
    host = url.host or ""
    if "," in host or "," in str(socket_dir or ""):
        raise EndpointError("the location may name one server only")
    port = url.port or _DEFAULT_PORTS.get(backend, 0)
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        return Endpoint(None, port, Path(socket_dir).resolve(), url.database)
    if host.startswith("/"):
        return Endpoint(None, port, Path(host).resolve(), url.database)
    if not host and not socket_dir:
        raise EndpointError("the location must name the server's host")
    return Endpoint((host or str(socket_dir)).lower(), port, None, url.database)


def check_not_own(endpoint: Endpoint, own: sa.URL | None) -> None:
    """EndpointError when ``endpoint`` is the service's own database (``own``: its URL)."""
    if own is None:
        return
    mine = endpoint_of(own)
    if endpoint.database == mine.database and (endpoint.same_server(mine) or _same_addresses(endpoint, mine)):
        raise EndpointError("the location is the service's own database")


def pinned_connection(
    kind: SourceKind, url: sa.URL, allowed_hosts: Iterable[str], own: sa.URL | None
) -> tuple[sa.URL, dict[str, Any]]:
    """The URL to connect with and extra connect arguments: the checked address pinned, or EndpointError."""
    endpoint = endpoint_of(url)
    check_not_own(endpoint, own)
    allowed = {host.lower() for host in allowed_hosts}
    if endpoint.socket is not None:
        if not {_resolved(host) for host in allowed if host.startswith("/")} & {endpoint.socket}:
            raise EndpointError(
                "the location is a local socket; an administrator must allow it by its path (allowed_hosts)"
            )
        return url, {}
    host = endpoint.host or ""
    addresses = _addresses(host, endpoint.port)
    if host not in allowed:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%")[0])
            mapped = getattr(address, "ipv4_mapped", None)
            if not (mapped or address).is_global:
                raise EndpointError(
                    f"{host} points at a non-public address ({address}); an administrator must allow the host by name"
                )
    if kind is SourceKind.POSTGRESQL:
        return url, {"hostaddr": addresses[0]}  # the name stays for TLS; the address is the one checked
    return url.set(host=addresses[0]), {}


def _addresses(host: str, port: int) -> list[str]:
    try:
        found = [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointError(f"the host {host} cannot be resolved") from exc
    if not found:
        raise EndpointError(f"the host {host} cannot be resolved")
    return found


def _same_addresses(first: Endpoint, second: Endpoint) -> bool:
    """Whether two host names reach one server (a name and an address of it); unresolvable means no."""
    if first.host is None or second.host is None or first.port != second.port:
        return False
    try:
        return bool(set(_addresses(first.host, first.port)) & set(_addresses(second.host, second.port)))
    except EndpointError:
        return False


def _resolved(path: str) -> Path:
    return Path(path).resolve()
