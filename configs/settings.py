"""SuraSmart's settings: one object, read from ``SURA_*`` environment variables.

Nested groups use a double underscore: ``SURA_MODELS__PACK=shared-scrfd``,
``SURA_PIPELINE__DETECT_BATCH=16``. Build it with ``get_settings()``, never at import.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from configs.faces import MatchingSettings, ModelSettings, PipelineSettings
from storage.embedded import default_data_dir, default_home


class DatabaseSettings(BaseModel):
    """A PostgreSQL ≥ 14 with pgvector at ``url``; unset, an embedded server in ``data_dir``."""

    url: SecretStr | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    statement_timeout_ms: int = Field(default=30_000, ge=100)


class AuthSettings(BaseModel):
    """Token signing. Outside development ``secret_key`` must be set (32+ characters)."""

    secret_key: SecretStr | None = None
    key_file: Path = Field(default_factory=lambda: default_home() / "token.key")
    access_token_minutes: int = Field(default=60, ge=1)
    refresh_token_days: int = Field(default=7, ge=1)
    login_failures_allowed: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    session_check_seconds: float = Field(default=5.0, ge=0, description="How stale a user/session check may be.")


class ReviewSettings(BaseModel):
    """How matches are confirmed: with the two-person rule, a second, different reviewer who is a
    supervisor (or admin) gives the deciding confirmation. A reviewer holds a match they work on
    for ``claim_minutes``."""

    two_person_rule: bool = True
    claim_minutes: int = Field(default=10, ge=1, le=240)


class SmtpSettings(BaseModel):
    """How notifications leave: the mail server (no host means no e-mail is sent), and webhooks.

    Mail goes over STARTTLS with the server's certificate verified against the system's CAs or
    ``ca_file``. Webhooks are called over https at public addresses only (the outbound guard),
    except the hosts in ``webhook_allowed_hosts``.
    """

    host: str | None = None
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "SuraSmart <noreply@localhost>"
    starttls: bool = Field(default=True, description="STARTTLS, verified; off only for a server on this machine.")
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CAs the mail server's certificate is checked against (default: the system's).",
    )
    timeout_s: float = Field(default=20.0, gt=0)
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts webhooks may call over plain http or at non-public addresses (by name: test receivers).",
    )


class JobSettings(BaseModel):
    """How the job workers poll the queue and hold their jobs (notification deliveries, retention cleanup …).

    The number of workers is the JobWorker deployment's replica count (``AppArgs.workers``).
    """

    poll_interval_s: float = Field(default=1.0, gt=0)
    lease_s: float = Field(default=120.0, gt=0)
    retention_interval_s: int = Field(default=86_400, ge=60)


def embedded_anchor() -> Path:
    """The embedded database's anchor file, beside the service's other files."""
    return default_home() / "audit-anchor.jsonl"


class AuditSettings(BaseModel):
    """Where the audit chain's head is anchored, signed, outside the database.

    Keep the file where the database's owner cannot write (another volume, host or WORM storage):
    a rewritten past then no longer matches its anchor. The job worker anchors every
    ``anchor_interval_s``. Unset: the embedded database anchors to ``embedded_anchor()``; a
    configured database is not anchored until a file is named (it belongs to that database).
    """

    anchor_file: Path | None = None
    anchor_interval_s: int = Field(default=60, ge=5)
    verify_interval_s: int = Field(default=3600, ge=10, description="How often the job worker walks the chain.")


class PhotoSettings(BaseModel):
    """Where uploaded photos are kept, and how large an upload may be."""

    directory: Path = Field(default_factory=lambda: default_home() / "photos")
    max_upload_bytes: int = Field(default=25 * 2**20, ge=1024)


class ScanSettings(BaseModel):
    """Archive scans (Ray Data): batch sizes and actors per stage, and which sources the API may scan.

    The model actors take ``num_cpus`` each, and ``num_gpus`` each when set; left unset, they
    take half a GPU when the models run on CUDA, so the locate and embed actors share a card.
    """

    read_batch: int = Field(default=16, ge=1, description="Files read and hashed per task.")
    read_actors: int = Field(default=1, ge=1)
    locate_batch: int = Field(default=8, ge=1, description="Photos decoded and searched for faces per call.")
    locate_actors: int = Field(default=1, ge=1)
    embed_batch: int = Field(default=16, ge=1, description="Photos whose faces are embedded per call.")
    embed_actors: int = Field(default=1, ge=1)
    write_batch: int = Field(default=32, ge=1, description="Photos stored per database transaction.")
    num_cpus: float = Field(default=0.75, ge=0)
    num_gpus: float | None = Field(default=None, ge=0)
    matches_per_face: int = Field(default=10, ge=1, le=100)
    lease_s: float = Field(default=60.0, gt=0, description="How long a silent scan driver keeps its job.")
    object_store_mb: int | None = Field(default=None, ge=64, description="For a local Ray started by `sura scan`.")
    failures_listed: int = Field(default=1000, ge=0, description="Unreadable files named in the job row.")
    allowed_sources: list[str] = Field(
        default_factory=list,
        description="Folders and URI prefixes the API may scan; none by default. Compared as resolved paths, and "
        "checked again for every place a list file names and every file found (links out are dropped).",
    )

    def gpus_per_actor(self, device: str) -> float:
        if self.num_gpus is not None:
            return self.num_gpus
        return 0.5 if device == "cuda" else 0.0


class ExternalSettings(BaseModel):
    """Reading partner databases: the key that seals their credentials, and the limits of every read.

    Without ``credentials_key`` (32+ characters) the key is derived from the token secret.
    """

    credentials_key: SecretStr | None = None
    statement_timeout_ms: int = Field(default=15_000, ge=100)
    page_size: int = Field(default=200, ge=1, le=10_000, description="Rows per remote query.")
    max_rows_per_sync: int = Field(default=50_000, ge=1, description="A sync stops here; the next goes on.")
    photo_max_bytes: int = Field(default=25 * 2**20, ge=1024)
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    max_redirects: int = Field(default=3, ge=0, le=10)


class ServeSettings(BaseModel):
    """Where ``sura serve`` listens, and the port Ray exports every process's metrics on (Prometheus scrapes it)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    metrics_port: int = Field(default=8080, ge=1, le=65535)


