"""The FastAPI app and the Gateway deployment that serves it as the Serve ingress."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from ray import serve

from configs.settings import Settings
from models.errors import ModelError
from models.registry import load_aligner, resolve_pack
from pipeline.engine import FaceAligner
from serving.api.access_log import AccessLog
from serving.api.contract import document_problems
from serving.api.deps import API_PREFIX, GatewayState
from serving.api.guard import Limits, RequestGuard
from serving.api.routes import (
    audit,
    auth,
    cases,
    external,
    faces,
    health,
    images,
    jobs,
    matches,
    notifications,
    scans,
    users,
)
from serving.auth.users import ActiveUsers
from serving.errors import install_error_handlers
from serving.metrics import metrics
from serving.services.audit import AuditService, audit_anchor
from serving.services.cases import CaseService
from serving.services.external import ExternalService
from serving.services.faces import FaceService
from serving.services.images import ImageService
from serving.services.live_gallery import PackInfo
from serving.services.matches import MatchService
from serving.services.notifications import NotificationService
from serving.services.queue import JobService
from serving.services.references import EnrolmentRules
from serving.services.signins import SignInPolicy, SignInService
from serving.services.users import UserService
from serving.ui import router as ui_router
from storage.database import Database, open_database
from storage.external.credentials import CredentialBox
from storage.indexes import prepare_pack_index
from storage.photos import PhotoStore

logger = logging.getLogger(__name__)


def _aligners(settings: Settings) -> Callable[[str], FaceAligner | None]:
    """Each pack's aligner, made on first use: the face crops reviewers see are the ones the embedder saw."""

    @functools.cache
    def aligner_for(pack: str) -> FaceAligner | None:
        try:
            return load_aligner(resolve_pack(pack, settings.models.sources()))
        except ModelError:
            logger.warning("no aligner for pack %s: reviewers see its faces as plain crops", pack)
            return None

    return aligner_for


def _count_connections(db: Database) -> None:
    """Keep the pool gauge current as connections are checked out and back in."""
    pool = db.engine.pool

    def observe(*_: object) -> None:
        metrics().db_pool_in_use.set(pool.checkedout())  # type: ignore[attr-defined]

    sa.event.listen(pool, "checkout", observe)
    sa.event.listen(pool, "checkin", observe)


def create_app() -> FastAPI:
    application = FastAPI(
        title="SuraSmart",
        summary="Find missing people by their faces: search, sightings, reference photos.",
        version="0.1.0",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    install_error_handlers(application)
    document_problems(application)
    for module in (health, auth, users, cases, faces, images, matches, notifications, jobs, scans, external, audit):
        application.include_router(module.router, prefix=API_PREFIX)
    application.include_router(matches.review_router, prefix=API_PREFIX)
    application.include_router(ui_router)
    return application


@serve.deployment(name="Gateway", max_ongoing_requests=128)
@serve.ingress()
class Gateway:
    """HTTP in front of the Detector → Embedder → Matcher chain and the database."""

    def __init__(self, detector: Any, embedder: Any, matcher: Any, workers: Any, settings: Settings) -> None:
        if settings.db.url is None or settings.auth.secret_key is None:
            raise ValueError("the gateway needs the database URL and the token key in its settings")
        db = open_database(
            settings.db.url.get_secret_value(), data_dir=Path(), statement_timeout_ms=settings.db.statement_timeout_ms
        )  # migrates on start: the first replica applies new migrations, the others find none
        model_pack = resolve_pack(settings.models.pack, settings.models.sources())
        # The pack's vector index is made here, once, under a lock: never inside a request.
        prepare_pack_index(db, pack=model_pack.name, dimension=model_pack.embedding_size)
        pack = PackInfo.of(model_pack, settings.matching.policy())
        photos = PhotoStore(settings.photos.directory)
        secret = settings.auth.secret_key.get_secret_value()
        auth = settings.auth
        signins = SignInService(
            db,
            SignInPolicy(
                secret=secret,
                access_lifetime=timedelta(minutes=auth.access_token_minutes),
                refresh_lifetime=timedelta(days=auth.refresh_token_days),
                failures_allowed=auth.login_failures_allowed,
                lockout=timedelta(minutes=auth.login_lockout_minutes),
            ),
        )
        active_users = ActiveUsers(db, signins.signin_active, ttl=auth.session_check_seconds)
        self.workers = workers
        self.log_format = settings.log_format
        self.state = GatewayState(
            db=db,
            active_users=active_users,
            signins=signins,
            users=UserService(db, active_users),
            faces=FaceService(
                detector=detector,
                embedder=embedder,
                matcher=matcher,
                db=db,
                photos=photos,
                pack=pack,
                rules=EnrolmentRules(),
            ),
            images=ImageService(db, photos, _aligners(settings)),
            cases=CaseService(db, photos),
            matches=MatchService(
                db,
                pack,
                two_person_rule=settings.review.two_person_rule,
                hold=timedelta(minutes=settings.review.claim_minutes),
            ),
            notifications=NotificationService(db, secret),
            jobs=JobService(db, pack=pack.name, scan_sources=settings.scan.allowed_sources),
            audit=AuditService(db, audit_anchor(settings)),
            external=ExternalService(db, CredentialBox.from_secret(settings.credentials_secret()), settings.external),
            token_secret=secret,
            max_upload_bytes=settings.photos.max_upload_bytes,
        )
        _count_connections(db)
        logger.info("gateway ready for pack %s", pack.name)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Serve calls this after ``__init__``: the app is built in the replica, around its state."""
        application = create_app()
        application.state.sura = self.state
        # Multipart framing adds a little to the photo itself.
        limits = Limits(photo_bytes=self.state.max_upload_bytes + 64 * 1024)
        application.add_middleware(RequestGuard, limits=limits, token_secret=self.state.token_secret)
        application.add_middleware(AccessLog, log_format=self.log_format)  # outermost: refusals are logged too
        return application
