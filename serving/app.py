"""The Serve application: typed arguments in, Detector → Embedder → Matcher behind the Gateway out.

The same builder serves ``sura serve`` on one machine and ``serve run``/``serve deploy`` with
``configs/serve.yaml`` on a cluster. Arguments left out are taken from the ``SURA_*``
settings of the process that builds the app (the database URL and token key, above all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, Field, SecretStr
from ray.serve import Application, Deployment

from configs.settings import (
    ExternalSettings,
    ModelSettings,
    PipelineSettings,
    ScanSettings,
    SmtpSettings,
    get_settings,
)
from models.registry import resolve_pack
from serving.api.gateway import Gateway, GatewayConfig
from serving.deployments.detector import Detector
from serving.deployments.embedder import Embedder
from serving.deployments.jobs import JobWorker, JobWorkerConfig
from serving.deployments.matcher import Matcher, MatcherConfig


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


def build_app(args: AppArgs) -> Application:
    """The Serve application (for ``serve run serving.app:build_app`` and ``sura serve``)."""
    settings = get_settings()
    models = args.models or settings.models
    pipeline = args.pipeline or settings.pipeline
    db_url = args.db_url or settings.db.url
    if db_url is None:
        raise ValueError("the application needs a database: pass db_url or set SURA_DB__URL")
    pack = resolve_pack(models.pack, models.sources())  # downloads a missing pack once, here
    detector = (
        _deployment(Detector)
        .options(**args.detector.options(), user_config=args.detector.user_config())
        .bind(models, pipeline)
    )
    embedder = (
        _deployment(Embedder)
        .options(**args.embedder.options(), user_config=args.embedder.user_config())
        .bind(models, pipeline)
    )
    matcher = (
        _deployment(Matcher)
        .options(**args.matcher.options())
        .bind(
            MatcherConfig(
                pack=pack.name,
                calibration=list(pack.calibration.points),
                operating_far=pack.calibration.operating_far,
                db_url=db_url,
                device=args.matcher_device,
            )
        )
    )
    token_secret = args.token_secret or SecretStr(settings.token_secret())
    photos_dir = args.photos_dir or settings.photos.directory
    credentials_secret = args.credentials_secret or SecretStr(settings.credentials_secret())
    external = args.external or settings.external
    workers = (
        _deployment(JobWorker)
        .options(**args.workers.options())
        .bind(
            detector,
            embedder,
            JobWorkerConfig(
                db_url=db_url,
                token_secret=token_secret,
                photos_dir=photos_dir,
                smtp=args.smtp or settings.smtp,
                pack=pack.name,
                calibration=list(pack.calibration.points),
                operating_far=pack.calibration.operating_far,
                models=models,
                pipeline=pipeline,
                scan=args.scan or settings.scan,
                credentials_secret=credentials_secret,
                external=external,
                poll_interval_s=settings.jobs.poll_interval_s,
                lease_s=settings.jobs.lease_s,
                retention_interval_s=settings.jobs.retention_interval_s,
            ),
        )
    )
    auth = settings.auth
    config = GatewayConfig(
        db_url=db_url,
        token_secret=token_secret,
        photos_dir=photos_dir,
        pack=pack.name,
        threshold=pack.calibration.threshold(),
        access_token_minutes=args.access_token_minutes or auth.access_token_minutes,
        refresh_token_days=auth.refresh_token_days,
        login_failures_allowed=auth.login_failures_allowed,
        login_lockout_minutes=auth.login_lockout_minutes,
        session_check_seconds=auth.session_check_seconds
        if args.session_check_seconds is None
        else (args.session_check_seconds),
        two_person_rule=settings.review.two_person_rule if args.two_person_rule is None else args.two_person_rule,
        max_upload_bytes=args.max_upload_bytes or settings.photos.max_upload_bytes,
        scan_sources=(args.scan or settings.scan).allowed_sources,
        credentials_secret=credentials_secret,
        external=external,
        statement_timeout_ms=settings.db.statement_timeout_ms,
    )
    return _deployment(Gateway).options(**args.gateway.options()).bind(detector, embedder, matcher, workers, config)


def _deployment(decorated: object) -> Deployment:
    """``@serve.deployment`` turns a class into a ``Deployment``; type checkers only see the class."""
    return cast(Deployment, decorated)
