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
from typing import Any, Literal

import numpy as np
import psycopg
import sqlalchemy as sa
from numpy.typing import NDArray
from pgvector.psycopg import register_vector_async
from ray import serve

from configs.settings import Settings
from models.registry import resolve_pack
from pipeline.match import Candidate, CaseGallery, rank_candidates
from serving.errors import NotReadyError
from serving.metrics import metrics, timed
from storage.errors import describe_error

logger = logging.getLogger(__name__)

CHANNEL = "sura_gallery"
REPORT_SECONDS = 5.0  # how often a matcher reports its gallery to the metrics
_OPEN_FACES = """
SELECT f.id, f.case_id, f.embedding FROM faces f JOIN cases c ON c.id = f.case_id
WHERE f.pack = %(pack)s AND c.matchable
"""


@serve.deployment(name="Matcher", max_ongoing_requests=64)
class Matcher:
    """Top-k case search with calibrated scores over an in-memory, change-fed gallery."""

    async def __init__(self, settings: Settings, device: Literal["cpu", "cuda"] = "cpu") -> None:  # type: ignore[misc]
        pack = resolve_pack(settings.models.pack, settings.models.sources())  # Serve awaits this __init__
        self.pack = pack.name
        self.gallery = CaseGallery() if device == "cpu" else _device_gallery(device)
        self.calibration = pack.calibration
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

    async def search(self, vectors: NDArray[np.float32], k: int) -> list[list[Candidate]]:
        """Per face embedding (F, D): the ``k`` most similar open cases."""
        if not self.synced.is_set():
            raise NotReadyError("the case gallery is still loading")
        with timed("match"):
            return rank_candidates(self.gallery, self.calibration, vectors, k)

    async def ready(self) -> bool:
        return self.synced.is_set()

    async def holds(self, case_id: uuid.UUID) -> tuple[str, bool]:
        """(this replica, whether the case is in its gallery): for checks that every replica agrees."""
        return self.replica, any(case == case_id for case, _ in self.gallery.faces.values())

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
                    async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as reader:
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
        rows = await (await reader.execute(_OPEN_FACES, {"pack": self.pack})).fetchall()
        self.gallery.replace([(face, case, _array(vector)) for face, case, vector in rows])
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
            query = _OPEN_FACES + " AND f.id = %(face)s"
            for face, owner, vector in await (
                await reader.execute(query, {"pack": self.pack, "face": event["face"]})
            ).fetchall():
                self.gallery.add(face, owner, _array(vector))
        elif kind == "face_removed":
            self.gallery.remove_face(uuid.UUID(event["face"]))
        elif kind == "case_removed" or (kind == "case_status" and event["status"] != "open"):
            self.gallery.remove_case(case)
        elif kind == "case_status":
            query = _OPEN_FACES + " AND f.case_id = %(case)s"
            for face, owner, vector in await (
                await reader.execute(query, {"pack": self.pack, "case": case})
            ).fetchall():
                self.gallery.add(face, owner, _array(vector))


def _device_gallery(device: str) -> CaseGallery:
    """The gallery on a GPU: matmul, best face per case and top-k there (torch imported only then)."""
    from pipeline.device.match import DeviceCaseGallery

    return DeviceCaseGallery(device)


def _array(vector: Any) -> NDArray[np.float32]:
    """pgvector's value as float32 numpy (the adapter returns its own ``Vector`` type)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)
