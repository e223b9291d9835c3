"""A real Prometheus scrapes the running service: the pipeline's counters move by exactly what was sent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.tables import Role
from tests.helpers import eventually
from tests.serving.conftest import Service

PROMETHEUS = shutil.which("prometheus")


@pytest.fixture(scope="module")
def prometheus(service: Service) -> Iterator[str]:
    """Prometheus scraping this session's Ray metrics port every second; its HTTP API's URL."""
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus is not installed (.ci/run installs it)")
    folder = Path(tempfile.mkdtemp(prefix="sura-prometheus-"))
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: sura\n    static_configs: [{{targets: ['127.0.0.1:{os.environ['RAY_METRICS_PORT']}']}}]\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: _up(url), within=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _value(url: str, query: str) -> float:
    reply = httpx.get(f"{url}/api/v1/query", params={"query": f"({query}) or vector(0)"}, timeout=10).json()
    return float(reply["data"]["result"][0]["value"][1])


def _settled(url: str, query: str) -> float:
    """The value once it stopped moving (Ray exports every few seconds; Prometheus scrapes every second)."""
    last = _value(url, query)
    while True:
        time.sleep(12)
        now = _value(url, query)
        if now == last:
            return now
        last = now


def test_the_counters_move_by_what_was_sent(service: Service, prometheus: str, faces_dir: Path) -> None:
    accepted = 'sum(ray_sura_photos_total{outcome="accepted"})'
    rejected = 'sum(ray_sura_photos_rejected_total{reason="EmptyImageError"})'
    matched = "sum(ray_sura_stage_seconds_count{stage='match'})"
    before = {query: _settled(prometheus, query) for query in (accepted, rejected, matched)}
    photos = [faces_dir / "scenes" / "fr_two_people.jpg", faces_dir / "people" / "fr_biden" / "examples__biden.jpg"]
    photos = [p for p in photos if p.exists()] or sorted((faces_dir / "people" / "fr_biden").iterdir())[:2]
    with service.client(Role.INVESTIGATOR) as api:
        for photo in photos:
            assert api.post("/search", files={"photo": (photo.name, photo.read_bytes())}).status_code == 200
        assert api.post("/search", files={"photo": ("empty.jpg", b"", "image/jpeg")}).status_code == 400
    eventually(lambda: _value(prometheus, accepted) >= before[accepted] + len(photos), within=90)
    after = {query: _settled(prometheus, query) for query in (accepted, rejected, matched)}
    assert after[accepted] - before[accepted] == len(photos)
    assert after[rejected] - before[rejected] == 1
    assert after[matched] - before[matched] == len(photos)  # one matcher call per photo with faces
    assert _value(prometheus, "count(ray_serve_num_http_requests_total)") > 0  # Serve's own are there too
    assert _value(prometheus, "count(ray_sura_gallery_faces)") > 0  # every matcher reports its gallery
