"""`sura serve`: the whole service on one machine: database, Ray, the Serve application."""

from __future__ import annotations

import os
import signal
import socket
import threading

import click
import sqlalchemy as sa
from pydantic import SecretStr

from configs.settings import embedded_anchor, get_settings
from serving.cli.database import database
from storage.tables import User


@click.command("serve")
@click.option("--host", help="Address to listen on (default: SURA_SERVE__HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: SURA_SERVE__PORT or 8000).")
@click.option("--pack", "pack_name", help="Model pack (default: SURA_MODELS__PACK or dlib).")
def serve_command(host: str | None, port: int | None, pack_name: str | None) -> None:
    """Start the database (embedded unless SURA_DB__URL), a local Ray and the API; Ctrl-C stops all."""
    settings = get_settings()
    host, port = host or settings.serve.host, port or settings.serve.port
    models = settings.models.model_copy(update={"pack": pack_name}) if pack_name else settings.models
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for label, where, number in (("the API", host, port), ("metrics", "127.0.0.1", settings.serve.metrics_port)):
        _check_free(label, where, number)
    with database() as db:
        url = settings.db.url or SecretStr(db.server.url if db.server else "")
        with db.transaction() as session:
            users = session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
        import ray
        from ray import serve

        from serving.app import AppArgs, build_app

        # Two logical CPUs more than the cores: room for an archive scan's actors beside the
        # deployments (the scheduler counts shares; the operating system shares the cores).
        ray.init(
            num_cpus=(os.cpu_count() or 1) + 2,
            include_dashboard=False,
            configure_logging=False,
            _metrics_export_port=settings.serve.metrics_port,
        )
        try:
            serve.start(http_options={"host": host, "port": port}, logging_config={"enable_access_log": False})
            click.echo(f"starting SuraSmart with pack {models.pack} (models load on first start) …")
            # The embedded database's audit chain is anchored beside it unless a file is named.
            audit = settings.audit.model_copy(
                update={"anchor_file": settings.audit.anchor_file or (None if settings.db.url else embedded_anchor())}
            )
            serve.run(build_app(AppArgs(models=models, db_url=url, audit=audit)), name="sura", route_prefix="/")
            click.echo(f"SuraSmart is serving on http://{host}:{port}/api/v1 (API docs: http://{host}:{port}/docs)")
            click.echo(f"metrics for Prometheus: http://127.0.0.1:{settings.serve.metrics_port}/metrics")
            if users == 0:
                click.echo(
                    "No users yet. Create the first administrator in another terminal:\n"
                    "  sura user create --role admin --email you@example.org --name 'Your Name'"
                )
            click.echo("Press Ctrl-C to stop.")
            _wait_for_stop()
        finally:
            click.echo("stopping …")
            serve.shutdown()
            ray.shutdown()


def _wait_for_stop() -> None:
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    stop.wait()


def _check_free(label: str, host: str, port: int) -> None:
    """Fail at once when the port is taken (another `sura serve`, most likely), before starting anything."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"{host}:{port} ({label}) is in use, perhaps by another `sura serve`; choose another port"
            ) from exc
