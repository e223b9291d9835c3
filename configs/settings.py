"""SuraSmart's settings: one object, read from ``SURA_*`` environment variables.

Nested groups use a double underscore: ``SURA_MODELS__PACK=shared-scrfd``,
``SURA_PIPELINE__DETECT_BATCH=16``. Build it with ``get_settings()``, never at import.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.insightface import RELEASE_URL
from models.registry import DEFAULT_PACK, PACKS_FOLDER, PackSources
from models.session import RuntimeOptions
from pipeline.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from pipeline.engine import EngineOptions
from storage.embedded import default_data_dir


class ModelSettings(BaseModel):
    """Which pack, where packs come from, and where the networks run."""

    pack: str = DEFAULT_PACK
    pack_dirs: list[Path] = Field(default_factory=lambda: [PACKS_FOLDER])
    cache_dir: Path = Field(default_factory=lambda: Path(user_cache_dir("surasmart")) / "models")
    download_url: str = RELEASE_URL
    allow_download: bool = True
    backend: Literal["onnxruntime", "torch"] = "onnxruntime"
    device: Literal["cpu", "cuda"] = "cpu"
    providers: list[str] | None = None
    threads: int = Field(default=0, ge=0)
    half: bool | None = None
    dlib_upsample: int = Field(default=1, ge=0, le=3)
    dlib_max_side: int = Field(default=1024, ge=64)

    def sources(self) -> PackSources:
        return PackSources(
            pack_dirs=tuple(self.pack_dirs),
            cache_dir=self.cache_dir,
            download_url=self.download_url,
            allow_download=self.allow_download,
            dlib_upsample=self.dlib_upsample,
            dlib_max_side=self.dlib_max_side,
        )

    def runtime(self) -> RuntimeOptions:
        return RuntimeOptions(
            backend=self.backend,
            device=self.device,
            providers=tuple(self.providers) if self.providers else None,
            threads=self.threads,
            half=self.half,
        )


class PipelineSettings(BaseModel):
    """Batching, the tight-crop retry and the limits on untrusted images."""

    detect_batch: int = Field(default=4, ge=1)
    embed_batch: int = Field(default=16, ge=1)
    pad_ratio: float = Field(default=0.5, ge=0.0, le=2.0)
    decode_workers: int = Field(default=2, ge=1)
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, ge=1)
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1)

    def engine(self) -> EngineOptions:
        return EngineOptions(detect_batch=self.detect_batch, embed_batch=self.embed_batch, pad_ratio=self.pad_ratio)


class DatabaseSettings(BaseModel):
    """A PostgreSQL ≥ 14 with pgvector at ``url``; unset, an embedded server in ``data_dir``."""

    url: SecretStr | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    statement_timeout_ms: int = Field(default=30_000, ge=100)


class Settings(BaseSettings):
    """Everything configurable; secrets (added with the service) are ``SecretStr``."""

    model_config = SettingsConfigDict(env_prefix="SURA_", env_nested_delimiter="__", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
