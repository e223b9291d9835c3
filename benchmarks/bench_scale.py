"""How search cost grows with the gallery: the matcher in memory, and pgvector over sighting faces.

    python benchmarks/bench_scale.py                                  # matcher 10k/100k/1M, pgvector 10k/100k
    python benchmarks/bench_scale.py --pg-sizes 10000 100000 1000000  # pgvector up to 1M (long on few cores)
    python benchmarks/bench_scale.py --devices cpu cuda --skip-pg     # the matcher on a GPU too

Matcher: ``CaseGallery`` (numpy, what a CPU replica runs) and ``DeviceCaseGallery`` (torch,
on each of ``--devices``) over N reference faces, five per case: exact cosine matmul, the
best face per case, top-10 cases. Build time (load + first search), resident memory it adds,
and search latency for one face and for a batch of 32 (median of ``--repeats``).

pgvector: sighting faces in this project's own ``faces`` table (migrated schema), loaded in
steps up to each size: binary COPY without the index (COPY/s), then the pack's partial HNSW
index built over all of them by ``prepare_pack_index`` (the project's m=32, ef_construction=128;
seconds), then ``--sample`` more faces inserted with the index in place (the rate a running
service stores at), then ``FaceRepository.search`` (ef_search 600) vs exact for ``--queries``
faces: recall@10 and latency. Embeddings are synthetic: identities (unit centres, one per
``--faces-per-identity`` faces) and sightings around them at the cosine a real embedder gives
one person (~0.7), queries new sightings of stored identities; ``--uniform`` uses random
vectors instead (no structure, the hardest case for HNSW). The embedded PostgreSQL's data
lives under /tmp.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.gallery import CaseGallery, GalleryFace
from pipeline.match import l2_normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import median_ms, memory_gib, print_table, resident_mb, timed

PACK = "bench-scale"
PG_HEADER = (
    "faces",
    "COPY/s",
    "build s",
    "insert/s idx",
    "table MB",
    "index MB",
    "recall@10",
    "hnsw p50 ms",
    "hnsw p95 ms",
    "exact p50 ms",
)
SAME_PERSON_NOISE = 0.65  # per-face noise norm: two sightings of one identity at cosine ≈ 1 / (1 + 0.65²) ≈ 0.7


def main() -> None:
    args = _arguments()
    print(f"{os.cpu_count()} CPU cores; {memory_gib():.0f} GiB memory\n")
    if not args.skip_matcher:
        print_table(
            ("faces", "dim", "gallery", "build s", "memory MB", "1 face ms", "32 faces ms", "per face ms"),
            (row for dim in args.dims for size in args.sizes for row in _matcher_rows(size, dim, args)),
        )
    if not args.skip_pg:
        print(f"\npgvector: sighting faces, {args.pg_dim}-d, {'uniform' if args.uniform else 'clustered'} data")
        print_table(
            PG_HEADER,
            _pgvector_rows(args),
        )


def _matcher_rows(size: int, dim: int, args: argparse.Namespace) -> Iterator[tuple[str, ...]]:
    rng = np.random.default_rng(size + dim)
    vectors = _unit(rng, size, dim)
    cases = [uuid.uuid4() for _ in range(max(1, size // 5))]
    rows = [GalleryFace(uuid.uuid4(), cases[i // 5], vectors[i]) for i in range(size)]
    queries = _unit(rng, 32, dim)
    galleries: list[tuple[str, Callable[[], CaseGallery]]] = [("numpy", CaseGallery)]
    galleries += [(f"torch {device}", _device_gallery(device)) for device in args.devices]
    for label, make in galleries:
        before = resident_mb()
        started = time.perf_counter()
        gallery = make()
        gallery.replace(rows)
        gallery.search(queries[:1], 10)
        build = time.perf_counter() - started
        grown = resident_mb() - before
        one = median_ms(partial(gallery.search, queries[:1], 10), args.repeats)
        batch = median_ms(partial(gallery.search, queries, 10), args.repeats)
        yield (
            f"{size:,}",
            str(dim),
            label,
            f"{build:.2f}",
            f"{grown:,.0f}",
            f"{one:.1f}",
            f"{batch:.1f}",
            f"{batch / 32:.2f}",
        )
        del gallery
        gc.collect()


def _device_gallery(device: str) -> Callable[[], CaseGallery]:
    from pipeline.device.match import DeviceCaseGallery  # torch only where asked for

    return lambda: DeviceCaseGallery(device)


def _pgvector_rows(args: argparse.Namespace) -> Iterator[tuple[str, ...]]:
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(1)
    identities = max(1, args.pg_sizes[-1] // args.faces_per_identity)
    centres = None if args.uniform else _unit(rng, identities, args.pg_dim)
    with _database() as db:
        image = _image_row(db)
        raw = db.engine.raw_connection()
        connection = raw.driver_connection
        register_vector(connection)
        stored = 0
        for size in args.pg_sizes:
            _drop_index(db)
            started = time.perf_counter()
            for start in range(stored, size - args.sample, args.chunk):
                count = min(args.chunk, size - args.sample - start)
                _copy_faces(connection, image, _sightings(rng, centres, count, args.pg_dim))
            bulk = (size - args.sample - stored) / (time.perf_counter() - started)
            build = timed(lambda: _build_index(db, args.pg_dim))
            inserted = timed(lambda: _copy_faces(connection, image, _sightings(rng, centres, args.sample, args.pg_dim)))
            stored = size
            rates = (f"{bulk:,.0f}", f"{build:,.1f}", f"{args.sample / inserted:,.0f}")
            yield (f"{size:,}", *rates, *_sizes(db), *_recall(db, rng, centres, args))
        raw.close()


def _build_index(db: Any, dim: int) -> None:
    """The pack's HNSW index over every stored face, as the service makes it at start-up."""
    from storage.indexes import prepare_pack_index

    prepare_pack_index(db, pack=PACK, dimension=dim)


