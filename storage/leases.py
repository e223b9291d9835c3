"""Keeping a job's lease while its work runs: renewed in the background, its loss made known."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa

from storage.database import Database
from storage.errors import LeaseLostError
from storage.jobs import JobQueue

logger = logging.getLogger(__name__)


@contextmanager
def keep_lease(db: Database, *, job_id: uuid.UUID, worker: str, lease: timedelta) -> Iterator[threading.Event]:
    """Renew ``worker``'s lease on the job every third of ``lease`` until the block ends.

    Work such as model loading can outlast a lease, so renewal runs beside it in a thread.
    The event is set once the lease is lost (another worker took the job over); a database
    blip only skips one renewal.
    """
    lost, stop = threading.Event(), threading.Event()

    def renew() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            try:
                with db.transaction() as session:
                    JobQueue(session).heartbeat(job_id=job_id, worker=worker, lease=lease)
            except LeaseLostError:
                lost.set()
                return
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                logger.warning("job %s: could not renew the lease: %s", job_id, type(exc).__name__)

    thread = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()
