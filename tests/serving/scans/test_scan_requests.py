"""Asking for a scan another investigator already runs tells that it runs, never hands over their job."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.services.queue import JobService
from storage.database import Database
from storage.errors import ConflictError
from storage.tables import JobPriority, Role


def test_a_running_scan_of_someone_else_is_not_handed_over(db: Database, make_user, tmp_path: Path) -> None:
    jobs = JobService(db, pack="shared-scrfd", scan_sources=[str(tmp_path)])
    first, second, lead = make_user(Role.INVESTIGATOR), make_user(Role.INVESTIGATOR), make_user(Role.SUPERVISOR)
    started = jobs.start_scan(first, source=str(tmp_path), source_label=None, priority=JobPriority.NORMAL)
    again = jobs.start_scan(first, source=str(tmp_path), source_label=None, priority=JobPriority.NORMAL)
    assert again.id == started.id
    with pytest.raises(ConflictError, match="another user"):
        jobs.start_scan(second, source=str(tmp_path), source_label=None, priority=JobPriority.NORMAL)
    seen = jobs.start_scan(lead, source=str(tmp_path), source_label=None, priority=JobPriority.NORMAL)
    assert seen.id == started.id  # supervisors see every job
