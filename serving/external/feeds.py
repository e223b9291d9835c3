"""HTTPS feeds as remote sources: a JSON list of records (or one inside the document), or CSV.

The feed is fetched once per source object through the SSRF guard, with the source's
credential headers sent to its own host only. Pages are cut from it the way an SQL source
cuts them: ordered by the change column, then the id, after the watermark; numbers (and numeric
text) sort as numbers, other values as text, missing values first.
"""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

from serving.external.fetch import FetchError, FetchLimits, FetchRefusedError, fetch
from serving.external.remote import Connection, Query, QueryLogger, RemoteError, Selection, Watermark
from storage.tables import SourceKind


class FeedSource:
    """An HTTPS feed: a JSON list of objects (or one under ``source``, a dotted path), or CSV."""

    def __init__(self, connection: Connection, *, log: QueryLogger, limits: FetchLimits) -> None:
        self.connection, self.log, self.limits = connection, log, limits
        self._document: Any = None

    def tables(self) -> list[str]:
        """The dotted paths to the lists of records in the feed ("" for the feed itself)."""
        return _list_paths(self._fetch())

    def columns(self, source: str) -> dict[str, str]:
        names: dict[str, str] = {}
        for row in self._rows(source)[:1000]:
            for name, value in row.items():
                names.setdefault(name, type(value).__name__)
        return names

    def page(self, selection: Selection, after: Watermark | None, limit: int) -> list[dict[str, Any]]:
        rows = [r for r in self._rows(selection.source) if r.get(selection.id_column) not in (None, "")]
        order = selection.updated_column

        def position(row: dict[str, Any]) -> tuple[Any, ...]:
            key = _sortable(row[selection.id_column])
            return (_sortable(row.get(order)), key) if order else (key,)

        rows.sort(key=position)
        if after is not None:
            mark = (_sortable(after.updated), _sortable(after.remote_id)) if order else (_sortable(after.remote_id),)
            rows = [row for row in rows if position(row) > mark]
        return rows[:limit]

    def close(self) -> None:
        self._document = None

    def _rows(self, source: str) -> list[dict[str, Any]]:
        value = self._fetch()
        for part in [p for p in source.split(".") if p]:
            if not isinstance(value, dict) or part not in value:
                raise RemoteError(f"the feed has no {source!r}")
            value = value[part]
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise RemoteError("the feed (at the mapped path) is not a list of records")
        return value

    def _fetch(self) -> Any:
        """The feed, fetched once per source object (one sync, one test)."""
        if self._document is not None:
            return self._document
        url = self.connection.location
        headers = {str(k): str(v) for k, v in dict(self.connection.credentials.get("headers") or {}).items()}
        started = time.perf_counter()
        try:
            body = fetch(url, allowed_hosts=self.connection.allowed_hosts, limits=self.limits, headers=headers)
        except (FetchError, FetchRefusedError) as exc:
            self.log(Query(f"GET {url}", {}, None, (time.perf_counter() - started) * 1000))
            raise RemoteError(f"cannot fetch the feed: {exc}") from exc
        try:
            if self.connection.kind is SourceKind.HTTPS_CSV:
                document: Any = [dict(row) for row in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))]
            else:
                document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
            raise RemoteError(f"the feed is not valid {self.connection.kind.value.removeprefix('https_')}") from exc
        self.log(
            Query(
                f"GET {url}",
                {},
                len(document) if isinstance(document, list) else None,
                (time.perf_counter() - started) * 1000,
            )
        )
        self._document = document
        return document


def _list_paths(value: Any, prefix: str = "", depth: int = 0) -> list[str]:
    if isinstance(value, list):
        return [prefix]
    if not isinstance(value, dict) or depth >= 3:
        return []
    return [path for key, item in value.items() for path in _list_paths(item, f"{prefix}.{key}".lstrip("."), depth + 1)]


def _sortable(value: Any) -> tuple[int, Any]:
    """Feed values sort numbers as numbers and everything else as text; missing values first."""
    if value is None or value == "":
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        try:
            return (1, float(value))
        except ValueError:
            return (2, value)
    return (2, str(value))
