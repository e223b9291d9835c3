"""Faces by embedding: HNSW k-NN close to exact, exact when asked, packs and cases kept apart."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from storage.database import Database
from storage.errors import InvalidArgumentError
from storage.indexes import index_name, prepare_pack_index
from storage.repositories.cases import CaseRepository
from storage.repositories.faces import FaceRepository, ImageRepository
from storage.tables import Face, ImageSource
from tests.storage.helpers import add_image, new_faces, unit_vectors

PACK = "buffalo_l"


@pytest.fixture()
def gallery(db: Database) -> tuple[np.ndarray, list[uuid.UUID]]:
    """10,000 random 512-d sighting faces in one pack, loaded in bulk, then indexed.

    Random vectors have no structure, the hardest case for HNSW. Loading first and building
    the index once is quicker here than inserting each face into an index that exists.
    """
    vectors = unit_vectors(10_000, 512, seed=7)
    ids = [uuid.uuid4() for _ in vectors]
    with db.transaction() as session:
        image_id = add_image(session)
        rows = [
            {
                "id": face_id,
                "image_id": image_id,
                "pack": PACK,
                "dimension": 512,
                "box": [0.0] * 4,
                "landmarks": [0.0] * 10,
                "detection_score": 1.0,
                "quality": 1.0,
                "embedding": vector,
            }
            for face_id, vector in zip(ids, vectors, strict=True)
        ]
        session.execute(sa.insert(Face), rows)
    prepare_pack_index(db, pack=PACK, dimension=512)
    return vectors, ids


@pytest.mark.slow
def test_hnsw_top10_matches_exact_search(db: Database, gallery: tuple[np.ndarray, list[uuid.UUID]]) -> None:
    vectors, ids = gallery
    queries = unit_vectors(100, 512, seed=8)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    same, exact_same = 0, 0
    with db.transaction() as session:
        repository = FaceRepository(session)
        for query, expected in zip(queries, truth, strict=True):
            wanted = {ids[i] for i in expected}
            same += {hit.face_id for hit in repository.search(pack=PACK, vector=query, k=10)} == wanted
            exact = repository.search(pack=PACK, vector=query, k=10, exact=True)
            exact_same += [hit.face_id for hit in exact] == [ids[i] for i in expected]
            assert exact[0].similarity == pytest.approx(float(query @ vectors[expected[0]]), abs=1e-5)
        explain = f"EXPLAIN SELECT id FROM faces WHERE pack = '{PACK}' ORDER BY embedding::vector(512) <=> :q LIMIT 10"
        plan = session.execute(sa.text(explain), {"q": str(queries[0].tolist())}).scalars().all()
    assert same >= 95, f"HNSW returned the exact top-10 for only {same} of 100 queries"
    assert exact_same == 100
    assert any(index_name(PACK) in line for line in plan), "\n".join(plan)


def test_packs_never_meet_and_cases_stay_apart(db: Database) -> None:
    prepare_pack_index(db, pack=PACK, dimension=512)
    prepare_pack_index(db, pack="dlib", dimension=128)
    with db.transaction() as session:
        case = CaseRepository(session).create(full_name="Amina Hassan", reporter_id=None, consent_biometric=True)
        other = CaseRepository(session).create(full_name="Juma Otieno", reporter_id=None, consent_biometric=True)
        faces = FaceRepository(session)
        reference = faces.add(
            image_id=add_image(session, ImageSource.CASE_REFERENCE, case.id),
            pack=PACK,
            faces=new_faces(unit_vectors(2, 512, 1)),
            case_id=case.id,
        )
        faces.add(
            image_id=add_image(session, ImageSource.CASE_REFERENCE, other.id),
            pack=PACK,
            faces=new_faces(unit_vectors(2, 512, 2)),
            case_id=other.id,
        )
        sighting = faces.add(image_id=add_image(session), pack=PACK, faces=new_faces(unit_vectors(3, 512, 3)))
        small = faces.add(image_id=add_image(session), pack="dlib", faces=new_faces(unit_vectors(3, 128, 4)))
        query = np.asarray(reference[0].embedding)

        in_case = faces.search(pack=PACK, vector=query, k=10, case_ids=[case.id])
        assert {hit.face_id for hit in in_case} == {face.id for face in reference}
        assert in_case[0].face_id == reference[0].id and in_case[0].similarity == pytest.approx(1.0, abs=1e-5)
        sightings = faces.search(pack=PACK, vector=query, k=10, sightings_only=True)
        assert {hit.face_id for hit in sightings} == {face.id for face in sighting}
        assert len(faces.search(pack=PACK, vector=query, k=10)) == 7
        assert {hit.face_id for hit in faces.search(pack="dlib", vector=small[0].embedding, k=10)} == {
            f.id for f in small
        }
        assert faces.search(pack="antelopev2", vector=query, k=5) == []
        indexes = set(session.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'faces'")))
        assert {index_name(PACK), index_name("dlib")} <= indexes


def test_bad_pack_names_and_mixed_sizes_are_refused(db: Database) -> None:
    with db.transaction() as session:
        faces = FaceRepository(session)
        with pytest.raises(InvalidArgumentError, match="pack name"):
            faces.search(pack="x'; DROP TABLE faces; --", vector=[0.1] * 4, k=1)
        with pytest.raises(InvalidArgumentError, match="one size"):
            faces.add(
                image_id=add_image(session),
                pack=PACK,
                faces=new_faces(unit_vectors(1, 512, 1)) + new_faces(unit_vectors(1, 128, 1)),
            )
    with pytest.raises(sa.exc.IntegrityError, match="embedding_dimension"), db.transaction() as session:
        image_id = add_image(session)
        session.add(
            Face(
                image_id=image_id,
                pack=PACK,
                dimension=512,
                box=[0] * 4,
                landmarks=[0] * 10,
                detection_score=1,
                quality=1,
                embedding=[0.5] * 128,
            )
        )
        session.flush()


def test_same_content_is_oneadd_image(db: Database) -> None:
    with db.transaction() as session:
        images = ImageRepository(session)
        first, created = images.add(
            content_sha256="a" * 64, storage_uri="file:///a.jpg", byte_size=3, source=ImageSource.UPLOAD
        )
        again, created_again = images.add(
            content_sha256="a" * 64, storage_uri="file:///b.jpg", byte_size=3, source=ImageSource.UPLOAD
        )
        assert created and not created_again and again.id == first.id and again.storage_uri == "file:///a.jpg"
