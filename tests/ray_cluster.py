"""One local Ray for the whole session (about 20 s to start): Serve apps and scan jobs share it.

Its metrics are exported on a free port (``RAY_METRICS_PORT`` in the environment), where the
monitoring test's Prometheus scrapes them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """Two CPUs and a small object store: what this machine and CI can give."""
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    ray = pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ["RAY_METRICS_PORT"] = str(port)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        configure_logging=False,
        _metrics_export_port=port,
    )
    yield
    ray.shutdown()
