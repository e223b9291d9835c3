"""Faces and photos for the page: only through ImageService, as the signed-in user, every view audited."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from serving.api.deps import State
from serving.services.images import CropKind, Purpose
from serving.ui.session import Signed
from serving.ui.web import page_router

router = page_router()
PRIVATE = {"Cache-Control": "private, no-store"}


@router.get("/faces/{face_id}/crop")
def face_crop(
    face_id: uuid.UUID,
    state: State,
    viewer: Signed,
    kind: CropKind = CropKind.ALIGNED,
    match_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> Response:
    purpose = Purpose(match_id=match_id, case_id=case_id)
    data = state.images.face_crop(viewer.user, face_id, kind=kind, purpose=purpose)
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.get("/photos/{image_id}")
def photo(
    image_id: uuid.UUID,
    state: State,
    viewer: Signed,
    max_side: Annotated[int, Query(ge=32, le=4096)] = 1024,
    match_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> Response:
    purpose = Purpose(match_id=match_id, case_id=case_id)
    data = state.images.photo(viewer.user, image_id, max_side=max_side, purpose=purpose)
    return Response(data, media_type="image/jpeg", headers=PRIVATE)
