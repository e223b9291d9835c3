"""Alembic environment: runs on the engine ``storage.database`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.schema import SchemaItem

from storage.tables import Base

# Per-pack HNSW indexes are created when a pack is first used, not by migrations.
RUNTIME_INDEX_PREFIX = "ix_faces_hnsw_"


def include_object(item: SchemaItem, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    return not (kind == "index" and name is not None and name.startswith(RUNTIME_INDEX_PREFIX))


engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
