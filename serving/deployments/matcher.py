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
import uuid
from typing import Any, Literal

import numpy as np
import psycopg
import sqlalchemy as sa
from numpy.typing import NDArray
from pgvector.psycopg import register_vector_async
from pydantic import BaseModel, SecretStr
from ray import serve

from models.packs import Calibration
from pipeline.match import l2_normalize, rank_cases
from serving.deployments.messages import Candidate
from serving.errors import NotReadyError

logger = logging.getLogger(__name__)

CHANNEL = "sura_gallery"
_OPEN_FACES = """
SELECT f.id, f.case_id, f.embedding FROM faces f JOIN cases c ON c.id = f.case_id
WHERE f.pack = %(pack)s AND c.status = 'open'
"""


class MatcherConfig(BaseModel):
    """Which pack's gallery, what its scores mean, where the cases are, where to compute."""

    pack: str
    calibration: list[tuple[float, float]]
    operating_far: float
    db_url: SecretStr
    device: Literal["cpu", "cuda"] = "cpu"


class CaseGallery:
    """Reference faces of open cases, searched by exact cosine (numpy, or torch on a GPU)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.faces: dict[uuid.UUID, tuple[uuid.UUID, NDArray[np.float32]]] = {}
        self._index: tuple[list[uuid.UUID], NDArray[np.int64], list[uuid.UUID], Any] | None = None

    def replace(self, rows: list[tuple[uuid.UUID, uuid.UUID, NDArray[np.float32]]]) -> None:
        self.faces = {face: (case, vector) for face, case, vector in rows}
        self._index = None

    def add(self, face: uuid.UUID, case: uuid.UUID, vector: NDArray[np.float32]) -> None:
        self.faces[face] = (case, vector)
        self._index = None

    def remove_face(self, face: uuid.UUID) -> None:
        if self.faces.pop(face, None) is not None:
            self._index = None

    def remove_case(self, case: uuid.UUID) -> None:
        doomed = [face for face, (owner, _) in self.faces.items() if owner == case]
        for face in doomed:
            del self.faces[face]
        if doomed:
            self._index = None

    def cases(self) -> int:
        return len({case for case, _ in self.faces.values()})

    def search(self, queries: NDArray[np.float32], k: int) -> list[list[tuple[uuid.UUID, float, uuid.UUID]]]:
        """Per query: up to ``k`` (case, similarity of its best face, that face), best first."""
        if not self.faces or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        face_ids, face_case, case_ids, matrix = self._build()
        similarity = self._similarity(l2_normalize(queries), matrix)
        ranked = rank_cases(similarity, face_case, k)
        return [
            [(case_ids[c], float(s), face_ids[f]) for c, s, f in zip(cs, ss, fs, strict=True)]
            for cs, ss, fs in zip(ranked.case, ranked.similarity, ranked.face, strict=True)
        ]

    def _build(self) -> tuple[list[uuid.UUID], NDArray[np.int64], list[uuid.UUID], Any]:
        if self._index is None:
            ordered = sorted(self.faces.items(), key=lambda item: item[1][0])
            case_ids = sorted({case for _, (case, _) in ordered})
            row = {case: i for i, case in enumerate(case_ids)}
            face_case = np.array([row[case] for _, (case, _) in ordered], dtype=np.int64)
            matrix: Any = l2_normalize(np.stack([vector for _, (_, vector) in ordered]))
            if self.device == "cuda":
                import torch

                matrix = torch.from_numpy(matrix).to("cuda")
            self._index = ([face for face, _ in ordered], face_case, case_ids, matrix)
        return self._index

    def _similarity(self, queries: NDArray[np.float32], matrix: Any) -> NDArray[np.float32]:
        if self.device == "cuda":
            import torch

            return (torch.from_numpy(queries).to("cuda") @ matrix.T).cpu().numpy()
        return queries @ matrix.T


@serve.deployment(name="Matcher", max_ongoing_requests=64)
class Matcher:
    """Top-k case search with calibrated scores over an in-memory, change-fed gallery."""

    async def __init__(self, config: MatcherConfig) -> None:  # type: ignore[misc]  # Serve awaits it
        self.config = config
        self.gallery = CaseGallery(config.device)
        self.calibration = Calibration(
            points=tuple(config.calibration), source="pack", operating_far=config.operating_far
        )
        self.threshold = self.calibration.threshold()
        self.synced = asyncio.Event()
        self.replica = serve.get_replica_context().replica_id.unique_id
        self._dsn = (
            sa.make_url(config.db_url.get_secret_value())
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._follower = asyncio.create_task(self._follow())

    async def search(self, vectors: NDArray[np.float32], k: int) -> list[list[Candidate]]:
        """Per face embedding (F, D): the ``k`` most similar open cases."""
        if not self.synced.is_set():
            raise NotReadyError("the case gallery is still loading")
        found = self.gallery.search(np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1), k)
        return [
            [
                Candidate(
                    case_id=case,
                    similarity=similarity,
                    false_accept_rate=float(self.calibration.false_accept_rate(np.array([similarity]))[0]),
                    above_threshold=similarity >= self.threshold,
                    reference_face_id=face,
                )
                for case, similarity, face in hits
            ]
            for hits in found
        ]

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
                logger.warning("matcher %s out of step (%r); reloading in %.1f s", self.replica, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _reload(self, reader: psycopg.AsyncConnection[Any]) -> None:
        rows = await (await reader.execute(_OPEN_FACES, {"pack": self.config.pack})).fetchall()
        self.gallery.replace([(face, case, _array(vector)) for face, case, vector in rows])
        self.synced.set()
        logger.info(
            "matcher %s synced: %d faces of %d cases", self.replica, len(self.gallery.faces), self.gallery.cases()
        )

    async def _apply(self, reader: psycopg.AsyncConnection[Any], event: dict[str, str]) -> None:
        kind, case = event["event"], uuid.UUID(event["case"])
        if kind in ("face_added", "face_removed") and event.get("pack") != self.config.pack:
            return
        if kind == "face_added":
            query = _OPEN_FACES + " AND f.id = %(face)s"
            for face, owner, vector in await (
                await reader.execute(query, {"pack": self.config.pack, "face": event["face"]})
            ).fetchall():
                self.gallery.add(face, owner, _array(vector))
        elif kind == "face_removed":
            self.gallery.remove_face(uuid.UUID(event["face"]))
        elif kind == "case_removed" or (kind == "case_status" and event["status"] != "open"):
            self.gallery.remove_case(case)
        elif kind == "case_status":
            query = _OPEN_FACES + " AND f.case_id = %(case)s"
            for face, owner, vector in await (
                await reader.execute(query, {"pack": self.config.pack, "case": case})
            ).fetchall():
                self.gallery.add(face, owner, _array(vector))


def _array(vector: Any) -> NDArray[np.float32]:
    """pgvector's value as float32 numpy (the adapter returns its own ``Vector`` type)."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, dtype=np.float32)
