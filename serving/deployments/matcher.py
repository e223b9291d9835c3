"""The Matcher deployment: open cases' reference faces in memory, searched exactly, kept in step.

Each replica loads the gallery of its pack from PostgreSQL, then follows the ``sura_gallery``
channel (LISTEN/NOTIFY, fed by triggers on faces and cases): a face added to or removed from
a case, a case closed, reopened or erased changes one entry, never a full reload. Every
replica listens, so all replicas agree within moments of a commit. If the connection drops,
the replica reports itself not ready, reconnects and reloads once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from datetime import date
from typing import Any, Literal

import numpy as np
import psycopg
import sqlalchemy as sa
from numpy.typing import NDArray
from pgvector.psycopg import register_vector_async
from psycopg.rows import namedtuple_row
from ray import serve
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from configs.settings import Settings
from models.registry import resolve_pack
from pipeline.candidates import Ranking, rank_candidates
from pipeline.gallery import CaseGallery
from serving.errors import NotReadyError
from serving.metrics import metrics, timed
from storage.errors import describe_error
from storage.repositories.faces import gallery_face, reference_faces
from storage.tables import Face

logger = logging.getLogger(__name__)

CHANNEL = "sura_gallery"
REPORT_SECONDS = 5.0  # how often a matcher reports its gallery to the metrics


@serve.deployment(name="Matcher", max_ongoing_requests=64)
class Matcher:
    """Top-k case search with calibrated scores over an in-memory, change-fed gallery."""

    async def __init__(self, settings: Settings, device: Literal["cpu", "cuda"] = "cpu") -> None:  # type: ignore[misc]
        pack = resolve_pack(settings.models.pack, settings.models.sources())  # Serve awaits this __init__
        self.pack = pack.name
        self.gallery = CaseGallery() if device == "cpu" else _device_gallery(device)
        self.calibration = pack.calibration
        self.policy = settings.matching.policy()
        self.synced = asyncio.Event()
        self.replica = serve.get_replica_context().replica_id.unique_id
        if settings.db.url is None:
            raise ValueError("the matcher needs the database URL in its settings")
        self._dsn = (
            sa.make_url(settings.db.url.get_secret_value())
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self.out_of_step_since: float | None = time.monotonic()  # until the first load
        self._follower = asyncio.create_task(self._follow())
        self._reporter = asyncio.create_task(self._report())

    async def search(self, vectors: NDArray[np.float32], k: int, probe_day: date | None = None) -> Ranking:
        """Per face embedding (F, D) of a photo taken on ``probe_day``: the ``k`` most similar open
        cases, and those put forward across an age gap, at the operating point of this gallery."""
        if not self.synced.is_set():
            raise NotReadyError("the case gallery is still loading")
        with timed("match"):
            return rank_candidates(self.gallery, self.calibration, vectors, k, policy=self.policy, probe_day=probe_day)

    async def ready(self) -> bool:
        return self.synced.is_set()

    async def holds(self, case_id: uuid.UUID) -> tuple[str, bool]:
        """(this replica, whether the case is in its gallery): for checks that every replica agrees."""
        return self.replica, self.gallery.holds(case_id)

    async def status(self) -> dict[str, Any]:
        return {
            "replica": self.replica,
            "synced": self.synced.is_set(),
            "faces": len(self.gallery.faces),
            "cases": self.gallery.cases(),
        }

    async def _follow(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as listener:
                    await listener.execute(f"LISTEN {CHANNEL}")
                    async with await psycopg.AsyncConnection.connect(
                        self._dsn, autocommit=True, row_factory=namedtuple_row
                    ) as reader:
                        await register_vector_async(reader)
                        await self._reload(reader)
                        delay = 0.5
                        async for note in listener.notifies():
                            await self._apply(reader, json.loads(note.payload))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: stop answering, reconnect, reload everything
                self.synced.clear()
                self.out_of_step_since = self.out_of_step_since or time.monotonic()
                reason = describe_error(error)
                logger.warning("matcher %s out of step (%s); reloading in %.1f s", self.replica, reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _reload(self, reader: psycopg.AsyncConnection[Any]) -> None:
        self.gallery.replace([gallery_face(row) for row in await self._faces(reader)])
        self.synced.set()
        self.out_of_step_since = None
        logger.info(
            "matcher %s synced: %d faces of %d cases", self.replica, len(self.gallery.faces), self.gallery.cases()
        )

    async def _report(self) -> None:
        """Gallery size and how long this replica has been out of step (0 in step), every few seconds."""
        while True:
            recorded = metrics()
            recorded.gallery_faces.set(len(self.gallery.faces), tags={"pack": self.pack})
            since = self.out_of_step_since
            recorded.gallery_lag.set(0.0 if since is None else time.monotonic() - since)
            await asyncio.sleep(REPORT_SECONDS)

    async def _apply(self, reader: psycopg.AsyncConnection[Any], event: dict[str, str]) -> None:
        kind, case = event["event"], uuid.UUID(event["case"])
        if kind in ("face_added", "face_removed") and event.get("pack") != self.pack:
            return
        if kind == "face_added":
            for row in await self._faces(reader, Face.id == uuid.UUID(event["face"])):
                self.gallery.add(gallery_face(row))
        elif kind == "face_removed":
            self.gallery.remove_face(uuid.UUID(event["face"]))
        elif kind == "case_removed" or (kind == "case_status" and event["status"] != "open"):
            self.gallery.remove_case(case)
        elif kind == "case_status":  # (re)opened, or its dates changed: its faces as they are now
            rows = await self._faces(reader, Face.case_id == case)
            self.gallery.remove_case(case)  # no await from here on: no search sees the case half loaded
            for row in rows:
                self.gallery.add(gallery_face(row))

    async def _faces(self, reader: psycopg.AsyncConnection[Any], *where: sa.ColumnElement[bool]) -> list[Any]:
        """Rows of ``storage``'s reference-face query for this pack (narrowed by ``where``), via psycopg."""
        compiled = reference_faces(self.pack).where(*where).compile(dialect=psycopg_dialect.dialect())
        return await (await reader.execute(compiled.string, compiled.params)).fetchall()


def _device_gallery(device: str) -> CaseGallery:
    """The gallery on a GPU: matmul, best face per case and top-k there (torch imported only then)."""
    from pipeline.device.match import DeviceCaseGallery

    return DeviceCaseGallery(device)
