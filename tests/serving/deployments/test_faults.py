"""A replica killed with SIGKILL while searches stream in: no request is lost to a 500.

Calls to the pure stages are made once more on another replica; while a stage has no replica
at all (the Detector and the Embedder run one each here), the answer is 503 with Retry-After.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from storage.tables import Role
from tests.helpers import eventually
from tests.serving.conftest import Service


def _replica_pids(deployment: str) -> list[int]:
    """The process ids of this session's replicas of ``deployment`` (asked of the replicas themselves)."""
    import ray

    pids = []
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["name"].startswith("SERVE_REPLICA::sura#" + deployment + "#"):
            handle = ray.get_actor(actor["name"], namespace=actor["namespace"])
            pids.append(ray.get(handle.__ray_call__.remote(lambda self: os.getpid())))
    return pids


@pytest.mark.parametrize("deployment", ["Detector", "Embedder", "Matcher"])
def test_a_killed_replica_loses_no_search(service: Service, faces_dir: Path, deployment: str) -> None:
    photo = (faces_dir / "scenes" / "fr_two_people.jpg").read_bytes()
    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def stream() -> None:
        with service.client(Role.INVESTIGATOR) as api:
            while not stop.is_set():
                try:
                    reply = api.post("/search", files={"photo": ("p.jpg", photo, "image/jpeg")})
                    answers.append((reply.status_code, reply.headers.get("retry-after")))
                except httpx.HTTPError:
                    answers.append((0, None))

    replicas = _replica_pids(deployment)
    victim = replicas[0]
    workers = [threading.Thread(target=stream, daemon=True) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        eventually(lambda: len(answers) >= 3, within=120)
        os.kill(victim, signal.SIGKILL)
        killed_at = len(answers)
        eventually(lambda: len(answers) >= killed_at + 6, within=180)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 503}, statuses
    assert all(retry for status, retry in answers if status == 503)
    assert statuses[-1] == 200 or 200 in statuses[killed_at:], statuses
    with service.client() as api:  # every replica is back, and in step, before the next test
        eventually(lambda: api.get("/health/ready").json()["ready"], within=180)
    eventually(lambda: len(_replica_pids(deployment)) == len(replicas), within=180)
    if deployment == "Matcher":
        eventually(lambda: _matchers_in_step(len(replicas)), within=180)


def _matchers_in_step(count: int) -> bool:
    from ray import serve

    handle = serve.get_deployment_handle("Matcher", app_name="sura")
    seen = {}
    for _ in range(4 * count):
        status = handle.status.remote().result()
        seen[status["replica"]] = status["synced"]
    return len(seen) == count and all(seen.values())
