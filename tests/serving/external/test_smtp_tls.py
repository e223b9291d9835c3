"""Mail goes out over STARTTLS with the server's certificate verified, against a real local TLS mail server."""

from __future__ import annotations

import email
import ipaddress
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from configs.settings import SmtpSettings
from serving.services.delivery import DeliveryError, send_email
from storage.tables import Notification, NotificationKind


@dataclass
class TlsInbox:
    port: int
    certificate: Path
    messages: list[email.message.Message] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        assert session.ssl is not None, "the message came over plain text"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (its own CA), as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sura test mail")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "mail.pem", folder / "mail.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture()
def tls_inbox(tmp_path: Path) -> Iterator[TlsInbox]:
    from aiosmtpd.controller import Controller

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    box = TlsInbox(port=port, certificate=cert)
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    yield box
    controller.stop()


def _note() -> Notification:
    return Notification(
        id=uuid.uuid4(),
        kind=NotificationKind.MATCH_FOUND,
        title="Possible match",
        body="",
        created_at=datetime.now(UTC),
    )


def test_an_unverified_certificate_is_refused(tls_inbox: TlsInbox) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=tls_inbox.port, timeout_s=10)
    with pytest.raises(DeliveryError, match="mail server"):
        send_email(smtp, to="someone@example.org", note=_note())
    assert tls_inbox.messages == [], "the message went to a server whose certificate nobody checked"


def test_the_configured_ca_file_makes_it_verified(tls_inbox: TlsInbox) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=tls_inbox.port, timeout_s=10, ca_file=tls_inbox.certificate)
    send_email(smtp, to="someone@example.org", note=_note())
    [message] = tls_inbox.messages
    assert message["To"] == "someone@example.org" and "Possible match" in message["Subject"]
