"""Sending a notification out: e-mail over SMTP, or a POST signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import httpx

from configs.settings import SmtpSettings
from storage.tables import Notification

SIGNATURE_HEADER = "X-Sura-Signature"
TIMESTAMP_HEADER = "X-Sura-Timestamp"


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
            if smtp.starttls:
                server.starttls()
            if smtp.username and smtp.password:
                server.login(smtp.username, smtp.password.get_secret_value())
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"the mail server refused or could not be reached: {type(exc).__name__}") from exc


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body): what receivers recompute."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def send_webhook(url: str, *, secret: str, note: Notification, delivery: str, timeout: float = 10.0) -> None:
    body = json.dumps(notification_document(note), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        "X-Sura-Delivery": delivery,
    }
    try:
        reply = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"the webhook could not be reached: {type(exc).__name__}") from exc
    if not 200 <= reply.status_code < 300:
        raise DeliveryError(f"the webhook answered HTTP {reply.status_code}")
