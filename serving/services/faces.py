"""Search, sightings and enrolment: the chain of deployments plus the database, for the routes."""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeline.candidates import Ranking
from pipeline.crops import encode_jpeg
from pipeline.types import Face
from serving.auth.policy import ROLES, Action, authorize_case
from serving.deployments.messages import LocatedPhoto, PhotoError
from serving.errors import EnrolmentError
from serving.services.chain import call_stage
from serving.services.live_gallery import PackInfo, probe_day
from serving.services.references import Chosen, EnrolmentRules, FaceChoice, IntakeWarning, choose_reference
from serving.services.retro import queue_retro_search
from serving.services.sightings import PhotoRecord, Sighting, SightingRecorder, add_image, new_faces
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import ConflictError, InvalidTransitionError
from storage.photos import PhotoStore
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository
from storage.tables import CaseStatus, ImageSource, User


@dataclass(frozen=True)
class Intake:
    """How a reference photo is taken in: which face (None: the one the photo is of), strictness, its
    date, and the person's age in it when the reporter knows it."""

    choice: FaceChoice | None = None
    strict: bool = False
    taken_at: datetime | None = None
    age_years: float | None = None


@dataclass(frozen=True)
class Analysis:
    """A photo's faces and their (F, D) embeddings."""

    located: LocatedPhoto
    vectors: NDArray[np.float32]


@dataclass(frozen=True)
class Enrolment:
    case_id: uuid.UUID
    image_id: uuid.UUID
    face_id: uuid.UUID
    face: Face
    created: bool
    faces_found: int = 1
    warnings: tuple[IntakeWarning, ...] = ()


