"""Matches record the operating point they were found at, the case's centroid score and any age gap;
reference faces the age in their photo.

A case's date of birth or last-seen date feeds the age of its reference photos, so the matchers
reload a matchable case whose dates change (as when it becomes matchable).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "sura_gallery"
NOTIFY = f"""
CREATE OR REPLACE FUNCTION sura_gallery_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'faces' THEN
        IF TG_OP = 'INSERT' AND NEW.case_id IS NOT NULL THEN
            PERFORM pg_notify('{CHANNEL}', json_build_object(
                'event', 'face_added', 'face', NEW.id, 'case', NEW.case_id, 'pack', NEW.pack)::text);
        ELSIF TG_OP = 'DELETE' AND OLD.case_id IS NOT NULL THEN
            PERFORM pg_notify('{CHANNEL}', json_build_object(
                'event', 'face_removed', 'face', OLD.id, 'case', OLD.case_id, 'pack', OLD.pack)::text);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object('event', 'case_removed', 'case', OLD.id)::text);
    ELSIF NEW.matchable IS DISTINCT FROM OLD.matchable
        OR (NEW.matchable AND (NEW.date_of_birth IS DISTINCT FROM OLD.date_of_birth
                               OR NEW.last_seen_at IS DISTINCT FROM OLD.last_seen_at)) THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'event', 'case_status', 'case', NEW.id,
            'status', CASE WHEN NEW.matchable THEN 'open' ELSE 'held' END)::text);
    END IF;
    RETURN NULL;
END $$
"""
TRIGGER = (
    "CREATE TRIGGER cases_gallery AFTER UPDATE OF {columns} OR DELETE ON cases "
    "FOR EACH ROW EXECUTE FUNCTION sura_gallery_notify()"
)
AGE_RANGE = "age_years IS NULL OR age_years BETWEEN 0 AND 130"


def upgrade() -> None:
    op.add_column("faces", sa.Column("age_years", sa.REAL(), nullable=True))
    op.create_check_constraint(op.f("ck_faces_age_years_range"), "faces", AGE_RANGE)
    op.add_column("matches", sa.Column("operating_far", sa.Double(), nullable=True))
    op.add_column("matches", sa.Column("gallery_faces", sa.Integer(), nullable=True))
    op.add_column("matches", sa.Column("centroid_similarity", sa.REAL(), nullable=True))
    op.add_column("matches", sa.Column("centroid_false_accept_rate", sa.Double(), nullable=True))
    op.add_column("matches", sa.Column("age_gap", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("matches", sa.Column("reference_age_years", sa.REAL(), nullable=True))
    op.add_column("matches", sa.Column("years_apart", sa.REAL(), nullable=True))
    op.execute(NOTIFY)
    op.execute("DROP TRIGGER cases_gallery ON cases")
    op.execute(TRIGGER.format(columns="status, consent_recorded_at, date_of_birth, last_seen_at"))


def downgrade() -> None:
    op.execute("DROP TRIGGER cases_gallery ON cases")
    op.execute(TRIGGER.format(columns="status, consent_recorded_at"))
    previous = NOTIFY.replace(
        """ NEW.matchable IS DISTINCT FROM OLD.matchable
        OR (NEW.matchable AND (NEW.date_of_birth IS DISTINCT FROM OLD.date_of_birth
                               OR NEW.last_seen_at IS DISTINCT FROM OLD.last_seen_at)) THEN""",
        " NEW.matchable IS DISTINCT FROM OLD.matchable THEN",
    )
    op.execute(previous)
    for column in (
        "years_apart",
        "reference_age_years",
        "age_gap",
        "centroid_false_accept_rate",
        "centroid_similarity",
        "gallery_faces",
        "operating_far",
    ):
        op.drop_column("matches", column)
    op.drop_constraint(op.f("ck_faces_age_years_range"), "faces", type_="check")
    op.drop_column("faces", "age_years")
