"""The FastAPI app and the Gateway deployment that serves it as the Serve ingress."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, SecretStr
from ray import serve
from starlette.types import ASGIApp, Receive, Scope, Send

from configs.settings import ExternalSettings
from serving.api.deps import GatewayState
from serving.api.routes import (
    audit,
    auth,
    cases,
    external,
    faces,
    health,
    jobs,
    matches,
    notifications,
    scans,
    users,
)
from serving.auth.users import ActiveUsers
from serving.errors import install_error_handlers
from serving.services.cases import CaseService
from serving.services.external import ExternalService
from serving.services.faces import EnrolmentRules, FaceService
from serving.services.matches import MatchService
from serving.services.sessions import SessionPolicy, SessionService
from serving.services.sightings import PackInfo
from storage.database import open_database
from storage.external.credentials import CredentialBox
from storage.photos import PhotoStore

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class GatewayConfig(BaseModel):
    """What a gateway replica needs besides the handles (secrets as ``SecretStr``)."""

    db_url: SecretStr
    token_secret: SecretStr
    photos_dir: Path
    pack: str
    threshold: float
    access_token_minutes: int = 60
    refresh_token_days: int = 7
    login_failures_allowed: int = 5
    login_lockout_minutes: int = 15
    session_check_seconds: float = 5.0
    two_person_rule: bool = True
    max_upload_bytes: int = 25 * 2**20
    statement_timeout_ms: int = 30_000
    scan_sources: list[str] = []
    credentials_secret: SecretStr
    external: ExternalSettings = ExternalSettings()


class BodyLimit:
    """Refuses a request whose declared body is over the limit before reading any of it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers", ())).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                await _refuse(send, f"the request body is larger than {self.limit} bytes")
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, reason: str) -> None:
    body = ('{"error":"UploadTooLargeError","detail":"' + reason + '"}').encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create_app() -> FastAPI:
    application = FastAPI(
        title="SuraSmart",
        summary="Find missing people by their faces: search, sightings, reference photos.",
        version="0.1.0",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    install_error_handlers(application)
    for module in (health, auth, users, cases, faces, matches, notifications, jobs, scans, external, audit):
        application.include_router(module.router, prefix=API_PREFIX)
    return application


@serve.deployment(name="Gateway", max_ongoing_requests=128)
@serve.ingress()
class Gateway:
    """HTTP in front of the Detector → Embedder → Matcher chain and the database."""

    def __init__(self, detector: Any, embedder: Any, matcher: Any, workers: Any, config: GatewayConfig) -> None:
        db = open_database(
            config.db_url.get_secret_value(), data_dir=Path(), statement_timeout_ms=config.statement_timeout_ms
        )  # migrates on start: the first replica applies new migrations, the others find none
        pack = PackInfo(name=config.pack, threshold=config.threshold)
        photos = PhotoStore(config.photos_dir)
        secret = config.token_secret.get_secret_value()
        sessions = SessionService(
            db,
            SessionPolicy(
                secret=secret,
                access_lifetime=timedelta(minutes=config.access_token_minutes),
                refresh_lifetime=timedelta(days=config.refresh_token_days),
                failures_allowed=config.login_failures_allowed,
                lockout=timedelta(minutes=config.login_lockout_minutes),
            ),
        )
        self.workers = workers
        self.state = GatewayState(
            db=db,
            users=ActiveUsers(db, sessions.session_active, ttl=config.session_check_seconds),
            sessions=sessions,
            faces=FaceService(
                detector=detector,
                embedder=embedder,
                matcher=matcher,
                db=db,
                photos=photos,
                pack=pack,
                rules=EnrolmentRules(),
            ),
            cases=CaseService(db, photos),
            matches=MatchService(db, pack, two_person_rule=config.two_person_rule),
            token_secret=secret,
            max_upload_bytes=config.max_upload_bytes,
            pack=config.pack,
            external=ExternalService(
                db, CredentialBox.from_secret(config.credentials_secret.get_secret_value()), config.external
            ),
            scan_sources=tuple(config.scan_sources),
        )
        logger.info("gateway ready for pack %s", config.pack)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve calls this after ``__init__``: the app is built in the replica, around its state."""
        application = create_app()
        application.state.sura = self.state
        # Multipart framing adds a little to the photo itself.
        application.add_middleware(BodyLimit, limit=self.state.max_upload_bytes + 64 * 1024)
        return application
