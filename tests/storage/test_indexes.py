"""Pack indexes are made at start-up, once, however many processes start together; requests only insert."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.errors import InvalidArgumentError
from storage.indexes import INDEX_PREFIX, index_name, prepare_pack_index
from storage.repositories.faces import FaceRepository
from tests.storage.helpers import add_image, new_faces, unit_vectors

PACK = "fresh-pack"
_Result = TypeVar("_Result")


def _pack_indexes(db: Database) -> list[str]:
    query = sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'faces' AND indexname LIKE :prefix")
    with db.transaction() as session:
        return list(session.scalars(query, {"prefix": f"{INDEX_PREFIX}%"}))


def _all_at_once(workers: int, work: Callable[[int], _Result]) -> list[_Result]:
    """``work(i)`` in ``workers`` threads released together; every result, or the first error."""
    start = threading.Barrier(workers)

    def run(i: int) -> _Result:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, range(workers)))


def test_adding_faces_creates_no_index(db: Database) -> None:
    with db.transaction() as session:
        FaceRepository(session).add(image_id=add_image(session), pack=PACK, faces=new_faces(unit_vectors(2, 64, 0)))
    assert _pack_indexes(db) == []


def test_replicas_preparing_at_once_leave_one_index(db: Database) -> None:
    names = _all_at_once(4, lambda _: prepare_pack_index(db, pack=PACK, dimension=64))
    assert names == [index_name(PACK)] * 4
    assert _pack_indexes(db) == [index_name(PACK)]
    assert prepare_pack_index(db, pack=PACK, dimension=64) == index_name(PACK)
    assert _pack_indexes(db) == [index_name(PACK)]


def test_first_enrolments_of_a_new_pack_race_without_deadlock(db: Database) -> None:
    prepare_pack_index(db, pack=PACK, dimension=64)

    def enrol(seed: int) -> int:
        with db.transaction() as session:
            faces = new_faces(unit_vectors(1, 64, seed))
            return len(FaceRepository(session).add(image_id=add_image(session), pack=PACK, faces=faces))

    assert _all_at_once(8, enrol) == [1] * 8
    with db.transaction() as session:
        query = sa.select(sa.func.count()).select_from(sa.table("faces")).where(sa.column("pack") == PACK)
        assert session.scalar(query) == 8
    assert _pack_indexes(db) == [index_name(PACK)]


@pytest.mark.parametrize(
    ("pack", "dimension", "message"),
    [("x'; DROP TABLE faces; --", 64, "pack name"), (PACK, 0, "0 dimensions"), (PACK, 2001, "2001 dimensions")],
)
def test_bad_packs_and_sizes_are_refused(db: Database, pack: str, dimension: int, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        prepare_pack_index(db, pack=pack, dimension=dimension)
    assert _pack_indexes(db) == []


def test_adding_faces_refuses_what_could_never_be_indexed(db: Database) -> None:
    with db.transaction() as session:
        faces = FaceRepository(session)
        with pytest.raises(InvalidArgumentError, match="pack name"):
            faces.add(image_id=add_image(session), pack="x'; --", faces=new_faces(unit_vectors(1, 64, 0)))
        with pytest.raises(InvalidArgumentError, match="2001 dimensions"):
            faces.add(image_id=add_image(session), pack=PACK, faces=new_faces(unit_vectors(1, 2001, 0)))
