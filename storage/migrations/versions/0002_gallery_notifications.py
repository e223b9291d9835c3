"""Tell listeners (the matchers) when a case gains or loses a reference face or changes status.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "sura_gallery"

NOTIFY = f"""
CREATE FUNCTION sura_gallery_notify() RETURNS trigger LANGUAGE plpgsql AS $$
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
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM pg_notify('{CHANNEL}', json_build_object(
            'event', 'case_status', 'case', NEW.id, 'status', NEW.status)::text);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute(NOTIFY)
    op.execute(
        "CREATE TRIGGER faces_gallery AFTER INSERT OR DELETE ON faces "
        "FOR EACH ROW EXECUTE FUNCTION sura_gallery_notify()"
    )
    op.execute(
        "CREATE TRIGGER cases_gallery AFTER UPDATE OF status OR DELETE ON cases "
        "FOR EACH ROW EXECUTE FUNCTION sura_gallery_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER cases_gallery ON cases")
    op.execute("DROP TRIGGER faces_gallery ON faces")
    op.execute("DROP FUNCTION sura_gallery_notify()")
