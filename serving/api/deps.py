"""What routes depend on: the gateway's state, the signed-in user and their permission, uploads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import Depends, File, Query, Request, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serving.api.schemas.common import Problem
from serving.auth.policy import Action, authorize
from serving.auth.tokens import AccessClaims, read_access_token
from serving.auth.users import ActiveUsers
from serving.errors import AuthenticationError, UnsupportedMediaError, UploadTooLargeError
from serving.services.audit import AuditService
from serving.services.cases import CaseService
from serving.services.external import ExternalService
from serving.services.faces import FaceService
from serving.services.images import ImageService
from serving.services.matches import MatchService
from serving.services.notifications import NotificationService
from serving.services.queue import JobService
from serving.services.signins import SignInService
from serving.services.users import UserService
from storage.database import Database
from storage.tables import User

API_PREFIX = "/api/v1"
MAX_PAGE = 100_000  # beyond it an OFFSET only costs the database; narrow the filters instead
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based.")]


@dataclass(frozen=True)
class GatewayState:
    """Everything a request may need, made once per gateway replica."""

    db: Database
    active_users: ActiveUsers
    signins: SignInService
    users: UserService
    faces: FaceService
    images: ImageService
    cases: CaseService
    matches: MatchService
    notifications: NotificationService
    jobs: JobService
    audit: AuditService
    external: ExternalService
    token_secret: str
    max_upload_bytes: int


@dataclass(frozen=True)
class Upload:
    data: bytes
    suffix: str


@dataclass(frozen=True)
class SignedIn:
    """The user a valid access token speaks for, and the claims naming the sign-in it belongs to."""

    user: User
    claims: AccessClaims


def gateway_state(request: Request) -> GatewayState:
    return request.app.state.sura


State = Annotated[GatewayState, Depends(gateway_state)]
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/token.")


def signed_in(state: State, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> SignedIn:
    """The active user of a sign-in not yet ended; 401 otherwise.

    A plain ``def``: FastAPI runs it in a thread, and the user is looked up in the database
    every few seconds.
    """
    if credentials is None:
        raise AuthenticationError("an access token is required")
    claims = read_access_token(credentials.credentials, secret=state.token_secret)
    return SignedIn(user=state.active_users.get(claims.user_id, claims.session_id), claims=claims)


SignedInUser = Annotated[SignedIn, Depends(signed_in)]


def permitted(action: Action) -> Any:
    """A dependency giving the signed-in user if their role may do ``action`` (403 otherwise).

    Checked before the request body is read, so a forbidden call is refused whatever it sends.
    """

    def check(signed: SignedInUser) -> User:
        authorize(signed.user, action)
        return signed.user

    return Depends(check)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer, all shaped as ``Problem``."""
    reasons = {
        400: "Malformed input.",
        401: "No valid access token.",
        403: "The user may not do this.",
        404: "No such item.",
        409: "Not allowed in the item's current state.",
        413: "Too large.",
        415: "Not an image.",
        422: "Invalid field, value or photo.",
        429: "Too many attempts.",
        503: "Not ready.",
    }
    return {status: {"model": Problem, "description": reasons[status]} for status in statuses}


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
