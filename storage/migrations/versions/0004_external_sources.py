"""External sources: hosts an administrator allows despite private addresses, and the folder path photos live in.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "external_databases",
        sa.Column("allowed_hosts", postgresql.ARRAY(sa.String(length=255)), server_default="{}", nullable=False),
    )
    op.add_column("schema_mappings", sa.Column("photo_root", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("schema_mappings", "photo_root")
    op.drop_column("external_databases", "allowed_hosts")
