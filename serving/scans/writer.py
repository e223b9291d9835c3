"""Writing a scan's output: a batch of photos, their faces and matches, and the job's progress, in one transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from configs.settings import ScanSettings
from models.packs import ModelPack
from pipeline.candidates import MatchPolicy
from pipeline.types import Face
from serving.metrics import metrics
from serving.scans.stages import Batch, FaceBlock
from serving.services.live_gallery import LiveGallery, PackInfo
from serving.services.scans import ScanRequest
from serving.services.sightings import BatchAudit, PhotoRecord, SightingRecorder
from storage.database import Database
from storage.jobs import JobQueue
from storage.tables import ImageSource, Job


@dataclass
class ScanProgress:
    """A scan's counts, kept in the job row.

    ``stored``, ``faces`` and ``matches`` count what the job added, over all its attempts;
    the others count the current attempt (a resumed scan sees its earlier photos as stored).
    """

    files: int = 0
    seen: int = 0
    already_stored: int = 0
    duplicates: int = 0
    failed: int = 0
    stored: int = 0
    faces: int = 0
    matches: int = 0
    attempt: int = 1
    failures: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def resumed(cls, detail: dict[str, Any] | None, *, files: int, attempt: int) -> ScanProgress:
        before = detail or {}
        return cls(
            files=files,
            stored=int(before.get("stored", 0)),
            faces=int(before.get("faces", 0)),
            matches=int(before.get("matches", 0)),
            attempt=attempt,
        )

    @property
    def fraction(self) -> float:
        return self.seen / self.files if self.files else 1.0

    def detail(self) -> dict[str, Any]:
        return asdict(self)


class BatchWriter:
    """Stores batches of scanned photos and the job's progress, each batch in one transaction."""

    def __init__(
        self,
        db: Database,
        job: Job,
        pack: ModelPack,
        request: ScanRequest,
        progress: ScanProgress,
        scan: ScanSettings,
        lease: timedelta,
        policy: MatchPolicy,
    ) -> None:
        self.db, self.job, self.request, self.progress, self.scan, self.lease = db, job, request, progress, scan, lease
        info = PackInfo.of(pack, policy)
        self.recorder = SightingRecorder(info, LiveGallery(info), scan.matches_per_face, bulk=True)
        self.dimension = pack.embedder.embedding_size

    def write(self, batch: Batch) -> bool:
        """Store one batch; True when someone asked to cancel the job."""
        progress, new = self.progress, []
        for i in range(len(batch["key"])):
            progress.seen += 1
            if batch["error"][i]:
                progress.failed += 1
                metrics().scan_photos.inc(tags={"outcome": "failed"})
                if len(progress.failures) < self.scan.failures_listed:
                    progress.failures.append({"file": str(batch["key"][i]), "reason": str(batch["error"][i])})
            elif batch["known"][i]:
                progress.already_stored += 1
                metrics().scan_photos.inc(tags={"outcome": "known"})
            else:
                new.append(self._photo(batch, i))
        with self.db.transaction() as session:
            self._record(session, new)
            return JobQueue(session).heartbeat(
                job_id=self.job.id,
                worker=str(self.job.lease_owner),
                lease=self.lease,
                progress=progress.fraction,
                detail=progress.detail(),
            )

    def _record(self, session: Session, photos: list[tuple[PhotoRecord, list[Face], Any]]) -> None:
        audit = BatchAudit(action="scan.record", target_type="job", target_id=self.job.id)
        for sighting in self.recorder.record_batch(session, photos, actor=f"job:{self.job.id}", audit=audit):
            if not sighting.created:  # the same photo twice in this source, or stored meanwhile by another scan
                self.progress.duplicates += 1
                metrics().scan_photos.inc(tags={"outcome": "known"})
                continue
            self.progress.stored += 1
            metrics().scan_photos.inc(tags={"outcome": "stored"})
            self.progress.faces += len(sighting.faces)
            self.progress.matches += sum(len(face.matches) for face in sighting.faces)

    def _photo(self, batch: Batch, i: int) -> tuple[PhotoRecord, list[Face], Any]:
        count = int(batch["faces"][i])
        vectors = np.frombuffer(batch["embeddings"][i], np.float32).reshape(count, self.dimension)
        faces = FaceBlock.from_bytes(batch["block"][i], count).faces(vectors)
        photo = PhotoRecord(
            digest=str(batch["digest"][i]),
            uri=str(batch["uri"][i]),
            size=int(batch["size"][i]),
            width=int(batch["width"][i]),
            height=int(batch["height"][i]),
            format=str(batch["format"][i]),
            source=ImageSource.ARCHIVE_SCAN,
            uploaded_by_id=self.job.created_by_id,
            source_label=self.request.source_label,
            source_key=str(batch["key"][i]),
        )
        return photo, faces, vectors
