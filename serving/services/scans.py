"""Archive scans as people ask for them: what to scan, which sources the API may scan, and the queued job."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from serving.errors import PermissionDeniedError
from serving.scans.sources import SourceError, normalise_place, within
from storage.errors import InvalidArgumentError
from storage.jobs import JobQueue
from storage.tables import Job, JobPriority

SCAN_JOB = "scan"


@dataclass(frozen=True)
class ScanRequest:
    """What to scan (the job's payload): a folder, archive, list file or URI, with the pack to use."""

    source: str
    pack: str
    source_label: str | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ScanRequest:
        return cls(source=payload["source"], pack=payload["pack"], source_label=payload.get("source_label"))

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    def identity(self) -> dict[str, Any]:
        """What makes two scans the same scan (and one resumable by the other): source and pack."""
        return {"source": self.source, "pack": self.pack}


def normalise_source(source: str) -> str:
    """A local path made absolute (so the same folder is the same scan from anywhere); URIs as given."""
    return source if "://" in source else str(Path(source).expanduser().resolve())


def check_api_source(source: str, allowed: list[str]) -> str:
    """The normalised source if it lies under an allowed folder or URI prefix (PermissionDeniedError if not).

    The API reads files on the server's side, so only configured places may be scanned from it.
    Places are compared as resolved paths (``file://`` URIs too), never as strings; URIs with a
    query, fragment, credentials or dot segments are refused (InvalidArgumentError). What a list
    file names is checked again when the scan runs (``list_source(allowed=…)``).
    """
    if not allowed:
        raise PermissionDeniedError("this server allows no scans through the API (see SURA_SCAN__ALLOWED_SOURCES)")
    try:
        wanted = normalise_place(source)
    except SourceError as exc:
        raise InvalidArgumentError(str(exc)) from exc
    if not within(wanted, allowed):
        raise PermissionDeniedError("the source lies outside the folders and prefixes this server may scan")
    if "://" not in wanted and not Path(wanted).exists():
        raise InvalidArgumentError("no such folder, archive or list file on the server")
    return wanted


def start_scan(
    session: Any, *, request: ScanRequest, priority: JobPriority, created_by_id: uuid.UUID | None
) -> tuple[Job, bool]:
    """Queue a scan for the job workers, and whether it is new: a scan of the same source still
    unfinished is returned instead."""
    return JobQueue(session).enqueue_once(
        kind=SCAN_JOB,
        identity=request.identity(),
        payload=request.payload(),
        priority=priority,
        max_attempts=5,
        created_by_id=created_by_id,
    )
