"""The face side of the settings: which models run and where, how photos go through them, and how
candidates are judged (``SURA_MODELS__*``, ``SURA_PIPELINE__*``, ``SURA_MATCHING__*``; read as part
of ``configs.settings.Settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir
from pydantic import BaseModel, Field

from models.insightface import RELEASE_URL
from models.registry import DEFAULT_PACK, PACKS_FOLDER, PackSources
from models.session import RuntimeOptions
from pipeline.ages import AgeGapRule
from pipeline.candidates import MatchPolicy
from pipeline.decode import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from pipeline.engine import EngineOptions


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
    allow_research_only: bool = Field(
        default=False, description="Let the service use packs licensed for research only (InsightFace's, SCRFD)."
    )

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


class MatchingSettings(BaseModel):
    """How candidates are judged beyond their score.

    1:N is not 1:1: the more reference faces a searched face meets, the more wrong cases pass a
    fixed threshold. The threshold rises with the gallery so that a searched face meets at most
    ``max_wrong_per_search`` wrong cases above it on average (never looser than the pack's own
    operating point, which a large value keeps at any size). A reference photo of a child (under
    ``age_gap_child_under``) compared with a photo taken ``age_gap_min_years`` or more later is
    judged by rank instead: the best ``age_gap_candidates`` such cases per face go to review,
    flagged, if they reach the pack's threshold at false-accept rate ``age_gap_floor_far``.
    """

    max_wrong_per_search: float = Field(default=0.1, gt=0)
    age_gap: bool = Field(default=True, description="Put children's cases forward by rank across an age gap.")
    age_gap_child_under: float = Field(default=18.0, gt=0, le=30)
    age_gap_min_years: float = Field(default=3.0, ge=0)
    age_gap_candidates: int = Field(default=3, ge=1, le=20)
    age_gap_floor_far: float = Field(default=0.1, gt=0, le=1)

    def policy(self) -> MatchPolicy:
        rule = AgeGapRule(
            child_under=self.age_gap_child_under,
            min_years=self.age_gap_min_years,
            candidates=self.age_gap_candidates,
            floor_far=self.age_gap_floor_far,
        )
        return MatchPolicy(max_wrong=self.max_wrong_per_search, age_gap=rule if self.age_gap else None)
