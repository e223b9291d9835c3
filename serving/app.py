"""The Serve application: typed arguments in, Detector → Embedder → Matcher behind the Gateway out.

The same builder serves ``sura serve`` on one machine and ``serve run``/``serve deploy`` with
``configs/serve.yaml`` on a cluster. Arguments left out are taken from the ``SURA_*``
settings of the process that builds the app (the database URL and token key, above all).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, SecretStr
from ray.serve import Application, Deployment

from configs.faces import ModelSettings, PipelineSettings
from configs.settings import (
    AuditSettings,
    ExternalSettings,
    ScanSettings,
    Settings,
    SmtpSettings,
    get_settings,
)
from models.errors import PackError
from models.registry import resolve_pack
from serving.api.gateway import Gateway
from serving.deployments.detector import Detector
from serving.deployments.embedder import Embedder
from serving.deployments.jobs import JobWorker
from serving.deployments.matcher import Matcher

logger = logging.getLogger(__name__)


class Scaling(BaseModel):
    """Replicas and resources of one deployment; ``max_replicas > min_replicas`` turns on autoscaling."""

    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=1, ge=1)
    target_ongoing_requests: float = Field(default=8.0, gt=0)
    num_cpus: float = Field(default=0.5, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    access_log: bool = False  # a log line per call costs more CPU than a small model call

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "logging_config": {"enable_access_log": self.access_log},
        }
        if self.max_replicas > self.min_replicas:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        else:
            options["num_replicas"] = self.min_replicas
        return options


class Batching(Scaling):
    """A batched deployment: also how many requests form a batch and how long to wait for them."""

    max_batch_size: int = Field(default=8, ge=1)
    batch_wait_timeout_s: float = Field(default=0.01, ge=0)

    def user_config(self) -> dict[str, Any]:
        return {"max_batch_size": self.max_batch_size, "batch_wait_timeout_s": self.batch_wait_timeout_s}


class AppArgs(BaseModel):
    """Everything the application is built from. Unset values come from the settings."""

    models: ModelSettings | None = None
    pipeline: PipelineSettings | None = None
    db_url: SecretStr | None = None
    token_secret: SecretStr | None = None
    photos_dir: Path | None = None
    access_token_minutes: int | None = None
    max_upload_bytes: int | None = None
    matcher_device: Literal["cpu", "cuda"] = "cpu"
    detector: Batching = Field(default_factory=lambda: Batching(max_batch_size=8))
    embedder: Batching = Field(default_factory=lambda: Batching(max_batch_size=16))
    matcher: Scaling = Field(default_factory=lambda: Scaling(num_cpus=0.25))
    gateway: Scaling = Field(default_factory=lambda: Scaling(num_cpus=0.25))
    workers: Scaling = Field(default_factory=lambda: Scaling(num_cpus=0.25))
    smtp: SmtpSettings | None = None
    scan: ScanSettings | None = None
    external: ExternalSettings | None = None
    credentials_secret: SecretStr | None = None
    two_person_rule: bool | None = None
    session_check_seconds: float | None = None
    audit: AuditSettings | None = None


def build_app(args: AppArgs) -> Application:
    """The Serve application (for ``serve run serving.app:build_app`` and ``sura serve``)."""
    settings = effective_settings(args)
    pack = resolve_pack(settings.models.pack, settings.models.sources())  # downloads a missing pack once, here
    if pack.research_only and not settings.models.allow_research_only:
        raise PackError(
            f"pack {pack.name} is licensed for research only ({pack.licence}); a service uses it only "
            "when told so: SURA_MODELS__ALLOW_RESEARCH_ONLY=true"
        )
    logger.info("building the application for pack %s", pack.name)
    detector = (
        _deployment(Detector)
        .options(**args.detector.options(), user_config=args.detector.user_config())
        .bind(settings.models, settings.pipeline)
    )
    embedder = (
        _deployment(Embedder)
        .options(**args.embedder.options(), user_config=args.embedder.user_config())
        .bind(settings.models, settings.pipeline)
    )
    matcher = _deployment(Matcher).options(**args.matcher.options()).bind(settings, args.matcher_device)
    workers = _deployment(JobWorker).options(**args.workers.options()).bind(detector, embedder, settings)
    return _deployment(Gateway).options(**args.gateway.options()).bind(detector, embedder, matcher, workers, settings)


def effective_settings(args: AppArgs) -> Settings:
    """The process's settings with the builder's arguments applied, secrets resolved: what every replica gets.

    The token key is resolved here (in development a key file on this machine), so that replicas
    on other nodes sign with the same key.
    """
    base = get_settings()
    db_url = args.db_url or base.db.url
    if db_url is None:
        raise ValueError("the application needs a database: pass db_url or set SURA_DB__URL")
    auth = base.auth.model_copy(
        update={
            "secret_key": args.token_secret or SecretStr(base.token_secret()),
            "access_token_minutes": args.access_token_minutes or base.auth.access_token_minutes,
            "session_check_seconds": base.auth.session_check_seconds
            if args.session_check_seconds is None
            else args.session_check_seconds,
        }
    )
    external = (args.external or base.external).model_copy(
        update={"credentials_key": args.credentials_secret or SecretStr(base.credentials_secret())}
    )
    photos = base.photos.model_copy(
        update={
            "directory": args.photos_dir or base.photos.directory,
            "max_upload_bytes": args.max_upload_bytes or base.photos.max_upload_bytes,
        }
    )
    review = base.review.model_copy(
        update={
            "two_person_rule": base.review.two_person_rule if args.two_person_rule is None else args.two_person_rule
        }
    )
    return base.model_copy(
        update={
            "models": args.models or base.models,
            "pipeline": args.pipeline or base.pipeline,
            "db": base.db.model_copy(update={"url": db_url}),
            "auth": auth,
            "external": external,
            "photos": photos,
            "review": review,
            "smtp": args.smtp or base.smtp,
            "scan": args.scan or base.scan,
            "audit": args.audit or base.audit,
        }
    )


def _deployment(decorated: object) -> Deployment:
    """``@serve.deployment`` turns a class into a ``Deployment``; type checkers only see the class."""
    return cast(Deployment, decorated)
