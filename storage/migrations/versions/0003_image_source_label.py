"""Where a scanned photo came from: the scan's label and the file's key in its source.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("images", sa.Column("source_label", sa.String(length=200), nullable=True))
    op.add_column("images", sa.Column("source_key", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("images", "source_key")
    op.drop_column("images", "source_label")
