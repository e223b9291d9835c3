"""Declarative base: UUID keys, timestamps, constraint names Alembic can diff, string enums."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Every table; timestamps are timezone-aware, free-form data is JSONB."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012
        datetime: sa.DateTime(timezone=True),
        dict[str, Any]: JSONB,
        uuid.UUID: sa.Uuid(),
    }


class Keyed:
    """A random UUID primary key, and when the row was created and last changed."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), onupdate=sa.func.now())


def enum_type(enum_class: type[enum.Enum], name: str) -> sa.Enum:
    """A VARCHAR with a CHECK constraint (not a native enum: new values need no type migration)."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def owner_key(table: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Mapped[Any]:
    """A foreign key to ``table.id``, indexed (every one of them is filtered or joined on)."""
    return mapped_column(sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable, index=True)
