"""Faces and photos as images: only through here, only what the user may see, every view audited."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from serving.api.deps import API_PREFIX, State, errors, permitted
from serving.auth.policy import Action
from serving.services.images import CropKind, Purpose
from storage.tables import User

router = APIRouter(tags=["images"])
Viewer = Annotated[User, permitted(Action.VIEW_IMAGES)]
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}, "description": "The image, JPEG."}}
ForMatch = Annotated[uuid.UUID | None, Query(description="The match it is viewed for (recorded in the audit log).")]
ForCase = Annotated[uuid.UUID | None, Query(description="Or the case it is viewed for.")]


@router.get("/faces/{face_id}/crop", response_class=Response, responses={**JPEG, **errors(401, 403, 404, 422)})
async def face_crop(
    face_id: uuid.UUID,
    user: Viewer,
    state: State,
    kind: CropKind = CropKind.ALIGNED,
    match_id: ForMatch = None,
    case_id: ForCase = None,
) -> Response:
    """One face: aligned, or with its surroundings. Say which match or case it is viewed for.
    Reporters see only the reference faces of their cases; anything else is 404 to them."""
    purpose = Purpose(match_id=match_id, case_id=case_id)
    data = await asyncio.to_thread(state.images.face_crop, user, face_id, kind=kind, purpose=purpose)
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.get("/photos/{image_id}", response_class=Response, responses={**JPEG, **errors(401, 403, 404, 422)})
async def photo(
    image_id: uuid.UUID,
    user: Viewer,
    state: State,
    max_side: Annotated[int | None, Query(ge=32, le=4096, description="Longer side at most (pixels).")] = None,
    match_id: ForMatch = None,
    case_id: ForCase = None,
) -> Response:
    """A stored photo, downscaled if asked. Same rules as faces: reporters, their cases' reference photos only."""
    purpose = Purpose(match_id=match_id, case_id=case_id)
    data = await asyncio.to_thread(state.images.photo, user, image_id, max_side=max_side, purpose=purpose)
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


def image_links(face_id: uuid.UUID, image_id: uuid.UUID, purpose: Purpose) -> dict[str, str]:
    """The URLs of a face's images, viewed for ``purpose``."""
    reason = f"match_id={purpose.match_id}" if purpose.match_id else f"case_id={purpose.case_id}"
    crop = f"{API_PREFIX}/faces/{face_id}/crop?{reason}"
    return {
        "aligned": f"{crop}&kind=aligned",
        "context": f"{crop}&kind=context",
        "photo": f"{API_PREFIX}/photos/{image_id}?{reason}&max_side=1024",
    }
