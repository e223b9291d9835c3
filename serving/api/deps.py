"""What routes depend on: the gateway's state, the signed-in user, an uploaded photo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePath
from typing import Annotated

from fastapi import Depends, File, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.auth.tokens import read_access_token
from serving.auth.users import ActiveUsers
from serving.errors import AuthenticationError, UnsupportedMediaError, UploadTooLargeError
from serving.services.faces import FaceService
from storage.database import Database
from storage.tables import User


@dataclass(frozen=True)
class GatewayState:
    """Everything a request may need, made once per gateway replica."""

    db: Database
    users: ActiveUsers
    faces: FaceService
    token_secret: str
    token_lifetime: timedelta
    max_upload_bytes: int


@dataclass(frozen=True)
class Upload:
    data: bytes
    suffix: str


def gateway_state(request: Request) -> GatewayState:
    return request.app.state.sura


State = Annotated[GatewayState, Depends(gateway_state)]
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/token.")


def current_user(state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
    """The active user the bearer token was issued to; 401 otherwise."""
    if credentials is None:
        raise AuthenticationError("an access token is required")
    claims = read_access_token(credentials.credentials, secret=state.token_secret)
    return state.users.get(claims.user_id)


CurrentUser = Annotated[User, Depends(current_user)]
_IMAGE_TYPES = ("image/", "application/octet-stream")


async def photo_upload(
    state: State, photo: Annotated[UploadFile, File(description="The photo (JPEG, PNG, WebP, GIF, TIFF, BMP …).")]
) -> Upload:
    """The uploaded photo's bytes, refused when it is not an image type or too large."""
    kind = photo.content_type or "application/octet-stream"
    if not kind.startswith(_IMAGE_TYPES):
        raise UnsupportedMediaError(f"the upload is {kind}, not an image")
    data = await photo.read(state.max_upload_bytes + 1)
    if len(data) > state.max_upload_bytes:
        raise UploadTooLargeError(f"the photo is larger than {state.max_upload_bytes} bytes")
    return Upload(data=data, suffix=PurePath(photo.filename or "").suffix)


Photo = Annotated[Upload, Depends(photo_upload)]
