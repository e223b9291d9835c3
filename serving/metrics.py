"""Every metric the service records, declared once (Ray Serve metrics, exported by Ray's metrics agent).

Ray exports them on each node's metrics port (``sura serve`` prints it) with a ``ray_`` prefix:
``sura_photos_total`` is scraped as ``ray_sura_photos_total``. Serve adds the deployment, replica
and application to each. Our own labels are few and fixed (outcome, reason, stage, kind, channel,
decision, pack), never ids, names or cases. Metrics are made in the process that records them,
on first use, so importing this module costs nothing and needs no running Ray.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

SECONDS: list[float] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800]
SIZES: list[float] = [1, 2, 4, 8, 16, 32, 64, 128, 256]


@dataclass(frozen=True)
class Metrics:
    photos: Any  # Counter{outcome}: accepted or rejected by the decoder
    rejected: Any  # Counter{reason}: the ImageError kind
    faces_per_photo: Any  # Histogram
    batch_size: Any  # Histogram (per deployment: Serve's own tag)
    stage_seconds: Any  # Histogram{stage}: decode, detect, embed, match
    gallery_faces: Any  # Gauge{pack}
    gallery_lag: Any  # Gauge: seconds this matcher has been out of step with the database (0 in step)
    matches_created: Any  # Counter
    reviews: Any  # Counter{decision}
    deliveries: Any  # Counter{channel, outcome}
    jobs: Any  # Gauge{kind, status}: how many jobs the queue holds
    job_oldest: Any  # Gauge{kind}: age of the oldest queued job
    job_seconds: Any  # Histogram{kind, outcome}
    scan_photos: Any  # Counter{outcome}: stored, known, failed
    sync_rows: Any  # Counter{outcome}
    audit_verified: Any  # Gauge{result}: 1 on the latest verification's result (ok or broken), 0 on the other
    db_pool_in_use: Any  # Gauge: connections checked out of the gateway's pool


@functools.cache
def metrics() -> Metrics:
    """This process's metrics (made on first use: Ray must be running by then)."""
    from ray.serve.metrics import Counter, Gauge, Histogram

    return Metrics(
        photos=Counter("sura_photos_total", "Photos received by the detector.", tag_keys=("outcome",)),
        rejected=Counter("sura_photos_rejected_total", "Photos refused, by reason.", tag_keys=("reason",)),
        faces_per_photo=Histogram("sura_faces_per_photo", "Faces found per photo.", boundaries=SIZES),
        batch_size=Histogram("sura_batch_size", "Items per batch a deployment ran.", boundaries=SIZES),
        stage_seconds=Histogram(
            "sura_stage_seconds", "Seconds a stage took per batch.", boundaries=SECONDS, tag_keys=("stage",)
        ),
        gallery_faces=Gauge("sura_gallery_faces", "Reference faces a matcher holds.", tag_keys=("pack",)),
        gallery_lag=Gauge("sura_gallery_lag_seconds", "Seconds a matcher has been out of step (0: in step)."),
        matches_created=Counter("sura_matches_created_total", "Candidate matches recorded for review."),
        reviews=Counter("sura_reviews_total", "Review decisions, by decision.", tag_keys=("decision",)),
        deliveries=Counter("sura_deliveries_total", "Notification deliveries.", tag_keys=_keys("channel", "outcome")),
        jobs=Gauge("sura_jobs", "Jobs in the queue, by kind and status.", tag_keys=_keys("kind", "status")),
        job_oldest=Gauge("sura_job_oldest_seconds", "Age of the oldest queued job.", tag_keys=("kind",)),
        job_seconds=Histogram(
            "sura_job_seconds", "Seconds a job ran.", boundaries=SECONDS, tag_keys=_keys("kind", "outcome")
        ),
        scan_photos=Counter("sura_scan_photos_total", "Photos an archive scan handled.", tag_keys=("outcome",)),
        sync_rows=Counter("sura_sync_rows_total", "Partner records a sync handled.", tag_keys=("outcome",)),
        audit_verified=Gauge(
            "sura_audit_verified", "The latest audit verification: 1 on its result.", tag_keys=("result",)
        ),
        db_pool_in_use=Gauge("sura_db_pool_in_use", "Database connections in use by a gateway."),
    )


def _keys(*names: str) -> Any:
    """Tag keys (Ray annotates them as a one-element tuple; any number is meant)."""
    return names


def record_verification(ok: bool) -> None:
    """Show the latest audit verification: ``result="ok"`` 1 when it verified, ``result="broken"`` 1 when not."""
    gauge = metrics().audit_verified
    gauge.set(1 if ok else 0, tags={"result": "ok"})
    gauge.set(0 if ok else 1, tags={"result": "broken"})


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Record how long the block took as ``stage``."""
    started = perf_counter()
    try:
        yield
    finally:
        metrics().stage_seconds.observe(perf_counter() - started, tags={"stage": stage})


def observe_photos(found: Sequence[Any]) -> None:
    """A detector batch: its size, each photo accepted or refused (by the ImageError's kind), faces per photo."""
    from pipeline.errors import ImageError

    recorded = metrics()
    recorded.batch_size.observe(len(found))
    for photo in found:
        if isinstance(photo, ImageError):
            recorded.photos.inc(tags={"outcome": "rejected"})
            recorded.rejected.inc(tags={"reason": type(photo).__name__})
        else:
            recorded.photos.inc(tags={"outcome": "accepted"})
            recorded.faces_per_photo.observe(len(photo.located.faces.faces))
