"""Each pack's HNSW index on ``faces.embedding``, made when a process loads the pack.

All packs share one ``vector`` column of any dimension (see ``storage.repositories.faces``);
each pack gets a partial index on ``(embedding::vector(D)) vector_cosine_ops WHERE pack =
'<pack>'``. Creating it takes a lock on ``faces`` that concurrent first inserts deadlock on,
so it is never made inside a request: the Gateway, Matcher, job workers and CLI call
``prepare_pack_index`` once at start-up, before they store or search faces of the pack.
"""

from __future__ import annotations

import hashlib
import logging
import re

import sqlalchemy as sa

from storage.database import Database
from storage.errors import InvalidArgumentError

logger = logging.getLogger(__name__)

PACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
INDEX_PREFIX = "ix_faces_hnsw_"
MAX_DIMENSION = 2000  # pgvector's limit for an HNSW index on ``vector``
# A missed match is a missed person, so recall comes before speed. On 10,000 random 512-d
# vectors (the hardest case: no structure) m=32, ef_construction=128 and ef_search=600
# find the exact top-10 for 99 of 100 queries in ~7 ms; pgvector's defaults (16, 64, 40)
# for almost none.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 128
DEFAULT_EF_SEARCH = 600
# Advisory lock keys are global to the server; storage.database holds 0x5A5A_0001 for migrations.
_PACK_INDEX_LOCK = 0x5A5A_0002


def prepare_pack_index(db: Database, *, pack: str, dimension: int) -> str:
    """Create the HNSW index of ``pack`` for ``dimension``-d embeddings if it is missing; its name.

    Runs in a transaction of its own under an advisory lock, so replicas that start together
    create the index once: the others wait, then find it there.
    """
    check_indexable(pack, dimension)
    literal, name = pack_literal(pack), index_name(pack)
    with db.transaction() as session:
        # Building over a large gallery, or waiting for the replica that does, outlasts a request's timeout.
        session.execute(sa.select(sa.func.set_config("statement_timeout", "0", True)))
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_PACK_INDEX_LOCK)))
        session.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {name} ON faces USING hnsw "
                f"((embedding::vector({dimension})) vector_cosine_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE pack = {literal}"
            )
        )
    logger.info("pack %s: HNSW index %s is ready", pack, name)
    return name


def check_indexable(pack: str, dimension: int) -> None:
    """Refuse a pack name that cannot be written into SQL, or an embedding size HNSW cannot index."""
    pack_literal(pack)
    if not 1 <= dimension <= MAX_DIMENSION:
        raise InvalidArgumentError(f"embeddings of {dimension} dimensions cannot be indexed")


def index_name(pack: str) -> str:
    """The HNSW index of ``pack``: readable, unique per pack, within PostgreSQL's 63 bytes."""
    readable = re.sub(r"[^a-z0-9]+", "_", pack.lower())[:36]
    return f"{INDEX_PREFIX}{readable}_{hashlib.sha256(pack.encode()).hexdigest()[:8]}"


def pack_literal(pack: str) -> sa.ColumnElement[str]:
    """``pack`` as a SQL literal, as index predicates and the searches that must match them need it."""
    # Pack names are written into SQL, so they must be plain words.
    if not PACK_NAME.fullmatch(pack):
        raise InvalidArgumentError(f"not a valid pack name: {pack!r}")
    return sa.literal_column(f"'{pack}'", sa.String)