def _drop_index(db: Any) -> None:
    """Bulk loads go without the index (rebuilt after, as a large import would be done)."""
    import sqlalchemy as sa

    from storage.indexes import index_name

    with db.transaction() as session:
        session.execute(sa.text(f"DROP INDEX IF EXISTS {index_name(PACK)}"))


def _copy_faces(connection: Any, image: uuid.UUID, vectors: np.ndarray) -> None:
    """Append sighting faces by binary COPY, one transaction per chunk."""
    columns = "id, image_id, pack, dimension, box, landmarks, detection_score, quality, embedding"
    with connection.cursor() as cursor, cursor.copy(f"COPY faces ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["uuid", "uuid", "varchar", "int2", "float4[]", "float4[]", "float4", "float4", "vector"])
        box, points = [10.0, 10.0, 90.0, 110.0], [30.0, 50.0, 70.0, 50.0, 50.0, 70.0, 35.0, 90.0, 65.0, 90.0]
        for vector in vectors:
            copy.write_row((uuid.uuid4(), image, PACK, len(vector), box, points, 0.9, 0.8, vector))
    connection.commit()


def _recall(db: Any, rng: np.random.Generator, centres: np.ndarray | None, args: argparse.Namespace) -> tuple[str, ...]:
    """recall@10 of the HNSW search against the exact one, and both latencies, over ``args.queries`` faces."""
    from storage.repositories.faces import FaceRepository

    queries = _sightings(rng, centres, args.queries, args.pg_dim)
    recalls, fast, slow = [], [], []
    for query in queries:
        with db.transaction() as session:
            repository = FaceRepository(session)
            started = time.perf_counter()
            approximate = repository.search(pack=PACK, vector=query, k=10, sightings_only=True)
            fast.append(time.perf_counter() - started)
            started = time.perf_counter()
            exact = repository.search(pack=PACK, vector=query, k=10, sightings_only=True, exact=True)
            slow.append(time.perf_counter() - started)
        recalls.append(len({h.face_id for h in approximate} & {h.face_id for h in exact}) / max(1, len(exact)))
    ms = [1000 * np.asarray(t) for t in (fast, slow)]
    return (
        f"{np.mean(recalls):.3f}",
        f"{np.median(ms[0]):.1f}",
        f"{np.percentile(ms[0], 95):.1f}",
        f"{np.median(ms[1]):.0f}",
    )


def _sightings(rng: np.random.Generator, centres: np.ndarray | None, count: int, dim: int) -> np.ndarray:
    """(count, dim) unit embeddings: around random stored identities, or uniform without centres."""
    if centres is None:
        return _unit(rng, count, dim)
    picked = centres[rng.integers(0, len(centres), count)]
    noise = rng.standard_normal((count, dim), dtype=np.float32) * (SAME_PERSON_NOISE / np.sqrt(dim))
    return l2_normalize(picked + noise)


def _sizes(db: Any) -> tuple[str, str]:
    import sqlalchemy as sa

    from storage.indexes import index_name

    query = "SELECT pg_total_relation_size('faces'), pg_relation_size(:index)"
    with db.transaction() as session:
        table, index = session.execute(sa.text(query), {"index": index_name(PACK)}).one()
    return f"{table / 2**20:,.0f}", f"{index / 2**20:,.0f}"


def _image_row(db: Any) -> uuid.UUID:
    import sqlalchemy as sa

    image = uuid.uuid4()
    with db.transaction() as session:
        session.execute(
            sa.text(
                "INSERT INTO images (id, content_sha256, storage_uri, byte_size, source, status) "
                "VALUES (:id, :digest, 'bench://scale', 1, 'archive_scan', 'done')"
            ),
            {"id": image, "digest": uuid.uuid4().hex * 2},
        )
    return image


@contextmanager
def _database() -> Iterator[Any]:
    """A fresh embedded PostgreSQL under /tmp (its system user cannot enter /root), migrated; removed after."""
    import sqlalchemy as sa

    from storage.database import open_database

    folder = Path(tempfile.mkdtemp(prefix="sura-bench-scale-"))
    folder.chmod(0o755)
    db = open_database(None, data_dir=folder / "db", statement_timeout_ms=3_600_000)
    with db.transaction() as session:  # room for the HNSW graph while it is built (pgvector warns otherwise)
        session.execute(sa.text("ALTER DATABASE surasmart SET maintenance_work_mem = '2GB'"))
    db.engine.dispose()  # new connections take the setting
    try:
        yield db
    finally:
        db.close()
        shutil.rmtree(folder, ignore_errors=True)


def _unit(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    return l2_normalize(rng.standard_normal((count, dim), dtype=np.float32))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="matcher faces")
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--devices", nargs="*", default=["cpu"], help="torch devices for DeviceCaseGallery")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-matcher", action="store_true")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--pg-sizes", type=int, nargs="+", default=[10_000, 100_000], help="sighting faces, ascending")
    parser.add_argument("--pg-dim", type=int, default=128)
    parser.add_argument("--faces-per-identity", type=int, default=5)
    parser.add_argument("--uniform", action="store_true", help="random unit vectors instead of identity clusters")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=10_000, help="faces per COPY transaction")
    parser.add_argument("--sample", type=int, default=1_000, help="faces inserted with the index in place, per size")
    return parser.parse_args()


if __name__ == "__main__":
    main()
