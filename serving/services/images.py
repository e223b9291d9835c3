"""Showing faces and photos to people: only what their role and cases allow, and every view audited.

Each view names why it happens (the match or the case it is for) and writes an audit entry with
who, which image and that reason. Reporters see the reference photos and faces of cases they
opened or were granted, never a sighting; anything else answers "not found" to them, so they
cannot learn that it exists.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pipeline.crops import FACE_SCALE, context_crop, downscale, encode_jpeg, square_crop
from pipeline.decode import decode_image
from pipeline.engine import FaceAligner
from pipeline.types import Detections
from serving.auth.policy import Action, authorize, authorize_case
from serving.errors import PermissionDeniedError
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import InvalidArgumentError, NotFoundError
from storage.photos import PhotoStore
from storage.repositories.cases import CaseRepository
from storage.repositories.common import get_or_raise
from storage.tables import Face, Image, Match, Role, User

MAX_PHOTO_SIDE = 4096
Found = TypeVar("Found")


class CropKind(enum.StrEnum):
    ALIGNED = "aligned"  # what the embedder saw
    CONTEXT = "context"  # the face with its surroundings


@dataclass(frozen=True)
class Purpose:
    """Why an image is viewed: for one match, or for one case. Exactly one is set."""

    match_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if (self.match_id is None) == (self.case_id is None):
            raise InvalidArgumentError("say what the image is viewed for: match_id or case_id, one of them")

    def details(self) -> dict[str, str]:
        return {"match_id": str(self.match_id)} if self.match_id else {"case_id": str(self.case_id)}


class ImageService:
    def __init__(self, db: Database, photos: PhotoStore, aligner_for: Callable[[str], FaceAligner | None]) -> None:
        self.db, self.photos, self.aligner_for = db, photos, aligner_for

    def face_crop(self, user: User, face_id: uuid.UUID, *, kind: CropKind, purpose: Purpose) -> bytes:
        """One face as JPEG: aligned as its pack's embedder saw it, or with its surroundings."""
        authorize(user, Action.VIEW_IMAGES)
        with self.db.transaction() as session:
            face = _visible(user, lambda: get_or_raise(session, Face, face_id))
            image = session.get(Image, face.image_id)
            if image is None:
                raise NotFoundError(f"no faces row with id {face_id}")
            self._check_related(session, user, purpose, face_ids={face.id}, image=image)
            pixels = decode_image(self.photos.read(image.storage_uri)).pixels
            crop = self._aligned(face, pixels) if kind is CropKind.ALIGNED else context_crop(pixels, _box(face))
            _audit(session, user, "face.view", "face", face.id, {"crop": kind.value, **purpose.details()})
            return encode_jpeg(crop)

    def photo(self, user: User, image_id: uuid.UUID, *, max_side: int | None, purpose: Purpose) -> bytes:
        """A stored photo as JPEG, downscaled so its longer side is at most ``max_side``."""
        authorize(user, Action.VIEW_IMAGES)
        with self.db.transaction() as session:
            image = _visible(user, lambda: get_or_raise(session, Image, image_id))
            self._check_related(session, user, purpose, face_ids=set(), image=image)
            pixels = downscale(decode_image(self.photos.read(image.storage_uri)).pixels, max_side or MAX_PHOTO_SIDE)
            details = {"max_side": max_side or MAX_PHOTO_SIDE, **purpose.details()}
            _audit(session, user, "photo.view", "image", image.id, details)
            return encode_jpeg(pixels)

    def _check_related(
        self, session: Session, user: User, purpose: Purpose, *, face_ids: set[uuid.UUID], image: Image
    ) -> None:
        """Refuse unless the face (or the photo) belongs to the match or case named as the reason."""
        reporter = user.role is Role.REPORTER
        if purpose.match_id is not None:
            if reporter:
                raise NotFoundError(f"no matches row with id {purpose.match_id}")
            match = get_or_raise(session, Match, purpose.match_id)
            case_id, sighting = match.case_id, {match.face_id}
        else:
            assert purpose.case_id is not None  # Purpose guarantees one of the two
            case = CaseRepository(session).get(case_id=purpose.case_id)
            _visible(user, lambda: authorize_case(session, user, Action.READ_CASE, case))
            case_id = case.id
            sighting = set() if reporter else _matched_faces(session, case_id)
        faces_of_image = set(session.scalars(sa.select(Face.id).where(Face.image_id == image.id)))
        reference = image.case_id == case_id
        matched = bool(faces_of_image & sighting)
        if face_ids and not (face_ids <= faces_of_image and (reference or face_ids <= sighting)):
            matched = reference = False
        if not (reference or matched):
            if reporter:
                raise NotFoundError(f"no images row with id {image.id}")
            raise InvalidArgumentError("that image is not part of the match or case it is viewed for")

    def _aligned(self, face: Face, pixels: np.ndarray) -> np.ndarray:
        aligner = self.aligner_for(face.pack)
        if aligner is None:  # a pack this gateway cannot load: the face's box and a little around it
            return square_crop(pixels, _box(face), scale=FACE_SCALE, size=160)
        detections = Detections(
            boxes=_box(face)[None],
            landmarks=np.asarray(face.landmarks, np.float32).reshape(1, 5, 2),
            scores=np.array([face.detection_score], np.float32),
            image_index=np.zeros(1, np.int64),
            num_images=1,
        )
        return aligner.align([pixels], detections).crops[0]


def _visible(user: User, look: Callable[[], Found]) -> Found:
    """Run a lookup or check; to a reporter, "not allowed" reads as "not found"."""
    try:
        return look()
    except PermissionDeniedError as exc:
        if user.role is Role.REPORTER:
            raise NotFoundError("no such item") from exc
        raise


def _matched_faces(session: Session, case_id: uuid.UUID) -> set[uuid.UUID]:
    return set(session.scalars(sa.select(Match.face_id).where(Match.case_id == case_id)))


def _box(face: Face) -> np.ndarray:
    return np.asarray(face.box, np.float32)


def _audit(session: Session, user: User, action: str, kind: str, target: uuid.UUID, details: dict[str, object]) -> None:
    AuditLog(session).append(
        actor=f"user:{user.id}", action=action, target_type=kind, target_id=target, details=details
    )
