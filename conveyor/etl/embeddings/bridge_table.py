"""The `qdrant_vectors` bridge table (migration 0013) through SQLAlchemy Core: read an entity's
rows, write what `VectorIndexer.sync` decided, count.

Rows are keyed by (collection, point id): the same point id lives once per model's collection, so
a model change writes new rows beside the old ones until the old ones are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Index, Integer, Table, Text, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql

from conveyor.etl.columns import UtcDateTime
from conveyor.etl.db import metadata, upsert
from conveyor.etl.embeddings.bridge import VectorRow

# uuid on PostgreSQL, its text form on SQLite (SQLAlchemy's own Uuid would drop the dashes there).
PointId = Text().with_variant(postgresql.UUID(as_uuid=False), "postgresql")

qdrant_vectors = Table(
    "qdrant_vectors", metadata,
    Column("collection", Text, primary_key=True),
    Column("point_id", PointId, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("source_type", Text, nullable=False),
    Column("table_name", Text, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("model", Text, nullable=False),
    Column("dimension", Integer, nullable=False),
    Column("text_hash", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("qdrant_vectors_entity", "tenant", "table_name", "external_id"),
    Index("qdrant_vectors_source", "tenant", "source_type"),
)

_KEYS = ("collection", "point_id")
# Never rewritten by an upsert: a re-embedded point keeps the time it was first made.
_UPDATED = ("tenant", "source_type", "table_name", "external_id", "chunk", "model", "dimension", "text_hash",
            "updated_at")
_BATCH = 500  # ids per IN (...) list: well under SQLite's variable limit


def _utc(value: datetime) -> datetime:
    """Times are written in UTC (UtcDateTime refuses naive ones)."""
    return value.astimezone(UTC)


def _row(r: object) -> VectorRow:
    m = r._mapping  # type: ignore[attr-defined]
    return VectorRow(m["tenant"], m["source_type"], m["table_name"], m["external_id"], int(m["chunk"]),
                     str(m["point_id"]), m["collection"], m["model"], m["text_hash"], _utc(m["created_at"]),
                     _utc(m["updated_at"]), int(m["dimension"]))


def rows_of(conn: Connection, tenant: str, table_name: str, external_ids: Sequence[str]) -> list[VectorRow]:
    """Every bridge row (all collections) of these entities of one tenant's table."""
    t = qdrant_vectors
    found: list[VectorRow] = []
    ids = sorted(set(external_ids))
    for start in range(0, len(ids), _BATCH):
        query = select(t).where(t.c.tenant == tenant, t.c.table_name == table_name,
                                t.c.external_id.in_(ids[start:start + _BATCH]))
        found.extend(_row(r) for r in conn.execute(query))
    return found


def rows_of_table(conn: Connection, tenant: str, table_name: str) -> list[VectorRow]:
    t = qdrant_vectors
    return [_row(r) for r in conn.execute(select(t).where(t.c.tenant == tenant, t.c.table_name == table_name))]


def save(conn: Connection, to_upsert: Iterable[VectorRow], to_delete: Iterable[VectorRow]) -> None:
    """Write the rows of points just written and drop the rows of points just deleted (one transaction:
    the caller's)."""
    doomed = [(r.collection, r.point_id) for r in to_delete]
    t = qdrant_vectors
    for start in range(0, len(doomed), _BATCH):
        conn.execute(delete(t).where(tuple_(t.c.collection, t.c.point_id).in_(doomed[start:start + _BATCH])))
    rows = [{"collection": r.collection, "point_id": r.point_id, "tenant": r.tenant, "source_type": r.source_type,
             "table_name": r.table_name, "external_id": r.external_id, "chunk": r.chunk, "model": r.model,
             "dimension": r.dimension, "text_hash": r.text_hash, "created_at": _utc(r.created_at),
             "updated_at": _utc(r.updated_at)} for r in to_upsert]
    for start in range(0, len(rows), _BATCH):
        upsert(conn, t, rows[start:start + _BATCH], keys=_KEYS, update=_UPDATED)


def counts(conn: Connection, tenant: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(source type, table) -> (entities, points) of one tenant."""
    t = qdrant_vectors
    query = (select(t.c.source_type, t.c.table_name, func.count(func.distinct(t.c.external_id)), func.count())
             .where(t.c.tenant == tenant).group_by(t.c.source_type, t.c.table_name))
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in conn.execute(query)}