class Settings(BaseSettings):
    """Everything configurable; secrets (added with the service) are ``SecretStr``."""

    model_config = SettingsConfigDict(env_prefix="SURA_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_format: Literal["text", "json"] = Field(default="text", description="The gateway's request lines.")
    audit: AuditSettings = Field(default_factory=AuditSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    external: ExternalSettings = Field(default_factory=ExternalSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    photos: PhotoSettings = Field(default_factory=PhotoSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    def credentials_secret(self) -> str:
        """The secret the credentials of external sources are sealed with."""
        if self.external.credentials_key is not None:
            secret = self.external.credentials_key.get_secret_value()
            if len(secret) < MIN_SECRET_LENGTH:
                raise SettingsError(f"SURA_EXTERNAL__CREDENTIALS_KEY must have at least {MIN_SECRET_LENGTH} characters")
            return secret
        return self.token_secret()

    def token_secret(self) -> str:
        """The key that signs tokens: configured, or (development only) a random one kept in a file."""
        if self.auth.secret_key is not None:
            secret = self.auth.secret_key.get_secret_value()
            if self.environment != "development" and len(secret) < MIN_SECRET_LENGTH:
                raise SettingsError(f"SURA_AUTH__SECRET_KEY must have at least {MIN_SECRET_LENGTH} characters")
            return secret
        if self.environment != "development":
            raise SettingsError(f"SURA_AUTH__SECRET_KEY must be set when SURA_ENVIRONMENT is {self.environment}")
        return _development_key(self.auth.key_file)


class SettingsError(Exception):
    """Raised when the settings are incomplete or unsafe for the environment."""


MIN_SECRET_LENGTH = 32


def _development_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=path.parent)  # mode 0600
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # atomic; when several replicas race, the first key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
