"""What the repositories share: pages of results and lookups that fail loudly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from storage.errors import InvalidArgumentError, NotFoundError
from storage.tables import Base

Row = TypeVar("Row", bound=Base)
Item = TypeVar("Item")
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[Item]):
    """One page of a filtered listing (rows, or what a service makes of them) and how many match in all."""

    items: Sequence[Item]
    total: int
    page: int
    page_size: int


def get_or_raise(session: Session, table: type[Row], row_id: uuid.UUID, *, lock: bool = False) -> Row:
    """The row with ``row_id``; NotFoundError (naming the table, not the content) if there is none."""
    row = session.get(table, row_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise NotFoundError(f"no {table.__tablename__} row with id {row_id}")
    return row


def affected_rows(session: Session, statement: sa.Executable) -> int:
    """Run a bulk UPDATE or DELETE and return how many rows it touched."""
    return cast("sa.CursorResult[Any]", session.execute(statement)).rowcount


def paginate(session: Session, query: sa.Select[Any], *, page: int, page_size: int) -> Page[Any]:
    """Run ``query`` for one page (1-based) and count all its rows."""
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgumentError(f"page must be ≥ 1 and page_size 1–{MAX_PAGE_SIZE}")
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    items = session.scalars(query.limit(page_size).offset((page - 1) * page_size)).all()
    return Page(items=items, total=total, page=page, page_size=page_size)
