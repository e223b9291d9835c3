"""Consent and acceptance decide matching: a case is matched only while it is open and a
supervisor has recorded the consent; cases reporters open wait as "submitted" until accepted.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "sura_gallery"
STATUSES = ("submitted", "open", "found_alive", "found_deceased", "closed", "withdrawn")
MATCHABLE = "status = 'open' AND consent_recorded_at IS NOT NULL"

# As in 0002, but a case joins or leaves the matchers' galleries when it becomes (un)matchable.
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
    ELSIF NEW.matchable IS DISTINCT FROM OLD.matchable THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'event', 'case_status', 'case', NEW.id,
            'status', CASE WHEN NEW.matchable THEN 'open' ELSE 'held' END)::text);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    _statuses(STATUSES)
    op.add_column("cases", sa.Column("consent_recorded_by_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "fk_cases_consent_recorded_by_id_users",
        "cases",
        "users",
        ["consent_recorded_by_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index("ix_cases_consent_recorded_by_id", "cases", ["consent_recorded_by_id"])
    op.add_column("cases", sa.Column("matchable", sa.Boolean(), sa.Computed(MATCHABLE, persisted=True), nullable=False))
    op.create_index("ix_cases_matchable", "cases", ["matchable"])
    op.execute(NOTIFY)
    op.execute("DROP TRIGGER cases_gallery ON cases")
    op.execute(
        "CREATE TRIGGER cases_gallery AFTER UPDATE OF status, consent_recorded_at OR DELETE ON cases "
        "FOR EACH ROW EXECUTE FUNCTION sura_gallery_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER cases_gallery ON cases")
    op.execute(
        "CREATE TRIGGER cases_gallery AFTER UPDATE OF status OR DELETE ON cases "
        "FOR EACH ROW EXECUTE FUNCTION sura_gallery_notify()"
    )
    op.execute(NOTIFY.replace("NEW.matchable IS DISTINCT FROM OLD.matchable", "NEW.status IS DISTINCT FROM OLD.status"))
    op.drop_index("ix_cases_matchable", table_name="cases")
    op.drop_column("cases", "matchable")
    op.drop_index("ix_cases_consent_recorded_by_id", table_name="cases")
    op.drop_constraint("fk_cases_consent_recorded_by_id_users", "cases", type_="foreignkey")
    op.drop_column("cases", "consent_recorded_by_id")
    op.execute("UPDATE cases SET status = 'open' WHERE status = 'submitted'")
    _statuses(STATUSES[1:])


def _statuses(allowed: Sequence[str]) -> None:
    op.drop_constraint(op.f("ck_cases_case_status"), "cases", type_="check")
    listed = ", ".join(f"'{status}'" for status in allowed)
    op.create_check_constraint(op.f("ck_cases_case_status"), "cases", f"status IN ({listed})")
