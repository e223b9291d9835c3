"""Sending a notification out: e-mail over SMTP, or a POST signed with HMAC-SHA256.

Mail goes over STARTTLS with the server's certificate verified (the system's CAs, or
``SmtpSettings.ca_file``). Webhooks go through the outbound guard (``serving.external.fetch``):
https to public addresses only, unless the host is allowed by name; the name is resolved once
and the checked address is the one connected to. Their failures are recorded in one sentence
whatever went wrong — the job's error is seen by others, and must not tell what answers where on
the network behind the service; the reason goes to the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any

import httpx

from configs.settings import SmtpSettings
from serving.external.fetch import FetchError, FetchRefusedError, check_url, open_pinned
from storage.tables import Notification

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sura-Signature"
TIMESTAMP_HEADER = "X-Sura-Timestamp"
WEBHOOK_FAILED = (
    "the webhook could not be delivered (refused by the outbound guard, unreachable, or not answered with 2xx)"
)


class DeliveryError(Exception):
    """Raised when a notification could not be handed over (the job retries it later)."""


def notification_document(note: Notification) -> dict[str, Any]:
    """What leaves the system: ids and the text of the notification, nothing else."""
    return {
        "id": str(note.id),
        "kind": note.kind.value,
        "title": note.title,
        "body": note.body,
        "case_id": str(note.case_id) if note.case_id else None,
        "match_id": str(note.match_id) if note.match_id else None,
        "job_id": str(note.job_id) if note.job_id else None,
        "created_at": note.created_at.isoformat(),
    }


def send_email(smtp: SmtpSettings, *, to: str, note: Notification) -> None:
    if smtp.host is None:
        raise DeliveryError("no mail server is configured (SURA_SMTP__HOST)")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = smtp.sender, to, f"[SuraSmart] {note.title}"
    message.set_content(f"{note.body}\n\nOpen SuraSmart to see it (notification {note.id}).\n")
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as server:
            if smtp.starttls:  # verified: a server without STARTTLS or a valid certificate is refused
                server.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
            if smtp.username and smtp.password:
                server.login(smtp.username, smtp.password.get_secret_value())
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"the mail server refused or could not be reached: {type(exc).__name__}") from exc


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body): what receivers recompute."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def send_webhook(
    url: str,
    *,
    secret: str,
    note: Notification,
    delivery: str,
    allowed_hosts: Iterable[str] = (),
    timeout: float = 10.0,
) -> None:
    """POST the notification to ``url`` through the outbound guard; DeliveryError (``WEBHOOK_FAILED``) if not taken.

    ``allowed_hosts`` may be called over plain http and at non-public addresses (test receivers).
    The answer's body is never read.
    """
    body = json.dumps(notification_document(note), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        "X-Sura-Delivery": delivery,
    }
    try:
        target = check_url(url, allowed_hosts, https_only=True)
        with (
            httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client,
            open_pinned(client, "POST", target, headers=headers, content=body) as reply,
        ):
            status = reply.status_code
    except (FetchRefusedError, FetchError, httpx.HTTPError) as exc:
        logger.warning("webhook delivery %s failed: %s", delivery, type(exc).__name__)
        raise DeliveryError(WEBHOOK_FAILED) from None
    if not 200 <= status < 300:
        logger.warning("webhook delivery %s failed: HTTP %d", delivery, status)
        raise DeliveryError(WEBHOOK_FAILED)
