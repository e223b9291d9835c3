"""The `sura` command: the service, users, face analysis and evaluation, the database and its audit log."""

from __future__ import annotations

import logging

import click

from configs.settings import get_settings
from models.registry import pack_names
from serving.cli.calibrate import calibrate
from serving.cli.database import audit, migrate
from serving.cli.evaluate import evaluate
from serving.cli.faces import faces
from serving.cli.scan import scan_command
from serving.cli.serve import serve_command
from serving.cli.status import status_command
from serving.cli.users import user


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """SuraSmart: find missing people by their faces."""
    logging.basicConfig(
        level=max(logging.DEBUG, logging.WARNING - 10 * verbose),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@cli.command()
def packs() -> None:
    """List the model packs this machine can use."""
    for name in pack_names(get_settings().models.sources()):
        click.echo(name)


cli.add_command(faces)
cli.add_command(evaluate)
cli.add_command(calibrate)
cli.add_command(migrate)
cli.add_command(audit)
cli.add_command(serve_command)
cli.add_command(status_command)
cli.add_command(scan_command)
cli.add_command(user)