class FaceService:
    def __init__(
        self,
        *,
        detector: Any,
        embedder: Any,
        matcher: Any,
        db: Database,
        photos: PhotoStore,
        pack: PackInfo,
        rules: EnrolmentRules | None = None,
    ) -> None:
        self.detector, self.embedder, self.matcher = detector, embedder, matcher
        self.db, self.photos, self.pack = db, photos, pack
        self.recorder = SightingRecorder(pack)
        self.rules = rules or EnrolmentRules()

    async def analyse(self, photo: bytes) -> Analysis:
        """Detect, align and embed; unreadable photos raise the matching ``ImageError``."""
        located = await call_stage("detector", self.detector.locate, photo)
        if isinstance(located, PhotoError):
            raise located.exception()
        vectors = (
            await call_stage("embedder", self.embedder.embed, located.crops)
            if len(located.crops)
            else np.zeros((0, 1), np.float32)
        )
        return Analysis(located=located, vectors=vectors)

    async def search(self, photo: bytes, *, k: int, day: date | None = None) -> tuple[Analysis, Ranking]:
        """Every face of the photo (taken on ``day``, else today) and its ``k`` closest cases, with
        those put forward across an age gap; nothing is stored."""
        analysis = await self.analyse(photo)
        ranking = await call_stage("matcher", self.matcher.search, analysis.vectors, k, day or probe_day(None))
        return analysis, ranking

    async def search_for(self, user: User, photo: bytes, *, k: int) -> tuple[Analysis, Ranking]:
        """A person's search: candidates under the threshold only for roles that review matches; audited
        (who, how many faces and candidates: never the photo or its faces)."""
        analysis, ranking = await self.search(photo, k=k)
        if user.role not in ROLES[Action.REVIEW_MATCH]:
            shown = [[c for c in hits if c.above_threshold] for hits in ranking.candidates]
            ranking = replace(ranking, candidates=shown)
        await asyncio.to_thread(self._audit_search, user, analysis, ranking)
        return analysis, ranking

    def _audit_search(self, user: User, analysis: Analysis, ranking: Ranking) -> None:
        candidates = ranking.candidates
        details = {
            "pack": self.pack.name,
            "faces": len(analysis.located.faces.faces),
            "candidates": sum(len(hits) for hits in candidates),
            "above_threshold": sum(c.above_threshold for hits in candidates for c in hits),
            "age_gap": sum(c.age_gap is not None for hits in candidates for c in hits),
        }
        with self.db.transaction() as session:
            AuditLog(session).append(actor=f"user:{user.id}", action="search", details=details)

    async def record_sighting(
        self, photo: bytes, *, suffix: str, user: User, taken_at: datetime | None, k: int
    ) -> Sighting:
        """Store the photo and its faces, and a pending match for every candidate above threshold or
        put forward across an age gap."""
        analysis, ranking = await self.search(photo, k=k, day=probe_day(taken_at))
        digest, uri = await asyncio.to_thread(self.photos.put, photo, suffix=suffix)
        record = _photo_record(analysis, digest, uri, len(photo), user, ImageSource.UPLOAD, taken_at)
        return await asyncio.to_thread(self._store_sighting, analysis, ranking, record, user)

    async def enrol(self, case_id: uuid.UUID, photo: bytes, *, suffix: str, user: User, intake: Intake) -> Enrolment:
        """Add a reference photo to a case: the face chosen (or the one the photo is of), or
        EnrolmentError saying why none can be, with the faces found."""
        await asyncio.to_thread(self._check_case, case_id, user)
        analysis = await self.analyse(photo)
        chosen = self._choose(analysis.located, intake)
        digest, uri = await asyncio.to_thread(self.photos.put, photo, suffix=suffix)
        record = _photo_record(analysis, digest, uri, len(photo), user, ImageSource.CASE_REFERENCE, intake.taken_at)
        enrolment = await asyncio.to_thread(
            self._store_reference, analysis, chosen.index, case_id, record, user, intake.age_years
        )
        return replace(enrolment, faces_found=len(analysis.located.faces.faces), warnings=chosen.warnings)

    def _check_case(self, case_id: uuid.UUID, user: User) -> None:
        with self.db.transaction() as session:
            case = CaseRepository(session).get(case_id=case_id)
            authorize_case(session, user, Action.ENROL_PHOTO, case)
            if case.status not in (CaseStatus.OPEN, CaseStatus.SUBMITTED):
                raise InvalidTransitionError(f"the case is {case.status}: reopen it before adding photos")

    def _choose(self, located: LocatedPhoto, intake: Intake) -> Chosen:
        photo = located.faces
        try:
            return choose_reference(
                photo.faces, photo.width, photo.height, choice=intake.choice, rules=self.rules, strict=intake.strict
            )
        except EnrolmentError as exc:
            raise EnrolmentError(exc.code, str(exc), faces=found_faces(located)) from None

    def _store_sighting(self, analysis: Analysis, ranking: Ranking, record: PhotoRecord, user: User) -> Sighting:
        with self.db.transaction() as session:
            return self.recorder.record(
                session,
                photo=record,
                faces=analysis.located.faces.faces,
                vectors=analysis.vectors,
                actor=f"user:{user.id}",
                ranking=ranking,
            )

    def _store_reference(
        self,
        analysis: Analysis,
        index: int,
        case_id: uuid.UUID,
        record: PhotoRecord,
        user: User,
        age_years: float | None,
    ) -> Enrolment:
        face = analysis.located.faces.faces[index]
        with self.db.transaction() as session:
            image, _ = add_image(session, record, case_id=case_id)
            if image.case_id != case_id:
                # Erasing the case that owns a photo removes it: it cannot be shared with another.
                raise ConflictError("this photo is already stored, as a sighting or for another case")
            existing = [row for row in FaceRepository(session).for_case(case_id=case_id) if row.image_id == image.id]
            if existing:
                if not np.allclose(np.asarray(existing[0].box, np.float32), face.box, atol=2.0):
                    raise ConflictError("this photo is already a reference of the case, with another of its faces")
                return Enrolment(case_id, image.id, existing[0].id, face, False)
            chosen = new_faces(analysis.located.faces.faces, analysis.vectors)[index]
            [row] = FaceRepository(session).add(
                image_id=image.id, pack=self.pack.name, faces=[replace(chosen, age_years=age_years)], case_id=case_id
            )
            if CaseRepository(session).get(case_id=case_id).matchable:
                queue_retro_search(session, [row])  # sightings stored before the case had this photo
            AuditLog(session).append(
                actor=f"user:{user.id}",
                action="case.photo.enrol",
                target_type="case",
                target_id=case_id,
                details={"image_id": str(image.id), "face_id": str(row.id)},
            )
            return Enrolment(case_id, image.id, row.id, face, True)


def found_faces(located: LocatedPhoto) -> tuple[dict[str, Any], ...]:
    """The faces of a photo for a caller to choose from: index, box, scores and the aligned crop (JPEG, base64)."""
    return tuple(
        {
            "index": k,
            "box": [round(float(v), 1) for v in face.box],
            "score": round(face.score, 4),
            "quality": round(face.quality, 4),
            "size": round(face.size, 1),
            "crop_jpeg_base64": base64.b64encode(encode_jpeg(crop)).decode(),
        }
        for k, (face, crop) in enumerate(zip(located.faces.faces, located.crops, strict=True))
    )


def _photo_record(
    analysis: Analysis,
    digest: str,
    uri: str,
    size: int,
    user: User,
    source: ImageSource,
    taken_at: datetime | None = None,
) -> PhotoRecord:
    photo = analysis.located.faces
    return PhotoRecord(
        digest=digest,
        uri=uri,
        size=size,
        width=photo.width,
        height=photo.height,
        format=analysis.located.format,
        source=source,
        uploaded_by_id=user.id,
        taken_at=taken_at,
    )
