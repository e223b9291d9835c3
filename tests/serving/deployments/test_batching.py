"""Concurrent requests really form batches, batched results equal single ones, limits change live."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from ray import serve

from serving.app import build_app
from storage.tables import Role
from tests.serving.conftest import Service


def _search(service: Service, photo: Path) -> dict:
    with service.client(Role.INVESTIGATOR) as api:
        reply = api.post("/search", files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_concurrent_searches_are_batched_and_agree_with_single_ones(service: Service, faces_dir: Path) -> None:
    photos = sorted((faces_dir / "people").rglob("*.jpg"))[:16]
    alone = [_search(service, photo) for photo in photos]
    detector = serve.get_deployment_handle("Detector", app_name="sura")
    embedder = serve.get_deployment_handle("Embedder", app_name="sura")
    seen = {
        "detector": len(detector.batch_sizes.remote().result()),
        "embedder": len(embedder.batch_sizes.remote().result()),
    }
    with ThreadPoolExecutor(max_workers=16) as pool:
        together = list(pool.map(lambda photo: _search(service, photo), photos))
    detector_batches = detector.batch_sizes.remote().result()[seen["detector"] :]
    embedder_batches = embedder.batch_sizes.remote().result()[seen["embedder"] :]
    assert sum(detector_batches) == len(photos) and max(detector_batches) > 1, detector_batches
    assert max(embedder_batches) > 1, embedder_batches
    for one, other in zip(alone, together, strict=True):
        assert len(one["faces"]) == len(other["faces"])
        for a, b in zip(one["faces"], other["faces"], strict=True):
            assert a["face"]["box"] == pytest.approx(b["face"]["box"], abs=0.2)
            assert [c["case_id"] for c in a["candidates"]] == [c["case_id"] for c in b["candidates"]]
            for ca, cb in zip(a["candidates"], b["candidates"], strict=True):
                assert ca["similarity"] == pytest.approx(cb["similarity"], abs=1e-4)


def test_batch_limits_come_from_user_config(service: Service) -> None:
    """``reconfigure`` applies the user_config (``serve deploy`` of a changed config does it in place)."""
    detector = serve.get_deployment_handle("Detector", app_name="sura")
    assert detector.batching.remote().result()["max_batch_size"] == service.args.detector.max_batch_size
    changed = service.args.model_copy(deep=True)
    changed.detector.max_batch_size, changed.detector.batch_wait_timeout_s = 3, 0.02
    serve.run(build_app(changed), name="sura", route_prefix="/")
    after = detector.batching.remote().result()
    assert (after["max_batch_size"], after["batch_wait_timeout_s"]) == (3, 0.02)
    serve.run(build_app(service.args), name="sura", route_prefix="/")
    assert detector.batching.remote().result()["max_batch_size"] == service.args.detector.max_batch_size


def test_readiness(service: Service, upload: Callable) -> None:
    with service.client() as api:
        body = api.get("/health/ready").json()
    assert body == {"ready": True, "checks": {"database": True, "detector": True, "embedder": True, "matcher": True}}
