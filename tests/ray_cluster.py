"""One local Ray for the whole session (about 20 s to start): Serve apps and scan jobs share it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """Two CPUs and a small object store: what this machine and CI can give."""
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, configure_logging=False)
    yield
    ray.shutdown()
