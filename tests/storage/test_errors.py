"""Database errors name what went wrong and never carry a face's embedding into logs or job rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from storage.database import Database, open_database
from storage.errors import describe_error
from storage.repositories.faces import FaceRepository
from tests.storage.helpers import add_image, new_faces

# float32(0.123456789) is sent as 0.12345679104328156: any text holding this prefix holds the embedding.
NEEDLE = "0.1234567"
REFUSE_FACES = """
CREATE FUNCTION refuse_faces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$;
CREATE TRIGGER refuse_faces BEFORE INSERT ON faces FOR EACH ROW EXECUTE FUNCTION refuse_faces();
"""


@pytest.fixture()
def app_db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """The database as the application opens it (the ``db`` fixture's engine shows parameters)."""
    database = open_database(database_url, data_dir=tmp_path, migrate=False)
    yield database
    database.close()


def _embedding() -> np.ndarray:
    vector = np.full(64, 0.5, dtype=np.float32)
    vector[7] = 0.123456789
    return vector


def _refused_insert(db: Database, image_id: uuid.UUID | None = None) -> sa.exc.DBAPIError:
    with pytest.raises(sa.exc.DBAPIError) as caught, db.transaction() as session:
        image = image_id or add_image(session)
        FaceRepository(session).add(image_id=image, pack="p", faces=new_faces(_embedding()[None]))
    return caught.value


def test_a_refused_insert_hides_the_embedding(app_db: Database, db: Database) -> None:
    with app_db.transaction() as session:
        session.execute(sa.text(REFUSE_FACES))
    # The same error through an engine that shows parameters does print the embedding.
    assert NEEDLE in str(_refused_insert(db))

    error = _refused_insert(app_db)
    described = describe_error(error)
    assert NEEDLE not in str(error) and NEEDLE not in described
    assert described.startswith("ProgrammingError (RaiseException): refused by the test trigger")
    assert "\n" not in described and "INSERT" not in described


def test_a_broken_constraint_is_named_without_its_values(app_db: Database) -> None:
    missing = uuid.uuid4()
    described = describe_error(_refused_insert(app_db, image_id=missing))
    assert described.startswith("IntegrityError") and "faces_image_id" in described
    assert NEEDLE not in described and str(missing) not in described


def test_values_the_driver_quotes_are_left_out(app_db: Database) -> None:
    literal = f"[{NEEDLE}89, 0.5, not-a-number]"
    with pytest.raises(sa.exc.DBAPIError) as caught, app_db.transaction() as session:
        session.execute(sa.text("SELECT CAST(:v AS vector)"), {"v": literal})
    assert NEEDLE in str(caught.value.orig)
    described = describe_error(caught.value)
    assert NEEDLE not in described and "invalid input syntax for type vector" in described


def test_other_errors_are_named_and_cut_short() -> None:
    assert describe_error(ValueError("no faces found")) == "ValueError: no faces found"
    assert describe_error(sa.exc.StatementError("bad bind", "INSERT …", {"e": NEEDLE}, None)) == "StatementError"
    long = describe_error(RuntimeError("x" * 10_000))
    assert long.startswith("RuntimeError: xxx") and len(long) <= 500
