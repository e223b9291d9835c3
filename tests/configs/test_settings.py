"""Settings come from SURA_* variables, nested with a double underscore, and are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from configs.settings import Settings


def test_defaults_need_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.models.pack == "dlib" and settings.models.backend == "onnxruntime"
    assert settings.pipeline.engine().pad_ratio == 0.5


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURA_MODELS__PACK", "shared-yunet")
    monkeypatch.setenv("SURA_MODELS__DEVICE", "cuda")
    monkeypatch.setenv("SURA_PIPELINE__DETECT_BATCH", "32")
    settings = Settings()
    assert settings.models.pack == "shared-yunet"
    assert settings.models.runtime().device == "cuda"
    assert settings.pipeline.engine().detect_batch == 32


def test_how_matches_are_judged_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    default = Settings().matching.policy()
    assert default.max_wrong == 0.1 and default.age_gap is not None and default.age_gap.candidates == 3
    monkeypatch.setenv("SURA_MATCHING__MAX_WRONG_PER_SEARCH", "0.5")
    monkeypatch.setenv("SURA_MATCHING__AGE_GAP_MIN_YEARS", "5")
    policy = Settings().matching.policy()
    assert policy.max_wrong == 0.5 and policy.age_gap is not None and policy.age_gap.min_years == 5
    monkeypatch.setenv("SURA_MATCHING__AGE_GAP", "false")
    assert Settings().matching.policy().age_gap is None
    monkeypatch.setenv("SURA_MATCHING__MAX_WRONG_PER_SEARCH", "0")
    with pytest.raises(ValidationError, match="max_wrong_per_search"):
        Settings()


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURA_PIPELINE__DETECT_BATCH", "0")
    with pytest.raises(ValidationError, match="detect_batch"):
        Settings()
    monkeypatch.delenv("SURA_PIPELINE__DETECT_BATCH")
    monkeypatch.setenv("SURA_MODELS__BACKEND", "tensorflow")
    with pytest.raises(ValidationError, match="backend"):
        Settings()


def test_database_url_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURA_DB__URL", "postgresql+psycopg://sura:s3cret@db.internal/sura")
    settings = Settings()
    assert settings.db.url is not None and settings.db.url.get_secret_value().endswith("@db.internal/sura")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    monkeypatch.delenv("SURA_DB__URL")
    assert Settings().db.url is None  # no URL: the embedded server
