"""Review claims: a reviewer holds a match for a short while so that two do not work on the same one.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("matches", sa.Column("claimed_by_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_matches_claimed_by_id_users", "matches", "users", ["claimed_by_id"], ["id"], ondelete="SET NULL"
    )
    op.add_column("matches", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_matches_claimed_by_id", "matches", ["claimed_by_id"])


def downgrade() -> None:
    op.drop_index("ix_matches_claimed_by_id", table_name="matches")
    op.drop_constraint("fk_matches_claimed_by_id_users", "matches", type_="foreignkey")
    op.drop_column("matches", "claimed_until")
    op.drop_column("matches", "claimed_by_id")
