"""`sura status`: is the service up, what it matches against, what waits, and whether the audit log verified."""

from __future__ import annotations

import sys

import click
import httpx
import sqlalchemy as sa

from configs.settings import get_settings
from serving.cli.database import database
from storage.audit import AuditLog
from storage.job_census import census
from storage.tables import Case, Face


@click.command("status")
@click.option("--url", help="The service (default: http://SURA_SERVE__HOST:SURA_SERVE__PORT).")
def status_command(url: str | None) -> None:
    """Readiness of the running service, gallery sizes per pack, the job queue, the last audit verification."""
    serve = get_settings().serve
    base = url or f"http://{serve.host}:{serve.port}"
    ready = _readiness(base)
    with database(migrate=False) as db, db.transaction() as session:
        galleries: list[tuple[str, int]] = [
            (pack, count)
            for pack, count in session.execute(
                sa.select(Face.pack, sa.func.count())
                .join(Case, Case.id == Face.case_id)
                .where(Case.matchable)
                .group_by(Face.pack)
            )
        ]
        queue = census(session)
        latest = AuditLog(session).find(actions=["audit.verify"], page_size=1).items
        verified = latest[0] if latest else None
    for pack, faces in galleries or [("(none)", 0)]:
        click.echo(f"gallery {pack}: {faces} reference faces of matchable cases")
    for kind, job_status, count, waited in queue:
        click.echo(f"jobs {kind} {job_status}: {count} (oldest waiting {waited:.0f} s)")
    if not queue:
        click.echo("jobs: none queued or running")
    if verified is None:
        click.echo("audit: not verified by the service yet")
    else:
        outcome = "intact" if verified.outcome == "success" else f"BROKEN ({verified.details.get('reason')})"
        click.echo(
            f"audit: {outcome}, {verified.details.get('checked')} entries, {verified.occurred_at:%Y-%m-%d %H:%M} UTC"
        )
    if not ready:
        sys.exit(1)


def _readiness(base: str) -> bool:
    try:
        reply = httpx.get(f"{base}/api/v1/health/ready", timeout=10)
    except httpx.HTTPError as exc:
        click.echo(f"service at {base}: not reachable ({type(exc).__name__})")
        return False
    checks = reply.json().get("checks", {})
    summary = ", ".join(f"{name} {'ok' if fine else 'NOT READY'}" for name, fine in checks.items())
    click.echo(f"service at {base}: {'ready' if reply.status_code == 200 else 'not ready'} ({summary})")
    return reply.status_code == 200
