"""The pack in force and what its candidates are judged by, and the gallery of open cases that jobs
(scans, syncs) rank sightings against outside the Serve chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from models.packs import ModelPack
from pipeline.calibration import Calibration
from pipeline.candidates import MatchPolicy, Ranking, rank_candidates
from pipeline.gallery import CaseGallery
from storage.repositories.faces import FaceRepository


@dataclass(frozen=True)
class PackInfo:
    """The pack in force: its name, what its scores mean (the score → FAR table) and how candidates
    are judged (the operating point as the gallery grows, children's photos years before)."""

    name: str
    calibration: Calibration
    policy: MatchPolicy = field(default_factory=MatchPolicy)

    @classmethod
    def of(cls, pack: ModelPack, policy: MatchPolicy) -> PackInfo:
        return cls(pack.name, pack.calibration, policy)


def probe_day(taken_at: datetime | None) -> date:
    """The day a searched photo shows: when it was taken, else today (it shows someone now)."""
    return (taken_at or datetime.now(UTC)).date()


class LiveGallery:
    """The reference faces of open cases of one pack, for matching outside the Serve chain.

    ``refresh`` reloads them when a case or reference face of the pack changed since the last
    look (one cheap query), so a batch job matches against the cases as they are when it writes.
    """

    def __init__(self, pack: PackInfo) -> None:
        self.pack = pack
        self.gallery = CaseGallery()
        self.version: tuple[object, ...] | None = None

    def refresh(self, session: Session) -> None:
        faces = FaceRepository(session)
        version = faces.gallery_version(pack=self.pack.name)
        if version != self.version:
            self.gallery.replace(faces.open_case_faces(pack=self.pack.name))
            self.version = version

    def rank(self, vectors: NDArray[np.float32], k: int, day: date | None) -> Ranking:
        pack = self.pack
        return rank_candidates(self.gallery, pack.calibration, vectors, k, policy=pack.policy, probe_day=day)
